"""3D hand-pose protocols, metres in and out: Procrustes, MPJPE, F-score, FreiHAND, hand3d.

Each function follows the public protocol that papers compare against; its
docstring names the source (repository and file) and the units.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from hiu_tf.keypoints import NUM_KEYPOINTS, REFERENCE_BONE
from hiu_tf.metrics.curves import (
    _as_points,
    _as_thresholds,
    _as_visible,
    _curve_summary,
    _linspace,
    _same_shape,
    _shape,
    auc,
    keypoint_errors,
    pck_curve,
)

# Threshold grids as (start, stop, num) for `np.linspace`; units in the names.
FREIHAND_THRESHOLDS_M = (0.0, 0.05, 100)  # FreiHAND eval.py: get_measures(0.0, 0.05, 100)
FREIHAND_F_THRESHOLDS_M = (0.005, 0.015)  # F@5 mm, F@15 mm
HAND3D_THRESHOLDS_M = (0.0, 0.05, 20)  # hand3d eval_full.py: get_measures(0.0, 0.050, 20)
HAND3D_AUC_MIN_M = 0.020  # hand3d: "area under curve between 20mm - 50mm"

_EPS = 1e-12


# --------------------------------------------------------------------------- Procrustes


def procrustes_transform(
    pred: Any, gt: Any, allow_reflection: bool = False
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The similarity that best maps `pred` onto `gt` in the least-squares sense.

    Finds `s, R, t` minimising `sum_k |s R p_k + t - g_k|^2` (Umeyama / Kabsch with
    scale): with centred points `P`, `G` and `P^T G = U S V^T`, `R = V D U^T`,
    `s = trace(S D) / |P|^2`, `t = mean(g) - s R mean(p)`. `D = I` when
    `allow_reflection` (then `R` is any orthogonal matrix, as
    `scipy.linalg.orthogonal_procrustes` in FreiHAND's `eval.py` gives);
    otherwise `D = diag(1, 1, det(V U^T))`, so `R` is a proper rotation.
    Degenerate input (all `pred` points equal) gives `s = 0`.

    Args:
        pred: `[N, P, 3]` or `[P, 3]` points to align (any unit).
        gt: the target points, same shape.
        allow_reflection: allow `det(R) = -1`.

    Returns:
        `(scale [N], rotation [N, 3, 3], translation [N, 3])` (no N axis for
        unbatched input), float64; aligned points are
        `scale * pred @ rotation.T + translation`.

    Raises:
        ValueError: bad shapes.
    """
    p, batched = _as_points(pred, "pred")
    g, _ = _as_points(gt, "gt")
    _same_shape(pred, gt, "pred", "gt")
    mean_p = p.mean(axis=1)  # [N, 3]
    mean_g = g.mean(axis=1)  # [N, 3]
    pc = p - mean_p[:, None]  # [N, P, 3]
    gc = g - mean_g[:, None]  # [N, P, 3]
    cov = np.einsum("npi,npj->nij", pc, gc)  # P^T G, [N, 3, 3]
    u, sing, vt = np.linalg.svd(cov)  # u [N, 3, 3], sing [N, 3], vt [N, 3, 3]
    v = np.swapaxes(vt, 1, 2)
    d = np.ones_like(sing)  # diagonal of D, [N, 3]
    if not allow_reflection:
        d[:, 2] = np.sign(np.linalg.det(v @ np.swapaxes(u, 1, 2)))
        d[d[:, 2] == 0, 2] = 1.0
    rotation = np.einsum("nij,nj,nkj->nik", v, d, u)  # V D U^T, [N, 3, 3]
    norm2 = np.einsum("npi,npi->n", pc, pc)  # |P|^2, [N]
    trace = np.sum(sing * d, axis=1)  # [N]
    scale = np.where(norm2 > _EPS, trace / np.maximum(norm2, _EPS), 0.0)  # [N]
    translation = mean_g - scale[:, None] * np.einsum("nij,nj->ni", rotation, mean_p)  # [N, 3]
    if not batched:
        return scale[0], rotation[0], translation[0]
    return scale, rotation, translation


