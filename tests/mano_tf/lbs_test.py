"""Tests for mano_tf.lbs against the independent NumPy forward pass in tests/reference."""

import numpy as np
import pytest
import tensorflow as tf

from mano_tf import lbs as lbs_lib
from tests.mano_fixtures import MANO_PARENTS, random_mano_dict
from tests.reference.lbs_numpy import rodrigues, skin


def _model_args(data, dtype):
    return dict(
        v_template=data["v_template"].astype(dtype),
        shapedirs=data["shapedirs"].astype(dtype),
        posedirs=data["posedirs"].astype(dtype),
        J_regressor=data["J_regressor"].astype(dtype),
        parents=tuple(MANO_PARENTS),
        weights=data["weights"].astype(dtype),
    )


def _random_rotmats(rng, batch, max_angle=np.pi):
    axis = rng.normal(size=(batch, 16, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    return rodrigues(axis * rng.uniform(0, max_angle, size=(batch, 16, 1)))


def test_depth_levels_of_mano():
    assert lbs_lib.depth_levels(MANO_PARENTS) == (
        (0,),
        (1, 4, 7, 10, 13),
        (2, 5, 8, 11, 14),
        (3, 6, 9, 12, 15),
    )
    assert lbs_lib.depth_levels([-1, 0, 0, 2]) == ((0,), (1, 2), (3,))


@pytest.mark.parametrize("parents", [[0, 0, 1], [-1, 2, 0], [-1, 0, -1], []])
def test_invalid_parents(parents):
    with pytest.raises(ValueError, match=r"parents must be .*Received: parents="):
        lbs_lib.depth_levels(parents)


def test_blend_shapes_and_joint_regression():
    rng = np.random.default_rng(0)
    data = random_mano_dict(0, num_vertices=50, num_faces=10)
    betas = rng.normal(size=(4, 10))
    offsets = lbs_lib.blend_shapes(betas, data["shapedirs"]).numpy()
    np.testing.assert_allclose(offsets, np.tensordot(betas, data["shapedirs"], axes=([1], [2])))
    vertices = rng.normal(size=(4, 50, 3))
    joints = lbs_lib.vertices_to_joints(data["J_regressor"], vertices).numpy()
    np.testing.assert_allclose(joints, np.stack([data["J_regressor"] @ v for v in vertices]))


@pytest.mark.parametrize("dtype, atol", [(np.float64, 1e-12), (np.float32, 1e-5)])
def test_lbs_matches_numpy_reference(dtype, atol):
    rng = np.random.default_rng(1)
    data = random_mano_dict(1)
    betas = rng.normal(size=(6, 10)) * 2.0
    rotmats = _random_rotmats(rng, 6)
    vertices, joints = lbs_lib.lbs(
        betas.astype(dtype), rotmats.astype(dtype), **_model_args(data, dtype)
    )
    assert vertices.dtype == dtype and vertices.shape == (6, 778, 3)
    assert joints.shape == (6, 16, 3)
    ref_vertices, ref_joints = skin(data, betas, rotmats)
    np.testing.assert_allclose(vertices.numpy(), ref_vertices, atol=atol, rtol=0)
    np.testing.assert_allclose(joints.numpy(), ref_joints, atol=atol, rtol=0)


def test_rigid_transform_identity_pose_keeps_rest_joints():
    rng = np.random.default_rng(2)
    rest = rng.normal(size=(3, 16, 3))
    eye = np.broadcast_to(np.eye(3), (3, 16, 3, 3))
    posed, rel = lbs_lib.batch_rigid_transform(eye, rest, MANO_PARENTS)
    np.testing.assert_allclose(posed.numpy(), rest, atol=1e-12)
    expected = np.concatenate([eye, np.zeros((3, 16, 3, 1))], axis=-1)
    np.testing.assert_allclose(rel.numpy(), expected, atol=1e-12)


def test_lbs_gradients_float64():
    rng = np.random.default_rng(3)
    data = random_mano_dict(3, num_vertices=40, num_faces=10)
    args = _model_args(data, np.float64)
    betas = tf.constant(rng.normal(size=(1, 10)))
    rotmats = tf.constant(_random_rotmats(rng, 1))
    projection = tf.constant(rng.normal(size=(40, 3)))

    def f(b, r):
        vertices, joints = lbs_lib.lbs(b, r, **args)
        return tf.reduce_sum(vertices * projection, axis=[1, 2]) + tf.reduce_sum(joints, [1, 2])

    theoretical, numerical = tf.test.compute_gradient(f, [betas, rotmats], delta=1e-6)
    for t, n in zip(theoretical, numerical, strict=True):
        np.testing.assert_allclose(t, n, atol=1e-7, rtol=1e-6)


def test_lbs_under_xla_matches_eager():
    rng = np.random.default_rng(4)
    data = random_mano_dict(4, num_vertices=100, num_faces=10)
    args = _model_args(data, np.float32)
    betas = tf.constant(rng.normal(size=(5, 10)), tf.float32)
    rotmats = tf.constant(_random_rotmats(rng, 5), tf.float32)
    compiled = tf.function(lambda b, r: lbs_lib.lbs(b, r, **args), jit_compile=True)
    for c, e in zip(compiled(betas, rotmats), lbs_lib.lbs(betas, rotmats, **args), strict=True):
        np.testing.assert_allclose(c.numpy(), e.numpy(), atol=1e-6)


def _bad(name, value, data):
    args = _model_args(data, np.float32)
    args["betas"] = np.zeros((2, 10), np.float32)
    args["pose_rotmat"] = np.broadcast_to(np.eye(3, dtype=np.float32), (2, 16, 3, 3))
    args[name] = value
    return args


@pytest.mark.parametrize(
    "name, value",
    [
        ("betas", np.zeros((2, 9))),
        ("betas", np.zeros((2, 10, 1))),
        ("pose_rotmat", np.zeros((2, 15, 3, 3))),
        ("pose_rotmat", np.zeros((2, 16, 9))),
        ("v_template", np.zeros((50, 2))),
        ("shapedirs", np.zeros((49, 3, 10))),
        ("posedirs", np.zeros((50, 3, 134))),
        ("J_regressor", np.zeros((16, 49))),
        ("weights", np.zeros((50, 15))),
    ],
)
def test_lbs_bad_shapes_name_the_argument(name, value):
    data = random_mano_dict(5, num_vertices=50, num_faces=10)
    shown = str(tuple(value.shape)).replace("(", r"\(").replace(")", r"\)")
    with pytest.raises(
        ValueError, match=rf"{name} must have shape .*Received: {name}\.shape={shown}"
    ):
        lbs_lib.lbs(**_bad(name, value, data))


def test_lbs_batch_mismatch():
    data = random_mano_dict(6, num_vertices=50, num_faces=10)
    with pytest.raises(ValueError, match=r"same batch size\. Received: betas\.shape=\(3, 10\)"):
        lbs_lib.lbs(**_bad("betas", np.zeros((3, 10)), data))
