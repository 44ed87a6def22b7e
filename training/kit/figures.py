"""The pictures of an experiment report, written as PNG files.

Data strips of a TFRecord set with their labels drawn, input | truth |
prediction panels of a run on held-out crops, a sheet of the open hand model in
named poses, the training curve (loss terms, mesh health, learning rate) and
before / after PCK curves. Each function writes one file and returns its path.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from hiu_tf.image import resize, write_image


def _grid(tiles: Sequence[np.ndarray], columns: int) -> np.ndarray:
    """Tiles of one size in rows of `columns` (the last row padded with white)."""
    tiles = list(tiles)
    h, w = tiles[0].shape[:2]
    while len(tiles) % columns:
        tiles.append(np.full((h, w, 3), 255, np.uint8))
    rows = [np.concatenate(tiles[i : i + columns], axis=1) for i in range(0, len(tiles), columns)]
    return np.concatenate(rows, axis=0)


def _read_samples(folder: str, count: int) -> list[dict[str, np.ndarray]]:
    from hiu_tf.data import tfrecord

    ds = tfrecord.read_tfrecords(folder).take(count)
    return list(ds.as_numpy_iterator())


def data_strip(folder: str, path: str, count: int = 8, tile: int = 128) -> str:
    """A row of `count` samples of a TFRecord set, with their masks and keypoints."""
    from hiu_tf import visualize

    tiles = []
    for sample in _read_samples(folder, count):
        image = visualize.draw_mask(sample["image"], sample["mask"], alpha=0.25)
        image = resize(image, tile, tile)
        scale = tile / sample["image"].shape[0]
        image = visualize.draw_skeleton(image, sample["keypoints_px"] * scale, radius=1)
        tiles.append(image)
    return write_image(path, _grid(tiles, len(tiles)))


def prediction_panels(run_dir: str, heldout: str, path: str, count: int = 4) -> str:
    """input | ground truth | prediction rows of a run's Keras model on held-out samples."""
    from hiu_tf import visualize
    from hiu_tf.model import mask_output_key
    from hiu_tf.runs import load_run

    config, model = load_run(run_dir)
    samples = _read_samples(heldout, count)
    images = np.stack([s["image"] for s in samples]).astype(np.float32)
    out = {k: np.asarray(v) for k, v in model.predict_on_batch(images).items()}
    mask_key = mask_output_key(out, config.model.num_stacks)
    rows = []
    for i, sample in enumerate(samples):
        mask = out.get(mask_key) if mask_key else None
        rows.append(
            visualize.overlay_panel(
                sample["image"],
                pred_keypoints_px=out["keypoints_px_heatmap"][i]
                if "keypoints_px_heatmap" in out
                else None,
                gt_keypoints_px=sample["keypoints_px"],
                pred_mask=None if mask is None else 1.0 / (1.0 + np.exp(-mask[i])),
                gt_mask=sample["mask"],
                visible=sample["keypoint_visible"],
                tile_size=160,
            )
        )
    return write_image(path, np.concatenate(rows, axis=0))


def hand_model_sheet(path: str, size: int = 160) -> str:
    """The open hand model, right and left, in the named poses (one sheet)."""
    import cv2

    from mano_tf.open_hand import NAMED_POSES
    from mano_tf.open_hand.pictures import render_poses

    rows = []
    for side in ("right", "left"):
        row = render_poses(NAMED_POSES, side, size)
        for image, name in zip(row, NAMED_POSES, strict=True):
            cv2.putText(
                image, f"{side} {name}", (5, 15), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1
            )
        rows.append(np.concatenate(row, axis=1))
    return write_image(path, np.concatenate(rows, axis=0))


def training_curve(history: Sequence[Mapping[str, float]], path: str) -> str:
    """The loss and its terms per epoch (log scale), the mesh's health, the learning rate.

    The middle panel shows the training metrics `mesh_rotation_error_deg` and
    `mesh_depth_ratio` (`hiu_tf.losses.mesh_health`) when the run logged them: a mesh
    that turns away or drifts from the camera shows there.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(13.5, 4.0), dpi=100)
    FigureCanvasAgg(figure)
    left, middle, right = (figure.add_subplot(1, 3, i) for i in (1, 2, 3))
    epochs = [int(row.get("epoch", i)) + 1 for i, row in enumerate(history)]
    keys = ["loss"] + sorted(k for k in (history[0] if history else {}) if k.startswith("loss_"))
    for key in keys:
        values = [row.get(key, float("nan")) for row in history]
        if any(v > 0 for v in values):
            left.plot(epochs, values, label=key, linewidth=2.0 if key == "loss" else 1.0)
    left.set_yscale("log")
    left.set_xlabel("epoch")
    left.set_ylabel("training loss (log scale)")
    left.set_title("loss and its terms (unweighted)")
    left.grid(True, alpha=0.3)
    left.legend(fontsize=6, loc="upper right", ncol=2)
    rotation = [row.get("mesh_rotation_error_deg", float("nan")) for row in history]
    depth = [row.get("mesh_depth_ratio", float("nan")) for row in history]
    middle.plot(epochs, rotation, color="tab:red", label="rotation error (deg)")
    middle.set_xlabel("epoch")
    middle.set_ylabel("global rotation error, mean (deg)", color="tab:red")
    middle.set_ylim(bottom=0)
    middle.grid(True, alpha=0.3)
    twin = middle.twinx()
    twin.plot(epochs, depth, color="tab:blue", label="depth ratio")
    twin.axhline(1.0, color="tab:blue", linewidth=0.8, linestyle=":")
    twin.set_ylabel("depth ratio, mean (1 = right)", color="tab:blue")
    middle.set_title("mesh health on the training batches")
    rates = [row.get("learning_rate", float("nan")) for row in history]
    right.plot(epochs, rates)
    right.set_xlabel("epoch")
    right.set_ylabel("learning rate (end of epoch)")
    right.set_title("learning rate")
    right.grid(True, alpha=0.3)
    figure.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    figure.savefig(path, format="png")
    return path


def before_after_curves(
    trained: Mapping[str, Any], untrained: Mapping[str, Any], out: str
) -> list[str]:
    """PCK curves of the trained and the untrained model on one plot per metric."""
    from hiu_tf.visualize import plot_pck_curves

    models = (("trained", trained), ("untrained", untrained))
    curves_2d = {
        f"{tag}, {name}": (section["thresholds_px"], section["pck"])
        for tag, m in models
        for name, section in m.get("keypoints_2d", {}).items()
    }
    plots = (  # (file, curves, plot_pck_curves options)
        (
            "pck_2d.png",
            curves_2d,
            dict(title="2D PCK on the held-out set", xlabel="threshold (px of the model input)"),
        ),
        (
            "iou_pck.png",
            {t: (m["mask"]["thresholds"], m["mask"]["iou_pck"]) for t, m in models if "mask" in m},
            dict(
                title="mask IoU on the held-out set",
                xlabel="IoU threshold",
                ylabel="fraction of images with IoU > threshold",
            ),
        ),
        (
            "pck_3d.png",
            {
                t: (m["keypoints_3d"]["thresholds_mm"], m["keypoints_3d"]["pck"])
                for t, m in models
                if "keypoints_3d" in m
            },
            dict(title="3D PCK (hand3d protocol) on the held-out set", xlabel="threshold (mm)"),
        ),
    )
    files = []
    for name, curves, options in plots:
        if curves:
            files.append(plot_pck_curves(curves, os.path.join(out, name), **options))
    return files
