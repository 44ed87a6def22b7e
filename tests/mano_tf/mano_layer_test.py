"""Tests for mano_tf.mano_layer.ManoLayer against the independent NumPy forward pass."""

import os

import keras
import numpy as np
import pytest
import tensorflow as tf

from mano_tf.hand_model import load_hand_model
from mano_tf.mano_layer import MANO_TO_CANONICAL, ManoLayer
from tests.helpers import run_layer_test
from tests.mano_fixtures import random_mano_dict, write_mano_pickle
from tests.reference.lbs_numpy import mano_forward, rodrigues

BATCH = 6
VERTEX_ATOL = 1e-5  # metres, float32 against the float64 reference


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """{side: (raw MANO dict, HandModel loaded from MANO_<SIDE>.pkl, pickle path)}."""
    folder = tmp_path_factory.mktemp("mano")
    out = {}
    for seed, side in enumerate(("right", "left")):
        data = random_mano_dict(seed=10 + seed)
        path = folder / f"MANO_{side.upper()}.pkl"
        write_mano_pickle(path, data)
        model = load_hand_model(path)
        assert model.side == side
        out[side] = (data, model, path)
    return out


def _random_pose(rng, batch, use_pca, num_pca_comps=6):
    """Axis-angle pose with angles up to pi per joint, or PCA coefficients."""
    joints = 1 if use_pca else 16
    axis = rng.normal(size=(batch, joints, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    aa = (axis * rng.uniform(0.0, np.pi, size=(batch, joints, 1))).reshape(batch, -1)
    aa[0] = 0.0  # one exact zero pose
    if use_pca:
        return np.concatenate([aa, rng.normal(size=(batch, num_pca_comps))], axis=1)
    return aa


@pytest.mark.parametrize("side", ["right", "left"])
@pytest.mark.parametrize("use_pca", [False, True])
@pytest.mark.parametrize("flat_hand_mean", [False, True])
def test_matches_numpy_reference(models, side, use_pca, flat_hand_mean):
    data, model, _ = models[side]
    rng = np.random.default_rng(hash((side, use_pca, flat_hand_mean)) % 2**32)
    pose = _random_pose(rng, BATCH, use_pca, num_pca_comps=9)
    betas = rng.normal(size=(BATCH, 10)) * 2.0
    layer = ManoLayer(model, use_pca=use_pca, num_pca_comps=9, flat_hand_mean=flat_hand_mean)
    out = layer(pose.astype(np.float32), betas.astype(np.float32))
    ref = mano_forward(
        data, betas, pose, use_pca=use_pca, num_pca_comps=9, flat_hand_mean=flat_hand_mean
    )
    assert set(out) == {"vertices", "joints", "joints_mano"}
    for key in ref:
        assert out[key].dtype == tf.float32
        assert out[key].shape == ref[key].shape
        np.testing.assert_allclose(
            out[key].numpy(), ref[key], atol=VERTEX_ATOL, rtol=0, err_msg=key
        )


def test_pose_rotmat_is_the_final_rotation(models):
    data, model, _ = models["right"]
    rng = np.random.default_rng(1)
    axis = rng.normal(size=(BATCH, 16, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    rotmats = rodrigues(axis * rng.uniform(0, np.pi, size=(BATCH, 16, 1)))
    betas = rng.normal(size=(BATCH, 10))
    # hands_mean, PCA and flat_hand_mean do not apply to rotation matrices.
    layer = ManoLayer(model, use_pca=True, flat_hand_mean=False)
    out = layer(betas=betas.astype(np.float32), pose_rotmat=rotmats.astype(np.float32))
    ref = mano_forward(data, betas, rotmats=rotmats)
    for key in ref:
        np.testing.assert_allclose(out[key].numpy(), ref[key], atol=VERTEX_ATOL, rtol=0)
    # And rotmat input equals axis-angle input once the mean is folded in.
    aa_layer = ManoLayer(model)
    pose = _random_pose(rng, BATCH, use_pca=False).astype(np.float32)
    full = aa_layer.full_pose(pose).numpy().reshape(BATCH, 16, 3)
    by_rotmat = aa_layer(
        betas=betas.astype(np.float32), pose_rotmat=rodrigues(full).astype(np.float32)
    )
    by_aa = aa_layer(pose, betas.astype(np.float32))
    np.testing.assert_allclose(by_rotmat["vertices"], by_aa["vertices"], atol=2e-6)


def test_canonical_joints_are_mano_joints_plus_tips(models):
    _, model, _ = models["right"]
    rng = np.random.default_rng(2)
    layer = ManoLayer(model)
    out = layer(_random_pose(rng, 2, False).astype(np.float32), np.zeros((2, 10), np.float32))
    mano21 = np.concatenate(
        [out["joints_mano"].numpy(), out["vertices"].numpy()[:, list(model.tip_vertex_ids)]], 1
    )
    np.testing.assert_array_equal(out["joints"].numpy(), mano21[:, list(MANO_TO_CANONICAL)])
    assert layer.num_vertices == 778
    assert layer.faces.dtype == np.int32 and layer.faces.shape == (1538, 3)
    np.testing.assert_array_equal(layer.faces, model.faces)


def test_gradients_match_finite_differences_of_the_reference(models):
    data, model, _ = models["right"]
    rng = np.random.default_rng(3)
    pose = _random_pose(rng, 2, use_pca=True, num_pca_comps=6)
    pose[0, :3] = 0.0  # a zero global rotation: the gradient at theta = 0
    betas = rng.normal(size=(2, 10))
    wv = rng.normal(size=(2, 778, 3))
    wj = rng.normal(size=(2, 21, 3))
    layer = ManoLayer(model, use_pca=True, num_pca_comps=6)

    pose_t = tf.constant(pose, tf.float32)
    betas_t = tf.constant(betas, tf.float32)
    with tf.GradientTape() as tape:
        tape.watch([pose_t, betas_t])
        out = layer(pose_t, betas_t)
        loss = tf.reduce_sum(out["vertices"] * wv) + tf.reduce_sum(out["joints"] * wj)
    grad_pose, grad_betas = tape.gradient(loss, [pose_t, betas_t])

    def ref_loss(p, b):  # batched over the first axis of p and b
        r = mano_forward(data, b, p, use_pca=True, num_pca_comps=6)
        return np.sum(r["vertices"] * wv, axis=(1, 2)) + np.sum(r["joints"] * wj, axis=(1, 2))

    eps = 1e-6
    for value, grad, name in ((pose, grad_pose, "pose"), (betas, grad_betas, "betas")):
        numeric = np.zeros_like(value)
        for i in range(value.shape[1]):
            step = np.zeros_like(value)
            step[:, i] = eps
            plus = (value + step, betas) if name == "pose" else (pose, value + step)
            minus = (value - step, betas) if name == "pose" else (pose, value - step)
            numeric[:, i] = (ref_loss(*plus) - ref_loss(*minus)) / (2 * eps)
        np.testing.assert_allclose(grad.numpy(), numeric, rtol=1e-3, atol=1e-4, err_msg=name)


def test_tf_function_and_xla_match_eager(models):
    _, model, _ = models["left"]
    rng = np.random.default_rng(4)
    pose = tf.constant(_random_pose(rng, BATCH, False), tf.float32)
    betas = tf.constant(rng.normal(size=(BATCH, 10)), tf.float32)
    layer = ManoLayer(model)
    eager = layer(pose, betas)
    graph = tf.function(lambda p, b: layer(p, b))(pose, betas)
    xla = tf.function(lambda p, b: layer(p, b), jit_compile=True)(pose, betas)
    rot = tf.function(lambda r, b: layer(betas=b, pose_rotmat=r), jit_compile=True)(
        tf.reshape(tf.eye(3, batch_shape=[BATCH * 16]), [BATCH, 16, 3, 3]), betas
    )
    assert rot["vertices"].shape == (BATCH, 778, 3)
    for key in eager:
        np.testing.assert_allclose(graph[key].numpy(), eager[key].numpy(), atol=1e-6)
        np.testing.assert_allclose(xla[key].numpy(), eager[key].numpy(), atol=1e-6)


def test_mixed_precision(models):
    _, model, _ = models["right"]
    rng = np.random.default_rng(5)
    pose = _random_pose(rng, 4, False).astype(np.float32)
    betas = rng.normal(size=(4, 10)).astype(np.float32)
    reference = ManoLayer(model)(pose, betas)
    previous = keras.config.dtype_policy()
    try:
        keras.config.set_dtype_policy("mixed_float16")
        default = ManoLayer(model)  # float32 by default, whatever the global policy
        assert default.compute_dtype == "float32"
        out = default(tf.cast(pose, tf.float16), betas)
        explicit = ManoLayer(model, dtype="mixed_float16")
        assert explicit.variable_dtype == "float32" and explicit.compute_dtype == "float16"
        half = explicit(pose, betas)

        # In a mixed-precision functional model, gradients reach the head.
        pose_in, betas_in = keras.Input((48,)), keras.Input((10,))
        head = keras.layers.Dense(48, kernel_initializer="zeros")
        mano = ManoLayer(model)
        outputs = mano(head(pose_in), betas_in)
        net = keras.Model([pose_in, betas_in], outputs["joints"])
        with tf.GradientTape() as tape:
            joints = net([pose, betas])
        grads = tape.gradient(joints, head.trainable_weights)
    finally:
        keras.config.set_dtype_policy(previous)
    for key in reference:
        assert out[key].dtype == tf.float32
        # The pose went through float16 on the way in: compare loosely.
        np.testing.assert_allclose(out[key].numpy(), reference[key].numpy(), atol=1e-3)
        assert half[key].dtype == tf.float16
        np.testing.assert_allclose(half[key].numpy(), reference[key].numpy(), atol=3e-4)
    assert joints.dtype == tf.float32
    assert all(g is not None and np.all(np.isfinite(g.numpy())) for g in grads)
    assert any(np.any(g.numpy() != 0) for g in grads)
    assert all(w.dtype == "float32" for w in mano.weights if w.dtype != "int32")


def test_run_layer_test(models):
    _, model, _ = models["right"]
    rng = np.random.default_rng(6)
    inputs = {
        "pose": _random_pose(rng, 3, True, 6).astype(np.float32),
        "betas": rng.normal(size=(3, 10)).astype(np.float32),
    }
    run_layer_test(
        ManoLayer,
        init_kwargs={"hand_model": model, "use_pca": True, "num_pca_comps": 6},
        input_data=inputs,
        expected_output_shape={
            "vertices": (3, 778, 3),
            "joints": (3, 21, 3),
            "joints_mano": (3, 16, 3),
        },
        expected_output_dtype={
            "vertices": "float32",
            "joints": "float32",
            "joints_mano": "float32",
        },
        call_style="kwargs",
        expected_num_trainable_weights=0,
        expected_num_non_trainable_weights=8,
        run_xla_check=True,
        atol=1e-6,
    )


def test_saved_model_reloads_without_the_hand_model_file(models, tmp_path):
    data, _, _ = models["left"]
    path = tmp_path / "MANO_LEFT.pkl"
    write_mano_pickle(path, data)
    pose_in, betas_in = keras.Input((48,), name="pose"), keras.Input((10,), name="betas")
    layer = ManoLayer(str(path), flat_hand_mean=True, name="mano")
    model = keras.Model([pose_in, betas_in], layer(pose_in, betas_in))
    rng = np.random.default_rng(7)
    pose = _random_pose(rng, 4, False).astype(np.float32)
    betas = rng.normal(size=(4, 10)).astype(np.float32)
    expected = model([pose, betas])
    saved = tmp_path / "hand.keras"
    model.save(saved)
    os.remove(path)

    config = layer.get_config()
    assert config["hand_model"]["name"] == "MANO_LEFT.pkl"
    assert config["hand_model"]["side"] == "left"
    assert str(path) not in repr(config)

    reloaded = keras.saving.load_model(saved)
    new_layer = reloaded.get_layer("mano")
    assert new_layer is not layer and isinstance(new_layer, ManoLayer)
    assert new_layer.side == "left" and new_layer.flat_hand_mean
    np.testing.assert_array_equal(new_layer.faces, layer.faces)
    got = reloaded([pose, betas])
    for key in expected:
        np.testing.assert_array_equal(got[key].numpy(), expected[key].numpy())


def test_hand_model_sources(models):
    _, model, path = models["right"]
    spec = ManoLayer(model).get_config()["hand_model"]
    from_path = ManoLayer(path)
    assert from_path.get_config()["hand_model"] == spec
    placeholder = ManoLayer(spec)  # what from_config builds: zeros until weights load
    assert placeholder.num_vertices == 778 and not np.any(placeholder.faces)
    try:
        from mano_tf.open_hand import default_hand_model  # noqa: F401 (written by another issue)
    except ImportError:
        with pytest.raises(ValueError, match=r"mano_tf\.open_hand"):
            ManoLayer("open:right")
    else:
        open_layer = ManoLayer("open:left")
        assert open_layer.side == "left"
        out = open_layer(np.zeros((1, 48), np.float32), np.zeros((1, 10), np.float32))
        assert out["joints"].shape == (1, 21, 3)


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"hand_model": "open:middle"}, r"Received: hand_model='open:middle'"),
        ({"hand_model": 42}, r"Received: hand_model=42"),
        ({"hand_model": {"name": "x"}}, r"missing .*Received: hand_model="),
        (
            {"num_pca_comps": 0},
            r"num_pca_comps must be an int in \[1, 45\]\. Received: num_pca_comps=0",
        ),
        ({"num_pca_comps": 46}, r"Received: num_pca_comps=46"),
        ({"num_pca_comps": 6.0}, r"Received: num_pca_comps=6\.0"),
        ({"use_pca": "yes"}, r"use_pca must be a bool\. Received: use_pca='yes'"),
        ({"flat_hand_mean": 1}, r"Received: flat_hand_mean=1"),
    ],
)
def test_bad_constructor_arguments(models, kwargs, match):
    kwargs = {"hand_model": models["right"][1], **kwargs}
    with pytest.raises(ValueError, match=match):
        ManoLayer(**kwargs)


