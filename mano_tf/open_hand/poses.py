"""Poses of the open hand model: the named poses, the relaxed mean and the PCA pose basis.

Named poses are a small table of finger flexions and spreads, turned into
MANO axis-angles about each finger's own joint axes (`named_pose`, which the
demo, the tests and the figures use at run time); "relaxed" is the model's
`hands_mean`. The PCA basis (`hands_components`) comes from plausible random
poses drawn with a fixed seed, the only randomness in the generator.
"""

from __future__ import annotations

import numpy as np

from mano_tf.hand_model import NUM_JOINTS
from mano_tf.open_hand.design import HandDesign, hand_design

# Seed of the random poses that the PCA basis is computed from (the only randomness).
PCA_SEED = 20250101
NUM_PCA_SAMPLES = 4000

NAMED_POSES = ("rest", "relaxed", "fist", "pointing", "ok", "spread")

# Per finger: flexion (rad) of its 3 joints, then abduction of its base joint (rad,
# towards the thumb). The thumb is given by the axis-angle of its CMC joint (rest
# frame) and the flexion of its MCP and IP joints.
_POSE_TABLE = {
    "relaxed": {
        "index": (0.20, 0.30, 0.20, 0.0),
        "middle": (0.25, 0.35, 0.22, 0.0),
        "ring": (0.30, 0.40, 0.25, 0.0),
        "pinky": (0.35, 0.45, 0.25, 0.0),
        "thumb": ((0.05, -0.10, 0.10), 0.15, 0.20),
    },
    "fist": {
        "index": (1.45, 1.65, 0.90, 0.0),
        "middle": (1.50, 1.70, 0.90, 0.0),
        "ring": (1.50, 1.70, 0.90, 0.0),
        "pinky": (1.50, 1.70, 0.90, 0.0),
        "thumb": ((0.58, -0.27, 0.30), -0.04, 1.43),
    },
    "pointing": {
        "index": (0.0, 0.05, 0.05, 0.0),
        "middle": (1.50, 1.70, 0.90, 0.0),
        "ring": (1.50, 1.70, 0.90, 0.0),
        "pinky": (1.50, 1.70, 0.90, 0.0),
        "thumb": ((0.58, -0.27, 0.30), -0.04, 1.43),
    },
    "ok": {
        "index": (0.67, 0.97, 0.59, 0.0),
        "middle": (0.20, 0.20, 0.10, 0.0),
        "ring": (0.30, 0.25, 0.10, -0.05),
        "pinky": (0.40, 0.30, 0.15, -0.15),
        "thumb": ((0.20, -0.04, 0.12), 0.43, 0.38),
    },
    "spread": {
        "index": (0.0, 0.0, 0.0, 0.25),
        "middle": (0.0, 0.0, 0.0, 0.03),
        "ring": (0.0, 0.0, 0.0, -0.20),
        "pinky": (0.0, 0.0, 0.0, -0.40),
        "thumb": ((0.0, 0.30, 0.0), 0.0, 0.0),
    },
}


def _pose_from_table(entry: dict, design: HandDesign) -> np.ndarray:
    """`[45]` finger-joint axis-angles from a `_POSE_TABLE` entry."""
    pose = np.zeros((NUM_JOINTS, 3))
    for name, chain in design.chains.items():
        if name == "thumb":
            cmc, mcp, ip = entry["thumb"]
            pose[chain.joints[0]] = cmc
            pose[chain.joints[1]] = mcp * chain.flex_axes[1]
            pose[chain.joints[2]] = ip * chain.flex_axes[2]
        else:
            *flex, spread = entry[name]
            for k, joint in enumerate(chain.joints):
                pose[joint] = flex[k] * chain.flex_axes[k]
            pose[chain.joints[0]] += spread * chain.dorsal[0]
    return pose[1:].reshape(-1)


