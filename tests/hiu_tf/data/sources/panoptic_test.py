"""CMU Panoptic hand_labels reader on a tiny fixture in the released layout."""

import json

import numpy as np
import pytest

from hiu_tf.data import schema
from hiu_tf.data.sources.base import ReaderError
from hiu_tf.data.sources.panoptic import PanopticReader
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, wrist_is_red, write_rgb


@pytest.fixture()
def panoptic_root(tmp_path):
    rng = np.random.default_rng(0)
    folder = tmp_path / "manual_train"
    folder.mkdir()
    truth = {}
    for i, (name, is_left) in enumerate(
        (("Ex1_0001_01", 0), ("Ex1_0002_02", 1), ("Ex2_0003_01", 0))
    ):
        uv = rng.uniform(60, 140, (21, 2))
        vis = np.ones(21)
        vis[5] = 0
        pts = np.concatenate([uv, vis[:, None]], 1)
        pts[5, :2] = 0
        write_rgb(folder / f"{name}.jpg", draw(np.zeros((200, 220, 3), np.uint8), uv, 3))
        anno = {"hand_pts": pts.tolist(), "is_left": is_left, "head_size": 20.0, "is_mpii": 0}
        (folder / f"{name}.json").write_text(json.dumps(anno))
        truth[name] = (uv, is_left)
        if i == 2:
            (folder / f"{name}.jpg").write_bytes(b"broken")
    return tmp_path, truth


def test_reads_2d_labels_and_mirrors_left_hands(panoptic_root):
    root, truth = panoptic_root
    reader = PanopticReader(root, "train", image_size=64)
    samples = dict(reader)
    assert sorted(samples) == ["manual_train/Ex1_0001_01", "manual_train/Ex1_0002_02"]
    assert reader.stats["skipped_corrupt"] == 1
    for sid, sample in samples.items():
        schema.validate_sample(sample)
        assert sample["has_2d"] == 1 and sample["has_3d"] == 0 and sample["has_mask"] == 0
        assert sample["keypoint_visible"][5] == 0 and not sample["keypoints_px"][5].any()
        assert sample["is_left"] == truth[sid.split("/")[1]][1]
        assert wrist_is_red(sample), sid


def test_errors(tmp_path):
    with pytest.raises(ReaderError, match="split folder not found"):
        PanopticReader(tmp_path, "train")
    (tmp_path / "manual_test").mkdir()
    with pytest.raises(ReaderError, match="no \\*.json"):
        PanopticReader(tmp_path, "test")


@pytest.mark.parametrize("kind", image_files.KINDS)
def test_unreadable_image_is_skipped_and_counted(panoptic_root, kind):
    root, _ = panoptic_root
    clean = dict(PanopticReader(root, "train", image_size=64))  # Ex2_0003_01 is broken already
    image_files.spoil(root / "manual_train" / "Ex1_0002_02.jpg", kind)
    reader = PanopticReader(root, "train", image_size=64)
    got = dict(reader)
    reader.stats["skipped_corrupt"] -= 1  # the fixture's own broken file
    image_files.assert_only_spoilt_lost(
        clean, got, reader.stats, {"manual_train/Ex1_0002_02"}, kind
    )
