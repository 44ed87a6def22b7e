"""Phone presets on the speed-accuracy frontier: held-out accuracy at one budget, int8
parity with Keras, and latency beside reference files, in one table.

Usage (from the repository root; MediaPipe's files from a path you give, see
docs/export.md):

    python benchmarks/bench_phone.py --reference PATH/hand_landmark_full.tflite \\
        PATH/hand_landmark_lite.tflite
    python benchmarks/bench_phone.py --presets mobile-lite mobile --seeds 0 --steps 250,500

For every preset and seed it runs the learning benchmark with the phone study's
training recipe, in a process of its own:

    python benchmarks/bench_learning.py --preset P --config training/configs/phone-recipe.yaml \\
        --seed S --steps STEPS --out OUT --name P-sS

(the same synthetic training and held-out sets for every preset of a seed; the
seed changes the sets, the initial weights and the batches). A run whose
`results.json` is there for the same model, seed and steps is kept, so a killed
study resumes with the run it was in.

Then every trained model is exported to int8 (int8 trunk, float tail; calibrated
on `--calibration` crops of its training set) and compared with Keras on the
held-out crops: its keypoints against `tests/export/fixtures.INT8_KEYPOINT_GOAL`
and its masks' IoU with Keras'. The int8 files of the first seed are then timed
with LiteRT beside the `--reference` files (random inputs of each file's shape),
on 1 and 2 threads, in `--rounds` interleaved rounds (best median kept).

It prints one table: each preset's GFLOPs and trainable parameters, its held-out
accuracy after the last step (mean +- sample standard deviation over the seeds),
its int8 parity, and its int8 latency with the ratio to each reference; then,
for every preset after the first, which accuracy columns differ from the first
preset's beyond the spread (the means further apart than the two standard
deviations added). Outputs under `--out` (default `runs/bench_phone`):
`phone.json` (everything, with the command, machine and date) and
`phone_frontier.png` (accuracy against int8 latency).

Runs one training at a time; on a 2-core CPU, 2,000 steps take about 5 min for
`mobile-lite` and about 9 for `mobile`, each seed.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import json
import os
import platform
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402

RECIPE = os.path.join(ROOT, "training", "configs", "phone-recipe.yaml")
PRESETS = ("mobile-lite", "mobile-mid", "mobile")
SEEDS = (0, 1, 2)
STEPS = (500, 1000, 2000)
# Model fields that change only the export (`export.graph`), not training or the Keras
# evaluation: a finished run stays valid when they change, and its export takes them from
# the preset as it is now.
EXPORT_ONLY = ("mask_output",)
# (summary key, column label, higher is better, format)
ACCURACY = (
    ("median_2d_heatmap_px", "hm med px", False, "{:.2f}"),
    ("pck_2d_heatmap@4px", "PCK@4", True, "{:.3f}"),
    ("median_2d_mesh_px", "mesh med px", False, "{:.2f}"),
    ("pa_mpjpe_mm", "PA-MPJPE mm", False, "{:.2f}"),
    ("mask_mean_iou", "IoU", True, "{:.3f}"),
)


def run_name(preset: str, seed: int) -> str:
    """The learning benchmark's folder name of one preset and seed."""
    return f"{preset}-s{seed}"


def learning_argv(preset: str, seed: int, steps, out: str, overrides=()) -> list[str]:
    """`bench_learning.py` arguments of one run of the study."""
    argv = ["--preset", preset, "--config", RECIPE, "--seed", str(seed)]
    argv += ["--steps", ",".join(map(str, steps)), "--out", out, "--name", run_name(preset, seed)]
    for item in overrides:
        argv += ["--set", item]
    return argv


def finished(path: str, config, steps) -> dict | None:
    """The learning benchmark's `results.json` at `path` if it is a finished run of
    `config` (same model, training and loss settings, seed) at `steps`; else None."""
    from hiu_tf.config import config_to_dict

    try:
        with open(path) as f:
            results = json.load(f)
    except (OSError, ValueError):
        return None

    def trained(section: str, values: dict) -> dict:
        return {k: v for k, v in values.items() if section != "model" or k not in EXPORT_ONLY}

    want, got = config_to_dict(config), results.get("config", {})
    same = all(
        trained(k, got.get(k, {})) == trained(k, want[k]) for k in ("model", "loss", "train")
    )
    done = [row["step"] for row in results.get("rows", [])] == [0, *steps]
    return results if same and done else None


