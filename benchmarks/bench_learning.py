"""Learning benchmark: does a model learn hands? Held-out accuracy and mesh health vs steps.

Usage (from the repository root):

    python benchmarks/bench_learning.py                      # the demo's model, 500-8000 steps
    python benchmarks/bench_learning.py --steps 250,500 --train-samples 512   # a quick look
    python benchmarks/bench_learning.py --config training/configs/learning-long.yaml \\
        --steps 1000,2000,4000,8000,16000 --targets long
    python benchmarks/bench_learning.py --set loss.heatmap=5 --set model.width=32

It generates (once, reused while the options stay the same) a synthetic
training set and a held-out set with another seed *and* another family of
backgrounds (`training.kit.datasets.make_datasets`, the demo's sets), trains the model
of `--config` (or `--preset`, with `--set` overrides) with `training.train.train`
for the largest of `--steps` steps (one cosine schedule over all of them), and
evaluates the held-out set before training and at every step count of
`--steps` (`training.evaluate.evaluate_model`, BatchNorm in inference mode).
It prints one table, a row per step count:

    hm med / PCK@4 / PCK@8   heat-map keypoints: median error (px of the crop),
                             PCK at 4 and 8 px
    mesh med                 median 2D error of the projected mesh joints (px)
    PA-MPJPE / MPJPE         3D joint errors (mm): Procrustes-aligned, root-relative
    IoU                      mask mean IoU
    rot                      mesh health: median geodesic error of the global
                             orientation (degrees)
    depth                    mesh health: median predicted / true depth of the anchor
                             joint in focal-length units (1 = the right image size;
                             > 1 = the hand escapes from the camera)

then the last model on the held-out set beside `--family-samples` new crops of
the training set's own kind (its procedural backgrounds, another seed): where
the second row is much better, the model has learnt its training backgrounds
rather than the hand. Then, with `--targets demo|long`, which of the goals of
`training.kit.learning` the last row meets. A later row worse than an earlier one
on the same run is worth a look: `--fail-on-regression` makes that an error
(exit code 1).

Outputs (under `--out`, default `runs/bench_learning/<name>`): `results.json`
(rows, config, command, machine, date, wall times), `learning_curves.png` and
the run folder `run/` (history.csv with the training metrics, TensorBoard logs).
Only one benchmark or training should run at a time on a small machine: the
wall times are part of the result.
"""

from __future__ import annotations

import argparse
import datetime
import json
import math
import os
import platform
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

DEFAULT_STEPS = (500, 1000, 2000, 4000, 8000)


def _steps(text: str) -> tuple[int, ...]:
    try:
        values = sorted({int(v) for v in text.split(",") if v.strip()})
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"--steps must be integers like 500,1000: {text!r}") from e
    if not values or values[0] < 1:
        raise argparse.ArgumentTypeError(f"--steps must be integers >= 1. Received: {text!r}")
    return tuple(values)


