"""The input pipeline: TFRecord sources mixed by weight -> decode -> augment -> targets -> batches.

    per source:  shards -> interleave -> [cache] -> shuffle -> repeat -> decode -> [resize]
    mixed:       sample_from_datasets(weights, seed) -> enumerate
                 -> augment (stateless, seed = (seed, index)) -> targets -> batch -> prefetch

Everything runs in graph mode (no `py_function`), and the output is the same
for the same seed: shard order is fixed, shuffles and the mixing are seeded,
maps keep their order (`deterministic=True`) and augmentation uses stateless
random ops seeded by the element index.

Elements are dicts: the sample dict (`hiu_tf.data.schema`) plus the targets of
`hiu_tf.targets.make_targets` (`heatmaps`, `pof`, `pof_weight`, `mask_small`),
batched. `output="tuple"` gives `(image, labels)` for `model.fit`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Sequence

import tensorflow as tf

from hiu_tf import targets
from hiu_tf.config import DATA_MIXES, batch_counts
from hiu_tf.data import augment as augment_lib
from hiu_tf.data import tfrecord
from hiu_tf.errors import UserError
from mano_tf.checks import check_int

logger = logging.getLogger(__name__)

OUTPUTS = ("dict", "tuple")


class PipelineError(UserError, ValueError):
    """Bad pipeline options or sources."""


@dataclasses.dataclass(frozen=True)
class Source:
    """One TFRecord source: a folder, glob pattern or file, and its mixing weight."""

    path: str
    weight: float = 1.0
    name: str = ""


def _source_dataset(
    source: Source,
    image_size: int,
    training: bool,
    seed: int,
    index: int,
    shuffle_buffer: int,
    cache: bool,
) -> tf.data.Dataset:
    files = tfrecord.list_shards(source.path)
    stored_size = tfrecord.read_dataset_info(source.path).get("image_size")
    if stored_size is None:
        raise PipelineError(
            f"{source.path}: no dataset_info.json with the crop size next to the shards; "
            "write the records with `python -m hiu_tf data convert/synth`"
        )
    ds = tf.data.Dataset.from_tensor_slices(files)
    ds = ds.interleave(
        tf.data.TFRecordDataset,
        cycle_length=min(len(files), 4),
        block_length=1,
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if cache:
        ds = ds.cache()
    if training:
        if shuffle_buffer > 1:
            ds = ds.shuffle(shuffle_buffer, seed=seed + 7919 * (index + 1))
        ds = ds.repeat()
    ds = ds.map(
        lambda s: tfrecord.decode_example(s, stored_size),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if stored_size != image_size:
        logger.info(
            "source %s: resizing %d px crops to %d px", source.path, stored_size, image_size
        )
        ds = ds.map(
            lambda s: augment_lib.resize_sample(s, image_size),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds


def build_dataset(
    sources: Sequence[Source],
    *,
    image_size: int,
    heatmap_size: int,
    batch_size: int,
    training: bool = True,
    seed: int = 0,
    augment: augment_lib.AugmentConfig | None = None,
    heatmap_sigma: float = 2.0,
    pof_half_width: float = 1.0,
    mask_threshold: float | None = None,
    shuffle_buffer: int = 1000,
    cache: bool = False,
    drop_remainder: bool | None = None,
    output: str = "dict",
    mix: str = "weight",
) -> tf.data.Dataset:
    """Builds the batched dataset of samples and targets.

    Args:
        sources: TFRecord sources; training mixes them by weight (an infinite
            dataset), evaluation reads them one after the other, once.
        image_size: crop side S fed to the network (records of another size are resized).
        heatmap_size: side of heat-maps, POF and small mask.
        batch_size: global batch size.
        training: shuffle, repeat, mix by weight and augment.
        seed: the one seed of shuffles, mixing and augmentation.
        augment: augmentation ranges for training; None = `AugmentConfig()`. Pass
            `AugmentConfig` with zeros to switch parts off. Never applied for evaluation.
        heatmap_sigma: Gaussian sigma, heat-map pixels.
        pof_half_width: half-thickness of the POF bones, heat-map pixels.
        mask_threshold: `mask_small` is 1 where the covered fraction of a map pixel is
            at least this; None = the fraction itself (`hiu_tf.targets.make_targets`).
        shuffle_buffer: records per source in the shuffle buffer (training).
        cache: cache each source's serialised records in memory.
        drop_remainder: drop a last partial batch; default True for training.
        output: "dict" (one dict per batch) or "tuple" (`(image, dict)`).
        mix: training only: "weight" draws each element's source by weight; "batch"
            puts `hiu_tf.config.batch_counts(weights, batch_size)` elements of each
            source into every batch (a fixed, repeating order of sources).

    Returns:
        A `tf.data.Dataset` of batches.

    Raises:
        PipelineError: bad options; TFRecordError: missing shards.
    """
    if not sources:
        raise PipelineError("sources must name at least one TFRecord source. Received: []")
    check_int(image_size, "image_size", error=PipelineError)
    check_int(heatmap_size, "heatmap_size", error=PipelineError)
    check_int(batch_size, "batch_size", error=PipelineError)
    check_int(shuffle_buffer, "shuffle_buffer", 0, error=PipelineError)
    if output not in OUTPUTS:
        raise PipelineError(f"output must be one of {OUTPUTS}. Received: output={output!r}")
    weights = [float(s.weight) for s in sources]
    if any(w < 0 for w in weights) or sum(weights) <= 0:
        raise PipelineError(f"source weights must be >= 0 with a positive sum. Received: {weights}")
    if mix not in DATA_MIXES:
        raise PipelineError(f"mix must be one of {DATA_MIXES}. Received: mix={mix!r}")
    counts = None
    if training and mix == "batch":
        try:
            counts = batch_counts(weights, batch_size)
        except ValueError as e:
            raise PipelineError(f"mix='batch': {e}") from None
    datasets = [
        _source_dataset(s, image_size, training, seed, i, shuffle_buffer, cache)
        for i, s in enumerate(sources)
    ]
    if training:
        kept = [(d, w) for d, w in zip(datasets, weights, strict=True) if w > 0]
        if len(kept) == 1:
            ds = kept[0][0]
        elif counts is not None:
            # One batch's worth of source indices, repeated: every batch of the
            # (drop_remainder) batching below holds exactly `counts` of each source.
            order = [i for i, c in enumerate(counts) for _ in range(c)]
            choices = tf.data.Dataset.from_tensor_slices(tf.constant(order, tf.int64)).repeat()
            ds = tf.data.Dataset.choose_from_datasets(datasets, choices)
        else:
            total = sum(w for _, w in kept)
            ds = tf.data.Dataset.sample_from_datasets(
                [d for d, _ in kept], [w / total for _, w in kept], seed=seed
            )
        config = augment or augment_lib.AugmentConfig()

        def _augment(index, sample):
            element_seed = tf.stack([tf.constant(seed, tf.int64), index])
            return augment_lib.augment_sample(sample, element_seed, config)

        ds = ds.enumerate().map(_augment, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    else:
        ds = datasets[0]
        for d in datasets[1:]:
            ds = ds.concatenate(d)

    def _targets(sample):
        out = targets.make_targets(
            sample,
            heatmap_size=heatmap_size,
            sigma=heatmap_sigma,
            pof_half_width=pof_half_width,
            mask_threshold=mask_threshold,
        )
        if output == "tuple":
            return out["image"], out
        return out

    ds = ds.map(_targets, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
    ds = ds.batch(batch_size, drop_remainder=training if drop_remainder is None else drop_remainder)
    options = tf.data.Options()
    options.deterministic = True
    ds = ds.with_options(options)
    return ds.prefetch(tf.data.AUTOTUNE)


def sources_from_config(source_configs, root: str | None = None) -> list[Source]:
    """`Source`s from `hiu_tf.config.SourceConfig`s; `path` must point at TFRecords.

    Args:
        source_configs: iterable of `SourceConfig` (name, path, weight, split).
        root: folder that relative paths are resolved against.

    Raises:
        PipelineError: a source without a path.
    """
    out = []
    for cfg in source_configs:
        if not cfg.path:
            raise PipelineError(
                f"data source {cfg.name!r} needs a path to its TFRecords (training reads "
                "converted records only); make them with `python -m hiu_tf data synth` or "
                "`python -m hiu_tf data convert`. Received: path=None"
            )
        path = cfg.path if root is None or os.path.isabs(cfg.path) else os.path.join(root, cfg.path)
        out.append(Source(path=path, weight=cfg.weight, name=cfg.name))
    return out


def dataset_from_config(
    data_config,
    *,
    image_size: int,
    training: bool = True,
    seed: int = 0,
    augment: augment_lib.AugmentConfig | None = None,
    output: str = "dict",
) -> tf.data.Dataset:
    """`build_dataset` from a `hiu_tf.config.DataConfig`.

    Args:
        data_config: the `DataConfig` (sources or eval_sources, sizes, sigma, ...).
        image_size: the model's input size (`DataConfig.input_size` may be None).
        training: training sources with augmentation, or eval sources read once.
        seed: pipeline seed.
        augment: augmentation ranges (training only); None = defaults, or no
            augmentation when `data_config.augment` is False.
        output: "dict" or "tuple".
    """
    cfg = data_config
    size = cfg.input_size or image_size
    if cfg.input_size is not None and cfg.input_size != image_size:
        raise PipelineError(
            f"data.input_size={cfg.input_size} disagrees with the model input size {image_size}"
        )
    heatmap_size = cfg.heatmap_size or size // 4
    configs = cfg.sources if training else (cfg.eval_sources or cfg.sources)
    if training and not cfg.augment:
        augment = augment_lib.AugmentConfig(
            **{f.name: 0.0 for f in dataclasses.fields(augment_lib.AugmentConfig)}
            | {"scale_min": 1.0, "scale_max": 1.0}
        )
    return build_dataset(
        sources_from_config(configs),
        image_size=size,
        heatmap_size=heatmap_size,
        batch_size=cfg.batch_size,
        training=training,
        seed=seed,
        augment=augment,
        heatmap_sigma=cfg.heatmap_sigma,
        pof_half_width=getattr(cfg, "pof_half_width", getattr(cfg, "pof_width", 1.0)),
        mask_threshold=cfg.mask_threshold,
        shuffle_buffer=cfg.shuffle_buffer,
        cache=cfg.cache,
        output=output,
        mix=getattr(cfg, "mix", "weight"),
    )
