"""`python -m hiu_tf demo [--out outputs/demo] [--minutes 8] [--seed 0]`: the whole system, end to end.

Generates synthetic training and held-out sets with the open hand model,
trains the `training/configs/demo.yaml` model for `--minutes` of wall-clock
time, evaluates the trained and the untrained model on the held-out set,
exports TFLite, runs the TFLite predictor on held-out images and writes a
report folder. Stage headers, counts and Keras progress bars show progress;
the last line printed is the path of the report's `index.html`.
See `training.demo` for the stages and the report's files.
"""

from __future__ import annotations

import argparse
import os

from hiu_tf.cli.config_args import add_config_arguments, add_synthetic_set_arguments


def configure(parser: argparse.ArgumentParser) -> None:
    from training.demo import (
        DEFAULT_HELDOUT_SAMPLES,
        DEFAULT_MINUTES,
        DEFAULT_PREDICT_IMAGES,
        DEFAULT_TRAIN_SAMPLES,
        DEMO_CONFIG,
    )

    parser.add_argument(
        "--out",
        default=os.path.join("outputs", "demo"),
        help="report folder (default: outputs/demo)",
    )
    parser.add_argument(
        "--minutes",
        type=float,
        default=DEFAULT_MINUTES,
        help=f"training budget in wall-clock minutes (default {DEFAULT_MINUTES:g}; data, "
        "evaluation, export and the report take their own time on top)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of data and model (default 0)")
    parser.add_argument(
        "--quant",
        choices=("none", "fp16", "dynamic", "int8"),
        default="none",
        help="TFLite quantisation (default none: float32)",
    )
    add_config_arguments(
        parser,
        example="data.batch_size=32",
        preset=False,
        config_default=DEMO_CONFIG,
        config_help="experiment YAML (default training/configs/demo.yaml)",
    )
    add_synthetic_set_arguments(parser, DEFAULT_TRAIN_SAMPLES, DEFAULT_HELDOUT_SAMPLES)
    parser.add_argument(
        "--predict-images",
        type=int,
        default=DEFAULT_PREDICT_IMAGES,
        help=f"held-out images run through the TFLite predictor (default {DEFAULT_PREDICT_IMAGES})",
    )
    parser.add_argument(
        "--synth",
        action="append",
        default=None,
        metavar="KEY=VALUE",
        help="synthetic generator option (a SynthConfig field) for both sets, repeatable, "
        "over the demo's (training.kit.datasets.DEMO_SYNTH), e.g. --synth occluder_rate=0.25",
    )
    # Testing options: a tiny hand model, eager training, fewer pictures.
    parser.add_argument("--hand-model", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--warmup-steps", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--run-eagerly", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--no-hand-pictures", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--quiet", action="store_true", help="no Keras progress bars")


def run(args: argparse.Namespace) -> int:
    from training.demo import DemoOptions, run_demo
    from training.kit.datasets import DEMO_SYNTH

    options = DemoOptions(
        out=args.out,
        minutes=args.minutes,
        seed=args.seed,
        config=args.config,
        overrides=tuple(args.overrides),
        train_samples=args.train_samples,
        heldout_samples=args.heldout_samples,
        predict_images=args.predict_images,
        quant=args.quant,
        warmup_steps=args.warmup_steps,
        hand_model=args.hand_model,
        run_eagerly=args.run_eagerly,
        verbose=0 if args.quiet else 1,
        hand_pictures=not args.no_hand_pictures,
        synth=DEMO_SYNTH + tuple(args.synth or ()),
    )
    result = run_demo(options, echo=lambda line: print(line, flush=True))
    print(result.report)
    return 0
