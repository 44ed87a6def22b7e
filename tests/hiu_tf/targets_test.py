"""Tests of the training targets against NumPy references."""

import numpy as np
import pytest
import tensorflow as tf

from hiu_tf import targets
from hiu_tf.keypoints import BONES


def _heatmaps_np(kp, vis, s, h, sigma):
    out = np.zeros((h, h, len(kp)))
    for k, (u, v) in enumerate(kp * h / s):
        for i in range(h):
            for j in range(h):
                d2 = (j + 0.5 - u) ** 2 + (i + 0.5 - v) ** 2
                out[i, j, k] = np.exp(-d2 / (2 * sigma**2)) * vis[k]
    return out


def _segment_distance(p, a, b):
    d = b - a
    len2 = d @ d
    t = 0.0 if len2 <= 1e-8 else np.clip((p - a) @ d / len2, 0, 1)
    return np.linalg.norm(p - (a + t * d))


def _pof_np(kp, joints, vis, has_2d, has_3d, s, h, half_width):
    pts = kp * h / s
    pof = np.zeros((h, h, 60))
    weight = np.zeros(60)
    for bi, (p, c) in enumerate(BONES):
        v2 = has_2d * vis[p] * vis[c]
        vz = v2 * has_3d
        weight[3 * bi : 3 * bi + 3] = (v2, v2, vz)
        d2 = pts[c] - pts[p]
        u2 = d2 / np.linalg.norm(d2) if np.linalg.norm(d2) > 1e-4 else np.zeros(2)
        d3 = joints[c] - joints[p]
        z = d3[2] / np.linalg.norm(d3) if np.linalg.norm(d3) > 1e-4 else 0.0
        for i in range(h):
            for j in range(h):
                if _segment_distance(np.array([j + 0.5, i + 0.5]), pts[p], pts[c]) <= half_width:
                    pof[i, j, 3 * bi : 3 * bi + 3] = (u2[0] * v2, u2[1] * v2, z * vz)
    return pof, weight


def test_heatmaps_match_numpy():
    rng = np.random.default_rng(0)
    kp = rng.uniform(-4, 36, (21, 2)).astype(np.float32)
    vis = (rng.random(21) > 0.3).astype(np.float32)
    got = targets.gaussian_heatmaps(kp, vis, input_size=32, heatmap_size=8, sigma=1.5).numpy()
    np.testing.assert_allclose(got, _heatmaps_np(kp, vis, 32, 8, 1.5), atol=1e-6)
    assert not got[..., vis == 0].any()


def test_heatmap_peak_at_pixel_centre():
    # Input pixel 4 j + 2 is the centre of map pixel j for S / h = 4.
    kp = np.tile([[4 * 3 + 2.0, 4 * 5 + 2.0]], (21, 1))
    hm = targets.gaussian_heatmaps(kp, np.ones(21), input_size=64, heatmap_size=16).numpy()
    assert hm[5, 3, 0] == pytest.approx(1.0)
    assert np.unravel_index(hm[..., 0].argmax(), (16, 16)) == (5, 3)


def test_heatmaps_batched():
    rng = np.random.default_rng(1)
    kp = rng.uniform(0, 32, (2, 3, 21, 2))
    vis = np.ones((2, 3, 21))
    got = targets.gaussian_heatmaps(kp, vis, input_size=32, heatmap_size=8).numpy()
    assert got.shape == (2, 3, 8, 8, 21)
    np.testing.assert_allclose(got[1, 2], _heatmaps_np(kp[1, 2], vis[1, 2], 32, 8, 2.0), atol=1e-6)


@pytest.mark.parametrize("has_2d, has_3d", [(1.0, 1.0), (1.0, 0.0), (0.0, 0.0)])
def test_pof_matches_numpy(has_2d, has_3d):
    rng = np.random.default_rng(2)
    kp = rng.uniform(0, 64, (21, 2)).astype(np.float32)
    kp[7] = kp[6]  # a bone seen end-on: zero 2D direction, disc of pixels
    joints = rng.normal(0, 0.05, (21, 3)).astype(np.float32) + [0, 0, 0.5]
    vis = np.ones(21, np.float32)
    vis[15] = 0
    pof, weight = targets.part_orientation_fields(
        kp, joints, vis, has_2d, has_3d, input_size=64, heatmap_size=16, half_width=1.2
    )
    ref_pof, ref_weight = _pof_np(kp, joints, vis, has_2d, has_3d, 64, 16, 1.2)
    assert pof.shape == (16, 16, 60) and weight.shape == (60,)
    np.testing.assert_allclose(weight.numpy(), ref_weight)
    np.testing.assert_allclose(pof.numpy(), ref_pof, atol=1e-5)


