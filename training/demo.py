"""The end-to-end demo: synthetic data -> training on a time budget -> evaluation -> TFLite -> report.

    python -m hiu_tf demo [--out outputs/demo] [--minutes 8] [--seed 0]

Needs no MANO file and no dataset: everything uses the project's open hand model
(`mano_tf.open_hand`, not MANO). Stages, each announced through `echo`:

1. **Data** (`make_datasets`): a synthetic training set (`write_synthetic`, seed
   `seed`, the generator's own procedural backgrounds: gradients, fractal noise,
   stripes, clutter) and a held-out set with another seed *and* another
   background family: Voronoi mosaics and out-of-focus "bokeh" discs, written as
   images by `heldout_backgrounds` and passed to the generator as its
   `backgrounds` folder. Both use the generator options `DEMO_SYNTH` (larger,
   less curled, unoccluded hands, the palm towards the camera). Complete folders
   from an earlier run with the same options are reused.
2. **Training** (`training.train.train` with a time budget, `train_on_budget`)
   of the `training/configs/demo.yaml` model for `minutes` of wall-clock time:
   a linear learning-rate warm-up, then a cosine decay re-sized at every epoch
   end from the measured step time so that it ends with the budget. `TimeBudget`
   stops `fit` after the step that crosses the deadline, so a busy machine only
   shortens training. `InitialModelSaver` saves the model as `fit` starts it:
   the *untrained* model of the report.
3. **Evaluation** (`training.evaluate.evaluate_run`) of the trained and of the
   untrained model on the held-out set: 2D PCK of the heat-maps and of the
   projected mesh, mask IoU, 3D PCK.
4. **Export** to TFLite (`export.tflite.export_tflite`; float32 by default, see
   `DEFAULT_QUANT`).
5. **Prediction**: the TFLite `export.inference.Predictor` on held-out scenes
   rendered at `PREDICT_SIZE` pixels (the predictor crops and resizes them to the
   model's input), overlays by `export.inference.save_result`.
6. **Report** (`render_html`): `metrics.json`, PCK curves, the training curve,
   overlays, pictures of the data and of the hand model, and one HTML page,
   `index.html`, that links them relatively.

What minutes on a CPU buy, the targets it is held to (`training.learning.DEMO_TARGETS`)
and the measurements behind `training/configs/demo.yaml` and `DEMO_SYNTH` are in
`docs/learning.md`; the report says which targets the run met.

Report folder (`out`):

    index.html  metrics.json  config.yaml  model.tflite (+ .json)
    pck_2d.png  iou_pck.png  pck_3d.png  training_curve.png
    panels_trained.png  panels_untrained.png  data_train.png  data_heldout.png
    hand_model.png  predictions/heldout_NN_overlay.png ...
    eval/{trained,untrained}/   metrics.json and plots of `evaluate_run`
    run/  the run folder (`hiu_tf.runs`); untrained/  the initial model
    data/{train,heldout,backgrounds-heldout}/
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import numpy as np

from hiu_tf.errors import UserError
from training.learning import (
    DEMO_TARGETS,
    PCK_2D_MAX_PX,
    SUMMARY_ROWS,
    check_targets,
    fmt,
    improved,
    summarize,
    summary_lines,
    target_lines,
)

logger = logging.getLogger(__name__)

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "demo.yaml")
DEFAULT_MINUTES = 8.0
DEFAULT_TRAIN_SAMPLES = 4096
DEFAULT_HELDOUT_SAMPLES = 256
DEFAULT_PREDICT_IMAGES = 8
# TFLite quantisation of the demo. Measured on the trained demo model, 64 held-out
# crops, 2 threads: float32 3.12 MB, 0.9 ms per image, equal to Keras; fp16 1.66 MB,
# 1.1 ms, keypoints within 0.2 px; dynamic int8 1.12 MB, 1.0 ms, within 0.5 px (mask
# probabilities within 0.06); int8 trunk with float tail 3.01 MB (the hand model's
# float arrays dominate the file), 1.0 ms, within 2 px. Float32 is as fast and exact.
DEFAULT_QUANT = "none"
PREDICT_SIZE = 256
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
# Steps per epoch of the demo's training: every epoch ends with a checkpoint and a
# backup (about 2 s on a CPU), so epochs are long; training stops with the budget.
EPOCH_STEPS = 500
# An upper bound on the number of epochs: steps never take less than this (seconds).
MIN_STEP_SECONDS = 0.005
REPORT_FILE = "index.html"
METRICS_FILE = "metrics.json"


class DemoError(UserError, ValueError):
    """Bad demo options."""


@dataclasses.dataclass(frozen=True)
class DemoOptions:
    """Options of `run_demo`.

    Attributes:
        out: the report folder.
        minutes: training budget, wall-clock minutes (> 0).
        seed: seed of the training data, the model and the pipeline; the held-out
            set uses `seed + HELDOUT_SEED_OFFSET`.
        config: the experiment YAML (over the config defaults).
        overrides: `--set` overrides applied over `config`.
        train_samples: synthetic training samples.
        heldout_samples: synthetic held-out samples.
        predict_images: held-out scenes run through the TFLite predictor.
        quant: TFLite quantisation ("none", "fp16", "dynamic", "int8").
        warmup_steps: steps of the linear learning-rate warm-up; None = `train.warmup_steps`.
        hand_model: overrides `model.hand_model` (e.g. a small test model).
        run_eagerly: train eagerly (tests: skips tracing).
        verbose: Keras progress bars (1) or none (0).
        hand_pictures: render the hand model in named poses for the report.
        synth: synthetic generator options, `KEY=VALUE` (`SynthConfig` fields), for
            the training and the held-out set.
    """

    out: str = os.path.join("outputs", "demo")
    minutes: float = DEFAULT_MINUTES
    seed: int = 0
    config: str = DEMO_CONFIG
    overrides: tuple[str, ...] = ()
    train_samples: int = DEFAULT_TRAIN_SAMPLES
    heldout_samples: int = DEFAULT_HELDOUT_SAMPLES
    predict_images: int = DEFAULT_PREDICT_IMAGES
    quant: str = DEFAULT_QUANT
    warmup_steps: int | None = None
    hand_model: str | None = None
    run_eagerly: bool = False
    verbose: int = 1
    hand_pictures: bool = True
    synth: tuple[str, ...] = DEMO_SYNTH

    def __post_init__(self) -> None:
        if not (isinstance(self.minutes, int | float) and math.isfinite(self.minutes)):
            raise DemoError(f"--minutes must be a number > 0. Received: --minutes={self.minutes}")
        if self.minutes <= 0:
            raise DemoError(f"--minutes must be > 0. Received: --minutes={self.minutes}")
        for name in ("train_samples", "heldout_samples", "predict_images"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                flag = "--" + name.replace("_", "-")
                raise DemoError(f"{flag} must be an integer >= 1. Received: {flag}={value!r}")
        if self.warmup_steps is not None and self.warmup_steps < 1:
            raise DemoError(
                f"warmup_steps must be >= 1. Received: warmup_steps={self.warmup_steps}"
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or self.seed < 0:
            raise DemoError(f"--seed must be an integer >= 0. Received: --seed={self.seed!r}")
        synth_options(self.synth)  # fail early on a bad option


def synth_options(items: Sequence[str]) -> dict[str, Any]:
    """`("key=value", ...)` -> a dict of `SynthConfig` fields (values parsed as YAML).

    Raises:
        ConfigError: an item without "=" or a value that is not YAML
            (`hiu_tf.config.parse_assignments`).
        DemoError: an unknown field or a bad value.
    """
    from hiu_tf.config import parse_assignments
    from hiu_tf.data.sources.synthetic import SynthConfig, SynthError

    fields = {f.name for f in dataclasses.fields(SynthConfig)} - {"image_size", "chunk_size"}
    form = f"KEY=VALUE with KEY one of {', '.join(sorted(fields))}"
    out: dict[str, Any] = {}
    for key, value in parse_assignments(items, form, "--synth"):
        key = key.replace("-", "_")
        if key not in fields:
            raise DemoError(f"--synth must look like {form}. Received: --synth {key}={value!r}")
        out[key] = value
    try:
        SynthConfig(**out)
    except SynthError as e:
        raise DemoError(f"bad --synth option: {e}") from e
    return out


@dataclasses.dataclass
class DemoResult:
    """What `run_demo` produced.

    Attributes:
        report: path of `index.html`.
        metrics: the dict written to `metrics.json`.
        files: every report file, relative to the report folder.
    """

    report: str
    metrics: dict[str, Any]
    files: list[str]


# --------------------------------------------------------------------------- callbacks


class InitialModelSaver(keras.callbacks.Callback):
    """Saves the model as `fit` starts (weights before the first update) as a run folder.

    Args:
        run_dir: folder for `config.yaml` and `model.keras` (`hiu_tf.runs.save_run_model`).
        config: the `ExperimentConfig` of the model.
    """

    def __init__(self, run_dir: str, config):
        super().__init__()
        self.run_dir = run_dir
        self.config = config

    def on_train_begin(self, logs=None):
        from hiu_tf.runs import save_run_model

        save_run_model(self.run_dir, self.config, self.model)


# --------------------------------------------------------------------------- data


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
    import cv2

    os.makedirs(folder, exist_ok=True)
    paths = []
    for i in range(count):
        rng = np.random.default_rng([seed, i])
        image = (_voronoi if i % 2 == 0 else _bokeh)(rng, size)
        path = os.path.join(folder, f"background_{i:03d}.png")
        if not cv2.imwrite(path, image[..., ::-1]):
            raise DemoError(f"cannot write {path}")
        paths.append(path)
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


# --------------------------------------------------------------------------- config


def demo_config(options: DemoOptions, train_dir: str | None = None):
    """The resolved `ExperimentConfig`: `options.config` over the defaults, then overrides.

    Args:
        options: the demo options.
        train_dir: the training TFRecords (the one data source), if known.
    """
    from hiu_tf.config import apply_overrides, load_config

    if not os.path.isfile(options.config):
        raise DemoError(f"config file not found: {options.config!r}")
    config = load_config(options.config)
    overrides = list(options.overrides)
    if options.hand_model:
        overrides.append(f"model.hand_model={options.hand_model}")
    overrides.append(f"train.seed={options.seed}")
    config = apply_overrides(config, overrides)
    return config if train_dir is None else with_training_set(config, train_dir)


def with_training_set(config, train_dir: str):
    """`config` with one data source: the synthetic TFRecords in `train_dir`."""
    from hiu_tf.config import SourceConfig

    source = SourceConfig(name="synthetic", path=os.path.abspath(train_dir))
    return dataclasses.replace(config, data=dataclasses.replace(config.data, sources=(source,)))


# --------------------------------------------------------------------------- training


def _with_train(config, **fields):
    return dataclasses.replace(config, train=dataclasses.replace(config.train, **fields))


def train_on_budget(
    config,
    run_dir: str,
    seconds: float,
    *,
    untrained_dir: str | None = None,
    warmup_steps: int | None = None,
    run_eagerly: bool = False,
    verbose: int = 1,
    echo: Callable[[str], None] = logger.info,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Trains `config` into `run_dir` for about `seconds` of wall-clock time.

    One `training.train.train` call with `time_budget_s=seconds`, so the train step
    is traced once: a linear warm-up of `W` steps (`W = warmup_steps` or
    `train.warmup_steps`), then a cosine decay whose end is re-estimated at every
    epoch end from the measured step time, so that it ends with the budget
    (`training.callbacks.FitScheduleToBudget`); `TimeBudget` stops `fit` after the
    step that crosses the deadline, so a busy machine only shortens training.
    Epochs have `EPOCH_STEPS` steps (each ends with a checkpoint).

    Args:
        config: the resolved config (data sources with paths).
        run_dir: the run folder (started afresh).
        seconds: the budget.
        untrained_dir: where `InitialModelSaver` saves the untrained model.
        warmup_steps: steps of the warm-up; None = `train.warmup_steps`.
        run_eagerly: train eagerly.
        verbose: `fit` verbosity.
        echo: progress messages.
        clock: monotonic clock.

    Returns:
        A dict: `result` (the `TrainResult`), `config` (the final config), `steps`,
        `epochs`, `step_time_s`, `seconds`, `stopped_by_budget` and `planned_steps`
        (the last end of the cosine decay).
    """
    from training.callbacks import StepTimer
    from training.train import train

    start = clock()
    timer = StepTimer(clock)
    warm = int(warmup_steps or config.train.warmup_steps or 1)
    shutil.rmtree(run_dir, ignore_errors=True)
    callbacks: list[keras.callbacks.Callback] = [timer]
    if untrained_dir is not None:
        callbacks.insert(0, InitialModelSaver(untrained_dir, config))
    epochs = max(1, math.ceil(seconds / (EPOCH_STEPS * MIN_STEP_SECONDS)))
    echo(
        f"  {warm} warm-up steps to a learning rate of {config.train.learning_rate:g}, then "
        f"a {config.train.lr_schedule} decay sized to end with the {seconds:.0f} s budget"
    )
    result = train(
        _with_train(config, warmup_steps=warm),
        run_dir,
        resume=False,
        epochs=epochs,
        steps_per_epoch=EPOCH_STEPS,
        callbacks=callbacks,
        run_eagerly=run_eagerly,
        images=0,
        verbose=verbose,
        time_budget_s=seconds,
        clock=clock,
    )
    steps = len(timer.durations)
    schedule = result.model.optimizer.learning_rate_schedule
    if result.stopped_by_budget:
        echo(f"  the time budget stopped training after {steps} steps")
    prune_checkpoints(run_dir)
    return {
        "result": result,
        "config": result.config,
        "steps": steps,
        "planned_steps": schedule.decay_steps or steps,
        "epochs": len(timer.epoch_overheads),
        "step_time_s": timer.step_time() or (timer.durations[-1] if timer.durations else None),
        "seconds": clock() - start,
        "stopped_by_budget": result.stopped_by_budget,
    }


