"""Tests of the sample dict: constructor, validation, mirroring."""

import numpy as np
import pytest

from hiu_tf.data import schema
from hiu_tf.keypoints import NUM_KEYPOINTS
from tests.reference.lbs_numpy import rodrigues

S = 32


def _full_sample(rng: np.random.Generator) -> dict:
    joints = rng.uniform([-0.05, -0.05, 0.4], [0.05, 0.05, 0.6], (NUM_KEYPOINTS, 3))
    k = np.array([[60.0, 0.0, 15.0], [0.0, 62.0, 17.0], [0.0, 0.0, 1.0]])
    uv = joints @ k.T
    uv = uv[:, :2] / uv[:, 2:]
    return schema.make_sample(
        rng.integers(0, 256, (S, S, 3), dtype=np.uint8),
        keypoints_px=uv,
        joints_cam=joints,
        intrinsics=k,
        mask=rng.integers(0, 2, (S, S)),
        mano_pose=rng.normal(0, 0.5, 48),
        mano_betas=rng.normal(0, 1, 10),
    )


def test_make_sample_fills_missing_labels_with_zeros():
    sample = schema.make_sample(np.zeros((S, S, 3), np.uint8))
    assert set(sample) == set(schema.SAMPLE_KEYS)
    for key in schema.FLAG_KEYS:
        assert sample[key] == 0 and sample[key].dtype == np.float32
    assert sample["keypoints_px"].shape == (21, 2) and not sample["keypoints_px"].any()
    assert sample["mask"].shape == (S, S)
    schema.validate_sample(sample)


def test_make_sample_with_all_labels_validates():
    sample = _full_sample(np.random.default_rng(0))
    for flag in ("has_2d", "has_3d", "has_mask", "has_mano"):
        assert sample[flag] == 1
    assert sample["image"].dtype == np.float32 and sample["image"].max() <= 1.0
    assert np.all(sample["keypoint_visible"] == 1)
    schema.validate_sample(sample, image_size=S)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"keypoints_px": np.zeros((20, 2))}, "keypoints_px must have shape [21, 2]"),
        ({"joints_cam": np.ones((21, 3))}, "joints_cam needs the intrinsics"),
        ({"mask": np.zeros((S, S + 1))}, "mask must have shape [32, 32]"),
        ({"mano_betas": np.zeros(10)}, "mano_betas needs mano_pose"),
        ({"keypoint_visible": np.ones(21)}, "keypoint_visible needs keypoints_px"),
    ],
)
def test_make_sample_errors(kwargs, message):
    with pytest.raises(schema.SampleError, match=message.replace("[", r"\[").replace("]", r"\]")):
        schema.make_sample(np.zeros((S, S, 3), np.uint8), **kwargs)


def test_make_sample_rejects_non_square_image():
    with pytest.raises(schema.SampleError, match="image must be square"):
        schema.make_sample(np.zeros((S, S + 2, 3), np.uint8))


def test_validate_sample_errors():
    good = _full_sample(np.random.default_rng(1))
    cases = [
        ({k: v for k, v in good.items() if k != "mask"}, "missing=\\['mask'\\]"),
        ({**good, "extra": 1}, "unexpected=\\['extra'\\]"),
        (
            {**good, "joints_cam": good["joints_cam"].astype(np.float64)},
            "joints_cam must be float32",
        ),
        ({**good, "image": good["image"] * 2}, "image must be in \\[0, 1\\]"),
        ({**good, "has_mask": np.float32(0.5)}, "has_mask must be 0 or 1"),
        ({**good, "has_2d": np.float32(0)}, "keypoints_px must be zeros when has_2d=0"),
        ({**good, "intrinsics": np.zeros((3, 3), np.float32)}, "intrinsics must be"),
        ({**good, "keypoints_px": np.full((21, 2), np.nan, np.float32)}, "must be finite"),
        ({**good, "mask": np.zeros((S, 3), np.float32)}, "mask must have shape"),
    ]
    for sample, message in cases:
        with pytest.raises(schema.SampleError, match=message):
            schema.validate_sample(sample)
    joints = good["joints_cam"].copy()
    joints[3, 2] = -0.1
    with pytest.raises(schema.SampleError, match="in front of the camera"):
        schema.validate_sample({**good, "joints_cam": joints})
    with pytest.raises(schema.SampleError, match="must be a dict"):
        schema.validate_sample([1, 2])


def test_mirror_keeps_projection_consistent_and_is_an_involution():
    sample = _full_sample(np.random.default_rng(2))
    mirrored = schema.mirror_sample(sample)
    schema.validate_sample(mirrored)
    assert mirrored["is_left"] == 1
    np.testing.assert_array_equal(mirrored["image"], sample["image"][:, ::-1])
    np.testing.assert_array_equal(mirrored["mask"], sample["mask"][:, ::-1])
    np.testing.assert_allclose(mirrored["keypoints_px"][:, 0], S - sample["keypoints_px"][:, 0])
    np.testing.assert_allclose(mirrored["joints_cam"][:, 0], -sample["joints_cam"][:, 0])
    uv = mirrored["joints_cam"] @ mirrored["intrinsics"].T
    np.testing.assert_allclose(uv[:, :2] / uv[:, 2:], mirrored["keypoints_px"], atol=1e-4)
    back = schema.mirror_sample(mirrored)
    for key in schema.SAMPLE_KEYS:
        np.testing.assert_allclose(back[key], sample[key], atol=1e-6, err_msg=key)


def test_mirror_mano_pose_is_the_reflected_rotation():
    sample = _full_sample(np.random.default_rng(3))
    mirrored = schema.mirror_sample(sample)
    m = np.diag([-1.0, 1.0, 1.0])
    for j in range(16):
        r = rodrigues(sample["mano_pose"][3 * j : 3 * j + 3].astype(np.float64))
        r_m = rodrigues(mirrored["mano_pose"][3 * j : 3 * j + 3].astype(np.float64))
        np.testing.assert_allclose(r_m, m @ r @ m, atol=1e-5)


def test_mirror_keeps_missing_labels_zero():
    sample = schema.make_sample(np.random.default_rng(4).random((S, S, 3)))
    mirrored = schema.mirror_sample(sample)
    schema.validate_sample(mirrored)
    for key in ("keypoints_px", "joints_cam", "intrinsics", "mano_pose", "mask"):
        assert not mirrored[key].any(), key
