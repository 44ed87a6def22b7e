"""int8 exports of a trained phone preset side by side: parity with Keras, and LiteRT latency.

    python benchmarks/bench_int8.py                        # mobile and mobile-2stack, seed 0
    python benchmarks/bench_int8.py --presets mobile --seeds 0 1 \
        --int16 heatmaps='^trunk/stack\\d+(_\\d+)?/heatmap_decoder'

For each preset and seed, trains the model as the slow parity test does
(`tests/export/fixtures.trained_phone_model`: 300 Adam steps on 64 drawn hands
at 256 x 256, BN statistics recalibrated) and exports it with the same 128
calibration images (`fixtures.phone_test_images`) to:

* fp32 (`--quant none`): the reference for latency;
* int8: the export's int8 file (int8 trunk, float tail; `export.tflite.quantize_int8`);
* one int8 file per `--int16 NAME=REGEX`, with int16 activations ("a16w8") on the
  ops matching REGEX (by default the heat-map decoders, and all three task
  decoders: the layers whose int8 error is largest, docs/export.md).

Each file is compared with Keras on 32 unseen drawn hands (672 keypoints):
keypoints against Keras' (median, share within 3 px, largest), int8's mean
error against the drawn keypoints minus Keras' ("rise"), whether that meets
`tests/export/fixtures.INT8_KEYPOINT_GOAL`, the mesh keypoints' largest
distance and the smallest mask IoU; and timed with LiteRT on 1 and 2 threads
(median of `--runs` calls, best of `--rounds` rounds that go through every
file in turn). A file that LiteRT cannot load is reported with its error.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

INT16 = {
    "heat-map decoders": r"^trunk/stack\d+(_\d+)?/heatmap_decoder",
    "task decoders": r"^trunk/stack\d+(_\d+)?/(heatmap|mask|pof)_decoder",
}


def _int16_spec(text: str) -> tuple[str, str]:
    """`NAME=REGEX` (argparse type)."""
    import re

    name, sep, regex = text.partition("=")
    if not sep or not name or not regex:
        raise argparse.ArgumentTypeError(f"expected NAME=REGEX. Received: {text!r}")
    try:
        re.compile(regex)
    except re.error as e:
        raise argparse.ArgumentTypeError(f"{regex!r}: {e}") from e
    return name, regex


def files(int16: dict[str, str]) -> dict[str, dict]:
    """label -> `export_tflite` options of each file."""
    out = {
        "fp32": {"quant": "none"},
        "int8": {"quant": "int8"},
    }
    for name, regex in int16.items():
        out[f"int8, a16 {name}"] = {"quant": "int8", "int16_scopes": (regex,)}
    return out


def measure(preset: str, seed: int, steps: int, size: int, int16: dict, folder: str) -> dict:
    """label -> parity measures (or `{"error": message}`) and file path, for one model."""
    from export import tflite
    from tests.export import fixtures

    cfg, model = fixtures.trained_phone_model(preset, seed, steps, size=size)
    images, truth, rep = fixtures.phone_test_images(seed, size)
    rows = {}
    for label, options in files(int16).items():
        print(f"  exporting {preset} seed {seed}: {label}", file=sys.stderr, flush=True)
        path = os.path.join(folder, f"{preset}_{seed}_{len(rows)}.tflite")
        tflite.export_tflite(cfg, model, path, representative=rep, **options)
        try:
            errors, got, ref = fixtures.parity(path, model, images)
        except RuntimeError as e:  # LiteRT cannot prepare an op of the file
            rows[label] = {"path": path, "error": str(e).splitlines()[0]}
            continue
        keypoints = fixtures.int8_keypoint_parity(got["keypoints_px"], ref["keypoints_px"], truth)
        rows[label] = {"path": path, "size": size, **errors, **keypoints}
    return rows


def main(argv: list[str] | None = None) -> int:
    from _common import best_of_rounds
    from bench_infer import THREADS, _tflite_latency

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", nargs="+", default=["mobile", "mobile-2stack"])
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (the test's: 300)")
    parser.add_argument("--size", type=int, default=256, help="input size (the test's: 256)")
    parser.add_argument(
        "--int16",
        nargs="*",
        type=_int16_spec,
        metavar="NAME=REGEX",
        help="int8 files with int16 activations on the ops matching REGEX (default: "
        + "; ".join(f"{k}={v}" for k, v in INT16.items())
        + "); none without values",
    )
    parser.add_argument("--runs", type=int, default=50, help="timed calls per median")
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3, help="interleaved timing rounds")
    args = parser.parse_args(argv)
    if min(args.steps, args.size, args.runs, args.rounds) < 1 or args.warmup < 0:
        parser.error("--steps, --size, --runs and --rounds must be >= 1, --warmup >= 0")
    int16 = INT16 if args.int16 is None else dict(args.int16)
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench_int8_") as folder:
        for preset in args.presets:
            for seed in args.seeds:
                print(f"training {preset} @{args.size}, seed {seed}", file=sys.stderr, flush=True)
                results[preset, seed] = measure(preset, seed, args.steps, args.size, int16, folder)
        print("timing", file=sys.stderr, flush=True)
        measures = {
            (key, label, threads): lambda row=row, t=threads: _tflite_latency(
                row["path"], args.size, t, args.runs, args.warmup
            )
            for key, rows in results.items()
            for label, row in rows.items()
            if "error" not in row
            for threads in THREADS
        }
        times = best_of_rounds(measures, args.rounds)
        sizes = {
            (key, label): os.path.getsize(row["path"]) / 2**20
            for key, rows in results.items()
            for label, row in rows.items()
        }
    print(
        f"\n{args.size} x {args.size}, {args.steps} steps on 64 drawn hands; 32 unseen ones "
        f"(672 keypoints); calibrated on 128 others. LiteRT ms: median of {args.runs} calls, "
        f"best of {args.rounds} rounds"
    )
    print(
        "| preset | seed | file | keypoints vs Keras: median / within 3 px / max (px) | rise (px) "
        "| goal | mesh keypoints max (px) | mask IoU min | 1 thread ms | 2 threads ms | MB |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for (preset, seed), rows in results.items():
        for label, row in rows.items():
            head = f"| {preset} | {seed} | {label} | "
            if "error" in row:
                print(head + f"LiteRT cannot load it: {row['error']} |" + " |" * 7)
                continue
            ms = [times[(preset, seed), label, t] for t in THREADS]
            print(
                head + f"{row['median_px']:.2f} / {row['within_3px']:.1%} / {row['max_px']:.1f} "
                f"| {row['mean_error_rise_px']:+.2f} | {'met' if row['meets_goal'] else 'missed'} "
                f"| {row['keypoints_px_mesh']:.1f} | {row['mask_iou_min']:.3f} "
                f"| {ms[0]:.2f} | {ms[1]:.2f} | {sizes[(preset, seed), label]:.2f} |"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
