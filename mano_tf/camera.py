"""Pinhole camera: the paper's projection matrix Q (Eq. 5) and updates of intrinsics.

Conventions, used everywhere in the project (renderers included):

* **Camera frame**: x right, y down, z forward (into the scene), metres. A point
  in front of the camera has z > 0.
* **Pixel frame**: continuous coordinates `(u, v)` in pixels, u to the right,
  v down. Pixel `(row i, column j)` covers `[j, j + 1) x [i, i + 1)`, so its
  **centre is at `(j + 0.5, i + 0.5)`** and the image spans `[0, W] x [0, H]`.
  The image centre is `(W / 2, H / 2)`: this is where the paper puts the
  principal point `(p0, q0)`.
* **Intrinsics** `K` (`[..., 3, 3]`): `[[fx, s, cx], [0, fy, cy], [0, 0, 1]]` in
  pixels of the image they belong to; `u = fx x / z + s y / z + cx`,
  `v = fy y / z + cy`. The paper's Q is `fx = fy = f`, `s = 0`,
  `(cx, cy) = (W / 2, H / 2)`.

With pixel corners on integer coordinates, image operations map to K simply:
cropping at `(x0, y0)` subtracts `(x0, y0)` from the principal point, resizing
by `(sx, sy)` multiplies rows 0 and 1 of K (this is the mapping of
`cv2.resize` / `tf.image.resize` with `half_pixel_centers=True`, which align
pixel centres: `u' + 0.5 = (u + 0.5) sx` in centre-at-integer coordinates is
`u' = u sx` here), and a horizontal flip is `u' = W - u`.

Every function takes NumPy arrays or tensors (so it can run inside `tf.data`),
checks static shapes first, and returns tensors in the floating dtype of the
input (integers become float32).
"""

from __future__ import annotations

import tensorflow as tf

from mano_tf.checks import check_int, check_last_dims

# Depths (metres) with a smaller magnitude are clamped to +-_MIN_DEPTH before dividing.
_MIN_DEPTH = 1e-6


def _as_float(value, name: str, dtype: tf.DType | None = None) -> tf.Tensor:
    """Converts to a floating tensor: `dtype` if given, else the input's float dtype or float32."""
    value = tf.convert_to_tensor(value, name=name)
    if dtype is not None:
        return tf.cast(value, dtype) if value.dtype != dtype else value
    if not value.dtype.is_floating:
        value = tf.cast(value, tf.float32)
    return value


def intrinsics_from_focal(focal, height: int, width: int) -> tf.Tensor:
    """The paper's projection matrix Q (Eq. 5): one focal length, centred principal point.

    Args:
        focal: `[A1, ..., An]` focal lengths in pixels of the `height x width`
            image (a scalar gives one `[3, 3]` matrix, `[B]` gives `[B, 3, 3]`).
        height: image height in pixels.
        width: image width in pixels.

    Returns:
        `[A1, ..., An, 3, 3]` intrinsics `[[f, 0, W/2], [0, f, H/2], [0, 0, 1]]`.

    Raises:
        ValueError: `height` or `width` is not a positive int.
    """
    height = check_int(height, "height")
    width = check_int(width, "width")
    focal = _as_float(focal, "focal")
    zero = tf.zeros_like(focal)
    one = tf.ones_like(focal)
    cx = tf.fill(tf.shape(focal), tf.constant(width / 2, focal.dtype))
    cy = tf.fill(tf.shape(focal), tf.constant(height / 2, focal.dtype))
    rows = [
        tf.stack([focal, zero, cx], axis=-1),
        tf.stack([zero, focal, cy], axis=-1),
        tf.stack([zero, zero, one], axis=-1),
    ]
    return tf.stack(rows, axis=-2)


def _safe_depth(z: tf.Tensor) -> tf.Tensor:
    """`z` with magnitudes below `_MIN_DEPTH` clamped away from zero (sign kept, 0 -> +)."""
    eps = tf.constant(_MIN_DEPTH, z.dtype)
    return tf.where(z >= 0, tf.maximum(z, eps), tf.minimum(z, -eps))


def project_points(points_cam, intrinsics) -> tf.Tensor:
    """Pinhole projection of camera-frame points to pixels.

    Args:
        points_cam: `[A1, ..., An, N, 3]` points in the camera frame (metres).
        intrinsics: `[A1, ..., An, 3, 3]` intrinsics in pixels (batch dimensions
            broadcast against those of `points_cam`).

    Returns:
        `[A1, ..., An, N, 2]` pixel coordinates `(u, v)`, with the module's
        pixel convention (pixel centres at half-integers). Depths closer to zero
        than 1e-6 m are clamped to +-1e-6 m, so values and gradients stay
        finite (but meaningless) for points on the camera plane.

    Raises:
        ValueError: bad static shapes (the message names the argument).
    """
    points_cam = _as_float(points_cam, "points_cam")
    intrinsics = _as_float(intrinsics, "intrinsics", points_cam.dtype)
    check_last_dims(points_cam, "points_cam", (3,), "[..., N, 3]")
    check_last_dims(intrinsics, "intrinsics", (3, 3), "[..., 3, 3]")
    if points_cam.shape.rank is not None and points_cam.shape.rank < 2:
        raise ValueError(
            f"points_cam must have shape [..., N, 3]. Received: points_cam.shape={points_cam.shape}"
        )
    # [..., N, 3] = points [..., N, 3] @ K^T [..., 3, 3]
    homogeneous = tf.linalg.matmul(points_cam, intrinsics, transpose_b=True)
    return homogeneous[..., :2] / _safe_depth(homogeneous[..., 2:3])


