"""The open hand model's shape and pose blend shapes, designed rather than learned.

Betas 1..9 are designed deformations of the palm and the fingers (what each
one does is listed in the `mano_tf.open_hand` docstring and docs/open_hand.md);
each is blended over the skin with the skinning weights so that the surface
stays smooth across the joints. The pose blend shapes are small: a knuckle
bulge and a palm-side crease on flexion.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np

from mano_tf.hand_model import MANO_PARENTS, NUM_BETAS, NUM_JOINTS
from mano_tf.open_hand.design import Chain, HandDesign
from mano_tf.open_hand.geometry import smoothstep


def _skew(a: np.ndarray) -> np.ndarray:
    """`[3]` -> `[3, 3]` cross-product matrix `K` with `K @ x = a x x`."""
    x, y, z = a
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


def _chain_growth(chain: Chain, scale: float) -> np.ndarray:
    """`[4, 3]` displacements of a chain's points when every bone grows by `scale`."""
    steps = scale * chain.lengths[:, None] * chain.dirs
    return np.concatenate([np.zeros((1, 3)), np.cumsum(steps, axis=0)])


@dataclasses.dataclass(frozen=True)
class _ShapeField:
    """One designed deformation (one beta); `shape_blend_shapes` turns it into vertex offsets.

    Attributes:
        palm: `[N, 3]` points -> `[N, 3]` displacements of the palm.
        points: per finger, `[4, 3]` displacements of its 3 joints and its tip.
        radial: per finger, `[4]` relative change of the finger's radius at those points.
    """

    palm: Callable[[np.ndarray], np.ndarray]
    points: dict[str, np.ndarray]
    radial: dict[str, np.ndarray]


def _shape_fields(design: HandDesign) -> list[_ShapeField]:
    """The designed deformations of betas 1..9 (beta 0 is a uniform scale)."""
    chains = design.chains
    wrist = design.joints[0]
    names = list(chains)
    zc = 0.5 * (chains["index"].points[0, 2] + chains["pinky"].points[0, 2])
    x_mcp = chains["middle"].points[0, 0]

    def field(palm=None, points=None, radial=None) -> _ShapeField:
        palm = palm or (lambda p: np.zeros_like(p))
        pts = {n: np.repeat(palm(chains[n].points[:1]), 4, axis=0) for n in names}
        for n, value in (points or {}).items():
            pts[n] = pts[n] + value
        rad = {n: np.zeros(4) for n in names}
        rad.update(radial or {})
        return _ShapeField(palm, pts, rad)

    def palm_width(p):
        ramp = np.clip(0.5 + 0.5 * (wrist[0] - p[:, 0]) / (wrist[0] - x_mcp), 0.5, 1.0)
        return np.stack([0 * ramp, 0 * ramp, 0.06 * (p[:, 2] - zc) * ramp], axis=-1)

    def palm_length(p):
        dx = 0.05 * np.minimum(p[:, 0] - wrist[0], 0.0)
        return np.stack([dx, 0 * dx, 0 * dx], axis=-1)

    def hand_thickness(p):
        dy = 0.08 * (p[:, 1] - design.y_mid)
        return np.stack([0 * dy, dy, 0 * dy], axis=-1)

    long_fingers = ("index", "middle", "ring", "pinky")
    return [
        field(palm=palm_width),
        field(palm=palm_length),
        field(points={n: _chain_growth(chains[n], 0.06) for n in long_fingers}),
        field(points={"thumb": _chain_growth(chains["thumb"], 0.06)}),
        field(
            radial={n: np.array([0.0 if n == "thumb" else 0.07, 0.07, 0.07, 0.07]) for n in names}
        ),
        field(palm=hand_thickness),
        field(
            points={
                "index": _chain_growth(chains["index"], 0.03),
                "ring": _chain_growth(chains["ring"], -0.03),
            }
        ),
        field(points={"pinky": _chain_growth(chains["pinky"], 0.07)}),
        field(
            radial={n: np.array([0.0 if n == "thumb" else 0.05, 0.0, -0.05, -0.08]) for n in names}
        ),
    ]


