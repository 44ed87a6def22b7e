"""What mirroring a crop left-right does to each quantity: one rule each, for samples and predictions.

Left hands are mirrored into right hands twice in the project: by the readers
(`hiu_tf.data.schema.mirror_sample`, on a sample dict) and by the predictor
(the crop before the network, each output after it). Both apply these
functions, so the two cannot drift apart:

* images and masks `[H, W, ...]`: the columns reversed (`image`);
* pixel coordinates `(u, v) -> (W - u, v)` (`pixels`,
  `mano_tf.camera.flip_points_horizontal`, the project's pixel convention);
* camera-frame points `(x, y, z) -> (-x, y, z)` (`points_cam`): joints,
  vertices, a camera translation;
* intrinsics `[[fx, s, cx], ...] -> [[fx, -s, W - cx], ...]` (`intrinsics`),
  so that mirrored points project onto mirrored pixels;
* MANO axis-angles `(x, y, z) -> (x, -y, -z)` for the global orientation and
  every joint (`axis_angles`): the rotation `M R M` with `M = diag(-1, 1, 1)`.

Each function returns a new float32 NumPy array (`image` keeps the dtype); the
negations give +0.0, not -0.0, so that records and JSON stay clean.
"""

from __future__ import annotations

from typing import Any

import numpy as np

# MANO axis-angle mirrored with the camera x axis: (x, y, z) -> (x, -y, -z).
_AXIS_ANGLE_SIGNS = np.array([1.0, -1.0, -1.0], np.float32)


def _clean(array: Any) -> np.ndarray:
    """float32, with -0.0 turned into +0.0."""
    return np.asarray(array, np.float32) + np.float32(0.0)


def image(array: Any) -> np.ndarray:
    """An `[H, W, ...]` image or mask mirrored left-right (contiguous, same dtype)."""
    return np.ascontiguousarray(np.asarray(array)[:, ::-1])


def pixels(points_px: Any, width: float) -> np.ndarray:
    """`[..., 2]` pixel coordinates in an image of `width` pixels mirrored: `u -> W - u`."""
    from mano_tf import camera

    return _clean(camera.flip_points_horizontal(np.asarray(points_px, np.float32), float(width)))


def points_cam(points: Any) -> np.ndarray:
    """`[..., 3]` camera-frame points mirrored with the image: `x -> -x`."""
    from mano_tf import camera

    return _clean(camera.flip_points_cam_horizontal(np.asarray(points, np.float32)))


def intrinsics(k: Any, width: float) -> np.ndarray:
    """`[..., 3, 3]` K of an image of `width` pixels, for the mirrored image and points."""
    from mano_tf import camera

    return _clean(camera.flip_intrinsics_horizontal(np.asarray(k, np.float32), float(width)))


def axis_angles(pose: Any) -> np.ndarray:
    """`[..., 3 n]` MANO axis-angles (e.g. the `[48]` full pose) of the mirrored hand."""
    pose = np.asarray(pose, np.float32)
    triples = pose.reshape(*pose.shape[:-1], -1, 3)
    return _clean(triples * _AXIS_ANGLE_SIGNS).reshape(pose.shape)


__all__ = ["axis_angles", "image", "intrinsics", "pixels", "points_cam"]
