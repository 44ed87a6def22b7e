"""The synthetic data sets of an experiment: training, held-out, training-family; SSL splits.

`make_datasets` writes (or reuses, when complete with the same options) a
synthetic training set and a held-out set that differs from it in its seed
*and* in its background family: Voronoi mosaics and out-of-focus "bokeh" discs
(`heldout_backgrounds`), which the generator never draws itself. Both use the
generator options `DEMO_SYNTH` unless told otherwise. `split_labelled` cuts a
set into a labelled part and an unlabelled rest (`strip_labels`) for the
self-supervised ablation.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from training.kit import ExperimentError

logger = logging.getLogger(__name__)

HELDOUT_SEED_OFFSET = 1_000_003  # held-out seed = seed + this: no sample in common
FAMILY_SEED_OFFSET = 2_000_006  # the training-family check set: seed + this
HELDOUT_BACKGROUNDS = 48
# Options of the synthetic generator (`SynthConfig` fields) for both sets: hands that
# fill more of the crop, fingers curled half as much as the generator's default, no
# occluders and no truncation at the border, clutter shapes on every procedural
# background (flat-coloured shapes with sharp edges beside the hand; with fewer, the
# mask spilled onto the held-out set's backgrounds, another family), the palm towards
# the camera (tilted by up to 45 degrees, rolled any way). Keypoints are then far
# enough apart on the 16 x 16 heat-maps, and visible enough, to be learnt in minutes,
# and the hand's orientation can be read off a 64 px crop; shown from the back as
# well, thumb and little finger are easily swapped at that size (docs/learning.md).
# The generator's full difficulty needs longer training.
DEMO_SYNTH = (
    "hand_fill_min=0.65",
    "hand_fill_max=0.9",
    "flexion_scale=0.5",
    "occluder_rate=0.0",
    "truncation_rate=0.0",
    "clutter_rate=1.0",
    "max_tilt_deg=45",
    "back_rate=0",
)


def synth_options(items: Sequence[str]) -> dict[str, Any]:
    """`("key=value", ...)` -> a dict of `SynthConfig` fields (values parsed as YAML).

    Raises:
        ConfigError: an item without "=" or a value that is not YAML
            (`hiu_tf.config.parse_assignments`).
        ExperimentError: an unknown field or a bad value.
    """
    from hiu_tf.config import parse_assignments
    from hiu_tf.data.sources.synthetic import SynthConfig, SynthError

    fields = {f.name for f in dataclasses.fields(SynthConfig)} - {"image_size", "chunk_size"}
    form = f"KEY=VALUE with KEY one of {', '.join(sorted(fields))}"
    out: dict[str, Any] = {}
    for key, value in parse_assignments(items, form, "--synth"):
        key = key.replace("-", "_")
        if key not in fields:
            raise ExperimentError(
                f"--synth must look like {form}. Received: --synth {key}={value!r}"
            )
        out[key] = value
    try:
        SynthConfig(**out)
    except SynthError as e:
        raise ExperimentError(f"bad --synth option: {e}") from e
    return out


def _voronoi(rng: np.random.Generator, size: int) -> np.ndarray:
    """Flat-coloured Voronoi cells with dark seams, `[S, S, 3]` uint8 RGB."""
    import cv2

    n = int(rng.integers(6, 30))
    points = rng.uniform(0, size, (n, 2)).astype(np.float32)
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32)
    d = (xx[..., None] - points[:, 0]) ** 2 + (yy[..., None] - points[:, 1]) ** 2  # [S, S, n]
    order = np.argsort(d, axis=-1)
    nearest = order[..., 0]
    palette = rng.uniform(20, 235, (n, 3))
    image = palette[nearest]
    seam = np.sqrt(np.take_along_axis(d, order[..., 1:2], -1)[..., 0]) - np.sqrt(
        np.take_along_axis(d, order[..., 0:1], -1)[..., 0]
    )
    image[seam < rng.uniform(1.0, 3.0)] *= 0.25
    image = cv2.GaussianBlur(image.astype(np.float32), (0, 0), 0.8)
    return np.clip(image, 0, 255).astype(np.uint8)


def _bokeh(rng: np.random.Generator, size: int) -> np.ndarray:
    """Out-of-focus light discs on a dark base, `[S, S, 3]` uint8 RGB."""
    import cv2

    base = rng.uniform(0, 60, 3)
    image = np.ones((size, size, 3), np.float32) * base.astype(np.float32)
    for _ in range(int(rng.integers(15, 60))):
        layer = np.zeros((size, size, 3), np.float32)
        centre = tuple(int(v) for v in rng.integers(0, size, 2))
        radius = int(rng.uniform(0.03, 0.15) * size)
        colour = tuple(float(c) for c in rng.uniform(60, 255, 3))
        cv2.circle(layer, centre, max(radius, 1), colour, -1, cv2.LINE_AA)
        image = image + layer * rng.uniform(0.2, 0.6)
    image = cv2.GaussianBlur(image, (0, 0), rng.uniform(1.0, 4.0) * size / 256)
    return np.clip(image, 0, 255).astype(np.uint8)


def heldout_backgrounds(folder: str, count: int, size: int, seed: int) -> list[str]:
    """Writes `count` PNG backgrounds of a family the generator never draws.

    Voronoi mosaics and bokeh discs, alternately (the synthetic generator's own
    procedural backgrounds are gradients, fractal noise, stripes and clutter
    shapes). They are used as the generator's `backgrounds` folder for the
    held-out set, so it differs from the training set in its backgrounds as well
    as in its seed.

    Args:
        folder: output folder (created).
        count: number of images.
        size: side of each image in pixels.
        seed: seed of the images.

    Returns:
        The paths written.
    """
    from hiu_tf.image import write_image

    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        image = (_voronoi if i % 2 == 0 else _bokeh)(rng, size)
        path = os.path.join(folder, f"background_{i:03d}.png")
        paths.append(write_image(path, image))
    return paths


def _complete(folder: str, count: int, seed: int, config) -> bool:
    """Whether `folder` holds `count` samples made with `seed` and the generator `config`."""
    from hiu_tf.data import tfrecord

    if not os.path.isdir(folder):
        return False
    info = tfrecord.read_dataset_info(folder)
    part = info.get("parts", {}).get("synthetic", {})
    return (
        info.get("num_samples") == count
        and part.get("seed") == seed
        and part.get("config") == dataclasses.asdict(config)
    )


def synth_set(
    folder: str,
    *,
    count: int,
    size: int,
    seed: int,
    hand_model: str,
    backgrounds: str | None = None,
    synth: Mapping[str, Any] | None = None,
    echo: Callable[[str], None] = logger.info,
    label: str = "samples",
) -> tuple[str, bool]:
    """Generates (or reuses) a synthetic TFRecord set; returns `(folder, reused)`.

    Args:
        synth: `SynthConfig` fields besides the image and chunk sizes.
    """
    from hiu_tf.data.sources import synthetic

    config = synthetic.SynthConfig(image_size=size, chunk_size=min(32, count), **(synth or {}))
    if _complete(folder, count, seed, config):
        echo(f"  {label}: reusing {count} samples in {folder}")
        return folder, True
    shutil.rmtree(folder, ignore_errors=True)  # a stale set of other options
    start = time.monotonic()
    last = [start]

    def progress(n: int) -> None:
        now = time.monotonic()
        if n == count or now - last[0] >= 5.0:
            last[0] = now
            echo(f"  {label}: {n}/{count} samples ({n / max(now - start, 1e-9):.0f}/s)")

    synthetic.write_synthetic(
        folder,
        count=count,
        seed=seed,
        config=config,
        hand_model=hand_model,
        backgrounds=backgrounds,
        overwrite=True,
        progress=progress,
    )
    return folder, False


def make_datasets(
    data_dir: str,
    *,
    size: int,
    seed: int,
    train_samples: int,
    heldout_samples: int,
    hand_model: str,
    synth: Mapping[str, Any] | None = None,
    family_samples: int = 0,
    echo: Callable[[str], None] = logger.info,
) -> dict[str, str]:
    """The training set, the held-out backgrounds and the held-out set under `data_dir`.

    All sets use the generator options `synth` (`SynthConfig` fields); the
    held-out set has the seed `seed + HELDOUT_SEED_OFFSET` and the backgrounds of
    `heldout_backgrounds`. With `family_samples`, a third set of new crops of the
    training set's own kind (procedural backgrounds, seed `seed +
    FAMILY_SEED_OFFSET`): a model that scores much better on it than on the
    held-out set has learnt the training backgrounds rather than the hand.

    Returns:
        `{"train": folder, "heldout": folder, "backgrounds": folder}`, and `"family":
        folder` with `family_samples`.
    """
    train_dir = os.path.join(data_dir, "train")
    heldout_dir = os.path.join(data_dir, "heldout")
    backgrounds = os.path.join(data_dir, "backgrounds-heldout")
    synth_set(
        train_dir,
        count=train_samples,
        size=size,
        seed=seed,
        hand_model=hand_model,
        synth=synth,
        echo=echo,
        label="training set",
    )
    heldout_seed = seed + HELDOUT_SEED_OFFSET
    if not os.path.isdir(backgrounds) or len(os.listdir(backgrounds)) < HELDOUT_BACKGROUNDS:
        heldout_backgrounds(backgrounds, HELDOUT_BACKGROUNDS, max(2 * size, 128), heldout_seed)
    synth_set(
        heldout_dir,
        count=heldout_samples,
        size=size,
        seed=heldout_seed,
        hand_model=hand_model,
        backgrounds=backgrounds,
        synth=synth,
        echo=echo,
        label="held-out set",
    )
    sets = {"train": train_dir, "heldout": heldout_dir, "backgrounds": backgrounds}
    if family_samples > 0:
        sets["family"] = synth_set(
            os.path.join(data_dir, "family"),
            count=family_samples,
            size=size,
            seed=seed + FAMILY_SEED_OFFSET,
            hand_model=hand_model,
            synth=synth,
            echo=echo,
            label="training-family set",
        )[0]
    return sets


def with_training_set(config, train_dir: str):
    """`config` with one data source: the synthetic TFRecords in `train_dir`."""
    from hiu_tf.config import SourceConfig

    source = SourceConfig(name="synthetic", path=os.path.abspath(train_dir))
    return dataclasses.replace(config, data=dataclasses.replace(config.data, sources=(source,)))


def strip_labels(record: bytes) -> bytes:
    """A serialised sample record with every label zeroed and every flag off (image unchanged)."""
    import tensorflow as tf

    from hiu_tf.data import tfrecord

    example = tf.train.Example.FromString(record)
    features = example.features.feature
    size = int(features["image/size"].int64_list.value[0])
    for key in tfrecord.feature_spec():
        if key in ("image/encoded", "image/format", "image/size", "meta/source", "meta/id"):
            continue
        if key == "mask/encoded":
            empty = tfrecord.encode_image(np.zeros((size, size), np.uint8), "png")
            features[key].bytes_list.value[:] = [empty]
        elif key == "is_left":
            continue  # a property of the crop, not a label
        else:
            values = features[key].float_list.value
            values[:] = [0.0] * len(values)
    return example.SerializeToString(deterministic=True)


def split_labelled(
    source: str, out_dir: str, fraction: float, total: int
) -> tuple[str | None, str | None, int]:
    """Splits a TFRecord set into its first `round(fraction * total)` records and the rest.

    The rest is written unlabelled (`strip_labels`). Folders are reused when complete.

    Returns:
        `(labelled folder or None, unlabelled folder or None, number labelled)`.
    """
    import tensorflow as tf

    from hiu_tf.data import tfrecord

    n_labelled = int(round(fraction * total))
    labelled = os.path.join(out_dir, "labelled")
    unlabelled = os.path.join(out_dir, "unlabelled")
    size = tfrecord.read_dataset_info(source)["image_size"]
    wanted = {labelled: n_labelled, unlabelled: total - n_labelled}
    if all(
        n == 0 or tfrecord.read_dataset_info(folder).get("num_samples") == n
        for folder, n in wanted.items()
    ):
        return (
            labelled if n_labelled else None,
            unlabelled if total - n_labelled else None,
            n_labelled,
        )
    shutil.rmtree(out_dir, ignore_errors=True)
    writers = {
        folder: tfrecord.ShardedWriter(folder, "synthetic", source="synthetic", overwrite=True)
        for folder, n in wanted.items()
        if n
    }
    records = tf.data.TFRecordDataset(tfrecord.list_shards(source)).take(total)
    for i, record in enumerate(records.as_numpy_iterator()):
        if i < n_labelled:
            writers[labelled].write_encoded(record, size)
        else:
            writers[unlabelled].write_encoded(strip_labels(record), size)
    for folder, writer in writers.items():
        writer.close({"split_from": os.path.abspath(source), "labelled": folder == labelled})
    return (
        labelled if n_labelled else None,
        unlabelled if total - n_labelled else None,
        n_labelled,
    )
