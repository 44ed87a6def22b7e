"""`python -m hiu_tf ablate --study {stacks,tam,tasks,ssl}`: the paper's ablations at small scale.

    python -m hiu_tf ablate --study tam --budget-minutes 2 --seeds 2 --out runs/ablate-tam
    python -m hiu_tf ablate --study tasks --steps 300 --only heatmap,heatmap+mask+pof

Trains every variant of the study for the same number of steps with the same
seeds on one synthetic training set, evaluates each on a held-out synthetic
set (other seed, other backgrounds), prints the table in the paper's layout
(mean ± standard deviation over seeds) and writes `results.json` and
`results.md` into `--out`. Repeating the command skips finished runs.
See `training.kit.studies` for the studies and `training.kit.results` for the columns.
"""

from __future__ import annotations

import argparse
import os

from hiu_tf.cli.config_args import add_config_arguments, add_synthetic_set_arguments


def configure(parser: argparse.ArgumentParser) -> None:
    from training.ablate import (
        DEFAULT_BUDGET_MINUTES,
        DEFAULT_HELDOUT_SAMPLES,
        DEFAULT_SEEDS,
        DEFAULT_TRAIN_SAMPLES,
    )
    from training.kit.studies import ABLATE_CONFIG, STUDIES

    parser.add_argument("--study", required=True, choices=STUDIES, help="which ablation")
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=DEFAULT_BUDGET_MINUTES,
        help="training minutes per run, converted once into steps from a measured step "
        f"time (default {DEFAULT_BUDGET_MINUTES:g})",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps per run (overrides the budget)"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"seeds per variant (default {DEFAULT_SEEDS})",
    )
    parser.add_argument("--out", default=None, help="output folder (default: runs/ablate-STUDY)")
    parser.add_argument(
        "--only", default="", help="comma-separated variant names to run (default: all)"
    )
    add_config_arguments(
        parser,
        example="model.width=24",
        preset=False,
        config_default=ABLATE_CONFIG,
        config_help="base YAML (default training/configs/ablate.yaml)",
    )
    add_synthetic_set_arguments(parser, DEFAULT_TRAIN_SAMPLES, DEFAULT_HELDOUT_SAMPLES)
    parser.add_argument("--list", action="store_true", help="list the study's variants and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    # Testing options.
    parser.add_argument("--hand-model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-eagerly", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from hiu_tf.errors import UserError
    from training.ablate import run_ablation
    from training.kit.studies import variants

    if args.list:
        for v in variants(args.study):
            print(f"{v.slug:<24} {v.name}")
        return 0
    for flag in ("train_samples", "heldout_samples"):
        value = getattr(args, flag)
        if value < 1:
            name = "--" + flag.replace("_", "-")
            raise UserError(f"{name} must be >= 1. Received: {name}={value}")
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    result = run_ablation(
        args.study,
        args.out or os.path.join("runs", f"ablate-{args.study}"),
        seeds=args.seeds,
        steps=args.steps,
        budget_minutes=args.budget_minutes,
        only=only,
        config_path=args.config,
        overrides=tuple(args.overrides),
        train_samples=args.train_samples,
        heldout_samples=args.heldout_samples,
        hand_model=args.hand_model,
        run_eagerly=args.run_eagerly,
        verbose=0 if args.quiet else 1,
        echo=lambda line: print(line, flush=True),
    )
    print(result["text"])
    out = args.out or os.path.join("runs", f"ablate-{args.study}")
    print(f"wrote {os.path.join(out, 'results.json')} and {os.path.join(out, 'results.md')}")
    return 0
