"""Metrics: hand-computed cases, independent per-sample NumPy references, Keras metrics."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from hiu_tf import metrics

# --------------------------------------------------------------------------- references


def _random_rotation(rng) -> np.ndarray:
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    if np.linalg.det(q) < 0:
        q[:, 0] = -q[:, 0]
    return q


def _freihand_align_reference(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """FreiHAND's `align_w_scale(gt, pred)`, written out for one sample.

    `orthogonal_procrustes(A, B)` returns `R = U V^T` and `sum(S)` from the SVD
    `U S V^T` of `A^T B`.
    """
    t1, t2 = gt.mean(0), pred.mean(0)
    a, b = gt - t1, pred - t2
    s1 = np.linalg.norm(a) + 1e-8
    s2 = np.linalg.norm(b) + 1e-8
    a, b = a / s1, b / s2
    u, w, vt = np.linalg.svd(a.T @ b)
    r, s = u @ vt, w.sum()
    return (b @ r.T) * s * s1 + t1


def _proper_align_reference(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Kabsch-Umeyama with a proper rotation, for one sample, in column-vector form."""
    mu_p, mu_g = pred.mean(0), gt.mean(0)
    x, y = (pred - mu_p).T, (gt - mu_g).T  # [3, P]
    cov = y @ x.T / x.shape[1]
    u, d, vt = np.linalg.svd(cov)
    s = np.eye(3)
    if np.linalg.det(u) * np.linalg.det(vt) < 0:
        s[2, 2] = -1
    rot = u @ s @ vt
    var_p = np.sum(x**2) / x.shape[1]
    scale = np.trace(np.diag(d) @ s) / var_p
    return (scale * rot @ x).T + mu_g


def _nearest_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty(len(a))
    for i, p in enumerate(a):
        out[i] = np.min(np.sqrt(((b - p) ** 2).sum(-1)))
    return out


def _fscore_reference(gt: np.ndarray, pred: np.ndarray, th: float) -> float:
    d1 = _nearest_reference(gt, pred)
    d2 = _nearest_reference(pred, gt)
    recall = float(np.sum(d2 < th)) / len(d2)
    precision = float(np.sum(d1 < th)) / len(d1)
    return 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0


def _evalutil_reference(gt, pred, thresholds):
    """hand3d / FreiHAND `EvalUtil.get_measures` for all-visible points: (mean, auc, curve)."""
    errors = np.sqrt(((gt - pred) ** 2).sum(-1))  # [N, K]
    norm = np.trapezoid(np.ones_like(thresholds), thresholds)
    means, aucs, curves = [], [], []
    for k in range(errors.shape[1]):
        data = errors[:, k]
        means.append(data.mean())
        curve = np.array([np.mean(data <= t) for t in thresholds])
        curves.append(curve)
        aucs.append(np.trapezoid(curve, thresholds) / norm)
    return np.mean(means), np.mean(aucs), np.mean(curves, 0)


def _similar_copy(rng, points: np.ndarray, scale: float = 1.7) -> np.ndarray:
    """`points` rotated, scaled and translated (per sample)."""
    out = np.empty_like(points)
    for i, p in enumerate(points):
        out[i] = scale * p @ _random_rotation(rng).T + rng.normal(size=3)
    return out


# --------------------------------------------------------------------------- Procrustes


def test_similar_copy_aligns_to_zero_error():
    rng = np.random.default_rng(0)
    gt = rng.normal(size=(4, 21, 3)) * 0.05
    pred = _similar_copy(rng, gt, scale=2.5)
    np.testing.assert_allclose(metrics.procrustes_align(pred, gt), gt, atol=1e-12)
    assert metrics.pa_mpjpe(pred, gt) < 1e-12
    assert metrics.pa_mpjpe(pred[0], gt[0]) < 1e-12
    assert metrics.procrustes_align(pred[0], gt[0]).shape == (21, 3)


