"""Per-keypoint errors, PCK curves and their AUC (`EvalUtil` aggregation), and 2D PCK.

The aggregation of hand3d's / FreiHAND's `EvalUtil`: per keypoint over the
samples where it is visible, then the mean over keypoints. Any unit: the
errors' and the thresholds' are the same. The input checks here (shapes,
thresholds, visibility) serve the other metric modules too.
"""

from __future__ import annotations

from typing import Any

import numpy as np

HAND3D_2D_THRESHOLDS_PX = (0.0, 30.0, 20)  # hand3d eval2d.py: get_measures(0.0, 30.0, 20)

# --------------------------------------------------------------------------- input checks


def _linspace(spec: tuple) -> np.ndarray:
    return np.linspace(float(spec[0]), float(spec[1]), int(spec[2]))


def _shape(a: np.ndarray) -> list[int]:
    return list(a.shape)


def _as_points(
    value: Any, name: str, dims: tuple[int, ...] = (3,), allow_unbatched: bool = True
) -> tuple[np.ndarray, bool]:
    """`value` as float64 `[N, P, *dims]`; also returns whether it had the N axis."""
    array = np.asarray(value, dtype=np.float64)
    tail = ", ".join(str(d) for d in dims)
    if array.ndim == 1 + len(dims) and allow_unbatched and array.shape[1:] == dims:
        return array[None], False
    if array.ndim == 2 + len(dims) and array.shape[2:] == dims:
        return array, True
    expected = f"[N, P, {tail}]" + (f" or [P, {tail}]" if allow_unbatched else "")
    raise ValueError(f"{name} must have shape {expected}. Received: {name}.shape={_shape(array)}")


def _same_shape(a: Any, b: Any, name_a: str, name_b: str) -> None:
    """Checks the shapes of the arguments as the caller received them."""
    shape_a, shape_b = list(np.shape(a)), list(np.shape(b))
    if shape_a != shape_b:
        raise ValueError(
            f"{name_a} and {name_b} must have the same shape. "
            f"Received: {name_a}.shape={shape_a}, {name_b}.shape={shape_b}"
        )


