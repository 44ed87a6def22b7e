"""Tests of the augmentation: labels stay consistent with the image and with each other."""

import math

import numpy as np
import pytest
import tensorflow as tf

from hiu_tf.data import augment, schema
from mano_tf import rotations
from tests.hiu_tf.data.fixtures import full_sample


def _tensors(sample):
    return {k: tf.constant(v) for k, v in sample.items()}


def _project(joints, k):
    uv = joints @ k.T
    return uv[:, :2] / uv[:, 2:]


@pytest.mark.parametrize(
    "angle, scale, shift",
    [(0.0, 1.0, (0.0, 0.0)), (0.6, 1.3, (2.0, -3.0)), (-1.2, 0.8, (0.5, 1.5))],
)
def test_transform_moves_image_and_labels_together(angle, scale, shift):
    sample = full_sample(np.random.default_rng(0), size=48, blobs=True)
    out = augment.transform_sample(_tensors(sample), angle, scale, shift)
    out = {k: v.numpy() for k, v in out.items()}
    schema.validate_sample(out)
    # The blob's centroid follows the wrist keypoint.
    w = out["image"][..., 0]
    yy, xx = np.mgrid[0:48, 0:48] + 0.5
    centroid = np.array([(w * xx).sum(), (w * yy).sum()]) / w.sum()
    np.testing.assert_allclose(centroid, out["keypoints_px"][0], atol=0.1)
    # The 3D labels project onto the 2D labels with the new K.
    np.testing.assert_allclose(
        _project(out["joints_cam"], out["intrinsics"]), out["keypoints_px"], atol=1e-3
    )
    # Bone lengths and depth are unchanged (a rotation about the optical axis).
    np.testing.assert_allclose(
        np.linalg.norm(out["joints_cam"], axis=-1),
        np.linalg.norm(sample["joints_cam"], axis=-1),
        rtol=1e-5,
    )
    # The mask disc moves with the keypoint.
    yy_m, xx_m = np.nonzero(out["mask"])
    np.testing.assert_allclose(
        [xx_m.mean() + 0.5, yy_m.mean() + 0.5], out["keypoints_px"][0], atol=0.6
    )


def test_transform_rotates_the_global_mano_orientation():
    sample = full_sample(np.random.default_rng(1))
    out = augment.transform_sample(_tensors(sample), 0.7, 1.0, (0.0, 0.0))
    r_old = rotations.axis_angle_to_matrix(sample["mano_pose"][:3]).numpy()
    r_new = rotations.axis_angle_to_matrix(out["mano_pose"][:3]).numpy()
    c, s = math.cos(0.7), math.sin(0.7)
    rz = np.array([[c, -s, 0], [s, c, 0], [0, 0, 1]])
    np.testing.assert_allclose(r_new, rz @ r_old, atol=1e-5)
    np.testing.assert_array_equal(out["mano_pose"][3:].numpy(), sample["mano_pose"][3:])


def test_missing_labels_stay_zero():
    sample = schema.make_sample(np.random.default_rng(2).random((32, 32, 3)))
    out = augment.augment_sample(_tensors(sample), [1, 2])
    out = {k: v.numpy() for k, v in out.items()}
    schema.validate_sample(out)
    for key in ("keypoints_px", "joints_cam", "intrinsics", "mano_pose", "mask"):
        assert not out[key].any(), key


def test_augment_is_deterministic_per_seed_and_graph_safe():
    sample = _tensors(full_sample(np.random.default_rng(3)))
    a = augment.augment_sample(sample, [5, 6])
    b = tf.function(lambda s: augment.augment_sample(s, tf.constant([5, 6])))(sample)
    c = augment.augment_sample(sample, [5, 7])
    for key in a:
        np.testing.assert_allclose(a[key].numpy(), b[key].numpy(), atol=1e-5, err_msg=key)
    assert not np.allclose(a["keypoints_px"].numpy(), c["keypoints_px"].numpy())
    out = {k: v.numpy() for k, v in a.items()}
    schema.validate_sample(out)
    np.testing.assert_allclose(
        _project(out["joints_cam"], out["intrinsics"]), out["keypoints_px"], atol=1e-3
    )


def test_blur_and_colour_keep_range():
    cfg = augment.AugmentConfig(blur_prob=1.0, noise_std_max=0.1)
    seeds = tf.random.experimental.stateless_split(tf.constant([1, 1], tf.int64), 12)
    image = tf.random.uniform([16, 16, 3], seed=1)
    out = augment.color_augment(image, seeds, cfg).numpy()
    assert out.shape == (16, 16, 3) and out.min() >= 0 and out.max() <= 1
    flat = augment._gaussian_blur(tf.ones([8, 8, 3]) * 0.5, tf.constant(1.0)).numpy()
    np.testing.assert_allclose(flat, 0.5, atol=1e-6)


def test_color_matrix():
    np.testing.assert_allclose(augment.color_matrix(1.0, 0.0).numpy(), np.eye(3), atol=1e-5)
    np.testing.assert_allclose(augment.color_matrix(1.0, 1.0).numpy(), np.eye(3), atol=1e-5)
    grey = augment.color_matrix(0.0, 0.3).numpy()
    np.testing.assert_allclose(grey, np.tile([[0.299, 0.587, 0.114]], (3, 1)), atol=1e-4)
    m = augment.color_matrix(1.4, 0.2).numpy()
    luma = np.array([0.299, 0.587, 0.114])
    np.testing.assert_allclose(luma @ m, luma, atol=1e-4)  # brightness is kept
    np.testing.assert_allclose(m @ np.ones(3), np.ones(3), atol=1e-4)  # greys stay grey


def test_resize_sample_updates_keypoints_and_k():
    sample = full_sample(np.random.default_rng(4), size=32)
    out = {k: v.numpy() for k, v in augment.resize_sample(_tensors(sample), 16).items()}
    schema.validate_sample(out)
    np.testing.assert_allclose(out["keypoints_px"], sample["keypoints_px"] / 2, atol=1e-5)
    np.testing.assert_allclose(
        _project(out["joints_cam"], out["intrinsics"]), out["keypoints_px"], atol=1e-4
    )


def test_config_errors():
    with pytest.raises(ValueError, match="scale_min must be > 0 and <= scale_max"):
        augment.AugmentConfig(scale_min=1.5, scale_max=1.0)
    with pytest.raises(ValueError, match="rotation_deg must be >= 0"):
        augment.AugmentConfig(rotation_deg=-1)
    with pytest.raises(ValueError, match="blur_prob must be in"):
        augment.AugmentConfig(blur_prob=2)
