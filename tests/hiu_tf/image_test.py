"""`hiu_tf.image`: strict decoding of real files written in every good and bad way."""

import logging
import struct

import cv2
import numpy as np
import pytest

from hiu_tf import image
from tests import image_files


def _smooth_rgb(h: int = 48, w: int = 64, seed: int = 0) -> np.ndarray:
    rgb = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return cv2.GaussianBlur(rgb, (0, 0), 2)


def _write(path, rgb, params=()) -> None:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]), list(params))


def _exif_jpeg(image_rgb: np.ndarray, orientation: int) -> bytes:
    """A JPEG with a hand-written EXIF APP1 segment holding only the orientation tag."""
    ok, jpeg = cv2.imencode(".jpg", image_rgb[..., ::-1], [cv2.IMWRITE_JPEG_QUALITY, 98])
    assert ok
    tiff = b"MM\x00\x2a" + struct.pack(">I", 8)  # big-endian TIFF header, IFD at offset 8
    tiff += struct.pack(">H", 1) + struct.pack(">HHIHH", 0x0112, 3, 1, orientation, 0)
    tiff += struct.pack(">I", 0)  # no next IFD
    payload = b"Exif\x00\x00" + tiff
    app1 = b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload
    data = jpeg.tobytes()
    return data[:2] + app1 + data[2:]


