import json
import os

import keras
import numpy as np
import pytest

from hiu_tf.config import ConfigError, ModelConfig
from hiu_tf.model import HIUModel, canonical_rotation
from hiu_tf.presets import preset
from mano_tf.hand_model import resolve_hand_model


def _tiny(hand_model, **fields) -> ModelConfig:
    import dataclasses

    return dataclasses.replace(preset("tiny").model, hand_model=hand_model, **fields)


def _images(batch=2, size=64, seed=0):
    return np.random.default_rng(seed).uniform(size=(batch, size, size, 3)).astype("float32")


def _numpy(outputs):
    return {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}


@pytest.fixture(scope="module")
def tiny_model(hand_model):
    model = HIUModel(_tiny(hand_model))
    return model, _numpy(model(_images()))


def test_outputs(tiny_model):
    model, out = tiny_model
    v = model.mano.num_vertices
    expected = {
        "stack1_heatmaps": (2, 16, 16, 21),
        "stack1_mask_logits": (2, 16, 16, 1),
        "stack1_pof": (2, 16, 16, 60),
        "stack2_heatmaps": (2, 16, 16, 21),
        "stack2_mask_logits": (2, 16, 16, 1),
        "stack2_pof": (2, 16, 16, 60),
        "keypoints_px_heatmap": (2, 21, 2),
        "mano_pose": (2, 48),
        "pose_rotmat": (2, 16, 3, 3),
        "mano_betas": (2, 10),
        "camera": (2, 4),
        "vertices": (2, v, 3),
        "joints_cam": (2, 21, 3),
        "keypoints_px": (2, 21, 2),
        "rendered_mask": (2, 16, 16, 1),
    }
    assert {k: a.shape for k, a in out.items()} == expected
    for key, array in out.items():
        assert array.dtype == np.float32 and np.all(np.isfinite(array)), key


def test_step_zero_hand_is_in_front_of_the_camera_and_in_the_crop(tiny_model):
    _, out = tiny_model
    focal, translation = out["camera"][:, 0], out["camera"][:, 1:]
    np.testing.assert_allclose(focal, 2.0 * 64)  # focal_length_norm * input_size
    # T_z = f * hand_size / (hand_fill * S) = 2 * 0.2 / 0.8 = 0.5 m, centred.
    np.testing.assert_allclose(translation[:, 2], 0.5, rtol=0.05)
    assert np.all(out["joints_cam"][..., 2] > 0.3) and np.all(out["vertices"][..., 2] > 0.3)
    np.testing.assert_allclose(out["keypoints_px"][:, 9], 32.0, atol=1.0)  # anchor at centre
    assert np.all((out["keypoints_px"] > 0) & (out["keypoints_px"] < 64))
    # Upright: the wrist is below the middle-finger base in the image.
    assert np.all(out["keypoints_px"][:, 0, 1] > out["keypoints_px"][:, 9, 1])
    coverage = out["rendered_mask"].mean(axis=(1, 2, 3))
    assert np.all((coverage > 0.02) & (coverage < 0.9)), coverage
    # The joints are joints_cam projected with Q (f, principal point at the crop centre).
    projected = out["joints_cam"][..., :2] / out["joints_cam"][..., 2:] * focal[:, None, None]
    np.testing.assert_allclose(out["keypoints_px"], projected + 32.0, atol=1e-3)


def test_pose_rotmat_is_mano_pose_as_matrices(tiny_model):
    _, out = tiny_model
    from mano_tf.rotations import axis_angle_to_matrix

    expected = axis_angle_to_matrix(out["mano_pose"].reshape(2, 16, 3).astype(np.float64))
    np.testing.assert_allclose(out["pose_rotmat"], np.asarray(expected), atol=1e-5)


