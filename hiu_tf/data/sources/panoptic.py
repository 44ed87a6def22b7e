"""CMU Panoptic hand keypoints ("Hand Keypoint Detection in Single Images using Multiview
Bootstrapping", Simon et al. 2017), the `hand_labels` release: 2D labels only.

Layout under the root (`hand_labels/`, or `hand_labels_synth/`):

    manual_train/<name>.jpg + <name>.json     {"hand_pts": [[x, y, v] x 21], "is_left": 0/1, ...}
    manual_test/...
    synth1/ ... synth4/                       (hand_labels_synth)

`hand_pts` are in the OpenPose order, which is our canonical order; `v` (the
third value) is 1 for a labelled point. Left hands are mirrored into right
hands. A `split` is the name of a sub-folder ("train" and "test" mean
`manual_train` and `manual_test`); `split="."` reads the root itself.
"""

from __future__ import annotations

import json
import logging
import os

import numpy as np

from hiu_tf.data.sources.base import (
    CorruptImageError,
    Reader,
    ReaderError,
    crop_sample,
    read_image,
    require_dir,
)

logger = logging.getLogger(__name__)

_ALIASES = {"train": "manual_train", "test": "manual_test", "eval": "manual_test"}


class PanopticReader(Reader):
    """CMU Panoptic `hand_labels` samples (2D keypoints).

    Args:
        root: the `hand_labels` (or `hand_labels_synth`) folder.
        split: "train", "test"/"eval", a sub-folder name ("synth2"), or ".".
        **kwargs: `Reader` options.
    """

    name = "panoptic"
    splits = ("train", "test", "eval", "synth1", "synth2", "synth3", "synth4", ".")

    def __init__(self, root, split: str = "train", **kwargs):
        super().__init__(root, split, **kwargs)
        folder = os.path.join(self.root, _ALIASES.get(split, split))
        self.folder = require_dir(folder, "CMU Panoptic hand_labels split folder")
        self.names = sorted(f[:-5] for f in os.listdir(self.folder) if f.endswith(".json"))
        if not self.names:
            raise ReaderError(
                f"CMU Panoptic annotation files not found: no *.json in {self.folder}"
            )

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int):
        name = self.names[index]
        path = os.path.join(self.folder, name + ".json")
        try:
            with open(path) as f:
                anno = json.load(f)
            points = np.asarray(anno["hand_pts"], np.float64).reshape(21, 3)
            is_left = bool(anno.get("is_left", 0))
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise CorruptImageError(f"unreadable annotation {path}: {e}") from e
        labelled = (points[:, 2] > 0).astype(np.float32)
        if labelled.sum() < 2:
            return []
        image = read_image(os.path.join(self.folder, name + ".jpg"))
        uv = points[:, :2] * labelled[:, None]
        box = self.crop_around(index, image, uv[labelled > 0])
        sample = crop_sample(
            image,
            box,
            self.crop.image_size,
            keypoints_px=uv,
            keypoint_visible=labelled,
            is_left=is_left,
        )
        return [(f"{_ALIASES.get(self.split, self.split)}/{name}", sample)]
