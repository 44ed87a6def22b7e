"""STB reader on a tiny fixture in the released layout (labels written by `scipy.io.savemat`)."""

import numpy as np
import pytest
from scipy.io import savemat

from hiu_tf.data import schema
from hiu_tf.data.sources import stb
from hiu_tf.data.sources.base import ReaderError
from hiu_tf.keypoints import STB_TO_CANONICAL
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, project, random_joints, wrist_is_red, write_rgb


def _to_stb_depth_mm(canonical: np.ndarray) -> np.ndarray:
    """Canonical joints (m, colour camera, wrist) -> STB handPara columns (mm, depth camera, palm)."""
    stb_order = np.zeros_like(canonical)
    stb_order[list(STB_TO_CANONICAL)] = canonical
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
        # MAT v5 as released; one file compressed (v7-style), one not.
        savemat(
            tmp_path / "labels" / f"{seq}_SK.mat", {"handPara": hand_para}, do_compression=n == 2
        )
        savemat(tmp_path / "labels" / f"{seq}_BB.mat", {"handPara": hand_para + 1.0})  # not read
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


def _write_damaged(path, kind: str) -> None:
    """An STB label file damaged in one way (a real MAT v5 file from scipy as the base)."""
    if kind == "garbage":
        path.write_bytes(b"garbage" * 30)
    elif kind == "empty":
        path.write_bytes(b"")
    elif kind == "v7.3":  # the 128-byte header MATLAB writes in front of an HDF5 file
        path.write_bytes(b"MATLAB 7.3 MAT-file".ljust(116) + b"\0" * 8 + b"\0\x02IM" + b"\0" * 400)
    else:
        compress = kind in ("cut-compressed", "bad-compressed")
        savemat(
            path, {"handPara": np.arange(3 * 21 * 4.0).reshape(3, 21, 4)}, do_compression=compress
        )
        data = path.read_bytes()
        if kind == "bad-compressed":  # zlib's stream damaged after the MAT header
            path.write_bytes(data[:150] + b"x" * 20 + data[170:])
            return
        cut = {"cut-header": 100, "cut-data": len(data) // 2, "cut-compressed": len(data) - 12}
        path.write_bytes(data[: cut[kind]])


@pytest.mark.parametrize(
    "kind",
    ["garbage", "empty", "v7.3", "cut-header", "cut-data", "cut-compressed", "bad-compressed"],
)
def test_unreadable_label_file(stb_root, kind):
    root, _ = stb_root
    path = root / "labels" / "B1Random_SK.mat"
    _write_damaged(path, kind)
    with pytest.raises(ReaderError, match=r"STB label file .*B1Random_SK.mat is unreadable"):
        stb.STBReader(root, "eval")


def test_errors(stb_root, tmp_path):
    root, _ = stb_root
    savemat(root / "labels" / "B1Random_SK.mat", {"handXYZ": np.zeros((3, 21, 2))})
    with pytest.raises(ReaderError, match=r"no variable 'handPara'. Found: \['handXYZ'\]"):
        stb.STBReader(root, "eval")
    savemat(root / "labels" / "B1Random_SK.mat", {"handPara": np.zeros((3, 20, 2))})
    with pytest.raises(ReaderError, match=r"handPara must be \[3, 21, N\]. Received: \[3, 20, 2\]"):
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
