"""FreiHAND (lmb-freiburg/freihand, v2) reader.

Layout under the root (as released):

    training_K.json       [N][3][3]   intrinsics of the 224 x 224 images
    training_xyz.json     [N][21][3]  joints, metres, camera frame, canonical order
    training_mano.json    [N][1][61]  MANO pose (48), shape (10), uv_root (2), scale (1)
    training_verts.json   [N][778][3] (not read: not part of the sample dict)
    training/rgb/%08d.jpg             4 N images: version v of sample i is v N + i
                                      (green screen, homogenised, sample, auto)
    training/mask/%08d.jpg            N masks (JPEG, > 127 = hand), one per sample
    evaluation_K.json, evaluation_xyz.json, evaluation_mano.json
    evaluation/rgb/%08d.jpg           evaluation images (one version)
    evaluation/segmap/%08d.png        (v2, optional) segmentation, nonzero = hand

All hands are right hands; keypoints are `K xyz` projections (all labelled).
A missing or unreadable mask leaves its sample without a mask (`has_mask = 0`),
counted in `stats["unreadable_masks"]`; an unreadable image skips the sample.

MANO labels. FreiHAND's 48 pose values are relative to MANO's mean finger pose
(`flat_hand_mean=False` in its toolbox); the sample dict stores the full
rotations, so the reader needs MANO's `hands_mean` from the licensed
`MANO_RIGHT.pkl` (or its `.npz`): pass `hand_model=PATH`. Without it the MANO
labels are left out (`has_mano = 0`); the open hand model is not MANO, so its
mean pose must not be used here.
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
    read_label_image,
    require_dir,
    require_file,
)

logger = logging.getLogger(__name__)

VERSIONS = ("gs", "hom", "sample", "auto")
_SET_NAMES = {"train": "training", "eval": "evaluation"}


def _load_json(path: str, what: str) -> list:
    require_file(path, what)
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ReaderError(f"{path} is not valid JSON: {e}") from e


class FreiHandReader(Reader):
    """FreiHAND samples with 2D, 3D, mask and (given MANO's mean pose) MANO labels.

    Args:
        root: the FreiHAND root (holding `training_K.json`, `training/`, ...).
        split: "train" or "eval".
        hand_model: path to `MANO_RIGHT.pkl` or its `.npz`, for `hands_mean`
            (see the module docstring); None leaves MANO labels out.
        versions: which training image versions to read (default: all present).
        **kwargs: `Reader` options (image_size, jitter, seed, box_scale, ...).
    """

    name = "freihand"
    splits = ("train", "eval")

    def __init__(
        self,
        root,
        split: str = "train",
        *,
        hand_model: str | None = None,
        versions: tuple[str, ...] | None = None,
        **kwargs,
    ):
        super().__init__(root, split, **kwargs)
        self.stats["unreadable_masks"] = 0
        set_name = _SET_NAMES[split]
        self.set_name = set_name
        self.K = _load_json(
            os.path.join(self.root, f"{set_name}_K.json"), f"FreiHAND {set_name}_K.json"
        )
        self.xyz = _load_json(
            os.path.join(self.root, f"{set_name}_xyz.json"), f"FreiHAND {set_name}_xyz.json"
        )
        mano_path = os.path.join(self.root, f"{set_name}_mano.json")
        self.mano = (
            _load_json(mano_path, "FreiHAND mano file") if os.path.isfile(mano_path) else None
        )
        self.num_samples = len(self.K)
        for what, values in (("xyz", self.xyz), ("mano", self.mano)):
            if values is not None and len(values) != self.num_samples:
                raise ReaderError(
                    f"FreiHAND {set_name}_{what}.json has {len(values)} entries, "
                    f"{set_name}_K.json has {self.num_samples}"
                )
        self.rgb_dir = require_dir(os.path.join(self.root, set_name, "rgb"), "FreiHAND rgb folder")
        mask_dir = os.path.join(self.root, set_name, "mask" if split == "train" else "segmap")
        self.mask_dir = mask_dir if os.path.isdir(mask_dir) else None
        self.mask_ext = ".jpg" if split == "train" else ".png"
        if split == "train":
            present = tuple(
                v
                for i, v in enumerate(VERSIONS)
                if os.path.isfile(os.path.join(self.rgb_dir, f"{i * self.num_samples:08d}.jpg"))
            )
            if versions is None:
                versions = present or VERSIONS[:1]
            unknown = [v for v in versions if v not in VERSIONS]
            if unknown:
                raise ReaderError(f"versions must be among {VERSIONS}. Received: {unknown}")
        else:
            versions = VERSIONS[:1]
        self.versions = tuple(versions)
        self.hands_mean = None
        if hand_model is not None:
            from mano_tf.hand_model import load_hand_model

            model = load_hand_model(hand_model)
            if model.side != "right":
                raise ReaderError(
                    f"FreiHAND needs the right MANO model. Received: {hand_model} ({model.side})"
                )
            self.hands_mean = np.asarray(model.hands_mean, np.float64)
        elif self.mano is not None:
            logger.info("FreiHAND: no MANO model given (hand_model=...): MANO labels are left out")

    def __len__(self) -> int:
        return self.num_samples * len(self.versions)

    def load(self, index: int):
        from mano_tf import camera

        version = self.versions[index // self.num_samples]
        i = index % self.num_samples
        image_id = VERSIONS.index(version) * self.num_samples + i
        image = read_image(os.path.join(self.rgb_dir, f"{image_id:08d}.jpg"))
        k = np.asarray(self.K[i], np.float64).reshape(3, 3)
        xyz = np.asarray(self.xyz[i], np.float64).reshape(21, 3)
        uv = camera.project_points(xyz, k).numpy()
        mask = None
        if self.mask_dir is not None:
            try:
                mask = read_label_image(os.path.join(self.mask_dir, f"{i:08d}{self.mask_ext}"))
            except CorruptImageError as e:  # the sample is kept, without its mask
                self.stats["unreadable_masks"] += 1
                logger.warning("FreiHAND: sample %d without mask: %s", i, e)
            else:
                threshold = 127 if self.split == "train" else 0
                mask = mask > threshold
                if mask.shape != image.shape[:2]:
                    raise CorruptImageError(
                        f"mask of sample {i} is {mask.shape}, image {image.shape[:2]}"
                    )
        pose = betas = None
        if self.mano is not None and self.hands_mean is not None:
            theta = np.asarray(self.mano[i], np.float64).reshape(-1)
            pose = theta[:48] + np.concatenate([np.zeros(3), self.hands_mean])
            betas = theta[48:58]
        box = self.crop_around(index, image, uv)
        sample = crop_sample(
            image,
            box,
            self.crop.image_size,
            keypoints_px=uv,
            joints_cam=xyz,
            intrinsics=k,
            mask=mask,
            mano_pose=pose,
            mano_betas=betas,
        )
        return [(f"{self.set_name}/{image_id:08d}", sample)]
