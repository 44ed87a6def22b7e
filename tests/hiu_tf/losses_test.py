"""Losses: NumPy references, masking by label flags, gradients, stop-gradient sides."""

import dataclasses

import numpy as np
import pytest
import tensorflow as tf

from hiu_tf import losses
from hiu_tf.config import LossConfig, ModelConfig
from hiu_tf.keypoints import BONES
from tests.reference.lbs_numpy import rodrigues

B, H, K, C, S = 4, 8, 21, 60, 32.0
ALL_ON = {"mask_iou": 1.0, "joints_hand": 1.0}  # the terms that are off by default


def _rng(seed=0):
    return np.random.default_rng(seed)


def _flags(rng, p=0.5, size=B):
    flags = (rng.random(size) < p).astype(np.float32)
    flags[0], flags[-1] = 1.0, 0.0  # at least one on and one off
    return flags


def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def _np(value):
    return np.asarray(value, np.float64)


# --------------------------------------------------------------------------- NumPy references


def ref_heatmap(pred, target, visible, has_2d):
    per_map = ((pred - target) ** 2).mean(axis=(1, 2))  # [B, K]
    w = visible * has_2d[:, None]
    return (per_map * w).sum() / w.sum() if w.sum() else 0.0


def ref_pof(pred, target, weight):
    per_channel = ((pred - target) ** 2).mean(axis=(1, 2))
    return (per_channel * weight).sum() / weight.sum() if weight.sum() else 0.0


def ref_mask(logits, mask, has_mask):
    p = _sigmoid(logits[..., 0])
    ce = -(mask * np.log(p) + (1 - mask) * np.log(1 - p))
    per = ce.mean(axis=(1, 2))
    return (per * has_mask).sum() / has_mask.sum() if has_mask.sum() else 0.0


def ref_mask_iou(logits, target, has_mask):
    """1 - soft IoU per sample, written pixel by pixel."""
    per = []
    for b in range(logits.shape[0]):
        inter = union = 0.0
        for y in range(logits.shape[1]):
            for x in range(logits.shape[2]):
                p, t = 1.0 / (1.0 + np.exp(-logits[b, y, x, 0])), target[b, y, x]
                inter += p * t
                union += p + t - p * t
        per.append(1.0 - (inter + 1.0) / (union + 1.0))
    per = np.asarray(per)
    return (per * has_mask).sum() / has_mask.sum() if has_mask.sum() else 0.0


def ref_bone(pred, target, has_3d):
    def units(j):
        v = np.stack([j[:, c] - j[:, p] for p, c in BONES], axis=1)
        return v / np.linalg.norm(v, axis=-1, keepdims=True)

    loss = 1.0 - (units(pred) * units(target)).sum(-1)  # [B, 20]
    return (loss * has_3d[:, None]).sum() / (has_3d.sum() * len(BONES)) if has_3d.sum() else 0.0


def ref_reproj(pred, target, visible, has_2d, size):
    err = np.abs(pred - target).mean(-1) / size
    w = visible * has_2d[:, None]
    return (err * w).sum() / w.sum() if w.sum() else 0.0


def ref_render(rendered, mask, has_mask):
    per = ((rendered[..., 0] - mask) ** 2).mean(axis=(1, 2))
    return (per * has_mask).sum() / has_mask.sum() if has_mask.sum() else 0.0


def _random_rotmats(rng, shape):
    """Random rotations `[*shape, 3, 3]`: QR of Gaussian matrices, made proper."""
    q, r = np.linalg.qr(rng.normal(size=(*shape, 3, 3)))
    q = q * np.sign(np.diagonal(r, axis1=-2, axis2=-1))[..., None, :]
    q[..., :, 0] *= np.sign(np.linalg.det(q))[..., None]  # det = +1
    return q


def ref_angle(pred_r, gt_r):
    """Geodesic angle (radians) from the quaternion of the relative rotation."""
    rel = np.swapaxes(pred_r, -1, -2) @ gt_r
    w = np.sqrt(np.clip(1.0 + np.trace(rel, axis1=-2, axis2=-1), 0.0, None)) / 2.0
    return 2.0 * np.arccos(np.clip(w, 0.0, 1.0))


def ref_global_rotation(pose_rotmat, target_pose, has_mano):
    d = (1.0 - np.cos(ref_angle(pose_rotmat[:, 0], rodrigues(target_pose[:, :3])))) / 2.0
    return (d * has_mano).sum() / has_mano.sum() if has_mano.sum() else 0.0