def spread(values) -> tuple[float, float]:
    """(mean, sample standard deviation; 0 for one value): the ablations' `aggregate`
    as the pair that `phone.json` stores."""
    from training.kit.results import aggregate

    found = aggregate(values)
    return found["mean"], found["std"]


def parity(run_dir: str, data: dict, calibration: int, path: str, current=None) -> dict:
    """Exports a trained run to int8 at `path` and compares it with Keras on the
    held-out crops (`tests/export/fixtures.parity`): `int8_keypoint_parity` and mask IoU.
    `current`: the preset's config now, whose `EXPORT_ONLY` fields the export takes."""
    from export import tflite
    from hiu_tf.runs import load_run
    from tests.export import fixtures
    from training.evaluate import eval_dataset

    config, model = load_run(run_dir)
    if current is not None:
        fields = {k: getattr(current.model, k) for k in EXPORT_ONLY}
        config = dataclasses.replace(config, model=dataclasses.replace(config.model, **fields))
        model.model_config = config.model  # what `export.graph.forward` reads
    size = config.model.input_size

    def crops(folder: str, count: int | None = None):
        dataset, _ = eval_dataset(folder, size, 32, max_samples=count)
        batches = list(dataset.as_numpy_iterator())
        images = np.concatenate([b["image"] for b in batches]) * 255.0
        return images.astype(np.float32), np.concatenate([b["keypoints_px"] for b in batches])

    rep, _ = crops(data["train"], calibration)
    tflite.export_tflite(config, model, path, "int8", representative=rep)
    images, truth = crops(data["heldout"])
    errors, got, ref = fixtures.parity(path, model, images)
    out = fixtures.int8_keypoint_parity(got["keypoints_px"], ref["keypoints_px"], truth)
    out["mask_iou_min"], out["mask_iou_mean"] = errors["mask_iou_min"], errors["mask_iou_mean"]
    return out


