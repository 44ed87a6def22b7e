"""Small NumPy helpers that several steps of the open hand model's generator share.

The design, the mesher, the rig and the blend shapes all need unit vectors, a
smooth ramp or the distance to a bone (a segment); each is written once, here.
"""

from __future__ import annotations

import numpy as np


def unit(v: np.ndarray) -> np.ndarray:
    """`v` scaled to unit length along its last axis."""
    v = np.asarray(v, np.float64)
    return v / np.linalg.norm(v, axis=-1, keepdims=True)


def smoothstep(edge0: float, edge1: float, x: np.ndarray) -> np.ndarray:
    """0 below `edge0`, 1 above `edge1`, a C1 cubic in between (edges may be reversed)."""
    t = np.clip((np.asarray(x, np.float64) - edge0) / (edge1 - edge0), 0.0, 1.0)
    return t * t * (3.0 - 2.0 * t)


def segment_distance(p: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """`[N]` distances from `[N, 3]` points to the segment from `a` to `b`."""
    ab = b - a
    t = np.clip(((p - a) @ ab) / (ab @ ab), 0.0, 1.0)
    return np.linalg.norm(p - a - t[:, None] * ab, axis=-1)
