"""The paper's ablations (§4.4) at small scale on synthetic data, with fixed step budgets and seeds.

    python -m hiu_tf ablate --study tam --budget-minutes 2 --seeds 2 --out runs/ablate-tam

Studies (`variants(study)`; the display names follow the paper, `§` = no TAM,
`‡` = self-supervised training on the unlabelled rest):

* `stacks` (Table 2): 4, 2 and 1 stacks with matched FLOPs: the width of an
  N-stack model is `ablation_width(N)`, the rule of `hiu_tf.presets.paper_width`
  (`C_N = C_4 * sqrt(4 / N)`) at a small base width, so `N * C^2` stays about
  constant (measured FLOPs are in the table).
* `tam` (Table 5): 4 and 1 stacks, with the TAM and with the paper's baseline,
  concatenation + 3x3 conv (`model.use_tam=false`), at the widths of `stacks`.
* `tasks` (Table 4): the seven non-empty subsets of the backbone's tasks
  (heat-map, mask, POF: `model.tasks`). The mesh head stays on in every
  variant (the paper's third task is the mesh, whose supervision never
  changes here), so every row has the projected-mesh and 3D columns.
* `mobile` (not in the paper): the phone-class trunk (`hiu_tf.presets.mobile`'s
  inverted residual blocks, ReLU6, separable 3x3 stem, 2 stacks) with the
  blocks' expansion 2 or 1, and with or without the task decoders' residual
  block at full resolution (`model.decoder_full_res`), plus one stack: what each
  cut of the int8 latency (`benchmarks/bench_infer.py`) costs in accuracy.
* `ssl` (Fig. 10): 0, 10, 30 and 100 % of the training samples labelled. Without
  SSL: training on the labelled subset only, self-supervised weights 0 (with
  0 % there is nothing to train on: the initial model is evaluated). With SSL
  (‡): the labelled subset plus the rest as unlabelled samples (the same
  records with every label flag off and the labels zeroed, image bytes
  unchanged), mixed in proportion, with the self-supervised terms on. The
  renderer is on in this study (the mask consistency term needs it).

Every variant trains from the same base config (`training/configs/ablate.yaml`,
then the study's and the variant's overrides) for the same number of steps with
the same seeds, on the same synthetic training set, and is evaluated on the
same held-out set (another seed and another background family: see
`training.demo.make_datasets`), both made with the demo's generator options
(`training.demo.DEMO_SYNTH`: larger, less curled, unoccluded hands, on which
keypoints are learnt in minutes). Fixed steps make results independent of the
machine's load; `budget_minutes` is converted into steps once, from the step
time of the study's first variant measured by a short calibration run, and
recorded in `results.json`, so a repeated command uses the same steps.

Columns (`COLUMNS`): 2D Pose = AUC of the 2D PCK (0-19 px of the 64 px crop) of
the keypoints read off the heat-maps (`ModelConfig.heatmap_decoder`,
"dark" by default); 2D Pose† = the same for the projected mesh joints;
Hand Mask = mean IoU of the backbone's mask; 3D Pose = 3D PCK AUC 20-50 mm
(hand3d protocol) of the mesh joints. The paper's "Hand Mask†" and "Hand Mesh"
need the rendered mask's IoU and ground-truth vertices, which the evaluation
does not compute. Cells are the mean ± the sample standard deviation over seeds.

Output folder (`out`):

    results.json   every finished (variant, seed) run and the aggregated table
    results.md     the table in the paper's layout (Markdown)
    data/          the training and held-out sets (and the SSL splits)
    runs/<variant>-s<seed>/   one run folder each (with eval/)

Resuming: a (variant, seed) whose result is in `results.json` is skipped; an
interrupted run resumes from its last finished epoch (`training.train`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from hiu_tf import presets
from hiu_tf.errors import UserError

logger = logging.getLogger(__name__)

STUDIES = ("stacks", "tam", "tasks", "mobile", "ssl")
ABLATE_CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "ablate.yaml")
RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
BASE_WIDTH = 16  # width of the 4-stack model; the others follow ablation_width
SSL_FRACTIONS = (0.0, 0.1, 0.3, 1.0)
CALIBRATION_STEPS = 8
EPOCHS_PER_RUN = 4  # a run is split into epochs so an interrupted one resumes
DEFAULT_BUDGET_MINUTES = 3.0
DEFAULT_SEEDS = 2
DEFAULT_TRAIN_SAMPLES = 2048
DEFAULT_HELDOUT_SAMPLES = 256
_TASK_NAMES = {"heatmap": "Heat-map", "mask": "Mask", "pof": "POF"}
# Study-wide overrides (over training/configs/ablate.yaml).
STUDY_OVERRIDES = {
    "stacks": (),
    "tam": (),
    "tasks": (),
    # The `mobile` preset's kind of trunk, read off the preset so that the study follows
    # it; every variant sets num_stacks, expansion and decoder_full_res.
    "mobile": tuple(
        f"model.{field}={json.dumps(getattr(presets.mobile().model, field))}"
        for field in ("block_type", "activation", "separable_stem", "stem_kernel")
    ),
    "ssl": ("model.render_mask=true",),
}
FLOPS_STUDIES = ("stacks", "tam", "mobile")  # studies whose table has a FLOPs column
# mobile: (slug, name, stacks, expansion, decoders' full-resolution block)
_MOBILE = (
    ("2-stack-x2", "2-stack ×2", 2, 2, True),
    ("2-stack-x2-nofull", "2-stack ×2 ◇", 2, 2, False),
    ("2-stack-x1", "2-stack ×1", 2, 1, True),
    ("2-stack-x1-nofull", "2-stack ×1 ◇", 2, 1, False),
    ("1-stack-x2", "1-stack ×2", 1, 2, True),
    ("1-stack-x2-nofull", "1-stack ×2 ◇", 1, 2, False),
    ("1-stack-x1", "1-stack ×1", 1, 1, True),
)
# (column, summary key of training.learning.summarize, heading)
COLUMNS = (
    ("2d", "auc_2d_heatmap", "2D Pose"),
    ("2d_mesh", "auc_2d_mesh", "2D Pose †"),
    ("mask", "mask_mean_iou", "Hand Mask"),
    ("3d", "auc_3d_20_50", "3D Pose"),
)


class AblationError(UserError, ValueError):
    """Bad ablation options, or results of other options in the output folder."""


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of an ablation.

    Attributes:
        slug: file-system and command-line name, e.g. "4-stack-notam".
        name: display name in the paper's style, e.g. "4-stack §".
        overrides: config overrides (`--set` syntax) over the study's base.
        label_fraction: ssl: fraction of the training samples that keep labels.
        unlabelled: ssl: also train on the rest, unlabelled.
    """

    slug: str
    name: str
    overrides: tuple[str, ...] = ()
    label_fraction: float | None = None
    unlabelled: bool = False


