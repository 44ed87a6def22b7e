"""RHD reader on a tiny fixture in the released layout."""

import pickle

import cv2
import numpy as np
import pytest

from hiu_tf.data import schema
from hiu_tf.data.sources.base import ReaderError
from hiu_tf.data.sources.rhd import RHDReader
from hiu_tf.keypoints import RHD_TO_CANONICAL
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, project, random_joints, wrist_is_red, write_rgb

SIZE = 96
K = np.array([[150.0, 0.0, 48.0], [0.0, 150.0, 48.0], [0.0, 0.0, 1.0]])


def _to_rhd(canonical: np.ndarray) -> np.ndarray:
    out = np.zeros_like(canonical)
    out[list(RHD_TO_CANONICAL)] = canonical
    return out


@pytest.fixture()
def rhd_root(tmp_path):
    rng = np.random.default_rng(0)
    truth = {}
    annotations = {}
    for set_name in ("training", "evaluation"):
        for sub in ("color", "mask", "depth"):
            (tmp_path / set_name / sub).mkdir(parents=True)
    for sample_id in range(3):
        left = random_joints(rng, centre=(-0.06, 0.0, 0.5), spread=0.015)
        right = random_joints(rng, centre=(0.06, 0.0, 0.5), spread=0.015)
        uv_left, uv_right = project(left, K), project(right, K)
        image = draw(draw(np.zeros((SIZE, SIZE, 3), np.uint8), uv_left), uv_right)
        classes = np.ones((SIZE, SIZE), np.uint8)  # person
        for uv, cls in ((uv_left, 5), (uv_right, 20)):
            lo, hi = uv.min(0).astype(int), uv.max(0).astype(int)
            classes[lo[1] : hi[1], lo[0] : hi[0]] = cls
        vis = np.ones(42)
        if sample_id == 2:
            vis[:20] = 0  # the left hand of sample 2 is hidden: one sample only
        xyz = np.concatenate([_to_rhd(left), _to_rhd(right)])
        uv_vis = np.concatenate(
            [np.concatenate([_to_rhd(uv_left), _to_rhd(uv_right)]), vis[:, None]], 1
        )
        annotations[sample_id] = {
            "xyz": xyz.astype(np.float32),
            "uv_vis": uv_vis,
            "K": K.astype(np.float32),
        }
        truth[sample_id] = (left, right)
        write_rgb(tmp_path / "training" / "color" / f"{sample_id:05d}.png", image)
        cv2.imwrite(str(tmp_path / "training" / "mask" / f"{sample_id:05d}.png"), classes)
    with open(tmp_path / "training" / "anno_training.pickle", "wb") as f:
        pickle.dump(annotations, f, protocol=2)
    return tmp_path, truth


def test_both_hands_mirrored_and_in_canonical_order(rhd_root):
    root, truth = rhd_root
    reader = RHDReader(root, "train", image_size=48)
    samples = dict(reader)
    assert sorted(samples) == [
        "train/00000/left",
        "train/00000/right",
        "train/00001/left",
        "train/00001/right",
        "train/00002/right",
    ]
    for sid, sample in samples.items():
        schema.validate_sample(sample)
        left, right = truth[int(sid.split("/")[1])]
        if sid.endswith("left"):
            assert sample["is_left"] == 1
            np.testing.assert_allclose(sample["joints_cam"], left * [-1, 1, 1], atol=1e-6)
        else:
            assert sample["is_left"] == 0
            np.testing.assert_allclose(sample["joints_cam"], right, atol=1e-6)
        np.testing.assert_allclose(
            project(sample["joints_cam"], sample["intrinsics"]), sample["keypoints_px"], atol=1e-3
        )
        assert wrist_is_red(sample), sid
        assert sample["has_mask"] == 1 and 0 < sample["mask"].mean() < 0.9
        assert sample["keypoint_visible"].all()


def test_mask_is_the_own_hand_only(rhd_root):
    root, _ = rhd_root
    samples = dict(RHDReader(root, "train", image_size=48, jitter=False, box_scale=3.0))
    # With a wide crop both hands are in view; only the sample's own hand is in its mask.
    right = samples["train/00000/right"]
    u = right["keypoints_px"][:, 0]
    cols = np.nonzero(right["mask"].any(axis=0))[0]
    assert cols.min() + 0.5 >= u.min() - 2 and cols.max() + 0.5 <= u.max() + 2


def test_visible_only_keeps_flags(rhd_root):
    root, _ = rhd_root
    sample = dict(RHDReader(root, "train", image_size=48, visible_only=True, min_visible=1))[
        "train/00002/left"
    ]
    assert sample["keypoint_visible"].sum() == 1  # only the last left keypoint is visible


def test_unsafe_pickle_and_missing_files(rhd_root, tmp_path):
    root, _ = rhd_root
    with pytest.raises(ReaderError, match="RHD evaluation folder|RHD annotation file not found"):
        RHDReader(root, "eval")

    class Evil:
        def __reduce__(self):
            return (print, ("pwned",))

    with open(root / "training" / "anno_training.pickle", "wb") as f:
        pickle.dump({0: Evil()}, f)
    with pytest.raises(ReaderError, match="not a readable RHD annotation pickle"):
        RHDReader(root, "train")


@pytest.mark.parametrize("kind", image_files.KINDS)
def test_unreadable_image_is_skipped_and_counted(rhd_root, kind):
    root, _ = rhd_root
    clean = dict(RHDReader(root, "train", image_size=48))
    image_files.spoil(root / "training" / "color" / "00001.png", kind)
    reader = RHDReader(root, "train", image_size=48)
    got = dict(reader)
    spoilt = {"train/00001/left", "train/00001/right"}
    image_files.assert_only_spoilt_lost(clean, got, reader.stats, spoilt, kind)


def test_unreadable_mask_skips_the_image(rhd_root):
    root, _ = rhd_root
    (root / "training" / "mask" / "00000.png").write_bytes(b"")
    reader = RHDReader(root, "train", image_size=48)
    assert sorted(dict(reader)) == ["train/00001/left", "train/00001/right", "train/00002/right"]
    assert reader.stats["skipped_corrupt"] == 1
