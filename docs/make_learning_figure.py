"""Draws `docs/learning_curves.png`: held-out learning curves of several benchmark runs.

Usage (from the repository root), after `benchmarks/bench_learning.py` runs:

    python docs/make_learning_figure.py \\
        runs/bench_learning/before/results.json:"before (2026-12-04)" \\
        runs/bench_learning/demo/results.json:"after" \\
        --out docs/learning_curves.png

Each argument is a `results.json` of `benchmarks/bench_learning.py`, optionally
followed by `:LABEL`. One panel per column of the benchmark's table (heat-map and
projected-mesh 2D errors, 3D errors, mask IoU, the mesh's health), every run as
one line against the training step (log scale; the untrained model at step 1;
2D median errors as a percentage of the crop side, so that runs at different
input sizes compare), with the demo's targets (`training.learning.DEMO_TARGETS`) drawn as dashed lines
where a panel has one.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


# Columns in px of the crop that are drawn relative to the crop side.
RELATIVE_KEYS = ("median_2d_heatmap_px", "median_2d_mesh_px")


def _crop_size(results: dict) -> int:
    """The input size of a benchmark run (its resolved config)."""
    return int(results["config"]["model"]["input_size"])


def _run(spec: str) -> tuple[dict, str]:
    path, _, label = spec.partition(":")
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    return results, label or results.get("name", Path(path).parent.name)


def plot(runs: list[tuple[dict, str]], out: str, title: str) -> str:
    """One panel per `CURVE_COLUMNS` entry; every run a line; demo targets dashed."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from training.learning import CURVE_COLUMNS, DEMO_TARGETS

    demo_crop = 64  # the demo's targets are stated for 64 px crops
    limits = {t.key: t.limit(demo_crop) for t in DEMO_TARGETS}
    figure = Figure(figsize=(14.0, 6.5), dpi=100)
    FigureCanvasAgg(figure)
    for i, (heading, key, _, higher) in enumerate(CURVE_COLUMNS):
        ax = figure.add_subplot(2, 5, i + 1)
        for results, label in runs:
            rows = results["rows"]
            # Median 2D errors as a percentage of the crop side, so that runs at
            # different input sizes share the panel.
            scale = 100.0 / _crop_size(results) if key in RELATIVE_KEYS else 1.0
            steps = [max(r["step"], 1) for r in rows]
            values = [float("nan") if r.get(key) is None else scale * r[key] for r in rows]
            ax.plot(steps, values, "o-", markersize=3, label=label)
        if key in limits:
            limit = limits[key] * (100.0 / demo_crop if key in RELATIVE_KEYS else 1.0)
            ax.axhline(limit, color="grey", linestyle="--", linewidth=0.8)
        if higher is None:  # a ratio: log scale, 1 is right
            ax.axhline(1.0, color="grey", linestyle=":", linewidth=0.8)
            ax.set_yscale("log")
        ax.set_xscale("log")
        better = "higher" if higher else "lower" if higher is False else "1"
        unit = " (% of crop)" if key in RELATIVE_KEYS else ""
        ax.set_title(f"{heading}{unit} ({better} is better)", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.grid(True, alpha=0.3)
        if i == 0:
            ax.legend(fontsize=7)
    ax = figure.add_subplot(2, 5, 10)
    ax.axis("off")
    ax.text(
        0.0,
        0.95,
        "hm: heat-map keypoints\nmesh: projected mesh joints\n"
        "2D medians in % of the crop side;\nPCK thresholds in px of the crop\n"
        "3D errors in mm\nrot: global rotation error (deg)\ndepth: predicted / true depth\n"
        "dashed: the demo's target (64 px)\nstep 1 = untrained",
        fontsize=8,
        va="top",
    )
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(out, format="png")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("runs", nargs="+", help="results.json[:LABEL] of bench_learning.py")
    parser.add_argument("--out", default="docs/learning_curves.png")
    parser.add_argument(
        "--title", default="Held-out learning curves (benchmarks/bench_learning.py)"
    )
    args = parser.parse_args(argv)
    print(plot([_run(spec) for spec in args.runs], args.out, args.title))
    return 0


if __name__ == "__main__":
    sys.exit(main())