def shape_blend_shapes(vertices: np.ndarray, weights: np.ndarray, design: HandDesign) -> np.ndarray:
    """`[V, 3, 10]` shape blend shapes (their meanings: the `mano_tf.open_hand` docstring).

    Beta 0 scales about the wrist. For the others, each bone's displacement
    field (the palm's field, or along a phalanx the interpolation of its end
    displacements plus a radial scaling) is blended with the skinning weights,
    so the surface stays smooth across the joints.
    """
    shapedirs = np.zeros((len(vertices), 3, NUM_BETAS))
    shapedirs[:, :, 0] = 0.05 * (vertices - design.joints[0])
    for beta, spec in enumerate(_shape_fields(design), start=1):
        offsets = weights[:, :1] * spec.palm(vertices)
        for name, chain in design.chains.items():
            moved, radial = spec.points[name], spec.radial[name]
            for k, joint in enumerate(chain.joints):
                q = vertices - chain.points[k]
                t = q @ chain.dirs[k]
                frac = np.clip(t / chain.lengths[k], 0.0, 1.0)[:, None]
                across = q - t[:, None] * chain.dirs[k]
                eps = radial[k] + frac * (radial[k + 1] - radial[k])
                bone = moved[k] + frac * (moved[k + 1] - moved[k]) + eps * across
                offsets += weights[:, joint : joint + 1] * bone
        shapedirs[:, :, beta] = offsets
    return shapedirs


def _flexion_feature(axis: np.ndarray) -> np.ndarray:
    """`[9]` linear functional of `(R - I)` (row-major) equal to `sin t + 1 - cos t`
    for a rotation by `t` about the unit `axis`."""
    k = _skew(axis)
    return (0.5 * (k + k @ k)).reshape(-1)


def pose_blend_shapes(vertices: np.ndarray, weights: np.ndarray, design: HandDesign) -> np.ndarray:
    """`[V, 3, 135]` pose blend shapes: knuckle bulge and crease on flexion.

    For each finger joint, the skin within about 6 mm of the joint moves along
    the radial direction of the bone, outwards on the back (1 mm per unit of
    `sin t + 1 - cos t`, i.e. about 2 mm at 90 degrees of flexion) and inwards
    on the palm side (0.6 mm per unit), in proportion to the feature
    `_flexion_feature` of the joint's rotation. The thumb's CMC joint has none.
    """
    posedirs = np.zeros((len(vertices), 3, 9 * (NUM_JOINTS - 1)))
    for chain in design.chains.values():
        for k, joint in enumerate(chain.joints):
            if joint == 13:
                continue
            q = vertices - chain.points[k]
            t = q @ chain.dirs[k]
            across = q - t[:, None] * chain.dirs[k]
            rho = np.linalg.norm(across, axis=-1)
            unit = across / np.maximum(rho, 1e-9)[:, None]
            sigma = 0.6 * chain.radii[k]
            near = np.exp(-0.5 * (t / sigma) ** 2) * smoothstep(
                1.8 * chain.radii[k], 1.3 * chain.radii[k], rho
            )
            related = [joint, MANO_PARENTS[joint]] + ([chain.joints[k + 1]] if k < 2 else [])
            near *= np.clip(weights[:, related].sum(-1), 0.0, 1.0)
            side = unit @ chain.dorsal[k]
            amount = 0.0010 * np.maximum(side, 0.0) ** 2 - 0.0006 * np.maximum(-side, 0.0) ** 2
            offset = (near * amount)[:, None] * unit  # [V, 3]
            cols = slice(9 * (joint - 1), 9 * joint)
            posedirs[:, :, cols] = offset[:, :, None] * _flexion_feature(chain.flex_axes[k])
    return posedirs
