"""Draws `docs/learning_curves.png`: held-out learning curves of several benchmark runs.

Usage (from the repository root), after `benchmarks/bench_learning.py` runs:

    python docs/make_learning_figure.py \\
        runs/bench_learning/before/results.json:before \\
        runs/bench_learning/after/results.json:after \\
        "runs/bench_learning/long/results.json:long (128 px)" \\
        --out docs/learning_curves.png

Each argument is a `results.json` of `benchmarks/bench_learning.py`, optionally
followed by `:LABEL`. One panel per column of the benchmark's table (heat-map and
projected-mesh 2D errors, 3D errors, mask IoU, the mesh's health), every run as
one line against the training step (log scale; the untrained model at step 1;
2D median errors as a percentage of the crop side, so that runs at different
input sizes compare), with the demo's targets (`training.kit.learning.DEMO_TARGETS`)
drawn as dashed lines where a panel has one
(`training.kit.learning.plot_learning_curves`).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _run(spec: str) -> tuple[dict, str]:
    path, _, label = spec.partition(":")
    with open(path, encoding="utf-8") as f:
        results = json.load(f)
    return results, label or results.get("name", Path(path).parent.name)


def plot(runs: list[tuple[dict, str]], out: str, title: str) -> str:
    """Every run a line on each panel; 2D medians relative to the crop; demo targets dashed."""
    from training.kit.learning import DEMO_TARGETS, plot_learning_curves

    curves = [(r["rows"], label, int(r["config"]["model"]["input_size"])) for r, label in runs]
    return plot_learning_curves(
        curves, out, title, crop_relative=True, targets=DEMO_TARGETS, target_crop=64
    )


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
