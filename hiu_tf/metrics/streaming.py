"""Streaming Keras metrics for `fit` and `evaluate`: 2D PCK, mask IoU, 3D MPJPE.

Each is a `keras.metrics.Metric` of sums and counts (so `tf.distribute` adds
the replicas' states) registered as serialisable, and streams one NumPy
function of this package, against which it is tested.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
from keras import ops

from hiu_tf.keypoints import NUM_KEYPOINTS


def _pick(value: Any, key: str, what: str) -> Any:
    if isinstance(value, Mapping):
        if key not in value:
            raise KeyError(f"{what} has no key {key!r}. Received keys: {sorted(value)}")
        return value[key]
    return value


def _flag_weight(y_true: Any, flag: str, sample_weight: Any, like: Any, dtype: str) -> Any:
    """`[B]` 0/1 weight: the label flag for dicts, times `sample_weight` (if given).

    All ones (the shape of `like`, a `[B]` tensor) when there is neither.
    """
    weight = ops.cast(y_true[flag], dtype) if isinstance(y_true, Mapping) else None
    if sample_weight is not None:
        sw = ops.cast(sample_weight, dtype)
        weight = sw if weight is None else weight * sw
    if weight is None:
        weight = ops.ones_like(like)
    return ops.cast(ops.reshape(weight, (-1,)) > 0, dtype)


@keras.saving.register_keras_serializable(package="hiu_tf")
class KeypointPCK2D(keras.metrics.Metric):
    """Streaming 2D PCK at one pixel threshold (`pck_curve` aggregation).

    Counts, per keypoint, the visible keypoints with error `<= threshold` px;
    the result is the mean over keypoints seen at least once (0 before any).

    `update_state(y_true, y_pred, sample_weight=None)`:

    * dicts: `y_true` the pipeline batch (`keypoints_px [B, 21, 2]`,
      `keypoint_visible [B, 21]`, `has_2d [B]`), `y_pred` the model outputs
      (`pred_key`, default `keypoints_px`); visibility = `keypoint_visible * has_2d`.
    * tensors: `y_true`, `y_pred` `[B, 21, 2]`; `sample_weight` `[B]` or
      `[B, 21]` visibility (None = all).

    Args:
        threshold: pixels.
        pred_key: the output key in a `y_pred` dict (`keypoints_px` or
            `keypoints_px_heatmap`).
        num_keypoints: K.
        name, dtype: `keras.metrics.Metric` arguments.
    """

    def __init__(
        self,
        threshold: float = 5.0,
        pred_key: str = "keypoints_px",
        num_keypoints: int = NUM_KEYPOINTS,
        name: str = "pck_2d",
        dtype: Any = None,
    ):
        super().__init__(name=name, dtype=dtype)
        if not threshold > 0:
            raise ValueError(f"threshold must be > 0. Received: threshold={threshold}")
        self.threshold = float(threshold)
        self.pred_key = pred_key
        self.num_keypoints = int(num_keypoints)
        self.correct = self.add_variable(
            shape=(self.num_keypoints,), initializer="zeros", name="correct"
        )
        self.total = self.add_variable(
            shape=(self.num_keypoints,), initializer="zeros", name="total"
        )

    def update_state(self, y_true, y_pred, sample_weight=None):
        gt = ops.cast(_pick(y_true, "keypoints_px", "y_true"), self.dtype)  # [B, K, 2]
        pred = ops.cast(_pick(y_pred, self.pred_key, "y_pred"), self.dtype)  # [B, K, 2]
        if isinstance(y_true, Mapping):
            visible = ops.cast(y_true["keypoint_visible"], self.dtype)  # [B, K]
            visible = visible * ops.cast(y_true["has_2d"], self.dtype)[:, None]
        else:
            visible = ops.ones_like(gt[..., 0])  # [B, K]
        if sample_weight is not None:
            weight = ops.cast(sample_weight, self.dtype)
            visible = visible * (weight if len(weight.shape) == 2 else weight[:, None])
        visible = ops.cast(visible > 0, self.dtype)
        error = ops.sqrt(ops.sum(ops.square(pred - gt), axis=-1))  # [B, K]
        hit = ops.cast(error <= self.threshold, self.dtype) * visible
        self.correct.assign_add(ops.sum(hit, axis=0))
        self.total.assign_add(ops.sum(visible, axis=0))

    def result(self):
        used = ops.cast(self.total > 0, self.dtype)
        per_keypoint = self.correct / ops.maximum(self.total, 1.0)
        return ops.sum(per_keypoint * used) / ops.maximum(ops.sum(used), 1.0)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "threshold": self.threshold,
            "pred_key": self.pred_key,
            "num_keypoints": self.num_keypoints,
        }


@keras.saving.register_keras_serializable(package="hiu_tf")
class MaskIoU(keras.metrics.Metric):
    """Streaming mean per-image IoU of the predicted hand mask (`mean_iou`).

    Mask logits are resized bilinearly to the ground-truth mask's size and
    thresholded at 0 (probability 0.5).

    `update_state(y_true, y_pred, sample_weight=None)`:

    * dicts: `y_true` with `mask [B, H, W]` (or `true_key`) and `has_mask [B]`;
      `y_pred` the model outputs, `pred_key` or, when None, the last stack's
      `stack{N}_mask_logits`.
    * tensors: `y_true` `[B, H, W]` / `[B, H, W, 1]` in {0, 1}, `y_pred` logits
      `[B, h, w]` / `[B, h, w, 1]`; `sample_weight` `[B]` (None = all).

    Args:
        pred_key: output key of the mask logits in a `y_pred` dict; None = last stack.
        true_key: label key in a `y_true` dict (`mask`, or `mask_small`).
        name, dtype: `keras.metrics.Metric` arguments.
    """

    def __init__(
        self,
        pred_key: str | None = None,
        true_key: str = "mask",
        name: str = "mask_iou",
        dtype: Any = None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.pred_key = pred_key
        self.true_key = true_key
        self.iou_sum = self.add_variable(shape=(), initializer="zeros", name="iou_sum")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def _logits(self, y_pred):
        if not isinstance(y_pred, Mapping):
            return y_pred
        if self.pred_key is not None:
            return _pick(y_pred, self.pred_key, "y_pred")
        keys = [k for k in y_pred if k.startswith("stack") and k.endswith("_mask_logits")]
        if not keys:
            raise KeyError(
                f"y_pred has no stack{{i}}_mask_logits key. Received keys: {sorted(y_pred)}"
            )
        return y_pred[max(keys, key=lambda k: int(k[len("stack") : -len("_mask_logits")]))]

    def update_state(self, y_true, y_pred, sample_weight=None):
        gt = ops.cast(_pick(y_true, self.true_key, "y_true"), self.dtype)
        logits = ops.cast(self._logits(y_pred), self.dtype)
        if len(gt.shape) == 3:
            gt = gt[..., None]  # [B, H, W, 1]
        if len(logits.shape) == 3:
            logits = logits[..., None]  # [B, h, w, 1]
        if tuple(logits.shape[1:3]) != tuple(gt.shape[1:3]):
            logits = ops.image.resize(logits, tuple(gt.shape[1:3]), interpolation="bilinear")
        pred = logits > 0
        truth = gt > 0.5
        inter = ops.sum(ops.cast(ops.logical_and(pred, truth), self.dtype), axis=(1, 2, 3))
        union = ops.sum(ops.cast(ops.logical_or(pred, truth), self.dtype), axis=(1, 2, 3))
        iou = ops.where(union > 0, inter / ops.maximum(union, 1.0), ops.ones_like(union))  # [B]
        weight = _flag_weight(y_true, "has_mask", sample_weight, iou, self.dtype)
        self.iou_sum.assign_add(ops.sum(iou * weight))
        self.count.assign_add(ops.sum(weight))

    def result(self):
        return self.iou_sum / ops.maximum(self.count, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "pred_key": self.pred_key,
            "true_key": self.true_key,
        }


@keras.saving.register_keras_serializable(package="hiu_tf")
class MPJPE3D(keras.metrics.Metric):
    """Streaming root-relative mean per-joint position error in millimetres (`mpjpe`).

    `update_state(y_true, y_pred, sample_weight=None)`:

    * dicts: `y_true` with `joints_cam [B, 21, 3]` and `has_3d [B]`; `y_pred` the
      model outputs (`pred_key`, default `joints_cam`). Metres.
    * tensors: `[B, 21, 3]` each; `sample_weight` `[B]` (None = all).

    Args:
        root: the keypoint subtracted from both sets (0 = wrist); None = absolute.
        pred_key: output key in a `y_pred` dict.
        name, dtype: `keras.metrics.Metric` arguments.
    """

    def __init__(
        self,
        root: int | None = 0,
        pred_key: str = "joints_cam",
        name: str = "mpjpe_3d_mm",
        dtype: Any = None,
    ):
        super().__init__(name=name, dtype=dtype)
        self.root = root
        self.pred_key = pred_key
        self.error_sum = self.add_variable(shape=(), initializer="zeros", name="error_sum")
        self.count = self.add_variable(shape=(), initializer="zeros", name="count")

    def update_state(self, y_true, y_pred, sample_weight=None):
        gt = ops.cast(_pick(y_true, "joints_cam", "y_true"), self.dtype)  # [B, K, 3]
        pred = ops.cast(_pick(y_pred, self.pred_key, "y_pred"), self.dtype)  # [B, K, 3]
        if self.root is not None:
            r = self.root
            gt = gt - gt[:, r : r + 1]
            pred = pred - pred[:, r : r + 1]
        error = ops.sqrt(ops.sum(ops.square(pred - gt), axis=-1))  # [B, K]
        weight = _flag_weight(y_true, "has_3d", sample_weight, error[:, 0], self.dtype)  # [B]
        self.error_sum.assign_add(1000.0 * ops.sum(error * weight[:, None]))
        self.count.assign_add(ops.sum(weight) * ops.cast(ops.shape(error)[1], self.dtype))

    def result(self):
        return self.error_sum / ops.maximum(self.count, 1.0)

    def get_config(self) -> dict[str, Any]:
        return {
            **super().get_config(),
            "root": self.root,
            "pred_key": self.pred_key,
        }


# --------------------------------------------------------------------------- fit's set

PCK_CROP_FRACTION = 0.05  # the threshold of fit's 2D PCK, as a fraction of the crop side


def fit_metrics(model_config: Any, mask_label: str = "mask_small") -> list[keras.metrics.Metric]:
    """The streaming metrics that `fit` and `evaluate` report for an `HIUModel`.

    One per prediction the model makes (`hiu_tf.config.ModelConfig`):

        pck_2d_heatmap  2D PCK of `keypoints_px_heatmap` ("heatmap" task)
        pck_2d_mesh     2D PCK of `keypoints_px`, the projected mesh joints (mesh head)
        mask_iou        mean IoU of the final mask, the refined `mask_logits` with
                        `mask_refine_width`, else the last stack's ("mask" task)
        mpjpe_3d_mm     root-relative (wrist) MPJPE of `joints_cam`, mm (mesh head)

    The PCK threshold is `PCK_CROP_FRACTION` of the crop side, in pixels. The
    mask is compared with the label `mask_label` at that label's resolution:
    `mask_small` (heat-map size) is in every batch, the full-resolution `mask`
    only when a loss term reads it (`training.train.needs_full_mask`).
    `training.evaluate` computes the full protocols (curves, AUCs) after training.

    Create them under the distribution strategy's scope, as the model.

    Args:
        model_config: the model's `ModelConfig`.
        mask_label: the label key of the true mask in the batches.

    Returns:
        The metrics, possibly none.
    """
    tasks = set(model_config.tasks)
    threshold = PCK_CROP_FRACTION * model_config.input_size
    out: list[keras.metrics.Metric] = []
    if "heatmap" in tasks:
        out.append(KeypointPCK2D(threshold, "keypoints_px_heatmap", name="pck_2d_heatmap"))
    if model_config.mesh_head:
        out.append(KeypointPCK2D(threshold, "keypoints_px", name="pck_2d_mesh"))
    if "mask" in tasks:
        refined = model_config.mask_refine_width > 0
        pred_key = "mask_logits" if refined else f"stack{model_config.num_stacks}_mask_logits"
        out.append(MaskIoU(pred_key=pred_key, true_key=mask_label, name="mask_iou"))
    if model_config.mesh_head:
        out.append(MPJPE3D(root=0, name="mpjpe_3d_mm"))
    return out