def apply_similarity(points: Any, scale: Any, rotation: Any, translation: Any) -> np.ndarray:
    """`scale * points @ rotation.T + translation`, per sample.

    Args:
        points: `[N, P, 3]` or `[P, 3]`.
        scale: `[N]` or scalar; rotation `[N, 3, 3]` or `[3, 3]`; translation
            `[N, 3]` or `[3]` (as returned by `procrustes_transform`).

    Returns:
        float64 points of the shape of `points`.
    """
    p, batched = _as_points(points, "points")
    n = p.shape[0]
    s = np.broadcast_to(np.asarray(scale, np.float64).reshape(-1), (n,))
    r = np.broadcast_to(np.asarray(rotation, np.float64).reshape(-1, 3, 3), (n, 3, 3))
    t = np.broadcast_to(np.asarray(translation, np.float64).reshape(-1, 3), (n, 3))
    out = s[:, None, None] * np.einsum("npj,nij->npi", p, r) + t[:, None]
    return out if batched else out[0]


def procrustes_align(pred: Any, gt: Any, allow_reflection: bool = False) -> np.ndarray:
    """`pred` aligned onto `gt` by the best similarity (scale, rotation, translation).

    See `procrustes_transform`. FreiHAND's `eval.py` (`align_w_scale`) allows
    reflections; `freihand_metrics` passes `allow_reflection=True` to match it.
    The default here is a proper rotation.

    Args:
        pred: `[N, P, 3]` or `[P, 3]`.
        gt: same shape.
        allow_reflection: allow an improper orthogonal matrix (a mirror).

    Returns:
        float64 aligned `pred`, same shape.

    Raises:
        ValueError: bad shapes.
    """
    return apply_similarity(pred, *procrustes_transform(pred, gt, allow_reflection))


# --------------------------------------------------------------------------- 3D errors


def mpjpe(pred: Any, gt: Any, root: int | None = None) -> float:
    """Mean per-joint position error, optionally root-relative.

    Args:
        pred: `[N, K, 3]` or `[K, 3]`, metres.
        gt: same shape.
        root: subtract this keypoint from each set first (0 = the wrist), or None.

    Returns:
        The mean Euclidean error over all samples and keypoints, metres.

    Raises:
        ValueError: bad shapes or root.
    """
    p, _ = _as_points(pred, "pred")
    g, _ = _as_points(gt, "gt")
    _same_shape(pred, gt, "pred", "gt")
    if root is not None:
        if not 0 <= root < p.shape[1]:
            raise ValueError(f"root must be in [0, {p.shape[1]}). Received: root={root}")
        p = p - p[:, root : root + 1]
        g = g - g[:, root : root + 1]
    return float(keypoint_errors(p, g).mean())


def pa_mpjpe(pred: Any, gt: Any, allow_reflection: bool = False) -> float:
    """Procrustes-aligned mean per-joint position error.

    Each sample is aligned separately (`procrustes_align`).

    Args:
        pred: `[N, K, 3]` or `[K, 3]` joints, metres.
        gt: same shape.
        allow_reflection: see `procrustes_align` (FreiHAND: True).

    Returns:
        Mean error over samples and joints, metres.
    """
    aligned = procrustes_align(pred, gt, allow_reflection)
    return float(keypoint_errors(aligned, np.asarray(gt, np.float64)).mean())


def pa_mpvpe(pred: Any, gt: Any, allow_reflection: bool = False) -> float:
    """Procrustes-aligned mean per-vertex position error (meshes with the same topology).

    Args:
        pred: `[N, V, 3]` or `[V, 3]` vertices, metres.
        gt: same shape (same vertex count and order).
        allow_reflection: see `procrustes_align` (FreiHAND: True).

    Returns:
        Mean error over samples and vertices, metres.
    """
    return pa_mpjpe(pred, gt, allow_reflection)


# --------------------------------------------------------------------------- mesh health


