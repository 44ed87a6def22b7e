"""Linear blend skinning for MANO-style models, as pure TensorFlow functions.

The order of operations follows smplx `lbs.py` (vchoutas/smplx, `smplx/lbs.py`):

1. `v_shaped = v_template + shapedirs . betas`
2. `J = J_regressor . v_shaped`
3. pose blend shapes from `(R_j - I)` of the non-root joints
4. the rigid kinematic chain `G_j = G_parent(j) [R_j | J_j - J_parent(j)]`
5. skinning `v = sum_j w_vj A_j [v_posed; 1]`, `A_j = G_j [I | -J_j]`

Letters in shape comments: B batch, V vertices, J joints, S shape coefficients,
P = 9 (J - 1) pose features. Units are those of the model (metres for ours).
All functions work in the dtype of their float inputs; model arrays given as
NumPy are converted to that dtype.

Unlike smplx, `batch_rigid_transform` returns `[B, J, 3, 4]` transforms (the
constant last row `[0, 0, 0, 1]` is dropped), and the chain is evaluated one
tree *level* at a time (all joints of the same depth in one batched product:
3 steps for MANO instead of 15). Products of 3x3 blocks are written as
broadcast multiply-and-sum rather than batched matmuls, which are several
times slower on CPU for such tiny matrices; XLA fuses either form.
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf


def _to_tensor(value, dtype: tf.DType | None, name: str) -> tf.Tensor:
    value = tf.convert_to_tensor(value, name=name)
    if dtype is not None and value.dtype != dtype:
        value = tf.cast(value, dtype)
    return value


def _check_shape(value: tf.Tensor, name: str, expected: Sequence[int | None], shown: str) -> None:
    """Raises ValueError unless the static shape of `value` matches `expected` (None: any)."""
    shape = value.shape
    if shape.rank is None:
        return
    dims = shape.as_list()
    if len(dims) != len(expected) or any(
        e is not None and d is not None and d != e for d, e in zip(dims, expected, strict=True)
    ):
        raise ValueError(f"{name} must have shape {shown}. Received: {name}.shape={tuple(dims)}")


# Products of many tiny (3x3) matrices are written as broadcast multiply-and-sum:
# on CPU a BatchMatMul over thousands of 3x3 blocks is several times slower.
def _matmul3(a: tf.Tensor, b: tf.Tensor) -> tf.Tensor:
    """`[..., 3, 3] @ [..., 3, 3]`: out[..., r, c] = sum_k a[..., r, k] b[..., k, c]."""
    return tf.reduce_sum(a[..., :, :, tf.newaxis] * b[..., tf.newaxis, :, :], axis=-2)


def _matvec3(a: tf.Tensor, x: tf.Tensor) -> tf.Tensor:
    """`[..., R, C] @ [..., C]`: out[..., r] = sum_c a[..., r, c] x[..., c]."""
    return tf.reduce_sum(a * x[..., tf.newaxis, :], axis=-1)


def _static_dim(value: tf.Tensor, axis: int) -> int | None:
    shape = value.shape
    return None if shape.rank is None else shape[axis]


def _check_parents(parents: Sequence[int]) -> tuple[int, ...]:
    try:
        parents = tuple(int(p) for p in parents)
    except TypeError as e:
        raise ValueError(
            f"parents must be a static sequence of ints. Received: parents={parents!r}"
        ) from e
    if not parents or parents[0] != -1 or any(not 0 <= p < i for i, p in enumerate(parents) if i):
        raise ValueError(
            "parents must be -1 for joint 0 and name an earlier joint for every other joint. "
            f"Received: parents={list(parents)}"
        )
    return parents


def depth_levels(parents: Sequence[int]) -> tuple[tuple[int, ...], ...]:
    """Groups the joints of a kinematic tree by depth.

    Args:
        parents: `[J]` static parent index per joint, -1 for the root (joint 0),
            otherwise an earlier joint.

    Returns:
        One tuple of joint ids per depth, root first. For MANO:
        `((0,), (1, 4, 7, 10, 13), (2, 5, 8, 11, 14), (3, 6, 9, 12, 15))`.

    Raises:
        ValueError: `parents` is not a valid tree in topological order.
    """
    parents = _check_parents(parents)
    depth = [0] * len(parents)
    for j in range(1, len(parents)):
        depth[j] = depth[parents[j]] + 1
    return tuple(
        tuple(j for j in range(len(parents)) if depth[j] == d) for d in range(max(depth) + 1)
    )


def blend_shapes(betas, shapedirs) -> tf.Tensor:
    """Vertex offsets of a linear blend-shape basis.

    Args:
        betas: `[B, S]` coefficients.
        shapedirs: `[V, 3, S]` basis (offset per unit coefficient).

    Returns:
        `[B, V, 3]` offsets: `offsets[b, v, c] = sum_s betas[b, s] shapedirs[v, c, s]`.

    Raises:
        ValueError: the shapes do not match.
    """
    betas = _to_tensor(betas, None, "betas")
    shapedirs = _to_tensor(shapedirs, betas.dtype, "shapedirs")
    num = _static_dim(shapedirs, -1)
    _check_shape(betas, "betas", (None, num), f"[B, {num}]")
    _check_shape(shapedirs, "shapedirs", (None, 3, _static_dim(betas, -1)), "[V, 3, S]")
    # offsets[b, v, c] = sum_s betas[b, s] * shapedirs[v, c, s]
    return tf.einsum("bs,vcs->bvc", betas, shapedirs)  # [B, V, 3]


def vertices_to_joints(J_regressor, vertices) -> tf.Tensor:
    """Regresses joint locations from vertices.

    Args:
        J_regressor: `[J, V]` regressor (rows are convex weights in MANO).
        vertices: `[B, V, 3]`.

    Returns:
        `[B, J, 3]` joints: `joints[b, j, c] = sum_v J_regressor[j, v] vertices[b, v, c]`.

    Raises:
        ValueError: the shapes do not match.
    """
    vertices = _to_tensor(vertices, None, "vertices")
    J_regressor = _to_tensor(J_regressor, vertices.dtype, "J_regressor")
    num = _static_dim(J_regressor, -1)
    _check_shape(vertices, "vertices", (None, num, 3), f"[B, {num}, 3]")
    _check_shape(J_regressor, "J_regressor", (None, None), "[J, V]")
    # joints[b, j, c] = sum_v J_regressor[j, v] * vertices[b, v, c]
    return tf.einsum("jv,bvc->bjc", J_regressor, vertices)  # [B, J, 3]


def batch_rigid_transform(rot_mats, joints, parents: Sequence[int]) -> tuple[tf.Tensor, tf.Tensor]:
    """Poses a kinematic chain: world transforms of every joint.

    Joint `j` rotates by `rot_mats[:, j]` relative to its parent, about its rest
    location. With `t_j = J_j - J_parent(j)` (`t_0 = J_0`), the world transform is
    `G_j = G_parent(j) [R_j | t_j]`. The returned *relative* transforms
    `A_j = G_j [I | -J_j]` move a rest-pose point attached to joint `j` to its
    posed location, as skinning needs.

    Args:
        rot_mats: `[B, J, 3, 3]` local rotation of each joint.
        joints: `[B, J, 3]` rest-pose joint locations.
        parents: `[J]` static Python sequence, -1 for joint 0, otherwise an
            earlier joint.

    Returns:
        posed_joints: `[B, J, 3]` joint locations after posing (`G_j` translation).
        rel_transforms: `[B, J, 3, 4]` `A_j` as `[rotation | translation]`.

    Raises:
        ValueError: bad shapes or an invalid `parents`.
    """
    parents = _check_parents(parents)
    num_joints = len(parents)
    rot_mats = _to_tensor(rot_mats, None, "rot_mats")
    joints = _to_tensor(joints, rot_mats.dtype, "joints")
    _check_shape(rot_mats, "rot_mats", (None, num_joints, 3, 3), f"[B, {num_joints}, 3, 3]")
    _check_shape(joints, "joints", (None, num_joints, 3), f"[B, {num_joints}, 3]")

    # 1. Bone vectors in the rest pose; the root keeps its location.
    rel_joints = tf.concat(
        [joints[:, :1], joints[:, 1:] - tf.gather(joints, parents[1:], axis=1)], axis=1
    )  # [B, J, 3]

    # 2. Walk the tree one depth level at a time. Within a level every parent is in
    #    the previous level, so each step is one batched product over the level.
    levels = depth_levels(parents)
    world_rot = [rot_mats[:, :1]]  # per level: [B, n_level, 3, 3]
    world_t = [rel_joints[:, :1]]  # per level: [B, n_level, 3]
    for prev, level in zip(levels[:-1], levels[1:], strict=True):
        where = [prev.index(parents[j]) for j in level]
        parent_rot = tf.gather(world_rot[-1], where, axis=1)  # [B, n, 3, 3]
        parent_t = tf.gather(world_t[-1], where, axis=1)  # [B, n, 3]
        local_rot = tf.gather(rot_mats, level, axis=1)  # [B, n, 3, 3]
        local_t = tf.gather(rel_joints, level, axis=1)  # [B, n, 3]
        # G_j = G_p [R_j | t_j]:  R_Gj = R_Gp R_j,  t_Gj = R_Gp t_j + t_Gp
        world_rot.append(_matmul3(parent_rot, local_rot))  # [B, n, 3, 3]
        # t[b, n, r] = sum_c parent_rot[b, n, r, c] * local_t[b, n, c] + parent_t[b, n, r]
        world_t.append(_matvec3(parent_rot, local_t) + parent_t)  # [B, n, 3]

    # 3. Back from level order to joint order.
    level_order = [j for level in levels for j in level]
    inverse = [level_order.index(j) for j in range(num_joints)]
    rot_world = tf.gather(tf.concat(world_rot, axis=1), inverse, axis=1)  # [B, J, 3, 3]
    posed_joints = tf.gather(tf.concat(world_t, axis=1), inverse, axis=1)  # [B, J, 3]

    # 4. A_j = G_j [I | -J_j]: the rotation stays, the translation becomes t_Gj - R_Gj J_j.
    # shift[b, j, r] = sum_c rot_world[b, j, r, c] * joints[b, j, c]
    shift = _matvec3(rot_world, joints)  # [B, J, 3]
    rel_transforms = tf.concat(
        [rot_world, (posed_joints - shift)[..., tf.newaxis]], axis=-1
    )  # [B, J, 3, 4]
    return posed_joints, rel_transforms


def pose_features(pose_rotmat) -> tf.Tensor:
    """The pose blend-shape features `(R_j - I)` of joints 1.., flattened.

    Args:
        pose_rotmat: `[B, J, 3, 3]` local joint rotations.

    Returns:
        `[B, 9 (J - 1)]`, ordered joint-major, then row, then column (smplx).
    """
    pose_rotmat = _to_tensor(pose_rotmat, None, "pose_rotmat")
    _check_shape(pose_rotmat, "pose_rotmat", (None, None, 3, 3), "[B, J, 3, 3]")
    num_joints = pose_rotmat.shape[1]
    eye = tf.eye(3, dtype=pose_rotmat.dtype)
    feature = pose_rotmat[:, 1:] - eye  # [B, J-1, 3, 3]
    if num_joints is None:
        return tf.reshape(feature, [tf.shape(feature)[0], -1])
    return tf.reshape(feature, [-1, 9 * (num_joints - 1)])  # [B, P]


def lbs(
    betas,
    pose_rotmat,
    v_template,
    shapedirs,
    posedirs,
    J_regressor,
    parents: Sequence[int],
    weights,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Shape, pose and skin a MANO-style model (no global translation).

    Args:
        betas: `[B, S]` shape coefficients.
        pose_rotmat: `[B, J, 3, 3]` local joint rotations (joint 0: global orientation).
        v_template: `[V, 3]` rest-pose template.
        shapedirs: `[V, 3, S]` shape blend shapes.
        posedirs: `[V, 3, P]` pose blend shapes, P = 9 (J - 1), matched against
            `pose_features(pose_rotmat)`.
        J_regressor: `[J, V]` joint regressor.
        parents: `[J]` static Python sequence of parent ids (-1 for joint 0).
        weights: `[V, J]` skinning weights.

    Returns:
        vertices: `[B, V, 3]` posed vertices.
        joints: `[B, J, 3]` posed joints (the kinematic joints, no fingertips).

    Raises:
        ValueError: any argument has the wrong static shape.
    """
    parents = _check_parents(parents)
    num_joints = len(parents)
    pose_rotmat = _to_tensor(pose_rotmat, None, "pose_rotmat")
    if not pose_rotmat.dtype.is_floating:
        pose_rotmat = tf.cast(pose_rotmat, tf.float32)
    dtype = pose_rotmat.dtype
    betas = _to_tensor(betas, dtype, "betas")
    v_template = _to_tensor(v_template, dtype, "v_template")
    shapedirs = _to_tensor(shapedirs, dtype, "shapedirs")
    posedirs = _to_tensor(posedirs, dtype, "posedirs")
    J_regressor = _to_tensor(J_regressor, dtype, "J_regressor")
    weights = _to_tensor(weights, dtype, "weights")

    num_vertices = _static_dim(v_template, 0)
    num_betas = _static_dim(shapedirs, -1)
    num_features = 9 * (num_joints - 1)
    _check_shape(v_template, "v_template", (None, 3), "[V, 3]")
    _check_shape(shapedirs, "shapedirs", (num_vertices, 3, None), f"[{num_vertices}, 3, S]")
    _check_shape(
        posedirs,
        "posedirs",
        (num_vertices, 3, num_features),
        f"[{num_vertices}, 3, {num_features}]",
    )
    _check_shape(
        J_regressor, "J_regressor", (num_joints, num_vertices), f"[{num_joints}, {num_vertices}]"
    )
    _check_shape(weights, "weights", (num_vertices, num_joints), f"[{num_vertices}, {num_joints}]")
    _check_shape(betas, "betas", (None, num_betas), f"[B, {num_betas}]")
    _check_shape(pose_rotmat, "pose_rotmat", (None, num_joints, 3, 3), f"[B, {num_joints}, 3, 3]")
    batch_betas, batch_pose = _static_dim(betas, 0), _static_dim(pose_rotmat, 0)
    if batch_betas is not None and batch_pose is not None and batch_betas != batch_pose:
        raise ValueError(
            "betas and pose_rotmat must have the same batch size. "
            f"Received: betas.shape={tuple(betas.shape)}, "
            f"pose_rotmat.shape={tuple(pose_rotmat.shape)}"
        )

    # 1. Shape blend shapes.
    v_shaped = v_template + blend_shapes(betas, shapedirs)  # [B, V, 3]

    # 2. Rest-pose joints of this shape.
    rest_joints = vertices_to_joints(J_regressor, v_shaped)  # [B, J, 3]

    # 3. Pose blend shapes from (R_j - I), j >= 1.
    features = pose_features(pose_rotmat)  # [B, P]
    # pose_offsets[b, v, c] = sum_p features[b, p] * posedirs[v, c, p]
    v_posed = v_shaped + tf.einsum("bp,vcp->bvc", features, posedirs)  # [B, V, 3]

    # 4. Kinematic chain.
    posed_joints, rel_transforms = batch_rigid_transform(
        pose_rotmat, rest_joints, parents
    )  # [B, J, 3], [B, J, 3, 4]

    # 5. Skinning: blend the joint transforms per vertex, then apply them.
    # skin[b, v, (r, k)] = sum_j weights[v, j] * rel_transforms[b, j, r, k]
    # (a broadcast matmul: weights [V, J] @ transforms [B, J, 12])
    flat = tf.reshape(rel_transforms, [-1, num_joints, 12])  # [B, J, 12]
    v_dim = num_vertices if num_vertices is not None else tf.shape(weights)[0]
    skin = tf.reshape(tf.linalg.matmul(weights, flat), [-1, v_dim, 3, 4])  # [B, V, 3, 4]
    # vertices[b, v, r] = sum_c skin[b, v, r, c] * v_posed[b, v, c] + skin[b, v, r, 3]
    v_homogeneous = tf.concat([v_posed, tf.ones_like(v_posed[..., :1])], axis=-1)  # [B, V, 4]
    vertices = _matvec3(skin, v_homogeneous)  # [B, V, 3]
    return vertices, posed_joints
