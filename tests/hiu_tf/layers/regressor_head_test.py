import keras
import numpy as np
import pytest

from hiu_tf.layers.regressor_head import RegressorHead
from tests.helpers import run_layer_test

# A rotation of 90 degrees about x, row-major.
R_X90 = (1.0, 0.0, 0.0, 0.0, 0.0, -1.0, 0.0, 1.0, 0.0)


def _features(batch=2):
    return np.random.default_rng(0).normal(size=(batch, 16, 16, 8)).astype("float32")


@pytest.mark.parametrize(
    "rotation, focal_mode, pca, joint_dim",
    [("6d", "fixed", 0, 90), ("axis_angle", "predicted", 0, 45), ("axis_angle", "fixed", 6, 6)],
)
def test_regressor_head_layer(rotation, focal_mode, pca, joint_dim):
    run_layer_test(
        RegressorHead,
        {
            "width": 8,
            "downsamples": 2,
            "rotation": rotation,
            "focal_mode": focal_mode,
            "num_pca_comps": pca,
            "input_size": 64,
            "canonical_rotation": R_X90,
        },
        _features(),
        expected_output_shape={
            "global_rotmat": (2, 3, 3),
            "joint_params": (2, joint_dim),
            "betas": (2, 10),
            "translation": (2, 3),
            "focal_px": (2, 1),
        },
        expected_num_non_trainable_weights=5,  # 2 x (BN mean, variance) + R_0
        run_mixed_precision_check=rotation == "6d",
        atol=1e-5,
    )


def test_flatten_pooling_layer():
    run_layer_test(
        RegressorHead,
        {"width": 8, "downsamples": 2, "pooling": "flatten", "input_size": 64},
        _features(),
        expected_output_shape={
            "global_rotmat": (2, 3, 3),
            "joint_params": (2, 90),
            "betas": (2, 10),
            "translation": (2, 3),
            "focal_px": (2, 1),
        },
        expected_num_non_trainable_weights=5,
        run_mixed_precision_check=False,
        atol=1e-5,
    )
    head = RegressorHead(width=8, downsamples=2, pooling="flatten", input_size=64)
    assert tuple(head.encode(_features()).shape) == (2, 4 * 4 * 8)  # 16 -> 8 -> 4, flattened


def test_keypoint_inputs_are_read_without_gradient():
    import tensorflow as tf

    head = RegressorHead(width=8, downsamples=1, keypoint_inputs=True, input_size=64)
    x = _features()
    keypoints = tf.Variable(np.random.default_rng(1).uniform(0, 64, (2, 21, 2)).astype("float32"))
    with pytest.raises(ValueError, match="needs keypoints_px"):
        head(x)
    out = head(x, keypoints_px=keypoints)
    assert head.fc.kernel.shape == (8 + 42, 8)  # pooled features + 21 (x, y)
    moved = head(x, keypoints_px=keypoints + 10.0)
    assert not np.allclose(np.asarray(out["joint_params"]), np.asarray(moved["joint_params"]))
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(head(x, keypoints_px=keypoints)["betas"])
    assert tape.gradient(loss, keypoints) is None
    config = head.get_config()
    assert config["keypoint_inputs"] is True and config["pooling"] == "average"
    clone = RegressorHead.from_config(config)
    clone(x, keypoints_px=keypoints)
    clone.set_weights(head.get_weights())
    again = clone(x, keypoints_px=keypoints)
    np.testing.assert_allclose(np.asarray(again["betas"]), np.asarray(out["betas"]), atol=1e-6)


def test_encode_then_regress_is_the_call():
    # The export runs the two halves apart (`export.graph`: encode with the int8 trunk).
    head = RegressorHead(width=8, downsamples=2, input_size=64, canonical_rotation=R_X90)
    x = _features()
    whole = head(x)
    pooled = head.encode(x)
    assert tuple(pooled.shape) == (2, 8)
    for key, value in head.regress(pooled).items():
        np.testing.assert_allclose(np.asarray(value), np.asarray(whole[key]), atol=1e-6)


