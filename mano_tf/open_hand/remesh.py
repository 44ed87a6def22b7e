"""Local operations of isotropic remeshing on a closed triangle mesh: edge collapses and flips.

`Remesher` keeps the mesh as face lists with vertex-to-face sets, so that an
edge collapse (with link-condition, fold and quality checks) or an edge flip
(towards valence 6) edits only the faces around it. It knows nothing of
hands: the hand mesher (`mano_tf.open_hand.mesh`) gives it a target edge
length per vertex and alternates its passes with relaxation.
"""

from __future__ import annotations

import heapq

import numpy as np

from mano_tf.open_hand.geometry import unit


def _cross(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Cross product over the last axis (faster than `np.cross` on small arrays)."""
    a0, a1, a2 = a[..., 0], a[..., 1], a[..., 2]
    b0, b1, b2 = b[..., 0], b[..., 1], b[..., 2]
    return np.stack([a1 * b2 - a2 * b1, a2 * b0 - a0 * b2, a0 * b1 - a1 * b0], axis=-1)


def _normals(tri: np.ndarray) -> np.ndarray:
    """`[..., 3, 3]` triangles -> `[..., 3]` normals of length twice the area."""
    return _cross(tri[..., 1, :] - tri[..., 0, :], tri[..., 2, :] - tri[..., 0, :])


def _face_quality(tri: np.ndarray) -> np.ndarray:
    """`[..., 3, 3]` triangles -> `4 sqrt(3) area / sum of squared edges` (1 = equilateral)."""
    e0, e1, e2 = (tri[..., (i + 1) % 3, :] - tri[..., i, :] for i in range(3))
    n = _cross(e0, -e2)
    area2 = np.sqrt((n * n).sum(-1))
    return 2.0 * np.sqrt(3.0) * area2 / np.maximum((e0 * e0 + e1 * e1 + e2 * e2).sum(-1), 1e-30)


class Remesher:
    """A closed triangle mesh with the local operations of isotropic remeshing."""

    def __init__(self, vertices: np.ndarray, faces: np.ndarray, sizing: np.ndarray):
        self.pos = np.array(vertices, np.float64)
        self.size = np.array(sizing, np.float64)
        self.faces = [list(f) for f in np.asarray(faces).tolist()]
        self.face_alive = [True] * len(self.faces)
        self.vert_alive = [True] * len(self.pos)
        self.vf: list[set[int]] = [set() for _ in range(len(self.pos))]
        for fi, face in enumerate(self.faces):
            for v in face:
                self.vf[v].add(fi)
        self.version = [0] * len(self.pos)
        self.num_vertices = len(self.pos)

    def neighbours(self, v: int) -> set[int]:
        out: set[int] = set()
        for f in self.vf[v]:
            out.update(self.faces[f])
        out.discard(v)
        return out

    def edges(self) -> list[tuple[int, int]]:
        out = set()
        for fi, (a, b, c) in enumerate(self.faces):
            if self.face_alive[fi]:
                out.update(((min(a, b), max(a, b)), (min(b, c), max(b, c)), (min(c, a), max(c, a))))
        return sorted(out)

    # ---- collapse

    def try_collapse(self, u: int, v: int, min_quality: float, max_ratio: float) -> bool:
        """Merges `v` into `u` at their midpoint if topology and geometry allow it."""
        fu, fv = self.vf[u], self.vf[v]
        shared = fu & fv
        if len(shared) != 2:
            return False
        opposite = {w for f in shared for w in self.faces[f] if w != u and w != v}
        nu, nv = self.neighbours(u), self.neighbours(v)
        if (nu & nv) != opposite or len(nu) + len(nv) - 4 < 4:
            return False
        p = 0.5 * (self.pos[u] + self.pos[v])
        size = 0.5 * (self.size[u] + self.size[v])
        ring = np.array(sorted((nu | nv) - {u, v}))
        offsets = self.pos[ring] - p
        limit = max_ratio * 0.5 * (size + self.size[ring])
        if np.any((offsets * offsets).sum(-1) > limit * limit):
            return False
        changed = sorted((fu | fv) - shared)
        ids = np.array([self.faces[f] for f in changed])
        old = self.pos[ids]
        new = old.copy()
        new[(ids == u) | (ids == v)] = p
        n_old, n_new = _normals(old), _normals(new)
        cos = (n_old * n_new).sum(-1) / np.maximum(
            np.sqrt((n_old * n_old).sum(-1) * (n_new * n_new).sum(-1)), 1e-30
        )
        if np.any(cos < 0.5):
            return False
        q_new = _face_quality(new)
        if np.any(q_new < np.minimum(min_quality, _face_quality(old))):
            return False
        for f in shared:
            self.face_alive[f] = False
            for w in self.faces[f]:
                if w != v:
                    self.vf[w].discard(f)
        for f in fv - shared:
            face = self.faces[f]
            face[face.index(v)] = u
            fu.add(f)
        self.vf[v] = set()
        self.vert_alive[v] = False
        self.pos[u] = p
        self.size[u] = size
        self.version[u] += 1
        self.num_vertices -= 1
        return True

    def collapse_short_edges(self, ratio: float = 0.8, min_quality: float = 0.25) -> int:
        """Collapses edges shorter than `ratio` x the target length, shortest first."""

        pos, size = self.pos, self.size

        def key(a: int, b: int) -> float:
            d = pos[a] - pos[b]
            return float(np.sqrt(d @ d) / (0.5 * (size[a] + size[b])))

        heap = []
        for a, b in self.edges():
            k = key(a, b)
            if k < ratio:
                heap.append((round(k, 9), a, b, self.version[a], self.version[b]))
        heapq.heapify(heap)
        done = 0
        while heap:
            _, a, b, va, vb = heapq.heappop(heap)
            if not (self.vert_alive[a] and self.vert_alive[b]):
                continue
            if self.version[a] != va or self.version[b] != vb:
                continue
            if self.try_collapse(a, b, min_quality, 4.0 / 3.0):
                done += 1
                for w in self.neighbours(a):
                    k = key(a, w)
                    if k < ratio:
                        lo, hi = min(a, w), max(a, w)
                        heapq.heappush(
                            heap, (round(k, 9), lo, hi, self.version[lo], self.version[hi])
                        )
        return done

    # ---- flips

    def flip_edges(self) -> int:
        """Flips edges where that brings the valences of the 4 vertices closer to 6."""
        flips = 0
        for a, b in self.edges():
            shared = sorted(self.vf[a] & self.vf[b])
            if len(shared) != 2:
                continue
            f1, f2 = shared
            face1, face2 = self.faces[f1], self.faces[f2]
            # Orient: f1 = (a, b, c), f2 = (b, a, d).
            i = face1.index(a)
            if face1[(i + 1) % 3] != b:
                f1, f2, face1, face2 = f2, f1, face2, face1
                i = face1.index(a)
            c = face1[(i + 2) % 3]
            d = next(w for w in face2 if w != a and w != b)
            if c == d or d in self.neighbours(c):
                continue
            val = {w: len(self.vf[w]) for w in (a, b, c, d)}
            before = sum(abs(val[w] - 6) for w in (a, b, c, d))
            after = abs(val[a] - 7) + abs(val[b] - 7) + abs(val[c] - 5) + abs(val[d] - 5)
            if after >= before or val[a] <= 3 or val[b] <= 3:
                continue
            old = self.pos[np.array([[a, b, c], [b, a, d]])]
            new = self.pos[np.array([[a, d, c], [d, b, c]])]
            n_old, n_new = _normals(old), _normals(new)
            n_old = n_old / np.linalg.norm(n_old, axis=-1, keepdims=True)
            n_new = n_new / np.maximum(np.linalg.norm(n_new, axis=-1, keepdims=True), 1e-30)
            if (n_new[0] @ n_new[1]) < 0.85 or np.min(n_new @ unit(n_old.sum(0))) < 0.85:
                continue
            if _face_quality(new).min() < 0.5 * _face_quality(old).min():
                continue
            self.faces[f1], self.faces[f2] = [a, d, c], [d, b, c]
            self.vf[a].discard(f2)
            self.vf[b].discard(f1)
            self.vf[c].add(f2)
            self.vf[d].add(f1)
            for w in (a, b, c, d):
                self.version[w] += 1
            flips += 1
        return flips

    # ---- compaction and smoothing

    def compact(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns (vertices, faces, sizes) without the removed elements (order kept)."""
        alive = np.flatnonzero(self.vert_alive)
        remap = np.full(len(self.pos), -1)
        remap[alive] = np.arange(len(alive))
        faces = np.array([f for f, ok in zip(self.faces, self.face_alive, strict=True) if ok])
        return self.pos[alive], remap[faces], self.size[alive]
