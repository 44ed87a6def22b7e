"""An independent float64 NumPy MANO forward pass, for tests only.

Written separately from `mano_tf.lbs` on purpose: it reads the raw MANO dict
(`tests.mano_fixtures.random_mano_dict` layout, not a `HandModel`), uses the
unit-axis form of Rodrigues' formula, walks the chain joint by joint with 4x4
homogeneous matrices, and skins with 4x4 matrices. Nothing here is shared with
the code under test.
"""

from __future__ import annotations

import numpy as np

# [16 MANO joints + 5 tips] -> canonical 21 (FreiHAND / OpenPose order), written out here.
CANONICAL_FROM_MANO21 = [0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20]
TIP_VERTEX_IDS = [744, 320, 443, 554, 671]


def rodrigues(axis_angle: np.ndarray) -> np.ndarray:
    """`[..., 3]` -> `[..., 3, 3]`: R = cos t I + sin t [n]x + (1 - cos t) n n^T."""
    aa = np.asarray(axis_angle, dtype=np.float64)
    angle = np.linalg.norm(aa, axis=-1)
    n = aa / np.where(angle > 0, angle, 1.0)[..., None]
    cos, sin = np.cos(angle)[..., None, None], np.sin(angle)[..., None, None]
    cross = np.zeros(aa.shape[:-1] + (3, 3))
    cross[..., 0, 1], cross[..., 0, 2] = -n[..., 2], n[..., 1]
    cross[..., 1, 0], cross[..., 1, 2] = n[..., 2], -n[..., 0]
    cross[..., 2, 0], cross[..., 2, 1] = -n[..., 1], n[..., 0]
    outer = n[..., :, None] * n[..., None, :]
    return cos * np.eye(3) + sin * cross + (1.0 - cos) * outer


def parents_from_kintree(kintree_table: np.ndarray) -> list[int]:
    parents = [int(p) for p in np.asarray(kintree_table)[0]]
    parents[0] = -1
    return parents


def finger_pose(
    data: dict, pose: np.ndarray, use_pca: bool, num_pca_comps: int, flat_hand_mean: bool
) -> np.ndarray:
    """`[B, 48]` full axis-angle pose from `pose` ([B, 48] or [B, 3 + n] with PCA)."""
    pose = np.asarray(pose, dtype=np.float64)
    if use_pca:
        basis = np.asarray(data["hands_components"], dtype=np.float64)[:num_pca_comps]
        fingers = pose[:, 3:] @ basis
    else:
        fingers = pose[:, 3:].copy()
    if not flat_hand_mean:
        fingers = fingers + np.asarray(data["hands_mean"], dtype=np.float64).reshape(1, 45)
    return np.concatenate([pose[:, :3], fingers], axis=1)


def skin(data: dict, betas: np.ndarray, rotmats: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Vertices `[B, V, 3]` and posed joints `[B, 16, 3]` from local rotations `[B, 16, 3, 3]`."""
    betas = np.asarray(betas, dtype=np.float64)
    rotmats = np.asarray(rotmats, dtype=np.float64)
    batch = rotmats.shape[0]
    v_template = np.asarray(data["v_template"], dtype=np.float64)
    shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)[:, :, : betas.shape[1]]
    posedirs = np.asarray(data["posedirs"], dtype=np.float64)
    regressor = np.asarray(data["J_regressor"], dtype=np.float64)
    weights = np.asarray(data["weights"], dtype=np.float64)
    parents = parents_from_kintree(data["kintree_table"])
    num_v = v_template.shape[0]

    shaped = v_template[None] + (shapedirs.reshape(num_v * 3, -1) @ betas.T).T.reshape(
        batch, num_v, 3
    )
    rest_joints = np.stack([regressor @ shaped[b] for b in range(batch)])  # [B, 16, 3]
    feature = (rotmats[:, 1:] - np.eye(3)).reshape(batch, -1)  # [B, 135]
    posed = shaped + (feature @ posedirs.reshape(num_v * 3, -1).T).reshape(batch, num_v, 3)

    world = np.zeros((batch, 16, 4, 4))
    for j, p in enumerate(parents):
        local = np.zeros((batch, 4, 4))
        local[:, :3, :3] = rotmats[:, j]
        local[:, :3, 3] = rest_joints[:, j] - (rest_joints[:, p] if p >= 0 else 0.0)
        local[:, 3, 3] = 1.0
        world[:, j] = local if p < 0 else world[:, p] @ local
    rest_h = np.concatenate([rest_joints, np.zeros((batch, 16, 1))], axis=-1)  # [B, 16, 4]
    relative = world.copy()
    relative[:, :, :, 3] -= np.einsum("bjxy,bjy->bjx", world, rest_h)
    per_vertex = np.einsum("vj,bjxy->bvxy", weights, relative)  # [B, V, 4, 4]
    posed_h = np.concatenate([posed, np.ones((batch, num_v, 1))], axis=-1)
    vertices = np.einsum("bvxy,bvy->bvx", per_vertex, posed_h)[..., :3]
    return vertices, world[:, :, :3, 3]


def mano_forward(
    data: dict,
    betas: np.ndarray,
    pose: np.ndarray | None = None,
    rotmats: np.ndarray | None = None,
    use_pca: bool = False,
    num_pca_comps: int = 6,
    flat_hand_mean: bool = False,
) -> dict[str, np.ndarray]:
    """The whole forward pass: `vertices [B,V,3]`, `joints [B,21,3]`, `joints_mano [B,16,3]`."""
    if rotmats is None:
        full = finger_pose(data, pose, use_pca, num_pca_comps, flat_hand_mean)
        rotmats = rodrigues(full.reshape(-1, 16, 3))
    vertices, joints16 = skin(data, betas, rotmats)
    joints21 = np.concatenate([joints16, vertices[:, TIP_VERTEX_IDS]], axis=1)
    return {
        "vertices": vertices,
        "joints": joints21[:, CANONICAL_FROM_MANO21],
        "joints_mano": joints16,
    }
