"""What a held-out evaluation says about learning: headline numbers, their table, targets.

`summarize` reduces an `training.evaluate.evaluate_model` metrics dict to the
numbers that tell whether a network learns hands: the heat-maps' and the
projected mesh's 2D errors, the mask, the 3D joints, and the mesh's health
(is the regressed hand turned the right way, at the right depth?). The demo's
report, the ablations and `benchmarks/bench_learning.py` all print these.

`DEMO_TARGETS` and `LONG_TARGETS` are the goals that a trained model must reach
on held-out synthetic crops (`docs/learning.md`): the first for the demo's
minutes of CPU training, the second for the learning benchmark's longer
budget. `check_targets` says which are met.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

PCK_2D_MAX_PX = 19.0  # 2D PCK thresholds 0, 1, ..., 19 px of the model input
REPORT_PCK_PX = (4.0, 8.0)  # thresholds shown in the tables


def summarize(metrics: Mapping[str, Any]) -> dict[str, float | None]:
    """The headline numbers of an evaluation metrics dict (None where absent).

    Keys: `pck_2d_heatmap@{k}px` (k in `REPORT_PCK_PX`), `auc_2d_heatmap`,
    `epe_2d_heatmap_px` (mean), `median_2d_heatmap_px`; the same for `mesh`
    (the projected mesh joints); `mask_mean_iou`, `mask_iou_pck_auc`,
    `auc_3d_20_50`, `mpjpe_mm` (root-relative), `pa_mpjpe_mm`;
    `rotation_error_deg` (median geodesic error of the global orientation) and
    `depth_ratio` (median predicted / true depth in focal-length units).
    """
    out: dict[str, float | None] = {}
    for name in ("heatmap", "mesh"):
        section = metrics.get("keypoints_2d", {}).get(name)
        for k in REPORT_PCK_PX:
            value = None
            if section:
                value = float(np.interp(k, section["thresholds_px"], section["pck"]))
            out[f"pck_2d_{name}@{k:g}px"] = value
        out[f"auc_2d_{name}"] = section["auc"] if section else None
        out[f"epe_2d_{name}_px"] = section["epe_mean_px"] if section else None
        out[f"median_2d_{name}_px"] = section["epe_median_px"] if section else None
    mask = metrics.get("mask")
    out["mask_mean_iou"] = mask["mean_iou"] if mask else None
    out["mask_iou_pck_auc"] = mask["iou_pck_auc"] if mask else None
    k3 = metrics.get("keypoints_3d")
    out["auc_3d_20_50"] = k3["auc_20_50"] if k3 else None
    out["mpjpe_mm"] = k3["mpjpe_mm"] if k3 else None
    out["pa_mpjpe_mm"] = k3["pa_mpjpe_mm"] if k3 else None
    health = metrics.get("mesh_health", {})
    out["rotation_error_deg"] = health.get("rotation_error_median_deg")
    out["depth_ratio"] = health.get("depth_ratio_median")
    return out


# (key, label, higher is better, format); "higher" is None for the depth ratio (best at 1).
SUMMARY_ROWS = (
    *(
        (f"pck_2d_heatmap@{k:g}px", f"2D PCK@{k:g}px, heat-maps", True, "{:.3f}")
        for k in REPORT_PCK_PX
    ),
    ("auc_2d_heatmap", f"2D AUC 0-{PCK_2D_MAX_PX:g}px, heat-maps", True, "{:.3f}"),
    ("median_2d_heatmap_px", "2D median error, heat-maps (px)", False, "{:.2f}"),
    *(
        (f"pck_2d_mesh@{k:g}px", f"2D PCK@{k:g}px, projected mesh", True, "{:.3f}")
        for k in REPORT_PCK_PX
    ),
    ("auc_2d_mesh", f"2D AUC 0-{PCK_2D_MAX_PX:g}px, projected mesh", True, "{:.3f}"),
    ("median_2d_mesh_px", "2D median error, projected mesh (px)", False, "{:.2f}"),
    ("mask_mean_iou", "mask mean IoU", True, "{:.3f}"),
    ("mask_iou_pck_auc", "mask IoU-PCK AUC", True, "{:.3f}"),
    ("auc_3d_20_50", "3D PCK AUC 20-50 mm (hand3d)", True, "{:.3f}"),
    ("mpjpe_mm", "3D MPJPE, root-relative (mm)", False, "{:.1f}"),
    ("pa_mpjpe_mm", "3D PA-MPJPE (mm)", False, "{:.1f}"),
    ("rotation_error_deg", "mesh health: rotation error, median (deg)", False, "{:.1f}"),
    ("depth_ratio", "mesh health: depth ratio, median (1 = right)", None, "{:.2f}"),
)


def fmt(value: float | None, spec: str) -> str:
    """`spec.format(value)`, or "n/a" for None."""
    return "n/a" if value is None else spec.format(value)


def improved(before: float | None, after: float | None, higher: bool | None) -> bool | None:
    """Whether `after` is better than `before` (None when either is missing or equal).

    `higher` None means best at 1 (the depth ratio): closer to 1 on a log scale is better.
    """
    if before is None or after is None or before == after:
        return None
    if higher is None:
        return bool(abs(np.log(max(after, 1e-9))) < abs(np.log(max(before, 1e-9))))
    return bool((after > before) == higher)


def summary_lines(trained: Mapping[str, Any], untrained: Mapping[str, Any]) -> list[str]:
    """The before/after table as text lines."""
    lines = [f"  {'metric':<44} {'untrained':>10} {'trained':>10}"]
    for key, label, _, spec in SUMMARY_ROWS:
        lines.append(
            f"  {label:<44} {fmt(untrained.get(key), spec):>10} {fmt(trained.get(key), spec):>10}"
        )
    return lines


# --------------------------------------------------------------------------- targets


@dataclasses.dataclass(frozen=True)
class Target:
    """One goal on a summary number.

    Attributes:
        key: the `summarize` key.
        label: what it says, for tables.
        bound: the limit.
        upper: True when the value must be <= bound, False when >= bound.
        relative_to_untrained: the value must also be at least this fraction below
            the untrained model's (e.g. 0.3 = 30 % lower), or None.
        scale_with_crop: `bound` is a fraction of the crop side (pixels = bound * S).
    """

    key: str
    label: str
    bound: float
    upper: bool = True
    relative_to_untrained: float | None = None
    scale_with_crop: bool = False

    def limit(self, crop_size: int) -> float:
        """The bound in the summary's units for crops of `crop_size` pixels."""
        return self.bound * crop_size if self.scale_with_crop else self.bound


