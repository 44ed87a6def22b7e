"""`python -m hiu_tf model-info`: parameters, FLOPs and output shapes of a model config.

    python -m hiu_tf model-info --preset paper-4stack
    python -m hiu_tf model-info --preset mobile --set model.render_mask=false
    python -m hiu_tf model-info --config my.yaml --set model.num_stacks=2 --json

The config is resolved as everywhere: preset, then `--config` YAML, then `--set`.
FLOPs come from TensorFlow's profiler on the traced graph (nothing is run) and
count a multiply-add as 2 FLOPs; see `hiu_tf.model_stats`.
"""

from __future__ import annotations

import argparse
import json

from hiu_tf.cli.config_args import add_config_arguments, resolve_config


def configure(parser: argparse.ArgumentParser) -> None:
    add_config_arguments(parser, example="model.num_stacks=2")
    parser.add_argument("--batch-size", type=int, default=1, help="batch size (default 1)")
    parser.add_argument("--no-flops", action="store_true", help="skip FLOP counting")
    parser.add_argument("--json", action="store_true", help="print JSON instead of text")


def _giga(value: int) -> str:
    return f"{value / 1e9:.3f} G"


def run(args: argparse.Namespace) -> int:
    from hiu_tf.errors import UserError

    if args.batch_size < 1:
        raise UserError(f"--batch-size must be >= 1. Received: --batch-size={args.batch_size}")
    cfg = resolve_config(args)

    from hiu_tf.model import build_model
    from hiu_tf.model_stats import describe

    size = cfg.model.input_size
    shape = (args.batch_size, size, size, 3)
    model = build_model(cfg.model, batch_size=args.batch_size)
    info = describe(model, shape, flops=not args.no_flops)
    info = {"name": cfg.name, **info}
    if args.json:
        print(json.dumps(info, indent=2))
        return 0
    params = info["params"]
    print(f"config       {cfg.name}")
    print(f"input        {list(shape)}  (float RGB in [0, 1])")
    print(
        f"parameters   {params['trainable']:,} trainable, {params['non_trainable']:,} "
        f"non-trainable (+ {params['hand_model']:,} hand-model constants)"
    )
    if info["flops"] is not None:
        print(f"FLOPs        {_giga(info['flops'])}  (multiply-add = 2 FLOPs, batch {shape[0]})")
        width = max(len(k) for k in info["flops_by_layer"])
        for name, flops in info["flops_by_layer"].items():
            print(f"  {name:<{width}}  {_giga(flops)}")
    print("outputs")
    width = max(len(k) for k in info["outputs"])
    for name, out_shape in info["outputs"].items():
        print(f"  {name:<{width}}  {list(out_shape)}")
    return 0
