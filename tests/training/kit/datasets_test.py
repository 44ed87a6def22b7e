"""training.kit.datasets: the held-out backgrounds and the labelled / unlabelled split."""

import cv2
import numpy as np
import pytest
import tensorflow as tf

from hiu_tf.data import tfrecord
from hiu_tf.data.sources import synthetic
from tests.hiu_tf.data.sources.stick_hand import stick_hand_model
from training.kit import datasets


@pytest.fixture(scope="module")
def stick_npz(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("hand") / "stick.npz")
    stick_hand_model().save_npz(path)
    return path


def test_heldout_backgrounds_are_deterministic_and_varied(tmp_path):
    paths = datasets.heldout_backgrounds(str(tmp_path / "a"), 4, 64, seed=3)
    again = datasets.heldout_backgrounds(str(tmp_path / "b"), 4, 64, seed=3)
    images = [cv2.imread(p) for p in paths]
    assert all(i.shape == (64, 64, 3) for i in images)
    for p, q in zip(paths, again, strict=True):
        assert np.array_equal(cv2.imread(p), cv2.imread(q))
    assert not np.array_equal(images[0], images[2])  # two Voronoi mosaics differ
    assert all(i.std() > 5 for i in images)  # not flat


def _write_set(folder, hand, count=6, size=32):
    synthetic.write_synthetic(
        folder,
        count=count,
        seed=0,
        config=synthetic.SynthConfig(image_size=size, chunk_size=count),
        hand_model=hand,
    )


def test_split_labelled_strips_the_rest(tmp_path, stick_npz):
    source = str(tmp_path / "train")
    _write_set(source, stick_npz)
    labelled, unlabelled, n = datasets.split_labelled(source, str(tmp_path / "split"), 0.34, 6)
    assert n == 2
    full = list(tfrecord.read_tfrecords(source).as_numpy_iterator())
    kept = list(tfrecord.read_tfrecords(labelled).as_numpy_iterator())
    rest = list(tfrecord.read_tfrecords(unlabelled).as_numpy_iterator())
    assert len(kept) == 2 and len(rest) == 4
    for a, b in zip(full[:2], kept, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    for a, b in zip(full[2:], rest, strict=True):
        assert np.array_equal(a["image"], b["image"])  # image bytes unchanged
        for flag in ("has_2d", "has_3d", "has_mask", "has_mano"):
            assert a[flag] == 1 and b[flag] == 0
        for key in ("keypoints_px", "joints_cam", "mask", "mano_pose", "intrinsics"):
            assert not np.any(b[key])
    # Reused when complete; nothing labelled with 0 %.
    assert datasets.split_labelled(source, str(tmp_path / "split"), 0.34, 6) == (
        labelled,
        unlabelled,
        2,
    )
    none, everything, zero = datasets.split_labelled(source, str(tmp_path / "zero"), 0.0, 6)
    assert none is None and zero == 0 and everything is not None


def test_strip_labels_keeps_a_valid_record(tmp_path, stick_npz):
    source = str(tmp_path / "train")
    _write_set(source, stick_npz, count=1)
    record = next(tf.data.TFRecordDataset(tfrecord.list_shards(source)).as_numpy_iterator())
    sample = tfrecord.decode_example(tf.constant(datasets.strip_labels(record)), 32)
    assert float(sample["has_2d"]) == 0.0 and float(sample["is_left"]) == 0.0
