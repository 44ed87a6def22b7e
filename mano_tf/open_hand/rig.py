"""Rigs the open hand mesh: skinning weights and the joint regressor.

Skinning weights come from the part of the hand (palm or phalanx) whose
surface is nearest each vertex, blended across each joint along the bone and
smoothed over the mesh. Each row of the joint regressor is a set of convex
weights of the vertices around a joint that reproduce the joint exactly at
rest, so that the joints follow the surface when the shape changes.
"""

from __future__ import annotations

import numpy as np

from mano_tf.hand_model import MANO_PARENTS, NUM_JOINTS
from mano_tf.open_hand.design import HandDesign
from mano_tf.open_hand.geometry import segment_distance, smoothstep
from mano_tf.open_hand.mesh import edges_of, neighbour_mean
from mano_tf.open_hand.surface import part_sdfs


def _laplacian_smooth(values: np.ndarray, faces: np.ndarray, iterations: int) -> np.ndarray:
    edges = edges_of(faces)
    for _ in range(iterations):
        values = 0.5 * values + 0.5 * neighbour_mean(values, edges, len(values))
    return values


def skinning_weights(vertices: np.ndarray, faces: np.ndarray, design: HandDesign) -> np.ndarray:
    """`[V, 16]` weights: the nearest part, blended along the bone across each joint.

    Each vertex belongs to the part of the hand (palm or a phalanx) whose surface
    is nearest. Across a joint, the weight moves from the parent to the child
    bone with a smoothstep of the distance along the bone (half-width
    `Chain.blend`); palm vertices blend likewise into the nearest finger,
    fading with their distance from that finger's axis. A few Laplacian steps
    over the mesh then smooth the result.
    """
    chains = design.chains
    label = np.argmin(part_sdfs(vertices, design), axis=0)
    weights = np.zeros((len(vertices), NUM_JOINTS))
    for chain in chains.values():
        for k, joint in enumerate(chain.joints):
            sel = np.flatnonzero(label == joint)
            p = vertices[sel]
            s1 = smoothstep(-chain.blend[k], chain.blend[k], (p - chain.points[k]) @ chain.dirs[k])
            if k < 2:
                b = chain.blend[k + 1]
                s2 = smoothstep(-b, b, (p - chain.points[k + 1]) @ chain.dirs[k + 1])
                child = chain.joints[k + 1]
            else:
                s2, child = np.zeros_like(s1), joint
            np.add.at(weights, (sel, MANO_PARENTS[joint]), 1.0 - s1)
            np.add.at(weights, (sel, joint), s1 * (1.0 - s2))
            np.add.at(weights, (sel, child), s1 * s2)
    sel = np.flatnonzero(label == 0)
    p = vertices[sel]
    names = list(chains)
    dist = np.stack([segment_distance(p, chains[n].points[0], chains[n].points[1]) for n in names])
    nearest = np.argmin(dist, axis=0)
    for f, name in enumerate(names):
        chain = chains[name]
        m = nearest == f
        q = p[m] - chain.points[0]
        t = q @ chain.dirs[0]
        rho = np.linalg.norm(q - t[:, None] * chain.dirs[0], axis=-1)
        s = smoothstep(-chain.blend[0], chain.blend[0], t)
        s *= smoothstep(1.8 * chain.radii[0], 1.1 * chain.radii[0], rho)
        weights[sel[m], 0] += 1.0 - s
        weights[sel[m], chain.joints[0]] += s
    weights = _laplacian_smooth(weights, faces, 6)
    weights[weights < 1e-3] = 0.0
    return weights / weights.sum(-1, keepdims=True)


def _closest_convex_weights(points: np.ndarray, target: np.ndarray, prior: np.ndarray):
    """Weights `w >= 0`, `sum w = 1`, `w @ points = target`, near `prior`; None if none found.

    Minimises `sum (w - w0)^2 / w0` (`w0` = normalised `prior`) under the two
    equality constraints; points whose weight comes out negative are dropped
    and the problem solved again (a simple active set).
    """
    keep = np.ones(len(points), bool)
    b = np.append(target, 1.0)
    for _ in range(len(points)):
        if keep.sum() < 4:
            return None
        w0 = np.where(keep, prior, 0.0)
        w0 /= w0.sum()
        a = np.concatenate([points.T, np.ones((1, len(points)))])  # [4, n]
        w0a = w0[:, None] * a.T  # [n, 4]
        gram = a @ w0a
        if np.linalg.cond(gram) > 1e12:
            return None
        w = w0 + w0a @ np.linalg.solve(gram, b - a @ w0)
        w[~keep] = 0.0
        if w.min() >= 0.0:
            return w
        keep &= w > 0.0
    return None


def joint_regressor(vertices: np.ndarray, joints: np.ndarray) -> np.ndarray:
    """`[16, V]`: per joint, convex weights of its nearest vertices that give the joint exactly.

    The weights stay as close as possible (in a weighted least-squares sense)
    to a Gaussian of the distance to the joint, subject to summing to one and
    reproducing the joint's rest location; the neighbourhood grows until they
    are all non-negative. Such rows follow the surface when the shape changes.
    """
    regressor = np.zeros((NUM_JOINTS, len(vertices)))
    for j, joint in enumerate(joints):
        dist = np.linalg.norm(vertices - joint, axis=-1)
        order = np.argsort(dist, kind="stable")
        best = None
        for count in (16, 24, 32, 48, 64):
            ids = order[:count]
            prior = np.exp(-((dist[ids] / dist[ids].max()) ** 2))
            w = _closest_convex_weights(vertices[ids], joint, prior)
            if w is not None and (best is None or (w > 0).sum() > (best[1] > 0).sum()):
                best = (ids, w)
            if best is not None and (best[1] > 0).sum() >= 12:
                break
        if best is None:
            raise RuntimeError(f"no convex joint regressor found for joint {j}")
        regressor[j, best[0]] = best[1]
    return regressor
