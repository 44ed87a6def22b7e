"""Draws `docs/synthetic_samples.png`: synthetic samples with their labels and POF targets.

Usage (from the repository root):

    python docs/make_synthetic_figure.py                       # open hand model, seed 0
    python docs/make_synthetic_figure.py --hand-model MANO_RIGHT.pkl --out /tmp/fig.png

Each sample takes two panels: the image with the 2D skeleton (finger colours of
`hiu_tf.keypoints`) and the outline of the hand mask; and the POF target of
`hiu_tf.targets` (heat-map resolution, upsampled) over a dimmed image, coloured by
the field's value on each bone pixel: RGB = (1 + (x, y, z)) / 2 with (x, y) the
unit 2D bone direction and z the z of the unit 3D direction (red = pointing
right, green = down, blue = away from the camera).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from hiu_tf.keypoints import BONES, FINGER_COLORS_BGR, finger_of_keypoint  # noqa: E402


def draw_labels(sample: dict) -> np.ndarray:
    """RGB uint8 image with the skeleton and the mask outline."""
    image = np.ascontiguousarray((sample["image"] * 255).round().astype(np.uint8))
    contours, _ = cv2.findContours(
        (sample["mask"] > 0).astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE
    )
    cv2.drawContours(image, contours, -1, (255, 255, 255), 1, cv2.LINE_AA)
    kp = sample["keypoints_px"] - 0.5  # pixel centres -> OpenCV's integer centres
    shift = 4
    pts = np.rint(kp * (1 << shift)).astype(np.int32)
    for parent, child in BONES:
        b, g, r = FINGER_COLORS_BGR[finger_of_keypoint(child)]
        cv2.line(image, tuple(pts[parent]), tuple(pts[child]), (r, g, b), 2, cv2.LINE_AA, shift)
    for i, p in enumerate(pts):
        colour = (255, 255, 255) if i == 0 else FINGER_COLORS_BGR[finger_of_keypoint(i)][::-1]
        cv2.circle(image, tuple(p), 3 << shift, colour, -1, cv2.LINE_AA, shift)
    return image


def draw_pof(sample: dict, pof: np.ndarray) -> np.ndarray:
    """RGB uint8 image: the POF colour-coded over the dimmed image."""
    size = sample["image"].shape[0]
    fields = pof.reshape(pof.shape[0], pof.shape[1], len(BONES), 3)
    strength = np.abs(fields).sum(-1)  # [h, w, 20]
    bone = strength.argmax(-1)
    on = strength.max(-1) > 0
    value = np.take_along_axis(fields, bone[..., None, None], axis=2)[:, :, 0]  # [h, w, 3]
    colour = np.where(on[..., None], (1.0 + value) / 2.0, 0.0)
    colour = cv2.resize(colour.astype(np.float32), (size, size), interpolation=cv2.INTER_NEAREST)
    on_big = cv2.resize(on.astype(np.uint8), (size, size), interpolation=cv2.INTER_NEAREST) > 0
    out = sample["image"] * 0.35
    out[on_big] = colour[on_big]
    return (out * 255).round().astype(np.uint8)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", default=str(Path(__file__).with_name("synthetic_samples.png")))
    parser.add_argument("--hand-model", default="open:right")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--rows", type=int, default=3)
    parser.add_argument("--cols", type=int, default=4, help="samples per row (two panels each)")
    parser.add_argument("--panel", type=int, default=192, help="panel side in the figure")
    args = parser.parse_args(argv)

    from hiu_tf import targets
    from hiu_tf.data.sources import synthetic
    from hiu_tf.image import write_image

    generator = synthetic.SyntheticGenerator(synthetic.SynthConfig(), args.hand_model)
    samples = [s for _, s in generator.generate(args.seed, range(args.rows * args.cols))]
    rows = []
    for r in range(args.rows):
        panels = []
        for sample in samples[r * args.cols : (r + 1) * args.cols]:
            made = targets.make_targets(sample, heatmap_size=sample["image"].shape[0] // 4)
            for panel in (draw_labels(sample), draw_pof(sample, made["pof"].numpy())):
                panel = cv2.resize(panel, (args.panel, args.panel), interpolation=cv2.INTER_AREA)
                panels.append(cv2.copyMakeBorder(panel, 2, 2, 2, 2, cv2.BORDER_CONSTANT, 0))
        rows.append(np.concatenate(panels, axis=1))
    grid = np.concatenate(rows, axis=0)
    write_image(args.out, grid, png_compression=9)
    print(
        f"wrote {args.out} ({grid.shape[1]} x {grid.shape[0]}, model {generator.hand_model_name})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
