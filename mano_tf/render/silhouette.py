"""One job, differentiable silhouette rendering: pure TensorFlow (SoftRas-style), tiled, XLA-ready.

`render_silhouette` turns a batch of meshes in the camera frame into masks of
probabilities. It needs no custom op: every step is a dense TensorFlow op with
static shapes, so it runs eagerly, under `tf.function`, under XLA
(`jit_compile=True`), on CPU and GPU, and inside `model.fit`.

**Pixel convention** (that of `mano_tf.camera`): pixel `(row i, column j)` covers
`[j, j + 1) x [i, i + 1)` in pixel coordinates and is sampled at its centre
`(j + 0.5, i + 0.5)`.

**Soft mode** (Liu et al., "Soft Rasterizer", ICCV 2019). For each pixel
centre `p` and projected triangle `f`,

    p_f = sigmoid(delta * d^2 / sigma),   delta = +1 if p is inside f, -1 outside,

where `d` is the distance from `p` to the triangle's outline in **normalised
image units: the longer image side spans 2 units** (SoftRas' NDC, `[-1, 1]`
across a square image), i.e. `d = d_px * 2 / max(H, W)`. `sqrt(sigma)` is the
width of the soft edge: in pixels it is `sqrt(sigma) * max(H, W) / 2`, so the
SoftRas default `sigma = 1e-4` blurs over 0.32 px at 64 x 64, 0.64 px at
128 x 128 and 1.28 px at 256 x 256 (`p_f` = 0.27 at that distance outside,
0.018 at twice it). `sigma_from_pixels` converts a width in pixels. The
pixel's value is `1 - prod_f (1 - p_f)`, computed as
`-expm1(-sum_f softplus(delta d^2 / sigma))`, which is exact and stable.

**Hard mode**: exact coverage, 1 where the pixel centre is inside (or on an
edge of) at least one projected triangle, by edge functions; degenerate
(zero-area) triangles cover nothing. It has **no gradient** (the tape gives
None): it is for references, evaluation and tests.

**Tiling, culling and work steps.** The image is cut into
`tile_size x tile_size` tiles. A face is a candidate for a tile when its
projected bounding box, dilated by the soft-edge support `sqrt(cutoff * sigma)`
(normalised units; beyond it `p_f < exp(-cutoff)`; no dilation in hard mode),
overlaps the rectangle of the tile's pixel centres. `top_k` on a priority level
keeps up to `K = min(max_faces_per_tile, F)` candidates per tile, valid slots
first. The per-(pixel, face) maths then runs in a `tf.while_loop` over work
steps: tiles are sorted by their candidate count and grouped into blocks of
`TB` tiles, and each step evaluates one block against `C = faces_per_chunk`
of its slots, with `TB * tile_size^2 * C` about `_PAIRS_PER_STEP` (2^18)
pairs. A block takes `ceil(its largest count / C)` steps, so the work follows
the faces actually near each tile; empty tiles cost nothing. Every shape is
static and the trip count is data-dependent, so it compiles under XLA. The soft
mode's gradient is analytic (`d(d^2)/dv = -2 (1 - t) (p - q)` from the closest
outline point `q`, the envelope theorem) and re-runs the steps in the backward
pass, so no per-(pixel, face) tensor is kept between the passes. Memory, in
float32 elements:

    per step (transient)      O(_PAIRS_PER_STEP), whatever B, H, W and F
    culling                   O(B * T * F)       (candidate levels, top_k)
    kept for the gradient     O(B * T * K * 6 + B * Hp * Wp)

with `Hp, Wp` the image size rounded up to whole tiles and `T = Hp Wp /
tile_size^2` tiles. Eagerly each elementwise op of a step materialises one
transient (a few dozen are alive at once); under XLA they fuse.

A tile with more than `K` candidates keeps the highest levels: front faces
overlapping the tile, then back faces overlapping it, then faces only in the
dilated margin. For a closed mesh, dropping back faces does not change the
hard silhouette; anything else dropped is an error, so size `K` with
`tile_face_counts`. The default `K = 1024` is chosen to be exact for the open
hand model (3,012 faces) and MANO (1,538 faces) at 64 x 64 with 8 x 8 tiles
(the counts behind it are in docs/results.md). The dense version (all pixels x all faces, `O(B H W F)`
memory, differentiated by TensorFlow), which tests and
`benchmarks/bench_render.py` compare against, is
`tests/reference/silhouette_dense.py`; it is built from this module's
`_pixel_face_terms`, `_soft_terms` and `_hard_terms`, so both paths share them.

Faces with a vertex closer than `near` (metres) are dropped: the renderer does
not clip triangles against the camera plane.

One file on purpose: the tiling, the culling, the work plan and the analytic
gradient exist only for `render_silhouette` and share its per-(pixel, face)
maths, and `SilhouetteRenderer` is a thin Keras layer around it.
"""

from __future__ import annotations

import math
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mano_tf import camera
from mano_tf.checks import check_int, check_positive