def rotation_errors_deg(pred_rotmat: Any, gt_rotmat: Any) -> np.ndarray:
    """Geodesic angle between two rotations, per sample, in degrees.

    The angle of `R_pred^T R_gt`: `arccos((trace - 1) / 2)`, the smallest
    rotation that turns one onto the other (0-180 degrees). Used as the health
    check of the regressed global hand orientation against the label's.

    Args:
        pred_rotmat: `[N, 3, 3]` or `[3, 3]` rotation matrices.
        gt_rotmat: same shape.

    Returns:
        float64 `[N]` degrees (a float for one pair).

    Raises:
        ValueError: bad or different shapes.
    """
    p = np.asarray(pred_rotmat, np.float64)
    g = np.asarray(gt_rotmat, np.float64)
    if p.shape[-2:] != (3, 3) or p.ndim not in (2, 3):
        raise ValueError(
            f"pred_rotmat must have shape [N, 3, 3] or [3, 3]. Received: pred_rotmat.shape={_shape(p)}"
        )
    _same_shape(pred_rotmat, gt_rotmat, "pred_rotmat", "gt_rotmat")
    # trace(P^T G) = sum_ij P_ij G_ij
    trace = np.sum(p * g, axis=(-2, -1))
    angle = np.degrees(np.arccos(np.clip((trace - 1.0) / 2.0, -1.0, 1.0)))
    return angle if p.ndim == 3 else float(angle)


def depth_ratios(pred_depth: Any, pred_focal: Any, gt_depth: Any, gt_focal: Any) -> np.ndarray:
    """Predicted over true depth of a point, each in units of its camera's focal length.

    A single image fixes the depth of a hand only relative to the focal length
    (a hand twice as far through a lens twice as long looks the same), and a
    model with a fixed focal length cannot know the data's. So the ratio
    compares `Z / f` (metres per pixel at that depth, the inverse of the
    image scale): 1 when the prediction has the right image size, > 1 when the
    predicted hand is too far away (drawn too small), < 1 when too close.

    Args:
        pred_depth: `[N]` predicted depth (metres, > 0 in front of the camera).
        pred_focal: `[N]` or scalar, the prediction's focal length (pixels).
        gt_depth: `[N]` true depth (metres).
        gt_focal: `[N]` or scalar, the true focal length (pixels of the same image).

    Returns:
        float64 `[N]`: `(pred_depth / pred_focal) / (gt_depth / gt_focal)`.

    Raises:
        ValueError: mismatched shapes, or a true depth or focal length <= 0.
    """
    pz = np.atleast_1d(np.asarray(pred_depth, np.float64))
    gz = np.atleast_1d(np.asarray(gt_depth, np.float64))
    if pz.ndim != 1:
        raise ValueError(f"pred_depth must have shape [N]. Received: pred_depth.shape={_shape(pz)}")
    _same_shape(pz, gz, "pred_depth", "gt_depth")
    pf = np.broadcast_to(np.asarray(pred_focal, np.float64), pz.shape)
    gf = np.broadcast_to(np.asarray(gt_focal, np.float64), pz.shape)
    if np.any(gz <= 0) or np.any(gf <= 0) or np.any(pf <= 0):
        raise ValueError(
            "gt_depth, gt_focal and pred_focal must be > 0. Received: "
            f"min gt_depth={gz.min():.3g}, min gt_focal={gf.min():.3g}, "
            f"min pred_focal={pf.min():.3g}"
        )
    return (pz / pf) / (gz / gf)


# --------------------------------------------------------------------------- F-score


def nearest_distances(points: Any, targets: Any, chunk_size: int = 256) -> np.ndarray:
    """Distance from each point to its nearest target point (brute force, chunked).

    Memory is bounded by `chunk_size * W * 3` float64 values.

    Args:
        points: `[V, 3]`.
        targets: `[W, 3]`, W >= 1.
        chunk_size: points per chunk.

    Returns:
        float64 `[V]`.
    """
    a = np.asarray(points, np.float64)
    b = np.asarray(targets, np.float64)
    out = np.empty(a.shape[0], np.float64)
    for lo in range(0, a.shape[0], chunk_size):
        diff = a[lo : lo + chunk_size, None, :] - b[None, :, :]  # [c, W, 3]
        out[lo : lo + chunk_size] = np.sqrt(np.min(np.einsum("cwi,cwi->cw", diff, diff), axis=1))
    return out


