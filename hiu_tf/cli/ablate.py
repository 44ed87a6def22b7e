"""`python -m hiu_tf ablate --study {stacks,tam,tasks,mobile,ssl,all}`: the paper's ablations.

    python -m hiu_tf ablate --study tam                 # 3 seeds, the study's budget
    python -m hiu_tf ablate --study all --scale 4       # every study, 4x the steps (a GPU)
    python -m hiu_tf ablate --study tasks --steps 300 --only heatmap,heatmap+mask+pof
    python -m hiu_tf ablate --study ssl --fractions 0.02,0.1,0.3,1   # add a 2 % row

Trains every variant of the study for the same number of steps with the same
seeds on one synthetic training set, evaluates each on a held-out synthetic
set (other seed, other backgrounds), prints the table in the paper's layout
(mean ± standard deviation over seeds) with the verdict on each of the paper's
claims, and writes `results.json`, `results.md` and `curves.png` into `--out`
(default `runs/ablate-STUDY`; with `--study all`, one folder per study under
`--out`, default `runs`). Repeating the command skips finished runs.
See `training.kit.studies` for the studies and budgets, `training.kit.results`
for the columns and verdicts.
"""

from __future__ import annotations

import argparse
import os

from hiu_tf.cli.config_args import add_config_arguments, add_synthetic_set_arguments


def configure(parser: argparse.ArgumentParser) -> None:
    from training.ablate import DEFAULT_HELDOUT_SAMPLES, DEFAULT_SEEDS, DEFAULT_TRAIN_SAMPLES
    from training.kit.studies import ABLATE_CONFIG, STUDIES, STUDY_STEPS

    parser.add_argument(
        "--study", required=True, choices=(*STUDIES, "all"), help="which ablation (all: each)"
    )
    budgets = ", ".join(f"{k} {v}" for k, v in STUDY_STEPS.items())
    parser.add_argument(
        "--scale",
        type=float,
        default=1.0,
        help=f"multiplies the study's training steps per run ({budgets}); default 1",
    )
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps per run (overrides the budget)"
    )
    parser.add_argument(
        "--budget-minutes",
        type=float,
        default=None,
        help="training minutes per run instead, converted once into steps from a measured "
        "step time",
    )
    parser.add_argument(
        "--seeds",
        type=int,
        default=DEFAULT_SEEDS,
        help=f"seeds per variant (default {DEFAULT_SEEDS})",
    )
    parser.add_argument(
        "--out",
        default=None,
        help="output folder (default: runs/ablate-STUDY; with --study all, the folder of "
        "the studies' folders, default runs)",
    )
    parser.add_argument(
        "--only", default="", help="comma-separated variant names to run (default: all)"
    )
    parser.add_argument(
        "--fractions",
        default=None,
        help="ssl study: comma-separated labelled fractions in (0, 1] besides the "
        "untrained 0 %% row (default 0.1,0.3,1); runs of other fractions in --out are kept",
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
    parser.add_argument("--quiet", action="store_true", help="no training-loss messages")
    # Testing options.
    parser.add_argument("--hand-model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-eagerly", action="store_true", help=argparse.SUPPRESS)


def run(args: argparse.Namespace) -> int:
    from hiu_tf.errors import UserError
    from training.kit.studies import STUDIES, variants

    studies = STUDIES if args.study == "all" else (args.study,)
    fractions = _fractions(args.fractions, args.study)
    if args.list:
        for study in studies:
            for v in variants(study, fractions if study == "ssl" else None):
                print(f"{study:<8} {v.slug:<24} {v.name}")
        return 0
    if args.study == "all" and args.only:
        raise UserError("--only names variants of one study: pass --study STUDY with it")
    for flag in ("train_samples", "heldout_samples"):
        value = getattr(args, flag)
        if value < 1:
            name = "--" + flag.replace("_", "-")
            raise UserError(f"{name} must be >= 1. Received: {name}={value}")
    only = tuple(s.strip() for s in args.only.split(",") if s.strip())
    for study in studies:
        if args.study == "all":
            out = os.path.join(args.out or "runs", f"ablate-{study}")
        else:
            out = args.out or os.path.join("runs", f"ablate-{study}")
        _run_study(args, study, out, only, fractions if study == "ssl" else None)
    return 0


def _fractions(text: str | None, study: str) -> tuple[float, ...] | None:
    """`--fractions` as numbers (checked by `training.kit.studies.ssl_fractions`)."""
    from hiu_tf.errors import UserError
    from training.kit import ExperimentError
    from training.kit.studies import ssl_fractions

    if text is None:
        return None
    if study not in ("ssl", "all"):
        raise UserError(
            f"--fractions is an option of the ssl study. Received: --study={study} --fractions"
        )
    try:
        found = tuple(float(t) for t in text.split(",") if t.strip())
    except ValueError:
        raise UserError(
            f"--fractions takes comma-separated numbers, e.g. 0.02,0.1. Received: {text!r}"
        ) from None
    if not found:
        raise UserError("--fractions names no fraction. Received: --fractions=''")
    try:
        ssl_fractions(found)
    except ExperimentError as e:
        raise UserError(f"--fractions: {e}") from None
    return found


def _run_study(
    args: argparse.Namespace,
    study: str,
    out: str,
    only: tuple[str, ...],
    fractions: tuple[float, ...] | None,
) -> None:
    import time

    from training.ablate import run_ablation

    start = time.monotonic()
    result = run_ablation(
        study,
        out,
        seeds=args.seeds,
        steps=args.steps,
        scale=args.scale,
        budget_minutes=args.budget_minutes,
        only=only,
        fractions=fractions,
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
    minutes = (time.monotonic() - start) / 60.0
    print(f"{study}: {minutes:.1f} min in this sitting; wrote {os.path.join(out, 'results.md')}")
