"""A fast shaded mesh renderer with a real depth buffer, in NumPy (not differentiable).

For overlays, figures and synthetic data. One mesh, one camera, one image:
`render_shaded` returns the shaded image, the exact coverage mask and the depth
map.

**Pixel convention** (that of `mano_tf.camera` and of the hard mode of
`mano_tf.render.silhouette`): pixel `(row i, column j)` is sampled at its centre
`(j + 0.5, i + 0.5)`; it is covered when that point is inside or on the edge of
a projected triangle (degenerate triangles cover nothing).

**Rasterisation** is vectorised over faces: every (face, pixel centre in the
face's bounding box) pair is laid out in flat arrays; barycentric coordinates
and inverse depth are affine in the pixel position, so each pair costs a few
multiply-adds; pairs outside their triangle are dropped; the depth test keeps,
per pixel, the largest inverse depth (the nearest surface), with
`np.maximum.at` on a 64-bit key that packs the float32 inverse depth (whose
bit pattern orders like the value, being positive) above the face index. It is
a true z-buffer, correct for interpenetrating triangles, not a painter's sort.

**Shading**: Lambert with an ambient term,
`colour * (ambient + (1 - ambient) * max(0, n . l))`, with `l` the unit
direction towards the light in the camera frame and `n` the normal of the side
that faces the camera (two-sided lighting). `smooth=True` evaluates it at the
vertices with area-weighted vertex normals and interpolates it across each
triangle with perspective-correct barycentric weights (Gouraud shading);
`smooth=False` uses the face normal (flat shading).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mano_tf.checks import check_int

# Default light: from the upper left, slightly in front of the camera (camera frame:
# x right, y down, z forward; this is the direction *towards* the light).
DEFAULT_LIGHT_DIR = (-0.4, -0.6, -1.0)
DEFAULT_COLOR = (0.85, 0.66, 0.55)  # a light skin tone, RGB in [0, 1]
_MIN_AREA2 = 1e-9  # px^2: triangles with a smaller |2 x area| are degenerate


def _check_array(value: Any, name: str, shape: tuple, shown: str, dtype: Any = None) -> np.ndarray:
    array = np.asarray(value, dtype=dtype)
    ok = array.ndim == len(shape) and all(
        s is None or s == a for s, a in zip(shape, array.shape, strict=False)
    )
    if not ok:
        raise ValueError(f"{name} must have shape {shown}. Received: {name}.shape={array.shape}")
    return array


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cross product of `[3, N]` component-major arrays (faster than np.cross)."""
    return np.stack(
        [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]]
    )


def _face_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """`[3, F]` (component-major) face normals of length 2 x area, outward for CCW faces."""
    v0, v1, v2 = (np.take(vertices.T, faces[:, i], axis=1) for i in range(3))  # 3 x [3, F]
    return _cross(v1 - v0, v2 - v0)


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """`[V, 3]` unit area-weighted vertex normals (zero for unused vertices)."""
    face_normals = _face_normals(vertices, faces)  # [3, F]
    flat_ids = faces.T.reshape(-1)  # corner-major: all corners 0, then 1, then 2
    normals = np.stack(
        [
            np.bincount(flat_ids, np.tile(face_normals[c], 3), minlength=len(vertices))
            for c in range(3)
        ],
        axis=-1,
    )
    norm = np.sqrt((normals * normals).sum(-1, keepdims=True))
    return normals / np.maximum(norm, 1e-20)


