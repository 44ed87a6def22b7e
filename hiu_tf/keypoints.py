"""Keypoint conventions: the canonical 21-joint order, the skeleton, and maps from other orders.

Canonical order (FreiHAND / OpenPose / MediaPipe), used everywhere inside the project:
0 wrist; 1-4 thumb (CMC, MCP, IP, tip); 5-8 index (MCP, PIP, DIP, tip);
9-12 middle; 13-16 ring; 17-20 pinky (MCP, PIP, DIP, tip).
The datasets' orders are mapped to this one here (RHD, STB); MANO's joint order is
defined with the hand model (`mano_tf/hand_model.py`, which cannot import this
package) and re-exported here. `docs/references.md` lists them side by side.
"""

from __future__ import annotations

# [16 MANO joints + 5 tips] -> canonical order; defined with the hand model (mano_tf).
from mano_tf.hand_model import MANO_TO_CANONICAL as MANO_TO_CANONICAL

NUM_KEYPOINTS = 21
FINGERS = ("thumb", "index", "middle", "ring", "pinky")

KEYPOINT_NAMES = ("wrist",) + tuple(
    f"{finger}_{part}"
    for finger, parts in zip(
        FINGERS,
        [("cmc", "mcp", "ip", "tip")] + [("mcp", "pip", "dip", "tip")] * 4,
        strict=True,
    )
    for part in parts
)

# The skeleton S of the paper: 20 (parent, child) bones, wrist -> finger bases, then along fingers.
BONES = tuple(
    (0 if k == 0 else 1 + 4 * f + k - 1, 1 + 4 * f + k) for f in range(5) for k in range(4)
)
BONE_PARENTS = tuple(p for p, _ in BONES)
BONE_CHILDREN = tuple(c for _, c in BONES)
# Parent of each keypoint in the canonical order (-1 for the wrist).
KEYPOINT_PARENTS = (-1,) + BONE_PARENTS
FINGERTIPS = (4, 8, 12, 16, 20)
# The middle finger's MCP -> PIP bone: the reference bone of the hand3d (RHD/STB) protocol.
REFERENCE_BONE = (9, 10)
# The middle finger's MCP: the point whose camera-frame position the regressor head
# predicts (`HIUModel`'s `camera[:, 1:]`), and whose depth the mesh-health metrics compare.
ANCHOR_KEYPOINT = 9


# RHD (lmb-freiburg/hand3d): wrist, then each finger tip -> MCP (thumb, index, middle, ring,
# pinky). canonical[i] = rhd[RHD_TO_CANONICAL[i]].
RHD_TO_CANONICAL = (0,) + tuple(1 + 4 * f + (3 - k) for f in range(5) for k in range(4))
# STB: 0 palm; 1-4 pinky 01-04; 5-8 ring; 9-12 middle; 13-16 index; 17-20 thumb (01 = base).
# canonical[i] = stb[STB_TO_CANONICAL[i]].
STB_TO_CANONICAL = (0,) + tuple(1 + 4 * (4 - f) + k for f in range(5) for k in range(4))

# Colours (BGR, 0-255) per finger for drawing: thumb, index, middle, ring, pinky.
FINGER_COLORS_BGR = (
    (0, 0, 255),
    (0, 165, 255),
    (0, 200, 0),
    (255, 128, 0),
    (200, 0, 200),
)


def finger_of_keypoint(index: int) -> int:
    """Returns the finger (0 thumb .. 4 pinky) of a keypoint, or -1 for the wrist."""
    if not 0 <= index < NUM_KEYPOINTS:
        raise ValueError(f"index must be in [0, {NUM_KEYPOINTS}). Received: index={index}")
    return -1 if index == 0 else (index - 1) // 4
