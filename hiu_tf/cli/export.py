"""`python -m hiu_tf export {saved-model,tflite}`: export a run for serving or for phones.

    python -m hiu_tf export saved-model --run runs/NAME --out exports/hiu/1 [--no-mesh]
    python -m hiu_tf export tflite --run runs/NAME --quant int8 --out hiu.tflite [--data SPEC]

See docs/export.md for the signatures, outputs and request formats.
"""

from __future__ import annotations

import argparse

from hiu_tf.errors import UserError


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="format", metavar="FORMAT", required=True)
    sm = sub.add_parser(
        "saved-model",
        help="SavedModel for TF Serving (serving_default + serving_bytes, warm-up requests)",
    )
    sm.add_argument("--run", required=True, help="run folder (config.yaml + model.keras)")
    sm.add_argument(
        "--out",
        required=True,
        help="version folder (exports/hiu/1) or model base folder (adds export.version)",
    )
    sm.add_argument(
        "--no-mesh",
        action="store_true",
        help="leave the hand model out (MANO licence): parameters only, no vertices",
    )
    sm.add_argument("--version", type=int, help="version for a base folder (default: config)")
    sm.add_argument("--model-name", help="model name in the warm-up requests")
    sm.add_argument("--no-warmup", action="store_true", help="write no warm-up requests")
    sm.add_argument("--force", action="store_true", help="replace an existing version folder")
    sm.add_argument("--set", action="append", default=[], help="config override (export.*)")

    tl = sub.add_parser("tflite", help="TFLite flatbuffer (fp32, fp16, dynamic, int8)")
    tl.add_argument("--run", required=True, help="run folder (config.yaml + model.keras)")
    tl.add_argument("--out", required=True, help="output .tflite file (+ FILE.json)")
    tl.add_argument(
        "--quant",
        choices=("none", "fp16", "dynamic", "int8"),
        help="quantisation (default: the config's export.quantization)",
    )
    tl.add_argument(
        "--data",
        help="representative data for int8: TFRecords or images (folder/glob/file; "
        "unreadable images are skipped and counted) or 'config' (the run's data config); "
        "default: synthetic hands made in memory",
    )
    tl.add_argument("--samples", type=int, help="representative images (default: config)")
    tl.add_argument("--no-mesh", action="store_true", help="leave the hand model out")
    tl.add_argument("--force", action="store_true", help="replace an existing file")
    tl.add_argument("--set", action="append", default=[], help="config override (export.*)")


def _load(args):
    from hiu_tf.config import apply_overrides
    from hiu_tf.runs import load_run

    config, model = load_run(args.run)
    for item in args.set:
        if not item.strip().startswith("export."):
            raise UserError(f"--set may only change export.* here. Received: {item!r}")
    if args.set:
        config = apply_overrides(config, args.set)
    return config, model


def run(args: argparse.Namespace) -> int:
    config, model = _load(args)
    if args.format == "saved-model":
        from export.saved_model import export_saved_model

        path = export_saved_model(
            config,
            model,
            args.out,
            mesh=not args.no_mesh,
            version=args.version,
            model_name=args.model_name,
            warmup=not args.no_warmup,
            overwrite=args.force,
        )
        print(f"wrote SavedModel {path}")
        return 0
    import os

    from export.tflite import export_tflite

    if os.path.exists(args.out) and not args.force:
        raise UserError(f"{args.out} exists; pass --force to replace it")
    if args.samples is not None and args.samples < 1:
        raise UserError(f"--samples must be >= 1. Received: --samples {args.samples}")
    quant = args.quant or config.export.quantization
    info = export_tflite(
        config,
        model,
        args.out,
        quant,
        mesh=not args.no_mesh,
        data=args.data,
        samples=args.samples,
    )
    print(f"wrote {args.out} ({quant}, {info['bytes'] / 2**20:.2f} MB) and {args.out}.json")
    return 0
