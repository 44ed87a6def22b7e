"""Draws docs/render_silhouettes.png: soft and hard silhouettes and a shaded render of one pose.

Usage (from the repository root):

    python docs/make_render_figure.py [--out docs/render_silhouettes.png] [--size 192]

The open hand model (`mano_tf.open_hand`) in a fixed pose (fingers slightly
bent, the palm turned towards the camera) is rendered three ways with the
same camera: `render_silhouette(mode="soft")` with a soft edge of 1.5 px,
`render_silhouette(mode="hard")` and `render_shaded`. Deterministic: running it
again gives the same image.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make_render_figure", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument("--out", default="docs/render_silhouettes.png", help="PNG to write")
    parser.add_argument("--size", type=int, default=192, help="panel side in pixels (>= 64)")
    parser.add_argument("--blur-px", type=float, default=1.5, help="soft edge width in pixels")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    if args.size < 64:
        print(f"make_render_figure: --size must be >= 64. Received: {args.size}")
        return 2
    if not args.blur_px > 0:
        print(f"make_render_figure: --blur-px must be positive. Received: {args.blur_px}")
        return 2
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np

    from hiu_tf.image import write_image
    from hiu_tf.visualize import titled_row
    from mano_tf import camera
    from mano_tf.mano_layer import ManoLayer
    from mano_tf.open_hand import default_hand_model
    from mano_tf.render.shaded import render_shaded
    from mano_tf.render.silhouette import render_silhouette, sigma_from_pixels

    size = args.size
    model = default_hand_model("right")
    pose = np.zeros((1, 48), np.float32)
    pose[0, :3] = [0.35, -0.5, 0.25]  # global orientation (axis-angle)
    bend = np.zeros((15, 3), np.float32)
    bend[:, 2] = 0.25  # every finger joint bent a little about its local z axis
    bend[12:, :] = [0.1, 0.0, 0.15]  # the thumb differently
    pose[0, 3:] = bend.reshape(-1)
    out = ManoLayer(model, flat_hand_mean=True)(pose, np.zeros((1, model.num_betas), np.float32))
    vertices = np.asarray(out["vertices"], np.float64)[0]
    vertices = vertices - (vertices.max(0) + vertices.min(0)) / 2 + [0.0, 0.0, 0.5]
    extent = (vertices[:, :2].max(0) - vertices[:, :2].min(0)).max()
    focal = 0.8 * size * 0.5 / extent  # the hand spans 80 % of the panel
    K = camera.intrinsics_from_focal(np.array([focal], np.float32), size, size).numpy()

    sigma = sigma_from_pixels(args.blur_px, size, size)
    batch = vertices[None].astype(np.float32)
    soft = render_silhouette(batch, model.faces, K, size, size, sigma=sigma).numpy()[0]
    hard = render_silhouette(batch, model.faces, K, size, size, mode="hard").numpy()[0]
    shaded = render_shaded(vertices, model.faces, K[0], size, size)

    def grey(image):
        return np.repeat((np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8)[..., None], 3, -1)

    panels = [
        (grey(soft), f"soft, sigma={sigma:.1e} ({args.blur_px:g} px)"),
        (grey(hard), "hard (exact coverage)"),
        (shaded["image"], "shaded (z-buffer, Lambert)"),
    ]
    canvas = titled_row(
        [image for image, _ in panels],
        [title for _, title in panels],
        header=22,
        font_scale=0.36,
        text_at=(3, 15),
    )
    path = Path(write_image(args.out, canvas, png_compression=9))
    print(f"wrote {path} ({path.stat().st_size / 1024:.0f} KiB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
