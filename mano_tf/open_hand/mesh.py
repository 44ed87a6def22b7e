"""Meshes the open hand model's implicit surface: marching tetrahedra, then isotropic remeshing.

`mesh_hand` samples the surface on a grid, triangulates its zero set with
marching tetrahedra (a closed 2-manifold for any sign pattern), then
alternates short-edge collapses and edge flips (`remesh.Remesher`) with
tangential relaxation re-projected onto the surface, towards shorter edges
on the fingers than on the palm; last, it puts a vertex exactly at each
fingertip. The mesh-graph helpers here (`edges_of`, `neighbour_mean`) also
smooth the skinning weights in `rig`.
"""

from __future__ import annotations

import functools
import itertools
import logging

import numpy as np

from mano_tf.open_hand.design import FINGERS, HandDesign
from mano_tf.open_hand.geometry import segment_distance, smoothstep
from mano_tf.open_hand.remesh import Remesher
from mano_tf.open_hand.surface import hand_sdf, project

logger = logging.getLogger(__name__)

# Meshing: grid step of the marching tetrahedra, target edge lengths (m).
_GRID_STEP = 0.0025
_EDGE_FINGER = 0.0045
_EDGE_PALM = 0.0085


def _marching_tetrahedra(
    values: np.ndarray, origin: np.ndarray, step: float
) -> tuple[np.ndarray, np.ndarray]:
    """Triangulates the zero set of grid samples (negative inside) with outward faces.

    Each grid cube is split into the 6 tetrahedra around its main diagonal (a
    conforming split), so the surface is a closed 2-manifold for any sign pattern.

    Args:
        values: `[NX, NY, NZ]` samples at `origin + step * (i, j, k)`.
        origin: `[3]` position of sample (0, 0, 0).
        step: grid step.

    Returns:
        vertices `[V, 3]`, faces `[F, 3]` (counter-clockwise seen from outside).
    """
    nx, ny, nz = values.shape
    flat = values.reshape(-1)
    inside = flat < 0.0
    strides = (ny * nz, nz, 1)
    base = np.arange(nx * ny * nz).reshape(nx, ny, nz)[:-1, :-1, :-1].reshape(-1)
    offsets = [i * strides[0] + j * strides[1] + k for i in (0, 1) for j in (0, 1) for k in (0, 1)]
    corners = base[:, None] + np.array(offsets)  # [cubes, 8] node ids
    count = inside[corners].sum(-1)
    base = base[(count > 0) & (count < 8)]  # cubes that the surface crosses
    tets = []
    for order in itertools.permutations(strides):
        tets.append(
            np.stack(
                [base, base + order[0], base + order[0] + order[1], base + sum(order)], axis=-1
            )
        )
    tets = np.concatenate(tets)  # [T, 4] node ids
    tin = inside[tets]
    n_in = tin.sum(-1)
    tets, tin, n_in = (
        tets[(n_in > 0) & (n_in < 4)],
        tin[(n_in > 0) & (n_in < 4)],
        n_in[(n_in > 0) & (n_in < 4)],
    )

    def node_pos(ids):
        i, rest = np.divmod(ids, strides[0])
        j, k = np.divmod(rest, strides[1])
        return origin + step * np.stack([i, j, k], axis=-1)

    edges, tet_of = [], []
    # One corner on its own (1 or 3 inside): a triangle on its 3 edges.
    single = (n_in == 1) | (n_in == 3)
    t1, in1 = tets[single], tin[single]
    odd = np.where(n_in[single][:, None] == 1, in1, ~in1)
    order = np.argsort(~odd, axis=-1, kind="stable")  # the odd corner first
    t1 = np.take_along_axis(t1, order, axis=-1)
    e = np.stack([t1[:, [0, k]] for k in (1, 2, 3)], axis=1)  # [T1, 3, 2]
    edges.append(e)
    tet_of.append(np.flatnonzero(single))
    # Two inside, two outside: a quad, split in two triangles.
    double = n_in == 2
    t2 = np.take_along_axis(tets[double], np.argsort(~tin[double], axis=-1, kind="stable"), -1)
    i1, i2, o1, o2 = t2.T
    # The quad's corners in order: on edges i1-o1, i1-o2, i2-o2, i2-o1.
    quad = np.stack([i1, o1, i1, o2, i2, o2, i2, o1], axis=-1).reshape(-1, 4, 2)
    edges.append(quad[:, [0, 1, 2]])
    edges.append(quad[:, [0, 2, 3]])
    idx2 = np.flatnonzero(double)
    tet_of += [idx2, idx2]
    tri_edges = np.concatenate(edges)  # [F, 3, 2] node pairs
    tri_tet = np.concatenate(tet_of)

    n_nodes = flat.size
    lo, hi = tri_edges.min(-1), tri_edges.max(-1)
    keys = lo * n_nodes + hi
    uniq, inverse = np.unique(keys.reshape(-1), return_inverse=True)
    a, b = np.divmod(uniq, n_nodes)
    fa, fb = flat[a], flat[b]
    t = np.clip(fa / (fa - fb), 0.02, 0.98)
    vertices = node_pos(a) + t[:, None] * (node_pos(b) - node_pos(a))
    faces = inverse.reshape(-1, 3)

    # Orient each triangle from the inside corners of its tetrahedron to the outside ones.
    tet_nodes, tet_in = tets[tri_tet], tin[tri_tet]
    pos = node_pos(tet_nodes)  # [F, 4, 3]
    w_in = tet_in / tet_in.sum(-1, keepdims=True)
    w_out = ~tet_in / (~tet_in).sum(-1, keepdims=True)
    outward = (pos * w_out[..., None]).sum(1) - (pos * w_in[..., None]).sum(1)
    v0, v1, v2 = (vertices[faces[:, i]] for i in range(3))
    flip = (np.cross(v1 - v0, v2 - v0) * outward).sum(-1) < 0
    faces[flip] = faces[flip][:, ::-1]
    return vertices, faces