# The demo: <= 10 minutes on 2 CPU cores, a tiny-class model at 64 px.
DEMO_TARGETS = (
    Target("median_2d_heatmap_px", "heat-map 2D median error <= 4 px", 4.0),
    Target("pck_2d_heatmap@8px", "heat-map 2D PCK@8px >= 0.75", 0.75, upper=False),
    Target("median_2d_mesh_px", "projected-mesh 2D median error <= 6 px", 6.0),
    Target(
        "pa_mpjpe_mm",
        "3D PA-MPJPE <= 12 mm and >= 30 % below the untrained model's",
        12.0,
        relative_to_untrained=0.3,
    ),
    Target("mpjpe_mm", "3D root-relative MPJPE <= 40 mm", 40.0),
    Target("rotation_error_deg", "global rotation median error <= 30 deg", 30.0),
    Target("mask_mean_iou", "mask mean IoU >= 0.85", 0.85, upper=False),
)
# The learning benchmark's longer budget (<= 1 hour on 2 CPU cores).
LONG_TARGETS = (
    Target(
        "median_2d_heatmap_px",
        "heat-map 2D median error <= 3 % of the crop side",
        0.03,
        scale_with_crop=True,
    ),
    Target("pa_mpjpe_mm", "3D PA-MPJPE <= 8 mm", 8.0),
    Target("rotation_error_deg", "global rotation median error <= 15 deg", 15.0),
)
TARGET_SETS = {"demo": DEMO_TARGETS, "long": LONG_TARGETS}


@dataclasses.dataclass(frozen=True)
class TargetResult:
    """A target checked on one summary: the value, the limit and the verdict."""

    target: Target
    value: float | None
    limit: float
    met: bool


