"""Evaluation metrics: pure NumPy functions, and thin streaming Keras metrics for `fit`.

The NumPy functions follow the public protocols that papers compare against
(each docstring names its source, repository and file, and its units). One
module per kind; this package re-exports every public name, so
`from hiu_tf.metrics import X` and `metrics.X` work whatever module holds X.

`pose_3d` (metres in, metres out):

* `procrustes_align`, `procrustes_transform`: similarity Procrustes (scale,
  rotation, translation) of a prediction onto the ground truth.
* `mpjpe`, `pa_mpjpe`, `pa_mpvpe`: mean Euclidean errors, raw / root-relative
  / after Procrustes alignment.
* `f_score`: F-score of two point sets at a distance threshold (FreiHAND).
* `freihand_metrics`: the official FreiHAND evaluation (lmb-freiburg/freihand
  `eval.py`): PA-MPJPE, PA-MPVPE, F@5 mm, F@15 mm and the AUCs of the aligned
  joint and vertex PCK curves over 0-50 mm.
* `rhd_stb_pck`: the RHD / STB 3D PCK of lmb-freiburg/hand3d: root-relative,
  the prediction rescaled to the ground-truth reference bone, PCK over 20
  thresholds in 0-50 mm and its AUC over 20-50 mm.
* Mesh health: `rotation_errors_deg` (geodesic angle of the global
  orientation) and `depth_ratios` (predicted over true depth, in units of the
  focal length): the two numbers that show a regressed mesh escaping from the
  camera or turned the wrong way.

`curves`: `keypoint_errors`, `pck_curve`, `auc`, `epe_stats` (the aggregation
of hand3d's / FreiHAND's `EvalUtil`: per keypoint over the samples where it is
visible, then the mean over keypoints), and `pck_2d` (pixels, with visibility).

`masks`: `mask_iou`, `mean_iou`, `iou_pck` (the paper's "IoU PCK").

`streaming`: Keras metrics (`keras.metrics.Metric`, registered as
serialisable): `KeypointPCK2D`, `MaskIoU`, `MPJPE3D`. Each takes either the
batch dicts of the pipeline and the model (`update_state(labels, outputs)`) or
plain tensors with the label flag as `sample_weight`; each is tested against
the NumPy function it streams. `fit_metrics(model_config)` is the set that
`training.train` compiles into `HIUModel` (`train.metrics`), so `fit`'s logs
and `evaluate` show 2D PCK, mask IoU and MPJPE beside the loss terms.

Shapes: N samples, K keypoints, V / W points of a point set, T thresholds,
H x W masks. Functions that take `[N, ...]` also take one sample without the
leading N, and then return a scalar (or drop the N axis).
"""

from __future__ import annotations

from hiu_tf.metrics.curves import (
    HAND3D_2D_THRESHOLDS_PX,
    auc,
    epe_stats,
    keypoint_errors,
    pck_2d,
    pck_curve,
)
from hiu_tf.metrics.masks import IOU_THRESHOLDS, iou_pck, mask_iou, mean_iou
from hiu_tf.metrics.pose_3d import (
    FREIHAND_F_THRESHOLDS_M,
    FREIHAND_THRESHOLDS_M,
    HAND3D_AUC_MIN_M,
    HAND3D_THRESHOLDS_M,
    apply_similarity,
    depth_ratios,
    f_score,
    freihand_metrics,
    mpjpe,
    nearest_distances,
    pa_mpjpe,
    pa_mpvpe,
    procrustes_align,
    procrustes_transform,
    rhd_stb_pck,
    rotation_errors_deg,
)
from hiu_tf.metrics.streaming import (
    MPJPE3D,
    PCK_CROP_FRACTION,
    KeypointPCK2D,
    MaskIoU,
    fit_metrics,
)

__all__ = [
    "FREIHAND_F_THRESHOLDS_M",
    "FREIHAND_THRESHOLDS_M",
    "HAND3D_2D_THRESHOLDS_PX",
    "HAND3D_AUC_MIN_M",
    "HAND3D_THRESHOLDS_M",
    "IOU_THRESHOLDS",
    "KeypointPCK2D",
    "MPJPE3D",
    "MaskIoU",
    "PCK_CROP_FRACTION",
    "apply_similarity",
    "auc",
    "depth_ratios",
    "epe_stats",
    "f_score",
    "fit_metrics",
    "freihand_metrics",
    "iou_pck",
    "keypoint_errors",
    "mask_iou",
    "mean_iou",
    "mpjpe",
    "nearest_distances",
    "pa_mpjpe",
    "pa_mpvpe",
    "pck_2d",
    "pck_curve",
    "procrustes_align",
    "procrustes_transform",
    "rhd_stb_pck",
    "rotation_errors_deg",
]