def ref_hand_pose(pose_rotmat, target_pose, has_mano):
    target = rodrigues(target_pose[:, 3:].reshape(-1, 15, 3))
    d = (1.0 - np.cos(ref_angle(pose_rotmat[:, 1:], target))) / 2.0  # [B, 15]
    return (d * has_mano[:, None]).sum() / (15 * has_mano.sum()) if has_mano.sum() else 0.0


def ref_joints_3d(pred, target, has_3d):
    d = np.linalg.norm((pred - pred[:, :1]) - (target - target[:, :1]), axis=-1) / 0.1
    return (d * has_3d[:, None]).sum() / (21 * has_3d.sum()) if has_3d.sum() else 0.0


def ref_joints_hand(pred, pose_rotmat, target, target_pose, has_3d, has_mano):
    w = has_3d * has_mano
    d = np.zeros((len(pred), 21))
    for b in range(len(pred)):
        r_pred, r_true = pose_rotmat[b, 0], rodrigues(target_pose[b, :3])
        for k in range(21):
            a = r_pred.T @ (pred[b, k] - pred[b, 0])
            t = r_true.T @ (target[b, k] - target[b, 0])
            d[b, k] = np.linalg.norm(a - t) / 0.1
    return (d * w[:, None]).sum() / (21 * w.sum()) if w.sum() else 0.0


def ref_depth(camera, joints, k, has_3d):
    w = has_3d * (k[:, 0, 0] > 0)
    err = np.abs(
        np.log(camera[:, 3] / camera[:, 0])
        - np.log(joints[:, 9, 2] / np.where(w > 0, k[:, 0, 0], 1.0))
    )
    return (err * w).sum() / w.sum() if w.sum() else 0.0


# --------------------------------------------------------------------------- fixtures


def _batch(seed=0, unlabelled=False):
    """Random outputs and labels of a tiny 2-stack model with every task and the mesh."""
    rng = _rng(seed)
    f = np.float32
    out = {}
    for i in (1, 2):
        out[f"stack{i}_heatmaps"] = rng.normal(0, 0.3, (B, H, H, K)).astype(f)
        out[f"stack{i}_mask_logits"] = rng.normal(0, 2, (B, H, H, 1)).astype(f)
        out[f"stack{i}_pof"] = rng.normal(0, 0.5, (B, H, H, C)).astype(f)
    out["mask_logits"] = rng.normal(0, 2, (B, 2 * H, 2 * H, 1)).astype(f)  # MaskRefiner's
    out["keypoints_px_heatmap"] = rng.uniform(0, S, (B, K, 2)).astype(f)
    out["keypoints_px"] = rng.uniform(0, S, (B, K, 2)).astype(f)
    out["joints_cam"] = rng.normal(0, 0.05, (B, K, 3)).astype(f) + f(0.5)
    out["rendered_mask"] = rng.uniform(0, 1, (B, H, H, 1)).astype(f)
    out["mano_pose"] = rng.normal(0, 0.3, (B, 48)).astype(f)
    out["pose_rotmat"] = _random_rotmats(rng, (B, 16)).astype(f)
    out["mano_betas"] = rng.normal(0, 1, (B, 10)).astype(f)
    out["camera"] = np.stack(
        [np.full(B, 2 * S), *rng.normal(0, 0.02, (2, B)), rng.uniform(0.3, 0.8, B)], -1
    ).astype(f)
    zero = np.zeros(B, f)
    focal = rng.uniform(1.5, 2.5, B) * S
    intrinsics = np.zeros((B, 3, 3), f)
    intrinsics[:, 0, 0], intrinsics[:, 1, 1], intrinsics[:, 2, 2] = focal, focal, 1.0
    intrinsics[:, :2, 2] = S / 2
    intrinsics[1] = 0.0  # unknown K: no depth label
    labels = {
        "heatmaps": rng.uniform(0, 1, (B, H, H, K)).astype(f),
        "pof": rng.normal(0, 0.5, (B, H, H, C)).astype(f),
        "pof_weight": (rng.random((B, C)) < 0.7).astype(f),
        "mask_small": (rng.random((B, H, H)) < 0.4).astype(f),
        "mask": (rng.random((B, int(S), int(S))) < 0.4).astype(f),
        "keypoints_px": rng.uniform(0, S, (B, K, 2)).astype(f),
        "keypoint_visible": (rng.random((B, K)) < 0.8).astype(f),
        "joints_cam": rng.normal(0, 0.05, (B, K, 3)).astype(f) + f(0.5),
        "has_2d": zero if unlabelled else _flags(rng),
        "has_3d": zero if unlabelled else _flags(rng),
        "has_mask": zero if unlabelled else _flags(rng),
        "intrinsics": intrinsics,
        "mano_pose": rng.normal(0, 0.8, (B, 48)).astype(f),
        "mano_betas": rng.normal(0, 1, (B, 10)).astype(f),
        "has_mano": zero if unlabelled else _flags(rng),
    }
    if unlabelled:
        labels["pof_weight"] = np.zeros((B, C), f)
    return out, labels