def frontier_figure(
    rows: list[dict], references: list[str], path: str, reference_ratios: dict | None = None
) -> str:
    """Held-out heat-map error and PA-MPJPE against int8 latency (ratio to the first
    reference, 1 and 2 threads), a point per preset with its seed spread; a dashed line
    at each reference's own ratio (`reference_ratios`: name -> {"1": x, "2": x})."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for ax, (key, label) in zip(
        axes,
        (
            ("median_2d_heatmap_px", "heat-map median error (px of 224)"),
            ("pa_mpjpe_mm", "PA-MPJPE (mm)"),
        ),
        strict=True,
    ):
        for threads, marker in (("1", "o"), ("2", "s")):
            xs = [
                r["ratios"][references[0]][threads] if references else r["ms"][threads]
                for r in rows
            ]
            ys = [r["accuracy"][key][0] for r in rows]
            es = [r["accuracy"][key][1] for r in rows]
            ax.errorbar(
                xs,
                ys,
                yerr=es,
                fmt=marker + "-",
                capsize=3,
                label=f"{threads} thread{'s' if threads == '2' else ''}",
            )
            if threads == "1":
                for r, x, y in zip(rows, xs, ys, strict=True):
                    ax.annotate(
                        r["preset"], (x, y), textcoords="offset points", xytext=(4, 4), fontsize=8
                    )
        for name, ratio in (reference_ratios or {}).items():
            for threads, style in (("1", "--"), ("2", ":")):
                ax.axvline(ratio[threads], color="grey", linestyle=style, linewidth=1)
            ax.annotate(
                name.removesuffix(".tflite"),
                (ratio["1"], 1.0),
                xycoords=("data", "axes fraction"),
                xytext=(2, -10),
                textcoords="offset points",
                fontsize=7,
                color="grey",
            )
        ax.set_xlabel(f"int8 latency / {references[0]}'s" if references else "int8 ms")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    figure.suptitle(
        "phone presets: held-out accuracy (mean +- std over seeds) against int8 latency "
        "(dashed: 1 thread, dotted: 2)"
    )
    figure.savefig(path, format="png", dpi=110)
    plt.close(figure)
    return path


def parse_args(argv):
    from bench_infer import _reference_path

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--presets", nargs="+", default=list(PRESETS), help="the first is the baseline")
    p.add_argument("--seeds", type=int, nargs="+", default=list(SEEDS))
    p.add_argument("--steps", default=",".join(map(str, STEPS)), help="e.g. 500,1000,2000")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a config override for every run (over the recipe)",
    )
    p.add_argument(
        "--reference",
        nargs="*",
        type=_reference_path,
        default=[],
        metavar="PATH",
        help=".tflite files to time beside ours (the first: the ratios' reference)",
    )
    p.add_argument("--calibration", type=int, default=100, help="int8 calibration crops")
    p.add_argument("--runs", type=int, default=50, help="timed calls per median")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    p.add_argument("--out", default=os.path.join("runs", "bench_phone"))
    args = p.parse_args(argv)
    from bench_learning import _steps

    try:
        args.steps = _steps(args.steps)
    except argparse.ArgumentTypeError as e:
        p.error(str(e))
    from hiu_tf.presets import preset_names

    unknown = [name for name in args.presets if name not in preset_names()]
    if unknown:
        p.error(f"unknown preset(s) {unknown}; known: {', '.join(preset_names())}")
    if len(set(args.presets)) != len(args.presets) or len(set(args.seeds)) != len(args.seeds):
        p.error("--presets and --seeds must not repeat")
    if min(args.calibration, args.runs, args.rounds) < 1 or args.warmup < 0:
        p.error("--calibration, --runs and --rounds must be >= 1, --warmup >= 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    import bench_learning
    from _common import best_of_rounds
    from bench_infer import THREADS, _file_latency

    from export import tflite
    from hiu_tf.model import build_model
    from hiu_tf.model_stats import count_params
    from training.kit.results import compare

    os.makedirs(args.out, exist_ok=True)
    script = os.path.join(ROOT, "benchmarks", "bench_learning.py")
    learning: dict[tuple[str, int], dict] = {}
    configs = {}  # the resolved config of every run, for the export and the parameter count
    for preset in args.presets:
        for seed in args.seeds:
            argv_ = learning_argv(preset, seed, args.steps, args.out, args.overrides)
            config = configs[preset, seed] = bench_learning.resolve_config(
                bench_learning.parse_args(argv_)
            )
            path = os.path.join(args.out, run_name(preset, seed), "results.json")
            results = finished(path, config, args.steps)
            if results is None:
                print(f"== learning: {preset}, seed {seed}", flush=True)
                subprocess.run([sys.executable, script, *argv_], check=True)
                results = finished(path, config, args.steps)
                if results is None:
                    raise RuntimeError(f"{path}: the learning run left no finished results")
            else:
                print(f"== learning: {preset}, seed {seed}: done before ({path})", flush=True)
            learning[preset, seed] = results

    parities: dict[tuple[str, int], dict] = {}
    files: dict[str, str] = {}
    for (preset, seed), config in configs.items():
        print(f"== int8: {preset}, seed {seed}", flush=True)
        data = bench_learning.data_dir(args.out, config.model.input_size, seed)
        sets = {"train": os.path.join(data, "train"), "heldout": os.path.join(data, "heldout")}
        path = os.path.join(args.out, run_name(preset, seed), "int8.tflite")
        run_dir = os.path.join(args.out, run_name(preset, seed), "run")
        parities[preset, seed] = parity(run_dir, sets, args.calibration, path, config)
        files.setdefault(preset, path)

    print("== timing", flush=True)
    timed = {**{os.path.basename(p): p for p in args.reference}, **files}
    measures = {
        (name, threads): lambda p=p, t=threads: _file_latency(p, t, args.runs, args.warmup)
        for name, p in timed.items()
        for threads in THREADS
    }
    times = best_of_rounds(measures, args.rounds)
    references = [os.path.basename(p) for p in args.reference]

    rows = []
    for preset in args.presets:
        last = [learning[preset, s]["rows"][-1] for s in args.seeds]
        with open(files[preset], "rb") as f:
            cost = tflite.graph_cost(f.read())
        config = configs[preset, args.seeds[0]]
        model = build_model(dataclasses.replace(config.model, render_mask=False))
        checks = [parities[preset, s] for s in args.seeds]
        ms = {str(t): times[preset, t] for t in THREADS}
        row = {
            "preset": preset,
            "gflops": cost["flops"] / 1e9,
            "trainable_m": count_params(model)["trainable"] / 1e6,
            "accuracy": {key: spread([r[key] for r in last]) for key, *_ in ACCURACY},
            "int8": {
                "met": sum(c["meets_goal"] for c in checks),
                "within_3px_min": min(c["within_3px"] for c in checks),
                "median_px_max": max(c["median_px"] for c in checks),
                "rise_px_max": max(c["mean_error_rise_px"] for c in checks),
                "mask_iou_min": min(c["mask_iou_min"] for c in checks),
            },
            "ms": ms,
            "ratios": {
                ref: {str(t): times[preset, t] / times[ref, t] for t in THREADS}
                for ref in references
            },
        }
        rows.append(row)

    n = len(args.seeds)
    print(
        f"\nphone presets: held-out accuracy after {args.steps[-1]} steps (mean ± std over "
        f"{n} seed{'s' if n > 1 else ''}), int8 parity on the held-out crops (goal met by "
        "how many seeds; the worst seed's share within 3 px, rise and mask IoU), int8 "
        f"latency of seed {args.seeds[0]}'s file (LiteRT, best of {args.rounds} rounds)"
    )
    head = ["preset", "GFLOPs", "M params"] + [label for _, label, _, _ in ACCURACY]
    head += ["int8 goal", "within 3px", "rise px", "mask IoU"]
    for t in THREADS:
        head += [f"{t} thr ms"] + [f"/ {ref.removesuffix('.tflite')}" for ref in references]
    print("| " + " | ".join(head) + " |")
    print("|" + "---|" * len(head))
    blank = [""] * (2 + len(ACCURACY) + 4)
    for row in rows:
        cells = [row["preset"], f"{row['gflops']:.3f}", f"{row['trainable_m']:.2f}"]
        for key, _, _, spec in ACCURACY:
            mean, std = row["accuracy"][key]
            cells.append(f"{spec.format(mean)} ± {spec.format(std)}")
        i8 = row["int8"]
        cells += [
            f"{i8['met']}/{n}",
            f"{i8['within_3px_min']:.1%}",
            f"{i8['rise_px_max']:+.2f}",
            f"{i8['mask_iou_min']:.3f}",
        ]
        for t in THREADS:
            cells.append(f"{row['ms'][str(t)]:.2f}")
            cells += [f"{row['ratios'][ref][str(t)]:.2f}" for ref in references]
        print("| " + " | ".join(cells) + " |")
    for ref in references:
        cells = [ref, *blank]
        for t in THREADS:
            cells.append(f"{times[ref, t]:.2f}")
            cells += [f"{times[ref, t] / times[other, t]:.2f}" for other in references]
        print("| " + " | ".join(cells) + " |")
    verdicts = {}
    if len(rows) > 1:
        print(
            f"\nagainst {rows[0]['preset']} (beyond the spread: means further apart than "
            "the two standard deviations added):"
        )
        for row in rows[1:]:
            verdicts[row["preset"]] = {
                label: compare(rows[0]["accuracy"][key], row["accuracy"][key], higher)
                for key, label, higher, _ in ACCURACY
            }
            print(
                f"  {row['preset']}: "
                + ", ".join(f"{label} {v}" for label, v in verdicts[row["preset"]].items())
            )
    figure = frontier_figure(
        rows,
        references,
        os.path.join(args.out, "phone_frontier.png"),
        {r: {str(t): times[r, t] / times[references[0], t] for t in THREADS} for r in references},
    )
    total = time.monotonic() - started
    print(
        f"wrote {figure}; {total / 60:.1f} min, {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}"
    )
    with open(os.path.join(args.out, "phone.json"), "w") as f:
        json.dump(
            {
                "command": "python benchmarks/bench_phone.py " + " ".join(argv or sys.argv[1:]),
                "date": datetime.datetime.now().isoformat(timespec="seconds"),
                "machine": {
                    "cpus": os.cpu_count(),
                    "processor": platform.processor() or platform.machine(),
                },
                "steps": list(args.steps),
                "seeds": args.seeds,
                "references": references,
                "rows": rows,
                "verdicts": verdicts,
                "parity": {f"{p}-s{s}": v for (p, s), v in parities.items()},
                "reference_ms": {
                    ref: {str(t): times[ref, t] for t in THREADS} for ref in references
                },
                "wall_seconds": total,
            },
            f,
            indent=2,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
