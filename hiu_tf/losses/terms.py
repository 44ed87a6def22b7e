"""The loss terms of the HIU-DMTL objective, as pure functions (one per term and its helpers).

What each term measures, which labels mask it and which side of the network it
trains is described in the package docstring (`hiu_tf.losses`). All maths is
float32 (float64 inputs stay float64, for exact gradient checks); no state.
"""

from __future__ import annotations

import tensorflow as tf

from hiu_tf.keypoints import BONE_CHILDREN, BONE_PARENTS

JOINT_UNIT_M = 0.1  # joints_3d measures errors in units of 10 cm
_UNIT_EPS = 1e-12  # added to |v|^2 before normalising a bone (metres^2; bones are ~1e-3)


def _float(value, name: str, like: tf.Tensor | None = None) -> tf.Tensor:
    """`value` as float32 (float64 stays float64), or in the dtype of `like`."""
    value = tf.convert_to_tensor(value, name=name)
    if like is not None:
        dtype = like.dtype
    else:
        dtype = tf.float64 if value.dtype == tf.float64 else tf.float32
    return value if value.dtype == dtype else tf.cast(value, dtype)


def _check_rank(value: tf.Tensor, name: str, rank: int, shown: str) -> None:
    if value.shape.rank is not None and value.shape.rank != rank:
        raise ValueError(
            f"{name} must have shape {shown}. Received: {name}.shape={value.shape.as_list()}"
        )


def masked_mean(values, weights) -> tf.Tensor:
    """`sum(w * v) / sum(w)` over all elements; 0 (with zero gradients) when `sum(w) = 0`.

    Elements with `w = 0` are dropped with `tf.where` before the sum, so a
    non-finite value there cannot leak into the result.

    Args:
        values: `[A1, ..., An]` per-element errors.
        weights: broadcastable to `values`, >= 0.

    Returns:
        Scalar (float32; float64 for float64 inputs).
    """
    values = _float(values, "values")
    weights = tf.broadcast_to(_float(weights, "weights", values), tf.shape(values))
    total = tf.reduce_sum(tf.where(weights > 0, values * weights, tf.zeros_like(values)))
    return tf.math.divide_no_nan(total, tf.reduce_sum(weights))


# --------------------------------------------------------------------------- backbone


def _channel_mse(pred, target, name: str, shown: str) -> tf.Tensor:
    """`[B, C]` pixel-mean squared error of each channel of `[B, h, h, C]` maps."""
    pred = _float(pred, name)
    target = _float(target, "target", pred)
    _check_rank(pred, name, 4, shown)
    return tf.reduce_mean(tf.square(pred - target), axis=(1, 2))


def heatmap_loss(heatmaps, target, keypoint_visible, has_2d) -> tf.Tensor:
    """Heat-map MSE: pixel-mean squared error per map, mean over the labelled maps.

    Args:
        heatmaps: `[B, h, h, K]` predicted heat-maps.
        target: `[B, h, h, K]` Gaussian targets (`hiu_tf.targets.gaussian_heatmaps`).
        keypoint_visible: `[B, K]` 1 where the keypoint is labelled.
        has_2d: `[B]` the sample has 2D labels.

    Returns:
        Scalar (float32; float64 for float64 inputs).
    """
    per_map = _channel_mse(heatmaps, target, "heatmaps", "[B, h, h, K]")
    weights = _float(keypoint_visible, "keypoint_visible", per_map)
    weights = weights * _float(has_2d, "has_2d", per_map)[:, None]
    return masked_mean(per_map, weights)


def pof_loss(pof, target, weight) -> tf.Tensor:
    """POF MSE: pixel-mean squared error per channel, mean over the weighted channels.

    Args:
        pof: `[B, h, h, C]` predicted part orientation fields (C = 60).
        target: `[B, h, h, C]` targets (`hiu_tf.targets.part_orientation_fields`).
        weight: `[B, C]` per-channel weights in {0, 1} (`pof_weight`): they already
            hold `has_2d`, `has_3d` and the keypoint visibility.

    Returns:
        Scalar (float32; float64 for float64 inputs).
    """
    return masked_mean(_channel_mse(pof, target, "pof", "[B, h, h, C]"), weight)