def check_targets(
    trained: Mapping[str, Any],
    untrained: Mapping[str, Any] | None,
    targets: Sequence[Target],
    crop_size: int,
) -> list[TargetResult]:
    """Checks `targets` on a trained model's summary (a missing value is not met).

    Args:
        trained: `summarize` of the trained model.
        untrained: `summarize` of the untrained model (for relative targets).
        targets: the goals.
        crop_size: the model's input side in pixels.
    """
    results = []
    for target in targets:
        value = trained.get(target.key)
        limit = target.limit(crop_size)
        base = (untrained or {}).get(target.key)
        if target.relative_to_untrained is not None and base is not None:
            relative = base * (1.0 - target.relative_to_untrained)
            limit = min(limit, relative) if target.upper else max(limit, relative)
        if value is None or (target.relative_to_untrained is not None and base is None):
            met = False
        else:
            met = value <= limit if target.upper else value >= limit
        results.append(TargetResult(target, value, limit, bool(met)))
    return results


def target_lines(results: Sequence[TargetResult]) -> list[str]:
    """One text line per checked target: verdict, label, value and limit."""
    lines = []
    for r in results:
        sign = "<=" if r.target.upper else ">="
        value = "n/a" if r.value is None else f"{r.value:.3g}"
        verdict = "met   " if r.met else "MISSED"
        lines.append(f"  {verdict} {r.target.label}: {value} ({sign} {r.limit:.3g})")
    return lines


# --------------------------------------------------------------------------- learning curves

# (column heading, summary key, format, higher is better; None = best at 1): the table of
# `benchmarks/bench_learning.py` and the learning smoke test.
CURVE_COLUMNS = (
    ("hm med", "median_2d_heatmap_px", "{:.2f}", False),
    ("PCK@4", "pck_2d_heatmap@4px", "{:.3f}", True),
    ("PCK@8", "pck_2d_heatmap@8px", "{:.3f}", True),
    ("mesh med", "median_2d_mesh_px", "{:.2f}", False),
    ("PA-MPJPE", "pa_mpjpe_mm", "{:.1f}", False),
    ("MPJPE", "mpjpe_mm", "{:.1f}", False),
    ("IoU", "mask_mean_iou", "{:.3f}", True),
    ("rot", "rotation_error_deg", "{:.1f}", False),
    ("depth", "depth_ratio", "{:.2f}", None),
)
# A later row counts as a regression when it is worse than the best earlier row (the untrained
# one included) by more than this fraction (the depth ratio: by more than this on a log
# scale, i.e. ~10 %).
REGRESSION_TOLERANCE = 0.05
DEPTH_REGRESSION_TOLERANCE = 0.1


