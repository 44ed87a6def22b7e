"""Hand-mask metrics: per-image IoU, mean IoU and the paper's "IoU PCK"."""

from __future__ import annotations

from typing import Any

import numpy as np

from hiu_tf.metrics.curves import _as_thresholds, _as_visible, _linspace, _same_shape, _shape

IOU_THRESHOLDS = (0.0, 1.0, 21)


def _as_masks(value: Any, name: str) -> tuple[np.ndarray, bool]:
    m = np.asarray(value)
    if m.ndim == 2:
        return m[None] > 0.5, False
    if m.ndim == 3:
        return m > 0.5, True
    raise ValueError(
        f"{name} must have shape [N, H, W] or [H, W]. Received: {name}.shape={_shape(m)}"
    )


def mask_iou(pred_mask: Any, gt_mask: Any) -> np.ndarray | float:
    """Intersection over union of binary masks, per image.

    Values > 0.5 are foreground (pass probabilities, or `logits > 0`). An image
    where both masks are empty has IoU 1.

    Args:
        pred_mask: `[N, H, W]` or `[H, W]`.
        gt_mask: same shape.

    Returns:
        float64 `[N]` (a float for one image).

    Raises:
        ValueError: bad or different shapes.
    """
    p, batched = _as_masks(pred_mask, "pred_mask")
    g, _ = _as_masks(gt_mask, "gt_mask")
    _same_shape(pred_mask, gt_mask, "pred_mask", "gt_mask")
    inter = np.sum(p & g, axis=(1, 2), dtype=np.float64)
    union = np.sum(p | g, axis=(1, 2), dtype=np.float64)
    iou = np.where(union > 0, inter / np.maximum(union, 1.0), 1.0)
    return iou if batched else float(iou[0])


def mean_iou(pred_mask: Any, gt_mask: Any, valid: Any = None) -> float:
    """Mean over images of the per-image hand IoU (`mask_iou`).

    Args:
        pred_mask: `[N, H, W]`.
        gt_mask: `[N, H, W]`.
        valid: `[N]` mask of the images to count (e.g. `has_mask`); None = all.

    Returns:
        The mean IoU; NaN when no image is counted.
    """
    iou = np.atleast_1d(mask_iou(pred_mask, gt_mask))
    keep = _as_visible(valid, iou.shape, "valid")
    return float(iou[keep].mean()) if np.any(keep) else float("nan")


def iou_pck(ious: Any, thresholds: Any = None) -> np.ndarray:
    """The paper's "IoU PCK": the fraction of images whose IoU exceeds each threshold.

    Args:
        ious: `[N]` per-image IoU.
        thresholds: `[T]` increasing; None = `linspace(0, 1, 21)`.

    Returns:
        float64 `[T]`, `mean(iou > t)`; NaN when N = 0. `auc(curve,
        thresholds)` summarises it.
    """
    iou = np.asarray(ious, np.float64)
    if iou.ndim != 1:
        raise ValueError(f"ious must have shape [N]. Received: ious.shape={_shape(iou)}")
    t = _as_thresholds(_linspace(IOU_THRESHOLDS) if thresholds is None else thresholds)
    if iou.size == 0:
        return np.full(t.shape, np.nan)
    return np.mean(iou[:, None] > t, axis=0)
