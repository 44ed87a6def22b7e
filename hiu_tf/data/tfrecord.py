"""Sharded TFRecords of sample dicts: an encoder, a writer and a graph-mode decoder.

One `tf.train.Example` per sample:

    image/encoded     bytes    JPEG or PNG, RGB, S x S
    image/format      bytes    b"jpeg" or b"png"
    image/size        int64    S
    mask/encoded      bytes    PNG, one channel, 0 or 255
    keypoints_px      float    42 = 21 x (u, v)
    keypoint_visible  float    21
    joints_cam        float    63 = 21 x (x, y, z)
    intrinsics        float    9, row-major
    mano_pose         float    48
    mano_betas        float    10
    has_2d, has_3d, has_mask, has_mano, is_left   float  1 each
    meta/source, meta/id      bytes   where the sample came from (not in the sample dict)

A folder written by `ShardedWriter` holds `<prefix>-00000-of-00004.tfrecord`, ...,
and `dataset_info.json` (counts, crop size, image format, skipped items).

Following the decoder/parser split of tensorflow/models, `decode_example` turns
a record into the sample dict of tensors and nothing more; targets and
augmentation live in `hiu_tf.targets`, `hiu_tf.data.augment` and
`hiu_tf.data.pipeline`.
"""

from __future__ import annotations

import glob
import json
import logging
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import cv2
import numpy as np
import tensorflow as tf

from hiu_tf.data import schema
from hiu_tf.errors import UserError
from mano_tf.checks import check_int

logger = logging.getLogger(__name__)

IMAGE_FORMATS = ("jpeg", "png")
INFO_FILE = "dataset_info.json"
RECORD_SUFFIX = ".tfrecord"
FORMAT_VERSION = "hiu_tf.sample/1"
_VECTOR_KEYS = {
    "keypoints_px": 42,
    "keypoint_visible": 21,
    "joints_cam": 63,
    "intrinsics": 9,
    "mano_pose": 48,
    "mano_betas": 10,
}


class TFRecordError(UserError, ValueError):
    """Missing or inconsistent TFRecord files or options."""


def _check_image_format(image_format: str) -> str:
    if image_format not in IMAGE_FORMATS:
        raise TFRecordError(
            f"image_format must be one of {IMAGE_FORMATS}. Received: image_format={image_format!r}"
        )
    return image_format


def encode_image(image_rgb: np.ndarray, image_format: str = "jpeg", quality: int = 95) -> bytes:
    """Encodes an RGB image (uint8, or float in [0, 1]) as JPEG or PNG bytes."""
    _check_image_format(image_format)
    image = np.asarray(image_rgb)
    if image.dtype != np.uint8:
        image = np.clip(np.rint(image * 255.0), 0, 255).astype(np.uint8)
    if image.ndim == 3:
        image = cv2.cvtColor(image, cv2.COLOR_RGB2BGR)
    params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)] if image_format == "jpeg" else []
    ok, buf = cv2.imencode(".jpg" if image_format == "jpeg" else ".png", image, params)
    if not ok:
        raise TFRecordError(f"could not encode an image of shape {image.shape} as {image_format}")
    return buf.tobytes()


def _float_feature(values) -> tf.train.Feature:
    flat = np.asarray(values, np.float32).reshape(-1)
    return tf.train.Feature(float_list=tf.train.FloatList(value=flat.tolist()))


def _bytes_feature(value: bytes) -> tf.train.Feature:
    return tf.train.Feature(bytes_list=tf.train.BytesList(value=[value]))


def encode_sample(
    sample: Mapping[str, Any],
    image_format: str = "jpeg",
    jpeg_quality: int = 95,
    source: str = "",
    sample_id: str = "",
) -> bytes:
    """Serialises one sample dict to a `tf.train.Example` (see the module docstring).

    Args:
        sample: a sample dict (NumPy), as produced by the readers.
        image_format: "jpeg" (lossy, small) or "png" (lossless).
        jpeg_quality: JPEG quality, 1-100.
        source: reader name, stored as `meta/source`.
        sample_id: identifier within the source, stored as `meta/id`.

    Returns:
        The serialised example.

    Raises:
        TFRecordError: a bad image format.
        SampleError: the sample breaks the schema.
    """
    _check_image_format(image_format)
    schema.validate_sample(sample)
    size = int(np.asarray(sample["image"]).shape[0])
    mask = (np.asarray(sample["mask"]) > 0).astype(np.uint8) * 255
    feature = {
        "image/encoded": _bytes_feature(encode_image(sample["image"], image_format, jpeg_quality)),
        "image/format": _bytes_feature(image_format.encode()),
        "image/size": tf.train.Feature(int64_list=tf.train.Int64List(value=[size])),
        "mask/encoded": _bytes_feature(encode_image(mask, "png")),
        "meta/source": _bytes_feature(source.encode()),
        "meta/id": _bytes_feature(str(sample_id).encode()),
    }
    for key in _VECTOR_KEYS:
        feature[key] = _float_feature(sample[key])
    for key in schema.FLAG_KEYS:
        feature[key] = _float_feature([sample[key]])
    example = tf.train.Example(features=tf.train.Features(feature=feature))
    return example.SerializeToString(
        deterministic=True
    )  # sorted map keys: same bytes in any process


