"""A tiny right hand model for tests: one box per bone, rigidly skinned (not MANO, not the open model).

Rest pose: wrist at the origin, fingers along +x, palm facing -y, thumb on the
-z side (a right hand). Joints are regressed exactly (one-hot rows pick an
unreferenced vertex at each joint); the fingertips are extra vertices.
"""

import numpy as np

from mano_tf.hand_model import HandModel

PARENTS = [-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14]
# MANO joint order: wrist; index 1-3; middle 4-6; pinky 7-9; ring 10-12; thumb 13-15.
_BASES = {
    1: (0.09, -0.025),
    4: (0.095, -0.005),
    10: (0.09, 0.015),
    7: (0.08, 0.033),
    13: (0.025, -0.03),
}
_TIP_ORDER = (13, 1, 4, 10, 7)  # thumb, index, middle, ring, pinky (HandModel.tip_vertex_ids)
_LENGTHS = {1: 0.04, 4: 0.045, 10: 0.042, 7: 0.033, 13: 0.035}


def _box(a: np.ndarray, b: np.ndarray, r: float) -> tuple[np.ndarray, np.ndarray]:
    d = (b - a) / np.linalg.norm(b - a)
    u = np.cross(d, [0.0, 1.0, 0.0])
    u = u / np.linalg.norm(u) if np.linalg.norm(u) > 1e-6 else np.array([0.0, 0.0, 1.0])
    w = np.cross(d, u)
    corners = [p + r * (su * u + sw * w) for p in (a, b) for su in (-1, 1) for sw in (-1, 1)]
    faces = [
        [0, 1, 3],
        [0, 3, 2],
        [4, 6, 7],
        [4, 7, 5],
        [0, 4, 5],
        [0, 5, 1],
        [2, 3, 7],
        [2, 7, 6],
        [0, 2, 6],
        [0, 6, 4],
        [1, 5, 7],
        [1, 7, 3],
    ]
    return np.array(corners), np.array(faces)


def stick_hand_model() -> HandModel:
    joints = np.zeros((16, 3))
    tips = []
    for base in _TIP_ORDER:
        x, z = _BASES[base]
        step = _LENGTHS[base] / 3
        direction = np.array([1.0, 0.0, 0.0]) if base != 13 else np.array([0.6, 0.0, -0.8])
        start = np.array([x, 0.0, z]) if base != 13 else np.array([0.02, 0.0, -0.025])
        for i in range(3):
            joints[base + i] = start + direction * step * 1.4 * i
        tips.append(joints[base + 2] + direction * step * 1.2)
    verts, faces, weights = [], [], []
    segments = [(0, c) for c in _BASES] + [(j, j + 1) for b in _BASES for j in (b, b + 1)]
    segments += [(b + 2, 16 + k) for k, b in enumerate(_TIP_ORDER)]
    points = np.concatenate([joints, np.array(tips)])
    for parent, child in segments:
        corners, box_faces = _box(points[parent], points[child], 0.008 if parent else 0.012)
        faces.append(box_faces + len(verts))
        verts.extend(corners)
        weights.extend([parent] * 8)  # rigidly skinned to the bone's parent joint
    num_box = len(verts)
    verts.extend(joints)  # exact joint regression targets
    verts.extend(tips)
    v = np.array(verts)
    w = np.zeros((len(v), 16))
    w[np.arange(num_box), weights] = 1.0
    w[num_box + np.arange(16), np.arange(16)] = 1.0
    tip_owner = [b + 2 for b in _TIP_ORDER]  # the last joint of each finger
    w[num_box + 16 + np.arange(5), tip_owner] = 1.0
    regressor = np.zeros((16, len(v)))
    regressor[np.arange(16), num_box + np.arange(16)] = 1.0
    shapedirs = np.zeros((len(v), 3, 10))
    shapedirs[:, :, 0] = 0.05 * v  # beta 0 scales the hand by 5 % per unit
    shapedirs[:, 2, 1] = 0.02 * v[:, 0]  # beta 1 bends it sideways, coherently
    return HandModel(
        v_template=v,
        faces=np.concatenate(faces).astype(np.int32),
        shapedirs=shapedirs,
        posedirs=np.zeros((len(v), 3, 135)),
        J_regressor=regressor,
        weights=w,
        parents=np.array(PARENTS, np.int32),
        hands_components=np.eye(45),
        hands_mean=np.zeros(45),
        tip_vertex_ids=num_box + 16 + np.arange(5),
        side="right",
        name="test-stick-hand",
    )
