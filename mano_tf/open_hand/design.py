"""The designed right hand that the open hand model is generated from, as a frozen record.

The skeleton (joint centres; per finger a chain of points with radii, bone
directions and joint axes), the palm's outline and the parts around it are
chosen by hand, in MANO's rest frame (metres). Every later step of the
generator (surface, mesh, rig, blend shapes, poses) reads them from one
`HandDesign`: a frozen dataclass with read-only arrays, so fields are named
and typed, and no step can change what the next one sees.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping

import numpy as np

from mano_tf.hand_model import NUM_JOINTS
from mano_tf.open_hand.geometry import unit

# Fingers in the order of HandModel.tip_vertex_ids, and their MANO joints (base to tip).
FINGERS = ("thumb", "index", "middle", "ring", "pinky")
FINGER_JOINTS = {
    "thumb": (13, 14, 15),
    "index": (1, 2, 3),
    "middle": (4, 5, 6),
    "ring": (10, 11, 12),
    "pinky": (7, 8, 9),
}


def _in_plane(angle_deg: float, palmar_deg: float) -> np.ndarray:
    """Unit direction `angle_deg` from -x towards +z, tilted `palmar_deg` towards -y."""
    a, p = np.radians(angle_deg), np.radians(palmar_deg)
    return np.array([-np.cos(a) * np.cos(p), -np.sin(p), np.sin(a) * np.cos(p)])


def _freeze_arrays(record) -> None:
    """Makes the NumPy arrays among a dataclass's fields read-only: no step may edit the design."""
    for field in dataclasses.fields(record):
        value = getattr(record, field.name)
        if isinstance(value, np.ndarray):
            value.flags.writeable = False


@dataclasses.dataclass(frozen=True, eq=False)
class Chain:
    """One finger: 3 joints (MANO ids), their points, the fingertip, radii and frames.

    Build it with `Chain.build`, which derives the bone directions and frames.

    Attributes:
        name: finger name.
        joints: the 3 MANO joint ids, base to tip.
        points: `[4, 3]` the 3 joint centres and the fingertip (on the skin).
        radii: `[4]` half-width of the finger at those points (m).
        flat: half-thickness / half-width of the elliptical sections.
        dirs: `[3, 3]` unit bone directions (joint k -> joint k+1 / tip).
        dorsal: `[3, 3]` unit nail-side direction of each bone (orthogonal to it).
        flex_axes: `[3, 3]` unit flexion axis of each joint: a positive rotation
            about it bends the finger towards its pad.
        lengths: `[3]` bone lengths (m).
        blend: `[3]` half-width (m) of the skinning blend across each joint.
    """

    name: str
    joints: tuple[int, int, int]
    points: np.ndarray
    radii: np.ndarray
    flat: float
    dirs: np.ndarray
    dorsal: np.ndarray
    flex_axes: np.ndarray
    lengths: np.ndarray
    blend: np.ndarray

    def __post_init__(self):
        _freeze_arrays(self)

    @classmethod
    def build(cls, name, joints, points, radii, flat, up, blend) -> Chain:
        """A chain through `points`, its nail side towards `up` (one vector, or one per bone)."""
        points = np.asarray(points, np.float64)
        dirs = unit(np.diff(points, axis=0))
        up = np.broadcast_to(np.asarray(up, np.float64), (3, 3))
        dorsal = unit(up - (up * dirs).sum(-1, keepdims=True) * dirs)
        return cls(
            name=name,
            joints=tuple(joints),
            points=points,
            radii=np.asarray(radii, np.float64),
            flat=float(flat),
            dirs=dirs,
            dorsal=dorsal,
            flex_axes=unit(np.cross(dorsal, dirs)),
            lengths=np.linalg.norm(np.diff(points, axis=0), axis=-1),
            blend=np.asarray(blend, np.float64),
        )