@pytest.mark.parametrize("rotation", ["6d", "axis_angle"])
def test_step_zero_hand_is_centred_in_front_of_the_camera(rotation):
    head = RegressorHead(
        width=8,
        rotation=rotation,
        focal_length_norm=2.0,
        input_size=64,
        reference_depth=0.5,
        canonical_rotation=R_X90,
    )
    out = {k: keras.ops.convert_to_numpy(v) for k, v in head(_features(4)).items()}
    np.testing.assert_allclose(out["translation"][:, 2], 0.5, rtol=0.02)
    np.testing.assert_allclose(out["translation"][:, :2], 0.0, atol=0.01)
    np.testing.assert_allclose(out["focal_px"], 128.0)
    np.testing.assert_allclose(
        out["global_rotmat"], np.tile(np.reshape(R_X90, (1, 3, 3)), (4, 1, 1)), atol=0.02
    )
    identity = np.tile([1, 0, 0, 0, 1, 0], 15) if rotation == "6d" else np.zeros(45)
    np.testing.assert_allclose(out["joint_params"], np.tile(identity, (4, 1)), atol=0.02)
    np.testing.assert_allclose(out["betas"], 0.0, atol=0.02)


@pytest.mark.parametrize("d_z", [-1e4, -50.0, -1.0, 0.0, 0.3, 1.0, 50.0, 1e4])
def test_depth_is_bounded_log_depth(d_z):
    """T_z = reference * exp(r tanh(d_z / r)), r = ln(depth_range): never beyond the range."""
    head = RegressorHead(
        width=8, downsamples=0, input_size=64, reference_depth=0.5, depth_range=4.0
    )
    head.build((None, 4, 4, 8))
    kernel, bias = head.out.get_weights()
    bias[-1] = d_z
    head.out.set_weights([np.zeros_like(kernel), bias])  # raw output = bias exactly
    t = keras.ops.convert_to_numpy(head(_features()[:, :4, :4])["translation"])
    r = np.log(4.0)
    np.testing.assert_allclose(t[:, 2], 0.5 * np.exp(r * np.tanh(d_z / r)), rtol=1e-5)
    assert np.all((t[:, 2] >= 0.5 / 4.0 * (1 - 1e-6)) & (t[:, 2] <= 0.5 * 4.0 * (1 + 1e-6)))


def test_depth_gradient_matches_finite_differences():
    import tensorflow as tf

    head = RegressorHead(width=8, downsamples=0, input_size=64, depth_range=3.0)
    head.build((None, 4, 4, 8))
    kernel, bias = head.out.get_weights()
    head.out.set_weights([np.zeros_like(kernel), bias])
    features = _features()[:1, :4, :4]
    var = head.out.bias

    def depth(value):
        bias[-1] = value
        var.assign(bias)
        return float(head(features)["translation"][0, 2])

    for x in (-2.0, 0.0, 0.7):
        bias[-1] = x
        var.assign(bias)
        with tf.GradientTape() as tape:
            out = head(features)["translation"][0, 2]
        grad = tape.gradient(out, var.value)[-1]
        numeric = (depth(x + 1e-3) - depth(x - 1e-3)) / 2e-3
        assert float(grad) == pytest.approx(numeric, rel=1e-2)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"rotation": "quaternion"}, "Received: rotation='quaternion'"),
        ({"focal_mode": "auto"}, "Received: focal_mode='auto'"),
        ({"rotation": "6d", "num_pca_comps": 6}, "num_pca_comps=6"),
        ({"reference_depth": 0.0}, "Received: reference_depth=0.0"),
        ({"depth_range": 1.0}, "Received: depth_range=1.0"),
        ({"pooling": "max"}, "Received: pooling='max'"),
        ({"canonical_rotation": (1.0,) * 9}, "canonical_rotation"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        RegressorHead(**kwargs)
