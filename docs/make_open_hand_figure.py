"""Draws docs/open_hand.png: the open hand model (right) at rest, in a fist, pointing and "OK".

Usage (from the repository root):

    python docs/make_open_hand_figure.py [--out docs/open_hand.png] [--size 320]

Each panel is `mano_tf.open_hand.pictures.render_poses`: the right hand in the
named pose, rendered from a viewpoint that shows the pose (the palm towards the
viewer at rest, the thumb on the right as for a right hand), at one scale. Deterministic:
running it again gives the same image.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

PANELS = (("rest", "rest (flat hand)"), ("fist", "fist"), ("pointing", "pointing"), ("ok", '"OK"'))


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make_open_hand_figure", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument("--out", default="docs/open_hand.png", help="PNG to write")
    parser.add_argument("--size", type=int, default=320, help="panel side in pixels (>= 64)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.size < 64:
        print(f"make_open_hand_figure: --size must be >= 64. Received: {args.size}")
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from hiu_tf.image import write_image
    from hiu_tf.visualize import titled_row
    from mano_tf.open_hand.pictures import render_poses

    pictures = render_poses([name for name, _ in PANELS], "right", args.size)
    canvas = titled_row(pictures, [title for _, title in PANELS])
    path = Path(write_image(args.out, canvas, png_compression=9))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