def _model_config(**fields):
    base = ModelConfig(num_stacks=2, input_size=int(S), mask_refine_width=8)
    return dataclasses.replace(base, **fields)


# --------------------------------------------------------------------------- values


def test_each_loss_matches_numpy():
    out, lab = _batch(1)
    n = {k: _np(v) for k, v in {**out, **{"l_" + k: v for k, v in lab.items()}}.items()}
    cases = [
        (
            losses.heatmap_loss(
                out["stack1_heatmaps"], lab["heatmaps"], lab["keypoint_visible"], lab["has_2d"]
            ),
            ref_heatmap(
                n["stack1_heatmaps"], n["l_heatmaps"], n["l_keypoint_visible"], n["l_has_2d"]
            ),
        ),
        (
            losses.pof_loss(out["stack1_pof"], lab["pof"], lab["pof_weight"]),
            ref_pof(n["stack1_pof"], n["l_pof"], n["l_pof_weight"]),
        ),
        (
            losses.mask_loss(out["stack2_mask_logits"], lab["mask_small"], lab["has_mask"]),
            ref_mask(n["stack2_mask_logits"], n["l_mask_small"], n["l_has_mask"]),
        ),
        (
            losses.bone_orientation_loss(out["joints_cam"], lab["joints_cam"], lab["has_3d"]),
            ref_bone(n["joints_cam"], n["l_joints_cam"], n["l_has_3d"]),
        ),
        (
            losses.reprojection_loss(
                out["keypoints_px"], lab["keypoints_px"], lab["keypoint_visible"], lab["has_2d"], S
            ),
            ref_reproj(
                n["keypoints_px"], n["l_keypoints_px"], n["l_keypoint_visible"], n["l_has_2d"], S
            ),
        ),
        (
            losses.rendered_mask_loss(out["rendered_mask"], lab["mask_small"], lab["has_mask"]),
            ref_render(n["rendered_mask"], n["l_mask_small"], n["l_has_mask"]),
        ),
        (
            losses.mask_consistency_loss(out["rendered_mask"], out["stack2_mask_logits"]),
            ((n["rendered_mask"] - _sigmoid(n["stack2_mask_logits"])) ** 2).mean(),
        ),
        (
            losses.keypoint_consistency_loss(out["keypoints_px"], out["keypoints_px_heatmap"], S),
            np.abs(n["keypoints_px"] - n["keypoints_px_heatmap"]).mean() / S,
        ),
        (
            losses.pose_prior_loss(out["mano_pose"]),
            (n["mano_pose"][:, 3:] ** 2).sum(-1).mean(),
        ),
        (losses.shape_prior_loss(out["mano_betas"]), (n["mano_betas"] ** 2).sum(-1).mean()),
        (
            losses.global_rotation_loss(out["pose_rotmat"], lab["mano_pose"], lab["has_mano"]),
            ref_global_rotation(n["pose_rotmat"], n["l_mano_pose"], n["l_has_mano"]),
        ),
        (
            losses.hand_pose_loss(out["pose_rotmat"], lab["mano_pose"], lab["has_mano"]),
            ref_hand_pose(n["pose_rotmat"], n["l_mano_pose"], n["l_has_mano"]),
        ),
        (
            losses.shape_loss(out["mano_betas"], lab["mano_betas"], lab["has_mano"]),
            (((n["mano_betas"] - n["l_mano_betas"]) ** 2).mean(-1) * n["l_has_mano"]).sum()
            / n["l_has_mano"].sum(),
        ),
        (
            losses.joints_3d_loss(out["joints_cam"], lab["joints_cam"], lab["has_3d"]),
            ref_joints_3d(n["joints_cam"], n["l_joints_cam"], n["l_has_3d"]),
        ),
        (
            losses.hand_frame_joints_loss(
                out["joints_cam"],
                out["pose_rotmat"],
                lab["joints_cam"],
                lab["mano_pose"],
                lab["has_3d"],
                lab["has_mano"],
            ),
            ref_joints_hand(
                n["joints_cam"],
                n["pose_rotmat"],
                n["l_joints_cam"],
                n["l_mano_pose"],
                n["l_has_3d"],
                n["l_has_mano"],
            ),
        ),
        (
            losses.depth_loss(out["camera"], lab["joints_cam"], lab["intrinsics"], lab["has_3d"]),
            ref_depth(n["camera"], n["l_joints_cam"], n["l_intrinsics"], n["l_has_3d"]),
        ),
    ]
    for i, (got, want) in enumerate(cases):
        assert got.dtype == tf.float32
        np.testing.assert_allclose(float(got), want, rtol=2e-5, atol=1e-7, err_msg=str(i))


