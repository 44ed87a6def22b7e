"""The dense silhouette renderer: the maths of `mano_tf.render.silhouette`, untiled.

All pixels x all faces, with no culling, no work plan and no custom gradient:
the reference that the tiled renderer's values and analytic gradient are
tested against (`tests/mano_tf/render/silhouette_test.py`), and the baseline
of `benchmarks/bench_render.py`. It reuses the renderer's per-(pixel, face)
terms, so it checks the tiling, the culling and the gradient, not those terms
(the renderer's other tests check them: exact coverage, cv2, finite differences).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import tensorflow as tf

from mano_tf.render.silhouette import (
    _check_options,
    _convert_inputs,
    _hard_terms,
    _inv_sigma_px,
    _pixel_face_terms,
    _project_faces,
    _soft_terms,
)


def render_silhouette_dense(
    vertices: Any,
    faces: Any,
    intrinsics: Any,
    height: int,
    width: int,
    sigma: float = 1e-4,
    mode: str = "soft",
    near: float = 1e-3,
) -> tf.Tensor:
    """The same maths without tiling, culling or custom gradient: all pixels x all faces.

    `O(B H W F)` memory; TensorFlow differentiates it. Arguments as in
    `render_silhouette`.
    """
    _check_options(height, width, sigma, mode, 1, 1, near, 1.0)
    vertices, faces, intrinsics = _convert_inputs(vertices, faces, intrinsics)
    tri, _, valid, _ = _project_faces(vertices, faces, intrinsics, near)
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    px = tf.constant((cols.reshape(1, -1, 1) + 0.5).astype(np.float32))  # [1, HW, 1]
    py = tf.constant((rows.reshape(1, -1, 1) + 0.5).astype(np.float32))
    inside, d2, _ = _pixel_face_terms(
        px, py, tri[:, tf.newaxis], with_distance=mode == "soft"
    )  # [B, HW, F]
    slot_valid = valid[:, tf.newaxis]  # [B, 1, F]
    if mode == "hard":
        values = _hard_terms(inside, slot_valid)
    else:
        total = _soft_terms(inside, d2, slot_valid, _inv_sigma_px(sigma, height, width))
        values = -tf.math.expm1(-total)
    return tf.reshape(values, [-1, height, width])