def _as_thresholds(value: Any, name: str = "thresholds") -> np.ndarray:
    t = np.asarray(value, dtype=np.float64)
    if t.ndim != 1 or t.size < 2 or np.any(np.diff(t) <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(
            f"{name} must be a 1D increasing sequence of at least 2 finite values. "
            f"Received: {name}={np.array2string(t, threshold=8)}"
        )
    return t


def _as_visible(value: Any, shape: tuple[int, ...], name: str = "visible") -> np.ndarray:
    if value is None:
        return np.ones(shape, bool)
    visible = np.asarray(value)
    if visible.shape != shape:
        raise ValueError(
            f"{name} must have shape {list(shape)}. Received: {name}.shape={_shape(visible)}"
        )
    return visible > 0


def _as_errors(errors: Any, visible: Any) -> tuple[np.ndarray, Any]:
    """`errors` as float64 `[N, K]` (`[N]` is one keypoint) and `visible` reshaped alike."""
    e = np.asarray(errors, np.float64)
    if e.ndim == 1:
        e = e[:, None]
        visible = None if visible is None else np.asarray(visible)[:, None]
    if e.ndim != 2:
        raise ValueError(
            f"errors must have shape [N, K] or [N]. Received: errors.shape={_shape(e)}"
        )
    return e, visible


# --------------------------------------------------------------------------- errors and curves


def keypoint_errors(pred: Any, gt: Any) -> np.ndarray:
    """Euclidean distance per point.

    Args:
        pred: `[N, K, D]` or `[K, D]` (D = 2 or 3), any unit.
        gt: same shape.

    Returns:
        float64 `[N, K]` (or `[K]`), the unit of the input.

    Raises:
        ValueError: bad or different shapes.
    """
    p = np.asarray(pred, dtype=np.float64)
    g = np.asarray(gt, dtype=np.float64)
    if p.ndim not in (2, 3) or p.shape[-1] not in (2, 3):
        raise ValueError(
            f"pred must have shape [N, K, D] or [K, D] with D = 2 or 3. Received: pred.shape={_shape(p)}"
        )
    _same_shape(pred, gt, "pred", "gt")
    return np.linalg.norm(p - g, axis=-1)


def pck_curve(errors: Any, thresholds: Any, visible: Any = None) -> np.ndarray:
    """Percentage of correct keypoints at each threshold, `EvalUtil` style.

    For each keypoint, the fraction of its visible errors with `error <= t`;
    then the mean over the keypoints that are visible at least once (as
    `EvalUtil.get_measures` in lmb-freiburg/hand3d and freihand).

    Args:
        errors: `[N, K]` distances (or `[N]`, one keypoint), any unit.
        thresholds: `[T]` increasing, the unit of `errors`.
        visible: `[N, K]` (or `[N]`) mask, nonzero = counted; None = all.

    Returns:
        float64 `[T]` in [0, 1]; NaN everywhere when nothing is visible.

    Raises:
        ValueError: bad shapes or thresholds.
    """
    e, visible = _as_errors(errors, visible)
    t = _as_thresholds(thresholds)
    vis = _as_visible(visible, e.shape)
    counts = vis.sum(axis=0)  # [K]
    used = counts > 0
    if not np.any(used):
        return np.full(t.shape, np.nan)
    correct = np.einsum("nkt,nk->kt", (e[:, :, None] <= t).astype(np.float64), vis)  # [K, T]
    return np.mean(correct[used] / counts[used, None], axis=0)


def auc(pck: Any, thresholds: Any) -> float:
    """Normalised area under a PCK curve: `trapz(pck, t) / trapz(1, t)`.

    As `calc_auc` and `EvalUtil.get_measures` in hand3d / freihand: the
    trapezoidal integral over the thresholds divided by the threshold range,
    so a curve that is 1 everywhere has AUC 1.

    Args:
        pck: `[T]` values.
        thresholds: `[T]` increasing.

    Returns:
        The normalised area (a float; NaN if `pck` holds NaN).

    Raises:
        ValueError: bad shapes or thresholds.
    """
    t = _as_thresholds(thresholds)
    y = np.asarray(pck, np.float64)
    if y.shape != t.shape:
        raise ValueError(
            f"pck must have the shape of thresholds {_shape(t)}. Received: pck.shape={_shape(y)}"
        )
    return float(np.trapezoid(y, t) / np.trapezoid(np.ones_like(t), t))


def epe_stats(errors: Any, visible: Any = None) -> tuple[float, float]:
    """Mean and median end-point error, `EvalUtil` style.

    Per keypoint over its visible samples, then the mean over keypoints.

    Args:
        errors: `[N, K]` (or `[N]`) distances.
        visible: mask of the same shape, or None.

    Returns:
        `(mean, median)` in the unit of `errors`; NaN when nothing is visible.
    """
    e, visible = _as_errors(errors, visible)
    vis = _as_visible(visible, e.shape)
    means, medians = [], []
    for k in range(e.shape[1]):
        values = e[vis[:, k], k]
        if values.size:
            means.append(values.mean())
            medians.append(np.median(values))
    if not means:
        return float("nan"), float("nan")
    return float(np.mean(means)), float(np.mean(medians))


def _curve_summary(errors: np.ndarray, visible: np.ndarray, thresholds: np.ndarray) -> dict:
    pck = pck_curve(errors, thresholds, visible)
    mean, median = epe_stats(errors, visible)
    return {
        "thresholds": thresholds,
        "pck": pck,
        "auc": auc(pck, thresholds),
        "epe_mean": mean,
        "epe_median": median,
        "count": int(np.sum(np.any(visible, axis=1))),
    }


def pck_2d(
    pred_px: Any,
    gt_px: Any,
    visible: Any = None,
    thresholds: Any = None,
) -> dict[str, Any]:
    """2D PCK and AUC in pixels (the protocol of hand3d's `eval2d.py`).

    Thresholds are absolute, in pixels of the image the keypoints live in (not
    normalised by the hand size); the default is hand3d's 20 thresholds from 0
    to 30 px. Aggregation as `pck_curve`.

    Args:
        pred_px: `[N, K, 2]` or `[K, 2]` predicted keypoints, pixels.
        gt_px: same shape, ground truth.
        visible: `[N, K]` (or `[K]`) mask of labelled keypoints; None = all.
        thresholds: `[T]` pixels; None = `linspace(0, 30, 20)`.

    Returns:
        Dict: `thresholds [T]` (px), `pck [T]`, `auc` (over the thresholds),
        `epe_mean`, `epe_median` (px) and `count` (samples with a visible keypoint).

    Raises:
        ValueError: bad shapes.
    """
    p, batched = _as_points(pred_px, "pred_px", (2,))
    g, _ = _as_points(gt_px, "gt_px", (2,))
    _same_shape(pred_px, gt_px, "pred_px", "gt_px")
    if visible is not None and not batched:
        visible = np.asarray(visible)[None]
    vis = _as_visible(visible, p.shape[:2])
    t = _as_thresholds(_linspace(HAND3D_2D_THRESHOLDS_PX) if thresholds is None else thresholds)
    return _curve_summary(keypoint_errors(p, g), vis, t)