def f_score(
    pred_vertices: Any,
    gt_vertices: Any,
    threshold: float | Sequence[float],
    align: bool = False,
    return_precision_recall: bool = False,
    chunk_size: int = 256,
) -> np.ndarray | tuple[np.ndarray, np.ndarray, np.ndarray]:
    """F-score of a predicted point set against the ground truth (FreiHAND's `calculate_fscore`).

    Precision = fraction of predicted points whose nearest ground-truth point is
    closer than the threshold (`d < t`, strict, as FreiHAND); recall = fraction
    of ground-truth points whose nearest predicted point is closer than `t`;
    `F = 2 P R / (P + R)`, 0 when `P + R = 0`. (FreiHAND's code names the two the
    other way round; F is symmetric.) FreiHAND reports F on the aligned
    vertices: `align=True`, or `freihand_metrics`.

    Args:
        pred_vertices: `[N, V, 3]` or `[V, 3]`, metres.
        gt_vertices: `[N, W, 3]` or `[W, 3]`; W may differ from V.
        threshold: metres; a float or a sequence of T floats.
        align: first align the prediction with `procrustes_align(...,
            allow_reflection=True)` as FreiHAND does (needs V = W).
        return_precision_recall: also return precision and recall.
        chunk_size: rows per chunk of the nearest-neighbour search.

    Returns:
        F-scores `[N]` (`[N, T]` for a sequence of thresholds; no N axis for one
        sample), and with `return_precision_recall` the tuple `(f, precision, recall)`.

    Raises:
        ValueError: bad shapes or thresholds.
    """
    pred, batched = _as_points(pred_vertices, "pred_vertices")
    gt, gt_batched = _as_points(gt_vertices, "gt_vertices")
    if batched != gt_batched or pred.shape[0] != gt.shape[0]:
        raise ValueError(
            "pred_vertices and gt_vertices must hold the same number of samples. Received: "
            f"pred_vertices.shape={_shape(np.asarray(pred_vertices))}, "
            f"gt_vertices.shape={_shape(np.asarray(gt_vertices))}"
        )
    if pred.shape[1] == 0 or gt.shape[1] == 0:
        raise ValueError(
            "pred_vertices and gt_vertices must hold at least one point. Received: "
            f"pred_vertices.shape={_shape(pred)}, gt_vertices.shape={_shape(gt)}"
        )
    scalar = np.ndim(threshold) == 0
    t = np.atleast_1d(np.asarray(threshold, np.float64))
    if t.ndim != 1 or np.any(t <= 0) or not np.all(np.isfinite(t)):
        raise ValueError(f"threshold must be > 0. Received: threshold={threshold!r}")
    if align:
        if pred.shape != gt.shape:
            raise ValueError(
                "align=True needs pred_vertices and gt_vertices of the same shape. "
                f"Received: pred_vertices.shape={_shape(pred)}, gt_vertices.shape={_shape(gt)}"
            )
        pred = procrustes_align(pred, gt, allow_reflection=True)
    n = pred.shape[0]
    precision = np.empty((n, t.size))
    recall = np.empty((n, t.size))
    for i in range(n):
        d_pred = nearest_distances(pred[i], gt[i], chunk_size)  # [V]: pred -> nearest gt
        d_gt = nearest_distances(gt[i], pred[i], chunk_size)  # [W]: gt -> nearest pred
        precision[i] = np.mean(d_pred[:, None] < t, axis=0)
        recall[i] = np.mean(d_gt[:, None] < t, axis=0)
    total = precision + recall
    f = np.where(total > 0, 2 * precision * recall / np.where(total > 0, total, 1.0), 0.0)
    outputs = [f, precision, recall]
    if scalar:
        outputs = [o[:, 0] for o in outputs]
    if not batched:
        outputs = [o[0] for o in outputs]
    return tuple(outputs) if return_precision_recall else outputs[0]


