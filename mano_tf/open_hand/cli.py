"""The command line `python -m mano_tf.open_hand [--out PATH] [--check]`: regenerates the asset.

It prints the model's summary and the digest of its arrays, then writes the
`.npz` (by default over the committed asset); with `--check` it writes
nothing and compares the regenerated arrays with the committed asset's (exit
status 1 when they differ).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import time

from mano_tf.hand_model import load_hand_model
from mano_tf.open_hand.asset import asset_path
from mano_tf.open_hand.generate import arrays_digest, generate_hand_model, save_compact_npz


def main(argv: list[str] | None = None) -> int:
    """`python -m mano_tf.open_hand [--out PATH]`: regenerates the asset, prints a summary."""
    parser = argparse.ArgumentParser(
        prog="python -m mano_tf.open_hand",
        description="Regenerate the open hand model (open-hand-v1, not MANO).",
    )
    parser.add_argument("--out", default=None, help=f"output .npz (default: {asset_path()})")
    parser.add_argument(
        "--check",
        action="store_true",
        help="do not write: compare the regenerated arrays with the committed asset",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    start = time.perf_counter()
    model = generate_hand_model()
    seconds = time.perf_counter() - start
    summary = model.summary()
    summary["generation_s"] = round(seconds, 1)
    summary["arrays_sha256"] = arrays_digest(model)
    width = max(len(k) for k in summary)
    for key, value in summary.items():
        print(f"{key:<{width}}  {json.dumps(value)}")
    if args.check:
        same = arrays_digest(load_hand_model(asset_path())) == summary["arrays_sha256"]
        print("identical to the committed asset" if same else "DIFFERS from the committed asset")
        return 0 if same else 1
    out = args.out or asset_path()
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    save_compact_npz(model, out)
    print(f"wrote {out} ({os.path.getsize(out) / 1024:.0f} KiB)")
    return 0
