"""FreiHAND reader on a tiny fixture in the released layout."""

import json

import numpy as np
import pytest

from hiu_tf.data import schema
from hiu_tf.data.sources.base import ReaderError
from hiu_tf.data.sources.freihand import FreiHandReader
from tests import image_files
from tests.hiu_tf.data.sources.hands import draw, project, random_joints, wrist_is_red, write_rgb

N = 3
SIZE = 64


@pytest.fixture()
def freihand_root(tmp_path):
    rng = np.random.default_rng(0)
    k = np.array([[120.0, 0.0, 32.0], [0.0, 120.0, 31.0], [0.0, 0.0, 1.0]])
    xyz, ks, mano = [], [], []
    for set_name in ("training", "evaluation"):
        (tmp_path / set_name / "rgb").mkdir(parents=True)
    (tmp_path / "training" / "mask").mkdir()
    for i in range(N):
        joints = random_joints(rng, spread=0.02)
        uv = project(joints, k)
        xyz.append(joints.tolist())
        ks.append(k.tolist())
        mano.append([rng.normal(0, 0.3, 61).tolist()])
        for version in range(2):  # only the "gs" and "hom" versions are present
            image = draw(np.zeros((SIZE, SIZE, 3), np.uint8), uv)
            write_rgb(tmp_path / "training" / "rgb" / f"{version * N + i:08d}.jpg", image)
        mask = np.zeros((SIZE, SIZE), np.uint8)
        mask[10:50, 12:40] = 255
        write_rgb(
            tmp_path / "training" / "mask" / f"{i:08d}.jpg", np.repeat(mask[..., None], 3, -1)
        )
        write_rgb(
            tmp_path / "evaluation" / "rgb" / f"{i:08d}.jpg",
            draw(np.zeros((SIZE, SIZE, 3), np.uint8), uv),
        )
    for set_name in ("training", "evaluation"):
        for what, values in (("xyz", xyz), ("K", ks), ("mano", mano)):
            (tmp_path / f"{set_name}_{what}.json").write_text(json.dumps(values))
    (tmp_path / "training_verts.json").write_text("[]")  # present in the release, not read
    return tmp_path, xyz, mano


def test_training_split(freihand_root):
    root, xyz, _ = freihand_root
    reader = FreiHandReader(root, "train", image_size=32, seed=1)
    assert reader.versions == ("gs", "hom") and len(reader) == 2 * N
    samples = list(reader)
    assert [sid for sid, _ in samples][:2] == ["training/00000000", "training/00000001"]
    for sid, sample in samples:
        schema.validate_sample(sample)
        assert sample["has_2d"] == sample["has_3d"] == sample["has_mask"] == 1
        assert sample["has_mano"] == 0 and sample["is_left"] == 0  # no MANO model given
        np.testing.assert_allclose(sample["joints_cam"], xyz[int(sid[-1]) % N], atol=1e-6)
        np.testing.assert_allclose(
            project(sample["joints_cam"], sample["intrinsics"]), sample["keypoints_px"], atol=1e-3
        )
        assert wrist_is_red(sample), sid
        assert 0.05 < sample["mask"].mean() < 0.95
    assert reader.stats == {
        "items": 6,
        "samples": 6,
        "skipped_corrupt": 0,
        "skipped_unlabelled": 0,
        "unreadable_masks": 0,
    }


def test_jitter_is_seeded(freihand_root):
    root = freihand_root[0]
    a = FreiHandReader(root, "train", image_size=32, seed=1).load(0)[0][1]
    b = FreiHandReader(root, "train", image_size=32, seed=1).load(0)[0][1]
    c = FreiHandReader(root, "train", image_size=32, seed=2).load(0)[0][1]
    np.testing.assert_array_equal(a["keypoints_px"], b["keypoints_px"])
    assert not np.allclose(a["keypoints_px"], c["keypoints_px"])


def test_mano_labels_need_the_mean_pose(freihand_root, tmp_path):
    from mano_tf.hand_model import load_hand_model
    from tests.mano_fixtures import random_mano_dict, write_mano_pickle

    root, _, mano = freihand_root
    pkl = tmp_path / "MANO_RIGHT.pkl"
    write_mano_pickle(pkl, random_mano_dict(0))
    model = load_hand_model(pkl)
    sample = FreiHandReader(root, "train", image_size=32, hand_model=str(pkl)).load(0)[0][1]
    assert sample["has_mano"] == 1
    want = np.asarray(mano[0][0][:48]) + np.concatenate([np.zeros(3), model.hands_mean])
    np.testing.assert_allclose(sample["mano_pose"], want, atol=1e-5)
    np.testing.assert_allclose(sample["mano_betas"], mano[0][0][48:58], atol=1e-6)


def test_evaluation_split_and_corrupt_image(freihand_root):
    root = freihand_root[0]
    (root / "evaluation" / "rgb" / "00000001.jpg").write_bytes(b"not a jpeg")
    reader = FreiHandReader(root, "eval", image_size=32)
    samples = list(reader)
    assert len(samples) == N - 1 and reader.stats["skipped_corrupt"] == 1
    assert all(s["has_mask"] == 0 and not reader.crop.jitter for _, s in samples)


def test_errors(freihand_root, tmp_path):
    with pytest.raises(ReaderError, match="freihand root not found"):
        FreiHandReader(tmp_path / "nope")
    root = freihand_root[0]
    (root / "training_K.json").unlink()
    with pytest.raises(ReaderError, match="FreiHAND training_K.json not found"):
        FreiHandReader(root)
    with pytest.raises(ReaderError, match="splits"):
        FreiHandReader(root, "test")


@pytest.mark.parametrize("kind", image_files.KINDS)
def test_unreadable_image_is_skipped_and_counted(freihand_root, kind):
    root = freihand_root[0]
    clean = dict(FreiHandReader(root, "train", image_size=32, seed=1))
    image_files.spoil(root / "training" / "rgb" / f"{N + 1:08d}.jpg", kind)  # "hom" of sample 1
    reader = FreiHandReader(root, "train", image_size=32, seed=1)
    got = dict(reader)
    image_files.assert_only_spoilt_lost(clean, got, reader.stats, {f"training/{N + 1:08d}"}, kind)
    assert reader.stats["unreadable_masks"] == 0


def test_unreadable_mask_keeps_the_sample_and_is_counted(freihand_root):
    root = freihand_root[0]
    image_files.spoil(root / "training" / "mask" / "00000002.jpg", "truncated_jpeg")
    reader = FreiHandReader(root, "train", image_size=32, seed=1)
    samples = dict(reader)
    assert len(samples) == 2 * N and reader.stats["skipped_corrupt"] == 0
    assert reader.stats["unreadable_masks"] == 2  # both versions of sample 2 share the mask
    for version in range(2):
        assert samples[f"training/{version * N + 2:08d}"]["has_mask"] == 0
