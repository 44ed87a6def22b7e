"""Draws `docs/learning_curves.png`: held-out learning curves of several benchmark runs.

Usage (from the repository root), after `benchmarks/bench_learning.py` runs:

    python docs/make_learning_figure.py \\
        "docs/learning.md#Before:before" \\
        "runs/bench_learning/after-xla/results.json:after" \\
        "runs/bench_learning/long-xla/results.json:long (128 px)" \\
        --out docs/learning_curves.png

Each argument is a `results.json` of `benchmarks/bench_learning.py`, optionally
followed by `:LABEL`, or a table of a Markdown page, `docs/learning.md#HEADING:LABEL`:
the first benchmark table under the first heading that starts with HEADING (a run
whose folder is gone, such as the code of before the fixes, is drawn from the
numbers printed for it; such a table gives no input size, so it is taken as
64 px). One panel per column of the benchmark's table (heat-map and
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


def _table_rows(path: str, heading: str) -> list[dict]:
    """The rows of the first benchmark table under the first heading that starts with `heading`."""
    from training.kit.learning import CURVE_COLUMNS

    keys = {"step": "step", **{title: key for title, key, _, _ in CURVE_COLUMNS}}
    lines = Path(path).read_text(encoding="utf-8").splitlines()
    starts = [
        i
        for i, line in enumerate(lines)
        if line.startswith("#") and line.lstrip("#").strip().startswith(heading)
    ]
    if not starts:
        raise SystemExit(f"no heading {heading!r} in {path}")
    header, rows = None, []
    for line in lines[starts[0] + 1 :]:
        if line.startswith("#"):
            break
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if header is None:
            if line.startswith("|") and set(keys) <= set(cells):
                header = cells
            continue
        if not line.startswith("|"):
            break
        if set(line) <= set("|-: "):
            continue
        rows.append(
            {
                keys[h]: float(c.replace(",", ""))
                for h, c in zip(header, cells, strict=True)
                if h in keys
            }
        )
    if not rows:
        raise SystemExit(f"no benchmark table under {heading!r} in {path}")
    return rows


def _run(spec: str) -> tuple[dict, str]:
    path, _, label = spec.partition(":")
    if "#" in path:
        path, _, heading = path.partition("#")
        rows = _table_rows(path, heading)
        return {"rows": rows, "config": {"model": {"input_size": 64}}}, label or heading
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
