"""Tests of the input pipeline: mixing, determinism, shapes, evaluation mode."""

import numpy as np
import pytest

from hiu_tf.config import ConfigError, DataConfig, SourceConfig
from hiu_tf.data import pipeline, schema, tfrecord
from tests.hiu_tf.data.fixtures import full_sample


@pytest.fixture(scope="module")
def two_sources(tmp_path_factory):
    root = tmp_path_factory.mktemp("records")
    rng = np.random.default_rng(0)
    labelled = [(str(i), full_sample(rng)) for i in range(12)]
    unlabelled = [(str(i), schema.make_sample(rng.random((32, 32, 3)))) for i in range(5)]
    tfrecord.write_tfrecords(labelled, root / "a", "a", shard_size=5)
    tfrecord.write_tfrecords(unlabelled, root / "b", "b", shard_size=2)
    return str(root / "a"), str(root / "b")


def _build(sources, **kwargs):
    defaults = dict(image_size=32, heatmap_size=8, batch_size=4, seed=3, shuffle_buffer=8)
    return pipeline.build_dataset(sources, **{**defaults, **kwargs})


def test_training_batches_have_targets(two_sources):
    a, b = two_sources
    batch = next(iter(_build([pipeline.Source(a, 1.0), pipeline.Source(b, 1.0)])))
    shapes = {k: tuple(v.shape) for k, v in batch.items()}
    assert shapes["image"] == (4, 32, 32, 3)
    assert shapes["heatmaps"] == (4, 8, 8, 21)
    assert shapes["pof"] == (4, 8, 8, 60) and shapes["pof_weight"] == (4, 60)
    assert shapes["mask_small"] == (4, 8, 8) and shapes["has_3d"] == (4,)
    for i in range(4):
        schema.validate_sample({k: batch[k][i].numpy() for k in schema.SAMPLE_KEYS})


def test_same_seed_same_batches_and_other_seed_differs(two_sources):
    sources = [pipeline.Source(p, 1.0) for p in two_sources]
    first = [b["image"].numpy() for b in _build(sources).take(3)]
    second = [b["image"].numpy() for b in _build(sources).take(3)]
    other = [b["image"].numpy() for b in _build(sources, seed=4).take(3)]
    for x, y in zip(first, second, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not all(np.array_equal(x, y) for x, y in zip(first, other, strict=True))


def test_mixing_follows_weights(two_sources):
    a, b = two_sources
    ds = _build([pipeline.Source(a, 3.0), pipeline.Source(b, 1.0)], batch_size=50)
    has_3d = np.concatenate([x["has_3d"].numpy() for x in ds.take(8)])
    assert 0.68 < has_3d.mean() < 0.82
    only_a = _build([pipeline.Source(a, 1.0), pipeline.Source(b, 0.0)], batch_size=20)
    assert next(iter(only_a))["has_3d"].numpy().all()


def test_batch_mix_gives_every_batch_the_same_counts(two_sources):
    a, b = two_sources

    def build():
        return _build([pipeline.Source(a, 3.0), pipeline.Source(b, 1.0)], batch_size=8, mix="batch")

    first = list(build().take(6))
    for batch in first:  # 6 labelled + 2 unlabelled, in every batch
        assert int(batch["has_3d"].numpy().sum()) == 6
    for x, y in zip(first, build().take(6), strict=True):  # deterministic
        np.testing.assert_array_equal(x["image"].numpy(), y["image"].numpy())
    with pytest.raises(pipeline.PipelineError, match="whole numbers"):
        _build([pipeline.Source(a, 1.0), pipeline.Source(b, 1.0)], batch_size=5, mix="batch")
    with pytest.raises(pipeline.PipelineError, match="mix must be one of"):
        _build([pipeline.Source(a, 1.0)], mix="shuffled")


def test_batch_mix_in_the_config(two_sources):
    sources = tuple(SourceConfig(name="a", path=p, weight=1.0) for p in two_sources)
    cfg = DataConfig(sources=sources, batch_size=4, shuffle_buffer=4, mix="batch")
    batch = next(iter(pipeline.dataset_from_config(cfg, image_size=32)))
    assert int(batch["has_3d"].numpy().sum()) == 2
    with pytest.raises(ConfigError, match="whole numbers"):
        DataConfig(sources=sources, batch_size=3, mix="batch").validate()
    with pytest.raises(ConfigError, match="data.mix"):
        DataConfig(sources=sources, mix="shuffled").validate()


def test_evaluation_reads_every_sample_once_in_order(two_sources):
    ds = _build([pipeline.Source(p) for p in two_sources], training=False, output="tuple")
    batches = list(ds)
    assert sum(int(img.shape[0]) for img, _ in batches) == 17
    images, labels = batches[0]
    assert images.shape == (4, 32, 32, 3) and "heatmaps" in labels
    again = next(iter(_build([pipeline.Source(p) for p in two_sources], training=False)))
    np.testing.assert_array_equal(again["image"].numpy(), images.numpy())


def test_resizes_records_of_another_size(two_sources):
    batch = next(iter(_build([pipeline.Source(two_sources[0])], image_size=16, heatmap_size=4)))
    assert batch["image"].shape == (4, 16, 16, 3) and batch["heatmaps"].shape == (4, 4, 4, 21)


def test_dataset_from_config(two_sources):
    cfg = DataConfig(
        sources=(SourceConfig(name="a", path=two_sources[0]),),
        batch_size=2,
        shuffle_buffer=4,
        augment=False,
    )
    batch = next(iter(pipeline.dataset_from_config(cfg, image_size=32)))
    assert batch["heatmaps"].shape == (2, 8, 8, 21)
    with pytest.raises(pipeline.PipelineError, match="needs a path to its TFRecords"):
        pipeline.dataset_from_config(DataConfig(), image_size=32)


def test_errors(two_sources, tmp_path):
    with pytest.raises(pipeline.PipelineError, match="at least one"):
        _build([])
    with pytest.raises(pipeline.PipelineError, match="output must be one of"):
        _build([pipeline.Source(two_sources[0])], output="list")
    with pytest.raises(pipeline.PipelineError, match="weights must be >= 0"):
        _build([pipeline.Source(two_sources[0], 0.0)])
    with pytest.raises(tfrecord.TFRecordError, match="no TFRecord files"):
        _build([pipeline.Source(str(tmp_path))])