def test_pof_channel_order_on_a_known_bone():
    kp = np.zeros((21, 2), np.float32)
    joints = np.zeros((21, 3), np.float32)
    joints[:, 2] = 1.0
    kp[0] = (2.0, 8.5)  # wrist
    kp[1] = (14.0, 8.5)  # thumb CMC: bone 0 points to +x in the image
    joints[1] = (0.3, 0.0, 1.4)  # 3D direction (0.6, 0, 0.8)
    pof, weight = targets.part_orientation_fields(
        kp, joints, np.ones(21), 1.0, 1.0, input_size=16, heatmap_size=16, half_width=0.5
    )
    pof = pof.numpy()
    np.testing.assert_allclose(pof[8, 5, 0:3], [1.0, 0.0, 0.8], atol=1e-6)
    assert not pof[3, 5, 0:3].any()  # off the bone
    assert weight.numpy()[:3].tolist() == [1.0, 1.0, 1.0]


def test_pof_in_tf_data_graph_and_batched():
    rng = np.random.default_rng(3)
    kp = rng.uniform(0, 32, (4, 21, 2)).astype(np.float32)
    joints = (rng.normal(0, 0.05, (4, 21, 3)) + [0, 0, 0.5]).astype(np.float32)
    ds = tf.data.Dataset.from_tensor_slices((kp, joints)).map(
        lambda k, j: targets.part_orientation_fields(
            k, j, tf.ones([21]), 1.0, 1.0, input_size=32, heatmap_size=8
        )[0]
    )
    mapped = np.stack([x.numpy() for x in ds])
    batched, _ = targets.part_orientation_fields(
        kp, joints, np.ones((4, 21)), np.ones(4), np.ones(4), input_size=32, heatmap_size=8
    )
    np.testing.assert_allclose(mapped, batched.numpy(), atol=1e-6)
    np.testing.assert_allclose(
        mapped[2], _pof_np(kp[2], joints[2], np.ones(21), 1, 1, 32, 8, 1.0)[0], atol=1e-5
    )


def test_resize_mask():
    rng = np.random.default_rng(4)
    mask = (rng.random((2, 16, 16)) > 0.5).astype(np.float32)
    frac = mask.reshape(2, 4, 4, 4, 4).mean(axis=(2, 4))
    np.testing.assert_allclose(targets.resize_mask(mask, 4, None).numpy(), frac, atol=1e-6)
    np.testing.assert_array_equal(targets.resize_mask(mask[0], 4).numpy(), frac[0] >= 0.5)


def test_make_targets_masks_by_flags():
    rng = np.random.default_rng(5)
    sample = {
        "image": tf.zeros([32, 32, 3]),
        "keypoints_px": tf.constant(rng.uniform(0, 32, (21, 2)), tf.float32),
        "keypoint_visible": tf.ones([21]),
        "joints_cam": tf.constant(rng.normal(0, 0.05, (21, 3)) + [0, 0, 0.5], tf.float32),
        "mask": tf.ones([32, 32]),
        "has_2d": tf.constant(0.0),
        "has_3d": tf.constant(0.0),
    }
    out = targets.make_targets(sample, heatmap_size=8)
    assert out["heatmaps"].shape == (8, 8, 21) and not out["heatmaps"].numpy().any()
    assert not out["pof"].numpy().any() and not out["pof_weight"].numpy().any()
    assert out["mask_small"].shape == (8, 8)


def test_target_errors():
    with pytest.raises(ValueError, match="heatmap_size must be a positive int"):
        targets.gaussian_heatmaps(np.zeros((21, 2)), np.ones(21), input_size=32, heatmap_size=0)
    with pytest.raises(ValueError, match="sigma must be a positive number"):
        targets.gaussian_heatmaps(
            np.zeros((21, 2)), np.ones(21), input_size=32, heatmap_size=8, sigma=0
        )
    with pytest.raises(ValueError, match=r"keypoints_px must have shape \[..., 21, 2\]"):
        targets.part_orientation_fields(
            np.zeros((20, 2)), np.zeros((21, 3)), np.ones(21), 1, 1, input_size=8, heatmap_size=8
        )
    with pytest.raises(ValueError, match="mask must have shape"):
        targets.resize_mask(np.zeros(8), 4)