@pytest.mark.parametrize(
    "use_pca, call, match",
    [
        (
            False,
            {"pose": np.zeros((2, 47)), "betas": np.zeros((2, 10))},
            r"pose must have shape \[B, 48\].*Received: pose\.shape=\(2, 47\)",
        ),
        (
            False,
            {"pose": np.zeros((48,)), "betas": np.zeros((2, 10))},
            r"Received: pose\.shape=\(48,\)",
        ),
        (
            True,
            {"pose": np.zeros((2, 48)), "betas": np.zeros((2, 10))},
            r"pose must have shape \[B, 9\] \(global orientation \+ 6 PCA coefficients\)\. Received: pose\.shape=\(2, 48\)",
        ),
        (
            False,
            {"pose": np.zeros((2, 48)), "betas": np.zeros((2, 9))},
            r"betas must have shape \[B, 10\]\. Received: betas\.shape=\(2, 9\)",
        ),
        (
            False,
            {"pose": np.zeros((2, 48)), "betas": np.zeros((3, 10))},
            r"same batch size\. Received: pose\.shape=\(2, 48\), betas\.shape=\(3, 10\)",
        ),
        (False, {"pose": np.zeros((2, 48))}, r"Received: betas=None"),
        (
            False,
            {"betas": np.zeros((2, 10)), "pose_rotmat": np.zeros((2, 15, 3, 3))},
            r"pose_rotmat must have shape \[B, 16, 3, 3\]\. Received: pose_rotmat\.shape=\(2, 15, 3, 3\)",
        ),
        (
            False,
            {"betas": np.zeros((2, 10))},
            r"exactly one of pose .*Received: pose=None, pose_rotmat=None",
        ),
        (
            False,
            {
                "pose": np.zeros((2, 48)),
                "betas": np.zeros((2, 10)),
                "pose_rotmat": np.zeros((2, 16, 3, 3)),
            },
            r"exactly one",
        ),
    ],
)
def test_bad_call_shapes_name_the_argument(models, use_pca, call, match):
    layer = ManoLayer(models["right"][1], use_pca=use_pca)
    call = {k: v.astype(np.float32) for k, v in call.items()}
    with pytest.raises(ValueError, match=match):
        layer(**call)
