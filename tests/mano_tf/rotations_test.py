"""Tests for mano_tf.rotations against NumPy references, with gradients at the singular points."""

import numpy as np
import pytest
import tensorflow as tf

from mano_tf.rotations import (
    axis_angle_to_matrix,
    matrix_to_axis_angle,
    matrix_to_rotation_6d,
    rotation_6d_to_matrix,
)
from tests.reference.lbs_numpy import rodrigues

TOL = {np.float32: 2e-6, np.float64: 1e-12}


def _random_axis_angle(rng, n, max_angle=np.pi):
    axis = rng.normal(size=(n, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angle = rng.uniform(0.0, max_angle, size=(n, 1))
    return axis * angle


def _special_axis_angles(rng):
    """Angles at and around the branch points: 0, tiny, the Taylor switch, pi."""
    axis = rng.normal(size=(12, 3))
    axis /= np.linalg.norm(axis, axis=1, keepdims=True)
    angles = np.array(
        [0.0, 1e-12, 1e-8, 1e-5, 0.0099, 0.0101, 0.5, 2.0, np.pi - 1e-3, np.pi - 1e-6, np.pi, 3.0]
    )
    return axis * angles[:, None]


def _gram_schmidt_numpy(x):
    a1, a2 = x[..., :3], x[..., 3:]
    b1 = a1 / np.linalg.norm(a1, axis=-1, keepdims=True)
    u2 = a2 - np.sum(b1 * a2, axis=-1, keepdims=True) * b1
    b2 = u2 / np.linalg.norm(u2, axis=-1, keepdims=True)
    return np.stack([b1, b2, np.cross(b1, b2)], axis=-1)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axis_angle_to_matrix_matches_numpy(dtype):
    rng = np.random.default_rng(0)
    aa = np.concatenate([_random_axis_angle(rng, 200), _special_axis_angles(rng)]).astype(dtype)
    got = axis_angle_to_matrix(aa).numpy()
    assert got.dtype == dtype and got.shape == (212, 3, 3)
    np.testing.assert_allclose(got, rodrigues(aa.astype(np.float64)), atol=TOL[dtype])
    np.testing.assert_array_equal(got[200], np.eye(3, dtype=dtype))  # exactly zero angle
    np.testing.assert_allclose(
        got @ np.swapaxes(got, -1, -2), np.broadcast_to(np.eye(3), got.shape), atol=TOL[dtype]
    )
    np.testing.assert_allclose(np.linalg.det(got.astype(np.float64)), 1.0, atol=10 * TOL[dtype])


def test_axis_angle_to_matrix_batch_dims_and_ints():
    rng = np.random.default_rng(1)
    aa = _random_axis_angle(rng, 24).reshape(2, 3, 4, 3)
    got = axis_angle_to_matrix(aa).numpy()
    assert got.shape == (2, 3, 4, 3, 3)
    np.testing.assert_allclose(got, rodrigues(aa), atol=1e-12)
    assert axis_angle_to_matrix([0.0, 0.0, 1.0]).shape == (3, 3)
    assert axis_angle_to_matrix([0, 0, 0]).dtype == tf.float32
    half = axis_angle_to_matrix(tf.constant(aa, tf.float16))
    assert half.dtype == tf.float16


def test_axis_angle_to_matrix_gradient_at_zero_is_exact():
    x = tf.zeros([3], tf.float64)
    with tf.GradientTape() as tape:
        tape.watch(x)
        r = axis_angle_to_matrix(x)
    jac = tape.jacobian(r, x).numpy()  # [3, 3, 3]: dR_ij / dv_k
    # dR/dv_k at zero is the cross-product matrix of e_k.
    np.testing.assert_array_equal(jac, _generators())


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_axis_angle_to_matrix_gradients_finite_and_correct(dtype):
    rng = np.random.default_rng(2)
    points = np.concatenate([_special_axis_angles(rng), _random_axis_angle(rng, 4)])
    delta = 1e-6 if dtype == np.float64 else 1e-3
    atol = 1e-7 if dtype == np.float64 else 5e-3
    for point in points:
        x = tf.constant(point, dtype)
        theoretical, numerical = tf.test.compute_gradient(axis_angle_to_matrix, [x], delta=delta)
        assert np.all(np.isfinite(theoretical[0])), f"non-finite gradient at {point}"
        np.testing.assert_allclose(theoretical[0], numerical[0], atol=atol, err_msg=str(point))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matrix_to_axis_angle_round_trip(dtype):
    rng = np.random.default_rng(3)
    aa = np.concatenate([_random_axis_angle(rng, 300), _special_axis_angles(rng)])
    matrix = rodrigues(aa).astype(dtype)
    got = matrix_to_axis_angle(matrix).numpy()
    assert got.dtype == dtype and got.shape == aa.shape
    # Away from pi the axis-angle vector itself is unique.
    angle = np.linalg.norm(aa, axis=1)
    unique = angle < np.pi - 1e-2
    np.testing.assert_allclose(got[unique], aa[unique], atol=1e-11 if dtype == np.float64 else 2e-5)
    # Everywhere (pi included) the rotation must come back.
    np.testing.assert_allclose(
        rodrigues(got.astype(np.float64)), matrix, atol=1e-11 if dtype == np.float64 else 2e-5
    )
    assert np.all(np.linalg.norm(got, axis=1) <= np.pi + 1e-6)
    np.testing.assert_array_equal(matrix_to_axis_angle(np.eye(3, dtype=dtype)).numpy(), np.zeros(3))


def test_matrix_to_axis_angle_at_pi_about_each_axis():
    for k in range(3):
        axis = np.eye(3)[k]
        got = matrix_to_axis_angle(rodrigues(np.pi * axis)).numpy()
        np.testing.assert_allclose(np.abs(got), np.pi * axis, atol=1e-12)


@pytest.mark.parametrize("angle", [0.0, 1e-9, 1e-4, 0.3, 1.9, np.pi - 1e-2, np.pi - 1e-5, np.pi])
def test_matrix_to_axis_angle_gradients(angle):
    rng = np.random.default_rng(4)
    axis = rng.normal(size=3)
    axis /= np.linalg.norm(axis)
    matrix = tf.constant(rodrigues(angle * axis))
    with tf.GradientTape() as tape:
        tape.watch(matrix)
        out = matrix_to_axis_angle(matrix)
    grad = tape.jacobian(out, matrix).numpy()
    assert np.all(np.isfinite(grad)), f"non-finite gradient at angle {angle}"
    if angle < np.pi - 1e-3:  # log is smooth there: compare with finite differences
        theoretical, numerical = tf.test.compute_gradient(
            matrix_to_axis_angle, [matrix], delta=1e-7
        )
        np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)
    # At the identity, chaining with dR/dv (the generators) must give d log(exp(v)) / dv = I.
    if angle == 0.0:
        np.testing.assert_allclose(
            np.einsum("kij,ijl->kl", grad, _generators()), np.eye(3), atol=1e-12
        )


def _generators():
    """[3, 3, 3]: dR/dv_l at the identity, as [i, j, l]."""
    g = np.zeros((3, 3, 3))
    for l in range(3):
        e = np.eye(3)[l]
        g[:, :, l] = [[0, -e[2], e[1]], [e[2], 0, -e[0]], [-e[1], e[0], 0]]
    return g


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_rotation_6d_round_trip_and_layout(dtype):
    rng = np.random.default_rng(5)
    matrix = rodrigues(_random_axis_angle(rng, 100)).astype(dtype)
    six = matrix_to_rotation_6d(matrix).numpy()
    np.testing.assert_array_equal(six, np.concatenate([matrix[..., :, 0], matrix[..., :, 1]], -1))
    np.testing.assert_allclose(rotation_6d_to_matrix(six).numpy(), matrix, atol=TOL[dtype] * 4)


def test_rotation_6d_to_matrix_matches_gram_schmidt_and_is_a_rotation():
    rng = np.random.default_rng(6)
    six = rng.normal(size=(2, 50, 6))
    got = rotation_6d_to_matrix(six).numpy()
    assert got.shape == (2, 50, 3, 3)
    np.testing.assert_allclose(got, _gram_schmidt_numpy(six), atol=1e-12)
    np.testing.assert_allclose(np.linalg.det(got), 1.0, atol=1e-12)
    degenerate = rotation_6d_to_matrix(np.zeros((2, 6), np.float32)).numpy()
    assert np.all(np.isfinite(degenerate))


def test_rotation_6d_to_matrix_gradients():
    rng = np.random.default_rng(7)
    x = tf.constant(rng.normal(size=(6,)))
    theoretical, numerical = tf.test.compute_gradient(rotation_6d_to_matrix, [x], delta=1e-7)
    np.testing.assert_allclose(theoretical[0], numerical[0], atol=1e-6)
    with tf.GradientTape() as tape:
        zero = tf.zeros([6])
        tape.watch(zero)
        out = rotation_6d_to_matrix(zero)
    assert np.all(np.isfinite(tape.jacobian(out, zero).numpy()))


def test_xla_matches_eager():
    rng = np.random.default_rng(8)
    aa = tf.constant(
        np.concatenate([_random_axis_angle(rng, 64), _special_axis_angles(rng)]), tf.float32
    )

    @tf.function(jit_compile=True)
    def round_trip(x):
        matrix = axis_angle_to_matrix(x)
        return (
            matrix,
            matrix_to_axis_angle(matrix),
            rotation_6d_to_matrix(matrix_to_rotation_6d(matrix)),
        )

    compiled = round_trip(aa)
    matrix = axis_angle_to_matrix(aa)
    eager = (
        matrix,
        matrix_to_axis_angle(matrix),
        rotation_6d_to_matrix(matrix_to_rotation_6d(matrix)),
    )
    for c, e in zip(compiled, eager, strict=True):
        np.testing.assert_allclose(c.numpy(), e.numpy(), atol=1e-5)


@pytest.mark.parametrize(
    "func, name, value, shown",
    [
        (axis_angle_to_matrix, "axis_angle", np.zeros((4, 2)), r"\[\.\.\., 3\]"),
        (axis_angle_to_matrix, "axis_angle", np.zeros(()), r"\[\.\.\., 3\]"),
        (matrix_to_axis_angle, "matrix", np.zeros((4, 3)), r"\[\.\.\., 3, 3\]"),
        (matrix_to_axis_angle, "matrix", np.zeros((4, 3, 4)), r"\[\.\.\., 3, 3\]"),
        (rotation_6d_to_matrix, "rotation_6d", np.zeros((4, 9)), r"\[\.\.\., 6\]"),
        (matrix_to_rotation_6d, "matrix", np.zeros((2, 2, 3)), r"\[\.\.\., 3, 3\]"),
    ],
)
def test_bad_shapes_name_the_argument(func, name, value, shown):
    expected = rf"{name} must have shape {shown}\. Received: {name}\.shape={value.shape}".replace(
        "(", r"\("
    ).replace(")", r"\)")
    with pytest.raises(ValueError, match=expected):
        func(value)