def ablation_width(num_stacks: int, base_width: int = BASE_WIDTH) -> int:
    """Width per stack keeping `N * C^2` at the 4-stack model's: `C_4 * sqrt(4 / N)`, even.

    With the default base 16: 32, 22, 16, 12 for N = 1, 2, 4, 8 (N * C^2 = 1024,
    968, 1024, 1152).
    """
    return int(2 * round(base_width * math.sqrt(4 / num_stacks) / 2))


def _stack(n: int, tam: bool = True) -> Variant:
    suffix = "" if tam else "-notam"
    return Variant(
        slug=f"{n}-stack{suffix}",
        name=f"{n}-stack" + ("" if tam else " §"),
        overrides=(
            f"model.num_stacks={n}",
            f"model.width={ablation_width(n)}",
            f"model.use_tam={'true' if tam else 'false'}",
        ),
    )


def variants(study: str) -> list[Variant]:
    """The rows of a study, in the paper's order.

    Raises:
        AblationError: an unknown study.
    """
    if study == "stacks":
        return [_stack(4), _stack(2), _stack(1)]
    if study == "tam":
        return [_stack(4), _stack(4, False), _stack(1), _stack(1, False)]
    if study == "tasks":
        combos = (
            ("heatmap",),
            ("mask",),
            ("pof",),
            ("heatmap", "mask"),
            ("mask", "pof"),
            ("heatmap", "pof"),
            ("heatmap", "mask", "pof"),
        )
        return [
            Variant(
                slug="+".join(c),
                name=" + ".join(_TASK_NAMES[t] for t in c),
                overrides=(f"model.tasks=[{', '.join(c)}]",),
            )
            for c in combos
        ]
    if study == "mobile":
        return [
            Variant(
                slug=slug,
                name=name,
                overrides=(
                    f"model.num_stacks={stacks}",
                    f"model.expansion={expansion}",
                    f"model.decoder_full_res={'true' if full else 'false'}",
                ),
            )
            for slug, name, stacks, expansion, full in _MOBILE
        ]
    if study == "ssl":
        out = []
        for fraction in SSL_FRACTIONS:
            pct = int(round(100 * fraction))
            out.append(
                Variant(
                    slug=f"labelled{pct}",
                    name=f"{pct} % labelled",
                    overrides=("loss.ssl_mask=0", "loss.ssl_2d=0"),
                    label_fraction=fraction,
                )
            )
            out.append(
                Variant(
                    slug=f"labelled{pct}-ssl",
                    name=f"{pct} % labelled ‡",
                    label_fraction=fraction,
                    unlabelled=True,
                )
            )
        return out
    raise AblationError(f"--study must be one of {STUDIES}. Received: --study={study!r}")


