"""The training objective of HIU-DMTL (paper §3.3), masked by per-sample label flags.

A batch may mix fully labelled, 2D-only, mask-only and unlabelled images
(`hiu_tf.data.schema`: missing labels are zeros with their flag off). Every
supervised term is a *masked mean*: the sum of the per-element errors of the
labelled elements divided by their number, with `divide_no_nan`, so a term whose
flag is off for the whole batch is exactly 0 with zero gradients (never NaN),
and a term's value does not depend on how many unlabelled samples share the batch.

Terms (keys of `total_loss`'s dict; each has the weight of the same name in
`hiu_tf.config.LossConfig`, 0 switches it off):

Backbone, on every stack and averaged over the stacks (so the scale does not
grow with `num_stacks`):

    heatmap      pixel-mean squared error of each keypoint's heat-map, averaged over
                 the labelled maps (`keypoint_visible * has_2d`).
    pof          pixel-mean squared error of each POF channel, weighted by
                 `pof_weight` (`hiu_tf.targets.part_orientation_fields`). As the paper
                 says, the POF exploits 2D-only samples: `pof_weight` turns on a
                 bone's x, y channels with `has_2d` (both joints labelled) and its z
                 channel only with `has_3d` as well.
    mask         pixel-mean sigmoid cross-entropy of the mask logits vs `mask_small`
                 (`has_mask`).
    mask_fine    the same for the refined mask `mask_logits` (S/2; `MaskRefiner`,
                 ours, with `model.mask_refine_width`) vs the full-resolution `mask`
                 averaged over each 2 x 2 block (a soft target) (`has_mask`).
    mask_iou     1 - soft IoU (Jaccard index) of the model's final mask, the refined
                 `mask_logits` vs the block-averaged `mask` or, without a refiner, the
                 last stack's vs `mask_small` (`has_mask`; ours, off by default). The
                 cross-entropy is a pixel mean, so the few pixels of thin fingers count
                 little in it; the IoU, which the mask is judged by, weighs the hand's
                 pixels against its own area.

Regressor (the mesh branch; with `regress_every_stack` also averaged over the
stacks that regress a mesh):

    bone_3d      1 - cos(angle) between each predicted and ground-truth 3D bone
                 (`hiu_tf.keypoints.BONES`, unit vectors), mean over bones (`has_3d`).
                 Scale-free: it supervises orientation only, as in the paper.
    reproj_2d    mean absolute error of the re-projected keypoints `keypoints_px`
                 vs the labels, in units of the crop side S (per coordinate;
                 `keypoint_visible * has_2d`).
    render_mask  pixel-mean squared error of the rendered soft silhouette vs
                 `mask_small` (`has_mask`).

Self-supervised consistency (every sample, labelled or not):

    ssl_mask     pixel-mean squared error of the rendered silhouette vs the
                 backbone's mask, `sigmoid(stack{N}_mask_logits)`.
    ssl_2d       mean absolute error (units of S) of the re-projected keypoints vs
                 the keypoints read off the last stack's heat-maps
                 (`keypoints_px_heatmap`: the peak, or the paper's Eq. 1).

Which side learns: in both consistency terms the **backbone's prediction is the
teacher** and gets `tf.stop_gradient`; only the mesh side (rendered mask,
re-projected joints) receives this gradient. The backbone's heat-maps and masks
are supervised densely on every stack and are the more accurate predictions,
above all early in training when the mesh is still far off; letting the mesh
pull them towards itself (on unlabelled images nothing else anchors them) would
degrade them. The stop is on the teacher *tensor* only: the student's gradient
still reaches the shared backbone through the regressor head's input features,
so the whole network stays end-to-end trainable.

Direct supervision of the mesh (our additions, not in the paper; each is 0 in the
paper's objective, `training/configs/objective-paper.yaml`):

    global_rotation  (1 - cos) / 2 of the angle between the regressed and the labelled
                 global orientation (`has_mano`): 0 when equal, 1 when opposite.
    hand_pose    the same per finger joint, mean over the 15 joints (`has_mano`): keeps
                 the fingers from bending to make up for a wrong global rotation.
    shape        mean squared error of the 10 shape coefficients (`has_mano`).
    joints_3d    mean Euclidean error of the root-relative (wrist) 3D keypoints, in units
                 of `JOINT_UNIT_M` = 10 cm (`has_3d`): the size and the pose of the
                 hand, which the scale-free `bone_3d` leaves open.
    joints_hand  the same in each hand's own frame: the root-relative keypoints turned
                 back by the hand's global orientation, `R^T (J - J_wrist)`, with the
                 regressed R for the prediction and the labelled one for the label
                 (`has_3d` and `has_mano`). What is left is the fingers' pose and the
                 hand's shape, the part of the error that PA-MPJPE measures: while
                 the global rotation is still tens of degrees off, the camera-frame
                 terms (`joints_3d`, `bone_3d`) are dominated by it and tell the
                 fingers little. It sends no gradient into the global rotation
                 (`R_pred^T R_pred L = L` for the posed hand `L`), and unlike
                 `hand_pose` its gradient does not fade as a joint's angle error
                 shrinks (a distance, not a squared one).
    depth        `|log(Z / f) - log(Z* / f*)|` of the anchor keypoint (`has_3d` and a
                 known K): the depth in units of the focal length, the part of the
                 camera that an image fixes. It keeps the mesh from drifting away from
                 the camera, where a wrongly turned hand projects as a small blob that
                 `reproj_2d` prefers to a large wrong one.

`hiu_tf.data.schema` stores `mano_pose` and `mano_betas` of the hand model that
made the labels: the three `has_mano` terms are only right when the model uses the
same hand model (the synthetic data of `model.hand_model`, or MANO labels with a
MANO model).

MANO priors (every sample):

    pose_prior   squared L2 norm of the 45 finger rotations of `mano_pose` (the
                 global orientation is free), mean over the batch; it pulls towards
                 zero rotations (the flat hand with `flat_hand_mean=True`).
    shape_prior  squared L2 norm of `mano_betas`, mean over the batch.

All maths is float32 (outputs may be float16 or bfloat16 under mixed precision;
float64 inputs stay float64, for exact gradient checks);
the functions are pure and have no state. `MultiTaskLossMixin` plugs `total_loss`
into `keras.Model.compute_loss` (HIUModel uses it) and reports each term as a
metric `loss_<term>` in the `fit` logs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from hiu_tf.keypoints import BONE_CHILDREN, BONE_PARENTS

TERMS = (
    "heatmap",
    "pof",
    "mask",
    "mask_fine",
    "mask_iou",
    "bone_3d",
    "reproj_2d",
    "render_mask",
    "ssl_mask",
    "ssl_2d",
    "pose_prior",
    "shape_prior",
    "global_rotation",
    "hand_pose",
    "shape",
    "joints_3d",
    "joints_hand",
    "depth",
)
# Label keys that `total_loss` may read (a batch from `hiu_tf.data.pipeline` has them all).
LABEL_KEYS = (
    "heatmaps",
    "pof",
    "pof_weight",
    "mask_small",
    "mask",
    "keypoints_px",
    "keypoint_visible",
    "joints_cam",
    "has_2d",
    "has_3d",
    "has_mask",
    "intrinsics",
    "mano_pose",
    "mano_betas",
    "has_mano",
)
JOINT_UNIT_M = 0.1  # joints_3d measures errors in units of 10 cm
HEALTH = ("rotation_error_deg", "depth_ratio")  # mesh_health's entries
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
    heatmaps = _float(heatmaps, "heatmaps")
    target = _float(target, "target", heatmaps)
    _check_rank(heatmaps, "heatmaps", 4, "[B, h, h, K]")
    per_map = tf.reduce_mean(tf.square(heatmaps - target), axis=(1, 2))  # [B, K]
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
    pof = _float(pof, "pof")
    target = _float(target, "target", pof)
    _check_rank(pof, "pof", 4, "[B, h, h, C]")
    per_channel = tf.reduce_mean(tf.square(pof - target), axis=(1, 2))  # [B, C]
    return masked_mean(per_channel, weight)


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


# --------------------------------------------------------------------------- health


def mesh_health(outputs: Mapping[str, Any], labels: Mapping[str, Any]) -> dict[str, tuple]:
    """Per-batch health of the regressed mesh, for logging (no gradient is meant).

    Returns:
        `{"rotation_error_deg": (mean, count), "depth_ratio": (mean, count)}` for the
        entries whose outputs and labels exist: the mean geodesic error (degrees) of
        the global orientation over samples with `has_mano`, and the mean of
        `(Z / f) / (Z* / f*)` of the anchor keypoint over samples with 3D labels and K
        (`hiu_tf.metrics.depth_ratios`; 1 = the right image size, > 1 = too far away).
    """
    out: dict[str, tuple] = {}
    if "pose_rotmat" in outputs and {"mano_pose", "has_mano"} <= set(labels):
        distances, weight = _pose_distances(
            tf.stop_gradient(outputs["pose_rotmat"]), labels["mano_pose"], labels["has_mano"]
        )
        cos = 1.0 - 2.0 * distances[:, 0]  # rotation_distance = (1 - cos) / 2
        degrees = tf.acos(tf.clip_by_value(cos, -1.0, 1.0)) * (180.0 / 3.141592653589793)
        out["rotation_error_deg"] = (masked_mean(degrees, weight), tf.reduce_sum(weight))
    if "camera" in outputs and {"joints_cam", "intrinsics", "has_3d"} <= set(labels):
        cam = tf.stop_gradient(_float(outputs["camera"], "camera"))
        ratio, weight = _depth_label(
            labels["joints_cam"], labels["intrinsics"], labels["has_3d"], cam
        )
        out["depth_ratio"] = (
            masked_mean(_depth_over_focal(cam) / ratio, weight),
            tf.reduce_sum(weight),
        )
    return out


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


# --------------------------------------------------------------------------- combination


def active_terms(loss_config, model_config) -> tuple[str, ...]:
    """The terms that `total_loss` computes: a non-zero weight and the outputs to feed it.

    Args:
        loss_config: `hiu_tf.config.LossConfig`.
        model_config: `hiu_tf.config.ModelConfig`.

    Returns:
        Term names in the order of `TERMS`.
    """
    tasks = set(model_config.tasks)
    mesh = bool(model_config.mesh_head)
    render = mesh and bool(model_config.render_mask)
    available = {
        "heatmap": "heatmap" in tasks,
        "pof": "pof" in tasks,
        "mask": "mask" in tasks,
        "mask_fine": "mask" in tasks and model_config.mask_refine_width > 0,
        "mask_iou": "mask" in tasks,
        "bone_3d": mesh,
        "reproj_2d": mesh,
        "render_mask": render,
        "ssl_mask": render and "mask" in tasks,
        "ssl_2d": mesh and "heatmap" in tasks,
        "pose_prior": mesh,
        "shape_prior": mesh,
        "global_rotation": mesh,
        "hand_pose": mesh,
        "shape": mesh,
        "joints_3d": mesh,
        "joints_hand": mesh,
        "depth": mesh,
    }
    return tuple(t for t in TERMS if available[t] and getattr(loss_config, t) > 0)


def _mean(values: list[tf.Tensor]) -> tf.Tensor:
    return values[0] if len(values) == 1 else tf.add_n(values) / float(len(values))


def _label(labels: Mapping[str, Any], key: str, term: str) -> tf.Tensor:
    if key not in labels:
        raise ValueError(
            f"the {term!r} loss needs the label {key!r} (a batch of hiu_tf.data.pipeline). "
            f"Received: labels with keys {sorted(labels)}"
        )
    return labels[key]


def total_loss(
    outputs: Mapping[str, Any],
    labels: Mapping[str, Any],
    loss_config,
    model_config,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Combines the terms with the `LossConfig` weights: `sum_t weight_t * term_t`.

    Terms with weight 0, or whose outputs the model does not make (a task switched
    off, no mesh head, no renderer, or a key missing from `outputs`), are skipped.

    Args:
        outputs: the `HIUModel` outputs dict (see `hiu_tf.model`).
        labels: a batch of `hiu_tf.data.pipeline` (sample dict plus targets; at least
            the `LABEL_KEYS` that the active terms read).
        loss_config: `hiu_tf.config.LossConfig` (weights).
        model_config: `hiu_tf.config.ModelConfig` (tasks, stacks, input size).

    Returns:
        `(total, terms)`: the weighted sum (scalar float32) and the unweighted terms
        by name (a subset of `TERMS`, in that order).

    Raises:
        ValueError: an active term's label is missing.
    """
    n = model_config.num_stacks
    size = float(model_config.input_size)
    stacks = [f"stack{i}_" for i in range(1, n + 1)]
    # The mesh branch: the last stack (no prefix) and, with regress_every_stack, the others.
    meshes = [p for p in stacks[:-1] if f"{p}keypoints_px" in outputs] + [""]
    # Terms computed on each prediction of the heat-map stacks ("stack") or of the mesh
    # branch ("mesh"), averaged over them: (outputs, over, label keys, fn(*outputs, *labels));
    # `outputs` is one output key or a tuple of them.
    per_prediction = {
        "heatmap": ("heatmaps", "stack", ("heatmaps", "keypoint_visible", "has_2d"), heatmap_loss),
        "pof": ("pof", "stack", ("pof", "pof_weight"), pof_loss),
        "mask": ("mask_logits", "stack", ("mask_small", "has_mask"), mask_loss),
        "bone_3d": ("joints_cam", "mesh", ("joints_cam", "has_3d"), bone_orientation_loss),
        "reproj_2d": (
            "keypoints_px",
            "mesh",
            ("keypoints_px", "keypoint_visible", "has_2d"),
            lambda pred, target, visible, has_2d: reprojection_loss(
                pred, target, visible, has_2d, size
            ),
        ),
        "pose_prior": ("mano_pose", "mesh", (), pose_prior_loss),
        "shape_prior": ("mano_betas", "mesh", (), shape_prior_loss),
        "global_rotation": ("pose_rotmat", "mesh", ("mano_pose", "has_mano"), global_rotation_loss),
        "hand_pose": ("pose_rotmat", "mesh", ("mano_pose", "has_mano"), hand_pose_loss),
        "shape": ("mano_betas", "mesh", ("mano_betas", "has_mano"), shape_loss),
        "joints_3d": ("joints_cam", "mesh", ("joints_cam", "has_3d"), joints_3d_loss),
        "joints_hand": (
            ("joints_cam", "pose_rotmat"),
            "mesh",
            ("joints_cam", "mano_pose", "has_3d", "has_mano"),
            hand_frame_joints_loss,
        ),
        "depth": ("camera", "mesh", ("joints_cam", "intrinsics", "has_3d"), depth_loss),
    }
    terms: dict[str, tf.Tensor] = {}
    for term in active_terms(loss_config, model_config):
        if term in per_prediction:
            names, over, keys, fn = per_prediction[term]
            names = (names,) if isinstance(names, str) else names
            prefixes = stacks if over == "stack" else meshes
            # The stacks' outputs all carry a prefix; the last mesh prediction has none.
            last = f"stack{n}_" if over == "stack" else ""
            if any(f"{last}{name}" not in outputs for name in names):
                continue
            values = [_label(labels, key, term) for key in keys]
            terms[term] = _mean(
                [fn(*[outputs[f"{p}{name}"] for name in names], *values) for p in prefixes]
            )
        elif term == "mask_fine" and "mask_logits" in outputs:
            terms[term] = fine_mask_loss(
                outputs["mask_logits"],
                _label(labels, "mask", term),
                _label(labels, "has_mask", term),
            )
        elif term == "mask_iou":
            # The final mask: the refined one against `mask`, else the last stack's.
            output, label = (
                ("mask_logits", "mask")
                if "mask_logits" in outputs
                else (f"stack{n}_mask_logits", "mask_small")
            )
            if output in outputs:
                terms[term] = mask_iou_loss(
                    outputs[output], _label(labels, label, term), _label(labels, "has_mask", term)
                )
        elif term == "render_mask" and "rendered_mask" in outputs:
            terms[term] = rendered_mask_loss(
                outputs["rendered_mask"],
                _label(labels, "mask_small", term),
                _label(labels, "has_mask", term),
            )
        elif (
            term == "ssl_mask" and "rendered_mask" in outputs and f"stack{n}_mask_logits" in outputs
        ):
            terms[term] = mask_consistency_loss(
                outputs["rendered_mask"], outputs[f"stack{n}_mask_logits"]
            )
        elif term == "ssl_2d" and "keypoints_px" in outputs and "keypoints_px_heatmap" in outputs:
            terms[term] = keypoint_consistency_loss(
                outputs["keypoints_px"], outputs["keypoints_px_heatmap"], size
            )
    weighted = [float(getattr(loss_config, term)) * value for term, value in terms.items()]
    total = tf.add_n(weighted) if weighted else tf.constant(0.0, tf.float32)
    return total, terms


