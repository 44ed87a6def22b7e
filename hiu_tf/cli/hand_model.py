"""`python -m hiu_tf hand-model {info,convert}`: inspect and convert hand model files."""

from __future__ import annotations

import argparse
import json
import os

from hiu_tf.errors import UserError
from mano_tf.hand_model import resolve_hand_model


def configure(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    info = sub.add_parser("info", help="print sizes and metadata of a hand model file")
    info.add_argument(
        "path", help="MANO_RIGHT.pkl, MANO_LEFT.pkl, a .npz, or 'open:right'/'open:left'"
    )
    info.add_argument("--json", action="store_true", help="print JSON instead of text")
    convert = sub.add_parser("convert", help="convert a MANO pickle to the project's .npz")
    convert.add_argument("src", help="MANO_RIGHT.pkl or MANO_LEFT.pkl")
    convert.add_argument("dst", help="output .npz path (licensed: keep it out of git)")
    convert.add_argument("--force", action="store_true", help="overwrite an existing output")


def run(args: argparse.Namespace) -> int:
    if args.action == "info":
        summary = resolve_hand_model(args.path).summary()
        if args.json:
            print(json.dumps(summary, indent=2))
        else:
            width = max(len(k) for k in summary)
            for key, value in summary.items():
                print(f"{key:<{width}}  {value}")
        return 0
    if os.path.exists(args.dst) and not args.force:
        raise UserError(f"{args.dst} exists; pass --force to overwrite it")
    model = resolve_hand_model(args.src)
    model.save_npz(args.dst)
    print(
        f"wrote {args.dst} ({model.num_vertices} vertices, {model.num_faces} faces, {model.side})"
    )
    return 0