def test_scale_gradient_keeps_values_and_scales_gradients():
    import tensorflow as tf

    from hiu_tf.model import scale_gradient

    x = tf.Variable([[1.5, -2.0], [0.25, 4.0]])
    for scale in (1.0, 0.1, 0.0):
        with tf.GradientTape() as tape:
            y = scale_gradient(x, scale)
            loss = tf.reduce_sum(y * y)
        np.testing.assert_array_equal(y.numpy(), x.numpy())  # exactly the same forward
        grad = tape.gradient(loss, x, unconnected_gradients="zero")
        np.testing.assert_allclose(grad.numpy(), scale * 2 * x.numpy())


def test_head_gradient_scale_damps_the_mesh_gradient_on_the_backbone_only(hand_model):
    import tensorflow as tf

    images = _images(2)
    grads = {}
    for scale in (1.0, 0.25):
        keras.utils.set_random_seed(3)
        model = HIUModel(_tiny(hand_model, head_gradient_scale=scale, render_mask=False))
        model(images)
        with tf.GradientTape() as tape:
            out = model(images, training=True)
            loss = tf.reduce_sum(out["joints_cam"])  # a mesh-only objective
        variables = model.trainable_variables
        grads[scale] = {
            v.path: np.zeros(v.shape) if g is None else g.numpy()
            for v, g in zip(variables, tape.gradient(loss, variables), strict=True)
        }
    for path, full in grads[1.0].items():
        damped = grads[0.25][path]
        if path.startswith("hiu_model/regressor_head"):
            np.testing.assert_allclose(damped, full, rtol=1e-4, atol=1e-7, err_msg=path)
        else:
            np.testing.assert_allclose(damped, 0.25 * full, rtol=1e-3, atol=1e-7, err_msg=path)
    assert any(np.any(g) for p, g in grads[1.0].items() if p.startswith("hiu_model/stem"))


@pytest.mark.parametrize("heatmap_size", [16, 32, 56, 64])
def test_default_silhouette_error_is_smallest_at_the_true_depth(hand_model, heatmap_size):
    """The rendered-mask term must not reward moving the hand away from the camera.

    The open hand in four poses, its hard mask rendered at the input resolution and
    area-resized as the training targets are (`make_targets`); the default soft
    silhouette at the heat-map resolution, with the hand moved along the line of
    sight: the error must be smallest at the true depth, not farther away.
    """
    from hiu_tf.data.sources.synthetic import flexion_axes, random_finger_pose
    from hiu_tf.targets import resize_mask
    from mano_tf.hand_model import facing_rotation
    from mano_tf.mano_layer import ManoLayer
    from mano_tf.render.silhouette import render_silhouette, sigma_from_pixels
    from mano_tf.rotations import matrix_to_axis_angle

    h, s = heatmap_size, 4 * heatmap_size
    cfg = ModelConfig(input_size=s, encoder_levels=1)
    layer = ManoLayer(hand_model, use_pca=False, flat_hand_mean=True)
    rest = np.asarray(layer(np.zeros((1, 48), "float32"), np.zeros((1, 10), "float32"))["joints"])[
        0
    ]
    rng = np.random.default_rng(0)
    tilt = np.array([[1.0, 0.0, 0.0], [0.0, 0.8, -0.6], [0.0, 0.6, 0.8]])  # 37 deg about x
    facing = np.asarray(matrix_to_axis_angle(tilt @ facing_rotation(*rest[[0, 5, 9, 17]])))
    axes = flexion_axes(rest)
    pose = np.stack(
        [np.concatenate([facing, random_finger_pose(rng, axes, 0.5)]) for _ in range(4)]
    )
    vertices = np.asarray(layer(pose.astype("float32"), np.zeros((4, 10), "float32"))["vertices"])
    vertices = vertices - (vertices.max(1) + vertices.min(1))[:, None] / 2  # centred
    f = 2.0 * s
    depth = f * np.ptp(vertices[..., :2], axis=1).max(-1) / (0.75 * s)  # spans 3/4 of the crop
    k_full = np.tile(np.array([[f, 0, s / 2], [0, f, s / 2], [0, 0, 1]], "float32"), (4, 1, 1))
    k_small = k_full * np.array([[0.25], [0.25], [1.0]], "float32")

    def placed(scale):
        return (vertices + np.stack([0 * depth, 0 * depth, scale * depth], -1)[:, None]).astype(
            "float32"
        )

    hard = render_silhouette(placed(1.0), layer.faces, k_full, s, s, mode="hard")
    target = resize_mask(hard, h, threshold=None)  # the training target (soft fractions)
    scales = (0.9, 0.96, 0.98, 1.0, 1.02, 1.04, 1.1, 1.25, 1.6)

    def best_scale(sigma_px):
        sigma = sigma_from_pixels(sigma_px, h, h)
        errors = [
            float(
                np.mean(
                    (render_silhouette(placed(k), layer.faces, k_small, h, h, sigma=sigma) - target)
                    ** 2
                )
            )
            for k in scales
        ]
        return scales[int(np.argmin(errors))]

    assert cfg.heatmap_size == h and cfg.render_sigma is None
    assert best_scale(cfg.render_sigma_px) in (0.98, 1.0, 1.02)  # within 2 %
    if h == 16:  # the old default of 1 px rewarded drawing the hand too far away
        assert best_scale(1.0) >= 1.25