# --------------------------------------------------------------------------- Keras


class MultiTaskLossMixin:
    """`compute_loss` for a `keras.Model` whose outputs and labels are those above.

    Put it before `keras.Model` in the bases. After `compile(..., loss_config=cfg)`
    (or `set_loss_config(cfg)` on a compiled model) the loss is `total_loss` with
    the model's `model_config`, and each term `t` is reported as the metric
    `loss_<t>` (epoch means in the `fit` logs, `val_loss_<t>` in evaluation).
    A model with a mesh head also reports its health where the labels allow
    (`mesh_health`): `mesh_rotation_error_deg` and `mesh_depth_ratio`, so that a
    mesh turning away or drifting from the camera shows in `history.csv` and
    TensorBoard while it happens.
    Without a loss config the model behaves as a plain `keras.Model` (losses per
    output from `compile`). Create the model and compile it under the
    distribution strategy's scope; the total is divided by the number of
    replicas, as Keras does for compiled losses, so the summed gradients are
    those of the global batch mean.
    """

    def compile(self, *args, loss_config=None, **kwargs):
        """`keras.Model.compile`, plus `loss_config` (a `LossConfig`) for `total_loss`."""
        super().compile(*args, **kwargs)
        self.set_loss_config(loss_config)

    def set_loss_config(self, loss_config) -> None:
        """Uses `total_loss` with these weights (None = back to the compiled losses).

        Creates one `keras.metrics.Mean` per active term (under the current
        distribution strategy's scope).

        Raises:
            ValueError: `loss_config` is not a `LossConfig` (or dict of its fields).
        """
        from hiu_tf.config import LossConfig

        if isinstance(loss_config, dict):
            loss_config = LossConfig(**loss_config)
        if loss_config is not None and not isinstance(loss_config, LossConfig):
            raise ValueError(
                f"loss_config must be a LossConfig, a dict or None. Received: "
                f"loss_config={loss_config!r}"
            )
        trackers, health = {}, {}
        if loss_config is not None:
            names = active_terms(loss_config, self.model_config)
            trackers = {name: keras.metrics.Mean(name=f"loss_{name}") for name in names}
            if self.model_config.mesh_head:
                health = {name: keras.metrics.Mean(name=f"mesh_{name}") for name in HEALTH}
        # Plain attributes: Keras' tracking is locked once the model is built, and the
        # trackers are listed by the `metrics` property below.
        object.__setattr__(self, "loss_config", loss_config)
        object.__setattr__(self, "_loss_term_trackers", trackers)
        object.__setattr__(self, "_health_trackers", health)

    @property
    def metrics(self):
        trackers = getattr(self, "_loss_term_trackers", None) or {}
        health = getattr(self, "_health_trackers", None) or {}
        return list(super().metrics) + list(trackers.values()) + list(health.values())

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss_config = getattr(self, "loss_config", None)
        if loss_config is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if not isinstance(y, Mapping):
            raise ValueError(
                "with a loss_config the labels must be the dict of a hiu_tf.data.pipeline "
                f"batch. Received: y of type {type(y).__name__}"
            )
        total, terms = total_loss(y_pred, y, loss_config, self.model_config)
        for name, value in terms.items():
            tracker = self._loss_term_trackers.get(name)
            if tracker is not None:
                tracker.update_state(value)
        if self._health_trackers:
            for name, (value, count) in mesh_health(y_pred, y).items():
                self._health_trackers[name].update_state(value, sample_weight=count)
        for extra in self.losses:  # regularisers and add_loss, as keras.Model does
            total = total + tf.cast(tf.reduce_sum(extra), tf.float32)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            total = total * (1.0 / replicas)
        return total


__all__ = [
    "LABEL_KEYS",
    "TERMS",
    "MultiTaskLossMixin",
    "active_terms",
    "JOINT_UNIT_M",
    "bone_orientation_loss",
    "depth_loss",
    "global_rotation_loss",
    "hand_pose_loss",
    "joints_3d_loss",
    "hand_frame_joints_loss",
    "mesh_health",
    "rotation_distance",
    "shape_loss",
    "heatmap_loss",
    "keypoint_consistency_loss",
    "fine_mask_loss",
    "mask_consistency_loss",
    "mask_iou_loss",
    "mask_loss",
    "masked_mean",
    "pof_loss",
    "pose_prior_loss",
    "reprojection_loss",
    "rendered_mask_loss",
    "shape_prior_loss",
    "total_loss",
]
