"""What every dataset reader shares: image loading, hand crops, iteration with skip counts.

A reader lists its *items* (one image and its annotation; a cheap index) and
turns an item into zero or more samples (RHD gives one per labelled hand).
Iterating a reader yields `(sample_id, sample)` pairs; an item whose image is
missing, empty, truncated, corrupt or not an image (`hiu_tf.image` decides) is
logged, counted in `reader.stats["skipped_corrupt"]` and skipped.

Crops. `crop_hand` cuts a square around the hand's labelled 2D keypoints (or
its mask), `box_scale` times the larger side of their bounding box, resizes it
to `image_size` and updates K (`mano_tf.camera.crop_intrinsics`, then
`resize_intrinsics`); left hands are then mirrored into right hands
(`schema.mirror_sample`). With `jitter` (the default for training splits) the
centre moves by up to `centre_jitter` of the side and the side is scaled
log-uniformly within `1 +- scale_jitter`, from a generator seeded by
`(seed, item index)`, so a conversion is reproducible and independent of order.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Iterator, Sequence
from typing import Any, ClassVar

import numpy as np

from hiu_tf import image as image_lib
from hiu_tf.data import schema
from hiu_tf.errors import UserError

# The readers read image files (and cut crops) through `hiu_tf.image`; re-exported here.
from hiu_tf.image import IMAGE_EXTENSIONS as IMAGE_EXTENSIONS
from hiu_tf.image import ImageError
from hiu_tf.image import read_image as read_image
from hiu_tf.image import read_label_image as read_label_image

logger = logging.getLogger(__name__)

TRAIN_SPLITS = ("train", "training")


class ReaderError(UserError, ValueError):
    """A dataset root or annotation file that is missing or unreadable."""


# The readers' name for `hiu_tf.image.ImageError`: raised by `load` for an item that
# cannot be used (a missing, truncated or corrupt image, an unreadable annotation);
# `Reader.load_counted` skips and counts it.
CorruptImageError = ImageError


def require_dir(path: str, what: str) -> str:
    """Returns `path` if it is a folder, else raises `ReaderError` naming `what`."""
    if not os.path.isdir(path):
        raise ReaderError(f"{what} not found: {path!r} is not a folder")
    return path


def require_file(path: str, what: str) -> str:
    """Returns `path` if it is a file, else raises `ReaderError` naming `what`."""
    if not os.path.isfile(path):
        raise ReaderError(f"{what} not found: {path!r} does not exist")
    return path


@dataclasses.dataclass(frozen=True)
class CropOptions:
    """How a reader cuts the crop around a hand.

    Attributes:
        image_size: output crop side S, pixels.
        box_scale: crop side / larger side of the hand's bounding box.
        jitter: randomise centre and scale (training).
        centre_jitter: centre shift, uniform in +-this fraction of the crop side.
        scale_jitter: side scaled log-uniformly in [1 - s, 1 + s].
        min_side: smallest crop side in source pixels.
    """

    image_size: int = 256
    box_scale: float = 1.6
    jitter: bool = False
    centre_jitter: float = 0.08
    scale_jitter: float = 0.15
    min_side: float = 16.0

    def __post_init__(self) -> None:
        if isinstance(self.image_size, bool) or not isinstance(self.image_size, int):
            raise ReaderError(f"image_size must be an int. Received: image_size={self.image_size}")
        if self.image_size < 8:
            raise ReaderError(f"image_size must be >= 8. Received: image_size={self.image_size}")
        if not self.box_scale > 0:
            raise ReaderError(f"box_scale must be > 0. Received: box_scale={self.box_scale}")
        if not 0 <= self.scale_jitter < 1 or not 0 <= self.centre_jitter < 1:
            raise ReaderError(
                "centre_jitter and scale_jitter must be in [0, 1). Received: "
                f"centre_jitter={self.centre_jitter}, scale_jitter={self.scale_jitter}"
            )


def hand_box(points: np.ndarray) -> tuple[np.ndarray, float]:
    """Centre `[2]` and larger side of the bounding box of `[N, 2]` points."""
    lo, hi = points.min(axis=0), points.max(axis=0)
    return (lo + hi) / 2.0, float(np.max(hi - lo))


def crop_box(
    centre: np.ndarray, side: float, options: CropOptions, rng: np.random.Generator | None
) -> tuple[int, int, int]:
    """The integer crop `(x0, y0, side)` around a hand box, with jitter when asked."""
    side = max(side * options.box_scale, options.min_side)
    centre = np.asarray(centre, np.float64)
    if options.jitter and rng is not None:
        centre = centre + rng.uniform(-1.0, 1.0, 2) * options.centre_jitter * side
        lo, hi = math.log(1.0 - options.scale_jitter), math.log(1.0 + options.scale_jitter)
        side *= math.exp(rng.uniform(lo, hi))
    return image_lib.square_around(float(centre[0]), float(centre[1]), side)


def from_opencv_pixels(
    keypoints_px: np.ndarray | None, intrinsics: np.ndarray | None
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """OpenCV-convention pixel coordinates (integers at pixel centres) -> the project's.

    The project's convention (`mano_tf.camera`) puts pixel centres at
    half-integers, so a point moves by +0.5 along both axes, and so does the
    principal point of K (its other entries do not change).

    Args:
        keypoints_px: `[..., 2]` pixels, or None.
        intrinsics: `[3, 3]` K with the last row `[0, 0, 1]`, or None.

    Returns:
        `(keypoints_px, intrinsics)` as float64 arrays (None stays None).
    """
    if keypoints_px is not None:
        keypoints_px = np.asarray(keypoints_px, np.float64) + 0.5
    if intrinsics is not None:
        intrinsics = np.array(intrinsics, np.float64)
        intrinsics[:2, 2] += 0.5
    return keypoints_px, intrinsics


def crop_sample(
    image: np.ndarray,
    box: tuple[int, int, int],
    image_size: int,
    *,
    keypoints_px: np.ndarray | None = None,
    keypoint_visible: np.ndarray | None = None,
    joints_cam: np.ndarray | None = None,
    intrinsics: np.ndarray | None = None,
    mask: np.ndarray | None = None,
    mano_pose: np.ndarray | None = None,
    mano_betas: np.ndarray | None = None,
    is_left: bool = False,
) -> dict[str, np.ndarray]:
    """Cuts `box = (x0, y0, side)` out of a full image and its labels into a sample dict.

    This is where dataset pixel coordinates enter the project. Datasets give
    2D keypoints, and K projects to coordinates, in the OpenCV convention
    (integer values are pixel centres: pixel column j spans [j - 0.5, j + 0.5));
    the sample dict, the crops, resizes, augmentation and heat-maps use the
    convention of `mano_tf.camera` (pixel column j spans [j, j + 1)). So the
    keypoints get +0.5 and K's principal point +0.5 (`from_opencv_pixels`)
    before the crop (`u - x0`) and the resize (`u * S / side`), which are exact
    in the second convention only.

    Args:
        image: `[H, W, 3]` uint8 RGB.
        box: crop in image pixels (may reach outside the image: zero padding).
        image_size: output side S.
        keypoints_px: `[21, 2]` image pixels, OpenCV convention, canonical order
            (None: no 2D labels).
        keypoint_visible: `[21]` labelled flags.
        joints_cam: `[21, 3]` metres (needs `intrinsics`).
        intrinsics: `[3, 3]` K of the full image, projecting to OpenCV-convention pixels.
        mask: `[H, W]` nonzero = this hand.
        mano_pose, mano_betas: MANO parameters (full pose, see `schema`).
        is_left: a left hand; the sample is mirrored into a right hand.

    Returns:
        The sample dict (validated).
    """
    from mano_tf import camera

    keypoints_px, intrinsics = from_opencv_pixels(keypoints_px, intrinsics)
    x0, y0, side = box
    factor = image_size / side
    crop = image_lib.crop_square(image, x0, y0, side, image_size)
    crop_mask = None
    if mask is not None:
        labels = (mask > 0).astype(np.uint8)
        crop_mask = image_lib.crop_square(labels, x0, y0, side, image_size, nearest=True)
    k = None
    if intrinsics is not None:
        k = camera.crop_intrinsics(np.asarray(intrinsics, np.float32), float(x0), float(y0))
        k = camera.resize_intrinsics(k, factor, factor).numpy()
    kp = None
    if keypoints_px is not None:
        kp = (np.asarray(keypoints_px, np.float64) - [x0, y0]) * factor
        if keypoint_visible is not None:  # unlabelled keypoints are zeros
            kp = kp * (np.asarray(keypoint_visible) > 0)[:, None]
    sample = schema.make_sample(
        crop,
        keypoints_px=kp,
        keypoint_visible=keypoint_visible,
        joints_cam=joints_cam,
        intrinsics=k,
        mask=crop_mask,
        mano_pose=mano_pose,
        mano_betas=mano_betas,
    )
    if is_left:
        sample = schema.mirror_sample(sample)
    schema.validate_sample(sample)
    return sample


class Reader:
    """Base class of the dataset readers.

    Subclasses set `name` and `splits`, index their items in `__init__`
    (raising `ReaderError` for a missing root or annotation file), and
    implement `__len__` and `load(index)`.

    Args:
        root: dataset root folder.
        split: one of the reader's `splits`.
        image_size: crop side S.
        jitter: centre/scale jitter of the crops; None = on for training splits.
        seed: seed of the jitter.
        **crop_kwargs: other `CropOptions` fields (box_scale, centre_jitter, ...).
    """

    name: ClassVar[str] = ""
    splits: ClassVar[tuple[str, ...]] = ("train",)

    def __init__(
        self,
        root: str | os.PathLike,
        split: str = "train",
        *,
        image_size: int = 256,
        jitter: bool | None = None,
        seed: int = 0,
        **crop_kwargs: Any,
    ):
        if split not in self.splits:
            raise ReaderError(
                f"{self.name} has the splits {self.splits}. Received: split={split!r}"
            )
        self.root = require_dir(os.fspath(root), f"{self.name} root")
        self.split = split
        self.seed = int(seed)
        if jitter is None:
            jitter = split in TRAIN_SPLITS
        self.crop = CropOptions(image_size=image_size, jitter=jitter, **crop_kwargs)
        self.stats = {"items": 0, "samples": 0, "skipped_corrupt": 0, "skipped_unlabelled": 0}

    def __len__(self) -> int:
        raise NotImplementedError

    def load(self, index: int) -> list[tuple[str, dict[str, np.ndarray]]]:
        """The samples of item `index` as `(sample_id, sample)` pairs.

        Raises:
            CorruptImageError: the item's image cannot be read.
        """
        raise NotImplementedError

    def rng(self, index: int, hand: int = 0) -> np.random.Generator:
        """The jitter generator of one item (and hand), independent of iteration order."""
        return np.random.default_rng([self.seed, index, hand])

    def crop_around(
        self,
        index: int,
        image: np.ndarray,
        points: np.ndarray | None,
        mask: np.ndarray | None = None,
        hand: int = 0,
    ) -> tuple[int, int, int] | None:
        """The crop box around labelled `points` `[N, 2]`, else around `mask`; None if neither.

        `points` are dataset pixels (OpenCV convention, as `crop_sample` takes
        them); a mask pixel counts with its centre, `(column, row)` there.
        """
        if points is not None and len(points):
            centre, side = hand_box(np.asarray(points, np.float64))
        elif mask is not None and np.any(mask):
            ys, xs = np.nonzero(mask)
            centre, side = hand_box(np.stack([xs, ys], axis=-1).astype(np.float64))
        else:
            return None
        return crop_box(centre, side, self.crop, self.rng(index, hand))

    def __iter__(self) -> Iterator[tuple[str, dict[str, np.ndarray]]]:
        for index in range(len(self)):
            yield from self.load_counted(index)

    def load_counted(self, index: int) -> Sequence[tuple[str, dict[str, np.ndarray]]]:
        """`load(index)`, with a corrupt item logged, counted in `stats` and skipped."""
        self.stats["items"] += 1
        try:
            samples = self.load(index)
        except CorruptImageError as e:
            self.stats["skipped_corrupt"] += 1
            logger.warning("%s: skipping item %d: %s", self.name, index, e)
            return []
        if not samples:
            self.stats["skipped_unlabelled"] += 1
        self.stats["samples"] += len(samples)
        return samples
