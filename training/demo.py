"""The end-to-end demo: synthetic data -> training on a time budget -> evaluation -> TFLite -> report.

    python -m hiu_tf demo [--out outputs/demo] [--minutes 8] [--seed 0]

Needs no MANO file and no dataset: everything uses the project's open hand model
(`mano_tf.open_hand`, not MANO). Stages, each announced through `echo`:

1. **Data** (`training.kit.datasets.make_datasets`): a synthetic training set (`write_synthetic`, seed
   `seed`, the generator's own procedural backgrounds: gradients, fractal noise,
   stripes, clutter) and a held-out set with another seed *and* another
   background family: Voronoi mosaics and out-of-focus "bokeh" discs, written as
   images by `heldout_backgrounds` and passed to the generator as its
   `backgrounds` folder. Both use the generator options `DEMO_SYNTH` (larger,
   less curled, unoccluded hands, the palm towards the camera). Complete folders
   from an earlier run with the same options are reused.
2. **Training** (`training.kit.budget.train_on_budget`)
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
6. **Report** (`training.kit.figures`, `training.kit.report.render_html`): `metrics.json`, PCK curves, the training curve,
   overlays, pictures of the data and of the hand model, and one HTML page,
   `index.html`, that links them relatively.

What minutes on a CPU buy, the targets it is held to (`training.kit.learning.DEMO_TARGETS`)
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
import json
import logging
import math
import os
import time
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from mano_tf.checks import check_int, check_positive
from training.kit import ExperimentError
from training.kit.datasets import DEMO_SYNTH, HELDOUT_SEED_OFFSET, synth_options, with_training_set

logger = logging.getLogger(__name__)

DEMO_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "demo.yaml")
DEFAULT_MINUTES = 8.0
DEFAULT_TRAIN_SAMPLES = 4096
DEFAULT_HELDOUT_SAMPLES = 256
DEFAULT_PREDICT_IMAGES = 8
# TFLite quantisation of the demo: float32, as fast as the quantised models on a CPU
# and exact (the comparison is in docs/export.md).
DEFAULT_QUANT = "none"
PREDICT_SIZE = 256  # side of the held-out scenes given to the predictor
REPORT_FILE = "index.html"
METRICS_FILE = "metrics.json"


class DemoError(ExperimentError):
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
        if isinstance(self.minutes, float) and not math.isfinite(self.minutes):
            raise DemoError(
                f"--minutes must be a finite number. Received: --minutes={self.minutes}"
            )
        check_positive(self.minutes, "--minutes", DemoError)
        for name in ("train_samples", "heldout_samples", "predict_images"):
            check_int(getattr(self, name), "--" + name.replace("_", "-"), 1, DemoError)
        if self.warmup_steps is not None:
            check_int(self.warmup_steps, "warmup_steps", 1, DemoError)
        check_int(self.seed, "--seed", 0, DemoError)
        synth_options(self.synth)  # fail early on a bad option


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
    from export.inference import Predictor, save_result
    from hiu_tf.data.sources.synthetic import SynthConfig, SyntheticGenerator
    from hiu_tf.image import resize, to_uint8

    generator = SyntheticGenerator(
        SynthConfig(image_size=size, chunk_size=min(count, 32), **(synth or {})),
        hand_model,
        backgrounds,
    )
    images = [to_uint8(s["image"]) for _, s in generator(seed, count)]
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
    crops = np.stack([resize(im, s, s) for im in images])  # square scenes: the whole image
    lite = predictor.run_crops(crops)
    keras_out = Predictor.from_keras(model).run_crops(crops)
    parity = {}
    for key in ("keypoints_px", "keypoints_px_mesh", "mask"):
        if key in lite and key in keras_out:
            parity[f"max_abs_diff_{key}"] = float(np.max(np.abs(lite[key] - keras_out[key])))
    return {"images": overlays, "parity": parity, "seconds_per_image": per_image, "size": size}


def _load_average() -> str:
    try:
        return ", ".join(f"{v:.2f}" for v in os.getloadavg())
    except OSError:
        return "n/a"


# --------------------------------------------------------------------------- stages


@dataclasses.dataclass
class _Demo:
    """The state that the stages of one demo run pass on."""

    options: DemoOptions
    echo: Callable[[str], None]
    clock: Callable[[], float]
    config: Any
    synth: dict[str, Any]
    timing: dict[str, float] = dataclasses.field(default_factory=dict)
    data: dict[str, str] = dataclasses.field(default_factory=dict)
    trained: dict[str, Any] = dataclasses.field(default_factory=dict)
    evals: dict[str, Any] = dataclasses.field(default_factory=dict)
    summary: dict[str, Any] = dataclasses.field(default_factory=dict)
    checked: list = dataclasses.field(default_factory=list)
    export: dict[str, Any] = dataclasses.field(default_factory=dict)
    predictions: dict[str, Any] = dataclasses.field(default_factory=dict)
    files: dict[str, Any] = dataclasses.field(default_factory=dict)
    history: list = dataclasses.field(default_factory=list)

    @property
    def out(self) -> str:
        return self.options.out

    def folder(self, *names: str) -> str:
        return os.path.join(self.options.out, *names)


STAGES = 6


def _data(d: _Demo) -> None:
    from training.kit.datasets import make_datasets

    size = d.config.model.input_size
    d.echo(f"[1/{STAGES}] data: synthetic hands of {d.config.model.hand_model} at {size} px")
    d.data = make_datasets(
        d.folder("data"),
        size=size,
        seed=d.options.seed,
        train_samples=d.options.train_samples,
        heldout_samples=d.options.heldout_samples,
        hand_model=d.config.model.hand_model,
        synth=d.synth,
        echo=d.echo,
    )


def _train(d: _Demo) -> None:
    from hiu_tf.config import save_config
    from training.kit.budget import train_on_budget

    o = d.options
    config = demo_config(o, d.data["train"])
    d.echo(
        f"[2/{STAGES}] training {config.name}: {config.model.num_stacks} stacks of width "
        f"{config.model.width}, batch {config.data.batch_size}, for {o.minutes:g} min"
    )
    d.trained = train_on_budget(
        config,
        d.folder("run"),
        o.minutes * 60.0,
        untrained_dir=d.folder("untrained"),
        warmup_steps=o.warmup_steps,
        run_eagerly=o.run_eagerly,
        verbose=o.verbose,
        echo=d.echo,
        clock=d.clock,
    )
    d.config = d.trained["config"]
    save_config(d.config, d.folder("config.yaml"))
    d.echo(f"  trained {d.trained['steps']} steps in {d.trained['seconds']:.0f} s")


def _evaluate(d: _Demo) -> None:
    from training.evaluate import evaluate_run
    from training.kit.learning import (
        DEMO_TARGETS,
        PCK_2D_MAX_PX,
        check_targets,
        summarize,
        summary_lines,
        target_lines,
    )

    d.echo(f"[3/{STAGES}] evaluation on {d.options.heldout_samples} held-out samples")
    for tag in ("trained", "untrained"):
        d.echo(f"  {tag} model")
        d.evals[tag] = evaluate_run(
            d.folder("run" if tag == "trained" else "untrained"),
            d.data["heldout"],
            out_dir=d.folder("eval", tag),
            batch_size=32,
            pck_2d_max_px=PCK_2D_MAX_PX,
            verbose=d.options.verbose,
        ).metrics
    d.summary = {tag: summarize(m) for tag, m in d.evals.items()}
    for line in summary_lines(d.summary["trained"], d.summary["untrained"]):
        d.echo(line)
    size = d.config.model.input_size
    d.checked = check_targets(d.summary["trained"], d.summary["untrained"], DEMO_TARGETS, size)
    d.echo(f"  demo targets: {sum(r.met for r in d.checked)} of {len(d.checked)} met")
    for line in target_lines(d.checked):
        d.echo(line)


def _export(d: _Demo) -> None:
    from export.tflite import export_tflite

    path = d.folder("model.tflite")
    d.echo(f"[4/{STAGES}] export: TFLite ({d.options.quant}) -> {path}")
    d.export = export_tflite(d.config, d.trained["result"].model, path, d.options.quant)
    d.echo(f"  {d.export['bytes'] / 2**20:.2f} MB, outputs: {', '.join(d.export['outputs'])}")


def _predict(d: _Demo) -> None:
    count = d.options.predict_images
    d.echo(f"[5/{STAGES}] prediction: TFLite predictor on {count} held-out images")
    d.predictions = predict_heldout(
        d.folder("model.tflite"),
        d.trained["result"].model,
        d.folder("predictions"),
        count=count,
        seed=d.options.seed + HELDOUT_SEED_OFFSET,
        backgrounds=d.data["backgrounds"],
        hand_model=d.config.model.hand_model,
        synth=d.synth,
    )
    parity = ", ".join(f"{k} {v:.3g}" for k, v in d.predictions["parity"].items())
    d.echo(
        f"  {len(d.predictions['images'])} overlays, "
        f"{d.predictions['seconds_per_image']:.2f} s per image; TFLite vs Keras: {parity}"
    )


def _pictures(d: _Demo) -> None:
    from training.kit import figures
    from training.train import history_rows

    d.echo(f"[6/{STAGES}] report")
    for path in figures.before_after_curves(d.evals["trained"], d.evals["untrained"], d.out):
        d.files[os.path.splitext(os.path.basename(path))[0]] = os.path.basename(path)
    d.history = history_rows(d.folder("run", "history.csv"))
    if d.history:
        figures.training_curve(d.history, d.folder("training_curve.png"))
        d.files["training_curve"] = "training_curve.png"
    for tag, run in (("trained", "run"), ("untrained", "untrained")):
        figures.prediction_panels(d.folder(run), d.data["heldout"], d.folder(f"panels_{tag}.png"))
        d.files[f"panels_{tag}"] = f"panels_{tag}.png"
    for tag in ("train", "heldout"):
        figures.data_strip(d.data[tag], d.folder(f"data_{tag}.png"))
        d.files[f"data_{tag}"] = f"data_{tag}.png"
    if d.options.hand_pictures:
        figures.hand_model_sheet(d.folder("hand_model.png"))
        d.files["hand_model"] = "hand_model.png"
    d.files["predictions"] = [os.path.relpath(p, d.out) for p in d.predictions["images"]]


def _metrics(d: _Demo, load_start: str) -> dict[str, Any]:
    """The dict of `metrics.json`."""
    from hiu_tf.config import config_to_dict

    o, t = d.options, d.trained
    return {
        "summary": d.summary,
        "targets": [
            {
                "key": r.target.key,
                "label": r.target.label,
                "value": r.value,
                "limit": r.limit,
                "met": r.met,
            }
            for r in d.checked
        ],
        "trained": d.evals["trained"],
        "untrained": d.evals["untrained"],
        "training": {
            "steps": t["steps"],
            "planned_steps": t["planned_steps"],
            "epochs": t["epochs"],
            "step_time_s": t["step_time_s"],
            "seconds": t["seconds"],
            "budget_seconds": o.minutes * 60.0,
            "stopped_by_budget": t["stopped_by_budget"],
            "final_loss": (d.history[-1].get("loss") if d.history else None),
        },
        "train_set": {
            "folder": d.data["train"],
            "num_samples": o.train_samples,
            "seed": o.seed,
            "generator": d.synth,
        },
        "heldout": {
            "folder": d.data["heldout"],
            "num_samples": o.heldout_samples,
            "seed": o.seed + HELDOUT_SEED_OFFSET,
            "backgrounds": "Voronoi mosaics and bokeh discs (training: the generator's own)",
        },
        "tflite": {
            "file": "model.tflite",
            "quantization": d.export["quantization"],
            "bytes": d.export["bytes"],
            "parity": d.predictions["parity"],
            "seconds_per_image": d.predictions["seconds_per_image"],
            "scene_size": d.predictions["size"],
        },
        "timing": d.timing,
        "machine": {
            "cpus": os.cpu_count(),
            "load_start": load_start,
            "load_end": _load_average(),
        },
        "config": config_to_dict(d.config),
    }


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
    from training.kit.report import render_html

    clock = time.monotonic
    start = clock()
    try:
        os.makedirs(options.out, exist_ok=True)
    except OSError as e:
        raise DemoError(f"cannot create the report folder {options.out}: {e}") from e
    load_start = _load_average()
    d = _Demo(
        options=options,
        echo=echo,
        clock=clock,
        config=demo_config(options),  # fail on a bad config before any work
        synth=synth_options(options.synth),
    )
    for name, stage in (
        ("data", _data),
        ("training", _train),
        ("evaluation", _evaluate),
        ("export", _export),
        ("prediction", _predict),
        ("report", _pictures),
    ):
        mark = clock()
        stage(d)
        d.timing[name] = clock() - mark
    d.timing["total"] = clock() - start
    metrics = _metrics(d, load_start)
    with open(d.folder(METRICS_FILE), "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
    report = d.folder(REPORT_FILE)
    with open(report, "w", encoding="utf-8") as f:
        f.write(render_html(metrics, d.files))
    listed = [METRICS_FILE, REPORT_FILE, "config.yaml", "model.tflite"]
    for value in d.files.values():
        listed.extend(value if isinstance(value, list) else [value])
    echo(f"  total {d.timing['total']:.0f} s; load average {metrics['machine']['load_end']}")
    return DemoResult(report=report, metrics=metrics, files=listed)


__all__ = ["DEMO_CONFIG", "DemoError", "DemoOptions", "DemoResult", "run_demo"]