def prune_checkpoints(run_dir: str) -> int:
    """Deletes every per-epoch checkpoint of a run folder but the newest; returns the count.

    A budgeted run writes one per epoch (dozens of MB in all); `model.keras` and
    the newest checkpoint are all that evaluation and export read.
    """
    from hiu_tf.runs import RunPaths

    paths = RunPaths(run_dir)
    latest = paths.latest_checkpoint()
    removed = 0
    if latest is None:
        return 0
    for name in os.listdir(paths.checkpoints):
        path = os.path.join(paths.checkpoints, name)
        if name.endswith(".weights.h5") and os.path.abspath(path) != os.path.abspath(latest[1]):
            os.remove(path)
            removed += 1
    return removed


# --------------------------------------------------------------------------- evaluation


# --------------------------------------------------------------------------- pictures


def _write_png(path: str, image_rgb: np.ndarray) -> str:
    import cv2

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    if not cv2.imwrite(path, np.ascontiguousarray(image_rgb[..., ::-1])):
        raise DemoError(f"cannot write {path}")
    return path


def _grid(tiles: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Tiles of one size in rows of `columns` (the last row padded with white)."""
    tiles = list(tiles)
    h, w = tiles[0].shape[:2]
    while len(tiles) % columns:
        tiles.append(np.full((h, w, 3), 255, np.uint8))
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def _read_samples(folder: str, count: int) -> list[dict[str, np.ndarray]]:
    from hiu_tf.data import tfrecord

    ds = tfrecord.read_tfrecords(folder).take(count)
    return list(ds.as_numpy_iterator())


def data_strip(folder: str, path: str, count: int = 8, tile: int = 128) -> str:
    """A row of `count` samples of a TFRecord set, with their masks and keypoints."""
    from hiu_tf import visualize

    tiles = []
    for sample in _read_samples(folder, count):
        image = visualize.draw_mask(sample["image"], sample["mask"], alpha=0.25)
        image = _resize(image, tile)
        scale = tile / sample["image"].shape[0]
        image = visualize.draw_skeleton(image, sample["keypoints_px"] * scale, radius=1)
        tiles.append(image)
    return _write_png(path, _grid(tiles, len(tiles)))


def _resize(image: np.ndarray, side: int) -> np.ndarray:
    import cv2

    return cv2.resize(image, (side, side), interpolation=cv2.INTER_LINEAR)


def prediction_panels(run_dir: str, heldout: str, path: str, count: int = 4) -> str:
    """input | ground truth | prediction rows of a run's Keras model on held-out samples."""
    from hiu_tf import visualize
    from hiu_tf.model import mask_output_key
    from hiu_tf.runs import load_run

    config, model = load_run(run_dir)
    samples = _read_samples(heldout, count)
    images = np.stack([s["image"] for s in samples]).astype(np.float32)
    out = {k: np.asarray(v) for k, v in model.predict_on_batch(images).items()}
    mask_key = mask_output_key(out, config.model.num_stacks)
    rows = []
    for i, sample in enumerate(samples):
        mask = out.get(mask_key) if mask_key else None
        rows.append(
            visualize.overlay_panel(
                sample["image"],
                pred_keypoints_px=out["keypoints_px_heatmap"][i]
                if "keypoints_px_heatmap" in out
                else None,
                gt_keypoints_px=sample["keypoints_px"],
                pred_mask=None if mask is None else 1.0 / (1.0 + np.exp(-mask[i])),
                gt_mask=sample["mask"],
                visible=sample["keypoint_visible"],
                tile_size=160,
            )
        )
    return _write_png(path, np.concatenate(rows, axis=0))


def hand_model_sheet(path: str, size: int = 160) -> str:
    """The open hand model, right and left, in the named poses (one sheet)."""
    import cv2

    from mano_tf.mano_layer import ManoLayer
    from mano_tf.open_hand import default_hand_model, named_pose
    from mano_tf.render.shaded import render_shaded
    from mano_tf.rotations import axis_angle_to_matrix

    poses = ("rest", "relaxed", "fist", "pointing", "ok", "spread")
    views = {  # rotations (axis, radians) after the upright view of a right hand
        "rest": (((0.0, 1.0, 0.0), -0.35),),
        "relaxed": (((1.0, 0.0, 0.0), 0.3), ((0.0, 1.0, 0.0), -0.5)),
        "fist": (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6)),
        "pointing": (((1.0, 0.0, 0.0), 0.3), ((0.0, 1.0, 0.0), -0.5)),
        "ok": (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6)),
        "spread": (((0.0, 1.0, 0.0), -0.2),),
    }
    depth = 0.6
    rows = []
    for side in ("right", "left"):
        model = default_hand_model(side)
        layer = ManoLayer(model, flat_hand_mean=True)
        pose = np.stack([named_pose(p, side) for p in poses]).astype(np.float32)
        betas = np.zeros((len(poses), model.num_betas), np.float32)
        vertices = np.asarray(layer(pose, betas)["vertices"], np.float64)
        row = []
        for name, posed in zip(poses, vertices, strict=True):
            rotation = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
            for axis, angle in views[name]:
                turn = np.asarray(axis_angle_to_matrix(angle * np.asarray(axis, np.float64)))
                rotation = turn @ rotation
            if side == "left":
                mirror = np.diag([-1.0, 1.0, 1.0])
                rotation = mirror @ rotation @ mirror
            points = posed @ rotation.T
            points = points + [0.0, 0.0, depth] - (points.max(0) + points.min(0)) / 2
            focal = 0.86 * size * depth / 0.2
            intrinsics = np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1.0]])
            background = np.full((size, size, 3), 255, np.uint8)
            image = render_shaded(
                points, model.faces, intrinsics, size, size, background=background
            )["image"].copy()
            cv2.putText(
                image, f"{side} {name}", (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1
            )
            row.append(image)
        rows.append(np.concatenate(row, axis=1))
    return _write_png(path, np.concatenate(rows, axis=0))


def training_curve(history: Sequence[Mapping[str, float]], path: str) -> str:
    """The loss and its terms per epoch (log scale), the mesh's health, the learning rate.

    The middle panel shows the training metrics `mesh_rotation_error_deg` and
    `mesh_depth_ratio` (`hiu_tf.losses.mesh_health`) when the run logged them: a mesh
    that turns away or drifts from the camera shows there.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13.5, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    left, middle, right = (figure.add_subplot(1, 3, i) for i in (1, 2, 3))
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(history)]
    keys = ["loss"] + sorted(k for k in (history[0] if history else {}) if k.startswith("loss_"))
    for key in keys:
        values = [row.get(key, float("nan")) for row in history]
        if any(v > 0 for v in values):
            left.plot(epochs, values, label=key, linewidth=2.0 if key == "loss" else 1.0)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (log scale)")
    left.set_title("loss and its terms (unweighted)")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=6, loc="upper right", ncol=2)
    rotation = [row.get("mesh_rotation_error_deg", float("nan")) for row in history]
    depth = [row.get("mesh_depth_ratio", float("nan")) for row in history]
    middle.plot(epochs, rotation, color="tab:red", label="rotation error (deg)")
    middle.set_xlabel("epoch")
    middle.set_ylabel("global rotation error, mean (deg)", color="tab:red")
    middle.set_ylim(bottom=0)
    middle.grid(True, alpha=0.3)
    twin = middle.twinx()
    twin.plot(epochs, depth, color="tab:blue", label="depth ratio")
    twin.axhline(1.0, color="tab:blue", linewidth=0.8, linestyle=":")
    twin.set_ylabel("depth ratio, mean (1 = right)", color="tab:blue")
    middle.set_title("mesh health on the training batches")
    rates = [row.get("learning_rate", float("nan")) for row in history]
    right.plot(epochs, rates)
    right.set_xlabel("epoch")
    right.set_ylabel("learning rate (end of epoch)")
    right.set_title("learning rate")
    right.grid(True, alpha=0.3)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format="png")
    return path


def before_after_curves(
    trained: Mapping[str, Any], untrained: Mapping[str, Any], out: str
) -> list[str]:
    """PCK curves of the trained and the untrained model on one plot per metric."""
    from hiu_tf.visualize import plot_pck_curves

    models = (("trained", trained), ("untrained", untrained))
    curves_2d = {
        f"{tag}, {name}": (section["thresholds_px"], section["pck"])
        for tag, m in models
        for name, section in m.get("keypoints_2d", {}).items()
    }
    plots = (  # (file, curves, plot_pck_curves options)
        (
            "pck_2d.png",
            curves_2d,
            dict(title="2D PCK on the held-out set", xlabel="threshold (px of the model input)"),
        ),
        (
            "iou_pck.png",
            {t: (m["mask"]["thresholds"], m["mask"]["iou_pck"]) for t, m in models if "mask" in m},
            dict(
                title="mask IoU on the held-out set",
                xlabel="IoU threshold",
                ylabel="fraction of images with IoU > threshold",
            ),
        ),
        (
            "pck_3d.png",
            {
                t: (m["keypoints_3d"]["thresholds_mm"], m["keypoints_3d"]["pck"])
                for t, m in models
                if "keypoints_3d" in m
            },
            dict(title="3D PCK (hand3d protocol) on the held-out set", xlabel="threshold (mm)"),
        ),
    )
    files = []
    for name, curves, options in plots:
        if curves:
            files.append(plot_pck_curves(curves, os.path.join(out, name), **options))
    return files


# --------------------------------------------------------------------------- export / predict


def predict_heldout(
    tflite_path: str,
    model,
    out_dir: str,
    *,
    count: int,
    seed: int,
    backgrounds: str,
    hand_model: str,
    synth: Mapping[str, Any] | None = None,
    size: int = PREDICT_SIZE,
) -> dict[str, Any]:
    """Runs the TFLite predictor on `count` held-out scenes rendered at `size` pixels.

    The scenes are those of the held-out set (same seed, same background folder),
    rendered at `size` instead of the model's input size; the predictor crops and
    resizes them. Writes `out_dir/heldout_NN_overlay.png`, `_mask.png` and `.json`
    (`export.inference.save_result`) and compares the TFLite outputs with the
    Keras model's on the same crops.

    Returns:
        `{"images": [overlay paths], "parity": {...}, "seconds_per_image": float}`.
    """
    from export.inference import Predictor, cut_square, save_result, square_box
    from hiu_tf.data.sources.synthetic import SynthConfig, SyntheticGenerator

    generator = SyntheticGenerator(
        SynthConfig(image_size=size, chunk_size=min(count, 32), **(synth or {})),
        hand_model,
        backgrounds,
    )
    images = [
        np.clip(np.rint(s["image"] * 255.0), 0, 255).astype(np.uint8)
        for _, s in generator(seed, count)
    ]
    predictor = Predictor.load(tflite_path, num_threads=2)
    overlays = []
    start = time.monotonic()
    for i, image in enumerate(images):
        result = predictor.predict(image)
        paths = save_result(
            out_dir,
            f"heldout_{i:02d}",
            image,
            result,
            predictor.faces,
            source=f"held-out scene {i} at {size} px",
            backend=predictor.kind,
        )
        overlays.append(paths["overlay"])
    per_image = (time.monotonic() - start) / max(len(images), 1)
    # Parity: the same crops through Keras (the export graph) and TFLite.
    s = predictor.input_size
    crops = np.stack([cut_square(im, square_box(size, size), s) for im in images])
    lite = predictor.run_crops(crops)
    keras_out = Predictor.from_keras(model).run_crops(crops)
    parity = {}
    for key in ("keypoints_px", "keypoints_px_mesh", "mask"):
        if key in lite and key in keras_out:
            parity[f"max_abs_diff_{key}"] = float(np.max(np.abs(lite[key] - keras_out[key])))
    return {"images": overlays, "parity": parity, "seconds_per_image": per_image}


# --------------------------------------------------------------------------- report


_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.better { color: #176117; font-weight: bold; } td.worse { color: #9b1c1c; }
img { max-width: 100%; border: 1px solid #ddd; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; } .grid img { width: 256px; }
.note { color: #555; font-size: 0.92em; } code { background: #f3f3f3; padding: 0 0.2em; }
"""


_QUANT_NAMES = {
    "none": "float32",
    "fp16": "float16 weights",
    "dynamic": "dynamic-range int8",
    "int8": "int8 trunk, float tail",
}


def _img(src: str, alt: str) -> str:
    return f'<img src="{html.escape(src)}" alt="{html.escape(alt)}">'


def render_html(metrics: Mapping[str, Any], files: Mapping[str, Any]) -> str:
    """The report page (one self-contained HTML document; images by relative path).

    Args:
        metrics: the dict of `metrics.json`.
        files: report-relative paths: `pck_2d`, `iou_pck`, `pck_3d`, `training_curve`,
            `panels_trained`, `panels_untrained`, `data_train`, `data_heldout`,
            `hand_model` (each optional) and `predictions` (a list).
    """
    e = html.escape
    s = metrics["summary"]
    t = metrics["training"]
    timing = metrics["timing"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>HIU-DMTL demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>HIU-DMTL demo report</h1>",
        '<p class="note">A small HIU-DMTL model (Zhang et al., ICCV 2021) trained from scratch on '
        "synthetic hands of the project's open hand model (not MANO), on a CPU, for a fixed "
        "time budget; then evaluated on a held-out synthetic set with other seeds and another "
        "family of backgrounds, exported to TFLite and run on held-out images. The numbers "
        "show that the whole system learns; they say nothing about real photographs.</p>",
        "<h2>Before and after training</h2>",
        f"<p>{metrics['heldout']['num_samples']} held-out samples. The <em>untrained</em> model "
        "is the training run's own starting point (its weights as <code>fit</code> began). "
        "2D errors are pixels of the model's "
        f"{metrics['config']['model']['input_size']}&times;"
        f"{metrics['config']['model']['input_size']} input crop.</p>",
        "<table><tr><th>metric</th><th>untrained</th><th>trained</th></tr>",
    ]
    before, after = s["untrained"], s["trained"]
    for key, label, higher, spec in SUMMARY_ROWS:
        b, a = before.get(key), after.get(key)
        better = improved(b, a, higher)
        css = "" if better is None else (' class="better"' if better else ' class="worse"')
        parts.append(
            f"<tr><td>{e(label)}</td><td>{fmt(b, spec)}</td><td{css}>{fmt(a, spec)}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        '<p class="note">Heat-maps: the peak of each of the last stack\'s heat-maps (the '
        "backbone). Projected mesh: the 3D joints of the regressed hand model projected with "
        "the predicted camera. Mask: the last stack's mask logits, upsampled to the crop, "
        "&gt; 0. 3D: root-relative joints rescaled to the reference bone (hand3d protocol). "
        "PA-MPJPE aligns the prediction to the truth by a similarity first: the untrained "
        "model's flat template hand is then already a fair guess. Mesh health: the median "
        "angle between the regressed and the true global orientation of the hand, and the "
        "median ratio of the regressed to the true depth in focal-length units (1: the mesh "
        "is drawn at the right size; above 1 it has drifted away from the camera).</p>"
    )
    checked = metrics.get("targets", [])
    if checked:
        met = sum(1 for t in checked if t["met"])
        parts.append(
            f"<h3>Targets: {met} of {len(checked)} met</h3>"
            "<table><tr><th>target</th><th>trained</th><th>limit</th><th></th></tr>"
        )
        for target in checked:
            verdict = (
                '<td class="better">met</td>' if target["met"] else '<td class="worse">missed</td>'
            )
            parts.append(
                f"<tr><td>{e(target['label'])}</td><td>{fmt(target['value'], '{:.3g}')}</td>"
                f"<td>{target['limit']:.3g}</td>{verdict}</tr>"
            )
        parts.append(
            "</table><p class='note'>The goals of the default demo on its held-out crops "
            "(<code>training.learning.DEMO_TARGETS</code>); other options (input size, hand "
            "model, budget) are not held to them.</p>"
        )
    for key, caption in (
        ("pck_2d", "2D PCK: fraction of keypoints within a threshold, trained vs untrained."),
        ("iou_pck", "Fraction of images whose mask IoU exceeds a threshold."),
        ("pck_3d", "3D PCK of the mesh joints (hand3d protocol)."),
    ):
        if files.get(key):
            parts.append(f"<h3>{e(caption)}</h3>{_img(files[key], key)}")
    parts.append("<h2>Predictions</h2>")
    q = metrics["tflite"]["quantization"]
    if files.get("predictions"):
        parts.append(
            f"<p>The exported TFLite model ({e(_QUANT_NAMES.get(q, q))}, "
            f"{metrics['tflite']['bytes'] / 2**20:.2f} MB) through the predictor "
            "(<code>export.inference.Predictor</code>) on held-out scenes rendered at "
            f"{PREDICT_SIZE}&times;{PREDICT_SIZE} px; the predictor crops and resizes them to the "
            "model's input. Blue: the predicted mask; lines: the keypoints from the heat-maps; "
            "shaded: the regressed hand mesh.</p><div class='grid'>"
        )
        for path in files["predictions"]:
            parts.append(_img(path, os.path.basename(path)))
        parts.append("</div>")
        parity = metrics["tflite"].get("parity", {})
        if parity:
            text = ", ".join(f"{k} {v:.3g}" for k, v in parity.items())
            parts.append(f'<p class="note">TFLite vs Keras on the same crops: {e(text)}.</p>')
    for key, caption in (
        ("panels_trained", "Trained model on held-out crops: input | ground truth | prediction"),
        ("panels_untrained", "Untrained model on the same crops"),
    ):
        if files.get(key):
            parts.append(f"<h3>{e(caption)}</h3>{_img(files[key], key)}")
    parts.append("<h2>Training</h2>")
    parts.append(
        f"<p>{t['steps']} steps of batch {metrics['config']['data']['batch_size']} in "
        f"{t['seconds']:.0f} s (budget {t['budget_seconds']:.0f} s; mean step "
        f"{fmt(t['step_time_s'], '{:.2f}')} s)"
        + ("; the budget stopped training" if t["stopped_by_budget"] else "")
        + ". A linearly rising learning rate for the first steps, then a cosine decay "
        "re-sized at every epoch end from the measured step time to end with the budget.</p>"
    )
    if files.get("training_curve"):
        parts.append(_img(files["training_curve"], "training curve"))
    parts.append("<h2>Data</h2>")
    parts.append(
        f"<p>{metrics['train_set']['num_samples']} training samples (seed "
        f"{metrics['train_set']['seed']}, the generator's procedural backgrounds) and "
        f"{metrics['heldout']['num_samples']} held-out samples (seed {metrics['heldout']['seed']}, "
        "Voronoi and bokeh backgrounds the generator never draws), rendered from the open hand "
        "model with random poses (the palm towards the camera, tilted by up to 45 degrees and "
        "rolled any way), shapes, cameras, skin tones and lights. Generator options of both "
        "sets: "
        + e(", ".join(f"{k}={v}" for k, v in metrics["train_set"].get("generator", {}).items()))
        + " (an easier setting than the generator's default, so that keypoints can be learnt "
        "in minutes). Ground truth drawn: mask (green) and keypoints.</p>"
    )
    for key, caption in (("data_train", "training samples"), ("data_heldout", "held-out samples")):
        if files.get(key):
            parts.append(f"<h3>{e(caption)}</h3>{_img(files[key], key)}")
    if files.get("hand_model"):
        parts.append("<h2>The hand model</h2>")
        parts.append(
            "<p>The project's open hand model (<code>mano_tf.open_hand</code>), generated by "
            "code with MANO's joint tree: right hands on top, their mirror images below.</p>"
        )
        parts.append(_img(files["hand_model"], "hand model"))
    parts.append("<h2>Time and files</h2><table><tr><th>stage</th><th>seconds</th></tr>")
    for stage, seconds in timing.items():
        parts.append(f"<tr><td>{e(stage)}</td><td>{seconds:.1f}</td></tr>")
    parts.append("</table>")
    parts.append(
        f'<p class="note">Machine: {metrics["machine"]["cpus"]} CPUs, load average '
        f"{metrics['machine']['load_start']} at the start, {metrics['machine']['load_end']} at "
        "the end.</p>"
    )
    parts.append(
        "<p>All numbers: <a href='metrics.json'>metrics.json</a>; config: "
        "<a href='config.yaml'>config.yaml</a>; model: <a href='model.tflite'>model.tflite</a>; "
        "the run folder: <code>run/</code>; per-model evaluation: <code>eval/</code>.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"


def _load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------- main


def run_demo(options: DemoOptions, echo: Callable[[str], None] = logger.info) -> DemoResult:
    """Runs every stage of the demo (see the module docstring) and writes the report.

    Args:
        options: `DemoOptions`.
        echo: receives the progress messages (the CLI prints them).

    Returns:
        A `DemoResult`; `result.report` is the path of `index.html`.

    Raises:
        DemoError: bad options; ConfigError: a bad config or override.
    """
    from hiu_tf.config import save_config
    from training.evaluate import evaluate_run
    from training.train import history_rows

    clock = time.monotonic
    start = clock()
    timing: dict[str, float] = {}
    out = options.out
    try:
        os.makedirs(out, exist_ok=True)
    except OSError as e:
        raise DemoError(f"cannot create the report folder {out}: {e}") from e
    config = demo_config(options)  # fail on a bad config before any work
    size = config.model.input_size
    load_start = _load_average()
    synth = synth_options(options.synth)
    stages = 6

    # 1. data
    mark = clock()
    echo(f"[1/{stages}] data: synthetic hands of {config.model.hand_model} at {size} px")
    data = make_datasets(
        os.path.join(out, "data"),
        size=size,
        seed=options.seed,
        train_samples=options.train_samples,
        heldout_samples=options.heldout_samples,
        hand_model=config.model.hand_model,
        synth=synth,
        echo=echo,
    )
    timing["data"] = clock() - mark

    # 2. training
    mark = clock()
    config = demo_config(options, data["train"])
    run_dir = os.path.join(out, "run")
    untrained_dir = os.path.join(out, "untrained")
    echo(
        f"[2/{stages}] training {config.name}: {config.model.num_stacks} stacks of width "
        f"{config.model.width}, batch {config.data.batch_size}, for {options.minutes:g} min"
    )
    trained = train_on_budget(
        config,
        run_dir,
        options.minutes * 60.0,
        untrained_dir=untrained_dir,
        warmup_steps=options.warmup_steps,
        run_eagerly=options.run_eagerly,
        verbose=options.verbose,
        echo=echo,
        clock=clock,
    )
    config = trained["config"]
    model = trained["result"].model
    save_config(config, os.path.join(out, "config.yaml"))
    timing["training"] = clock() - mark
    echo(f"  trained {trained['steps']} steps in {trained['seconds']:.0f} s")

    # 3. evaluation
    mark = clock()
    echo(f"[3/{stages}] evaluation on {options.heldout_samples} held-out samples")
    evals = {}
    for tag, folder in (("trained", run_dir), ("untrained", untrained_dir)):
        echo(f"  {tag} model")
        evals[tag] = evaluate_run(
            folder,
            data["heldout"],
            out_dir=os.path.join(out, "eval", tag),
            batch_size=32,
            pck_2d_max_px=PCK_2D_MAX_PX,
            verbose=options.verbose,
        ).metrics
    summary = {tag: summarize(m) for tag, m in evals.items()}
    for line in summary_lines(summary["trained"], summary["untrained"]):
        echo(line)
    checked = check_targets(summary["trained"], summary["untrained"], DEMO_TARGETS, size)
    echo(f"  demo targets: {sum(r.met for r in checked)} of {len(checked)} met")
    for line in target_lines(checked):
        echo(line)
    timing["evaluation"] = clock() - mark

    # 4. export
    mark = clock()
    from export.tflite import export_tflite

    tflite_path = os.path.join(out, "model.tflite")
    echo(f"[4/{stages}] export: TFLite ({options.quant}) -> {tflite_path}")
    info = export_tflite(config, model, tflite_path, options.quant)
    echo(f"  {info['bytes'] / 2**20:.2f} MB, outputs: {', '.join(info['outputs'])}")
    timing["export"] = clock() - mark

    # 5. prediction
    mark = clock()
    echo(f"[5/{stages}] prediction: TFLite predictor on {options.predict_images} held-out images")
    predictions = predict_heldout(
        tflite_path,
        model,
        os.path.join(out, "predictions"),
        count=options.predict_images,
        seed=options.seed + HELDOUT_SEED_OFFSET,
        backgrounds=data["backgrounds"],
        hand_model=config.model.hand_model,
        synth=synth,
    )
    parity = ", ".join(f"{k} {v:.3g}" for k, v in predictions["parity"].items())
    echo(
        f"  {len(predictions['images'])} overlays, {predictions['seconds_per_image']:.2f} s per "
        f"image; TFLite vs Keras: {parity}"
    )
    timing["prediction"] = clock() - mark

    # 6. report
    mark = clock()
    echo(f"[6/{stages}] report")
    files: dict[str, Any] = {}
    for path in before_after_curves(evals["trained"], evals["untrained"], out):
        files[os.path.splitext(os.path.basename(path))[0]] = os.path.basename(path)
    history = history_rows(os.path.join(run_dir, "history.csv"))
    if history:
        training_curve(history, os.path.join(out, "training_curve.png"))
        files["training_curve"] = "training_curve.png"
    for tag, folder in (("trained", run_dir), ("untrained", untrained_dir)):
        prediction_panels(folder, data["heldout"], os.path.join(out, f"panels_{tag}.png"))
        files[f"panels_{tag}"] = f"panels_{tag}.png"
    for tag in ("train", "heldout"):
        data_strip(data[tag], os.path.join(out, f"data_{tag}.png"))
        files[f"data_{tag}"] = f"data_{tag}.png"
    if options.hand_pictures:
        hand_model_sheet(os.path.join(out, "hand_model.png"))
        files["hand_model"] = "hand_model.png"
    files["predictions"] = [os.path.relpath(p, out) for p in predictions["images"]]
    timing["report"] = clock() - mark
    timing["total"] = clock() - start

    from hiu_tf.config import config_to_dict

    metrics = {
        "summary": summary,
        "targets": [
            {
                "key": r.target.key,
                "label": r.target.label,
                "value": r.value,
                "limit": r.limit,
                "met": r.met,
            }
            for r in checked
        ],
        "trained": evals["trained"],
        "untrained": evals["untrained"],
        "training": {
            "steps": trained["steps"],
            "planned_steps": trained["planned_steps"],
            "epochs": trained["epochs"],
            "step_time_s": trained["step_time_s"],
            "seconds": trained["seconds"],
            "budget_seconds": options.minutes * 60.0,
            "stopped_by_budget": trained["stopped_by_budget"],
            "final_loss": (history[-1].get("loss") if history else None),
        },
        "train_set": {
            "folder": data["train"],
            "num_samples": options.train_samples,
            "seed": options.seed,
            "generator": synth,
        },
        "heldout": {
            "folder": data["heldout"],
            "num_samples": options.heldout_samples,
            "seed": options.seed + HELDOUT_SEED_OFFSET,
            "backgrounds": "Voronoi mosaics and bokeh discs (training: the generator's own)",
        },
        "tflite": {
            "file": "model.tflite",
            "quantization": info["quantization"],
            "bytes": info["bytes"],
            "parity": predictions["parity"],
            "seconds_per_image": predictions["seconds_per_image"],
        },
        "timing": timing,
        "machine": {
            "cpus": os.cpu_count(),
            "load_start": load_start,
            "load_end": _load_average(),
        },
        "config": config_to_dict(config),
    }
    metrics_path = os.path.join(out, METRICS_FILE)
    with open(metrics_path, "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    report = os.path.join(out, REPORT_FILE)
    with open(report, "w", encoding="utf-8") as f:
        f.write(render_html(metrics, files))
    listed = [METRICS_FILE, REPORT_FILE, "config.yaml", "model.tflite"]
    for value in files.values():
        listed.extend(value if isinstance(value, list) else [value])
    echo(f"  total {timing['total']:.0f} s; load average {metrics['machine']['load_end']}")
    return DemoResult(report=report, metrics=metrics, files=listed)


__all__ = [
    "DEMO_CONFIG",
    "DemoError",
    "DemoOptions",
    "DemoResult",
    "InitialModelSaver",
    "heldout_backgrounds",
    "make_datasets",
    "run_demo",
    "train_on_budget",
]