# --------------------------------------------------------------------------- data


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


# --------------------------------------------------------------------------- configs


def base_config(study: str, config_path: str = ABLATE_CONFIG, overrides: Sequence[str] = ()):
    """`config_path` over the defaults, then the study's overrides, then `overrides`."""
    from hiu_tf.config import apply_overrides, load_config

    if not os.path.isfile(config_path):
        raise AblationError(f"config file not found: {config_path!r}")
    config = load_config(config_path)
    return apply_overrides(config, [*STUDY_OVERRIDES[study], *overrides])


def variant_config(base, variant: Variant, seed: int, sources: Sequence[tuple[str, float]]):
    """The config of one (variant, seed) run: overrides, seed and the data sources."""
    from hiu_tf.config import SourceConfig, apply_overrides

    config = apply_overrides(base, [*variant.overrides, f"train.seed={seed}"])
    data = dataclasses.replace(
        config.data,
        sources=tuple(
            SourceConfig(
                name="unlabelled" if os.path.basename(path) == "unlabelled" else "synthetic",
                path=os.path.abspath(path),
                weight=float(weight),
            )
            for path, weight in sources
        ),
    )
    return dataclasses.replace(config, name=f"ablate-{variant.slug}", data=data)


# --------------------------------------------------------------------------- results


def aggregate(values: Sequence[float | None]) -> dict[str, Any]:
    """`{"mean", "std", "n"}` of the non-None values (std: sample std, 0 for one value)."""
    kept = [float(v) for v in values if v is not None]
    if not kept:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(kept) if len(kept) > 1 else 0.0
    return {"mean": statistics.fmean(kept), "std": std, "n": len(kept)}


def _cell(stat: Mapping[str, Any] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    if stat["n"] > 1:
        return f"{stat['mean']:.3f} ± {stat['std']:.3f}"
    return f"{stat['mean']:.3f}"


def build_table(
    study: str, variant_list: Sequence[Variant], runs: Mapping[str, Any], seeds: Sequence[int]
) -> dict[str, dict[str, Any]]:
    """Per variant and column, the `aggregate` over the seeds' finished runs."""
    table = {}
    for v in variant_list:
        row: dict[str, Any] = {}
        results = [runs.get(run_key(v, s)) for s in seeds]
        results = [r for r in results if r is not None]
        for column, key, _ in COLUMNS:
            row[column] = aggregate([r["metrics"].get(key) for r in results])
        row["seeds"] = len(results)
        flops = [r.get("flops") for r in results if r.get("flops")]
        row["flops"] = flops[0] if flops else None
        table[v.slug] = row
    return table


def _flops_text(flops: float | None) -> str:
    """FLOPs of one forward pass (multiply-add = 2), e.g. "20.6 M", "11.7 G"."""
    if flops is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if flops >= scale:
            return f"{flops / scale:.1f} {unit}"
    return f"{flops:.0f}"


def format_table(
    study: str, variant_list: Sequence[Variant], table: Mapping[str, Any], markdown: bool = False
) -> str:
    """The table in the paper's layout, as aligned text or Markdown."""
    headings = [h for _, _, h in COLUMNS]
    if study == "tasks":
        lead = ["Heat-map", "Mask", "POF"]
    elif study == "ssl":
        lead = ["Labelled", "SSL"]
    else:
        lead = ["Model"]
    extra = ["FLOPs"] if study in FLOPS_STUDIES else []
    rows = []
    for v in variant_list:
        row = table.get(v.slug, {})
        if study == "tasks":
            tasks = next(o for o in v.overrides if o.startswith("model.tasks="))
            first = ["✓" if t in tasks else "✗" for t in ("heatmap", "mask", "pof")]
        elif study == "ssl":
            first = [f"{int(round(100 * (v.label_fraction or 0)))} %", "✓" if v.unlabelled else "✗"]
        else:
            first = [v.name]
        cells = [_cell(row.get(c)) for c, _, _ in COLUMNS]
        if extra:
            cells.append(_flops_text(row.get("flops")))
        rows.append(first + cells + [str(row.get("seeds", 0))])
    header = lead + headings + extra + ["seeds"]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(header), *(fmt(r) for r in rows)])