def render_shaded(
    vertices: Any,
    faces: Any,
    intrinsics: Any,
    height: int,
    width: int,
    *,
    color: tuple[float, float, float] = DEFAULT_COLOR,
    light_dir: tuple[float, float, float] = DEFAULT_LIGHT_DIR,
    ambient: float = 0.35,
    background: Any = None,
    smooth: bool = True,
    cull_back_faces: bool = False,
    near: float = 1e-3,
) -> dict[str, np.ndarray]:
    """Renders a Lambert-shaded mesh with a depth buffer.

    Args:
        vertices: `[V, 3]` vertices in the camera frame (metres, z > 0 in front).
        faces: `[F, 3]` integer vertex indices, counter-clockwise seen from outside.
        intrinsics: `[3, 3]` intrinsics in pixels of the `height x width` image.
        height: image height in pixels.
        width: image width in pixels.
        color: surface colour, three floats in [0, 1], in the channel order of
            the image (RGB in this project).
        light_dir: direction towards the light in the camera frame (normalised
            here). The light is directional.
        ambient: fraction of `color` that unlit surfaces keep, in [0, 1].
        background: None (black), or an `[H, W, 3]` image: uint8 in [0, 255] or
            floating in [0, 1]; it is not modified.
        smooth: interpolate vertex normals (True) or use face normals (False).
        cull_back_faces: skip faces turned away from the camera. About twice as
            fast, and exact for closed meshes; an open mesh (such as MANO, open
            at the wrist) then shows no inside surface through its opening.
        near: faces with a vertex at depth <= `near` (metres) are dropped (no clipping).

    Returns:
        A dict with
        `image`: `[H, W, 3]`, uint8 when `background` is None or uint8, else
        float32 in [0, 1];
        `mask`: `[H, W]` bool, exact coverage of the pixel centres;
        `depth`: `[H, W]` float32 camera-frame depth z (metres) of the visible
        surface, **0 where the mask is False**.

    Raises:
        ValueError: bad shapes or options; the message names the argument.
    """
    for name, value in (("height", height), ("width", width)):
        check_int(value, name)
    vertices = _check_array(vertices, "vertices", (None, 3), "[V, 3]", np.float64)
    faces = _check_array(faces, "faces", (None, 3), "[F, 3]")
    if not np.issubdtype(faces.dtype, np.integer):
        raise ValueError(f"faces must be integer. Received: faces.dtype={faces.dtype}")
    if faces.size and (faces.min() < 0 or faces.max() >= len(vertices)):
        raise ValueError(
            f"faces must index vertices in [0, {len(vertices)}). "
            f"Received: faces range [{faces.min()}, {faces.max()}]"
        )
    intrinsics = _check_array(intrinsics, "intrinsics", (3, 3), "[3, 3]", np.float64)
    color = _check_array(color, "color", (3,), "(r, g, b)", np.float64)
    light = _check_array(light_dir, "light_dir", (3,), "(x, y, z)", np.float64)
    if not np.linalg.norm(light) > 0:
        raise ValueError(f"light_dir must be a non-zero vector. Received: light_dir={light_dir!r}")
    if not 0.0 <= ambient <= 1.0:
        raise ValueError(f"ambient must be in [0, 1]. Received: ambient={ambient!r}")
    if background is not None:
        background = _check_array(
            background, "background", (height, width, 3), f"[{height}, {width}, 3]"
        )
    faces = faces.astype(np.int64)

    # 1. Project. [V, 3] = vertices @ K^T; pixel coordinates and inverse depths.
    homogeneous = vertices @ intrinsics.T
    depth_v = vertices[:, 2]
    safe_z = np.where(depth_v > near, depth_v, 1.0)
    uv = homogeneous[:, :2] / safe_z[:, None]  # [V, 2]
    inv_z = 1.0 / safe_z  # [V]

    # 2. Per face: corners, signed area, bounding box of covered pixel centres.
    tri = uv[faces]  # [F, 3, 2]
    x0, y0 = tri[:, 0, 0], tri[:, 0, 1]
    x1, y1 = tri[:, 1, 0], tri[:, 1, 1]
    x2, y2 = tri[:, 2, 0], tri[:, 2, 1]
    area2 = (x1 - x0) * (y2 - y0) - (y1 - y0) * (x2 - x0)  # [F], < 0 = front-facing
    col_lo = np.maximum(np.ceil(tri[..., 0].min(-1) - 0.5), 0)
    col_hi = np.minimum(np.floor(tri[..., 0].max(-1) - 0.5), width - 1)
    row_lo = np.maximum(np.ceil(tri[..., 1].min(-1) - 0.5), 0)
    row_hi = np.minimum(np.floor(tri[..., 1].max(-1) - 0.5), height - 1)
    keep = (
        (np.abs(area2) > _MIN_AREA2)
        & np.all(depth_v[faces] > near, axis=-1)
        & (col_hi >= col_lo)
        & (row_hi >= row_lo)
    )
    if cull_back_faces:
        keep &= area2 < 0
    face_ids = np.flatnonzero(keep)

    buffer = np.full(height * width, -1, np.int64)  # per pixel: (1/z bits) << 32 | span row
    if face_ids.size:
        # 3. Affine coefficients at the bbox origin: lambda_i = E_i(p) / area2, with E_i the
        #    edge function of the edge opposite corner i; inverse depth = sum lambda_i / z_i.
        xs, ys = tri[face_ids, :, 0], tri[face_ids, :, 1]  # [F', 3]
        a2 = area2[face_ids]
        col0 = col_lo[face_ids].astype(np.int64)
        row0 = row_lo[face_ids].astype(np.int64)
        lam_c, lam_dx, lam_dy = (np.empty((face_ids.size, 3)) for _ in range(3))
        for i in range(3):
            j, k = (i + 1) % 3, (i + 2) % 3
            ex, ey = xs[:, k] - xs[:, j], ys[:, k] - ys[:, j]
            lam_dx[:, i] = -ey / a2
            lam_dy[:, i] = ex / a2
            lam_c[:, i] = (ex * (row0 + 0.5 - ys[:, j]) - ey * (col0 + 0.5 - xs[:, j])) / a2
        face_inv_z = inv_z[faces[face_ids]]  # [F', 3]
        # [9, F']: (value at the bbox origin, per column, per row) of lambda_0, lambda_1, 1/z.
        table = np.stack(
            [
                lam_c[:, 0],
                lam_dx[:, 0],
                lam_dy[:, 0],
                lam_c[:, 1],
                lam_dx[:, 1],
                lam_dy[:, 1],
                (lam_c * face_inv_z).sum(-1),
                (lam_dx * face_inv_z).sum(-1),
                (lam_dy * face_inv_z).sum(-1),
            ]
        )

        # 4. Spans: one per (face, pixel row of its bbox); the pixel centres of the row
        #    inside the triangle are those between the row's crossings of its edges.
        rows_per_face = row_hi[face_ids].astype(np.int64) - row0 + 1
        span_slot = np.repeat(np.arange(face_ids.size), rows_per_face)  # [R]
        span_row = np.take(row0, span_slot) + (
            np.arange(span_slot.size) - np.take(np.cumsum(rows_per_face) - rows_per_face, span_slot)
        )
        y = span_row + 0.5
        x_left = np.full(span_slot.size, np.inf)
        x_right = np.full(span_slot.size, -np.inf)
        for i in range(3):
            j = (i + 1) % 3
            dy = ys[:, j] - ys[:, i]
            slope = (xs[:, j] - xs[:, i]) / np.where(dy != 0, dy, 1.0)
            y_i, y_j = np.take(ys[:, i], span_slot), np.take(ys[:, j], span_slot)
            crosses = (np.minimum(y_i, y_j) <= y) & (y <= np.maximum(y_i, y_j)) & (y_i != y_j)
            x = np.take(xs[:, i], span_slot) + (y - y_i) * np.take(slope, span_slot)
            x_left = np.where(crosses, np.minimum(x_left, x), x_left)
            x_right = np.where(crosses, np.maximum(x_right, x), x_right)
        span_col = np.maximum(np.ceil(x_left - 0.5), 0)
        span_len = np.minimum(np.floor(x_right - 0.5), width - 1) - span_col + 1
        span_len = np.where(np.isfinite(span_len) & (span_len > 0), span_len, 0).astype(np.int64)
        span_col = np.where(span_len > 0, span_col, 0).astype(np.int64)

        # 5. Flat (span, pixel) pairs; 1/z is affine along the row. Depth test: the largest
        #    1/z wins (positive float32 bit patterns order like their values); the key's low
        #    32 bits carry the span, hence the face.
        span_inv_z = (
            np.take(table[6], span_slot)
            + np.take(table[7], span_slot) * (span_col - np.take(col0, span_slot))
            + np.take(table[8], span_slot) * (span_row - np.take(row0, span_slot))
        )
        pair_span = np.repeat(np.arange(span_slot.size), span_len)  # [N]
        local = np.arange(pair_span.size) - np.take(np.cumsum(span_len) - span_len, pair_span)
        pair_inv_z = (
            np.take(span_inv_z, pair_span) + np.take(table[7], span_slot)[pair_span] * local
        )
        pixel = np.take(span_row * width + span_col, pair_span) + local
        bits = np.maximum(pair_inv_z.astype(np.float32), np.float32(0)).view(np.int32)
        np.maximum.at(buffer, pixel, (bits.astype(np.int64) << 32) | pair_span)

    covered = np.flatnonzero(buffer >= 0)  # [M] flat pixel indices
    depth = np.zeros(height * width, np.float32)
    if background is None or background.dtype == np.uint8:
        out = np.zeros((height, width, 3), np.uint8) if background is None else background.copy()
        scale = 255.0
    else:
        out = np.array(background, np.float32)
        scale = 1.0
    if covered.size:
        winner = buffer[covered]
        win = np.take(span_slot, winner & 0xFFFFFFFF)  # [M] slot of the visible face
        depth[covered] = 1.0 / (winner >> 32).astype(np.int32).view(np.float32)

        # 6. Shade the visible pixels only: Lambert intensity per vertex (smooth) or per
        #    face, from the side that faces the camera.
        light = light / np.linalg.norm(light)
        side = np.where(np.take(a2, win) > 0, -1.0, 1.0)  # [M] -1 on back faces
        if smooth:
            dc = covered % width - np.take(col0, win)
            dr = covered // width - np.take(row0, win)
            lam0 = (
                np.take(table[0], win) + np.take(table[1], win) * dc + np.take(table[2], win) * dr
            )
            lam1 = (
                np.take(table[3], win) + np.take(table[4], win) * dc + np.take(table[5], win) * dr
            )
            cos = _vertex_normals(vertices, faces) @ light  # [V]
            corners = faces[face_ids]
            weights = (lam0, lam1, 1.0 - lam0 - lam1)
            total = lit = 0.0
            for i in range(3):
                w = weights[i] * np.take(face_inv_z[:, i], win)  # perspective-correct
                lit = lit + w * np.maximum(np.take(cos, np.take(corners[:, i], win)) * side, 0.0)
                total = total + w
            lambert = lit / total
        else:
            normals = _face_normals(vertices, faces[face_ids])  # [3, F']
            cos = (light @ normals) / np.maximum(np.sqrt((normals * normals).sum(0)), 1e-20)
            lambert = np.maximum(np.take(cos, win) * side, 0.0)
        intensity = ambient + (1.0 - ambient) * lambert  # [M]
        flat_out = out.reshape(-1, 3)
        for c in range(3):
            value = intensity * (color[c] * scale)
            flat_out[covered, c] = np.minimum(value + 0.5, 255.0) if scale == 255.0 else value
    image_shape = (height, width)
    mask = (buffer >= 0).reshape(image_shape)
    return {"image": out, "mask": mask, "depth": depth.reshape(image_shape)}
