"""Tests of the TFRecord writer and decoder."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from hiu_tf.data import schema, tfrecord
from tests.hiu_tf.data.fixtures import full_sample


def _write(tmp_path, samples, **kwargs):
    return tfrecord.write_tfrecords(
        ((str(i), s) for i, s in enumerate(samples)), tmp_path, "part", source="test", **kwargs
    )


def test_round_trip_png_is_exact(tmp_path):
    rng = np.random.default_rng(0)
    samples = [full_sample(rng), schema.make_sample(rng.random((32, 32, 3)))]
    info = _write(tmp_path, samples, image_format="png", shard_size=1)
    assert info["num_samples"] == 2 and info["image_size"] == 32
    assert info["parts"]["part"]["shards"] == [
        "part-00000-of-00002.tfrecord",
        "part-00001-of-00002.tfrecord",
    ]
    decoded = list(tfrecord.read_tfrecords(tmp_path, with_meta=True).as_numpy_iterator())
    assert len(decoded) == 2
    for want, got in zip(samples, decoded, strict=True):
        assert got.pop("meta/source") == b"test"
        got.pop("meta/id")
        schema.validate_sample(got)
        for key in schema.SAMPLE_KEYS:
            atol = 0.5 / 255 + 1e-6 if key == "image" else 1e-6
            np.testing.assert_allclose(got[key], want[key], atol=atol, err_msg=key)


def test_jpeg_is_close_and_static_shapes(tmp_path):
    sample = full_sample(np.random.default_rng(1), blobs=True)
    _write(tmp_path, [sample], image_format="jpeg")
    ds = tfrecord.read_tfrecords(tmp_path)
    assert ds.element_spec["image"].shape == (32, 32, 3)
    got = next(iter(ds))
    assert np.abs(got["image"].numpy() - sample["image"]).mean() < 0.02
    np.testing.assert_array_equal(got["mask"].numpy(), sample["mask"])


def test_writer_refuses_to_overwrite_and_checks_sizes(tmp_path):
    rng = np.random.default_rng(2)
    _write(tmp_path, [full_sample(rng)])
    with pytest.raises(tfrecord.TFRecordError, match="already holds 1 shards"):
        _write(tmp_path, [full_sample(rng)])
    info = _write(tmp_path, [full_sample(rng), full_sample(rng)], overwrite=True)
    assert info["num_samples"] == 2
    with pytest.raises(tfrecord.TFRecordError, match="one crop size"):
        _write(tmp_path / "b", [full_sample(rng, 32), full_sample(rng, 16)])
    assert not os.listdir(tmp_path / "b")  # aborted: no temporary shards left
    with pytest.raises(tfrecord.TFRecordError, match="image_format must be one of"):
        _write(tmp_path / "c", [full_sample(rng)], image_format="bmp")


def test_two_parts_share_one_info_file(tmp_path):
    rng = np.random.default_rng(3)
    tfrecord.write_tfrecords([("a", full_sample(rng))], tmp_path, "train")
    tfrecord.write_tfrecords([("b", full_sample(rng))] * 3, tmp_path, "eval")
    with open(tmp_path / tfrecord.INFO_FILE) as f:
        info = json.load(f)
    assert info["num_samples"] == 4 and set(info["parts"]) == {"train", "eval"}
    assert len(tfrecord.list_shards(str(tmp_path / "eval-*"))) == 1


def test_missing_shards_error(tmp_path):
    with pytest.raises(tfrecord.TFRecordError, match="no TFRecord files"):
        tfrecord.list_shards(tmp_path)


def test_decode_in_graph(tmp_path):
    _write(tmp_path, [full_sample(np.random.default_rng(4))])
    files = tfrecord.list_shards(tmp_path)
    ds = tf.data.TFRecordDataset(files).map(lambda s: tfrecord.decode_example(s, 32)["image"])
    assert next(iter(ds)).shape == (32, 32, 3)