@dataclasses.dataclass(frozen=True, eq=False)
class HandDesign:
    """The designed right hand, in MANO's rest frame (metres); arrays are read-only.

    Attributes:
        joints: `[16, 3]` joint centres, MANO's order.
        tips: `[5, 3]` fingertips on the skin, in the order of `FINGERS`.
        chains: the fingers by name, in the order index, middle, ring, pinky,
            thumb (the order in which the generator visits them).
        y_mid: mid-plane of the palm (the back of the hand is at +y).
        palm_outline: `[E, 2]` core outline of the palm slab in (x, z); the
            skin is this polygon grown by `palm_round` (and `palm_half` along y).
        palm_half: half-thickness of the slab's core.
        palm_round: rounding radius of the slab.
        wrist_box: the wrist stump: x0, x1, ry, rz, rounding.
        hypothenar_centre: `[3]` centre of the ellipsoidal hypothenar pad.
        hypothenar_radii: `[3]` its radii.
    """

    joints: np.ndarray
    tips: np.ndarray
    chains: Mapping[str, Chain]
    y_mid: float
    palm_outline: np.ndarray
    palm_half: float
    palm_round: float
    wrist_box: tuple[float, float, float, float, float]
    hypothenar_centre: np.ndarray
    hypothenar_radii: np.ndarray

    def __post_init__(self):
        _freeze_arrays(self)
        object.__setattr__(self, "chains", types.MappingProxyType(dict(self.chains)))


def hand_design() -> HandDesign:
    """The designed right hand: joints, fingers, palm outline and parts (MANO frame, m)."""
    y_mid = 0.002  # mid-plane of the palm (back of the hand at +y)
    wrist = np.array([0.088, y_mid, 0.0])
    chains = {}
    # name: (MCP, direction angle (deg, towards the thumb), segment lengths, radii)
    fingers = {
        "index": ((0.004, 0.003, 0.0305), 7.0, (0.039, 0.023, 0.021), (0.0095, 0.0088, 0.0079, 0.0070)),
        "middle": ((0.000, 0.004, 0.0085), 1.5, (0.044, 0.027, 0.022), (0.0097, 0.0091, 0.0081, 0.0072)),
        "ring": ((0.004, 0.003, -0.0125), -4.5, (0.041, 0.026, 0.021), (0.0092, 0.0085, 0.0076, 0.0068)),
        "pinky": ((0.013, 0.001, -0.0315), -11.0, (0.032, 0.019, 0.019), (0.0083, 0.0075, 0.0068, 0.0061)),
    }  # fmt: skip
    for name, (mcp, angle, lengths, radii) in fingers.items():
        d = _in_plane(angle, 0.0)
        points = [np.asarray(mcp)]
        for length in lengths:
            points.append(points[-1] + length * d)
        chains[name] = Chain.build(
            name, FINGER_JOINTS[name], points, radii, 0.88, (0.0, 1.0, 0.0), (0.008, 0.004, 0.004)
        )
    # The thumb: CMC inside the thenar, the metacarpal abducted 42 degrees and tilted
    # towards the palm side; its nail faces up and outwards (rotated 55 degrees).
    cmc = np.array([0.066, -0.008, 0.020])
    thumb_dirs = [_in_plane(42.0, 12.0), _in_plane(30.0, 5.0), _in_plane(22.0, 3.0)]
    points = [cmc]
    for length, d in zip((0.040, 0.031, 0.027), thumb_dirs, strict=True):
        points.append(points[-1] + length * d)
    outward = unit(np.cross([0.0, 1.0, 0.0], thumb_dirs[1]))  # in the palm plane, away
    nail = np.cos(np.radians(55.0)) * np.array([0.0, 1.0, 0.0]) + np.sin(np.radians(55.0)) * outward
    chains["thumb"] = Chain.build(
        "thumb", FINGER_JOINTS["thumb"], points, (0.0125, 0.0100, 0.0095, 0.0080), 0.85, nail,
        (0.012, 0.006, 0.005),
    )  # fmt: skip

    joints = np.zeros((NUM_JOINTS, 3))
    joints[0] = wrist
    tips = np.zeros((5, 3))
    for f, name in enumerate(FINGERS):
        chain = chains[name]
        joints[list(chain.joints)] = chain.points[:3]
        tips[f] = chain.points[3]
    # Core outline of the palm slab in (x, z); the skin is this polygon grown by the
    # slab's rounding radius (and the core's half-thickness along y).
    palm_outline = np.array(
        [
            [0.078, 0.012],
            [0.040, 0.0295],
            [0.006, 0.0295],
            [0.001, 0.0085],
            [0.005, -0.0125],
            [0.014, -0.0315],
            [0.032, -0.0325],
            [0.078, -0.018],
        ]
    )
    return HandDesign(
        joints=joints,
        tips=tips,
        chains=chains,
        y_mid=y_mid,
        palm_outline=palm_outline,
        palm_half=0.0035,
        palm_round=0.0095,
        wrist_box=(0.066, 0.104, 0.0155, 0.0245, 0.008),
        hypothenar_centre=np.array([0.047, -0.006, -0.023]),
        hypothenar_radii=np.array([0.028, 0.0095, 0.0115]),
    )
