"""Visualisation: overlays on hand crops (skeleton, mask, panels) and metric plots.

Conventions for every overlay function here:

* Images are `[H, W, 3]`, uint8 or float in [0, 1], RGB by default (the sample
  dict's `image`); pass `channel_order="bgr"` for OpenCV images. The input is
  never modified; the result is a new uint8 image in the same channel order.
* Colours are given as RGB tuples 0-255 (converted for BGR images); the finger
  colours come from `hiu_tf.keypoints.FINGER_COLORS_BGR`.
* Keypoints are `[21, 2]` (x, y) in the canonical order, in the continuous pixel
  convention of `mano_tf.camera` (the centre of pixel (row i, column j) is
  (j + 0.5, i + 0.5)); they are drawn with sub-pixel precision.

Sections: images, skeleton, masks, meshes, panels (compositions for TensorBoard),
plots (matplotlib, Agg canvas, no pyplot state). The predictor's overlay
(`export.inference.draw_overlay`) is drawn with the mask, mesh and skeleton here.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

import cv2
import numpy as np

from hiu_tf.image import to_uint8
from hiu_tf.keypoints import BONES, FINGER_COLORS_BGR, NUM_KEYPOINTS, finger_of_keypoint

CHANNEL_ORDERS = ("rgb", "bgr")
WRIST_COLOR = (255, 255, 255)  # RGB
GT_SKELETON_COLOR = (255, 255, 255)  # RGB: ground truth drawn under a prediction
GT_MASK_COLOR = (0, 200, 0)  # RGB
PRED_MASK_COLOR = (40, 120, 255)  # RGB
_SHIFT = 4  # fractional bits of OpenCV's sub-pixel drawing
_ONE = 1 << _SHIFT


# --------------------------------------------------------------------------- images


def _check_order(channel_order: str) -> None:
    if channel_order not in CHANNEL_ORDERS:
        raise ValueError(
            f"channel_order must be one of {CHANNEL_ORDERS}. Received: channel_order={channel_order!r}"
        )


def _canvas(image: Any) -> np.ndarray:
    """A new uint8 copy of an `[H, W, 3]` image to draw on (`hiu_tf.image.to_uint8`).

    Raises:
        ValueError: not an `[H, W, 3]` array.
    """
    array = np.asarray(image)
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(
            f"image must have shape [H, W, 3]. Received: image.shape={list(array.shape)}"
        )
    return to_uint8(array)


def _colour(rgb: Sequence[int], channel_order: str) -> tuple[int, int, int]:
    r, g, b = (int(c) for c in rgb)
    return (r, g, b) if channel_order == "rgb" else (b, g, r)


def finger_colors_rgb() -> tuple[tuple[int, int, int], ...]:
    """`FINGER_COLORS_BGR` as RGB tuples (thumb, index, middle, ring, pinky)."""
    return tuple((r, g, b) for b, g, r in FINGER_COLORS_BGR)


def keypoint_colors_rgb() -> tuple[tuple[int, int, int], ...]:
    """One RGB colour per canonical keypoint: white wrist, then the finger colours."""
    fingers = finger_colors_rgb()
    return tuple(
        WRIST_COLOR if finger_of_keypoint(k) < 0 else fingers[finger_of_keypoint(k)]
        for k in range(NUM_KEYPOINTS)
    )


# --------------------------------------------------------------------------- skeleton


def _fixed_point(xy: np.ndarray) -> tuple[int, int]:
    # Continuous pixel coordinates -> OpenCV's integer-centred grid, in 1/16 px.
    return int(round((xy[0] - 0.5) * _ONE)), int(round((xy[1] - 0.5) * _ONE))


def draw_skeleton(
    image: Any,
    keypoints_px: Any,
    visible: Any = None,
    color: Sequence[int] | None = None,
    thickness: int = 1,
    radius: int = 2,
    channel_order: str = "rgb",
    point_color: Sequence[int] | None = None,
) -> np.ndarray:
    """Draws the hand skeleton (`hiu_tf.keypoints.BONES`) and its keypoints.

    Bones take the colour of their finger (`FINGER_COLORS_BGR`), the wrist is
    white; `color` draws everything in one colour instead (e.g. the ground
    truth under a prediction), `point_color` the dots only (e.g. white dots
    that stand out on a shaded mesh). A bone is drawn when both ends are visible.

    Args:
        image: `[H, W, 3]` uint8 or float in [0, 1].
        keypoints_px: `[21, 2]` (x, y) pixels of `image`, canonical order.
        visible: `[21]` mask; None = all (non-finite keypoints are never drawn).
        color: one RGB colour for all, or None for the finger colours.
        thickness: line width, pixels.
        radius: keypoint dot radius, pixels (0 = no dots).
        channel_order: "rgb" or "bgr", of `image` and the result.
        point_color: one RGB colour for the dots, or None for the bones' colours.

    Returns:
        A new uint8 `[H, W, 3]` image.

    Raises:
        ValueError: bad shapes or options.
    """
    _check_order(channel_order)
    out = _canvas(image)
    kp = np.asarray(keypoints_px, np.float64)
    if kp.shape != (NUM_KEYPOINTS, 2):
        raise ValueError(
            f"keypoints_px must have shape [{NUM_KEYPOINTS}, 2]. "
            f"Received: keypoints_px.shape={list(kp.shape)}"
        )
    show = np.ones(NUM_KEYPOINTS, bool) if visible is None else np.asarray(visible) > 0
    if show.shape != (NUM_KEYPOINTS,):
        raise ValueError(
            f"visible must have shape [{NUM_KEYPOINTS}]. Received: visible.shape={list(show.shape)}"
        )
    show = show & np.all(np.isfinite(kp), axis=1) & np.all(np.abs(kp) < 1e6, axis=1)
    colours = [tuple(color)] * NUM_KEYPOINTS if color is not None else list(keypoint_colors_rgb())
    colours = [_colour(c, channel_order) for c in colours]
    dots = colours if point_color is None else [_colour(point_color, channel_order)] * NUM_KEYPOINTS
    for parent, child in BONES:
        if show[parent] and show[child]:
            cv2.line(
                out,
                _fixed_point(kp[parent]),
                _fixed_point(kp[child]),
                colours[child],
                max(int(thickness), 1),
                cv2.LINE_AA,
                _SHIFT,
            )
    if radius > 0:
        for k in np.flatnonzero(show):
            cv2.circle(
                out, _fixed_point(kp[k]), int(radius * _ONE), dots[k], -1, cv2.LINE_AA, _SHIFT
            )
    return out


# --------------------------------------------------------------------------- masks


def _blend_canvas(image: Any, alpha: float, channel_order: str) -> np.ndarray:
    """The uint8 copy of `image` that a blend of opacity `alpha` draws on (options checked)."""
    _check_order(channel_order)
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be in [0, 1]. Received: alpha={alpha}")
    return _canvas(image)


def _blend(image: np.ndarray, layer: Any, weight: np.ndarray) -> np.ndarray:
    """`image (1 - weight) + layer weight`, rounded to uint8."""
    return np.clip(np.rint(image * (1.0 - weight) + layer * weight), 0, 255).astype(np.uint8)


def _mask_like(mask: Any, height: int, width: int, name: str = "mask") -> np.ndarray:
    """`[h, w]` (or `[h, w, 1]`) mask / probabilities -> float `[H, W]` in [0, 1]."""
    m = np.asarray(mask, np.float32)
    if m.ndim == 3 and m.shape[-1] == 1:
        m = m[..., 0]
    if m.ndim != 2:
        raise ValueError(
            f"{name} must have shape [H, W] or [H, W, 1]. Received: {name}.shape={list(m.shape)}"
        )
    if m.shape != (height, width):
        m = cv2.resize(m, (width, height), interpolation=cv2.INTER_LINEAR)
    return np.clip(m, 0.0, 1.0)


def draw_mask(
    image: Any,
    mask: Any,
    color: Sequence[int] = GT_MASK_COLOR,
    alpha: float = 0.5,
    outline: bool = False,
    channel_order: str = "rgb",
) -> np.ndarray:
    """Blends a colour over the mask: `image * (1 - alpha m) + color * alpha m`.

    Args:
        image: `[H, W, 3]` uint8 or float in [0, 1].
        mask: `[h, w]` or `[h, w, 1]`, {0, 1} or probabilities (soft masks blend
            softly); resized bilinearly when `h, w` differ from `H, W` (e.g. a
            heat-map-sized mask on the crop).
        color: RGB colour.
        alpha: opacity in [0, 1] where the mask is 1.
        outline: also draw the contour of `mask > 0.5` in `color`.
        channel_order: "rgb" or "bgr", of `image` and the result.

    Returns:
        A new uint8 `[H, W, 3]` image.

    Raises:
        ValueError: bad shapes or options.
    """
    out = _blend_canvas(image, alpha, channel_order)
    h, w = out.shape[:2]
    weight = alpha * _mask_like(mask, h, w)[..., None]  # [H, W, 1]
    out = _blend(out, np.asarray(_colour(color, channel_order), np.float32), weight)
    if outline:
        binary = (_mask_like(mask, h, w) > 0.5).astype(np.uint8)
        contours, _ = cv2.findContours(binary, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
        cv2.drawContours(out, contours, -1, _colour(color, channel_order), 1)
    return out


# --------------------------------------------------------------------------- meshes


def draw_mesh(
    image: Any,
    vertices: Any,
    faces: Any,
    intrinsics: Any,
    alpha: float = 0.7,
    channel_order: str = "rgb",
) -> np.ndarray:
    """Blends a shaded mesh (`mano_tf.render.shaded.render_shaded`) over an image.

    Args:
        image: `[H, W, 3]` uint8 or float in [0, 1].
        vertices: `[V, 3]` camera frame, metres.
        faces: `[F, 3]` vertex indices.
        intrinsics: `[3, 3]` K in pixels of `image`.
        alpha: opacity of the mesh, in [0, 1].
        channel_order: "rgb" or "bgr", of `image` and the result.

    Returns:
        A new uint8 `[H, W, 3]` image: `image (1 - alpha) + mesh alpha` on the
        pixels whose centre the mesh covers, `image` elsewhere.

    Raises:
        ValueError: bad shapes or options.
    """
    from mano_tf.render.shaded import DEFAULT_COLOR, render_shaded

    out = _blend_canvas(image, alpha, channel_order)
    colour = DEFAULT_COLOR if channel_order == "rgb" else DEFAULT_COLOR[::-1]
    h, w = out.shape[:2]
    rendered = render_shaded(vertices, faces, intrinsics, h, w, color=colour, background=out)
    return _blend(out, rendered["image"], rendered["mask"][..., None] * float(alpha))


# --------------------------------------------------------------------------- panels


def _label(image: np.ndarray, text: str, channel_order: str) -> None:
    scale = max(image.shape[0] / 512.0, 0.35)
    org = (4, int(14 * scale / 0.5))
    white = _colour((255, 255, 255), channel_order)
    # A dark outline drawn as shifted copies: OpenCV widens the advance of each letter
    # with the thickness, so a thick black copy under the text drifts away from it.
    for dx, dy in ((-1, 0), (1, 0), (0, -1), (0, 1), (-1, -1), (1, 1), (-1, 1), (1, -1)):
        shifted = (org[0] + dx, org[1] + dy)
        cv2.putText(
            image, text, shifted, cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA
        )
    cv2.putText(image, text, org, cv2.FONT_HERSHEY_SIMPLEX, scale, white, 1, cv2.LINE_AA)


def overlay_panel(
    image: Any,
    pred_keypoints_px: Any = None,
    gt_keypoints_px: Any = None,
    pred_mask: Any = None,
    gt_mask: Any = None,
    visible: Any = None,
    tile_size: int | None = 256,
    labels: bool = True,
    channel_order: str = "rgb",
) -> np.ndarray:
    """Side-by-side tiles: input | ground truth | prediction (those given).

    The ground-truth tile shows `gt_mask` and the ground-truth skeleton; the
    prediction tile shows `pred_mask` and the predicted skeleton, drawn over the
    ground-truth skeleton in white when both are given. Keypoints are in pixels
    of `image`; everything is scaled to tiles of `tile_size` pixels.

    Args:
        image: `[H, W, 3]` crop, uint8 or float in [0, 1].
        pred_keypoints_px: `[21, 2]` predicted keypoints, or None.
        gt_keypoints_px: `[21, 2]` ground-truth keypoints, or None.
        pred_mask: `[h, w]` / `[h, w, 1]` predicted probabilities (any size), or None.
        gt_mask: `[h, w]` ground-truth mask, or None.
        visible: `[21]` labelled ground-truth keypoints; None = all.
        tile_size: side of each tile in pixels (the longer side of `image`);
            None keeps the image size.
        labels: write "input", "ground truth", "prediction" on the tiles.
        channel_order: "rgb" or "bgr", of `image` and the result.

    Returns:
        uint8 `[T, n * T', 3]` with n = 1 to 3 tiles (e.g. for
        `tf.summary.image(name, panel[None])`).
    """
    _check_order(channel_order)
    base = _canvas(image)
    h, w = base.shape[:2]
    factor = 1.0 if tile_size is None else float(tile_size) / max(h, w)
    if factor != 1.0:
        size = (max(int(round(w * factor)), 1), max(int(round(h * factor)), 1))
        base = cv2.resize(base, size, interpolation=cv2.INTER_LINEAR)
    line = max(int(round(base.shape[0] / 128)), 1)
    radius = line + 1

    def scaled(kp):
        return None if kp is None else np.asarray(kp, np.float64) * factor

    pred_kp, gt_kp = scaled(pred_keypoints_px), scaled(gt_keypoints_px)
    tiles = [("input", base.copy())]
    if gt_kp is not None or gt_mask is not None:
        tile = base
        if gt_mask is not None:
            tile = draw_mask(tile, gt_mask, GT_MASK_COLOR, 0.4, True, channel_order)
        if gt_kp is not None:
            tile = draw_skeleton(tile, gt_kp, visible, None, line, radius, channel_order)
        tiles.append(("ground truth", tile))
    if pred_kp is not None or pred_mask is not None:
        tile = base
        if pred_mask is not None:
            tile = draw_mask(tile, pred_mask, PRED_MASK_COLOR, 0.4, True, channel_order)
        if pred_kp is not None:
            if gt_kp is not None:
                tile = draw_skeleton(tile, gt_kp, visible, GT_SKELETON_COLOR, 1, 0, channel_order)
            tile = draw_skeleton(tile, pred_kp, None, None, line, radius, channel_order)
        tiles.append(("prediction", tile))
    if labels:
        for name, tile in tiles:
            _label(tile, name, channel_order)
    return np.concatenate([tile for _, tile in tiles], axis=1)


def titled_row(
    panels: Sequence[Any],
    titles: Sequence[str],
    *,
    gap: int = 4,
    header: int = 24,
    font_scale: float = 0.5,
    text_at: tuple[int, int] = (6, 17),
) -> np.ndarray:
    """Equal-sized RGB panels side by side on white, each with its title above it.

    Args:
        panels: `[H, W, 3]` images of one size (uint8 or float in [0, 1]).
        titles: one per panel, drawn in black in the `header` pixels above it.
        gap: white pixels between panels.
        text_at: where a title's baseline starts, from the panel's top-left corner of
            the header; titles are cut at the header's lower edge.
    """
    if not panels or len(panels) != len(titles):
        raise ValueError(
            f"titled_row needs one title per panel. Received: {len(panels)} panels, "
            f"{len(titles)} titles"
        )
    tiles = [_canvas(p) for p in panels]
    h, w = tiles[0].shape[:2]
    if any(t.shape[:2] != (h, w) for t in tiles):
        raise ValueError(f"panels must share one size. Received: {[t.shape for t in tiles]}")
    canvas = np.full((h + header, len(tiles) * (w + gap) - gap, 3), 255, np.uint8)
    strip = canvas[:header]  # a view: titles never spill onto the panels
    for i, (tile, title) in enumerate(zip(tiles, titles, strict=True)):
        x = i * (w + gap)
        canvas[header:, x : x + w] = tile
        cv2.putText(
            strip,
            title,
            (x + text_at[0], text_at[1]),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            (0, 0, 0),
            1,
            cv2.LINE_AA,
        )
    return canvas


# --------------------------------------------------------------------------- plots


def curve_label(name: str, thresholds: Any, pck: Any) -> str:
    """The legend entry of a PCK curve: `"name (AUC=0.123)"` (`hiu_tf.metrics.auc`)."""
    from hiu_tf.metrics import auc

    return f"{name} (AUC={auc(pck, thresholds):.3f})"


def plot_pck_curves(
    curves: Mapping[str, tuple[Any, Any]],
    path: str | os.PathLike,
    title: str = "PCK",
    xlabel: str = "threshold",
    ylabel: str = "PCK",
    x_scale: float = 1.0,
) -> str:
    """Writes PCK curves as a PNG, with each curve's AUC in the legend.

    Uses a matplotlib `Figure` on an Agg canvas created here: no pyplot, no
    change to the global backend, safe in threads and headless.

    Args:
        curves: name -> `(thresholds [T], pck [T])`; AUC is over the given thresholds.
        path: output `.png` (its folder is created).
        title: figure title.
        xlabel: x-axis label (say the unit, e.g. "threshold (mm)").
        ylabel: y-axis label.
        x_scale: multiply the thresholds by this for display (e.g. 1000 for m -> mm).

    Returns:
        The path written.

    Raises:
        ValueError: no curves, or a curve whose arrays differ in length.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    if not curves:
        raise ValueError("curves must hold at least one curve. Received: curves={}")
    labels = {}
    for name, (thresholds, pck) in curves.items():
        t, p = np.asarray(thresholds, np.float64), np.asarray(pck, np.float64)
        if t.ndim != 1 or t.shape != p.shape:
            raise ValueError(
                f"curve {name!r} needs thresholds and pck of one equal length. "
                f"Received: thresholds.shape={list(t.shape)}, pck.shape={list(p.shape)}"
            )
        labels[name] = curve_label(name, t, p)
    figure = Figure(figsize=(6.0, 4.5), dpi=100)
    FigureCanvasAgg(figure)
    axis = figure.add_subplot(1, 1, 1)
    for name, (thresholds, pck) in curves.items():
        axis.plot(np.asarray(thresholds, np.float64) * x_scale, pck, label=labels[name])
    axis.set_xlabel(xlabel)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.set_ylim(0.0, 1.02)
    axis.grid(True, alpha=0.3)
    axis.legend(loc="lower right")
    figure.tight_layout()
    path = os.fspath(path)
    folder = os.path.dirname(path)
    if folder:
        os.makedirs(folder, exist_ok=True)
    figure.savefig(path, format="png")
    return path


__all__ = [
    "curve_label",
    "draw_mask",
    "draw_mesh",
    "draw_skeleton",
    "finger_colors_rgb",
    "keypoint_colors_rgb",
    "overlay_panel",
    "plot_pck_curves",
    "titled_row",
]