def parse_args(argv):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument(
        "--config",
        default=None,
        help="experiment YAML (default: the demo's), over --preset if given",
    )
    p.add_argument("--preset", default=None, help="a preset (hiu_tf.presets) to start from")
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--steps", type=_steps, default=DEFAULT_STEPS, help="e.g. 500,1000,2000")
    p.add_argument("--train-samples", type=int, default=None, help="default: the demo's")
    p.add_argument("--heldout-samples", type=int, default=None, help="default: the demo's")
    p.add_argument(
        "--synth",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="synthetic generator options of both sets, over the demo's (DEMO_SYNTH)",
    )
    p.add_argument(
        "--family-samples",
        type=int,
        default=256,
        help="new crops of the training set's kind, to check the trained model on (0: none)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--name", default=None, help="name of the output folder (default: config)")
    p.add_argument("--out", default=os.path.join("runs", "bench_learning"))
    p.add_argument("--targets", choices=("demo", "long"), default=None)
    p.add_argument("--fail-on-regression", action="store_true")
    args = p.parse_args(argv)
    if args.family_samples < 0:
        p.error(f"--family-samples must be >= 0. Received: {args.family_samples}")
    for flag in ("train_samples", "heldout_samples"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            p.error(f"--{flag.replace('_', '-')} must be >= 1. Received: {value}")
    return args


def resolve_config(args):
    from hiu_tf.config import apply_overrides, load_config
    from hiu_tf.presets import preset
    from training.demo import DEMO_CONFIG

    if args.preset:  # the preset, and a YAML file (a training recipe, say) over it
        config = preset(args.preset)
        if args.config:
            config = load_config(args.config, base=config)
    else:
        config = load_config(args.config or DEMO_CONFIG)
    return apply_overrides(config, [*args.overrides, f"train.seed={args.seed}"])


def data_dir(out: str, size: int, seed: int) -> str:
    """The folder of the synthetic sets of `size` px crops and `seed` under `--out`: shared
    by every run of that size and seed (the phone study trains each preset on the same sets)."""
    return os.path.join(out, "data", f"{size}px-s{seed}")


def main(argv=None) -> int:
    args = parse_args(argv)
    started = time.monotonic()

    import numpy as np
    from _common import Progress

    from hiu_tf.config import config_to_dict
    from training import demo
    from training.kit import datasets, learning

    config = resolve_config(args)
    name = args.name or config.name
    out = os.path.join(args.out, name)
    os.makedirs(out, exist_ok=True)
    size = config.model.input_size
    synth = datasets.synth_options(datasets.DEMO_SYNTH + tuple(args.synth or ()))
    train_samples = args.train_samples or demo.DEFAULT_TRAIN_SAMPLES
    heldout_samples = args.heldout_samples or demo.DEFAULT_HELDOUT_SAMPLES

    print(f"data: {train_samples} training and {heldout_samples} held-out samples at {size} px")
    data = datasets.make_datasets(
        data_dir(args.out, size, args.seed),
        size=size,
        seed=args.seed,
        train_samples=train_samples,
        heldout_samples=heldout_samples,
        hand_model=config.model.hand_model,
        synth=synth,
        family_samples=args.family_samples,
        echo=print,
    )
    data_seconds = time.monotonic() - started
    config = datasets.with_training_set(config, data["train"])
    steps = args.steps
    print(
        f"training {config.name}: {config.model.num_stacks} stacks of width "
        f"{config.model.width} at {size} px, batch {config.data.batch_size}, "
        f"{steps[-1]} steps; held-out evaluation at {', '.join(map(str, steps))}"
    )
    progress = Progress(steps[-1] // math.gcd(*steps))
    progress.show(f"training {steps[-1]} steps")
    rows = learning.learning_curve(
        config,
        data["heldout"],
        steps,
        os.path.join(out, "run"),
        final_sets={"family": data["family"]} if "family" in data else None,
        on_epoch=lambda step, loss: progress.step(f"step {step}, loss {loss:.4g}"),
    )
    total = time.monotonic() - started

    title = f"{name}: held-out learning curves ({heldout_samples} crops of {size} px)"
    print()
    print(title)
    for line in learning.curve_table_lines(rows):
        print(line)
    if "sets" in rows[-1]:
        print(
            f"\nthe model of step {rows[-1]['step']} on the held-out set and on "
            f"{args.family_samples} new crops of the training set's kind (family: its "
            "procedural backgrounds); a gap is what the backgrounds cost:"
        )
        for line in learning.sets_table_lines({"held-out": rows[-1], **rows[-1]["sets"]}):
            print(line)
    print(
        f"wall time: {total / 60:.1f} min in all ({data_seconds:.0f} s data, "
        f"{rows[-1]['wall_s']:.0f} s training and evaluation); {os.cpu_count()} CPUs, "
        f"{platform.processor() or platform.machine()}"
    )
    results = {
        "name": name,
        "command": "python benchmarks/bench_learning.py " + " ".join(argv or sys.argv[1:]),
        "date": datetime.datetime.now().isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "wall_seconds": {"total": total, "data": data_seconds},
        "train_samples": train_samples,
        "heldout_samples": heldout_samples,
        "family_samples": args.family_samples,
        "synth": synth,
        "rows": rows,
        "config": config_to_dict(config),
    }
    status = 0
    if args.targets:
        checked = learning.check_targets(
            rows[-1], rows[0], learning.TARGET_SETS[args.targets], size
        )
        print(f"targets ({args.targets}) at step {rows[-1]['step']}:")
        for line in learning.target_lines(checked):
            print(line)
        results["targets"] = {
            r.target.key: {"value": r.value, "limit": r.limit, "met": r.met} for r in checked
        }
    found = learning.regressions(rows)
    if found:
        print("held-out metrics that got worse with training:")
        for line in found:
            print("  " + line)
        if args.fail_on_regression:
            status = 1
    results["regressions"] = found
    with open(os.path.join(out, "results.json"), "w") as f:
        json.dump(results, f, indent=2, default=lambda v: np.asarray(v).tolist())
    figure = learning.plot_learning_curves(
        [(rows, name, size)], os.path.join(out, "learning_curves.png"), title
    )
    print(f"wrote {figure}")
    return status


if __name__ == "__main__":
    sys.exit(main())
