"""`hiu_tf.mirror`: each quantity's mirror rule against a NumPy reference on random values."""

import numpy as np

from hiu_tf import mirror
from tests.reference.lbs_numpy import rodrigues


def _no_negative_zero(array: np.ndarray) -> bool:
    return not np.any(np.signbit(array) & (array == 0))


def test_images_and_masks_reverse_their_columns():
    rng = np.random.default_rng(0)
    for array in (rng.integers(0, 256, (5, 7, 3), dtype=np.uint8), rng.random((5, 7))):
        got = mirror.image(array)
        assert got.dtype == array.dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got, array[:, ::-1])


def test_pixels_points_and_intrinsics_keep_projections_consistent():
    rng = np.random.default_rng(1)
    width = 48
    points = rng.uniform([-0.05, -0.05, 0.4], [0.05, 0.05, 0.6], (2, 21, 3))
    k = np.array([[60.0, 0.7, 21.0], [0.0, 62.0, 25.0], [0.0, 0.0, 1.0]])
    uv = points @ k.T
    uv = uv[..., :2] / uv[..., 2:]
    mirrored_uv = mirror.pixels(uv, width)
    assert mirrored_uv.dtype == np.float32
    np.testing.assert_allclose(
        mirrored_uv, np.stack([width - uv[..., 0], uv[..., 1]], -1), atol=1e-4
    )
    mirrored_points = mirror.points_cam(points)
    np.testing.assert_allclose(mirrored_points, points * [-1, 1, 1], atol=1e-7)
    mirrored_k = mirror.intrinsics(k, width)
    np.testing.assert_allclose(mirrored_k, [[60.0, -0.7, 27.0], [0.0, 62.0, 25.0], [0, 0, 1]])
    projected = mirrored_points @ mirrored_k.T
    np.testing.assert_allclose(projected[..., :2] / projected[..., 2:], mirrored_uv, atol=1e-3)
    zeros = np.zeros((21, 3), np.float32)
    assert _no_negative_zero(mirror.points_cam(zeros))
    assert _no_negative_zero(mirror.intrinsics(np.eye(3), width))


def test_axis_angles_give_the_reflected_rotations():
    rng = np.random.default_rng(2)
    m = np.diag([-1.0, 1.0, 1.0])
    for shape in ((48,), (2, 48), (3,)):
        pose = rng.normal(0, 0.7, shape).astype(np.float32)
        got = mirror.axis_angles(pose)
        assert got.shape == shape and got.dtype == np.float32
        for before, after in zip(pose.reshape(-1, 3), got.reshape(-1, 3), strict=True):
            r = rodrigues(before.astype(np.float64))
            np.testing.assert_allclose(rodrigues(after.astype(np.float64)), m @ r @ m, atol=1e-6)
    assert _no_negative_zero(mirror.axis_angles(np.zeros(48, np.float32)))