def test_reads_what_opencv_reads(tmp_path):
    rgb = np.random.default_rng(0).integers(0, 256, (30, 40, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    np.testing.assert_array_equal(
        image.read_image(tmp_path / "gray.png"), np.repeat(gray[..., None], 3, -1)
    )
    rgba = np.concatenate([rgb, np.full((30, 40, 1), 7, np.uint8)], -1)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(image.read_image(tmp_path / "rgba.png"), rgb)
    deep = rgb.astype(np.uint16) * 257
    _write(tmp_path / "deep.png", deep)
    np.testing.assert_array_equal(image.read_image(tmp_path / "deep.png"), rgb)
    cv2.imwrite(str(tmp_path / "deep_gray.png"), deep[..., 0])
    np.testing.assert_array_equal(
        image.read_image(tmp_path / "deep_gray.png"), np.repeat(gray[..., None], 3, -1)
    )
    for ext in (".bmp", ".tif", ".webp"):
        params = [cv2.IMWRITE_WEBP_QUALITY, 101] if ext == ".webp" else []  # 101: lossless
        _write(tmp_path / f"x{ext}", rgb, params)
        np.testing.assert_array_equal(image.read_image(tmp_path / f"x{ext}"), rgb, err_msg=ext)
    # JPEG: Pillow's and OpenCV's libjpeg builds may round a little differently.
    _write(tmp_path / "x.jpg", _smooth_rgb())
    reference = cv2.imread(str(tmp_path / "x.jpg"))[..., ::-1]
    got = image.read_image(tmp_path / "x.jpg")
    assert got.dtype == np.uint8 and got.shape == reference.shape
    assert np.abs(got.astype(int) - reference).max() <= 2


def test_exif_orientation_is_applied(tmp_path):
    # Orientation 6: the stored pixels are shown rotated 90 degrees clockwise.
    smooth = _smooth_rgb(30, 40)
    (tmp_path / "exif.jpg").write_bytes(_exif_jpeg(smooth, 6))
    upright = image.read_image(tmp_path / "exif.jpg")
    assert upright.shape == (40, 30, 3)
    assert np.abs(upright.astype(int) - np.rot90(smooth, -1)).mean() < 4


@pytest.mark.parametrize(
    ("kind", "reason"),
    [
        ("truncated_jpeg", "truncated or corrupt JPEG data: image file is truncated"),
        ("truncated_png", "truncated PNG: its IDAT chunk"),
        ("empty", "empty file (0 bytes)"),
        ("text", "not an image"),
    ],
)
@pytest.mark.parametrize("name", ["x.jpg", "x.png"])
def test_each_bad_file_names_the_file_and_the_reason(tmp_path, kind, reason, name):
    path = tmp_path / name
    _write(path, _smooth_rgb())
    image_files.spoil(path, kind)
    for read in (image.read_image, image.read_label_image):
        with pytest.raises(image.ImageError) as info:
            read(path)
        assert str(info.value).startswith(f"{path}: ") and reason in str(info.value)
    assert isinstance(info.value, ValueError)  # callers may catch it as bad input


def test_cut_anywhere_is_rejected(tmp_path):
    rgb = _smooth_rgb()
    progressive = [cv2.IMWRITE_JPEG_PROGRESSIVE, 1]
    for ext, params in ((".jpg", []), (".jpg", progressive), (".png", [])):
        data = cv2.imencode(ext, rgb[..., ::-1], params)[1].tobytes()
        # From the header to the last byte: JPEG's EOI marker, PNG's IEND chunk (a
        # PNG without it has all its pixels, and Pillow alone would accept it).
        for keep in (len(data) // 10, len(data) // 2, len(data) - 12, len(data) - 2, len(data) - 1):
            path = tmp_path / f"cut{ext}"
            path.write_bytes(data[:keep])
            with pytest.raises(image.ImageError, match="truncated"):
                image.read_image(path)


def test_trailing_bytes_after_a_whole_image_are_ignored(tmp_path):
    rgb = _smooth_rgb()
    for ext in (".jpg", ".png"):
        data = cv2.imencode(ext, rgb[..., ::-1])[1].tobytes()
        (tmp_path / f"whole{ext}").write_bytes(data)
        (tmp_path / f"tail{ext}").write_bytes(data + b"\x00trailing bytes\xff\xd9" * 8)
        np.testing.assert_array_equal(
            image.read_image(tmp_path / f"tail{ext}"), image.read_image(tmp_path / f"whole{ext}")
        )


def test_content_decides_the_format(tmp_path, caplog, monkeypatch):
    monkeypatch.setattr(image, "_mismatches_reported", set())  # as in a fresh process
    rgb = _smooth_rgb()
    data = cv2.imencode(".png", rgb[..., ::-1])[1].tobytes()
    for name in ("a.jpg", "b.jpg", "c.jpeg"):
        (tmp_path / name).write_bytes(data)
    with caplog.at_level(logging.WARNING, logger="hiu_tf.image"):
        for name in ("a.jpg", "b.jpg", "c.jpeg"):
            np.testing.assert_array_equal(image.read_image(tmp_path / name), rgb)
    warnings = [r.getMessage() for r in caplog.records]
    # Once per (extension, format) pair, naming the first file.
    assert len(warnings) == 2, warnings
    assert "a.jpg holds PNG data but is named .jpg" in warnings[0]
    assert "c.jpeg holds PNG data but is named .jpeg" in warnings[1]
    assert np.array_equal(image.decode_image(data, "in memory"), rgb)


def test_label_images_keep_their_values(tmp_path):
    from PIL import Image

    classes = np.random.default_rng(1).integers(0, 34, (20, 30), dtype=np.uint8)
    cv2.imwrite(str(tmp_path / "classes.png"), classes)
    np.testing.assert_array_equal(image.read_label_image(tmp_path / "classes.png"), classes)
    palette = Image.fromarray(classes, mode="L").convert("P")
    palette.putpalette(list(np.random.default_rng(2).integers(0, 256, 768)))
    palette.save(tmp_path / "palette.png")
    np.testing.assert_array_equal(image.read_label_image(tmp_path / "palette.png"), classes)
    deep = classes.astype(np.uint16) * 1000
    cv2.imwrite(str(tmp_path / "deep.png"), deep)
    got = image.read_label_image(tmp_path / "deep.png")
    assert got.dtype == np.uint16
    np.testing.assert_array_equal(got, deep)
    colour = np.stack([classes, classes // 2, classes // 3], -1)
    _write(tmp_path / "colour.png", colour)
    np.testing.assert_array_equal(image.read_label_image(tmp_path / "colour.png"), classes)


def test_missing_file_and_strict_mode_left_on(tmp_path):
    from PIL import ImageFile

    with pytest.raises(image.ImageError, match="no such file"):
        image.read_image(tmp_path / "nope.jpg")
    with pytest.raises(image.ImageError, match="no such file"):
        image.read_image(tmp_path)  # a folder is no image file
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False  # nothing in the project turns it on
