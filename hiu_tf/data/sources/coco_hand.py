"""COCO-style hand annotations (HIU-Data-like sets): 21 keypoints plus polygon or RLE masks.

Layout under the root:

    annotations/<split>.json       (or any annotations/*<split>*.json, or <root>/<split>.json)
    images/<split>/<file_name>     (or images/<file_name>, or <file_name> under the root)

The JSON is COCO's: `images` (`id`, `file_name`, `width`, `height`) and
`annotations`, one per hand:

    image_id, keypoints [63] = 21 x (x, y, v)  canonical (OpenPose) order, v > 0 labelled
    segmentation                               polygons [[x1, y1, ...], ...], or RLE
                                               {"size": [h, w], "counts": [...] or "..."}
    bbox [x, y, w, h]                          optional
    iscrowd                                    crowd regions are skipped
    is_left / handedness / hand_type / side    optional: 1 / "left" marks a left hand

COCO-WholeBody style annotations (`lefthand_kpts`, `righthand_kpts`,
`lefthand_valid`, `righthand_valid`) are read as well, as two 2D-only hands
(their masks are of the whole person, so no hand masks).

RLE follows pycocotools: run lengths over the column-major (Fortran-order)
flattened mask, starting with a run of zeros; compressed `counts` strings use
its 6-bit, LEB128-like encoding with delta coding from the third run on.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections import defaultdict

import numpy as np

from hiu_tf.data.sources.base import (
    CorruptImageError,
    Reader,
    ReaderError,
    crop_sample,
    read_image,
    require_file,
)

logger = logging.getLogger(__name__)


def rle_counts_from_string(counts: str | bytes) -> list[int]:
    """Decodes pycocotools' compressed RLE `counts` string into run lengths."""
    if isinstance(counts, bytes):
        counts = counts.decode("ascii")
    runs: list[int] = []
    p = 0
    n = len(counts)
    while p < n:
        x = 0
        k = 0
        more = True
        while more:
            if p >= n:
                raise ValueError("truncated RLE string")
            c = ord(counts[p]) - 48
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(runs) > 2:
            x += runs[-2]
        runs.append(x)
    return runs


def rle_decode(rle: dict) -> np.ndarray:
    """A COCO RLE `{"size": [h, w], "counts": list or str}` as an `[h, w]` uint8 mask.

    Raises:
        ValueError: malformed RLE (negative runs, or runs not covering h x w).
    """
    h, w = (int(v) for v in rle["size"])
    counts = rle["counts"]
    runs = rle_counts_from_string(counts) if isinstance(counts, str | bytes) else list(counts)
    runs_arr = np.asarray(runs, np.int64)
    if np.any(runs_arr < 0) or runs_arr.sum() != h * w:
        raise ValueError(f"RLE runs sum to {runs_arr.sum()}, expected {h * w} (= {h} x {w})")
    values = np.zeros(len(runs_arr), np.uint8)
    values[1::2] = 1
    flat = np.repeat(values, runs_arr)
    return flat.reshape((w, h)).T.copy()  # column-major


def polygons_to_mask(polygons: list, height: int, width: int) -> np.ndarray:
    """COCO polygons `[[x1, y1, x2, y2, ...], ...]` as an `[h, w]` uint8 mask (their union).

    Coordinates have pixel corners on integers (COCO's convention); a pixel is
    in a polygon when its centre `(j + 0.5, i + 0.5)` is (even-odd rule,
    evaluated only inside the polygon's bounding box).
    """
    mask = np.zeros((height, width), np.uint8)
    for poly in polygons:
        pts = np.asarray(poly, np.float64).reshape(-1, 2)
        if len(pts) < 3:
            continue
        x_lo = max(int(np.floor(pts[:, 0].min())), 0)
        x_hi = min(int(np.ceil(pts[:, 0].max())), width)
        y_lo = max(int(np.floor(pts[:, 1].min())), 0)
        y_hi = min(int(np.ceil(pts[:, 1].max())), height)
        if x_hi <= x_lo or y_hi <= y_lo:
            continue
        px = np.arange(x_lo, x_hi, dtype=np.float64)[None, :] + 0.5  # [1, W']
        py = np.arange(y_lo, y_hi, dtype=np.float64)[:, None] + 0.5  # [H', 1]
        inside = np.zeros((y_hi - y_lo, x_hi - x_lo), bool)
        for (x1, y1), (x2, y2) in zip(pts, np.roll(pts, -1, axis=0), strict=True):
            if y1 == y2:
                continue
            crosses = (y1 > py) != (y2 > py)  # [H', 1]
            x_at = x1 + (py - y1) * (x2 - x1) / (y2 - y1)  # [H', 1]
            inside ^= crosses & (px < x_at)
        mask[y_lo:y_hi, x_lo:x_hi] |= inside.astype(np.uint8)
    return mask


def segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray | None:
    """A COCO `segmentation` (polygons or RLE) as an `[h, w]` mask; None if empty."""
    if not segmentation:
        return None
    if isinstance(segmentation, dict):
        mask = rle_decode(segmentation)
        if mask.shape != (height, width):
            raise ValueError(f"RLE size {mask.shape} differs from the image {(height, width)}")
        return mask
    return polygons_to_mask(segmentation, height, width)


def _is_left(anno: dict) -> bool:
    for key in ("is_left", "isLeft", "left"):
        if key in anno:
            return bool(anno[key])
    for key in ("handedness", "hand_type", "side", "hand_side"):
        if isinstance(anno.get(key), str):
            return anno[key].lower().startswith("l")
    return False


def _find_annotation_file(root: str, split: str) -> str:
    candidates = [
        os.path.join(root, "annotations", f"{split}.json"),
        *sorted(glob.glob(os.path.join(glob.escape(root), "annotations", f"*{split}*.json"))),
        os.path.join(root, f"{split}.json"),
    ]
    for path in candidates:
        if os.path.isfile(path):
            return path
    raise ReaderError(
        f"COCO-style annotation file for split {split!r} not found: tried "
        f"{candidates[0]}, annotations/*{split}*.json and {candidates[-1]}"
    )


class CocoHandReader(Reader):
    """COCO-style hand keypoints with polygon / RLE masks.

    Args:
        root: dataset root (see the module docstring).
        split: name of the annotation file / image folder ("train", "val", ...).
        annotation_file: explicit JSON path (overrides the search).
        **kwargs: `Reader` options.
    """

    name = "coco_hand"
    splits = ("train", "val", "test", "eval", "validation")

    def __init__(self, root, split: str = "train", *, annotation_file: str | None = None, **kwargs):
        super().__init__(root, split, **kwargs)
        path = (
            require_file(annotation_file, "COCO-style annotation file")
            if annotation_file
            else _find_annotation_file(self.root, split)
        )
        with open(path) as f:
            try:
                data = json.load(f)
            except json.JSONDecodeError as e:
                raise ReaderError(f"{path} is not valid JSON: {e}") from e
        if not isinstance(data, dict) or "images" not in data or "annotations" not in data:
            raise ReaderError(f"{path} must be a COCO dict with 'images' and 'annotations'")
        self.annotation_file = path
        self.images = {img["id"]: img for img in data["images"]}
        by_image: dict = defaultdict(list)
        for anno in data["annotations"]:
            if anno.get("iscrowd", 0):
                continue
            by_image[anno["image_id"]].append(anno)
        self.image_ids = sorted(i for i in self.images if by_image[i])
        self.by_image = by_image
        image_dirs = [os.path.join(self.root, "images", split), os.path.join(self.root, "images")]
        self.image_dirs = [d for d in image_dirs if os.path.isdir(d)] + [self.root]

    def __len__(self) -> int:
        return len(self.image_ids)

    def _image_path(self, file_name: str) -> str:
        for folder in self.image_dirs:
            path = os.path.join(folder, file_name)
            if os.path.isfile(path):
                return path
        raise CorruptImageError(f"missing image {file_name} (looked in {self.image_dirs})")

    def _hands(self, anno: dict) -> list[tuple[str, np.ndarray, bool, object]]:
        """`(tag, keypoints [21, 3], is_left, segmentation)` for each hand of an annotation."""
        hands = []
        if "keypoints" in anno and len(anno["keypoints"]) == 63:
            kp = np.asarray(anno["keypoints"], np.float64).reshape(21, 3)
            hands.append(("", kp, _is_left(anno), anno.get("segmentation")))
        for side in ("left", "right"):
            key = f"{side}hand_kpts"
            if key in anno and anno.get(f"{side}hand_valid", True):
                kp = np.asarray(anno[key], np.float64).reshape(21, 3)
                hands.append((f"/{side}", kp, side == "left", None))
        return hands

    def load(self, index: int):
        image_id = self.image_ids[index]
        info = self.images[image_id]
        image = read_image(self._image_path(info["file_name"]))
        h, w = image.shape[:2]
        out = []
        for a, anno in enumerate(self.by_image[image_id]):
            for tag, kp, is_left, segmentation in self._hands(anno):
                labelled = (kp[:, 2] > 0).astype(np.float32)
                try:
                    mask = segmentation_to_mask(segmentation, h, w)
                except (ValueError, KeyError, TypeError) as e:
                    logger.warning("coco_hand: bad segmentation in image %s: %s", image_id, e)
                    mask = None
                if labelled.sum() == 0 and mask is None:
                    continue
                uv = kp[:, :2] * labelled[:, None]
                hand = 2 * a + (1 if tag == "/right" else 0)
                box = self.crop_around(index, image, uv[labelled > 0], mask, hand)
                if box is None:
                    continue
                sample = crop_sample(
                    image,
                    box,
                    self.crop.image_size,
                    keypoints_px=uv if labelled.any() else None,
                    keypoint_visible=labelled if labelled.any() else None,
                    mask=mask,
                    is_left=is_left,
                )
                out.append((f"{image_id}/{anno.get('id', a)}{tag}", sample))
        return out
