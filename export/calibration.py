"""Calibration images for int8 export, read as images: unreadable ones are skipped and counted.

`load_images(sources, size, count)` reads up to `count` images from, in order,
each of `sources`:

* TFRecords (a folder of shards, a glob pattern or a shard file written by
  `python -m hiu_tf data`): each record's crop, decoded strictly by
  `hiu_tf.data.tfrecord.iter_record_images` (a record with a corrupt image is
  skipped and counted; so is a damaged shard's tail) and resized to `size`
  (`hiu_tf.image.resize`: area when shrinking, bilinear when enlarging);
* image files (a folder, searched recursively, a glob pattern or a file with
  an image extension): each file read by `hiu_tf.image.read_image` (a missing,
  empty, truncated, corrupt or non-image file is skipped and counted) and
  cropped as `python -m hiu_tf predict` does without a box: the whole image,
  padded to a centred square, resized to `size` (`hiu_tf.image.crop_square`).

No training pipeline and no targets are built: only pixels are needed.
"""

from __future__ import annotations

import glob
import logging
import os
from collections.abc import Iterator, Sequence

import numpy as np

from export.graph import ExportError
from hiu_tf import image as image_lib

logger = logging.getLogger(__name__)


def _image_files(source: str) -> list[str] | None:
    """The image files `source` names (folder, pattern or file), or None if it names TFRecords."""
    from hiu_tf.data.tfrecord import RECORD_SUFFIX

    if os.path.isdir(source):
        if glob.glob(os.path.join(glob.escape(source), f"*{RECORD_SUFFIX}")):
            return None
        return image_lib.image_files_under(source) or None
    matches = [source] if os.path.isfile(source) else sorted(glob.glob(source))
    images = [m for m in matches if m.lower().endswith(image_lib.IMAGE_EXTENSIONS)]
    return images if images and len(images) == len(matches) else None


def _from_files(paths: Sequence[str], size: int, stats: dict[str, int]) -> Iterator[np.ndarray]:
    for path in paths:
        stats["files"] += 1
        try:
            image = image_lib.read_image(path)
        except image_lib.ImageError as e:
            stats["skipped_corrupt"] += 1
            logger.warning("calibration: skipping %s", e)
            continue
        h, w = image.shape[:2]
        yield image_lib.crop_square(image, *image_lib.centred_square(h, w, max(h, w)), size)


def _from_records(source: str, size: int, stats: dict[str, int]) -> Iterator[np.ndarray]:
    from hiu_tf.data.tfrecord import iter_record_images

    for _, image in iter_record_images(source, stats):
        yield image_lib.resize(image, size, size)


def load_images(sources: Sequence[str], size: int, count: int) -> tuple[np.ndarray, dict[str, int]]:
    """Up to `count` calibration images from `sources` (see the module docstring).

    Args:
        sources: TFRecord or image folders / patterns / files, read in order.
        size: the model's input side S.
        count: the number of images wanted.

    Returns:
        `(images, stats)`: `[n, S, S, 3]` float32 in [0, 255] with `n <= count`,
        and the counts `files`, `records`, `skipped_corrupt` and `damaged_shards`.

    Raises:
        ExportError: no readable image at all.
        TFRecordError: a source that is neither images nor TFRecords.
    """
    stats = {"files": 0, "records": 0, "skipped_corrupt": 0, "damaged_shards": 0}
    images: list[np.ndarray] = []
    for source in sources:
        files = _image_files(source)
        stream = (
            _from_records(source, size, stats) if files is None else _from_files(files, size, stats)
        )
        for image in stream:
            images.append(image)
            if len(images) >= count:
                break
        if len(images) >= count:
            break
    if not images:
        raise ExportError(
            f"no readable images in the representative data {list(sources)} "
            f"({stats['skipped_corrupt']} unreadable skipped)"
        )
    return np.stack(images).astype(np.float32), stats