def mask_loss(logits, mask, has_mask) -> tf.Tensor:
    """Segmentation loss: pixel-mean sigmoid cross-entropy, mean over samples with masks.

    Args:
        logits: `[B, h, h, 1]` or `[B, h, h]` hand-vs-background logits.
        mask: `[B, h, h]` target in [0, 1] (`mask_small`).
        has_mask: `[B]` the sample has a mask label.

    Returns:
        Scalar (float32; float64 for float64 inputs).
    """
    logits = _float(logits, "logits")
    mask = _float(mask, "mask", logits)
    if logits.shape.rank == 4:
        logits = logits[..., 0]
    _check_rank(logits, "logits", 3, "[B, h, h, 1]")
    ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=mask, logits=logits)
    return masked_mean(tf.reduce_mean(ce, axis=(1, 2)), has_mask)


def fine_mask_loss(logits, mask, has_mask) -> tf.Tensor:
    """`mask_loss` of logits at a fraction of the label's resolution (`mask_fine`).

    The `[B, S, S]` label is averaged over blocks of `S / s` pixels, so the target at
    the logits' resolution `s` is the covered fraction of each pixel, in [0, 1].

    Args:
        logits: `[B, s, s, 1]` hand-vs-background logits; `S` divisible by `s`.
        mask: `[B, S, S]` label in {0, 1} (`mask`).
        has_mask: `[B]` the sample has a mask label.

    Returns:
        Scalar (float32; float64 for float64 inputs).
    """
    logits, target = _block_mean_target(logits, mask, "fine_mask_loss")
    return mask_loss(logits, target, has_mask)


def _block_mean_target(logits, mask, fn: str) -> tuple[tf.Tensor, tf.Tensor]:
    """`(logits [B, s, s, 1], target [B, s, s])`: the `[B, S, S]` label averaged over
    blocks of `S / s` pixels, both as floats after checking their shapes."""
    logits = _float(logits, "logits")
    mask = _float(mask, "mask", logits)
    _check_rank(logits, "logits", 4, "[B, s, s, 1]")
    _check_rank(mask, "mask", 3, "[B, S, S]")
    size, full = logits.shape[1], mask.shape[1]
    if size is None or full is None or full % size:
        raise ValueError(
            f"{fn} needs the label's side to be a multiple of the logits' side. "
            f"Received: logits.shape={logits.shape}, mask.shape={mask.shape}"
        )
    factor = full // size
    if factor == 1:
        return logits, mask
    return logits, tf.nn.avg_pool2d(mask[..., tf.newaxis], factor, factor, "VALID")[..., 0]


def mask_iou_loss(logits, mask, has_mask) -> tf.Tensor:
    """`1 - soft IoU` per sample, mean over samples with masks (`mask_iou`).

    With `p = sigmoid(logits)` and the target `t` in [0, 1] at the logits' resolution
    (the label averaged over blocks of `S / s` pixels, a soft target), the soft IoU is
    `(sum p t + 1) / (sum (p + t - p t) + 1)` over the pixels; the 1s keep an empty
    prediction of an empty label at IoU 1 and the gradient finite.

    Args:
        logits: `[B, s, s, 1]` hand-vs-background logits.
        mask: `[B, S, S]` label in [0, 1], `S` a multiple of `s` (`mask` or `mask_small`).
        has_mask: `[B]` the sample has a mask label.

    Returns:
        Scalar in [0, 1) (float32; float64 for float64 inputs).
    """
    logits, target = _block_mean_target(logits, mask, "mask_iou_loss")
    p = tf.sigmoid(logits[..., 0])
    overlap = tf.reduce_sum(p * target, axis=(1, 2))
    union = tf.reduce_sum(p + target - p * target, axis=(1, 2))
    iou = (overlap + 1.0) / (union + 1.0)
    return masked_mean(1.0 - iou, _float(has_mask, "has_mask", logits))


# --------------------------------------------------------------------------- regressor