MODES = ("soft", "hard")
# (pixel, face) pairs evaluated per step of the loops over the work: the transient memory
# is a few dozen float32 tensors of this many elements, whatever the batch and image size.
_PAIRS_PER_STEP = 1 << 18
_MIN_EDGE_SQ = 1e-12  # px^2; edges shorter than this count as points


def sigma_from_pixels(blur_px: float, height: int, width: int) -> float:
    """The `sigma` whose soft edge is `blur_px` pixels wide (`sqrt(sigma)` in pixels).

    Args:
        blur_px: soft-edge width in pixels of the `height x width` output.
        height: output height in pixels.
        width: output width in pixels.

    Returns:
        `(blur_px * 2 / max(height, width)) ** 2`.
    """
    return float((blur_px * 2.0 / max(height, width)) ** 2)


# --------------------------------------------------------------------------------------
# Shared maths: projected triangles, per-(pixel, face) terms, aggregation.
# --------------------------------------------------------------------------------------


def _signed_area2(tri: tf.Tensor) -> tf.Tensor:
    """`[..., 3, 2]` triangles -> `[...]` twice the signed area (negative = front-facing).

    With the camera frame x right, y down, z forward and fx, fy > 0, a triangle
    that is counter-clockwise seen from outside has a negative `(v1 - v0) x (v2 - v0)`
    in pixel coordinates when it faces the camera.
    """
    e0 = tri[..., 1, :] - tri[..., 0, :]
    e2 = tri[..., 2, :] - tri[..., 0, :]
    return e0[..., 0] * e2[..., 1] - e0[..., 1] * e2[..., 0]