def _vertex_normals(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """`[V, 3]` unit area-weighted vertex normals."""
    fn = np.cross(
        vertices[faces[:, 1]] - vertices[faces[:, 0]], vertices[faces[:, 2]] - vertices[faces[:, 0]]
    )
    normals = np.zeros_like(vertices)
    for i in range(3):
        np.add.at(normals, faces[:, i], fn)
    return normals / np.maximum(np.linalg.norm(normals, axis=-1, keepdims=True), 1e-30)


def edges_of(faces: np.ndarray) -> np.ndarray:
    """`[E, 2]` unique undirected edges (sorted pairs) of a triangle mesh."""
    e = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(e, axis=-1), axis=0)


def neighbour_mean(values: np.ndarray, edges: np.ndarray, num: int) -> np.ndarray:
    """Mean of `values` over the mesh neighbours of each vertex."""
    total = np.zeros((num,) + values.shape[1:])
    np.add.at(total, edges[:, 0], values[edges[:, 1]])
    np.add.at(total, edges[:, 1], values[edges[:, 0]])
    count = np.bincount(edges.reshape(-1), minlength=num).astype(np.float64)
    return total / count.reshape((-1,) + (1,) * (values.ndim - 1))


def _relax(vertices, faces, sdf, iterations: int = 4, step: float = 0.5, fixed=None) -> np.ndarray:
    """Tangential Laplacian relaxation, each step re-projected onto the surface.

    Vertices listed in `fixed` keep their positions.
    """
    edges = edges_of(faces)
    move = np.ones((len(vertices), 1))
    if fixed is not None:
        move[np.asarray(fixed)] = 0.0
    for _ in range(iterations):
        normals = _vertex_normals(vertices, faces)
        delta = neighbour_mean(vertices, edges, len(vertices)) - vertices
        delta -= (delta * normals).sum(-1, keepdims=True) * normals
        moved = project(vertices + step * delta, sdf)
        vertices = vertices + move * (moved - vertices)
    return vertices


def _target_edge(p: np.ndarray, design: HandDesign) -> np.ndarray:
    """Target edge length (m) at `[N, 3]` points: finer on the fingers than on the palm."""
    near = np.full(len(p), np.inf)
    for chain in design.chains.values():
        start = 1 if chain.name == "thumb" else 0
        for k in range(start, 3):
            near = np.minimum(near, segment_distance(p, chain.points[k], chain.points[k + 1]))
    return _EDGE_FINGER + (_EDGE_PALM - _EDGE_FINGER) * smoothstep(0.011, 0.030, near)


def tip_vertices(vertices: np.ndarray, design: HandDesign) -> np.ndarray:
    """`[5]` ids of the vertex farthest along the last bone of each finger (thumb first)."""
    ids = []
    for name in FINGERS:
        chain = design.chains[name]
        q = vertices - chain.points[2]
        along = q @ chain.dirs[2]
        across = np.linalg.norm(q - along[:, None] * chain.dirs[2], axis=-1)
        along[across > chain.radii[2]] = -np.inf  # only this finger's end
        ids.append(int(np.argmax(along)))
    return np.asarray(ids, np.int32)


def mesh_hand(design: HandDesign) -> tuple[np.ndarray, np.ndarray]:
    """The closed hand mesh at rest: vertices `[V, 3]` and outward faces `[F, 3]`."""
    sdf = functools.partial(hand_sdf, design=design)
    step = _GRID_STEP
    lo = np.array([-0.100, -0.045, -0.050])
    hi = np.array([0.112, 0.030, 0.090])
    shape = np.ceil((hi - lo) / step).astype(int) + 1
    axes = [lo[c] + step * np.arange(shape[c]) for c in range(3)]
    grid = np.stack(np.meshgrid(*axes, indexing="ij"), axis=-1).reshape(-1, 3)
    # Rounded to 0.1 nm, so that last-bit differences between platforms rarely flip a sign.
    values = np.round(sdf(grid), 10).reshape(shape)
    vertices, faces = _marching_tetrahedra(values, lo, step)
    logger.info("marching tetrahedra: %d vertices, %d faces", len(vertices), len(faces))
    vertices = project(vertices, sdf)
    mesh = Remesher(vertices, faces, _target_edge(vertices, design))
    for _ in range(3):
        mesh.collapse_short_edges()
        mesh.flip_edges()
        vertices, faces, _ = mesh.compact()
        vertices = _relax(vertices, faces, sdf)
        mesh = Remesher(vertices, faces, _target_edge(vertices, design))
    mesh.flip_edges()
    vertices, faces, _ = mesh.compact()
    # Put a vertex exactly at each fingertip, and let the others settle around it.
    tips = tip_vertices(vertices, design)
    vertices[tips] = design.tips
    vertices = _relax(vertices, faces, sdf, iterations=4, fixed=tips)
    logger.info("remeshed: %d vertices, %d faces", len(vertices), len(faces))
    return vertices, faces