def feature_spec() -> dict[str, tf.io.FixedLenFeature]:
    """The `tf.io.parse_example` spec of a record."""
    spec = {
        "image/encoded": tf.io.FixedLenFeature([], tf.string),
        "image/size": tf.io.FixedLenFeature([], tf.int64),
        "mask/encoded": tf.io.FixedLenFeature([], tf.string),
        "meta/source": tf.io.FixedLenFeature([], tf.string, default_value=""),
        "meta/id": tf.io.FixedLenFeature([], tf.string, default_value=""),
    }
    for key, n in _VECTOR_KEYS.items():
        spec[key] = tf.io.FixedLenFeature([n], tf.float32)
    for key in schema.FLAG_KEYS:
        spec[key] = tf.io.FixedLenFeature([], tf.float32)
    return spec


def decode_example(
    serialized: tf.Tensor, image_size: int | None = None, with_meta: bool = False
) -> dict[str, tf.Tensor]:
    """Decodes one serialised record into the sample dict of tensors (graph-safe).

    Args:
        serialized: scalar string tensor.
        image_size: the crop side S of the records, for static shapes (from
            `dataset_info.json`); None leaves the image dimensions unknown.
        with_meta: also return `meta/source` and `meta/id` (strings).

    Returns:
        Dict with the keys and shapes of `hiu_tf.data.schema` (`image` float32 in
        [0, 1], `mask` float32 {0, 1}).
    """
    parsed = tf.io.parse_single_example(serialized, feature_spec())
    image = tf.io.decode_image(parsed["image/encoded"], channels=3, expand_animations=False)
    mask = tf.io.decode_png(parsed["mask/encoded"], channels=1)
    image = tf.image.convert_image_dtype(image, tf.float32)
    mask = tf.cast(mask[..., 0] > 127, tf.float32)
    if image_size is not None:
        image = tf.ensure_shape(image, [image_size, image_size, 3])
        mask = tf.ensure_shape(mask, [image_size, image_size])
    out = {
        "image": image,
        "keypoints_px": tf.reshape(parsed["keypoints_px"], [21, 2]),
        "keypoint_visible": parsed["keypoint_visible"],
        "joints_cam": tf.reshape(parsed["joints_cam"], [21, 3]),
        "mask": mask,
        "intrinsics": tf.reshape(parsed["intrinsics"], [3, 3]),
        "mano_pose": parsed["mano_pose"],
        "mano_betas": parsed["mano_betas"],
    }
    for key in schema.FLAG_KEYS:
        out[key] = parsed[key]
    if with_meta:
        out["meta/source"] = parsed["meta/source"]
        out["meta/id"] = parsed["meta/id"]
    return out


