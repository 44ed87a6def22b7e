"""The open hand model's implicit surface: signed distances (negative inside).

Tapered capsules with elliptical sections for the phalanges, a rounded slab
for the palm, a wrist stump and a hypothenar pad, each finger joined to the
palm by a smooth union. The mesher samples `hand_sdf` and projects vertices
back onto its zero set (`project`); the rig gives each vertex to the part of
the hand whose surface is nearest (`part_sdfs`).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mano_tf.hand_model import NUM_JOINTS
from mano_tf.open_hand.design import Chain, HandDesign


def _smin(a: np.ndarray, b: np.ndarray, k: float) -> np.ndarray:
    """Polynomial smooth minimum (a union with a fillet of radius about `k`)."""
    h = np.clip(0.5 + 0.5 * (b - a) / k, 0.0, 1.0)
    return b + (a - b) * h - k * h * (1.0 - h)


def _polygon_sdf(p2: np.ndarray, poly: np.ndarray) -> np.ndarray:
    """Signed distance of `[N, 2]` points to a closed polygon `[E, 2]` (negative inside)."""
    dist = np.full(len(p2), np.inf)
    sign = np.ones(len(p2))
    for i in range(len(poly)):
        vi, vj = poly[i], poly[i - 1]
        e = vj - vi
        w = p2 - vi
        t = np.clip((w @ e) / (e @ e), 0.0, 1.0)
        b = w - t[:, None] * e
        dist = np.minimum(dist, (b * b).sum(-1))
        c1 = p2[:, 1] >= vi[1]
        c2 = p2[:, 1] < vj[1]
        c3 = e[0] * w[:, 1] > e[1] * w[:, 0]
        flip = (c1 & c2 & c3) | (~c1 & ~c2 & ~c3)
        sign = np.where(flip, -sign, sign)
    return sign * np.sqrt(dist)


def _round_cone_sdf(p, a, b, ra, rb, dorsal, flat) -> np.ndarray:
    """Tapered capsule from `a` (radius `ra`) to `b` (`rb`), sections flattened along `dorsal`."""
    axis = b - a
    h = np.linalg.norm(axis)
    d = axis / h
    side = np.cross(d, dorsal)
    q = p - a
    t = q @ d
    rho = np.sqrt((q @ side) ** 2 + ((q @ dorsal) / flat) ** 2)
    s = (ra - rb) / h
    c = np.sqrt(1.0 - s * s)
    k = -s * rho + c * t
    near_a = np.sqrt(rho * rho + t * t) - ra
    near_b = np.sqrt(rho * rho + (t - h) ** 2) - rb
    side_d = c * rho + s * t - ra
    return np.where(k < 0.0, near_a, np.where(k > c * h, near_b, side_d))


def _palm_sdf(p: np.ndarray, design: HandDesign) -> np.ndarray:
    """Palm slab + wrist stump + hypothenar pad."""
    d2 = _polygon_sdf(p[:, [0, 2]], design.palm_outline)
    dy = np.abs(p[:, 1] - design.y_mid) - design.palm_half
    q0, q1 = np.maximum(d2, 0.0), np.maximum(dy, 0.0)
    slab = np.sqrt(q0 * q0 + q1 * q1) + np.minimum(np.maximum(d2, dy), 0.0) - design.palm_round
    x0, x1, ry, rz, rr = design.wrist_box
    ell = np.sqrt(((p[:, 1] - design.y_mid) / (ry - rr)) ** 2 + (p[:, 2] / (rz - rr)) ** 2)
    de = (ell - 1.0) * (ry - rr)
    dx = np.abs(p[:, 0] - 0.5 * (x0 + x1)) - (0.5 * (x1 - x0) - rr)
    q0, q1 = np.maximum(de, 0.0), np.maximum(dx, 0.0)
    wrist = np.sqrt(q0 * q0 + q1 * q1) + np.minimum(np.maximum(de, dx), 0.0) - rr
    centre, radii = design.hypothenar_centre, design.hypothenar_radii
    pad = (np.linalg.norm((p - centre) / radii, axis=-1) - 1.0) * radii.min()
    return _smin(_smin(slab, wrist, 0.012), pad, 0.010)


def _chain_sdfs(p: np.ndarray, chain: Chain) -> list[np.ndarray]:
    """The signed distance to each of the 3 segments of a finger."""
    return [
        _round_cone_sdf(
            p,
            chain.points[k],
            chain.points[k + 1] - (chain.radii[3] * chain.dirs[2] if k == 2 else 0.0),
            chain.radii[k],
            chain.radii[k + 1],
            chain.dorsal[k],
            chain.flat,
        )
        for k in range(3)
    ]


def part_sdfs(p: np.ndarray, design: HandDesign) -> np.ndarray:
    """`[16, N]` signed distance to the part of the hand that each joint moves."""
    parts = np.zeros((NUM_JOINTS, len(p)))
    parts[0] = _palm_sdf(p, design)
    for chain in design.chains.values():
        for joint, sdf in zip(chain.joints, _chain_sdfs(p, chain), strict=True):
            parts[joint] = sdf
    return parts


def hand_sdf(p: np.ndarray, design: HandDesign) -> np.ndarray:
    """Signed distance (approximately; negative inside) to the hand surface at `[N, 3]` points."""
    p = np.asarray(p, np.float64)
    palm = _palm_sdf(p, design)
    out = np.full(len(p), np.inf)
    for name, chain in design.chains.items():
        segments = _chain_sdfs(p, chain)
        finger = _smin(_smin(segments[0], segments[1], 0.002), segments[2], 0.002)
        out = np.minimum(out, _smin(palm, finger, 0.011 if name == "thumb" else 0.006))
    return out


def project(p: np.ndarray, sdf: Callable[[np.ndarray], np.ndarray], steps: int = 3) -> np.ndarray:
    """Newton steps along the numerical gradient onto the zero set of `sdf`."""
    eps = 1e-5
    offsets = np.eye(3) * eps
    for _ in range(steps):
        value = sdf(p)
        grad = np.stack(
            [(sdf(p + offsets[c]) - sdf(p - offsets[c])) / (2 * eps) for c in range(3)], axis=-1
        )
        p = p - (value / np.maximum((grad * grad).sum(-1), 1e-12))[:, None] * grad
    return p
