"""Training throughput of a preset: float32 vs mixed precision, XLA off vs on, in one table.

Usage (from the repository root):

    python benchmarks/bench_train.py --preset tiny                    # on a CPU
    python benchmarks/bench_train.py --preset paper-4stack --batch-size 32 --steps 50
    python benchmarks/bench_train.py --preset mobile --mixed-precision mixed_float16 --jit both
    python benchmarks/bench_train.py --config training/configs/demo.yaml --metrics both
    python benchmarks/bench_train.py --metrics both --rounds 5        # the cost of train.metrics

Each row builds the preset's `HIUModel` under one dtype policy, compiles it as
`training.train` does (AdamW with the warm-up + cosine schedule, global norm
clipping, `hiu_tf.losses.total_loss` with the preset's weights, `jit_compile`
on or off) and runs `model.fit` on one fixed batch of random images with
Gaussian heat-map, POF and mask targets (every label flag on, so every loss term
runs; random MANO parameters, so the direct mesh terms run too). `first` is the time of the first `--warmup` steps (tracing, XLA
compilation and the first steps); `steps/s` and `images/s` are measured over
`--steps` further steps. On a GPU the default comparison is float32 vs
"mixed_float16", on a CPU float32 vs "mixed_bfloat16" (float16 arithmetic is
emulated on most CPUs). Input-pipeline cost is excluded (see
`benchmarks/bench_data.py`).

`--metrics` compiles the streaming metrics of `train.metrics`
(`hiu_tf.metrics.fit_metrics`) in ("on", as `training.train` by default), leaves
them out ("off"), or times both models of each row ("both"). `--rounds` times
each model that many times, `--steps` steps a round, taking turns between the
models of a row, and reports the median round, so that both see the same spells
of a noisy machine; "both" then prints the ratio of their step times.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time

PRECISIONS = ("none", "mixed_float16", "mixed_bfloat16")


def _device(tf) -> str:
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return f"GPU: {details.get('device_name', gpus[0].name)} (x{len(gpus)})"
    return f"CPU: {platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def _batch(tf, np, size: int, heatmap_size: int, batch_size: int, seed: int = 0):
    """A fixed batch `(images, labels)` with random keypoints, joints and masks."""
    from hiu_tf import targets

    rng = np.random.default_rng(seed)
    b = batch_size
    joints = rng.uniform([-0.06, -0.06, 0.45], [0.06, 0.06, 0.55], (b, 21, 3)).astype("float32")
    focal = 2.0 * size
    keypoints = joints[..., :2] / joints[..., 2:] * focal + size / 2
    yy, xx = np.mgrid[0:size, 0:size] + 0.5
    centre = keypoints.mean(axis=1)
    mask = ((xx - centre[:, None, None, 0]) ** 2 + (yy - centre[:, None, None, 1]) ** 2) < (
        size / 4
    ) ** 2
    ones = np.ones(b, "float32")
    sample = {
        "image": rng.uniform(0, 1, (b, size, size, 3)).astype("float32"),
        "keypoints_px": keypoints.astype("float32"),
        "keypoint_visible": np.ones((b, 21), "float32"),
        "joints_cam": joints,
        "mask": mask.astype("float32"),
        "has_2d": ones,
        "has_3d": ones,
        "has_mask": ones,
        "intrinsics": np.tile(
            np.array([[focal, 0, size / 2], [0, focal, size / 2], [0, 0, 1]], "float32"), (b, 1, 1)
        ),
        "mano_pose": rng.normal(0, 0.3, (b, 48)).astype("float32"),
        "mano_betas": rng.normal(0, 1, (b, 10)).astype("float32"),
        "has_mano": ones,
    }
    batch = targets.make_targets(
        {k: tf.constant(v) for k, v in sample.items()}, heatmap_size=heatmap_size
    )
    # The full-resolution mask stays a label, as in hiu_tf.data.pipeline: the
    # refiner's `mask_fine` term reads it.
    labels = {k: v for k, v in batch.items() if k != "image"}
    return batch["image"], labels


def _model(config, precision: str, jit: bool, metrics: bool, args):
    from hiu_tf.metrics import fit_metrics
    from hiu_tf.model import HIUModel
    from training.train import dtype_policy, make_optimizer

    size = config.model.input_size
    model = HIUModel(config.model, dtype=dtype_policy(precision))
    model.build((None, size, size, 3))
    model.compile(
        optimizer=make_optimizer(config.train, total_steps=args.warmup + args.steps * args.rounds),
        loss_config=config.loss,
        task_metrics=fit_metrics(config.model) if metrics else (),
        jit_compile=jit,
    )
    return model


def _measure(config, precision: str, jit: bool, metrics: list[bool], data, args) -> list[dict]:
    """One result per entry of `metrics`; the models' timed rounds take turns."""
    import keras
    import tensorflow as tf

    keras.backend.clear_session()
    dataset = tf.data.Dataset.from_tensors(data).repeat()
    models, firsts = [], []
    for on in metrics:
        keras.utils.set_random_seed(0)
        model = _model(config, precision, jit, on, args)
        start = time.perf_counter()
        model.fit(dataset, epochs=1, steps_per_epoch=args.warmup, verbose=0)
        firsts.append(time.perf_counter() - start)
        models.append(model)
    seconds: list[list[float]] = [[] for _ in models]
    losses = [float("nan")] * len(models)
    for _ in range(args.rounds):
        for i, model in enumerate(models):
            start = time.perf_counter()
            history = model.fit(dataset, epochs=1, steps_per_epoch=args.steps, verbose=0)
            seconds[i].append(time.perf_counter() - start)
            losses[i] = float(history.history["loss"][-1])
    results = []
    for first, times, loss in zip(firsts, seconds, losses, strict=True):
        median = statistics.median(times)
        results.append(
            {
                "first": first,
                "steps_per_s": args.steps / median,
                "images_per_s": args.steps * args.batch_size / median,
                "ms_per_step": 1000.0 * median / args.steps,
                "loss": loss,
            }
        )
    return results


