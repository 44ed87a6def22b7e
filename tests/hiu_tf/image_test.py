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


# --------------------------------------------------------------------------- pixels


def _nearest_uint8(values: np.ndarray) -> np.ndarray:
    """Reference: floats in [0, 1] -> the nearest of 0..255 (x 255), clipped."""
    scaled = np.asarray(values, np.float64) * 255.0
    below = np.floor(scaled)
    return np.clip(below + (scaled - below > 0.5), 0, 255).astype(np.uint8)


def test_to_uint8_matches_numpy_references():
    rng = np.random.default_rng(10)
    for dtype in (np.float64, np.float32):
        floats = rng.uniform(-0.2, 1.2, (40, 30, 3)).astype(dtype)
        np.testing.assert_array_equal(image.to_uint8(floats), _nearest_uint8(floats))
    deep = rng.integers(0, 65536, (20, 30, 3)).astype(np.uint16)
    np.testing.assert_array_equal(image.to_uint8(deep), (deep // 256).astype(np.uint8))
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    flipped = rgb[:, ::-1]
    got = image.to_uint8(flipped)
    np.testing.assert_array_equal(got, flipped)
    assert got.flags.c_contiguous and not np.shares_memory(got, rgb)  # a copy to draw on
    for dtype in (np.int32, np.bool_):
        with pytest.raises(image.ImageError, match="uint8, uint16 or float"):
            image.to_uint8(np.zeros((4, 4, 3), dtype))


def test_to_float_matches_numpy_references_and_round_trips():
    rng = np.random.default_rng(11)
    rgb = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    got = image.to_float(rgb)
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, rgb / 255.0, rtol=1e-6)
    every = np.arange(256, dtype=np.uint8)
    np.testing.assert_array_equal(image.to_uint8(image.to_float(every)), every)
    floats = rng.random((5, 6, 3))
    np.testing.assert_array_equal(image.to_float(floats), floats.astype(np.float32))
    with pytest.raises(image.ImageError, match="uint8 or float"):
        image.to_float(rgb.astype(np.int64))


def test_to_rgb8_converts_arrays():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    np.testing.assert_array_equal(image.to_rgb8(rgb.astype(np.uint16) * 257), rgb)
    np.testing.assert_array_equal(image.to_rgb8(rgb[..., 0]), np.repeat(rgb[..., :1], 3, -1))
    np.testing.assert_array_equal(image.to_rgb8(rgb / 255.0), rgb)
    np.testing.assert_array_equal(image.to_rgb8(rgb[..., :1]), np.repeat(rgb[..., :1], 3, -1))
    rgba = np.concatenate([rgb, np.full((30, 40, 1), 9, np.uint8)], -1)
    np.testing.assert_array_equal(image.to_rgb8(rgba), rgb)
    for shape in ((30, 40, 2), (2, 30, 40, 3), (30,)):
        with pytest.raises(image.ImageError, match=r"\[H, W\] or \[H, W, 1\|3\|4\]"):
            image.to_rgb8(np.zeros(shape, np.uint8))


# --------------------------------------------------------------------------- squares


def _reference_cut(array: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """Reference: pad the array with zeros on every side, then slice."""
    pad = side + abs(x0) + abs(y0)
    widths = [(pad, pad), (pad, pad)] + [(0, 0)] * (array.ndim - 2)
    padded = np.pad(array, widths)
    return padded[pad + y0 : pad + y0 + side, pad + x0 : pad + x0 + side]


def _reference_bilinear(array: np.ndarray, height: int, width: int) -> np.ndarray:
    """Reference: bilinear with pixel centres aligned (OpenCV's and TF's), edges clamped."""

    def taps(n_out, n_in):
        src = np.clip((np.arange(n_out) + 0.5) * n_in / n_out - 0.5, 0, n_in - 1)
        lo = np.floor(src).astype(int)
        hi = np.minimum(lo + 1, n_in - 1)
        return lo, hi, src - lo

    y_lo, y_hi, fy = taps(height, array.shape[0])
    x_lo, x_hi, fx = taps(width, array.shape[1])
    a = np.asarray(array, np.float64)
    fy = fy.reshape((-1, 1) + (1,) * (a.ndim - 2))
    fx = fx.reshape((1, -1) + (1,) * (a.ndim - 2))
    top = a[y_lo][:, x_lo] * (1 - fx) + a[y_lo][:, x_hi] * fx
    bottom = a[y_hi][:, x_lo] * (1 - fx) + a[y_hi][:, x_hi] * fx
    return top * (1 - fy) + bottom * fy


def _block_mean(array: np.ndarray, k: int) -> np.ndarray:
    """Reference area shrink by an integer factor: the mean of each k x k block."""
    h, w = array.shape[:2]
    blocks = np.asarray(array, np.float64).reshape(h // k, k, w // k, k, *array.shape[2:])
    return blocks.mean(axis=(1, 3))


def test_cut_square_matches_zero_padding():
    rng = np.random.default_rng(12)
    for _ in range(200):
        h, w = rng.integers(1, 20, 2)
        side = int(rng.integers(1, 30))
        x0, y0 = (int(v) for v in rng.integers(-35, 25, 2))
        for array in (
            rng.integers(0, 256, (h, w, 3), dtype=np.uint8),
            rng.integers(0, 3, (h, w), dtype=np.uint8),
            rng.random((h, w, 2)).astype(np.float32),
        ):
            got = image.cut_square(array, x0, y0, side)
            assert got.dtype == array.dtype
            np.testing.assert_array_equal(got, _reference_cut(array, x0, y0, side))


def _centred_corner(n: int, side: int) -> int:
    """Reference: the corner nearest the image centre; of two, the one nearer the image's
    corner (the odd margin or padding pixel goes right and down)."""
    return min(range(-side - 1, n + 2), key=lambda c: (abs(c + side / 2 - n / 2), abs(c)))


def test_centred_square_matches_brute_force():
    for height in range(1, 14):
        for width in range(1, 14):
            for side in {min(height, width), max(height, width)}:
                want = (_centred_corner(width, side), _centred_corner(height, side), side)
                assert image.centred_square(height, width, side) == want


def test_square_around_matches_brute_force():
    rng = np.random.default_rng(13)
    for _ in range(500):
        cx, cy = rng.uniform(-50, 150, 2)
        side = float(rng.uniform(0.1, 80))
        x0, y0, side_px = image.square_around(cx, cy, side)
        assert side_px == max(min(range(0, 82), key=lambda s: abs(s - side)), 1)
        assert x0 == min(range(-100, 200), key=lambda c: abs(c + side_px / 2 - cx))
        assert y0 == min(range(-100, 200), key=lambda c: abs(c + side_px / 2 - cy))


def test_resize_area_when_shrinking_bilinear_when_enlarging_nearest_for_labels():
    rng = np.random.default_rng(14)
    array = rng.random((12, 18, 3)).astype(np.float32)
    assert image.resize(array, 12, 18) is array
    np.testing.assert_allclose(image.resize(array, 4, 6), _block_mean(array, 3), atol=1e-5)
    for height, width in ((30, 40), (12, 40), (6, 40)):  # a side grows: bilinear
        got = image.resize(array, height, width)
        np.testing.assert_allclose(got, _reference_bilinear(array, height, width), atol=1e-5)
    labels = rng.integers(0, 5, (7, 9), dtype=np.uint8)
    for height, width in ((20, 25), (3, 4)):
        rows = np.minimum(np.arange(height) * 7 // height, 6)
        cols = np.minimum(np.arange(width) * 9 // width, 8)
        got = image.resize(labels, height, width, nearest=True)
        np.testing.assert_array_equal(got, labels[rows][:, cols])


def test_limit_side_shrinks_the_longer_side_only_when_needed():
    rng = np.random.default_rng(15)
    array = rng.random((300, 120, 3)).astype(np.float32)
    small, factor = image.limit_side(array, 100)
    assert small.shape == (100, 40, 3) and factor == pytest.approx(1 / 3)
    np.testing.assert_allclose(small, _block_mean(array, 3), atol=1e-5)
    same, factor = image.limit_side(array, 300)
    assert same is array and factor == 1.0


def test_crop_and_paste_square_match_references():
    rng = np.random.default_rng(16)
    for _ in range(100):
        h, w = (int(v) for v in rng.integers(4, 30, 2))
        size = int(rng.integers(2, 12))
        x0, y0 = (int(v) for v in rng.integers(-20, 25, 2))
        array = rng.random((h, w, 3)).astype(np.float32)
        # Shrinking by an integer factor is the mean of blocks of the zero-padded cut.
        side = size * int(rng.integers(1, 4))
        crop = image.crop_square(array, x0, y0, side, size)
        np.testing.assert_allclose(
            crop, _block_mean(_reference_cut(array, x0, y0, side), side // size), atol=1e-5
        )
        # Pasting back: the crop resized bilinearly to the side, placed at (x0, y0).
        probabilities = rng.random((size, size)).astype(np.float32)
        side = int(rng.integers(size, 3 * size + 1))
        pasted = image.paste_square(probabilities, x0, y0, side, h, w)
        resized = _reference_bilinear(probabilities, side, side)
        want = np.zeros((h, w))
        rows = np.arange(h)[:, None] - y0
        cols = np.arange(w)[None, :] - x0
        inside = (rows >= 0) & (rows < side) & (cols >= 0) & (cols < side)
        want[inside] = resized[
            np.broadcast_to(rows, (h, w))[inside], np.broadcast_to(cols, (h, w))[inside]
        ]
        assert pasted.dtype == np.float32 and pasted.shape == (h, w)
        np.testing.assert_allclose(pasted, want, atol=1e-5)
        # Cut at the crop's own size and pasted back: the covered pixels unchanged.
        one = image.paste_square(image.crop_square(array, x0, y0, side, side), x0, y0, side, h, w)
        np.testing.assert_array_equal(one, np.where(inside[..., None], array, 0))


def test_write_image_round_trips_rgb_and_grey(tmp_path):
    rng = np.random.default_rng(3)
    rgb = rng.integers(0, 256, (7, 9, 3), dtype=np.uint8)
    path = image.write_image(tmp_path / "sub" / "rgb.png", rgb, png_compression=9)
    np.testing.assert_array_equal(image.read_image(path), rgb)  # RGB on disk, not BGR
    grey = rng.uniform(0, 1, (5, 4)).astype(np.float32)
    path = image.write_image(tmp_path / "grey.png", grey)
    np.testing.assert_array_equal(image.read_label_image(path), image.to_uint8(grey))
    with pytest.raises(image.ImageError, match="cannot write"):
        image.write_image(tmp_path / "x.unknown-format", rgb)
