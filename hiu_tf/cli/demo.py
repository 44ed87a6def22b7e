"""`python -m hiu_tf demo [--out outputs/demo]`: pictures of the open hand model in named poses.

An interim demo, until the end-to-end one exists: it poses the project's open
hand model (`mano_tf.open_hand`, not MANO), the right hand and its mirror the
left hand, in each named pose through `ManoLayer`, renders them with the
shaded renderer (`mano_tf.render.shaded`) and writes

* `OUT/{side}_{pose}.png`, one picture per side and pose;
* `OUT/overview.png`, all of them on one sheet (right hands on top).

It prints one line per picture and, last, the output folder.
"""

from __future__ import annotations

import argparse
import os

from hiu_tf.errors import UserError

DEMO_POSES = ("rest", "relaxed", "fist", "pointing", "ok", "spread")
# Viewpoint per pose: rotations (axis, radians), in order, after the upright view of a
# right hand (fingers up, palm towards the camera, thumb on the right).
_VIEWS = {
    "rest": (((0.0, 1.0, 0.0), -0.35),),
    "relaxed": (((1.0, 0.0, 0.0), 0.3), ((0.0, 1.0, 0.0), -0.5)),
    "fist": (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6)),
    "pointing": (((1.0, 0.0, 0.0), 0.3), ((0.0, 1.0, 0.0), -0.5)),
    "ok": (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6)),
    "spread": (((0.0, 1.0, 0.0), -0.2),),
}
_DEPTH = 0.6  # metres from the camera to the hand's centre


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--out",
        default=os.path.join("outputs", "demo"),
        help="folder for the pictures (default: outputs/demo)",
    )
    parser.add_argument(
        "--size", type=int, default=320, help="side of each picture in pixels (64-2048)"
    )


def _view_rotation(pose: str, side: str):
    """`[3, 3]` model-to-camera rotation; the left hand's view is the mirror of the right's."""
    import numpy as np

    rotation = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # upright
    for axis, angle in _VIEWS[pose]:
        k = np.cross(np.eye(3), np.asarray(axis))  # k @ x = axis x x
        turn = np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)
        rotation = turn @ rotation
    if side == "left":
        mirror = np.diag([-1.0, 1.0, 1.0])
        rotation = mirror @ rotation @ mirror  # image flipped left-right
    return rotation


def _render(vertices, faces, rotation, size: int):
    """RGB uint8 `[size, size, 3]` picture of a posed mesh on white, 20 cm spanning 86 %."""
    import numpy as np

    from mano_tf.render.shaded import render_shaded

    points = vertices @ rotation.T
    points = points + [0.0, 0.0, _DEPTH] - (points.max(0) + points.min(0)) / 2
    focal = 0.86 * size * _DEPTH / 0.2
    intrinsics = np.array([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]])
    background = np.full((size, size, 3), 255, np.uint8)
    return render_shaded(points, faces, intrinsics, size, size, background=background)["image"]


def _write(path: str, image_rgb) -> None:
    import cv2

    if not cv2.imwrite(path, image_rgb[..., ::-1]):  # OpenCV writes BGR
        raise UserError(f"cannot write {path}")


def run(args: argparse.Namespace) -> int:
    if not 64 <= args.size <= 2048:
        raise UserError(f"--size must be in [64, 2048]. Received: --size={args.size}")
    try:
        os.makedirs(args.out, exist_ok=True)
    except OSError as e:
        raise UserError(f"cannot create the output folder {args.out}: {e}") from e
    import cv2
    import numpy as np

    from mano_tf.mano_layer import ManoLayer
    from mano_tf.open_hand import default_hand_model, named_pose

    rows = []
    for side in ("right", "left"):
        model = default_hand_model(side)
        print(f"posing {model.name} ({model.num_vertices} vertices) in {len(DEMO_POSES)} poses")
        layer = ManoLayer(model, flat_hand_mean=True)
        poses = np.stack([named_pose(name, side) for name in DEMO_POSES]).astype(np.float32)
        betas = np.zeros((len(DEMO_POSES), model.num_betas), np.float32)
        vertices = np.asarray(layer(poses, betas)["vertices"], np.float64)
        row = []
        for name, posed in zip(DEMO_POSES, vertices, strict=True):
            image = _render(posed, model.faces, _view_rotation(name, side), args.size)
            path = os.path.join(args.out, f"{side}_{name}.png")
            _write(path, image)
            print(f"  {side:<5} {name:<8} -> {path}")
            labelled = image.copy()
            cv2.putText(
                labelled,
                f"{side} {name}",
                (6, 18),
                cv2.FONT_HERSHEY_SIMPLEX,
                0.5,
                (0, 0, 0),
                1,
                cv2.LINE_AA,
            )
            row.append(labelled)
        rows.append(np.concatenate(row, axis=1))
    overview = os.path.join(args.out, "overview.png")
    _write(overview, np.concatenate(rows, axis=0))
    print(f"  overview       -> {overview}")
    print(args.out)
    return 0
