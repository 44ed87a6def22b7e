"""STB reader on a tiny fixture in the released layout (labels written as MAT v5 files)."""

import numpy as np
import pytest

from hiu_tf.data import schema
from hiu_tf.data.sources import stb
from hiu_tf.data.sources.base import ReaderError
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, project, random_joints, wrist_is_red, write_rgb
from tests.hiu_tf.data.sources.mat_writer import write_mat


def _to_stb_depth_mm(canonical: np.ndarray) -> np.ndarray:
    """Canonical joints (m, colour camera, wrist) -> STB handPara columns (mm, depth camera, palm)."""
    stb_order = np.zeros_like(canonical)
    stb_order[list(stb.STB_TO_CANONICAL)] = canonical
    stb_order[0] = (canonical[0] + canonical[9]) / 2.0  # the palm centre
    return (stb_order * 1000.0) @ stb._sk_rotation().T + stb.SK_TRANSLATION_MM


@pytest.fixture()
def stb_root(tmp_path):
    rng = np.random.default_rng(0)
    truth = {}
    (tmp_path / "labels").mkdir()
    for seq, n in (("B1Counting", 2), ("B2Random", 3)):
        (tmp_path / seq).mkdir()
        joints = [random_joints(rng, centre=(0.02, 0.01, 0.45), spread=0.02) for _ in range(n)]
        hand_para = np.stack([_to_stb_depth_mm(j).T for j in joints], axis=-1)  # [3, 21, n]
        write_mat(tmp_path / "labels" / f"{seq}_SK.mat", {"handPara": hand_para}, compress=True)
        write_mat(tmp_path / "labels" / f"{seq}_BB.mat", {"handPara": hand_para})  # not read
        for i, j in enumerate(joints):
            image = draw(np.zeros((480, 640, 3), np.uint8), project(j, stb.SK_INTRINSICS), 4)
            write_rgb(tmp_path / seq / f"SK_color_{i}.png", image)
        truth[seq] = joints
    return tmp_path, truth


def test_conversion_round_trip():
    rng = np.random.default_rng(1)
    joints = random_joints(rng)
    out = stb.stb_to_camera(_to_stb_depth_mm(joints).T[..., None])[0]
    np.testing.assert_allclose(out, joints, atol=1e-9)


def test_eval_split_is_b1_and_mirrored(stb_root):
    root, truth = stb_root
    reader = stb.STBReader(root, "eval", image_size=64)
    samples = list(reader)
    assert [sid for sid, _ in samples] == ["B1Counting/0", "B1Counting/1"]
    for (_, sample), joints in zip(samples, truth["B1Counting"], strict=True):
        schema.validate_sample(sample)
        assert sample["is_left"] == 1 and sample["has_mask"] == 0
        np.testing.assert_allclose(sample["joints_cam"], joints * [-1, 1, 1], atol=1e-6)
        np.testing.assert_allclose(
            project(sample["joints_cam"], sample["intrinsics"]), sample["keypoints_px"], atol=1e-3
        )
        assert wrist_is_red(sample)


def test_palm_root_and_right_side(stb_root):
    root, truth = stb_root
    sample = stb.STBReader(root, "train", image_size=64, root_joint="palm", side="right").load(0)[
        0
    ][1]
    j = truth["B2Random"][0]
    np.testing.assert_allclose(sample["joints_cam"][0], (j[0] + j[9]) / 2, atol=1e-6)
    assert sample["is_left"] == 0


def test_errors(stb_root, tmp_path):
    root, _ = stb_root
    (root / "labels" / "B1Random_SK.mat").write_bytes(b"garbage" * 30)
    with pytest.raises(ReaderError, match="unreadable"):
        stb.STBReader(root, "eval")
    (tmp_path / "empty" / "labels").mkdir(parents=True)
    with pytest.raises(ReaderError, match="STB label files not found"):
        stb.STBReader(tmp_path / "empty", "train")
    (tmp_path / "other").mkdir()
    with pytest.raises(ReaderError, match="STB labels folder not found"):
        stb.STBReader(tmp_path / "other", "train")


@pytest.mark.parametrize("kind", image_files.KINDS)
def test_unreadable_image_is_skipped_and_counted(stb_root, kind):
    root, _ = stb_root
    clean = dict(stb.STBReader(root, "all", image_size=64))
    image_files.spoil(root / "B2Random" / "SK_color_1.png", kind)
    reader = stb.STBReader(root, "all", image_size=64)
    got = dict(reader)
    image_files.assert_only_spoilt_lost(clean, got, reader.stats, {"B2Random/1"}, kind)