def test_hand_frame_joints_see_the_fingers_and_shape_but_not_the_global_rotation():
    from mano_tf.mano_layer import ManoLayer
    from mano_tf.rotations import axis_angle_to_matrix

    rng = _rng(21)
    layer = ManoLayer("open:right", flat_hand_mean=True)
    fingers = rng.normal(0, 0.4, (2, 45))
    betas = rng.normal(0, 1, (2, 10)).astype(np.float32)
    label_pose = np.concatenate([rng.normal(0, 1.5, (2, 3)), fingers], 1).astype(np.float32)
    label = layer(label_pose, betas)["joints"].numpy() + [0.0, 0.0, 0.5]
    ones = np.ones(2, np.float32)

    def pred_rotmat(global_rotmat, finger_pose):
        joints = axis_angle_to_matrix(tf.reshape(tf.cast(finger_pose, tf.float32), (2, 15, 3)))
        return tf.concat([global_rotmat[:, None], joints], axis=1)

    def loss_of(global_rotmat, finger_pose, offset):
        rotmat = pred_rotmat(global_rotmat, finger_pose)
        joints = layer(betas=betas, pose_rotmat=rotmat)["joints"] + offset
        return losses.hand_frame_joints_loss(joints, rotmat, label, label_pose, ones, ones)

    # The same fingers and shape under another global rotation and position: zero,
    # where the camera-frame joint term is large.
    other = tf.constant(_random_rotmats(rng, (2,)), tf.float32)
    assert float(loss_of(other, fingers, [0.1, -0.2, 0.9])) < 1e-4  # 0.01 mm
    moved = layer(betas=betas, pose_rotmat=pred_rotmat(other, fingers))["joints"]
    assert float(losses.joints_3d_loss(moved, label, ones)) > 0.3
    # No gradient reaches the global rotation (along rotations: R = R0 exp(w), as the
    # head's 6D or axis-angle output keeps R a rotation); the fingers get one.
    w = tf.Variable(rng.normal(0, 0.3, (2, 3)).astype(np.float32))
    bent = tf.Variable((fingers + rng.normal(0, 0.3, (2, 45))).astype(np.float32))
    with tf.GradientTape() as tape:
        value = loss_of(other @ axis_angle_to_matrix(w), bent, 0.0)
    grad_w, grad_fingers = tape.gradient(value, [w, bent])
    assert float(value) > 0.05
    assert np.abs(grad_w.numpy()).max() < 1e-4 * np.abs(grad_fingers.numpy()).max()


def test_bone_loss_is_zero_for_the_same_directions_and_two_for_opposite_ones():
    _, lab = _batch(2)
    joints, has = lab["joints_cam"], np.ones(B, np.float32)
    scaled = joints * 3.0 + np.float32(1.0)  # same bone directions, other scale and place
    assert float(losses.bone_orientation_loss(scaled, joints, has)) == pytest.approx(0, abs=1e-5)
    mirrored = -joints
    assert float(losses.bone_orientation_loss(mirrored, joints, has)) == pytest.approx(2, abs=1e-5)


def test_total_loss_combines_the_weights_in_one_place():
    out, lab = _batch(3)
    weights = LossConfig(
        heatmap=2.0, pof=0.5, mask=1.5, mask_iou=0.7, joints_hand=2.5, ssl_mask=0.3, shape_prior=0.0
    )
    total, terms = losses.total_loss(out, lab, weights, _model_config())
    assert tuple(terms) == tuple(t for t in losses.TERMS if t != "shape_prior")
    expected = sum(getattr(weights, t) * float(v) for t, v in terms.items())
    assert float(total) == pytest.approx(expected, rel=1e-5)
    n = {k: _np(v) for k, v in lab.items()}
    # Backbone terms average the two stacks.
    hm = np.mean(
        [
            ref_heatmap(
                _np(out[f"stack{i}_heatmaps"]), n["heatmaps"], n["keypoint_visible"], n["has_2d"]
            )
            for i in (1, 2)
        ]
    )
    assert float(terms["heatmap"]) == pytest.approx(hm, rel=1e-5)
    # Self-supervision uses the last stack's mask.
    ssl = ((_np(out["rendered_mask"]) - _sigmoid(_np(out["stack2_mask_logits"]))) ** 2).mean()
    assert float(terms["ssl_mask"]) == pytest.approx(ssl, rel=1e-5)
    # The refined mask is compared with the full-resolution label, averaged over 2 x 2.
    target = n["mask"].reshape(B, 2 * H, 2, 2 * H, 2).mean(axis=(2, 4))
    fine = ref_mask(_np(out["mask_logits"]), target, n["has_mask"])
    assert float(terms["mask_fine"]) == pytest.approx(fine, rel=1e-5)
    # So is the IoU term: the final (refined) mask, not the stacks'.
    iou = ref_mask_iou(_np(out["mask_logits"]), target, n["has_mask"])
    assert float(terms["mask_iou"]) == pytest.approx(iou, rel=1e-5)
    # Without a refiner the IoU term reads the last stack's mask and `mask_small`.
    del out["mask_logits"]
    _, terms = losses.total_loss(out, lab, weights, _model_config(mask_refine_width=0))
    iou = ref_mask_iou(_np(out["stack2_mask_logits"]), n["mask_small"], n["has_mask"])
    assert float(terms["mask_iou"]) == pytest.approx(iou, rel=1e-5)


