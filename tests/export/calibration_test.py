"""int8 calibration images read from image files and TFRecords, unreadable ones skipped and counted."""

import logging

import cv2
import numpy as np
import pytest

from export import calibration, tflite
from export.inference import cut_square, square_box
from hiu_tf.data import schema, tfrecord
from tests import image_files
from tests.export import fixtures


def _write_rgb(path, rgb) -> None:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def _photos(folder, rng) -> dict[str, np.ndarray]:
    """One good PNG per name plus one file spoilt in each way; returns the good pixels."""
    folder.mkdir()
    good = {}
    for kind in image_files.KINDS:
        _write_rgb(folder / f"{kind}.jpg", rng.integers(0, 256, (30, 50, 3), dtype=np.uint8))
        image_files.spoil(folder / f"{kind}.jpg", kind)
    for name in ("a.png", "b.png"):
        good[name] = rng.integers(0, 256, (50, 30, 3), dtype=np.uint8)
        _write_rgb(folder / name, good[name])
    return good


def test_image_files_are_read_strictly_and_cropped_like_predict(tmp_path):
    good = _photos(tmp_path / "photos", np.random.default_rng(0))
    images, stats = calibration.load_images([str(tmp_path / "photos")], 24, 10)
    # Sorted: a.png, b.png, empty.jpg, text.jpg, truncated_jpeg.jpg, truncated_png.jpg,
    # wrong_extension.jpg (a PNG named .jpg: read by its content).
    assert stats == {"files": 7, "records": 0, "skipped_corrupt": 4, "damaged_shards": 0}
    assert images.shape == (3, 24, 24, 3) and images.dtype == np.float32
    for i, name in enumerate(("a.png", "b.png")):
        rgb = good[name]
        want = cut_square(rgb, square_box(*rgb.shape[:2]), 24)
        np.testing.assert_array_equal(images[i], want.astype(np.float32))
    few, _ = calibration.load_images([str(tmp_path / "photos" / "*.png")], 24, 1)
    assert few.shape == (1, 24, 24, 3)
    with pytest.raises(calibration.ExportError, match="no readable images"):
        calibration.load_images([str(tmp_path / "photos" / "t*.jpg")], 24, 5)


def test_records_are_read_strictly_and_resized(tmp_path):
    rng = np.random.default_rng(1)
    crops = [rng.integers(0, 256, (32, 32, 3), dtype=np.uint8) for _ in range(3)]
    samples = [(str(i), schema.make_sample(c)) for i, c in enumerate(crops)]
    out = tmp_path / "records"
    tfrecord.write_tfrecords(samples, out, "x", shard_size=1, image_format="png")
    shards = tfrecord.list_shards(out)
    data = open(shards[1], "rb").read()
    open(shards[1], "wb").write(data[: len(data) // 2])  # a shard cut off halfway
    images, stats = calibration.load_images([str(out)], 16, 5)
    assert stats == {"files": 0, "records": 2, "skipped_corrupt": 0, "damaged_shards": 1}
    for got, crop in zip(images, (crops[0], crops[2]), strict=True):
        halved = crop.astype(np.float64).reshape(16, 2, 16, 2, 3).mean(axis=(1, 3))  # area
        np.testing.assert_allclose(got, halved, atol=0.5 + 1e-9)


def test_representative_images_report_what_was_skipped(tmp_path, caplog):
    config = fixtures.export_config("open:right")  # input size 64
    _photos(tmp_path / "photos", np.random.default_rng(2))
    with caplog.at_level(logging.WARNING, logger="export.tflite"):
        images = tflite.representative_images(config, 5, str(tmp_path / "photos"))
    assert images.shape == (3, 64, 64, 3)
    messages = [r.getMessage() for r in caplog.records]
    assert any("skipped 4 unreadable image(s)" in m for m in messages), messages
    assert any("3 images (asked for 5)" in m for m in messages), messages
