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
the functions are pure and have no state.

Modules (this package re-exports their public names): `terms`, the terms as
functions; `objective`, `active_terms` and `total_loss`, their weighted sum;
`mixin`, `MultiTaskLossMixin`, which plugs `total_loss` into
`keras.Model.compute_loss` (HIUModel uses it) and reports each term as a metric
`loss_<term>` in the `fit` logs.
"""

from __future__ import annotations

from hiu_tf.losses.mixin import HEALTH, MultiTaskLossMixin, mesh_health
from hiu_tf.losses.objective import LABEL_KEYS, TERMS, active_terms, total_loss
from hiu_tf.losses.terms import (
    JOINT_UNIT_M,
    bone_orientation_loss,
    depth_loss,
    fine_mask_loss,
    global_rotation_loss,
    hand_frame_joints_loss,
    hand_pose_loss,
    heatmap_loss,
    joints_3d_loss,
    keypoint_consistency_loss,
    mask_consistency_loss,
    mask_iou_loss,
    mask_loss,
    masked_mean,
    pof_loss,
    pose_prior_loss,
    rendered_mask_loss,
    reprojection_loss,
    rotation_distance,
    shape_loss,
    shape_prior_loss,
)

__all__ = [
    "HEALTH",
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