@pytest.mark.parametrize(
    "fields, absent",
    [
        ({"tasks": ("heatmap", "mask")}, {"pof"}),
        (
            {"mesh_head": False},
            {
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
            },
        ),
        ({"render_mask": False}, {"render_mask", "ssl_mask"}),
        ({"mask_refine_width": 0}, {"mask_fine"}),
        (
            {"tasks": ("pof",), "mask_refine_width": 0},
            {"heatmap", "mask", "mask_fine", "mask_iou", "ssl_mask", "ssl_2d"},
        ),
    ],
)
def test_terms_follow_the_model_config(fields, absent):
    out, lab = _batch(4)
    cfg = _model_config(**fields)
    _, terms = losses.total_loss(out, lab, LossConfig(**ALL_ON), cfg)
    assert set(terms) == set(losses.TERMS) - absent
    _, terms = losses.total_loss(out, lab, LossConfig(), cfg)
    assert set(terms) == set(losses.TERMS) - absent - set(ALL_ON)
    assert set(losses.active_terms(LossConfig(**ALL_ON), cfg)) == set(losses.TERMS) - absent


def test_terms_of_missing_outputs_are_skipped_and_missing_labels_are_named():
    out, lab = _batch(5)
    del out["rendered_mask"]
    _, terms = losses.total_loss(out, lab, LossConfig(), _model_config())
    assert "render_mask" not in terms and "ssl_mask" not in terms and "reproj_2d" in terms
    del lab["pof_weight"]
    with pytest.raises(ValueError, match="'pof' loss needs the label 'pof_weight'"):
        losses.total_loss(out, lab, LossConfig(), _model_config())


def test_regress_every_stack_averages_the_regressor_terms():
    out, lab = _batch(6)
    rng = _rng(7)
    out["stack1_keypoints_px"] = rng.uniform(0, S, (B, K, 2)).astype(np.float32)
    out["stack1_joints_cam"] = rng.normal(0.5, 0.05, (B, K, 3)).astype(np.float32)
    out["stack1_mano_pose"] = rng.normal(0, 0.3, (B, 48)).astype(np.float32)
    out["stack1_mano_betas"] = rng.normal(0, 1, (B, 10)).astype(np.float32)
    out["stack1_pose_rotmat"] = _random_rotmats(rng, (B, 16)).astype(np.float32)
    out["stack1_camera"] = out["camera"] * np.float32(1.1)
    _, terms = losses.total_loss(out, lab, LossConfig(), _model_config(regress_every_stack=True))
    n = {k: _np(v) for k, v in lab.items()}
    want = np.mean(
        [
            ref_reproj(_np(out[k]), n["keypoints_px"], n["keypoint_visible"], n["has_2d"], S)
            for k in ("stack1_keypoints_px", "keypoints_px")
        ]
    )
    assert float(terms["reproj_2d"]) == pytest.approx(want, rel=1e-5)
    want = np.mean(
        [
            ref_depth(_np(out[k]), n["joints_cam"], n["intrinsics"], n["has_3d"])
            for k in ("stack1_camera", "camera")
        ]
    )
    assert float(terms["depth"]) == pytest.approx(want, rel=1e-5)


# --------------------------------------------------------------------------- masking

# The terms that read labels: all but the self-supervised ones and the priors.
SUPERVISED_TERMS = tuple(
    t for t in losses.TERMS if t not in ("ssl_mask", "ssl_2d", "pose_prior", "shape_prior")
)


