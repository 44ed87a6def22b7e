"""Draws the pictures of docs/design.md: the network's data flow and the code's layout.

python docs/make_design_figure.py [--out-dir docs]

* `design.png`: the forward pass of HIU-DMTL as this project implements it.
* `layout.png`: the four packages with their modules, who imports whom, and the
  path of the data from a dataset to a phone.
"""

from __future__ import annotations

import argparse
import os

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


# The layout: the four packages with their modules (x, y, w, h, label, colour) and,
# below, the path of the data, each step in the colour of the package that does it.
_COLOURS = {"mano_tf": "#fff2cc", "hiu_tf": "#cfe2f3", "training": "#d9ead3", "export": "#f4cccc"}
LAYOUT_BOXES = {
    "mano_tf": (
        0.1,
        2.3,
        3.0,
        4.0,
        "mano_tf\n\nhand_model: MANO .pkl / .npz\nopen_hand/: the open hand\n"
        "  (generator; asset loader)\nmano_layer, lbs\nrotations, camera\n"
        "render/: silhouette, shaded\nchecks: argument checks",
        _COLOURS["mano_tf"],
    ),
    "hiu_tf": (
        3.8,
        2.3,
        3.8,
        4.0,
        "hiu_tf\n\nconfig, presets\nimage, keypoints, visualize\n"
        "data/: sources/ (readers, synthetic),\nschema, tfrecord, augment, pipeline\n"
        "targets, layers/, model\nlosses, metrics\nruns: run folders\n"
        "cli/: python -m hiu_tf, hiu",
        _COLOURS["hiu_tf"],
    ),
    "training": (
        8.3,
        4.4,
        4.4,
        1.9,
        "training\n\ntrain (model.fit), callbacks, schedules, evaluate\n"
        "kit/: datasets, budget, learning, figures,\nreport, studies, results\n"
        "demo.py, ablate.py: scripts of stages",
        _COLOURS["training"],
    ),
    "export": (
        8.3,
        2.3,
        4.4,
        1.8,
        "export\n\ngraph: the export forward pass\nsaved_model (TF Serving), client\n"
        "tflite, calibration (int8)\ninference: the Predictor",
        _COLOURS["export"],
    ),
}
_FLOW = (  # (name, label, package)
    ("source", "dataset folder or\nsynthetic generator", "hiu_tf"),
    ("records", "TFRecord shards\n(hiu data)", "hiu_tf"),
    ("pipeline", "tf.data: decode,\naugment, targets", "hiu_tf"),
    ("fit", "model.fit with the\nmulti-task loss", "training"),
    ("run", "run folder: config,\nmodel.keras", "hiu_tf"),
    ("export", "SavedModel,\nTFLite (+ int8)", "export"),
    ("predict", "Predictor: crop, run,\nmirror, paste back", "export"),
)
for _i, (_name, _label, _package) in enumerate(_FLOW):
    LAYOUT_BOXES["flow_" + _name] = (0.1 + 1.85 * _i, 0.2, 1.65, 1.0, _label, _COLOURS[_package])
LAYOUT_ARROWS = [  # package arrows: "from" imports "to"; then the data's path
    ("hiu_tf", "mano_tf"),
    ("training", "hiu_tf"),
    ("export", "hiu_tf"),
    *(("flow_" + a[0], "flow_" + b[0]) for a, b in zip(_FLOW[:-1], _FLOW[1:], strict=True)),
]
LAYOUT_NOTE = (
    0.1,
    1.95,
    ("arrows between packages: imports (hiu_tf reaches training and export only from "
     "its CLI, lazily);  below: the path of the data, coloured by the package that does "
     "each step",),
)  # fmt: skip


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


def _draw(boxes, arrows, path: str, size: tuple[float, float], xlim, ylim, text=None) -> None:
    """Rounded boxes with centred labels and arrows between box edges, saved to `path`."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.patches import FancyBboxPatch

    fig, ax = plt.subplots(figsize=size, dpi=90)
    for x, y, w, h, label, colour in boxes.values():
        ax.add_patch(
            FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0.05", fc=colour, ec="#444444")
        )
        ax.text(x + w / 2, y + h / 2, label, ha="center", va="center", fontsize=8)
    for a, b in arrows:
        start = _edge_point(boxes[a], _centre(boxes[b]))
        end = _edge_point(boxes[b], _centre(boxes[a]))
        ax.annotate(
            "", xy=end, xytext=start,
            arrowprops=dict(arrowstyle="->", color="#555555", shrinkA=0, shrinkB=0),
        )  # fmt: skip
    if text:
        x, y, lines = text
        ax.text(x, y, "\n".join(lines), ha="left", va="top", fontsize=8, style="italic")
    ax.set_xlim(*xlim)
    ax.set_ylim(*ylim)
    ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    print(f"wrote {path}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out-dir", default="docs")
    args = parser.parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    _draw(
        BOXES, ARROWS, os.path.join(args.out_dir, "design.png"), (11.5, 4.6), (0, 14.5), (-0.2, 5.3)
    )
    _draw(
        LAYOUT_BOXES,
        LAYOUT_ARROWS,
        os.path.join(args.out_dir, "layout.png"),
        (12.0, 6.0),
        (0, 12.9),
        (0, 6.5),
        LAYOUT_NOTE,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