# --------------------------------------------------------------------------- hand3d (RHD / STB)


def rhd_stb_pck(
    pred: Any,
    gt: Any,
    visible: Any = None,
    thresholds: Any = None,
    auc_min: float = HAND3D_AUC_MIN_M,
    root: int = 0,
    scale_to_reference_bone: bool = True,
) -> dict[str, Any]:
    """3D PCK of the RHD / STB protocol (lmb-freiburg/hand3d `eval_full.py`).

    1. Both sets are made relative to the root keypoint (0: the wrist in our
       order; hand3d's RHD records put the palm centre there).
    2. The prediction is rescaled so that its reference bone
       (`hiu_tf.keypoints.REFERENCE_BONE`, middle MCP -> PIP) has the
       ground-truth length (hand3d predicts normalised coordinates and
       multiplies them by that length).
    3. PCK per keypoint over visible samples, averaged over keypoints, at 20
       thresholds `linspace(0, 50 mm, 20)` (`get_measures(0.0, 0.050, 20)`).
    4. `auc` integrates the part of the curve at thresholds >= 20 mm (21.05 mm
       to 50 mm here, hand3d's `[8:]`), normalised by that range; `auc_0_50`
       the whole curve.

    Args:
        pred: `[N, 21, 3]` or `[21, 3]` predicted joints, metres, canonical order.
        gt: same shape, ground truth.
        visible: `[N, 21]` mask of the keypoints to count; None = all.
        thresholds: `[T]` metres; None = the 20 above.
        auc_min: lower end of the AUC range, metres.
        root: index of the root keypoint.
        scale_to_reference_bone: apply step 2.

    Returns:
        Dict: `thresholds [T]` (metres), `pck [T]`, `auc` (>= auc_min),
        `auc_0_50` (all thresholds), `epe_mean`, `epe_median` (metres, after
        steps 1-2) and `count` (samples with a visible keypoint).

    Raises:
        ValueError: bad shapes, or fewer than 2 thresholds >= auc_min.
    """
    p, batched = _as_points(pred, "pred")
    g, _ = _as_points(gt, "gt")
    _same_shape(pred, gt, "pred", "gt")
    if p.shape[1] != NUM_KEYPOINTS:
        raise ValueError(
            f"pred must hold {NUM_KEYPOINTS} keypoints in the canonical order. "
            f"Received: pred.shape={_shape(p)}"
        )
    if visible is not None and not batched:
        visible = np.asarray(visible)[None]
    vis = _as_visible(visible, p.shape[:2])
    t = _as_thresholds(_linspace(HAND3D_THRESHOLDS_M) if thresholds is None else thresholds)
    upper = t[t >= auc_min - 1e-12]
    if upper.size < 2:
        raise ValueError(
            f"at least 2 thresholds must be >= auc_min. Received: auc_min={auc_min}, "
            f"thresholds={np.array2string(t, threshold=8)}"
        )
    p = p - p[:, root : root + 1]
    g = g - g[:, root : root + 1]
    if scale_to_reference_bone:
        a, b = REFERENCE_BONE
        gt_len = np.linalg.norm(g[:, b] - g[:, a], axis=-1)  # [N]
        pred_len = np.linalg.norm(p[:, b] - p[:, a], axis=-1)  # [N]
        p = p * np.where(pred_len > _EPS, gt_len / np.maximum(pred_len, _EPS), 1.0)[:, None, None]
    out = _curve_summary(keypoint_errors(p, g), vis, t)
    out["auc_0_50"] = out.pop("auc")
    out["auc"] = auc(out["pck"][t >= auc_min - 1e-12], upper)
    return out


# --------------------------------------------------------------------------- FreiHAND