def test_canonical_rotation_is_a_rotation(hand_model):
    r0 = canonical_rotation(resolve_hand_model(hand_model))
    np.testing.assert_allclose(r0 @ r0.T, np.eye(3), atol=1e-9)
    assert np.linalg.det(r0) == pytest.approx(1.0)


def test_save_and_reload_give_the_same_outputs(tiny_model, tmp_path):
    model, out = tiny_model
    config = model.get_config()
    json.dumps(config)  # plain values only
    assert config["num_stacks"] == 2 and config["tasks"] == ["heatmap", "mask", "pof"]
    path = os.path.join(tmp_path, "tiny.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, HIUModel)
    assert reloaded.model_config == model.model_config
    again = _numpy(reloaded(_images()))
    for key in out:
        np.testing.assert_allclose(again[key], out[key], rtol=1e-5, atol=1e-5, err_msg=key)


@pytest.mark.filterwarnings("ignore:Gradients do not exist")
def test_a_few_training_steps_lower_a_simple_loss(hand_model):
    keras.utils.set_random_seed(0)
    model = HIUModel(_tiny(hand_model, render_mask=False))
    images = _images(batch=4, seed=1)
    rng = np.random.default_rng(2)
    # Targets with a learnable part (their means): the output convs start near zero, and
    # zero-mean noise as a target would leave a few steps nothing to lower.
    targets = {
        "stack2_heatmaps": 0.3 + rng.uniform(size=(4, 16, 16, 21)).astype("float32") * 0.1,
        "stack2_mask_logits": rng.normal(2.0, 0.1, size=(4, 16, 16, 1)).astype("float32"),
        "keypoints_px": rng.uniform(16, 48, size=(4, 21, 2)).astype("float32"),
    }
    model.compile(
        optimizer=keras.optimizers.Adam(1e-2),
        loss={"stack2_heatmaps": "mse", "stack2_mask_logits": "mse", "keypoints_px": "mse"},
        loss_weights={"stack2_heatmaps": 1.0, "stack2_mask_logits": 1.0, "keypoints_px": 1e-3},
        run_eagerly=True,  # tracing the train step costs more than a few eager steps here
    )
    history = model.fit(images, targets, batch_size=4, epochs=6, verbose=0)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and losses[-1] < 0.8 * losses[0], losses


@pytest.mark.parametrize(
    "fields, present, absent",
    [
        ({"tasks": ("mask",), "mesh_head": False}, ["stack2_mask_logits"], ["keypoints_px"]),
        (
            {"tasks": ("heatmap", "pof"), "use_tam": False, "render_mask": False},
            ["stack1_pof", "keypoints_px_heatmap", "keypoints_px"],
            ["stack1_mask_logits", "rendered_mask"],
        ),
        ({"tasks": ("mask",), "mesh_head": False, "mask_refine_width": 8}, ["mask_logits"], []),
        (
            {"rotation": "axis_angle", "focal_mode": "predicted", "regress_every_stack": True},
            ["stack1_keypoints_px", "stack1_camera", "keypoints_px"],
            ["stack2_keypoints_px", "stack1_vertices"],
        ),
    ],
)
def test_configurations(hand_model, fields, present, absent):
    out = HIUModel(_tiny(hand_model, **fields))(_images(batch=1))
    assert all(k in out for k in present) and not any(k in out for k in absent), sorted(out)


@pytest.mark.parametrize("levels", [1, 2])
def test_mask_refiner_output_starts_as_the_upsampled_last_stack_mask(hand_model, tmp_path, levels):
    import tensorflow as tf

    from hiu_tf.model import mask_output_key

    cfg = _tiny(hand_model, mask_refine_width=8, mask_refine_levels=levels, render_mask=False)
    model = HIUModel(cfg)
    out = _numpy(model(_images()))
    side = 32 * levels  # S/2 or S of the 64-px input
    assert out["mask_logits"].shape == (2, side, side, 1)
    up = out["stack2_mask_logits"]
    for _ in range(levels):  # one bilinear x2 per level
        up = tf.image.resize(up, (2 * up.shape[1],) * 2, "bilinear").numpy()
    np.testing.assert_allclose(out["mask_logits"], up, atol=1e-5)
    assert mask_output_key(out, 2) == "mask_logits"
    del out["mask_logits"]
    assert mask_output_key(out, 2) == "stack2_mask_logits"
    path = os.path.join(tmp_path, "refined.keras")
    model.save(path)
    again = _numpy(keras.saving.load_model(path)(_images()))
    np.testing.assert_allclose(again["mask_logits"], up, atol=1e-5)


def test_pca_and_mean_pose(hand_model):
    cfg = _tiny(hand_model, rotation="axis_angle", use_pca=True, num_pca_comps=6)
    out = _numpy(HIUModel(cfg, flat_hand_mean=False)(_images(batch=1)))
    assert out["mano_pose"].shape == (1, 48) and np.all(np.isfinite(out["vertices"]))


def test_mixed_precision_outputs_are_float32(hand_model):
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        model = HIUModel(_tiny(hand_model))
        out = model(_images(batch=1))
    finally:
        keras.config.set_dtype_policy(previous)
    assert model.compute_dtype == "float16"
    for key, value in out.items():
        assert value.dtype == "float32" and np.all(np.isfinite(np.asarray(value))), key
    assert all(w.dtype == "float32" for w in model.trainable_weights)


def test_bad_arguments(hand_model):
    with pytest.raises(ConfigError, match="Received: model.num_stacks=3"):
        HIUModel(num_stacks=3)
    with pytest.raises(ValueError, match="Received: config='tiny'"):
        HIUModel("tiny")
    model = HIUModel(_tiny(hand_model))
    with pytest.raises(ValueError, match="expects images \\[B, 64, 64, 3\\]"):
        model.build((1, 128, 128, 3))


def test_soft_argmax_of_a_target_heatmap_returns_the_keypoint(tiny_model):
    # The model's heat-map decoder must invert `hiu_tf.targets`: same pixel convention.
    import tensorflow as tf

    from hiu_tf.targets import gaussian_heatmaps

    model, _ = tiny_model
    size = model.model_config.input_size
    # Away from the borders: the default decoder's blur (sigma 2) pulls peaks within
    # about 3 sigma of a border inwards (`hiu_tf.layers.soft_argmax.dark_2d`).
    keypoints = np.random.default_rng(3).uniform(16, size - 16, (2, 21, 2)).astype("float32")
    visible = np.ones((2, 21), "float32")
    heatmaps = gaussian_heatmaps(
        tf.constant(keypoints), visible, input_size=size, heatmap_size=size // 4, sigma=1.0
    )  # [B, h, h, 21]
    found = keras.ops.convert_to_numpy(model.soft_argmax(heatmaps))
    assert model.soft_argmax.mode == "dark"
    np.testing.assert_allclose(found, keypoints, atol=0.01)