def _project_faces(
    vertices: tf.Tensor, faces: tf.Tensor, intrinsics: tf.Tensor, near: float
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
    """Projects the mesh and returns per-face data.

    Returns:
        tri: `[B, F, 3, 2]` projected triangle corners (pixels).
        bbox: `[B, F, 4]` their (xmin, xmax, ymin, ymax) (pixels).
        valid: `[B, F]` bool, all three vertices deeper than `near`.
        front: `[B, F]` bool, front-facing (see `_signed_area2`).
    """
    uv = camera.project_points(vertices, intrinsics)  # [B, V, 2]
    tri = tf.gather(uv, faces, axis=1)  # [B, F, 3, 2]
    depth = tf.gather(vertices[..., 2], faces, axis=1)  # [B, F, 3]
    valid = tf.reduce_all(depth > near, axis=-1)  # [B, F]
    lo = tf.reduce_min(tri, axis=-2)  # [B, F, 2]
    hi = tf.reduce_max(tri, axis=-2)
    bbox = tf.stack([lo[..., 0], hi[..., 0], lo[..., 1], hi[..., 1]], axis=-1)  # [B, F, 4]
    return tri, bbox, valid, _signed_area2(tri) < 0.0


def _pixel_face_terms(
    px: tf.Tensor,
    py: tf.Tensor,
    tri: tf.Tensor,
    with_distance: bool,
    with_closest: bool = False,
) -> tuple[tf.Tensor, tf.Tensor | None, tuple[tf.Tensor, ...] | None]:
    """Inside test and squared distance for every (pixel, face) pair.

    Args:
        px, py: `[..., P, 1]` pixel-centre coordinates (pixels).
        tri: `[..., 1, K, 3, 2]` projected triangles (pixels).
        with_distance: also compute the squared distance to the outline.
        with_closest: also return what the analytic gradient needs.

    Returns:
        inside: `[..., P, K]` bool, the pixel centre is inside or on the triangle
            (the three edge functions, signed by the triangle's orientation, are
            all >= 0; never for a degenerate triangle).
        d2: `[..., P, K]` squared distance (px^2) from the pixel centre to the
            triangle's outline, or None.
        closest: None, or `(t, rx, ry, edge)`, each `[..., P, K]`: the closest
            outline point is `q = v_e + t (v_{e+1} - v_e)` on edge `e` (int32) and
            `(rx, ry) = p - q`.
    """
    orientation = tf.sign(_signed_area2(tri))  # [..., 1, K]
    inside = tf.not_equal(orientation, 0.0)
    corners = tf.unstack(tri, num=3, axis=-2)  # 3 x [..., 1, K, 2]
    d2 = closest = None
    for i in range(3):
        v, v_next = corners[i], corners[(i + 1) % 3]
        ex, ey = v_next[..., 0] - v[..., 0], v_next[..., 1] - v[..., 1]  # [..., 1, K]
        wx, wy = px - v[..., 0], py - v[..., 1]  # [..., P, K]
        inside = tf.logical_and(inside, (ex * wy - ey * wx) * orientation >= 0.0)
        if not with_distance:
            continue
        # Closest point of the segment v + t e, t in [0, 1] (a point if the edge is tiny).
        len_sq = ex * ex + ey * ey
        inv_len_sq = tf.where(len_sq > _MIN_EDGE_SQ, 1.0 / tf.maximum(len_sq, _MIN_EDGE_SQ), 0.0)
        t = tf.clip_by_value((wx * ex + wy * ey) * inv_len_sq, 0.0, 1.0)
        rx, ry = wx - t * ex, wy - t * ey
        di = rx * rx + ry * ry
        if d2 is None:
            d2 = di
            if with_closest:
                closest = (t, rx, ry, tf.zeros_like(di, tf.int32))
        elif not with_closest:
            d2 = tf.minimum(d2, di)
        else:
            better = di < d2
            d2 = tf.where(better, di, d2)
            closest = tuple(
                tf.where(better, new, old)
                for new, old in zip((t, rx, ry, tf.fill(tf.shape(di), i)), closest, strict=True)
            )
    return inside, d2, closest


def _soft_terms(
    inside: tf.Tensor, d2: tf.Tensor, slot_valid: tf.Tensor, inv_sigma_px: float
) -> tf.Tensor:
    """`[..., P, K]` -> `[..., P]`: `-log prod_f (1 - p_f) = sum_f softplus(delta d^2 / sigma)`.

    `inv_sigma_px` turns px^2 into units of sigma; invalid slots contribute 0.
    """
    scaled = tf.where(inside, d2, -d2) * inv_sigma_px
    return tf.reduce_sum(tf.where(slot_valid, tf.math.softplus(scaled), 0.0), axis=-1)


def _hard_terms(inside: tf.Tensor, slot_valid: tf.Tensor) -> tf.Tensor:
    """`[..., P, K]` -> `[..., P]` float32: 1 where any valid face covers the pixel centre."""
    return tf.cast(tf.reduce_any(tf.logical_and(inside, slot_valid), axis=-1), tf.float32)


def _inv_sigma_px(sigma: float, height: int, width: int) -> float:
    """Factor turning px^2 into units of sigma: (2 / max(H, W))^2 / sigma."""
    return (2.0 / max(height, width)) ** 2 / sigma


def _margin_px(mode: str, sigma: float, cutoff: float, height: int, width: int) -> float:
    """Bounding-box dilation (px) beyond which a face's soft term is below exp(-cutoff)."""
    if mode == "hard":
        return 0.0
    return math.sqrt(cutoff * sigma) * max(height, width) / 2.0


# --------------------------------------------------------------------------------------
# Chunked evaluation over the faces kept for each tile, with an analytic gradient.
# --------------------------------------------------------------------------------------


def _work_plan(slot_valid: tf.Tensor, num_pixels: int, chunk: int) -> dict[str, Any]:
    """Orders the (tile block, face chunk) work of a batch; see `_run_plan`.

    Tiles are sorted by their number of faces (descending) and grouped into
    blocks of `tiles_per_block` tiles, so that `tiles_per_block * P * C` pairs are
    about `_PAIRS_PER_STEP`; block `b` needs `ceil(max count in b / C)` steps
    (its first tile's count). Empty tiles cost nothing, and a busy tile does not
    make the others pay for its faces.

    Args:
        slot_valid: `[B, T, K]` bool, valid slots first in every tile.
        num_pixels: `P`, pixels per tile.
        chunk: `C`, face slots per step.

    Returns:
        A dict: `blocks` `[NB, TB]` int32 flat tile ids (`B T` = an empty dummy tile
        pads the last block), `steps` `[NB]` int32 steps per block, `total` int32
        scalar, `num_tiles` (`B T`, int32 scalar), `tiles_per_block` (TB, int).
    """
    tiles_per_block = max(1, _PAIRS_PER_STEP // (num_pixels * chunk))
    counts = tf.reshape(tf.reduce_sum(tf.cast(slot_valid, tf.int32), axis=-1), [-1])  # [BT]
    num_tiles = tf.shape(counts)[0]
    num_blocks = (num_tiles + tiles_per_block - 1) // tiles_per_block
    order = tf.argsort(counts, direction="DESCENDING", stable=True)  # [BT]
    padding = num_blocks * tiles_per_block - num_tiles
    blocks = tf.reshape(
        tf.concat([order, tf.fill([padding], num_tiles)], axis=0), [-1, tiles_per_block]
    )  # [NB, TB]
    first_counts = tf.gather(counts, blocks[:, 0])  # [NB], the largest count of each block
    steps = (first_counts + chunk - 1) // chunk
    return {
        "blocks": blocks,
        "steps": steps,
        "total": tf.reduce_sum(steps),
        "num_tiles": num_tiles,
        "tiles_per_block": tiles_per_block,
    }


def _run_plan(plan: dict[str, Any], body, init: tf.Tensor) -> tf.Tensor:
    """`acc = body(tiles, chunk_index, acc)` over the plan's steps, in a `tf.while_loop`.

    `tiles` is `[TB]` int32 flat tile ids, `chunk_index` an int32 scalar. The trip
    count is data-dependent; every shape is static, so XLA compiles it.
    """
    blocks, steps = plan["blocks"], plan["steps"]

    def step(i, block, chunk_index, acc):
        acc = body(tf.gather(blocks, block), chunk_index, acc)
        following = chunk_index + 1
        advance = following >= tf.gather(steps, block)
        return (
            i + 1,
            tf.where(advance, block + 1, block),
            tf.where(advance, 0, following),
            acc,
        )

    zero = tf.constant(0, tf.int32)
    *_, acc = tf.while_loop(
        lambda i, block, chunk_index, acc: i < plan["total"],
        step,
        (zero, zero, zero, init),
        maximum_iterations=tf.size(blocks),
    )
    return acc


def _flat_chunks(tile_tri: tf.Tensor, slot_valid: tf.Tensor, chunk: int) -> tuple[tf.Tensor, ...]:
    """`[B, T, K, ...]` -> `[B T + 1, N, C, ...]` chunked slots, with an empty dummy tile last."""
    k = tile_tri.shape[2]
    n = -(-k // chunk)
    tri = tf.pad(tile_tri, [[0, 0], [0, 0], [0, n * chunk - k], [0, 0], [0, 0]])
    valid = tf.pad(slot_valid, [[0, 0], [0, 0], [0, n * chunk - k]])
    tri = tf.concat([tf.reshape(tri, [-1, n, chunk, 3, 2]), tf.zeros([1, n, chunk, 3, 2])], 0)
    valid = tf.concat([tf.reshape(valid, [-1, n, chunk]), tf.zeros([1, n, chunk], tf.bool)], 0)
    return tri, valid


def _gather_step(
    tri: tf.Tensor, valid: tf.Tensor, px: tf.Tensor, py: tf.Tensor, tiles: tf.Tensor, chunk_index
) -> tuple[tf.Tensor, ...]:
    """The `[TB, 1, C, 3, 2]` triangles, `[TB, 1, C]` flags and `[TB, P, 1]` pixel centres
    of one step."""
    index = tf.stack([tiles, tf.fill(tf.shape(tiles), chunk_index)], axis=-1)  # [TB, 2]
    tile_in_image = tiles % px.shape[0]
    return (
        tf.gather_nd(tri, index)[:, tf.newaxis],
        tf.gather_nd(valid, index)[:, tf.newaxis],
        tf.gather(px, tile_in_image)[..., tf.newaxis],
        tf.gather(py, tile_in_image)[..., tf.newaxis],
    )


def _hard_tiles(
    px: tf.Tensor, py: tf.Tensor, tile_tri: tf.Tensor, slot_valid: tf.Tensor, chunk: int
) -> tf.Tensor:
    """`[B, T, K, 3, 2]` triangles per tile -> `[B, T, P]` exact coverage.

    `px`, `py` are `[T, P]` pixel centres.
    """
    plan = _work_plan(slot_valid, px.shape[1], chunk)
    tri, valid = _flat_chunks(tile_tri, slot_valid, chunk)

    def body(tiles, chunk_index, covered):
        t, v, x, y = _gather_step(tri, valid, px, py, tiles, chunk_index)
        inside, _, _ = _pixel_face_terms(x, y, t, with_distance=False)  # [TB, P, C]
        return tf.tensor_scatter_nd_add(covered, tiles[:, tf.newaxis], _hard_terms(inside, v))

    init = tf.zeros([plan["num_tiles"] + 1, px.shape[1]], tf.float32)  # [BT + 1, P]
    covered = _run_plan(plan, body, init)[:-1]
    return tf.reshape(tf.minimum(covered, 1.0), [-1, px.shape[0], px.shape[1]])


def _soft_tiles(
    px: tf.Tensor,
    py: tf.Tensor,
    tile_tri: tf.Tensor,
    slot_valid: tf.Tensor,
    inv_sigma_px: float,
    chunk: int,
) -> tf.Tensor:
    """`[B, T, K, 3, 2]` triangles per tile -> `[B, T, P]` soft silhouette values.

    `px`, `py` are `[T, P]` pixel centres. The work runs in steps of
    `tiles_per_block` tiles x `chunk` faces, forward and backward alike; the
    gradient is analytic (`d(d^2)/dv` from the closest outline point), so no
    per-(pixel, face) tensor is kept between the two passes.
    """
    plan = _work_plan(slot_valid, px.shape[1], chunk)
    num_pixels = px.shape[1]

    @tf.custom_gradient
    def soft(tile_tri: tf.Tensor) -> tf.Tensor:
        tri, valid = _flat_chunks(tile_tri, slot_valid, chunk)

        def forward(tiles, chunk_index, total):
            t, v, x, y = _gather_step(tri, valid, px, py, tiles, chunk_index)
            inside, d2, _ = _pixel_face_terms(x, y, t, with_distance=True)  # [TB, P, C]
            terms = _soft_terms(inside, d2, v, inv_sigma_px)  # [TB, P]
            return tf.tensor_scatter_nd_add(total, tiles[:, tf.newaxis], terms)

        init = tf.zeros([plan["num_tiles"] + 1, num_pixels], tf.float32)  # [BT + 1, P]
        total = _run_plan(plan, forward, init)  # -log prod (1 - p_f)
        values = -tf.math.expm1(-total[:-1])

        def grad(upstream: tf.Tensor) -> tf.Tensor:
            # dL/d(total) = upstream exp(-total); d(total)/d(d2_f) = sigmoid(x_f) delta_f / sigma.
            g_total = tf.reshape(upstream, [-1, num_pixels]) * tf.exp(-total[:-1])
            g_total = tf.concat([g_total, tf.zeros([1, num_pixels])], axis=0)  # [BT + 1, P]

            def backward(tiles, chunk_index, grads):
                t, v, x, y = _gather_step(tri, valid, px, py, tiles, chunk_index)
                inside, d2, (t_edge, rx, ry, edge) = _pixel_face_terms(
                    x, y, t, with_distance=True, with_closest=True
                )  # [TB, P, C]
                delta = tf.where(inside, 1.0, -1.0)
                g = tf.gather(g_total, tiles)[..., tf.newaxis]  # [TB, P, 1]
                g_d2 = g * tf.sigmoid(delta * d2 * inv_sigma_px) * delta * tf.cast(v, tf.float32)
                g_q = -2.0 * inv_sigma_px * g_d2  # d(d2)/dq = -2 (p - q) = -2 (rx, ry)
                # q = (1 - t) v_e + t v_{e+1}: corner j gets (1 - t) if e == j, t if e == j - 1.
                corner_grads = []
                for j in range(3):
                    weight = tf.where(tf.equal(edge, j), 1.0 - t_edge, 0.0) + tf.where(
                        tf.equal(edge, (j + 2) % 3), t_edge, 0.0
                    )
                    a = g_q * weight  # [TB, P, C]
                    corner_grads.append(
                        tf.stack([tf.reduce_sum(a * rx, 1), tf.reduce_sum(a * ry, 1)], -1)
                    )
                step_grad = tf.stack(corner_grads, axis=-2)  # [TB, C, 3, 2]
                index = tf.stack([tiles, tf.fill(tf.shape(tiles), chunk_index)], axis=-1)
                return tf.tensor_scatter_nd_add(grads, index, step_grad)

            grads = _run_plan(plan, backward, tf.zeros_like(tri))[:-1]  # [BT, N, C, 3, 2]
            shape = tf.shape(tile_tri)
            grads = tf.reshape(grads, [shape[0], shape[1], -1, 3, 2])
            return grads[:, :, : tile_tri.shape[2]]

        return tf.reshape(values, [-1, px.shape[0], num_pixels]), grad

    return soft(tile_tri)


# --------------------------------------------------------------------------------------
# Argument checks.
# --------------------------------------------------------------------------------------


def _check_options(
    height: Any,
    width: Any,
    sigma: Any,
    mode: Any,
    tile_size: Any,
    max_faces_per_tile: Any,
    near: Any,
    cutoff: Any,
) -> None:
    for name, value in (
        ("height", height),
        ("width", width),
        ("tile_size", tile_size),
        ("max_faces_per_tile", max_faces_per_tile),
    ):
        check_int(value, name)
    for name, value in (("sigma", sigma), ("cutoff", cutoff), ("near", near)):
        check_positive(value, name)
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}. Received: mode={mode!r}")


def _shape_str(t: tf.Tensor) -> str:
    return str(tuple(t.shape.as_list())) if t.shape.rank is not None else "<unknown rank>"


def _convert_inputs(vertices: Any, faces: Any, intrinsics: Any) -> tuple[tf.Tensor, ...]:
    """Converts and checks `vertices [B, V, 3]`, `faces [F, 3]`, `intrinsics [B, 3, 3]`."""
    vertices = tf.convert_to_tensor(vertices, name="vertices")
    intrinsics = tf.convert_to_tensor(intrinsics, name="intrinsics")
    if not vertices.dtype.is_floating:
        raise ValueError(
            f"vertices must be floating point. Received: vertices.dtype={vertices.dtype.name}"
        )
    if not intrinsics.dtype.is_floating:
        raise ValueError(
            f"intrinsics must be floating point. Received: intrinsics.dtype={intrinsics.dtype.name}"
        )
    if isinstance(faces, np.ndarray | list | tuple):
        faces_np = np.asarray(faces)
        if (
            faces_np.ndim != 2
            or faces_np.shape[1] != 3
            or not np.issubdtype(faces_np.dtype, np.integer)
        ):
            raise ValueError(
                f"faces must be an integer array of shape [F, 3]. "
                f"Received: faces.shape={faces_np.shape}, faces.dtype={faces_np.dtype}"
            )
        num_vertices = vertices.shape[1] if vertices.shape.rank == 3 else None
        if faces_np.size and (
            faces_np.min() < 0 or (num_vertices is not None and faces_np.max() >= num_vertices)
        ):
            raise ValueError(
                f"faces must index vertices in [0, {num_vertices}). "
                f"Received: faces range [{faces_np.min()}, {faces_np.max()}]"
            )
        faces = tf.constant(faces_np, tf.int32, name="faces")
    else:
        faces = tf.convert_to_tensor(faces, name="faces")
        if not faces.dtype.is_integer:
            raise ValueError(f"faces must be integer. Received: faces.dtype={faces.dtype.name}")
        faces = tf.cast(faces, tf.int32)
    checks = (
        (vertices, "vertices", 3, {2: 3}, "[B, V, 3]"),
        (faces, "faces", 2, {1: 3}, "[F, 3]"),
        (intrinsics, "intrinsics", 3, {1: 3, 2: 3}, "[B, 3, 3]"),
    )
    for tensor, name, rank, dims, shown in checks:
        shape = tensor.shape
        if shape.rank is None:
            continue
        if shape.rank != rank or any(
            shape[a] is not None and shape[a] != d for a, d in dims.items()
        ):
            raise ValueError(
                f"{name} must have shape {shown}. Received: {name}.shape={_shape_str(tensor)}"
            )
    if faces.shape.rank == 2 and faces.shape[0] == 0:
        raise ValueError(
            f"faces must hold at least one face. Received: faces.shape={_shape_str(faces)}"
        )
    b_v, b_k = vertices.shape[0] if vertices.shape.rank else None, None
    if intrinsics.shape.rank:
        b_k = intrinsics.shape[0]
    if b_v is not None and b_k is not None and b_v != b_k:
        raise ValueError(
            "vertices and intrinsics must have the same batch size. Received: "
            f"vertices.shape={_shape_str(vertices)}, intrinsics.shape={_shape_str(intrinsics)}"
        )
    return tf.cast(vertices, tf.float32), faces, tf.cast(intrinsics, tf.float32)


# --------------------------------------------------------------------------------------
# Tiles.
# --------------------------------------------------------------------------------------


def _tile_grid(height: int, width: int, tile_size: int) -> dict[str, np.ndarray]:
    """Static tile geometry (NumPy, built at trace time).

    Returns:
        px, py: `[T, P]` pixel-centre coordinates of each tile's pixels
            (P = tile_size^2, tiles row-major, pixels row-major in a tile).
        rect: `[T, 4]` (xmin, xmax, ymin, ymax) of each tile's pixel centres
            that lie inside the image.
        tiles_y, tiles_x: tile counts.
    """
    tiles_y, tiles_x = -(-height // tile_size), -(-width // tile_size)
    ty, tx = np.meshgrid(np.arange(tiles_y), np.arange(tiles_x), indexing="ij")
    ty, tx = ty.reshape(-1, 1), tx.reshape(-1, 1)
    r, c = np.meshgrid(np.arange(tile_size), np.arange(tile_size), indexing="ij")
    px = tx * tile_size + c.reshape(1, -1) + 0.5
    py = ty * tile_size + r.reshape(1, -1) + 0.5
    x0, y0 = tx[:, 0] * tile_size, ty[:, 0] * tile_size
    rect = np.stack(
        [
            x0 + 0.5,
            np.minimum(x0 + tile_size, width) - 0.5,
            y0 + 0.5,
            np.minimum(y0 + tile_size, height) - 0.5,
        ],
        axis=-1,
    )
    return {
        "px": px.astype(np.float32),
        "py": py.astype(np.float32),
        "rect": rect.astype(np.float32),
        "tiles_y": tiles_y,
        "tiles_x": tiles_x,
    }


def _tile_levels(
    bbox: tf.Tensor, valid: tf.Tensor, front: tf.Tensor, rect: np.ndarray, margin: float
) -> tf.Tensor:
    """`[B, T, F]` int32: 0 if the face cannot touch the tile, else its priority level.

    A face is a candidate for a tile when its bbox dilated by `margin` overlaps
    the rectangle of the tile's pixel centres. Levels: 3 for front faces
    overlapping the tile, 2 for back faces overlapping it, 1 for faces only in
    the margin (their soft tails). An overflowing tile drops the lowest levels
    first, so back faces go before front faces (for a closed mesh, the hard
    silhouette is unchanged).
    """
    b = bbox[:, tf.newaxis]  # [B, 1, F, 4]
    r = tf.constant(rect)[tf.newaxis, :, tf.newaxis]  # [1, T, 1, 4]
    gap_x = tf.maximum(tf.maximum(r[..., 0] - b[..., 1], b[..., 0] - r[..., 1]), 0.0)
    gap_y = tf.maximum(tf.maximum(r[..., 2] - b[..., 3], b[..., 2] - r[..., 3]), 0.0)
    gap = tf.maximum(gap_x, gap_y)  # [B, T, F] Chebyshev gap between the rectangles (px)
    overlap_level = tf.where(front, 3, 2)[:, tf.newaxis]  # [B, 1, F]
    level = tf.where(gap <= 0.0, overlap_level, 1)
    return tf.where(tf.logical_and(gap <= margin, valid[:, tf.newaxis]), level, 0)


def _select_faces(level: tf.Tensor, k: int) -> tf.Tensor:
    """Keeps up to `k` candidates per tile: by level, then by face index.

    `top_k` on the levels (ties go to the lower index): faster than a stream
    compaction by cumulative sums and a segment max (docs/results.md).

    Args:
        level: `[B, T, F]` int32 from `_tile_levels`.
        k: slots per tile.

    Returns:
        `[B, T, K]` int32 face ids, -1 in unused slots (valid slots come first).
    """
    top_level, ids = tf.math.top_k(tf.cast(level, tf.float32), k=k)
    return tf.where(top_level > 0.0, ids, -1)


def _untile(values: tf.Tensor, grid: dict, tile_size: int, height: int, width: int) -> tf.Tensor:
    """`[B, T, P]` per-tile values -> `[B, H, W]` image."""
    ty, tx = grid["tiles_y"], grid["tiles_x"]
    image = tf.reshape(values, [-1, ty, tx, tile_size, tile_size])
    image = tf.transpose(image, [0, 1, 3, 2, 4])  # [B, ty, ts, tx, ts]
    image = tf.reshape(image, [-1, ty * tile_size, tx * tile_size])
    return image[:, :height, :width]


# --------------------------------------------------------------------------------------
# Public API.
# --------------------------------------------------------------------------------------


def render_silhouette(
    vertices: Any,
    faces: Any,
    intrinsics: Any,
    height: int,
    width: int,
    sigma: float = 1e-4,
    mode: str = "soft",
    *,
    tile_size: int = 8,
    max_faces_per_tile: int = 1024,
    faces_per_chunk: int = 64,
    near: float = 1e-3,
    cutoff: float = 16.0,
) -> tf.Tensor:
    """Renders soft (differentiable) or hard silhouettes of a batch of meshes.

    See the module docstring for the maths, the units of `sigma`, the pixel
    convention, the tiling and its memory bound.

    Args:
        vertices: `[B, V, 3]` vertices in the camera frame (metres, z > 0 in front).
            Any float dtype; computed in float32.
        faces: `[F, 3]` integer vertex indices (a NumPy array, list or tensor).
        intrinsics: `[B, 3, 3]` intrinsics in pixels of the `height x width` output.
        height: output height in pixels.
        width: output width in pixels.
        sigma: soft-edge scale, in squared normalised image units (the longer
            image side spans 2 units; see `sigma_from_pixels`). Soft mode only.
        mode: "soft" (differentiable) or "hard" (exact coverage, no gradient).
        tile_size: tile side in pixels.
        max_faces_per_tile: faces kept per tile (`K`); see `tile_face_counts`.
        faces_per_chunk: face slots per tile in one work step (`C`); a block
            of tiles takes `ceil(count / C)` steps. Smaller wastes less on
            tiles with few faces, larger makes fewer, bigger steps.
        near: faces with a vertex at depth <= `near` (metres) are dropped.
        cutoff: the culling may drop soft terms below `exp(-cutoff)` per face;
            it sets the bounding-box dilation `sqrt(cutoff * sigma)`.

    Returns:
        `[B, height, width]` float32 in [0, 1] (whatever the input dtype).

    Raises:
        ValueError: bad shapes or options; the message names the argument.
    """
    _check_options(height, width, sigma, mode, tile_size, max_faces_per_tile, near, cutoff)
    check_int(faces_per_chunk, "faces_per_chunk")
    vertices, faces, intrinsics = _convert_inputs(vertices, faces, intrinsics)
    tri, bbox, valid, front = _project_faces(vertices, faces, intrinsics, near)
    grid = _tile_grid(height, width, tile_size)
    margin = _margin_px(mode, sigma, cutoff, height, width)
    level = _tile_levels(bbox, valid, front, grid["rect"], margin)  # [B, T, F]
    num_faces = faces.shape[0]
    k = max_faces_per_tile if num_faces is None else min(max_faces_per_tile, num_faces)
    face_ids = _select_faces(level, k)  # [B, T, K]
    slot_valid = face_ids >= 0
    tile_tri = tf.gather(tri, tf.maximum(face_ids, 0), batch_dims=1)  # [B, T, K, 3, 2]
    px, py = tf.constant(grid["px"]), tf.constant(grid["py"])  # [T, P]
    if mode == "hard":
        values = _hard_tiles(px, py, tile_tri, slot_valid, faces_per_chunk)  # [B, T, P]
    else:
        inv_sigma = _inv_sigma_px(sigma, height, width)
        values = _soft_tiles(px, py, tile_tri, slot_valid, inv_sigma, faces_per_chunk)
    return _untile(values, grid, tile_size, height, width)


def tile_face_counts(
    vertices: Any,
    faces: Any,
    intrinsics: Any,
    height: int,
    width: int,
    sigma: float = 1e-4,
    mode: str = "soft",
    *,
    tile_size: int = 8,
    near: float = 1e-3,
    cutoff: float = 16.0,
) -> tf.Tensor:
    """How many faces are candidates for each tile, to size `max_faces_per_tile`.

    Args:
        vertices, faces, intrinsics, height, width, sigma, mode, tile_size, near,
            cutoff: as in `render_silhouette`.

    Returns:
        `[B, tiles_y, tiles_x]` int32 candidate counts; `render_silhouette` drops
        nothing (beyond terms below `exp(-cutoff)`) where they are at most
        `max_faces_per_tile`.
    """
    _check_options(height, width, sigma, mode, tile_size, 1, near, cutoff)
    vertices, faces, intrinsics = _convert_inputs(vertices, faces, intrinsics)
    _, bbox, valid, front = _project_faces(vertices, faces, intrinsics, near)
    grid = _tile_grid(height, width, tile_size)
    margin = _margin_px(mode, sigma, cutoff, height, width)
    level = _tile_levels(bbox, valid, front, grid["rect"], margin)
    counts = tf.reduce_sum(tf.cast(level > 0, tf.int32), axis=-1)
    return tf.reshape(counts, [-1, grid["tiles_y"], grid["tiles_x"]])


@keras.saving.register_keras_serializable(package="mano_tf")
class SilhouetteRenderer(keras.layers.Layer):
    """Keras layer around `render_silhouette`: `(vertices, intrinsics[, faces]) -> masks`.

    The faces are fixed at construction (`faces=`, stored as a plain list of
    lists in the config, so the layer saves and reloads on its own), or passed
    at call time (`faces=` in `call`, then the constructor's `faces` may be
    None). Call-time faces take precedence.

    Inputs are not autocast (`autocast=False` unless given) and geometry is
    computed in float32 whatever the dtype policy; the output is cast to the
    layer's compute dtype (float16 under `mixed_float16`; pass `dtype="float32"`
    to keep float32 masks for the loss).

    Args:
        height: output height in pixels.
        width: output width in pixels.
        sigma: soft-edge scale in squared normalised image units (module docstring).
        mode: "soft" or "hard".
        faces: `[F, 3]` vertex indices (list of lists or array), or None.
        tile_size, max_faces_per_tile, faces_per_chunk, near, cutoff: as in
            `render_silhouette`.
        **kwargs: `keras.layers.Layer` arguments (name, dtype, ...).

    Call args:
        vertices: `[B, V, 3]` camera-frame vertices (metres).
        intrinsics: `[B, 3, 3]` intrinsics in pixels of the output.
        faces: optional `[F, 3]` integer tensor, overriding the constructor's.

    Returns:
        `[B, height, width]` masks in [0, 1].
    """

    def __init__(
        self,
        height: int,
        width: int,
        sigma: float = 1e-4,
        mode: str = "soft",
        faces: Any = None,
        tile_size: int = 8,
        max_faces_per_tile: int = 1024,
        faces_per_chunk: int = 64,
        near: float = 1e-3,
        cutoff: float = 16.0,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("autocast", False)  # vertices stay float32 under mixed precision
        super().__init__(**kwargs)
        _check_options(height, width, sigma, mode, tile_size, max_faces_per_tile, near, cutoff)
        check_int(faces_per_chunk, "faces_per_chunk")
        if faces is not None:
            faces_np = np.asarray(faces)
            if (
                faces_np.ndim != 2
                or faces_np.shape[1] != 3
                or faces_np.shape[0] == 0
                or not np.issubdtype(faces_np.dtype, np.integer)
                or faces_np.min() < 0
            ):
                raise ValueError(
                    "faces must be None or non-negative integer vertex indices of shape [F, 3]. "
                    f"Received: faces with shape {faces_np.shape} and dtype {faces_np.dtype}"
                )
            faces = faces_np.astype(np.int32).tolist()
        self.height = int(height)
        self.width = int(width)
        self.sigma = float(sigma)
        self.mode = mode
        self.faces = faces
        self.tile_size = int(tile_size)
        self.max_faces_per_tile = int(max_faces_per_tile)
        self.faces_per_chunk = int(faces_per_chunk)
        self.near = float(near)
        self.cutoff = float(cutoff)
        self._faces_array = None if faces is None else np.asarray(faces, np.int32)

    def call(self, vertices: Any, intrinsics: Any, faces: Any = None) -> tf.Tensor:
        if faces is None:
            faces = self._faces_array
        if faces is None:
            raise ValueError(
                "SilhouetteRenderer needs faces: pass faces= to the constructor or to the call. "
                "Received: faces=None"
            )
        masks = render_silhouette(
            vertices,
            faces,
            intrinsics,
            self.height,
            self.width,
            sigma=self.sigma,
            mode=self.mode,
            tile_size=self.tile_size,
            max_faces_per_tile=self.max_faces_per_tile,
            faces_per_chunk=self.faces_per_chunk,
            near=self.near,
            cutoff=self.cutoff,
        )
        return tf.cast(masks, self.compute_dtype)

    def compute_output_shape(
        self, vertices_shape: Any, intrinsics_shape: Any = None, faces_shape: Any = None
    ) -> tuple:
        return (vertices_shape[0], self.height, self.width)

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "height": self.height,
                "width": self.width,
                "sigma": self.sigma,
                "mode": self.mode,
                "faces": self.faces,
                "tile_size": self.tile_size,
                "max_faces_per_tile": self.max_faces_per_tile,
                "faces_per_chunk": self.faces_per_chunk,
                "near": self.near,
                "cutoff": self.cutoff,
            }
        )
        return config