def crop_intrinsics(intrinsics, x0, y0) -> tf.Tensor:
    """Intrinsics of a crop whose top-left corner is at pixel `(x0, y0)`.

    Args:
        intrinsics: `[..., 3, 3]` intrinsics of the full image.
        x0: `[...]` or scalar, left edge of the crop in pixels of the full image
            (pixel column `x0` becomes column 0).
        y0: `[...]` or scalar, top edge of the crop.

    Returns:
        `[..., 3, 3]` intrinsics of the crop: `cx - x0`, `cy - y0`.
    """
    intrinsics = _as_float(intrinsics, "intrinsics")
    check_last_dims(intrinsics, "intrinsics", (3, 3), "[..., 3, 3]")
    x0 = _as_float(x0, "x0", intrinsics.dtype)
    y0 = _as_float(y0, "y0", intrinsics.dtype)
    zero = tf.zeros_like(x0)
    # Subtract [x0, y0, 0] * (last row of K) from rows 0 and 1: exact for any last row [0, 0, 1].
    shift = tf.stack([tf.stack([zero, zero, x0], -1), tf.stack([zero, zero, y0], -1)], -2)
    top = intrinsics[..., :2, :] - shift
    return tf.concat([top, tf.broadcast_to(intrinsics[..., 2:, :], tf.shape(top[..., :1, :]))], -2)


def resize_intrinsics(intrinsics, scale_x, scale_y) -> tf.Tensor:
    """Intrinsics after resizing the image by `(scale_x, scale_y)`.

    With pixel corners on integer coordinates, a resize that maps the image
    `[0, W] x [0, H]` onto `[0, W sx] x [0, H sy]` (as `cv2.resize`,
    `tf.image.resize` and `keras.layers.Resizing` do) maps `u -> u sx`,
    `v -> v sy`, so rows 0 and 1 of K scale.

    Args:
        intrinsics: `[..., 3, 3]` intrinsics of the input image.
        scale_x: `[...]` or scalar, new width / old width.
        scale_y: `[...]` or scalar, new height / old height.

    Returns:
        `[..., 3, 3]` intrinsics of the resized image.
    """
    intrinsics = _as_float(intrinsics, "intrinsics")
    check_last_dims(intrinsics, "intrinsics", (3, 3), "[..., 3, 3]")
    scale_x = _as_float(scale_x, "scale_x", intrinsics.dtype)
    scale_y = _as_float(scale_y, "scale_y", intrinsics.dtype)
    # [..., 3, 1] row scales (sx, sy, 1).
    scales = tf.stack([scale_x, scale_y, tf.ones_like(scale_x)], axis=-1)[..., :, tf.newaxis]
    return intrinsics * scales


def flip_intrinsics_horizontal(intrinsics, width) -> tf.Tensor:
    """Intrinsics of the horizontally mirrored image, for the mirrored camera-frame points.

    Mirroring an image of width W maps `u -> W - u`. If the 3D points are mirrored
    as well (`x -> -x`, as when a left hand is turned into a right hand), the
    mirrored points project to the mirrored pixels with
    `K' = [[fx, -s, W - cx], [0, fy, cy], [0, 0, 1]]`.

    Args:
        intrinsics: `[..., 3, 3]` intrinsics of the image.
        width: `[...]` or scalar, image width in pixels.

    Returns:
        `[..., 3, 3]` intrinsics of the mirrored image.
    """
    intrinsics = _as_float(intrinsics, "intrinsics")
    check_last_dims(intrinsics, "intrinsics", (3, 3), "[..., 3, 3]")
    width = _as_float(width, "width", intrinsics.dtype)
    row0 = intrinsics[..., 0, :]
    # [fx, s, cx] -> [fx, -s, W - cx]; exact for a last row [0, 0, 1].
    row0 = tf.stack(
        [row0[..., 0], -row0[..., 1], width * intrinsics[..., 2, 2] - row0[..., 2]], axis=-1
    )
    return tf.concat([row0[..., tf.newaxis, :], intrinsics[..., 1:, :]], axis=-2)


def flip_points_horizontal(points_px, width) -> tf.Tensor:
    """Pixel coordinates in the horizontally mirrored image: `(u, v) -> (W - u, v)`.

    Args:
        points_px: `[..., N, 2]` pixel coordinates (module convention).
        width: `[...]` or scalar, image width in pixels.

    Returns:
        `[..., N, 2]` mirrored pixel coordinates.
    """
    points_px = _as_float(points_px, "points_px")
    check_last_dims(points_px, "points_px", (2,), "[..., N, 2]")
    width = _as_float(width, "width", points_px.dtype)[..., tf.newaxis]
    return tf.stack([width - points_px[..., 0], points_px[..., 1]], axis=-1)


def flip_points_cam_horizontal(points_cam) -> tf.Tensor:
    """Camera-frame points mirrored with the image: `(x, y, z) -> (-x, y, z)`.

    Args:
        points_cam: `[..., N, 3]` points (metres).

    Returns:
        `[..., N, 3]` mirrored points; with `flip_intrinsics_horizontal` they
        project onto `flip_points_horizontal` of the original projections.
    """
    points_cam = _as_float(points_cam, "points_cam")
    check_last_dims(points_cam, "points_cam", (3,), "[..., N, 3]")
    return points_cam * tf.constant([-1.0, 1.0, 1.0], points_cam.dtype)