class ShardedWriter:
    """Writes sample dicts into numbered TFRecord shards of at most `shard_size` records.

    Shards are written as `<prefix>-00000.tfrecord.tmp`, ... and renamed to
    `<prefix>-00000-of-0000N.tfrecord` on `close()`, which also writes
    `dataset_info.json`. Use it as a context manager; on an exception the
    temporary files are removed.

    Args:
        out_dir: output folder (created).
        prefix: file name prefix, e.g. "freihand-train".
        shard_size: records per shard.
        image_format: "jpeg" or "png".
        jpeg_quality: JPEG quality.
        source: reader name recorded in each record and in the info file.
        overwrite: replace existing shards with the same prefix.
    """

    def __init__(
        self,
        out_dir: str | os.PathLike,
        prefix: str,
        shard_size: int = 2048,
        image_format: str = "jpeg",
        jpeg_quality: int = 95,
        source: str = "",
        overwrite: bool = False,
    ):
        check_int(shard_size, "shard_size", error=TFRecordError)
        if not prefix or os.sep in prefix:
            raise TFRecordError(f"prefix must be a file name prefix. Received: prefix={prefix!r}")
        self.out_dir = os.fspath(out_dir)
        self.prefix = prefix
        self.shard_size = shard_size
        self.image_format = _check_image_format(image_format)
        self.jpeg_quality = jpeg_quality
        self.source = source
        os.makedirs(self.out_dir, exist_ok=True)
        existing = glob.glob(os.path.join(glob.escape(self.out_dir), f"{prefix}-*{RECORD_SUFFIX}"))
        if existing and not overwrite:
            raise TFRecordError(
                f"{self.out_dir} already holds {len(existing)} shards named {prefix}-*; "
                "pass overwrite=True (--force) or choose another folder"
            )
        for path in existing:
            os.remove(path)
        self._writer: tf.io.TFRecordWriter | None = None
        self._tmp_paths: list[str] = []
        self.num_samples = 0
        self.image_size: int | None = None
        self.info: dict[str, Any] = {}

    def _open_next(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = os.path.join(
            self.out_dir, f"{self.prefix}-{len(self._tmp_paths):05d}{RECORD_SUFFIX}.tmp"
        )
        self._tmp_paths.append(path)
        self._writer = tf.io.TFRecordWriter(path)

    def write(self, sample: Mapping[str, Any], sample_id: str = "") -> None:
        """Validates, encodes and writes one sample."""
        size = int(np.asarray(sample["image"]).shape[0])
        if self.image_size is not None and size != self.image_size:
            raise TFRecordError(
                f"all samples of a dataset must have one crop size. Received: {size} after "
                f"{self.image_size}"
            )
        record = encode_sample(sample, self.image_format, self.jpeg_quality, self.source, sample_id)
        self.write_encoded(record, size)

    def write_encoded(self, record: bytes, image_size: int) -> None:
        """Writes a record made by `encode_sample` (e.g. in a worker process)."""
        if self.image_size is None:
            self.image_size = image_size
        elif image_size != self.image_size:
            raise TFRecordError(
                f"all samples of a dataset must have one crop size. Received: {image_size} after "
                f"{self.image_size}"
            )
        if self._writer is None or self.num_samples % self.shard_size == 0:
            self._open_next()
        assert self._writer is not None
        self._writer.write(record)
        self.num_samples += 1

    def close(self, extra_info: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Closes the last shard, renames the shards and writes `dataset_info.json`.

        Args:
            extra_info: more entries for the info file (e.g. skipped items, seed).

        Returns:
            The info dict that was written.
        """
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        n = len(self._tmp_paths)
        shards = []
        for i, tmp in enumerate(self._tmp_paths):
            name = f"{self.prefix}-{i:05d}-of-{n:05d}{RECORD_SUFFIX}"
            os.replace(tmp, os.path.join(self.out_dir, name))
            shards.append(name)
        self._tmp_paths = []
        info_path = os.path.join(self.out_dir, INFO_FILE)
        info = read_dataset_info(self.out_dir) if os.path.exists(info_path) else {}
        parts = info.get("parts", {})
        parts[self.prefix] = {
            "num_samples": self.num_samples,
            "shards": shards,
            "source": self.source,
            **dict(extra_info or {}),
        }
        if info.get("image_size") not in (None, self.image_size):
            raise TFRecordError(
                f"{info_path} describes crops of {info['image_size']} px; these are "
                f"{self.image_size} px: write them to another folder"
            )
        info = {
            "format": FORMAT_VERSION,
            "image_size": self.image_size
            if self.image_size is not None
            else info.get("image_size"),
            "image_format": self.image_format,
            "num_samples": sum(p["num_samples"] for p in parts.values()),
            "parts": parts,
        }
        with open(info_path, "w") as f:
            json.dump(info, f, indent=2, sort_keys=True)
        self.info = info
        return info

    def abort(self) -> None:
        """Closes and removes the unfinished shards."""
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for path in self._tmp_paths:
            if os.path.exists(path):
                os.remove(path)
        self._tmp_paths = []

    def __enter__(self) -> ShardedWriter:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()


def write_tfrecords(
    samples: Iterable[tuple[str, Mapping[str, Any]]],
    out_dir: str | os.PathLike,
    prefix: str,
    *,
    shard_size: int = 2048,
    image_format: str = "jpeg",
    jpeg_quality: int = 95,
    source: str = "",
    overwrite: bool = False,
    extra_info: Callable[[], Mapping[str, Any]] | Mapping[str, Any] | None = None,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Writes `(sample_id, sample)` pairs into sharded TFRecords; returns the info dict.

    `extra_info` may be a callable, evaluated after the last sample (so a
    reader's skip counts are complete). `progress(n)` is called after each sample.
    """
    writer = ShardedWriter(
        out_dir, prefix, shard_size, image_format, jpeg_quality, source, overwrite
    )
    try:
        for sample_id, sample in samples:
            writer.write(sample, sample_id)
            if progress is not None:
                progress(writer.num_samples)
    except BaseException:
        writer.abort()
        raise
    extra = extra_info() if callable(extra_info) else extra_info
    return writer.close(extra)


def list_shards(path: str | os.PathLike) -> list[str]:
    """The TFRecord files of a folder (sorted), or of a glob pattern / single file.

    Raises:
        TFRecordError: nothing matches.
    """
    path = os.fspath(path)
    if os.path.isdir(path):
        files = sorted(glob.glob(os.path.join(glob.escape(path), f"*{RECORD_SUFFIX}")))
    else:
        files = sorted(f for f in glob.glob(path) if os.path.isfile(f))
    if not files:
        raise TFRecordError(
            f"no TFRecord files at {path!r}: expected a folder of *{RECORD_SUFFIX} shards "
            "(python -m hiu_tf data convert / synth), a glob pattern or a file"
        )
    return files


def read_dataset_info(path: str | os.PathLike) -> dict[str, Any]:
    """`dataset_info.json` of a TFRecord folder (or of the folder of a pattern); {} if none."""
    path = os.fspath(path)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    info_path = os.path.join(folder, INFO_FILE)
    if not os.path.exists(info_path):
        return {}
    with open(info_path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise TFRecordError(f"{info_path} is not valid JSON: {e}") from e


def read_tfrecords(
    path: str | os.PathLike,
    image_size: int | None = None,
    with_meta: bool = False,
) -> tf.data.Dataset:
    """A dataset of decoded sample dicts from a folder / pattern of shards, in file order.

    Args:
        path: folder, glob pattern or file.
        image_size: crop side for static shapes; None reads it from `dataset_info.json`.
        with_meta: also return `meta/source` and `meta/id`.
    """
    files = list_shards(path)
    if image_size is None:
        image_size = read_dataset_info(path).get("image_size")
    ds = tf.data.TFRecordDataset(files)
    return ds.map(
        lambda s: decode_example(s, image_size, with_meta), num_parallel_calls=tf.data.AUTOTUNE
    )


def iter_record_images(
    path: str | os.PathLike, stats: dict[str, int] | None = None, with_masks: bool = False
) -> Iterator[tuple[str, np.ndarray]]:
    """The images of a folder / pattern / file of shards, decoded strictly, in file order.

    Reads records one by one in Python (no training pipeline, no targets) and
    decodes each `image/encoded` with `hiu_tf.image.decode_image`, so a record
    whose image is truncated or corrupt is logged, counted in
    `stats["skipped_corrupt"]` and skipped instead of stopping the reading. A
    shard that ends in a damaged record (cut off, or failing its CRC: TFRecord's
    `DataLossError`) is counted in `stats["damaged_shards"]`; its records before
    the damage are kept and reading goes on with the next shard.
    `stats["records"]` counts the records seen.

    Args:
        path: folder, glob pattern or file of shards.
        stats: a dict updated in place (keys above); None keeps no counts.
        with_masks: also decode each `mask/encoded` (a record with a bad mask is skipped).

    Yields:
        `(record, image)`: `"<shard file>#<index>"` and `[S, S, 3]` uint8 RGB.

    Raises:
        TFRecordError: no shards at `path`.
    """
    from google.protobuf.message import DecodeError

    from hiu_tf.image import ImageError, decode_image

    stats = {} if stats is None else stats
    for key in ("records", "skipped_corrupt", "damaged_shards"):
        stats.setdefault(key, 0)
    for shard in list_shards(path):
        records = iter(tf.data.TFRecordDataset(shard).as_numpy_iterator())
        index = 0
        while True:
            try:
                serialized = next(records)
            except StopIteration:
                break
            except tf.errors.DataLossError as e:
                stats["damaged_shards"] += 1
                logger.warning("%s: damaged after %d records, rest skipped: %s", shard, index, e)
                break
            name = f"{shard}#{index}"
            index += 1
            stats["records"] += 1
            try:
                feature = tf.train.Example.FromString(serialized).features.feature
                image = decode_image(feature["image/encoded"].bytes_list.value[0], name)
                if with_masks:
                    decode_image(feature["mask/encoded"].bytes_list.value[0], name + " mask")
            except (DecodeError, IndexError, ImageError) as e:
                stats["skipped_corrupt"] += 1
                logger.warning("skipping record %s: %s", name, e)
                continue
            yield name, image