def test_unlabelled_batch_gives_zero_supervised_loss_and_finite_zero_gradients():
    out, lab = _batch(8, unlabelled=True)
    variables = {k: tf.Variable(v) for k, v in out.items()}
    with tf.GradientTape() as tape:
        total, terms = losses.total_loss(variables, lab, LossConfig(**ALL_ON), _model_config())
    for term in SUPERVISED_TERMS:
        assert float(terms[term]) == 0.0, term
    grads = dict(zip(variables, tape.gradient(total, list(variables.values())), strict=True))
    for key, grad in grads.items():
        if grad is not None:
            assert np.all(np.isfinite(grad.numpy())), key
    # Only the self-supervised terms and the priors reach the outputs.
    assert grads["stack1_heatmaps"] is None or not np.any(grads["stack1_heatmaps"].numpy())
    assert grads["stack1_pof"] is None or not np.any(grads["stack1_pof"].numpy())
    assert grads["joints_cam"] is None or not np.any(grads["joints_cam"].numpy())
    assert np.any(grads["keypoints_px"].numpy()) and np.any(grads["rendered_mask"].numpy())


def test_unlabelled_samples_do_not_change_the_supervised_terms():
    out, lab = _batch(9)
    rng = _rng(10)
    # Append two unlabelled samples with wild predictions (and NaN labels, never read).
    extra_out = {
        k: rng.normal(0, 50, (2,) + v.shape[1:]).astype(np.float32) for k, v in out.items()
    }
    extra_lab = {k: np.full((2,) + v.shape[1:], np.nan, np.float32) for k, v in lab.items()}
    for key in ("has_2d", "has_3d", "has_mask", "has_mano", "keypoint_visible", "pof_weight"):
        extra_lab[key] = np.zeros_like(extra_lab[key])
    both_out = {k: np.concatenate([v, extra_out[k]]) for k, v in out.items()}
    both_lab = {k: np.concatenate([v, extra_lab[k]]) for k, v in lab.items()}
    _, alone = losses.total_loss(out, lab, LossConfig(**ALL_ON), _model_config())
    _, mixed = losses.total_loss(both_out, both_lab, LossConfig(**ALL_ON), _model_config())
    for term in SUPERVISED_TERMS:
        assert float(mixed[term]) == pytest.approx(float(alone[term]), rel=1e-5), term


def test_2d_only_samples_train_the_pof_xy_channels_through_pof_weight():
    # pof_weight (hiu_tf.targets) turns on x, y for 2D labels and z only with 3D labels.
    pred = np.zeros((1, H, H, 3), np.float32)
    target = np.ones((1, H, H, 3), np.float32)
    weight = np.array([[1.0, 1.0, 0.0]], np.float32)  # a 2D-only sample
    assert float(losses.pof_loss(pred, target, weight)) == pytest.approx(1.0)
    target[..., 2] = 100.0  # the z channel is not read
    assert float(losses.pof_loss(pred, target, weight)) == pytest.approx(1.0)


def test_float16_inputs_are_computed_in_float32():
    out, lab = _batch(11)
    half = {k: v.astype(np.float16) for k, v in out.items()}
    total, terms = losses.total_loss(half, lab, LossConfig(), _model_config())
    assert total.dtype == tf.float32 and all(v.dtype == tf.float32 for v in terms.values())
    ref, _ = losses.total_loss(
        {k: v.astype(np.float32) for k, v in half.items()}, lab, LossConfig(), _model_config()
    )
    assert float(total) == pytest.approx(float(ref), rel=1e-6)


# --------------------------------------------------------------------------- gradients


def _grad_check(fn, *args):
    """Max abs difference between the analytic and the finite-difference Jacobians (float64)."""
    args = [tf.constant(np.asarray(a, np.float64)) for a in args]
    theoretical, numerical = tf.test.compute_gradient(fn, args, delta=1e-6)
    return max(np.max(np.abs(t - n)) for t, n in zip(theoretical, numerical, strict=True))


