"""`python -m hiu_tf train`: train a model with `model.fit` into a run folder.

    python -m hiu_tf train --config training/configs/tiny.yaml --out-dir runs/tiny
    python -m hiu_tf train --preset tiny --set train.mixed_precision=mixed_bfloat16 \\
        --out-dir runs/tiny-bf16 --epochs 3 --steps-per-epoch 50

The config is resolved as everywhere: `--preset`, then the `--config` YAML, then
`--set`. The run folder (`hiu_tf.runs`) gets `config.yaml` first, then per-epoch
checkpoints, `model.keras`, `history.csv`, TensorBoard logs and the backup that a
re-run resumes from (`--no-resume` starts afresh). See `training.train`.
"""

from __future__ import annotations

import argparse
import os

from hiu_tf.cli.config_args import add_config_arguments, resolve_config
from hiu_tf.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, example="train.learning_rate=1e-3")
    parser.add_argument(
        "--out-dir", help="the run folder (default: runs/<config name>); created if needed"
    )
    parser.add_argument("--epochs", type=int, help="override train.epochs")
    parser.add_argument("--steps-per-epoch", type=int, help="override train.steps_per_epoch")
    parser.add_argument(
        "--no-resume",
        action="store_true",
        help="start afresh: delete the run folder's backup, checkpoints, logs and history",
    )
    parser.add_argument(
        "--synthetic-samples",
        type=int,
        default=None,
        help="samples generated for a 'synthetic' source without a path (default 1024)",
    )
    parser.add_argument(
        "--run-eagerly", action="store_true", help="run the train step eagerly (debugging)"
    )
    parser.add_argument(
        "--fit-verbose",
        type=int,
        choices=(0, 1, 2),
        default=None,
        help="Keras verbosity: 0 silent, 1 progress bar, 2 one line per epoch (default: auto)",
    )


def run(args: argparse.Namespace) -> int:
    for flag in ("epochs", "steps_per_epoch", "synthetic_samples"):
        value = getattr(args, flag)
        if value is not None and value < 1:
            name = "--" + flag.replace("_", "-")
            raise UserError(f"{name} must be >= 1. Received: {name}={value}")
    cfg = resolve_config(args)
    out_dir = args.out_dir or os.path.join("runs", cfg.name)

    from training.train import DEFAULT_SYNTHETIC_SAMPLES, train

    result = train(
        cfg,
        out_dir,
        resume=not args.no_resume,
        epochs=args.epochs,
        steps_per_epoch=args.steps_per_epoch,
        synthetic_samples=args.synthetic_samples or DEFAULT_SYNTHETIC_SAMPLES,
        run_eagerly=args.run_eagerly,
        verbose="auto" if args.fit_verbose is None else args.fit_verbose,
    )
    epochs = result.config.train.epochs
    done = len(result.history.get("loss", []))
    if result.initial_epoch:
        print(f"resumed after epoch {result.initial_epoch}")
    if done:
        print(
            f"trained epochs {result.initial_epoch + 1}-{result.initial_epoch + done} of {epochs}"
        )
        print(f"final loss {result.history['loss'][-1]:.4f}")
    else:
        print(f"nothing to do: all {epochs} epochs are finished (raise --epochs to go on)")
    print(f"run folder {result.paths.root}")
    return 0
