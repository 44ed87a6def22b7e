"""Tests for mano_tf.camera against NumPy and against image operations."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from mano_tf import camera


def _np_project(points, K):
    p = points @ np.swapaxes(K, -1, -2)
    return p[..., :2] / p[..., 2:3]


def _random_intrinsics(rng, batch):
    K = np.zeros((batch, 3, 3))
    K[:, 0, 0] = rng.uniform(100, 600, batch)
    K[:, 1, 1] = rng.uniform(100, 600, batch)
    K[:, 0, 1] = rng.uniform(-5, 5, batch)
    K[:, 0, 2] = rng.uniform(50, 150, batch)
    K[:, 1, 2] = rng.uniform(50, 150, batch)
    K[:, 2, 2] = 1.0
    return K


def _random_points(rng, batch, n):
    xy = rng.uniform(-0.2, 0.2, (batch, n, 2))
    z = rng.uniform(0.3, 1.5, (batch, n, 1))
    return np.concatenate([xy, z], axis=-1)


def test_intrinsics_from_focal_is_paper_q():
    K = camera.intrinsics_from_focal(np.array([500.0, 300.0], np.float32), 128, 96).numpy()
    assert K.shape == (2, 3, 3) and K.dtype == np.float32
    expected = np.array([[500.0, 0, 48.0], [0, 500.0, 64.0], [0, 0, 1]])
    np.testing.assert_array_equal(K[0], expected)
    assert K[1, 0, 0] == K[1, 1, 1] == 300.0
    assert camera.intrinsics_from_focal(400.0, 64, 64).shape == (3, 3)


@pytest.mark.parametrize("bad", [0, -3, 2.5, True])
def test_intrinsics_from_focal_rejects_bad_size(bad):
    with pytest.raises(ValueError, match=r"height must be a positive int\. Received: height="):
        camera.intrinsics_from_focal([500.0], bad, 64)


def test_project_points_matches_numpy():
    rng = np.random.default_rng(0)
    K = _random_intrinsics(rng, 4)
    points = _random_points(rng, 4, 10)
    uv = camera.project_points(points, K)
    assert uv.dtype == tf.float64
    np.testing.assert_allclose(uv.numpy(), _np_project(points, K), rtol=1e-12)
    # Broadcasting: one K for a [B, N, 3] batch; float32 in, float32 out.
    uv32 = camera.project_points(points.astype(np.float32), K[0].astype(np.float32))
    assert uv32.dtype == tf.float32
    np.testing.assert_allclose(uv32.numpy(), _np_project(points, K[0]), rtol=1e-5)


def test_principal_point_is_image_centre_pixel_convention():
    # A point on the optical axis lands on the image centre (W/2, H/2): the shared
    # corner of the four central pixels of an even-sized image.
    K = camera.intrinsics_from_focal([500.0], 64, 32)
    uv = camera.project_points([[[0.0, 0.0, 1.0]]], K).numpy()
    np.testing.assert_allclose(uv, [[[16.0, 32.0]]])


def test_project_points_safe_at_zero_depth():
    K = camera.intrinsics_from_focal([500.0], 64, 64)
    points = tf.constant([[[0.1, 0.1, 0.0], [0.1, 0.1, -1e-9]]], tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(points)
        uv = camera.project_points(points, K)
    grad = tape.gradient(uv, points)
    assert np.all(np.isfinite(uv.numpy())) and np.all(np.isfinite(grad.numpy()))
    assert uv.numpy()[0, 0, 0] > 0 > uv.numpy()[0, 1, 0]


def test_project_points_bad_shapes_name_argument():
    K = np.eye(3)
    with pytest.raises(ValueError, match=r"points_cam must have shape \[\.\.\., N, 3\]"):
        camera.project_points(np.zeros((2, 5, 2)), K)
    with pytest.raises(ValueError, match=r"intrinsics must have shape \[\.\.\., 3, 3\]"):
        camera.project_points(np.ones((2, 5, 3)), np.eye(4))
    with pytest.raises(ValueError, match=r"Received: points_cam.shape=\(3,\)"):
        camera.project_points(np.ones(3), K)


def test_crop_intrinsics_matches_numpy_crop():
    rng = np.random.default_rng(1)
    K = _random_intrinsics(rng, 3)
    points = _random_points(rng, 3, 8)
    x0 = np.array([10.0, 20.5, -4.0])
    y0 = np.array([3.0, 0.0, 7.25])
    K_crop = camera.crop_intrinsics(K, x0, y0).numpy()
    expected = _np_project(points, K) - np.stack([x0, y0], -1)[:, None, :]
    np.testing.assert_allclose(_np_project(points, K_crop), expected, rtol=1e-10, atol=1e-10)
    # Scalars broadcast; NumPy and TF inputs agree.
    np.testing.assert_allclose(
        camera.crop_intrinsics(tf.constant(K), 5, 6).numpy(), camera.crop_intrinsics(K, 5.0, 6.0)
    )


def test_crop_of_image_moves_pixels_by_integer_offset():
    # A lit pixel at (row 20, col 30) is at (row 20 - 12, col 30 - 25) after the crop,
    # and K_crop projects its centre there.
    image = np.zeros((64, 64), np.uint8)
    image[20, 30] = 255
    crop = image[12:, 25:]
    assert crop[8, 5] == 255
    K = camera.intrinsics_from_focal(200.0, 64, 64)
    centre = np.array([30.5, 20.5])
    point = np.array([(centre[0] - 32) / 200.0, (centre[1] - 32) / 200.0, 1.0])
    uv = camera.project_points(point[None], camera.crop_intrinsics(K, 25, 12)).numpy()[0]
    np.testing.assert_allclose(uv, [5.5, 8.5], atol=1e-5)


def test_resize_intrinsics_matches_numpy_and_cv2_resize():
    rng = np.random.default_rng(2)
    K = _random_intrinsics(rng, 2)
    points = _random_points(rng, 2, 6)
    sx, sy = np.array([0.5, 2.0]), np.array([0.25, 3.0])
    K_resized = camera.resize_intrinsics(K, sx, sy).numpy()
    expected = _np_project(points, K) * np.stack([sx, sy], -1)[:, None, :]
    np.testing.assert_allclose(_np_project(points, K_resized), expected, rtol=1e-10)
    # cv2.resize (bilinear, which aligns pixel centres) moves a blob's intensity
    # centroid exactly as u -> u * s in this convention.
    image = np.zeros((32, 48), np.float32)
    image[10:14, 20:26] = 1.0
    big = cv2.resize(image, (96, 128), interpolation=cv2.INTER_LINEAR)

    def centroid(img):
        rows, cols = np.indices(img.shape)
        return np.array([((cols + 0.5) * img).sum(), ((rows + 0.5) * img).sum()]) / img.sum()

    np.testing.assert_allclose(centroid(big), centroid(image) * [2.0, 4.0], atol=1e-3)


def test_flip_intrinsics_and_points_agree():
    rng = np.random.default_rng(3)
    K = _random_intrinsics(rng, 3)
    points = _random_points(rng, 3, 7)
    width = 160.0
    uv = camera.project_points(points, K)
    flipped_uv = camera.flip_points_horizontal(uv, width)
    K_flip = camera.flip_intrinsics_horizontal(K, width)
    uv_mirrored = camera.project_points(camera.flip_points_cam_horizontal(points), K_flip)
    np.testing.assert_allclose(uv_mirrored.numpy(), flipped_uv.numpy(), rtol=1e-10)
    np.testing.assert_allclose(flipped_uv.numpy()[..., 0], width - uv.numpy()[..., 0])
    # Flipping twice is the identity; the paper's Q stays centred.
    np.testing.assert_allclose(camera.flip_intrinsics_horizontal(K_flip, width).numpy(), K)
    Q = camera.intrinsics_from_focal(500.0, 64, 64)
    np.testing.assert_allclose(camera.flip_intrinsics_horizontal(Q, 64).numpy(), Q.numpy())


def test_flip_matches_image_flip():
    image = np.zeros((8, 10), np.uint8)
    image[2, 3] = 1
    flipped = image[:, ::-1]
    (row,), (col,) = np.nonzero(flipped)
    u = camera.flip_points_horizontal([[3.5, 2.5]], 10).numpy()[0]
    np.testing.assert_allclose(u, [col + 0.5, row + 0.5])


def test_camera_ops_run_in_tf_data():
    K = camera.intrinsics_from_focal(np.full([4], 300.0, np.float32), 64, 64)
    ds = tf.data.Dataset.from_tensor_slices(K).map(
        lambda k: camera.resize_intrinsics(
            camera.crop_intrinsics(camera.flip_intrinsics_horizontal(k, 64.0), 8.0, 4.0),
            0.5,
            0.5,
        )
    )
    out = np.stack(list(ds.as_numpy_iterator()))
    np.testing.assert_allclose(out[0], [[150.0, 0, 12.0], [0, 150.0, 14.0], [0, 0, 1]])
