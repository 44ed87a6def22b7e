"""Unlabelled image folder reader."""

import numpy as np
import pytest

from hiu_tf.data import schema
from hiu_tf.data.sources.base import ReaderError
from hiu_tf.data.sources.folder import FolderReader
from tests import image_files
from tests.hiu_tf.data.sources.hands import write_rgb


def test_reads_images_recursively_and_skips_corrupt(tmp_path):
    (tmp_path / "sub").mkdir()
    image = np.zeros((40, 60, 3), np.uint8)
    image[:, 10:50] = 200  # the centred square is bright
    write_rgb(tmp_path / "a.png", image)
    write_rgb(tmp_path / "sub" / "b.jpg", image)
    (tmp_path / "sub" / "c.jpg").write_bytes(b"nope")
    (tmp_path / "notes.txt").write_text("not an image")
    reader = FolderReader(tmp_path, "eval", image_size=16)
    samples = dict(reader)
    assert sorted(samples) == ["a.png", "sub/b.jpg"]
    assert reader.stats["skipped_corrupt"] == 1
    for sample in samples.values():
        schema.validate_sample(sample)
        assert not any(sample[k] for k in schema.FLAG_KEYS)
        assert sample["image"].min() > 0.7
    jittered = dict(FolderReader(tmp_path, "train", image_size=16, seed=3))
    assert jittered["a.png"]["image"].shape == (16, 16, 3)


def test_empty_folder(tmp_path):
    with pytest.raises(ReaderError, match="no images found"):
        FolderReader(tmp_path)


@pytest.mark.parametrize("kind", image_files.KINDS)
def test_unreadable_image_is_skipped_and_counted(tmp_path, kind):
    rng = np.random.default_rng(0)
    for name in ("a.jpg", "b.png", "c.jpg"):
        write_rgb(tmp_path / name, rng.integers(0, 256, (30, 40, 3), dtype=np.uint8))
    clean = dict(FolderReader(tmp_path, "train", image_size=16, seed=2))
    image_files.spoil(tmp_path / "b.png", kind)
    reader = FolderReader(tmp_path, "train", image_size=16, seed=2)
    got = dict(reader)
    image_files.assert_only_spoilt_lost(clean, got, reader.stats, {"b.png"}, kind)