def test_transform_recovers_scale_rotation_translation():
    rng = np.random.default_rng(1)
    gt = rng.normal(size=(30, 3))
    rot = _random_rotation(rng)
    pred = (gt - 0.3) @ rot / 2.0  # gt = 2 * pred @ rot.T + 0.3
    s, r, t = metrics.procrustes_transform(pred, gt)
    assert s == pytest.approx(2.0)
    np.testing.assert_allclose(r, rot, atol=1e-12)
    np.testing.assert_allclose(t, [0.3, 0.3, 0.3], atol=1e-12)
    np.testing.assert_allclose(metrics.apply_similarity(pred, s, r, t), gt, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_random_matches_per_sample_references(seed):
    rng = np.random.default_rng(seed)
    gt = rng.normal(size=(6, 21, 3)) * 0.05
    pred = gt + rng.normal(size=gt.shape) * 0.02 + rng.normal(size=(6, 1, 3))
    ours_fh = metrics.procrustes_align(pred, gt, allow_reflection=True)
    ours = metrics.procrustes_align(pred, gt)
    for i in range(len(gt)):
        np.testing.assert_allclose(ours_fh[i], _freihand_align_reference(gt[i], pred[i]), atol=1e-7)
        np.testing.assert_allclose(ours[i], _proper_align_reference(pred[i], gt[i]), atol=1e-10)


def test_matches_scipy_orthogonal_procrustes():
    from scipy import linalg  # a pinned dependency: never skipped

    rng = np.random.default_rng(3)
    gt = rng.normal(size=(21, 3))
    pred = rng.normal(size=(21, 3))  # unrelated sets: a reflection may well be optimal
    a, b = gt - gt.mean(0), pred - pred.mean(0)
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    r, s = linalg.orthogonal_procrustes(a / na, b / nb)
    expected = (b / nb) @ r.T * s * na + gt.mean(0)
    np.testing.assert_allclose(
        metrics.procrustes_align(pred, gt, allow_reflection=True), expected, atol=1e-12
    )


def test_reflection():
    rng = np.random.default_rng(4)
    gt = rng.normal(size=(21, 3))
    mirrored = gt * [-1.0, 1.0, 1.0] @ _random_rotation(rng).T * 0.5 + 1.0
    # FreiHAND's choice: an orthogonal matrix, so a mirror image aligns exactly.
    np.testing.assert_allclose(
        metrics.procrustes_align(mirrored, gt, allow_reflection=True), gt, atol=1e-12
    )
    _, r_fh, _ = metrics.procrustes_transform(mirrored, gt, allow_reflection=True)
    assert np.linalg.det(r_fh) == pytest.approx(-1.0)
    # Default: a proper rotation, which cannot undo the mirror.
    s, r, _ = metrics.procrustes_transform(mirrored, gt)
    assert np.linalg.det(r) == pytest.approx(1.0) and s > 0
    np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
    assert metrics.pa_mpjpe(mirrored, gt) > 0.1
    assert metrics.pa_mpjpe(mirrored, gt, allow_reflection=True) < 1e-12
    np.testing.assert_allclose(
        metrics.procrustes_align(mirrored, gt), _proper_align_reference(mirrored, gt), atol=1e-10
    )


def test_degenerate_prediction_gives_the_gt_centroid():
    gt = np.arange(9.0).reshape(3, 3)
    aligned = metrics.procrustes_align(np.ones((3, 3)), gt)
    np.testing.assert_allclose(aligned, np.broadcast_to(gt.mean(0), (3, 3)))


def test_mpjpe_hand_computed():
    gt = np.zeros((2, 21, 3))
    pred = gt + [0.01, 0.0, 0.0]
    assert metrics.mpjpe(pred, gt) == pytest.approx(0.01)
    assert metrics.mpjpe(pred, gt, root=0) == pytest.approx(0.0)
    pred = gt.copy()
    pred[0, 5] = [0.03, 0.04, 0.0]  # 5 cm off on one joint of 42
    assert metrics.mpjpe(pred, gt, root=0) == pytest.approx(0.05 / 42)
    assert metrics.pa_mpvpe(gt + 1.0, gt) == pytest.approx(0.0)


# --------------------------------------------------------------------------- F-score


def test_f_score_hand_computed():
    gt = np.array([[0.0, 0.0, 0.0], [1.0, 0.0, 0.0]])
    pred = np.array([[0.0, 0.0, 0.004], [1.0, 0.0, 0.010]])
    assert metrics.f_score(pred, gt, 0.005) == pytest.approx(0.5)
    np.testing.assert_allclose(metrics.f_score(pred, gt, [0.005, 0.015]), [0.5, 1.0])
    # Two predicted points near the first gt point, one far: P = 2/3, R = 1/2.
    pred = np.array([[0.0, 0.0, 0.001], [0.0, 0.0, 0.002], [5.0, 0.0, 0.0]])
    f, p, r = metrics.f_score(pred, gt, 0.005, return_precision_recall=True)
    assert (p, r) == (pytest.approx(2 / 3), pytest.approx(0.5))
    assert f == pytest.approx(4 / 7)
    # Strict: a distance equal to the threshold does not count (FreiHAND: d < th).
    assert metrics.f_score(gt + [0.0, 0.25, 0.0], gt, 0.25) == 0.0
    assert metrics.f_score(gt + [0.0, 0.25, 0.0], gt, 0.2500001) == 1.0


def test_f_score_random_against_brute_force():
    rng = np.random.default_rng(5)
    gt = rng.normal(size=(3, 50, 3)) * 0.03
    pred = rng.normal(size=(3, 37, 3)) * 0.03
    got = metrics.f_score(pred, gt, [0.005, 0.015], chunk_size=7)
    assert got.shape == (3, 2)
    for i in range(3):
        for j, t in enumerate((0.005, 0.015)):
            assert got[i, j] == pytest.approx(_fscore_reference(gt[i], pred[i], t))
    np.testing.assert_allclose(
        metrics.nearest_distances(pred[0], gt[0], chunk_size=5), _nearest_reference(pred[0], gt[0])
    )


def test_f_score_align():
    rng = np.random.default_rng(6)
    gt = rng.normal(size=(2, 100, 3)) * 0.05
    pred = _similar_copy(rng, gt, 0.7)
    np.testing.assert_allclose(metrics.f_score(pred, gt, 0.005, align=True), [1.0, 1.0])
    assert np.all(metrics.f_score(pred, gt, 0.005) < 0.5)


# --------------------------------------------------------------------------- curves


def test_pck_curve_and_auc_hand_computed():
    errors = np.array([0.5, 1.5, 2.5, 3.5])
    t = np.array([0.0, 1.0, 2.0, 3.0, 4.0])
    np.testing.assert_allclose(metrics.pck_curve(errors, t), [0, 0.25, 0.5, 0.75, 1])
    assert metrics.pck_curve(np.array([1.0]), [0.0, 1.0])[1] == 1.0  # error <= t
    # Step curve: 0 up to 1, 1 from 2 on: trapezoids 0 + 0.5 + 1 + 1 over a range of 4.
    assert metrics.auc([0, 0, 1, 1, 1], t) == pytest.approx(0.625)
    assert metrics.auc(np.ones(5), t) == pytest.approx(1.0)


def test_pck_curve_averages_over_keypoints_with_visibility():
    errors = np.array([[0.0, 9.0, 0.0], [0.0, 0.0, 0.0]])
    visible = np.array([[1, 1, 0], [1, 0, 0]])
    # Keypoint 0: 2/2 correct, keypoint 1: 0/1, keypoint 2: never visible (dropped).
    np.testing.assert_allclose(metrics.pck_curve(errors, [1.0, 10.0], visible), [0.5, 1.0])
    mean, median = metrics.epe_stats(errors, visible)
    assert (mean, median) == (pytest.approx(4.5), pytest.approx(4.5))
    assert np.all(np.isnan(metrics.pck_curve(errors, [1.0, 2.0], np.zeros((2, 3)))))


def test_pck_2d_pixels_with_visibility():
    gt = np.zeros((2, 21, 2))
    pred = gt.copy()
    pred[0, :, 0] = 3.0  # 3 px off everywhere in sample 0
    pred[1, :, 1] = 40.0  # 40 px off in sample 1, but only keypoint 0 visible
    visible = np.ones((2, 21))
    visible[1, 1:] = 0
    out = metrics.pck_2d(pred, gt, visible)
    assert out["thresholds"].shape == (20,) and out["thresholds"][-1] == 30.0
    assert out["count"] == 2
    # Keypoint 0: one of two correct at 3..30 px; the others: one of one.
    t = out["thresholds"]
    expected = np.where(t >= 3.0, (0.5 + 20 * 1.0) / 21, 0.0)
    np.testing.assert_allclose(out["pck"], expected)
    assert out["auc"] == pytest.approx(metrics.auc(expected, t))
    assert out["epe_mean"] == pytest.approx((21.5 + 20 * 3.0) / 21)
    single = metrics.pck_2d(pred[0], gt[0], thresholds=[0.0, 5.0])
    np.testing.assert_allclose(single["pck"], [0.0, 1.0])


def _hand(rng) -> np.ndarray:
    return rng.normal(size=(21, 3)) * 0.03 + [0.0, 0.0, 0.5]


def test_rhd_stb_pck_hand_computed():
    rng = np.random.default_rng(7)
    gt = np.stack([_hand(rng) for _ in range(3)])
    # Twice the size, elsewhere: root-relative and rescaled to the reference bone, exact.
    out = metrics.rhd_stb_pck(2.0 * gt, gt)
    t = out["thresholds"]
    np.testing.assert_allclose(t, np.linspace(0.0, 0.05, 20))
    np.testing.assert_allclose(out["pck"], 1.0)
    assert out["auc"] == 1.0 and out["auc_0_50"] == 1.0 and out["count"] == 3
    no_scale = metrics.rhd_stb_pck(2.0 * gt, gt, scale_to_reference_bone=False)
    assert no_scale["auc_0_50"] < 1.0
    # The pinky tip 30 mm off in every sample (not the root, not the reference bone).
    pred = gt.copy()
    pred[:, 20] += [0.0, 0.03, 0.0]
    out = metrics.rhd_stb_pck(pred, gt)
    curve = np.where(t >= 0.03 - 1e-12, 1.0, 20 / 21)
    np.testing.assert_allclose(out["pck"], curve)
    upper = t >= 0.02  # hand3d: threshs[8:], 21.05 mm .. 50 mm
    assert np.flatnonzero(upper)[0] == 8
    expected = np.trapezoid(curve[upper], t[upper]) / (t[-1] - t[8])
    assert out["auc"] == pytest.approx(expected)
    assert out["auc_0_50"] == pytest.approx(np.trapezoid(curve, t) / 0.05)
    assert out["epe_mean"] == pytest.approx(0.03 / 21)


def test_rhd_stb_pck_matches_evalutil_reference():
    rng = np.random.default_rng(8)
    gt = np.stack([_hand(rng) for _ in range(10)])
    pred = gt + rng.normal(size=gt.shape) * 0.01
    out = metrics.rhd_stb_pck(pred, gt, scale_to_reference_bone=False)
    g = gt - gt[:, :1]
    p = pred - pred[:, :1]
    mean, auc_all, curve = _evalutil_reference(g, p, np.linspace(0, 0.05, 20))
    assert out["epe_mean"] == pytest.approx(mean)
    assert out["auc_0_50"] == pytest.approx(auc_all)
    np.testing.assert_allclose(out["pck"], curve)


# --------------------------------------------------------------------------- FreiHAND


def _freihand_reference(pred_j, pred_v, gt_j, gt_v):
    """FreiHAND eval.py's aligned scores, one sample at a time (MANO-sized meshes)."""
    t = np.linspace(0.0, 0.05, 100)
    aj = np.stack([_freihand_align_reference(g, p) for g, p in zip(gt_j, pred_j, strict=True)])
    av = np.stack([_freihand_align_reference(g, p) for g, p in zip(gt_v, pred_v, strict=True)])
    mj, auc_j, _ = _evalutil_reference(gt_j, aj, t)
    mv, auc_v, _ = _evalutil_reference(gt_v, av, t)
    f5 = np.mean([_fscore_reference(g, p, 0.005) for g, p in zip(gt_v, av, strict=True)])
    f15 = np.mean([_fscore_reference(g, p, 0.015) for g, p in zip(gt_v, av, strict=True)])
    return {"pa_mpjpe": mj, "pa_mpvpe": mv, "f5": f5, "f15": f15, "auc_joints": auc_j,
            "auc_vertices": auc_v}  # fmt: skip


def test_freihand_metrics_match_the_official_procedure():
    rng = np.random.default_rng(9)
    gt_j = np.stack([_hand(rng) for _ in range(4)])
    gt_v = rng.normal(size=(4, 120, 3)) * 0.04 + [0.0, 0.0, 0.5]
    pred_j = _similar_copy(rng, gt_j + rng.normal(size=gt_j.shape) * 0.006, 1.1)
    pred_v = _similar_copy(rng, gt_v + rng.normal(size=gt_v.shape) * 0.006, 0.9)
    got = metrics.freihand_metrics(pred_j, pred_v, gt_j, gt_v, return_curves=True)
    expected = _freihand_reference(pred_j, pred_v, gt_j, gt_v)
    for key, value in expected.items():
        assert got[key] == pytest.approx(value, abs=1e-9), key
    assert got["thresholds"].shape == got["pck_joints"].shape == (100,)
    assert 0.0 < got["f5"] < got["f15"] <= 1.0


def test_freihand_metrics_exact_and_non_mano_meshes():
    rng = np.random.default_rng(10)
    gt_j = np.stack([_hand(rng) for _ in range(2)])
    gt_v = rng.normal(size=(2, 80, 3)) * 0.04
    exact = metrics.freihand_metrics(gt_j * 1.5, gt_v, gt_j, gt_v)
    assert set(exact) == {"pa_mpjpe", "pa_mpvpe", "f5", "f15", "auc_joints", "auc_vertices"}
    assert exact["pa_mpjpe"] < 1e-12 and exact["f5"] == 1.0
    # Only the threshold 0 misses (float round-off above 0): 1 - (1/2) / 99.
    assert exact["auc_joints"] == pytest.approx(1 - 0.5 / 99, abs=1e-9)
    # Another mesh: vertices follow the joints' similarity; no per-vertex scores.
    s, t = 1.3, np.array([0.1, -0.2, 0.3])
    other = metrics.freihand_metrics(s * gt_j + t, s * gt_v[:, :50] + t, gt_j, gt_v)
    assert other["pa_mpvpe"] is None and other["auc_vertices"] is None
    recall = [np.mean(_nearest_reference(g, g[:50]) < 0.005) for g in gt_v]
    expected = np.mean([2 * r / (1 + r) for r in recall])  # precision 1
    assert other["f5"] == pytest.approx(expected)


# --------------------------------------------------------------------------- masks


def test_iou_of_two_rectangles():
    a = np.zeros((8, 8))
    b = np.zeros((8, 8))
    a[0:4, 0:4] = 1  # 16 px
    b[2:6, 2:6] = 1  # 16 px, 4 shared
    assert metrics.mask_iou(a, b) == pytest.approx(4 / 28)
    assert metrics.mask_iou(np.zeros((8, 8)), np.zeros((8, 8))) == 1.0
    ious = metrics.mask_iou(np.stack([a, a]), np.stack([b, a]))
    np.testing.assert_allclose(ious, [1 / 7, 1.0])
    assert metrics.mean_iou(np.stack([a, a]), np.stack([b, a])) == pytest.approx(4 / 7)
    assert metrics.mean_iou(np.stack([a, a]), np.stack([b, a]), valid=[0, 1]) == 1.0


def test_iou_pck():
    curve = metrics.iou_pck([0.2, 0.5, 0.9], [0.0, 0.5, 1.0])
    np.testing.assert_allclose(curve, [1.0, 1 / 3, 0.0])  # IoU must exceed t
    assert metrics.iou_pck([0.7]).shape == (21,)


# --------------------------------------------------------------------------- errors


def test_bad_inputs_name_the_argument():
    with pytest.raises(ValueError, match=r"pred must have shape .*Received: pred.shape=\[4, 2\]"):
        metrics.procrustes_align(np.zeros((4, 2)), np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"Received: pred.shape=\[21, 3\], gt.shape=\[20, 3\]"):
        metrics.pa_mpjpe(np.zeros((21, 3)), np.zeros((20, 3)))
    with pytest.raises(ValueError, match=r"thresholds must be .*increasing.*Received: thresholds="):
        metrics.pck_curve(np.zeros((2, 3)), [1.0, 0.5])
    with pytest.raises(ValueError, match=r"visible must have shape \[2, 3\]. Received: visible"):
        metrics.pck_curve(np.zeros((2, 3)), [0.0, 1.0], np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"threshold must be > 0. Received: threshold=0"):
        metrics.f_score(np.zeros((3, 3)), np.zeros((3, 3)), 0)
    with pytest.raises(ValueError, match=r"same number of samples"):
        metrics.f_score(np.zeros((2, 3, 3)), np.zeros((3, 3, 3)), 0.1)
    with pytest.raises(ValueError, match=r"gt_mask must have shape .*Received: gt_mask.shape"):
        metrics.mask_iou(np.zeros((4, 4)), np.zeros(4))
    with pytest.raises(ValueError, match=r"pred must hold 21 keypoints"):
        metrics.rhd_stb_pck(np.zeros((2, 5, 3)), np.zeros((2, 5, 3)))
    with pytest.raises(ValueError, match=r"pred_joints must have shape \[N, P, 3\]\. Received"):
        metrics.freihand_metrics(np.zeros((21, 3)), np.zeros((5, 3)), np.zeros((21, 3)), 0)
    with pytest.raises(ValueError, match=r"threshold must be > 0. Received: threshold=-1"):
        metrics.KeypointPCK2D(threshold=-1)


# --------------------------------------------------------------------------- Keras metrics


def _batches(seed: int, count: int = 3, batch: int = 4, size: int = 16):
    """(labels, outputs) batch dicts with mixed flags, as the pipeline and the model give them."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        gt_kp = rng.uniform(0, 64, (batch, 21, 2))
        gt_j = rng.normal(size=(batch, 21, 3)) * 0.03 + [0, 0, 0.5]
        labels = {
            "keypoints_px": gt_kp,
            "keypoint_visible": (rng.random((batch, 21)) > 0.3).astype("float32"),
            "joints_cam": gt_j,
            "mask": (rng.random((batch, 4 * size, 4 * size)) > 0.5).astype("float32"),
            "has_2d": (rng.random(batch) > 0.3).astype("float32"),
            "has_3d": (rng.random(batch) > 0.3).astype("float32"),
            "has_mask": (rng.random(batch) > 0.3).astype("float32"),
        }
        outputs = {
            "keypoints_px": gt_kp + rng.normal(size=gt_kp.shape) * 4.0,
            "joints_cam": gt_j + rng.normal(size=gt_j.shape) * 0.01,
            "stack1_mask_logits": rng.normal(size=(batch, size, size, 1)),
            "stack2_mask_logits": rng.normal(size=(batch, size, size, 1)),
        }
        labels = {k: v.astype("float32") for k, v in labels.items()}
        outputs = {k: v.astype("float32") for k, v in outputs.items()}
        yield labels, outputs


def _concat(batches, key_from):
    return {k: np.concatenate([b[key_from][k] for b in batches]) for k in batches[0][key_from]}


def _stream(metric, batches, graph: bool = False):
    metric.reset_state()
    update = tf.function(metric.update_state) if graph else metric.update_state
    for labels, outputs in batches:
        update(labels, outputs)
    return float(keras.ops.convert_to_numpy(metric.result()))


@pytest.mark.parametrize("graph", [False, True])
def test_keypoint_pck_2d_matches_numpy(graph):
    batches = [{"l": lab, "o": out} for lab, out in _batches(0)]
    labels, outputs = _concat(batches, "l"), _concat(batches, "o")
    visible = labels["keypoint_visible"] * labels["has_2d"][:, None]
    errors = metrics.keypoint_errors(outputs["keypoints_px"], labels["keypoints_px"])
    expected = metrics.pck_curve(errors, [0.0, 5.0], visible)[1]
    metric = metrics.KeypointPCK2D(threshold=5.0)
    got = _stream(metric, [(b["l"], b["o"]) for b in batches], graph)
    assert got == pytest.approx(expected, abs=1e-6)
    # Plain tensors, visibility as sample_weight.
    metric.reset_state()
    for b in batches:
        vis = b["l"]["keypoint_visible"] * b["l"]["has_2d"][:, None]
        metric.update_state(b["l"]["keypoints_px"], b["o"]["keypoints_px"], sample_weight=vis)
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)
    metric.reset_state()
    assert float(metric.result()) == 0.0


@pytest.mark.parametrize("graph", [False, True])
def test_mask_iou_matches_numpy(graph):
    batches = [{"l": lab, "o": out} for lab, out in _batches(1)]
    labels, outputs = _concat(batches, "l"), _concat(batches, "o")
    size = labels["mask"].shape[1]
    logits = tf.image.resize(outputs["stack2_mask_logits"], [size, size]).numpy()[..., 0]
    expected = metrics.mean_iou(logits > 0, labels["mask"], valid=labels["has_mask"])
    metric = metrics.MaskIoU()  # picks the last stack
    got = _stream(metric, [(b["l"], b["o"]) for b in batches], graph)
    assert got == pytest.approx(expected, abs=1e-6)
    # Plain tensors at the same resolution: no resizing.
    metric.reset_state()
    small = [(b["l"]["mask"][:, ::4, ::4], b["o"]["stack1_mask_logits"]) for b in batches]
    for mask, logit in small:
        metric.update_state(mask, logit)
    expected = metrics.mean_iou(
        np.concatenate([lg[..., 0] > 0 for _, lg in small]), np.concatenate([m for m, _ in small])
    )
    assert float(metric.result()) == pytest.approx(expected, abs=1e-6)


@pytest.mark.parametrize("graph", [False, True])
def test_mpjpe_3d_matches_numpy(graph):
    batches = [{"l": lab, "o": out} for lab, out in _batches(2)]
    labels, outputs = _concat(batches, "l"), _concat(batches, "o")
    keep = labels["has_3d"] > 0
    expected = 1000 * metrics.mpjpe(outputs["joints_cam"][keep], labels["joints_cam"][keep], root=0)
    metric = metrics.MPJPE3D()
    got = _stream(metric, [(b["l"], b["o"]) for b in batches], graph)
    assert got == pytest.approx(expected, rel=1e-5)
    metric.reset_state()
    for b in batches:
        metric.update_state(b["l"]["joints_cam"], b["o"]["joints_cam"], b["l"]["has_3d"])
    assert float(metric.result()) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize(
    "metric",
    [
        metrics.KeypointPCK2D(threshold=3.0, pred_key="keypoints_px_heatmap", name="pck_hm"),
        metrics.MaskIoU(pred_key="stack1_mask_logits", true_key="mask_small"),
        metrics.MPJPE3D(root=None),
    ],
    ids=lambda m: type(m).__name__,
)
def test_keras_metrics_serialise(metric):
    restored = keras.metrics.deserialize(keras.metrics.serialize(metric))
    assert type(restored) is type(metric)
    assert restored.get_config() == metric.get_config()


def test_fit_metrics_follow_the_model_outputs():
    import dataclasses

    from hiu_tf.presets import preset

    cfg = preset("tiny").model
    chosen = {m.name: m for m in metrics.fit_metrics(cfg)}
    assert list(chosen) == ["pck_2d_heatmap", "pck_2d_mesh", "mask_iou", "mpjpe_3d_mm"]
    assert chosen["pck_2d_mesh"].threshold == metrics.PCK_CROP_FRACTION * cfg.input_size
    assert chosen["pck_2d_heatmap"].pred_key == "keypoints_px_heatmap"
    mask = chosen["mask_iou"]
    assert (mask.pred_key, mask.true_key) == (f"stack{cfg.num_stacks}_mask_logits", "mask_small")
    refined = dataclasses.replace(cfg, mask_refine_width=8)
    mask = metrics.fit_metrics(refined, mask_label="mask")[2]
    assert (mask.pred_key, mask.true_key) == ("mask_logits", "mask")
    bare = dataclasses.replace(cfg, tasks=("heatmap",), mesh_head=False, render_mask=False)
    assert [m.name for m in metrics.fit_metrics(bare)] == ["pck_2d_heatmap"]