def named_pose(name: str, side: str = "right") -> np.ndarray:
    """A named pose of the open hand model, as MANO axis-angles.

    The values are final rotations (use `ManoLayer(..., flat_hand_mean=True)`;
    `hands_mean` is not to be added) with a zero global orientation.

    Args:
        name: "rest" (the flat hand), "relaxed" (the model's `hands_mean`),
            "fist", "pointing" (index extended, the others curled), "ok" (thumb
            tip on the index tip, the other fingers loosely extended) or
            "spread" (fingers and thumb spread apart).
        side: "right" or "left" (the mirrored pose, for the mirrored model).

    Returns:
        `[48]` float64: global orientation (3) then 15 joints x 3, MANO's order.

    Raises:
        ValueError: unknown name or side.
    """
    if name not in NAMED_POSES:
        raise ValueError(f"name must be one of {NAMED_POSES}. Received: name={name!r}")
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left'. Received: side={side!r}")
    pose = np.zeros(3 * NUM_JOINTS)
    if name != "rest":
        pose[3:] = _pose_from_table(_POSE_TABLE[name], hand_design())
    if side == "left":
        pose = pose * np.tile([1.0, -1.0, -1.0], NUM_JOINTS)
    return pose


def _pose_samples(design: HandDesign, rng: np.random.Generator, count: int) -> np.ndarray:
    """`[count, 45]` plausible finger poses: correlated curls, spreads, thumb motion."""
    chains = design.chains
    grasp = rng.uniform(0.0, 1.0, count)
    pose = np.zeros((count, NUM_JOINTS, 3))
    for name in ("index", "middle", "ring", "pinky"):
        chain = chains[name]
        curl = np.clip(grasp + rng.normal(0.0, 0.3, count), -0.1, 1.0)
        for k, scale in enumerate((1.45, 1.7, 0.9)):
            flex = curl * scale + rng.normal(0.0, 0.08, count)
            pose[:, chain.joints[k]] = flex[:, None] * chain.flex_axes[k]
        spread = rng.normal(0.0, 0.12, count) * (1.0 - 0.6 * np.clip(curl, 0.0, 1.0))
        twist = rng.normal(0.0, 0.04, count)
        pose[:, chain.joints[0]] += (
            spread[:, None] * chain.dorsal[0] + twist[:, None] * chain.dirs[0]
        )
    thumb = chains["thumb"]
    cmc_fist = np.asarray(_POSE_TABLE["fist"]["thumb"][0])
    cmc_spread = np.asarray(_POSE_TABLE["spread"]["thumb"][0])
    oppose = np.clip(grasp + rng.normal(0.0, 0.3, count), 0.0, 1.0)
    opening = rng.uniform(0.0, 1.0, count) * (1.0 - oppose)
    pose[:, 13] = oppose[:, None] * cmc_fist + opening[:, None] * cmc_spread
    pose[:, 13] += rng.normal(0.0, 0.08, (count, 3))
    for k, scale in ((1, 0.6), (2, 0.7)):
        flex = oppose * scale + rng.normal(0.0, 0.15, count)
        pose[:, thumb.joints[k]] = flex[:, None] * thumb.flex_axes[k]
    samples = pose[:, 1:].reshape(count, -1)
    return samples + rng.normal(0.0, 0.02, samples.shape)


def pose_pca(design: HandDesign, mean: np.ndarray) -> np.ndarray:
    """`[45, 45]` orthonormal principal directions (rows) of sample poses about `mean`."""
    rng = np.random.default_rng(PCA_SEED)
    samples = _pose_samples(design, rng, NUM_PCA_SAMPLES) - mean
    moments = samples.T @ samples / len(samples)
    values, vectors = np.linalg.eigh(moments)
    components = vectors[:, np.argsort(-values, kind="stable")].T
    # A deterministic sign: the largest entry of each component is positive.
    largest = np.take_along_axis(components, np.argmax(np.abs(components), axis=1)[:, None], 1)
    return components * np.sign(largest)