def main(argv: list[str] | None = None) -> int:
    from hiu_tf.cli.config_args import add_config_arguments, resolve_config

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    add_config_arguments(parser, example="model.input_size=128")
    parser.add_argument("--batch-size", type=int, default=8, help="global batch size")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="untimed first steps per row")
    parser.add_argument(
        "--mixed-precision",
        choices=PRECISIONS,
        default=None,
        help="the mixed policy compared with float32 ('none' = float32 only; default: "
        "mixed_float16 on a GPU, mixed_bfloat16 on a CPU)",
    )
    parser.add_argument(
        "--jit", choices=("both", "on", "off"), default="both", help="XLA rows (default both)"
    )
    parser.add_argument(
        "--metrics",
        choices=("on", "off", "both"),
        default="on",
        help="compile train.metrics' streaming metrics in (default on, as training.train)",
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="timed rounds per model, median reported"
    )
    parser.add_argument(
        "--hand-model", help="override model.hand_model (a MANO .pkl / .npz, or open:right)"
    )
    args = parser.parse_args(argv)
    if args.preset is None and args.config is None:
        args.preset = "tiny"  # the default model: small enough for a CPU
    for name in ("batch_size", "steps", "warmup", "rounds"):
        if getattr(args, name) < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1")

    import numpy as np
    import tensorflow as tf

    if args.hand_model:
        args.overrides.append(f"model.hand_model={args.hand_model}")
    config = resolve_config(args)
    gpu = bool(tf.config.list_physical_devices("GPU"))
    mixed = args.mixed_precision or ("mixed_float16" if gpu else "mixed_bfloat16")
    precisions = ["none"] + ([mixed] if mixed != "none" else [])
    jits = {"both": [False, True], "on": [True], "off": [False]}[args.jit]
    metric_rows = {"both": [False, True], "on": [True], "off": [False]}[args.metrics]
    data = _batch(tf, np, config.model.input_size, config.model.heatmap_size, args.batch_size)
    rows = []
    combos = [(p, j) for p in precisions for j in jits]
    for i, (precision, jit) in enumerate(combos, start=1):
        label = f"{'float32' if precision == 'none' else precision}, XLA {'on' if jit else 'off'}"
        sys.stderr.write(f"[{i}/{len(combos)}] {label} ...\n")
        sys.stderr.flush()
        results = _measure(config, precision, jit, metric_rows, data, args)
        rows.extend((precision, jit, on, r) for on, r in zip(metric_rows, results, strict=True))

    m = config.model
    print(f"device      {_device(tf)}")
    print(
        f"preset      {config.name}: {m.num_stacks} stacks x width {m.width}, "
        f"{m.input_size}x{m.input_size} input, tasks {'/'.join(m.tasks)}, "
        f"mesh head {'on' if m.mesh_head else 'off'}, renderer {'on' if m.render_mask else 'off'}"
    )
    print(
        f"batch       {args.batch_size}; {args.rounds} x {args.steps} timed steps after "
        f"{args.warmup} warm-up (median round)"
    )
    print()
    header = (
        f"{'precision':<15} {'XLA':<4} {'metrics':<8} {'first (s)':>10} {'steps/s':>9} "
        f"{'images/s':>9} {'ms/step':>9} {'vs f32':>7} {'loss':>9}"
    )
    print(header)
    print("-" * len(header))
    base = next((r for p, j, _, r in rows if p == "none" and not j), rows[0][3])
    for precision, jit, on, r in rows:
        name = "float32" if precision == "none" else precision
        print(
            f"{name:<15} {'on' if jit else 'off':<4} {'on' if on else 'off':<8} "
            f"{r['first']:>10.1f} {r['steps_per_s']:>9.2f} {r['images_per_s']:>9.1f} "
            f"{r['ms_per_step']:>9.1f} {r['steps_per_s'] / base['steps_per_s']:>6.2f}x "
            f"{r['loss']:>9.3f}"
        )
    if args.metrics == "both":
        print()
        for precision, jit in combos:
            off, on = (r for p, j, _, r in rows if p == precision and j == jit)
            name = "float32" if precision == "none" else precision
            print(
                f"metrics on / off, {name}, XLA {'on' if jit else 'off'}: "
                f"{on['ms_per_step'] / off['ms_per_step']:.3f}x the step time"
            )
    return 0


if __name__ == "__main__":
    sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    sys.exit(main())