def freihand_metrics(
    pred_joints: Any,
    pred_vertices: Any,
    gt_joints: Any,
    gt_vertices: Any,
    return_curves: bool = False,
) -> dict[str, Any]:
    """The official FreiHAND evaluation (lmb-freiburg/freihand `eval.py`), aligned scores.

    Per sample, joints and vertices are aligned separately onto the ground
    truth by `procrustes_align(..., allow_reflection=True)` (`align_w_scale`:
    scale, orthogonal matrix, translation). Then:

    * `pa_mpjpe`, `pa_mpvpe`: mean aligned error (metres) (`xyz_al_mean3d`,
      `mesh_al_mean3d`; the official file writes them in cm).
    * `auc_joints`, `auc_vertices`: per-point PCK over `linspace(0, 0.05, 100)`
      metres, averaged over points, normalised AUC (`xyz_al_auc3d`, `mesh_al_auc3d`).
    * `f5`, `f15`: mean over samples of the F-score of the aligned vertices at
      5 mm and 15 mm (`f_al_score_5`, `f_al_score_15`).

    When the predicted mesh has another vertex count than the ground truth
    (not MANO's 778), FreiHAND cannot compare vertices one to one:
    `pa_mpvpe` and `auc_vertices` are None (the official script writes -1) and
    the vertices for the F-scores are moved by the similarity estimated on the
    joints. (The official `align_by_trafo` applies that similarity without the
    prediction's normalisation and about the vertices' own centroid; we apply
    the joints' similarity as such.)

    Args:
        pred_joints: `[N, 21, 3]` metres.
        pred_vertices: `[N, V, 3]` metres.
        gt_joints: `[N, 21, 3]` metres.
        gt_vertices: `[N, W, 3]` metres (W = 778 for FreiHAND).
        return_curves: also return `thresholds [100]` (metres), `pck_joints`
            and `pck_vertices` (`[100]`, None without one-to-one vertices).

    Returns:
        Dict with `pa_mpjpe`, `pa_mpvpe`, `f5`, `f15`, `auc_joints`,
        `auc_vertices` (floats or None), and the curves when asked.

    Raises:
        ValueError: bad shapes.
    """
    pj, _ = _as_points(pred_joints, "pred_joints", allow_unbatched=False)
    gj, _ = _as_points(gt_joints, "gt_joints", allow_unbatched=False)
    _same_shape(pred_joints, gt_joints, "pred_joints", "gt_joints")
    pv, _ = _as_points(pred_vertices, "pred_vertices", allow_unbatched=False)
    gv, _ = _as_points(gt_vertices, "gt_vertices", allow_unbatched=False)
    if not pj.shape[0] == pv.shape[0] == gv.shape[0]:
        raise ValueError(
            "all inputs must hold the same number of samples. Received: "
            f"pred_joints.shape={_shape(pj)}, pred_vertices.shape={_shape(pv)}, "
            f"gt_vertices.shape={_shape(gv)}"
        )
    thresholds = _linspace(FREIHAND_THRESHOLDS_M)
    joints_aligned = procrustes_align(pj, gj, allow_reflection=True)
    joint_errors = keypoint_errors(joints_aligned, gj)  # [N, 21]
    pck_joints = pck_curve(joint_errors, thresholds)
    one_to_one = pv.shape == gv.shape
    if one_to_one:
        verts_aligned = procrustes_align(pv, gv, allow_reflection=True)
        vertex_errors = keypoint_errors(verts_aligned, gv)  # [N, V]
        pck_vertices = pck_curve(vertex_errors, thresholds)
    else:
        verts_aligned = apply_similarity(pv, *procrustes_transform(pj, gj, allow_reflection=True))
        pck_vertices = None
    f = f_score(verts_aligned, gv, FREIHAND_F_THRESHOLDS_M)  # [N, 2]
    out: dict[str, Any] = {
        "pa_mpjpe": float(joint_errors.mean()),
        "pa_mpvpe": float(vertex_errors.mean()) if one_to_one else None,
        "f5": float(f[:, 0].mean()),
        "f15": float(f[:, 1].mean()),
        "auc_joints": auc(pck_joints, thresholds),
        "auc_vertices": auc(pck_vertices, thresholds) if one_to_one else None,
    }
    if return_curves:
        out.update(thresholds=thresholds, pck_joints=pck_joints, pck_vertices=pck_vertices)
    return out