def test_gradients_match_finite_differences():
    rng = _rng(12)
    b, h = 2, 4
    has = np.array([1.0, 0.0])
    vis = (rng.random((b, K)) < 0.8).astype(np.float64)
    target_hm = rng.uniform(0, 1, (b, h, h, K))
    target_pof = rng.normal(0, 0.5, (b, h, h, 6))
    pof_weight = (rng.random((b, 6)) < 0.7).astype(np.float64)
    mask = (rng.random((b, h, h)) < 0.5).astype(np.float64)
    joints = rng.normal(0, 0.05, (b, 21, 3))
    kp = rng.uniform(0, S, (b, K, 2))
    logits = rng.normal(0, 2, (b, h, h, 1))
    target_pose = rng.normal(0, 0.8, (b, 48))
    target_betas = rng.normal(0, 1, (b, 10))
    intrinsics = np.tile(np.array([[2 * S, 0, S / 2], [0, 2 * S, S / 2], [0, 0, 1.0]]), (b, 1, 1))
    pred_rot = _random_rotmats(rng, (b, 16))
    checks = {
        "heatmap": (
            lambda p: losses.heatmap_loss(p, target_hm, vis, has),
            rng.normal(0, 0.5, (b, h, h, K)),
        ),
        "pof": (
            lambda p: losses.pof_loss(p, target_pof, pof_weight),
            rng.normal(0, 0.5, (b, h, h, 6)),
        ),
        "mask": (lambda p: losses.mask_loss(p, mask, has), rng.normal(0, 2, (b, h, h, 1))),
        "mask_fine": (
            lambda p: losses.fine_mask_loss(p, np.repeat(np.repeat(mask, 2, 1), 2, 2), has),
            rng.normal(0, 2, (b, h, h, 1)),
        ),
        "mask_iou": (
            lambda p: losses.mask_iou_loss(p, np.repeat(np.repeat(mask, 2, 1), 2, 2), has),
            rng.normal(0, 2, (b, h, h, 1)),
        ),
        "bone_3d": (
            lambda p: losses.bone_orientation_loss(p, joints, has),
            rng.normal(0, 0.05, (b, 21, 3)),
        ),
        "reproj_2d": (
            lambda p: losses.reprojection_loss(p, kp, vis, has, S),
            rng.uniform(0, S, (b, K, 2)),
        ),
        "render_mask": (
            lambda p: losses.rendered_mask_loss(p, mask, has),
            rng.uniform(0, 1, (b, h, h, 1)),
        ),
        "ssl_mask": (
            lambda p: losses.mask_consistency_loss(p, logits),
            rng.uniform(0, 1, (b, h, h, 1)),
        ),
        "ssl_2d": (
            lambda p: losses.keypoint_consistency_loss(p, kp, S),
            rng.uniform(0, S, (b, K, 2)),
        ),
        "pose_prior": (losses.pose_prior_loss, rng.normal(0, 0.3, (b, 48))),
        "shape_prior": (losses.shape_prior_loss, rng.normal(0, 1, (b, 10))),
        # Rotation terms: the distance is a polynomial of the matrix entries, so any
        # [B, 16, 3, 3] input has a well-defined gradient (the model feeds rotations).
        "global_rotation": (
            lambda p: losses.global_rotation_loss(p, target_pose, has),
            _random_rotmats(rng, (b, 16)),
        ),
        "hand_pose": (
            lambda p: losses.hand_pose_loss(p, target_pose, has),
            _random_rotmats(rng, (b, 16)),
        ),
        "shape": (
            lambda p: losses.shape_loss(p, target_betas, has),
            rng.normal(0, 1, (b, 10)),
        ),
        "joints_3d": (
            lambda p: losses.joints_3d_loss(p, joints, has),
            rng.normal(0, 0.05, (b, 21, 3)),
        ),
        "joints_hand": (
            lambda p: losses.hand_frame_joints_loss(
                p, pred_rot, joints, target_pose, has, np.ones(b)
            ),
            rng.normal(0, 0.05, (b, 21, 3)),
        ),
        "depth": (
            lambda p: losses.depth_loss(p, joints + [0.0, 0.0, 0.5], intrinsics, has),
            np.stack(
                [np.full(b, 2 * S), *rng.normal(0, 0.02, (2, b)), rng.uniform(0.3, 0.8, b)], -1
            ),
        ),
    }
    assert set(checks) == set(losses.TERMS)
    for name, (fn, x) in checks.items():
        assert fn(tf.constant(x)).dtype == tf.float64, name  # float64 stays float64
        err = _grad_check(fn, x)
        assert err < 1e-6, (name, err)


@pytest.mark.parametrize("factor", [1, 2, 4])
@pytest.mark.parametrize(
    "loss, ref, seed",
    [("fine_mask_loss", ref_mask, 20), ("mask_iou_loss", ref_mask_iou, 30)],
)
def test_fine_mask_losses_match_numpy_on_block_averaged_labels(loss, ref, seed, factor):
    rng = _rng(seed + factor)
    logits = rng.normal(0, 2, (B, H, H, 1))
    full = (rng.random((B, H * factor, H * factor)) < 0.4).astype(np.float64)
    has = _flags(rng)
    # The target of a logit pixel: the share of its factor x factor label pixels that are on.
    target = full.reshape(B, H, factor, H, factor).mean(axis=(2, 4))
    got = getattr(losses, loss)(tf.constant(logits), tf.constant(full), tf.constant(has))
    np.testing.assert_allclose(got.numpy(), ref(logits, target, has), rtol=1e-10)