def _bone_units(joints: tf.Tensor) -> tf.Tensor:
    """`[B, 20, 3]` unit vectors parent -> child of `hiu_tf.keypoints.BONES`."""
    bones = tf.gather(joints, BONE_CHILDREN, axis=-2) - tf.gather(joints, BONE_PARENTS, axis=-2)
    return bones * tf.math.rsqrt(tf.reduce_sum(tf.square(bones), -1, keepdims=True) + _UNIT_EPS)


def bone_orientation_loss(joints_cam, target_joints_cam, has_3d) -> tf.Tensor:
    """3D bone orientation: `1 - cos` between predicted and ground-truth unit bones.

    Args:
        joints_cam: `[B, 21, 3]` predicted joints (any unit; only directions matter).
        target_joints_cam: `[B, 21, 3]` ground-truth joints.
        has_3d: `[B]` the sample has 3D labels.

    Returns:
        Scalar in [0, 2] (float32; float64 for float64 inputs): the mean over bones
        and labelled samples.
    """
    pred = _float(joints_cam, "joints_cam")
    target = _float(target_joints_cam, "target_joints_cam", pred)
    _check_rank(pred, "joints_cam", 3, "[B, 21, 3]")
    cosine = tf.reduce_sum(_bone_units(pred) * _bone_units(target), axis=-1)  # [B, 20]
    return masked_mean(1.0 - cosine, _float(has_3d, "has_3d", pred)[:, None])


def reprojection_loss(
    keypoints_px, target_keypoints_px, keypoint_visible, has_2d, crop_size: float
) -> tf.Tensor:
    """2D re-projection: mean absolute coordinate error in units of the crop side.

    Args:
        keypoints_px: `[B, K, 2]` re-projected keypoints, input-crop pixels.
        target_keypoints_px: `[B, K, 2]` labels, input-crop pixels.
        keypoint_visible: `[B, K]` 1 where the keypoint is labelled.
        has_2d: `[B]` the sample has 2D labels.
        crop_size: side S of the input crop, pixels.

    Returns:
        Scalar (float32; float64 for float64 inputs): mean over labelled keypoints of
        `(|du| + |dv|) / (2 S)`.
    """
    pred = _float(keypoints_px, "keypoints_px")
    target = _float(target_keypoints_px, "target_keypoints_px", pred)
    _check_rank(pred, "keypoints_px", 3, "[B, K, 2]")
    error = tf.reduce_mean(tf.abs(pred - target), axis=-1) / float(crop_size)  # [B, K]
    weights = _float(keypoint_visible, "keypoint_visible", pred)
    weights = weights * _float(has_2d, "has_2d", pred)[:, None]
    return masked_mean(error, weights)


