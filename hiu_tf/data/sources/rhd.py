"""Rendered Hand Pose dataset (RHD, lmb-freiburg/hand3d) reader.

Layout under the root (`RHD_published_v2`):

    training/anno_training.pickle     {sample_id: {"xyz": [42, 3] m, "uv_vis": [42, 3], "K": [3, 3]}}
    training/color/%.5d.png           320 x 320 RGB
    training/mask/%.5d.png            class ids: 0 background, 1 person,
                                      2-17 left hand, 18-33 right hand
    evaluation/...                    the same with "evaluation"

Keypoints 0-20 are the left hand, 21-41 the right hand, each in RHD order
(wrist, then every finger tip -> MCP), mapped here with
`hiu_tf.keypoints.RHD_TO_CANONICAL`. `uv_vis[:, 2]` flags visibility.

Every image gives up to two samples, one per hand that has at least
`min_visible` visible keypoints; left hands are mirrored into right hands. The
mask of a sample is its own hand's classes only. Keypoint positions of
occluded joints are known (rendered), so all 21 are labelled
(`keypoint_visible = 1`) unless `visible_only=True`, which keeps RHD's
visibility flags (as the hand3d 2D evaluation does).

The annotation pickle is read with the restricted unpickler of
`mano_tf.hand_model` (plain dicts, lists and NumPy arrays only; nothing from
the file is executed).
"""

from __future__ import annotations

import logging
import os

import numpy as np

from hiu_tf.data.sources.base import (
    Reader,
    ReaderError,
    crop_sample,
    read_image,
    read_label_image,
    require_dir,
    require_file,
)
from hiu_tf.keypoints import RHD_TO_CANONICAL

logger = logging.getLogger(__name__)

_SET_NAMES = {"train": "training", "eval": "evaluation"}
LEFT_CLASSES = (2, 17)
RIGHT_CLASSES = (18, 33)


def load_annotations(path: str) -> dict:
    """Reads an RHD `anno_*.pickle` safely into `{sample_id: {key: array}}`."""
    from mano_tf.hand_model import HandModelError, UnsafePickleError, load_pickle_arrays

    require_file(path, "RHD annotation file")
    try:
        annotations = load_pickle_arrays(path)
    except (HandModelError, UnsafePickleError) as e:
        raise ReaderError(f"{path} is not a readable RHD annotation pickle: {e}") from e
    for key, value in annotations.items():
        if not isinstance(value, dict) or not {"xyz", "uv_vis", "K"} <= set(value):
            raise ReaderError(f"{path}: entry {key!r} must be a dict with 'xyz', 'uv_vis' and 'K'")
    return annotations


class RHDReader(Reader):
    """RHD samples (2D, 3D, mask; both hands of an image).

    Args:
        root: the RHD root (holding `training/` and `evaluation/`).
        split: "train" or "eval".
        min_visible: smallest number of visible keypoints for a hand to give a sample.
        visible_only: keep RHD's visibility flags as `keypoint_visible`.
        **kwargs: `Reader` options.
    """

    name = "rhd"
    splits = ("train", "eval")

    def __init__(
        self,
        root,
        split: str = "train",
        *,
        min_visible: int = 3,
        visible_only: bool = False,
        **kwargs,
    ):
        super().__init__(root, split, **kwargs)
        set_name = _SET_NAMES[split]
        self.set_dir = require_dir(os.path.join(self.root, set_name), f"RHD {set_name} folder")
        self.annotations = load_annotations(os.path.join(self.set_dir, f"anno_{set_name}.pickle"))
        self.ids = sorted(self.annotations)
        self.min_visible = int(min_visible)
        self.visible_only = bool(visible_only)

    def __len__(self) -> int:
        return len(self.ids)

    def load(self, index: int):
        sample_id = self.ids[index]
        anno = self.annotations[sample_id]
        name = f"{int(sample_id):05d}.png"
        image = read_image(os.path.join(self.set_dir, "color", name))
        classes = read_label_image(os.path.join(self.set_dir, "mask", name))
        xyz = np.asarray(anno["xyz"], np.float64).reshape(42, 3)
        uv_vis = np.asarray(anno["uv_vis"], np.float64).reshape(42, 3)
        k = np.asarray(anno["K"], np.float64).reshape(3, 3)
        order = list(RHD_TO_CANONICAL)
        out = []
        for hand, (is_left, (lo, hi)) in enumerate(((True, LEFT_CLASSES), (False, RIGHT_CLASSES))):
            part = slice(0, 21) if is_left else slice(21, 42)
            uv = uv_vis[part, :2][order]
            visible = (uv_vis[part, 2][order] > 0).astype(np.float32)
            if visible.sum() < self.min_visible:
                continue
            mask = (classes >= lo) & (classes <= hi)
            labelled = visible if self.visible_only else np.ones(21, np.float32)
            box = self.crop_around(index, image, uv[visible > 0], mask, hand)
            sample = crop_sample(
                image,
                box,
                self.crop.image_size,
                keypoints_px=uv,
                keypoint_visible=labelled,
                joints_cam=xyz[part][order],
                intrinsics=k,
                mask=mask,
                is_left=is_left,
            )
            out.append(
                (f"{self.split}/{int(sample_id):05d}/{'left' if is_left else 'right'}", sample)
            )
        return out
