"""Meshes and NumPy references shared by the renderer tests (not a test module)."""

from __future__ import annotations

import numpy as np


def icosphere(subdiv: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """A closed unit sphere: `[V, 3]` vertices, `[F, 3]` faces counter-clockwise from outside."""
    t = (1.0 + 5.0**0.5) / 2.0
    v = [
        [-1, t, 0], [1, t, 0], [-1, -t, 0], [1, -t, 0],
        [0, -1, t], [0, 1, t], [0, -1, -t], [0, 1, -t],
        [t, 0, -1], [t, 0, 1], [-t, 0, -1], [-t, 0, 1],
    ]  # fmt: skip
    faces = [
        (0, 11, 5), (0, 5, 1), (0, 1, 7), (0, 7, 10), (0, 10, 11),
        (1, 5, 9), (5, 11, 4), (11, 10, 2), (10, 7, 6), (7, 1, 8),
        (3, 9, 4), (3, 4, 2), (3, 2, 6), (3, 6, 8), (3, 8, 9),
        (4, 9, 5), (2, 4, 11), (6, 2, 10), (8, 6, 7), (9, 8, 1),
    ]  # fmt: skip
    vertices = [np.asarray(p, float) / np.linalg.norm(p) for p in v]

    def mid(a: int, b: int, midpoints: dict[tuple[int, int], int]) -> int:
        key = (min(a, b), max(a, b))
        if key not in midpoints:
            m = vertices[a] + vertices[b]
            vertices.append(m / np.linalg.norm(m))
            midpoints[key] = len(vertices) - 1
        return midpoints[key]

    for _ in range(subdiv):
        cache: dict[tuple[int, int], int] = {}
        new_faces = []
        for a, b, c in faces:
            ab, bc, ca = mid(a, b, cache), mid(b, c, cache), mid(c, a, cache)
            new_faces += [(a, ab, ca), (b, bc, ab), (c, ca, bc), (ab, bc, ca)]
        faces = new_faces
    return np.array(vertices), np.array(faces, np.int32)


def project_np(vertices: np.ndarray, K: np.ndarray) -> np.ndarray:
    """`[V, 3]` camera-frame points, `[3, 3]` intrinsics -> `[V, 2]` pixels (float64)."""
    p = np.asarray(vertices, np.float64) @ np.asarray(K, np.float64).T
    return p[:, :2] / p[:, 2:3]


def reference_coverage(tri: np.ndarray, height: int, width: int) -> np.ndarray:
    """Exact coverage of pixel centres `(j + 0.5, i + 0.5)` by `[F, 3, 2]` triangles.

    float64, one face at a time: a centre is covered when the three edge functions,
    signed by the triangle's orientation, are >= 0; zero-area triangles cover nothing.
    """
    mask = np.zeros((height, width), bool)
    for t in np.asarray(tri, np.float64):
        area2 = (t[1, 0] - t[0, 0]) * (t[2, 1] - t[0, 1]) - (t[1, 1] - t[0, 1]) * (
            t[2, 0] - t[0, 0]
        )
        if area2 == 0:
            continue
        c0 = max(int(np.ceil(t[:, 0].min() - 0.5)), 0)
        c1 = min(int(np.floor(t[:, 0].max() - 0.5)), width - 1)
        r0 = max(int(np.ceil(t[:, 1].min() - 0.5)), 0)
        r1 = min(int(np.floor(t[:, 1].max() - 0.5)), height - 1)
        if c1 < c0 or r1 < r0:
            continue
        ys, xs = np.mgrid[r0 : r1 + 1, c0 : c1 + 1] + 0.5
        inside = np.ones(xs.shape, bool)
        for i in range(3):
            v, w = t[i], t[(i + 1) % 3]
            edge = (w[0] - v[0]) * (ys - v[1]) - (w[1] - v[1]) * (xs - v[0])
            inside &= edge * np.sign(area2) >= 0
        mask[r0 : r1 + 1, c0 : c1 + 1] |= inside
    return mask


def iou(a: np.ndarray, b: np.ndarray) -> float:
    a, b = np.asarray(a, bool), np.asarray(b, bool)
    union = np.count_nonzero(a | b)
    return 1.0 if union == 0 else np.count_nonzero(a & b) / union


def hand_batch(batch: int, size: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Open-hand meshes in random poses, framed for a `size x size` crop.

    Random finger poses and shapes through `ManoLayer`, a random global rotation,
    the hand centred at 0.5 m (with a small random offset), and the paper's Q with
    f = 1.875 size px (the hand spans about three quarters of the crop).

    Returns:
        vertices `[B, V, 3]` float32 (camera frame, metres), faces `[F, 3]` int32,
        intrinsics `[B, 3, 3]` float32.
    """
    from mano_tf import camera
    from mano_tf.mano_layer import ManoLayer
    from mano_tf.open_hand import default_hand_model

    rng = np.random.default_rng(seed)
    model = default_hand_model("right")
    layer = ManoLayer(model)
    axis = rng.normal(size=(batch, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    global_orient = axis * rng.uniform(0.0, np.pi, (batch, 1))
    fingers = rng.normal(0.0, 0.25, (batch, 45))
    pose = np.concatenate([global_orient, fingers], -1).astype(np.float32)
    betas = rng.normal(0.0, 1.0, (batch, model.num_betas)).astype(np.float32)
    vertices = np.asarray(layer(pose, betas)["vertices"], np.float64)
    centre = (vertices.max(1, keepdims=True) + vertices.min(1, keepdims=True)) / 2
    offset = np.concatenate(
        [rng.uniform(-0.01, 0.01, (batch, 1, 2)), np.full((batch, 1, 1), 0.5)], -1
    )
    vertices = vertices - centre + offset
    K = camera.intrinsics_from_focal(np.full(batch, 1.875 * size), size, size).numpy()
    return vertices.astype(np.float32), model.faces.astype(np.int32), K.astype(np.float32)