def _silhouette_error(rendered: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """`[B]` pixel-mean squared error of two `[B, h, h(, 1)]` maps in [0, 1]."""
    if rendered.shape.rank == 4:
        rendered = rendered[..., 0]
    if target.shape.rank == 4:
        target = target[..., 0]
    _check_rank(rendered, "rendered_mask", 3, "[B, h, h, 1]")
    return tf.reduce_mean(tf.square(rendered - target), axis=(1, 2))


def rendered_mask_loss(rendered_mask, mask, has_mask) -> tf.Tensor:
    """Rendered silhouette vs the ground-truth mask: pixel-mean squared error.

    Args:
        rendered_mask: `[B, h, h, 1]` soft silhouette in [0, 1] (heat-map resolution).
        mask: `[B, h, h]` ground truth at the same resolution (`mask_small`).
        has_mask: `[B]` the sample has a mask label.

    Returns:
        Scalar (float32; float64 for float64 inputs).
    """
    rendered_mask = _float(rendered_mask, "rendered_mask")
    error = _silhouette_error(rendered_mask, _float(mask, "mask", rendered_mask))
    return masked_mean(error, has_mask)


# --------------------------------------------------------------------------- self-supervised


def mask_consistency_loss(rendered_mask, mask_logits) -> tf.Tensor:
    """Rendered silhouette vs the backbone's mask `sigmoid(mask_logits)` (self-supervised).

    The backbone's mask is the teacher: it passes through `tf.stop_gradient`, so
    this term trains the mesh branch only (see the module docstring for why).

    Args:
        rendered_mask: `[B, h, h, 1]` soft silhouette in [0, 1] (the student).
        mask_logits: `[B, h, h, 1]` the last stack's mask logits (the teacher).

    Returns:
        Scalar (float32; float64 for float64 inputs): pixel-mean squared error, mean
        over every sample.
    """
    rendered_mask = _float(rendered_mask, "rendered_mask")
    teacher = tf.stop_gradient(tf.sigmoid(_float(mask_logits, "mask_logits", rendered_mask)))
    return tf.reduce_mean(_silhouette_error(rendered_mask, teacher))


def keypoint_consistency_loss(keypoints_px, keypoints_px_heatmap, crop_size: float) -> tf.Tensor:
    """Re-projected keypoints vs the heat-maps' keypoints (self-supervised, paper Sec. 3.3).

    The heat-map keypoints are the teacher: they pass through `tf.stop_gradient`,
    so this term trains the mesh branch only (see the module docstring for why).

    Args:
        keypoints_px: `[B, K, 2]` re-projected keypoints (the student), pixels.
        keypoints_px_heatmap: `[B, K, 2]` keypoints read off the heat-maps (the teacher;
            `ModelConfig.heatmap_decoder`: the peak, or Eq. 1).
        crop_size: side S of the input crop, pixels.

    Returns:
        Scalar (float32; float64 for float64 inputs): mean absolute coordinate error
        in units of S, over every keypoint of every sample.
    """
    pred = _float(keypoints_px, "keypoints_px")
    _check_rank(pred, "keypoints_px", 3, "[B, K, 2]")
    teacher = tf.stop_gradient(_float(keypoints_px_heatmap, "keypoints_px_heatmap", pred))
    return tf.reduce_mean(tf.abs(pred - teacher)) / float(crop_size)


# --------------------------------------------------------------------------- direct mesh terms


def rotation_distance(rotmat, target_rotmat) -> tf.Tensor:
    """`(1 - cos(angle)) / 2` between rotations: 0 when equal, 1 when half a turn apart.

    Equal to `|R - R*|_F^2 / 8` (`(3 - trace(R^T R*)) / 4`): smooth everywhere, with
    the gradient of a squared error near the target.

    Args:
        rotmat: `[..., 3, 3]` rotation matrices.
        target_rotmat: `[..., 3, 3]`.

    Returns:
        `[...]` in [0, 1].
    """
    rotmat = _float(rotmat, "rotmat")
    target = _float(target_rotmat, "target_rotmat", rotmat)
    trace = tf.reduce_sum(rotmat * target, axis=(-2, -1))  # trace(R^T R*) = sum_ij R_ij R*_ij
    return (3.0 - trace) / 4.0


def _pose_distances(pose_rotmat, target_pose, has_mano) -> tuple[tf.Tensor, tf.Tensor]:
    """`rotation_distance` of each of the 16 rotations to its label, and `has_mano`.

    Args:
        pose_rotmat: `[B, 16, 3, 3]` regressed rotations.
        target_pose: `[B, 48]` axis-angle labels (no gradient needed).
        has_mano: `[B]`.

    Returns:
        `([B, 16] distances, [B] has_mano)` in the dtype of `pose_rotmat`.
    """
    from mano_tf.rotations import axis_angle_to_matrix

    pred = _float(pose_rotmat, "pose_rotmat")
    _check_rank(pred, "pose_rotmat", 4, "[B, 16, 3, 3]")
    pose = _float(target_pose, "target_pose", pred)
    _check_rank(pose, "target_pose", 2, "[B, 48]")
    target = axis_angle_to_matrix(tf.reshape(pose, (-1, 16, 3)))
    return rotation_distance(pred, target), _float(has_mano, "has_mano", pred)


def global_rotation_loss(pose_rotmat, target_pose, has_mano) -> tf.Tensor:
    """Regressed vs labelled global orientation: `rotation_distance`, mean over samples.

    Args:
        pose_rotmat: `[B, 16, 3, 3]` the model's rotations (global first, MANO order).
        target_pose: `[B, 48]` axis-angle labels (`mano_pose`).
        has_mano: `[B]` the sample has MANO labels.

    Returns:
        Scalar in [0, 1] (float32; float64 for float64 inputs).
    """
    distances, has_mano = _pose_distances(pose_rotmat, target_pose, has_mano)
    return masked_mean(distances[:, 0], has_mano)


def hand_pose_loss(pose_rotmat, target_pose, has_mano) -> tf.Tensor:
    """Regressed vs labelled finger rotations: `rotation_distance`, mean over the 15 joints.

    Args:
        pose_rotmat: `[B, 16, 3, 3]` the model's rotations (global first, MANO order).
        target_pose: `[B, 48]` axis-angle labels (`mano_pose`, full rotations).
        has_mano: `[B]` the sample has MANO labels.

    Returns:
        Scalar in [0, 1] (float32; float64 for float64 inputs).
    """
    distances, has_mano = _pose_distances(pose_rotmat, target_pose, has_mano)
    return masked_mean(distances[:, 1:], has_mano[:, None])


def shape_loss(mano_betas, target_betas, has_mano) -> tf.Tensor:
    """Mean squared error of the shape coefficients, mean over samples with MANO labels.

    Args:
        mano_betas: `[B, 10]` regressed.
        target_betas: `[B, 10]` labels.
        has_mano: `[B]`.

    Returns:
        Scalar (float32; float64 for float64 inputs).
    """
    pred = _float(mano_betas, "mano_betas")
    _check_rank(pred, "mano_betas", 2, "[B, 10]")
    target = _float(target_betas, "target_betas", pred)
    per_sample = tf.reduce_mean(tf.square(pred - target), axis=-1)
    return masked_mean(per_sample, _float(has_mano, "has_mano", pred))


def joints_3d_loss(joints_cam, target_joints_cam, has_3d, root: int = 0) -> tf.Tensor:
    """Root-relative 3D keypoint error, in units of `JOINT_UNIT_M`.

    Args:
        joints_cam: `[B, 21, 3]` regressed joints, metres, camera frame.
        target_joints_cam: `[B, 21, 3]` labels.
        has_3d: `[B]` the sample has 3D labels.
        root: the keypoint subtracted from each set (0 = the wrist).

    Returns:
        Scalar (float32; float64 for float64 inputs): the mean Euclidean distance over
        keypoints and labelled samples, divided by `JOINT_UNIT_M`.
    """
    pred = _float(joints_cam, "joints_cam")
    _check_rank(pred, "joints_cam", 3, "[B, 21, 3]")
    target = _float(target_joints_cam, "target_joints_cam", pred)
    diff = (pred - pred[:, root : root + 1]) - (target - target[:, root : root + 1])
    # sqrt(|d|^2 + eps): finite gradient where the error is 0 (the root itself).
    distance = tf.sqrt(tf.reduce_sum(tf.square(diff), axis=-1) + _UNIT_EPS)  # [B, 21]
    return masked_mean(distance / JOINT_UNIT_M, _float(has_3d, "has_3d", pred)[:, None])


def hand_frame_joints_loss(
    joints_cam, pose_rotmat, target_joints_cam, target_pose, has_3d, has_mano, root: int = 0
) -> tf.Tensor:
    """Root-relative 3D keypoints in the hand's own frame, in units of `JOINT_UNIT_M`.

    Each set of keypoints is taken relative to `root` and turned back by its hand's
    global orientation, `R^T (J - J_root)`: the regressed orientation
    (`pose_rotmat[:, 0]`) for the prediction, the labelled one (`target_pose[:, :3]`,
    axis-angle) for the label. For a hand model posed about its root that leaves the
    hand posed by its fingers and shape alone, whatever its global rotation.

    Args:
        joints_cam: `[B, 21, 3]` regressed joints, metres, camera frame.
        pose_rotmat: `[B, 16, 3, 3]` regressed rotations (global first).
        target_joints_cam: `[B, 21, 3]` labels.
        target_pose: `[B, 48]` axis-angle labels (`mano_pose`; only the global 3 read).
        has_3d: `[B]` the sample has 3D labels.
        has_mano: `[B]` the sample has MANO labels (its global orientation).
        root: the keypoint subtracted from each set (0 = the wrist).

    Returns:
        Scalar (float32; float64 for float64 inputs): the mean Euclidean distance over
        keypoints and samples with both labels, divided by `JOINT_UNIT_M`.
    """
    from mano_tf.rotations import axis_angle_to_matrix

    pred = _float(joints_cam, "joints_cam")
    _check_rank(pred, "joints_cam", 3, "[B, 21, 3]")
    rot = _float(pose_rotmat, "pose_rotmat", pred)
    _check_rank(rot, "pose_rotmat", 4, "[B, 16, 3, 3]")
    target = _float(target_joints_cam, "target_joints_cam", pred)
    pose = _float(target_pose, "target_pose", pred)
    _check_rank(pose, "target_pose", 2, "[B, 48]")
    target_rot = axis_angle_to_matrix(pose[:, :3])  # [B, 3, 3]
    # R^T v for each keypoint v (row vectors: v R); the root lands at the origin.
    local = tf.einsum("bkj,bji->bki", pred - pred[:, root : root + 1], rot[:, 0])
    target_local = tf.einsum("bkj,bji->bki", target - target[:, root : root + 1], target_rot)
    weight = _float(has_3d, "has_3d", pred) * _float(has_mano, "has_mano", pred)
    return joints_3d_loss(local, target_local, weight, root)


def _depth_label(target_joints_cam, intrinsics, has_3d, like: tf.Tensor):
    """`(Z* / f*, weight)` of the anchor keypoint: weight 0 without 3D labels or K."""
    from hiu_tf.keypoints import ANCHOR_KEYPOINT

    target = _float(target_joints_cam, "target_joints_cam", like)
    k = _float(intrinsics, "intrinsics", like)
    _check_rank(k, "intrinsics", 3, "[B, 3, 3]")
    z, f = target[:, ANCHOR_KEYPOINT, 2], k[:, 0, 0]
    weight = _float(has_3d, "has_3d", like) * tf.cast((z > 0) & (f > 0), like.dtype)
    safe = weight > 0
    ratio = tf.where(safe, z, tf.ones_like(z)) / tf.where(safe, f, tf.ones_like(f))
    return ratio, weight


def _depth_over_focal(cam: tf.Tensor) -> tf.Tensor:
    """`T_z / f` of `[B, 4]` cameras `(f, T_x, T_y, T_z)`: the predicted anchor depth in
    focal-length units, the quantity `_depth_label` gives for the labels."""
    return tf.maximum(cam[:, 3], 1e-6) / tf.maximum(cam[:, 0], 1e-6)


def depth_loss(camera, target_joints_cam, intrinsics, has_3d) -> tf.Tensor:
    """The anchor's depth in focal-length units: `|log(Z / f) - log(Z* / f*)|`.

    Args:
        camera: `[B, 4]` the model's `(f, T_x, T_y, T_z)` (pixels, metres; T is the
            anchor keypoint's position).
        target_joints_cam: `[B, 21, 3]` labels (metres).
        intrinsics: `[B, 3, 3]` the labels' K (zeros when unknown).
        has_3d: `[B]` the sample has 3D labels.

    Returns:
        Scalar (float32; float64 for float64 inputs): the mean over samples with 3D labels
        and a focal length.
    """
    cam = _float(camera, "camera")
    _check_rank(cam, "camera", 2, "[B, 4]")
    ratio, weight = _depth_label(target_joints_cam, intrinsics, has_3d, cam)
    pred = _depth_over_focal(cam)
    return masked_mean(tf.abs(tf.math.log(pred) - tf.math.log(ratio)), weight)


# --------------------------------------------------------------------------- priors


def pose_prior_loss(mano_pose) -> tf.Tensor:
    """Squared L2 norm of the 45 finger rotations of `[B, 48]` `mano_pose`, batch mean."""
    pose = _float(mano_pose, "mano_pose")
    _check_rank(pose, "mano_pose", 2, "[B, 48]")
    return tf.reduce_mean(tf.reduce_sum(tf.square(pose[:, 3:]), axis=-1))


def shape_prior_loss(mano_betas) -> tf.Tensor:
    """Squared L2 norm of `[B, 10]` `mano_betas`, batch mean."""
    betas = _float(mano_betas, "mano_betas")
    _check_rank(betas, "mano_betas", 2, "[B, 10]")
    return tf.reduce_mean(tf.reduce_sum(tf.square(betas), axis=-1))
