"""Draws docs/design.png: the data flow of HIU-DMTL as this project implements it.

python docs/make_design_figure.py [--out docs/design.png]
"""

from __future__ import annotations

import argparse

BOXES = {
    # name: (x, y, w, h, label, colour)
    "image": (0.2, 4.2, 1.6, 0.9, "RGB crop\n[B,S,S,3]", "#dddddd"),
    "stem": (2.3, 4.2, 1.6, 0.9, "Stem\n2x conv 7x7 /2", "#cfe2f3"),
    "block1": (4.4, 4.2, 2.0, 0.9, "MTL block 1\nencoder + decoders", "#cfe2f3"),
    "blockn": (7.0, 4.2, 2.0, 0.9, "MTL block N\n(cascaded)", "#cfe2f3"),
    "maps": (
        4.4,
        2.6,
        4.6,
        0.9,
        "per stack: heat-maps [h,h,21], mask logits,\nPOF [h,h,60] -> TAM fuses them",
        "#d9ead3",
    ),
    "head": (9.6, 4.2, 2.0, 0.9, "Regressor head\n(shared weights)", "#fce5cd"),
    "params": (12.2, 4.2, 2.0, 0.9, "theta, beta,\nR, T, f", "#fce5cd"),
    "mano": (12.2, 2.6, 2.0, 0.9, "ManoLayer\nLBS (open hand / MANO)", "#fff2cc"),
    "proj": (9.6, 1.0, 2.0, 0.9, "camera (Eq. 5)\nkeypoints_px", "#fff2cc"),
    "render": (12.2, 1.0, 2.0, 0.9, "soft silhouette\nrendered_mask", "#fff2cc"),
    "loss": (
        4.4,
        0.0,
        4.6,
        1.0,
        "losses: heat-map, POF, mask (every stack); 3D bones,\n"
        "2D re-projection, rendered mask; self-supervised:\n"
        "rendered vs predicted mask, re-projected vs soft-argmax",
        "#f4cccc",
    ),
}
ARROWS = [
    ("image", "stem"),
    ("stem", "block1"),
    ("block1", "blockn"),
    ("blockn", "head"),
    ("head", "params"),
    ("params", "mano"),
    ("mano", "proj"),
    ("mano", "render"),
    ("block1", "maps"),
    ("blockn", "maps"),
    ("maps", "loss"),
    ("proj", "loss"),
    ("render", "loss"),
]


def _centre(box):
    x, y, w, h = box[:4]
    return x + w / 2, y + h / 2


def _edge_point(box, towards, pad=0.08):
    """Where the ray from the box centre towards `towards` leaves the (padded) box."""
    x, y, w, h = box[:4]
    cx, cy = _centre(box)
    dx, dy = towards[0] - cx, towards[1] - cy
    half_w, half_h = w / 2 + pad, h / 2 + pad
    t = min(half_w / abs(dx) if dx else float("inf"), half_h / abs(dy) if dy else float("inf"))
    return cx + t * dx, cy + t * dy


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="docs/design.png")
    args = parser.parse_args(argv)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=(11.5, 4.6), dpi=90)
    for x, y, w, h, label, colour in BOXES.values():
        ax.add_patch(
            FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#444444")
        )
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=8)
    for a, b in ARROWS:
        start = _edge_point(BOXES[a], _centre(BOXES[b]))
        end = _edge_point(BOXES[b], _centre(BOXES[a]))
        ax.annotate(
            "", xy=end, xytext=start,
            arrowprops=dict(arrowstyle="->", color="#555555", shrinkA=0, shrinkB=0),
        )  # fmt: skip
    ax.set_xlim(0, 14.5)
    ax.set_ylim(-0.2, 5.3)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(args.out)
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