def test_fine_mask_losses_reject_labels_that_are_not_a_multiple_of_the_logits():
    for fn in (losses.fine_mask_loss, losses.mask_iou_loss):
        with pytest.raises(ValueError, match="multiple"):
            fn(tf.zeros((2, 8, 8, 1)), tf.zeros((2, 20, 20)), tf.ones(2))


def test_mask_iou_loss_is_near_zero_for_a_confident_right_mask_and_one_for_a_wrong_one():
    mask = np.zeros((2, 8, 8), np.float32)
    mask[:, 2:6, 3:7] = 1.0
    right = np.where(mask > 0, 20.0, -20.0)[..., None]
    has = np.ones(2, np.float32)
    assert float(losses.mask_iou_loss(right, mask, has)) == pytest.approx(0.0, abs=1e-6)
    # All wrong: IoU (0 + 1) / (64 + 1).
    assert float(losses.mask_iou_loss(-right, mask, has)) == pytest.approx(64 / 65, rel=1e-5)
    # An empty prediction of an empty label is right.
    empty = np.full((2, 8, 8, 1), -20.0, np.float32)
    assert float(losses.mask_iou_loss(empty, 0 * mask, has)) == pytest.approx(0.0, abs=1e-6)


def test_consistency_losses_stop_the_gradient_into_the_backbone_side():
    rng = _rng(13)
    rendered = tf.Variable(rng.uniform(0, 1, (B, H, H, 1)).astype(np.float32))
    logits = tf.Variable(rng.normal(0, 2, (B, H, H, 1)).astype(np.float32))
    kp = tf.Variable(rng.uniform(0, S, (B, K, 2)).astype(np.float32))
    kp_heatmap = tf.Variable(rng.uniform(0, S, (B, K, 2)).astype(np.float32))
    with tf.GradientTape(persistent=True) as tape:
        ssl_mask = losses.mask_consistency_loss(rendered, logits)
        ssl_2d = losses.keypoint_consistency_loss(kp, kp_heatmap, S)
    assert tape.gradient(ssl_mask, logits) is None  # teacher: the backbone's mask
    assert tape.gradient(ssl_2d, kp_heatmap) is None  # teacher: the heat-map keypoints
    assert np.any(tape.gradient(ssl_mask, rendered).numpy())  # student: the mesh
    assert np.any(tape.gradient(ssl_2d, kp).numpy())


def test_masked_mean_drops_non_finite_values_of_masked_elements():
    values = tf.Variable([1.0, np.nan, 3.0, np.inf])
    with tf.GradientTape() as tape:
        result = losses.masked_mean(values, [1.0, 0.0, 1.0, 0.0])
    assert float(result) == 2.0
    np.testing.assert_array_equal(tape.gradient(result, values).numpy(), [0.5, 0.0, 0.5, 0.0])
    assert float(losses.masked_mean([np.nan, 2.0], [0.0, 0.0])) == 0.0


def test_bad_shapes_name_the_argument():
    with pytest.raises(ValueError, match=r"heatmaps must have shape \[B, h, h, K\]"):
        losses.heatmap_loss(np.zeros((2, 4, 4)), np.zeros((2, 4, 4)), np.ones((2, 4)), np.ones(2))
    with pytest.raises(ValueError, match=r"mano_pose must have shape \[B, 48\]"):
        losses.pose_prior_loss(np.zeros(48))


def test_mesh_health_matches_numpy_and_counts_labelled_samples():
    out, lab = _batch(14)
    health = losses.mesh_health(out, lab)
    n = {k: _np(v) for k, v in lab.items()}
    angles = np.degrees(ref_angle(_np(out["pose_rotmat"])[:, 0], rodrigues(n["mano_pose"][:, :3])))
    w = n["has_mano"]
    value, count = health["rotation_error_deg"]
    assert float(count) == w.sum()
    assert float(value) == pytest.approx((angles * w).sum() / w.sum(), rel=1e-4)
    cam = _np(out["camera"])
    wd = n["has_3d"] * (n["intrinsics"][:, 0, 0] > 0)
    f = np.where(wd > 0, n["intrinsics"][:, 0, 0], 1.0)
    ratio = (cam[:, 3] / cam[:, 0]) / (n["joints_cam"][:, 9, 2] / f)
    value, count = health["depth_ratio"]
    assert float(count) == wd.sum()
    assert float(value) == pytest.approx((ratio * wd).sum() / wd.sum(), rel=1e-5)
    # Without the outputs or labels, nothing is reported.
    assert losses.mesh_health({}, lab) == {}
    assert set(losses.mesh_health(out, {})) == set()


def test_task_metrics_must_be_keras_metrics():
    with pytest.raises(ValueError, match=r"task_metrics must be keras.metrics.Metric objects"):
        losses.MultiTaskLossMixin.set_task_metrics(object(), ["pck_2d"])