def learning_curve(
    config,
    heldout: str,
    steps: Sequence[int],
    run_dir: str,
    *,
    batch_size: int = 32,
    final_sets: Mapping[str, str] | None = None,
    on_epoch: Callable[[int, float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    run_eagerly: bool = False,
) -> list[dict[str, Any]]:
    """Trains `config` for `max(steps)` steps and evaluates a held-out set at each of `steps`.

    One `training.train.train` run (a fresh run folder, one schedule over all the
    steps, epochs of `gcd(steps)` steps); the held-out set is evaluated before the
    first step (the untrained row, step 0) and at the end of every epoch whose step
    count is in `steps`, with `training.evaluate.evaluate_model` (BatchNorm in
    inference mode).

    Args:
        config: the resolved `ExperimentConfig` (its training sources with paths).
        heldout: TFRecords of the held-out set.
        steps: step counts to evaluate at (increasing, >= 1).
        run_dir: the run folder (started afresh).
        batch_size: evaluation batch size.
        final_sets: other TFRecord sets, by name, evaluated once with the trained
            model at the last step (for example new crops of the training set's kind,
            to tell a background gap from underfitting).
        on_epoch: called with `(step, training loss)` at the end of every epoch.
        clock: a monotonic clock for the wall times.
        run_eagerly: train eagerly (tests).

    Returns:
        One dict per evaluation, in step order: `step`, `wall_s` (seconds since training
        began, evaluations included) and the `summarize` keys; the last one also has
        `sets`, the `summarize` dict of each of `final_sets` by name.
    """
    import keras

    from training.evaluate import eval_dataset, evaluate_model
    from training.train import train

    steps = sorted({int(s) for s in steps})
    if not steps or steps[0] < 1:
        raise ValueError(f"steps must be integers >= 1. Received: steps={steps}")
    unit = math.gcd(*steps)

    def load(data: str) -> list[dict]:
        dataset, _ = eval_dataset(data, config.model.input_size, batch_size)
        return [dict(b) for b in dataset.as_numpy_iterator()]

    def summary(model, batches) -> dict[str, float | None]:
        metrics, _ = evaluate_model(
            model, config, batches, batch_size=batch_size, pck_2d_max_px=PCK_2D_MAX_PX
        )
        return summarize(metrics)

    batches = load(heldout)
    others = {name: load(data) for name, data in (final_sets or {}).items()}
    rows: list[dict[str, Any]] = []
    start = [None]

    def evaluate(model, step: int) -> None:
        row = summary(model, batches)
        wall = 0.0 if start[0] is None else clock() - start[0]
        rows.append({"step": step, "wall_s": wall, **row})
        if step == steps[-1] and others:
            rows[-1]["sets"] = {name: summary(model, b) for name, b in others.items()}

    class Checkpoints(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            evaluate(self.model, 0)
            start[0] = clock()

        def on_epoch_end(self, epoch, logs=None):
            step = (epoch + 1) * unit
            if on_epoch is not None:
                on_epoch(step, float((logs or {}).get("loss", float("nan"))))
            if step in steps:
                evaluate(self.model, step)

    train(
        config,
        run_dir,
        resume=False,
        epochs=steps[-1] // unit,
        steps_per_epoch=unit,
        callbacks=[Checkpoints()],
        images=0,
        verbose=0,
        run_eagerly=run_eagerly,
    )
    return rows


def _goodness(value: float, higher: bool | None) -> float:
    """A score where larger is better: the value, its negative, or -|log| for ratios."""
    if higher is None:
        return -abs(math.log(max(value, 1e-9)))
    return value if higher else -value


def regressions(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """Columns where a trained row is worse than the best earlier row.

    The untrained row (step 0) is a reference like any other: a metric that ends
    up, or passes through, worse than the untrained model's is what this is for.

    Args:
        rows: `learning_curve` rows in step order (step 0 = untrained).

    Returns:
        One message per regression (`REGRESSION_TOLERANCE`, `DEPTH_REGRESSION_TOLERANCE`).
    """
    found = []
    for heading, key, _, higher in CURVE_COLUMNS:
        best = None  # (goodness, row)
        for row in rows:
            value = row.get(key)
            if value is None or not math.isfinite(value):
                continue
            score = _goodness(value, higher)
            if best is not None:
                if higher is None:
                    slack = DEPTH_REGRESSION_TOLERANCE
                else:
                    slack = REGRESSION_TOLERANCE * max(abs(best[0]), 1e-9)
                if score < best[0] - slack:
                    found.append(
                        f"{heading} at step {row['step']} ({value:.3g}) is worse than at step "
                        f"{best[1]['step']} ({best[1][key]:.3g})"
                    )
            if best is None or score > best[0]:
                best = (score, row)
    return found


def curve_table_lines(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The learning-curve table (one row per evaluation) as text lines."""
    return _table_lines(
        ("step", "wall s"), [((row["step"], f"{row['wall_s']:.0f}"), row) for row in rows]
    )


def sets_table_lines(named: Mapping[str, Mapping[str, Any]]) -> list[str]:
    """One model on several sets (name -> `summarize` dict): the curve's columns, a row each."""
    width = max([len("set"), *map(len, named)])
    return _table_lines(("set",), [((name,), row) for name, row in named.items()], width)


def _table_lines(
    heads: Sequence[str], rows: Sequence[tuple[Sequence[Any], Mapping[str, Any]]], first: int = 6
) -> list[str]:
    """`CURVE_COLUMNS` after leading cells (the first `first` wide, the rest 7), right-aligned."""
    widths = [first] + [7] * (len(heads) - 1)
    head = " ".join(f"{h:>{w}}" for h, w in zip(heads, widths, strict=True))
    head += " " + " ".join(f"{h:>8}" for h, *_ in CURVE_COLUMNS)
    lines = [head, "-" * len(head)]
    for lead, row in rows:
        cells = " ".join(f"{fmt(row.get(k), spec):>8}" for _, k, spec, _ in CURVE_COLUMNS)
        leading = " ".join(f"{str(v):>{w}}" for v, w in zip(lead, widths, strict=True))
        lines.append(f"{leading} {cells}")
    return lines


# Curve columns in pixels of the crop that `plot_learning_curves` can draw relative to
# the crop side, so that runs at different input sizes share a panel.
CROP_RELATIVE_KEYS = ("median_2d_heatmap_px", "median_2d_mesh_px")


def line_colors(n: int) -> list:
    """`n` colours, one per curve: matplotlib's 10-colour cycle, or 20 colours
    (`tab20`) when there are more curves, so that no two curves share one
    (the ssl study with extra fractions has 11). Beyond 20 they repeat."""
    import matplotlib

    palette = matplotlib.colormaps["tab10" if n <= 10 else "tab20"].colors
    return [palette[i % len(palette)] for i in range(n)]


def plot_learning_curves(
    runs: Sequence[tuple[Sequence[Mapping[str, Any]], str, int]],
    path: str,
    title: str,
    *,
    crop_relative: bool = False,
    targets: Sequence[Target] = (),
    target_crop: int = 64,
    log_steps: bool = True,
) -> str:
    """One panel per `CURVE_COLUMNS` entry, each run a line against the training step.

    Args:
        runs: `(rows, label, crop size)` per run; rows as `learning_curve` returns them
            (the untrained row is drawn at step 1 of the log axis).
        path: the PNG to write.
        title: the figure's title.
        crop_relative: draw the median 2D errors (`CROP_RELATIVE_KEYS`) as a
            percentage of each run's crop side.
        targets: goals drawn as dashed lines on their panels.
        target_crop: the crop size at which `targets` are stated.
        log_steps: a log step axis (runs of very different lengths); False: linear,
            the untrained row at step 0.

    Returns:
        `path`.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    def relative(key: str) -> bool:
        return crop_relative and key in CROP_RELATIVE_KEYS

    def scale(key: str, crop: int) -> float:
        return 100.0 / crop if relative(key) else 1.0

    limits = {t.key: t.limit(target_crop) for t in targets}
    colors = line_colors(len(runs))
    figure = Figure(figsize=(14.0, 6.5), dpi=100)
    FigureCanvasAgg(figure)
    for i, (heading, key, _, higher) in enumerate(CURVE_COLUMNS):
        ax = figure.add_subplot(2, 5, i + 1)
        drawn = []
        for (rows, label, crop), color in zip(runs, colors, strict=True):
            steps = [max(r["step"], 1) if log_steps else r["step"] for r in rows]
            values = [
                float("nan") if r.get(key) is None else scale(key, crop) * r[key] for r in rows
            ]
            ax.plot(steps, values, "o-", markersize=3, label=label, color=color)
            drawn += [v for v in values if math.isfinite(v)]
        if key in limits:
            limit = limits[key] * scale(key, target_crop)
            ax.axhline(limit, color="grey", linestyle="--", linewidth=0.8)
        if not drawn:  # no run has this metric (e.g. no mesh head): no log axes
            ax.text(0.5, 0.5, "n/a", ha="center", va="center", transform=ax.transAxes)
        elif higher is None:  # a ratio: log scale, 1 is right
            ax.axhline(1.0, color="grey", linestyle=":", linewidth=0.8)
            ax.set_yscale("log")
        if drawn and log_steps:
            ax.set_xscale("log")
        better = "higher" if higher else "lower" if higher is False else "1"
        unit = " (% of crop)" if relative(key) else ""
        ax.set_title(f"{heading}{unit} ({better} is better)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if i == 0 and len(runs) > 1:
            ax.legend(fontsize=7)
    notes = ["hm: heat-map keypoints", "mesh: projected mesh joints"]
    if crop_relative:
        notes += ["2D medians in % of the crop side;", "PCK thresholds in px of the crop"]
    else:
        notes.append("2D errors in px of the crop")
    notes += [
        "3D errors in mm",
        "rot: global rotation error (deg)",
        "depth: predicted / true depth",
    ]
    if targets:
        notes.append(f"dashed: the target ({target_crop} px)")
    notes.append("step 1 = untrained" if log_steps else "step 0 = untrained")
    ax = figure.add_subplot(2, 5, 10)
    ax.axis("off")
    ax.text(0.0, 0.95, "\n".join(notes), fontsize=8, va="top")
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, format="png")
    return path


__all__ = [
    "CROP_RELATIVE_KEYS",
    "CURVE_COLUMNS",
    "DEMO_TARGETS",
    "LONG_TARGETS",
    "PCK_2D_MAX_PX",
    "REPORT_PCK_PX",
    "SUMMARY_ROWS",
    "TARGET_SETS",
    "Target",
    "TargetResult",
    "check_targets",
    "curve_table_lines",
    "fmt",
    "improved",
    "learning_curve",
    "plot_learning_curves",
    "regressions",
    "sets_table_lines",
    "summarize",
    "summary_lines",
    "target_lines",
]
