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

Masks are decoded by `pycocotools.mask`, the COCO reference implementation
(`segmentation_to_mask`).
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


def segmentation_to_mask(segmentation, height: int, width: int) -> np.ndarray | None:
    """A COCO `segmentation` as an `[h, w]` uint8 {0, 1} mask, through `pycocotools.mask`.

    Follows `pycocotools.coco.COCO.annToRLE`: polygons are rasterised by
    `frPyObjects` and merged into one RLE; an uncompressed RLE (`counts` a
    list) is compressed by `frPyObjects`; a compressed one is used as it is;
    then `decode`.

    pycocotools checks only that the runs do not overflow the mask: runs that
    stop short leave the rest of its buffer undefined. So a list of counts must
    sum to h x w, and a compressed string must be exactly what `encode` gives
    for the mask it decodes to (pycocotools writes them so; a string with
    empty runs between others, which no COCO tool writes, is refused too).
    Polygons need at least 3 points (`frPyObjects` would take 4 numbers for a box).

    Returns:
        The mask, or None for an empty segmentation (or only degenerate polygons).

    Raises:
        ValueError: a malformed segmentation, or an RLE whose size is not the image's.
    """
    from pycocotools import mask as mask_utils

    if not segmentation:
        return None
    if isinstance(segmentation, dict):
        size = [int(v) for v in segmentation["size"]]
        if size != [height, width]:
            raise ValueError(f"RLE size {size} differs from the image {[height, width]}")
        counts = segmentation["counts"]
        if isinstance(counts, list):
            runs = np.asarray(counts)
            if runs.ndim != 1 or runs.dtype.kind not in "iu" or np.any(runs < 0):
                raise ValueError("RLE counts must be a list of non-negative integers")
            if runs.sum() != height * width:
                raise ValueError(
                    f"RLE runs sum to {runs.sum()}, expected {height * width} (= {height} x {width})"
                )
            rle = mask_utils.frPyObjects({"size": size, "counts": counts}, height, width)
            return mask_utils.decode(rle)
        if not isinstance(counts, str | bytes):
            raise ValueError(f"RLE counts must be a list or a string. Received: {type(counts)}")
        counts = counts.encode() if isinstance(counts, str) else counts
        mask = mask_utils.decode({"size": size, "counts": counts})
        if mask_utils.encode(np.asfortranarray(mask))["counts"] != counts:
            raise ValueError(f"RLE counts do not describe a {height} x {width} mask")
        return mask
    polygons = [np.asarray(p, np.float64).reshape(-1) for p in segmentation]
    if any(len(p) % 2 for p in polygons):
        raise ValueError("a polygon needs an even count of numbers (x1, y1, x2, y2, ...)")
    polygons = [p.tolist() for p in polygons if len(p) >= 6]
    if not polygons:
        return None
    rles = mask_utils.frPyObjects(polygons, height, width)
    return mask_utils.decode(mask_utils.merge(rles))


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