def run_key(variant: Variant, seed: int) -> str:
    """The key of one run in `results.json`: "<slug>/seed<seed>"."""
    return f"{variant.slug}/seed{seed}"


_TITLES = {
    "stacks": "Ablation of the cascade (paper Table 2): stacks with similar FLOPs",
    "tam": "Ablation of the TAM (paper Table 5); § = concatenation + 3x3 conv",
    "tasks": "Ablation of the MTL setup (paper Table 4): backbone task combinations",
    "mobile": "Phone-class trunk: inverted blocks of expansion ×2 or ×1; ◇ = no residual "
    "block at the task decoders' full resolution",
    "ssl": "Ablation of SSL (paper Fig. 10); SSL ✓ = the unlabelled rest with the "
    "self-supervised terms",
}


def _write_json(path: str, data: Mapping[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def write_results(out: str, results: Mapping[str, Any], variant_list: Sequence[Variant]) -> str:
    """Writes `results.json` and `results.md`; returns the text table."""
    study = results["study"]
    seeds = results["seeds"]
    table = build_table(study, variant_list, results["runs"], seeds)
    results = {**results, "table": table}
    _write_json(os.path.join(out, RESULTS_JSON), results)
    md = [
        f"# {_TITLES[study]}",
        "",
        f"{results['steps']} training steps per run, batch {results['batch_size']}, "
        f"seeds {', '.join(map(str, seeds))}; {results['train_samples']} synthetic training "
        f"samples; evaluated on {results['heldout_samples']} held-out samples (other seed, other "
        "backgrounds). Cells: mean ± sample standard deviation over seeds.",
        "",
        format_table(study, variant_list, table, markdown=True),
        "",
        "2D Pose: AUC of the 2D PCK (0-19 px of the 64 px crop) of the heat-maps; "
        "2D Pose †: the same for the projected mesh joints; Hand Mask: mean IoU of the "
        "backbone's mask; 3D Pose: 3D PCK AUC 20-50 mm of the mesh joints (hand3d protocol).",
        "",
    ]
    with open(os.path.join(out, RESULTS_MD), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    return format_table(study, variant_list, table)


# --------------------------------------------------------------------------- running


def calibrate_steps(
    config, folder: str, budget_seconds: float, *, run_eagerly: bool = False
) -> tuple[int, float]:
    """Steps that fit in `budget_seconds`, from a short run of `config`: `(steps, step_time)`."""
    from training.callbacks import StepTimer
    from training.train import train

    timer = StepTimer()
    shutil.rmtree(folder, ignore_errors=True)
    train(
        config,
        folder,
        resume=False,
        epochs=1,
        steps_per_epoch=CALIBRATION_STEPS,
        callbacks=[timer],
        run_eagerly=run_eagerly,
        images=0,
        verbose=0,
    )
    shutil.rmtree(folder, ignore_errors=True)
    step_time = timer.step_time() or timer.durations[-1]
    return max(int(budget_seconds / step_time), 1), step_time


def _epochs(steps: int) -> tuple[int, int]:
    """`(epochs, steps_per_epoch)` with `epochs * steps_per_epoch == steps`, up to EPOCHS_PER_RUN."""
    for epochs in range(min(EPOCHS_PER_RUN, steps), 0, -1):
        if steps % epochs == 0:
            return epochs, steps // epochs
    return 1, steps


def _flops(config) -> int | None:
    from hiu_tf.model import build_model
    from hiu_tf.model_stats import count_flops

    size = config.model.input_size
    model_config = dataclasses.replace(config.model, render_mask=False)
    return int(count_flops(build_model(model_config, 1), (1, size, size, 3)))


def run_ablation(
    study: str,
    out: str,
    *,
    seeds: int = DEFAULT_SEEDS,
    steps: int | None = None,
    budget_minutes: float = DEFAULT_BUDGET_MINUTES,
    only: Sequence[str] = (),
    config_path: str = ABLATE_CONFIG,
    overrides: Sequence[str] = (),
    train_samples: int = DEFAULT_TRAIN_SAMPLES,
    heldout_samples: int = DEFAULT_HELDOUT_SAMPLES,
    hand_model: str | None = None,
    run_eagerly: bool = False,
    verbose: int = 1,
    echo: Callable[[str], None] = logger.info,
) -> dict[str, Any]:
    """Runs (or resumes) one study; writes `results.json` / `results.md` into `out`.

    Args:
        study: one of `STUDIES`.
        out: the output folder.
        seeds: seeds 0 .. seeds - 1.
        steps: training steps per run; None = from `budget_minutes` (or those
            recorded in `out/results.json`).
        budget_minutes: training minutes per run, converted to steps once.
        only: variant slugs to run (default: all of the study).
        config_path: the base YAML.
        overrides: `--set` overrides over the base.
        train_samples: synthetic training samples.
        heldout_samples: synthetic held-out samples.
        hand_model: overrides `model.hand_model` (tests).
        run_eagerly: train eagerly (tests).
        verbose: `fit` and evaluation progress bars (1) or none (0).
        echo: progress messages.

    Returns:
        The results dict (as in `results.json`) with `text`, the printed table.

    Raises:
        AblationError: bad options, or `out` holds results of other options.
    """
    from hiu_tf.model import build_model
    from hiu_tf.runs import save_run_model
    from training.demo import DEMO_SYNTH, make_datasets, synth_options
    from training.evaluate import evaluate_run
    from training.learning import PCK_2D_MAX_PX, summarize
    from training.train import train

    all_variants = variants(study)
    slugs = [v.slug for v in all_variants]
    for slug in only:
        if slug not in slugs:
            raise AblationError(
                f"--only must name variants of the {study} study ({', '.join(slugs)}). "
                f"Received: {slug!r}"
            )
    chosen = [v for v in all_variants if not only or v.slug in only]
    if isinstance(seeds, bool) or not isinstance(seeds, int) or seeds < 1:
        raise AblationError(f"--seeds must be an integer >= 1. Received: --seeds={seeds!r}")
    if steps is not None and (isinstance(steps, bool) or steps < 1):
        raise AblationError(f"--steps must be >= 1. Received: --steps={steps!r}")
    if not budget_minutes > 0:
        raise AblationError(
            f"--budget-minutes must be > 0. Received: --budget-minutes={budget_minutes}"
        )
    extra = list(overrides) + ([f"model.hand_model={hand_model}"] if hand_model else [])
    base = base_config(study, config_path, extra)
    os.makedirs(out, exist_ok=True)
    results_path = os.path.join(out, RESULTS_JSON)
    previous: dict[str, Any] = {}
    if os.path.isfile(results_path):
        with open(results_path, encoding="utf-8") as f:
            previous = json.load(f)
        for key, value in (
            ("study", study),
            ("train_samples", train_samples),
            ("heldout_samples", heldout_samples),
        ):
            if previous.get(key) != value:
                raise AblationError(
                    f"{results_path} holds results for {key}={previous.get(key)!r}, not "
                    f"{value!r}: use another --out"
                )
        if steps is not None and previous.get("steps") not in (None, steps):
            raise AblationError(
                f"{results_path} holds runs of {previous['steps']} steps; pass --steps "
                f"{previous['steps']} to resume them, or use another --out. Received: --steps={steps}"
            )
    size = base.model.input_size
    echo(f"ablation {study}: {len(chosen)} variants x {seeds} seeds, output {out}")
    echo("data")
    data = make_datasets(
        os.path.join(out, "data"),
        size=size,
        seed=0,
        train_samples=train_samples,
        heldout_samples=heldout_samples,
        hand_model=base.model.hand_model,
        synth=synth_options(DEMO_SYNTH),
        echo=echo,
    )

    def sources_of(variant: Variant) -> list[tuple[str, float]]:
        if variant.label_fraction is None:
            return [(data["train"], 1.0)]
        pct = int(round(100 * variant.label_fraction))
        labelled, unlabelled, n = split_labelled(
            data["train"],
            os.path.join(out, "data", f"ssl-{pct}"),
            variant.label_fraction,
            train_samples,
        )
        found = []
        if labelled:
            found.append((labelled, float(n)))
        if variant.unlabelled and unlabelled:
            found.append((unlabelled, float(train_samples - n)))
        return found

    if steps is None:
        steps = previous.get("steps")
    calibration = previous.get("calibration")
    if steps is None:
        reference = next(v for v in chosen if sources_of(v))
        config = variant_config(base, reference, 0, sources_of(reference))
        echo(f"calibrating: {CALIBRATION_STEPS} steps of {reference.name}")
        steps, step_time = calibrate_steps(
            config,
            os.path.join(out, "calibration"),
            budget_minutes * 60.0,
            run_eagerly=run_eagerly,
        )
        calibration = {
            "variant": reference.slug,
            "step_time_s": step_time,
            "budget_minutes": budget_minutes,
        }
        echo(f"  {step_time:.2f} s per step: {steps} steps per run")
    results: dict[str, Any] = {
        "study": study,
        "steps": steps,
        "seeds": list(range(seeds)),
        "batch_size": base.data.batch_size,
        "train_samples": train_samples,
        "heldout_samples": heldout_samples,
        "calibration": calibration,
        "variants": {v.slug: v.name for v in all_variants},
        "runs": dict(previous.get("runs", {})),
    }
    write_results(out, results, all_variants)
    epochs, per_epoch = _epochs(steps)
    todo = [(v, s) for v in chosen for s in range(seeds)]
    for index, (variant, seed) in enumerate(todo, start=1):
        key = run_key(variant, seed)
        if key in results["runs"]:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: done earlier, skipped")
            continue
        sources = sources_of(variant)
        config = variant_config(base, variant, seed, sources or [(data["train"], 1.0)])
        if config.train.warmup_steps > steps // 4:
            config = dataclasses.replace(
                config,
                train=dataclasses.replace(config.train, warmup_steps=max(steps // 4, 1)),
            )
        run_dir = os.path.join(out, "runs", f"{variant.slug}-s{seed}")
        start = time.monotonic()
        if sources:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: {steps} steps")
            train(
                config,
                run_dir,
                epochs=epochs,
                steps_per_epoch=per_epoch,
                run_eagerly=run_eagerly,
                images=0,
                verbose=verbose,
            )
            trained_steps = steps
        else:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: no labelled data, untrained")
            import keras

            keras.utils.set_random_seed(seed)
            save_run_model(run_dir, config, build_model(config.model))
            trained_steps = 0
        seconds = time.monotonic() - start
        metrics = evaluate_run(
            run_dir,
            data["heldout"],
            out_dir=os.path.join(run_dir, "eval"),
            pck_2d_max_px=PCK_2D_MAX_PX,
            verbose=verbose,
        ).metrics
        entry = {
            "variant": variant.slug,
            "seed": seed,
            "steps": trained_steps,
            "train_seconds": seconds,
            "metrics": summarize(metrics),
        }
        if study in FLOPS_STUDIES:
            flops = next(
                (
                    r.get("flops")
                    for k, r in results["runs"].items()
                    if k.startswith(variant.slug + "/") and r.get("flops")
                ),
                None,
            )
            entry["flops"] = flops or _flops(config)
        results["runs"][key] = entry
        text = write_results(out, results, all_variants)
        m = entry["metrics"]
        echo("  " + ", ".join(f"{h} {_cell(aggregate([m.get(k)]))}" for _, k, h in COLUMNS))
    text = write_results(out, results, all_variants)
    echo(_TITLES[study])
    return {**results, "text": text}


__all__ = [
    "COLUMNS",
    "STUDIES",
    "AblationError",
    "Variant",
    "ablation_width",
    "aggregate",
    "build_table",
    "format_table",
    "run_ablation",
    "split_labelled",
    "strip_labels",
    "variants",
]
