"""Draws docs/open_hand.png: the open hand model (right) at rest, in a fist, pointing and "OK".

Usage (from the repository root):

    python docs/make_open_hand_figure.py [--out docs/open_hand.png] [--size 320]

Each panel poses `default_hand_model("right")` with `named_pose(...)` through
`ManoLayer` and renders it with `mano_tf.render.shaded.render_shaded`, from a
viewpoint that shows the pose (the palm towards the viewer at rest, the thumb
on the right as for a right hand). All panels share one scale. Deterministic:
running it again gives the same image.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

# pose name -> (title, view: rotations (axis, radians) applied after the upright view)
PANELS = (
    ("rest", "rest (flat hand)", (((0.0, 1.0, 0.0), -0.35),)),
    ("fist", "fist", (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6))),
    ("pointing", "pointing", (((1.0, 0.0, 0.0), 0.3), ((0.0, 1.0, 0.0), -0.5))),
    ("ok", '"OK"', (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6))),
)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make_open_hand_figure", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument("--out", default="docs/open_hand.png", help="PNG to write")
    parser.add_argument("--size", type=int, default=320, help="panel side in pixels (>= 64)")
    return parser.parse_args(argv)


def _rotation(axis, angle):
    import numpy as np

    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.size < 64:
        print(f"make_open_hand_figure: --size must be >= 64. Received: {args.size}")
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import cv2
    import numpy as np

    from mano_tf.mano_layer import ManoLayer
    from mano_tf.open_hand import default_hand_model, named_pose
    from mano_tf.render.shaded import render_shaded

    size = args.size
    model = default_hand_model("right")
    poses = np.stack([named_pose(name) for name, _, _ in PANELS]).astype(np.float32)
    layer = ManoLayer(model, flat_hand_mean=True)
    out = layer(poses, np.zeros((len(PANELS), model.num_betas), np.float32))
    vertices = np.asarray(out["vertices"], np.float64)

    # Upright view (camera: x right, y down, z forward): fingers (-x) up, the palm (-y)
    # towards the camera, the thumb (+z) on the right.
    upright = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    depth = 0.6
    focal = 0.86 * size * depth / 0.2  # a 20 cm hand spans 86 % of a panel
    K = np.array([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]])
    header, gap = 24, 4
    canvas = np.full((size + header, len(PANELS) * (size + gap) - gap, 3), 255, np.uint8)
    for i, (_, title, turns) in enumerate(PANELS):
        rotation = upright
        for axis, angle in turns:
            rotation = _rotation(axis, angle) @ rotation
        points = vertices[i] @ rotation.T
        points += [0.0, 0.0, depth] - (points.max(0) + points.min(0)) / 2
        background = np.full((size, size, 3), 255, np.uint8)
        image = render_shaded(points, model.faces, K, size, size, background=background)["image"]
        x = i * (size + gap)
        canvas[header:, x : x + size] = image
        cv2.putText(
            canvas, title, (x + 6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, (0, 0, 0), 1, cv2.LINE_AA
        )
    path = Path(args.out)
    path.parent.mkdir(parents=True, exist_ok=True)
    # The panels are RGB; OpenCV writes BGR.
    cv2.imwrite(str(path), canvas[..., ::-1], [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
