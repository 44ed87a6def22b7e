"""Images: strict decoding, pixel conversions and square crops, one home for every user.

`read_image(path)` gives `[H, W, 3]` uint8 RGB, `read_label_image(path)` a
label / mask image unchanged as `[H, W]`, `decode_image(data, name)` decodes
bytes already in memory. Anything that is not a complete image raises
`ImageError`, whose message names the file and the reason:

* a missing file, or an empty one (0 bytes);
* content that is no image format Pillow reads (a text file named `.jpg`);
* a truncated or partly written file: the decoder must reach the end of the
  image data (Pillow with `ImageFile.LOAD_TRUNCATED_IMAGES` off, its default,
  which this project never changes), and a PNG must also reach its `IEND`
  chunk (Pillow alone accepts a PNG cut off after its last `IDAT` chunk);
* a corrupt file (bad compressed data, an image too large to be safe).

Why Pillow. OpenCV's `cv2.imread` decodes a JPEG cut off halfway with only a
warning on stderr, the missing rows filled with grey, so such a file became a
training sample. Pillow reports it as truncated; so would
`tf.io.decode_image`, but that does not apply the EXIF orientation and needs
TensorFlow in processes that read images only. Pillow does both jobs: it
decodes strictly and applies the EXIF orientation (`ImageOps.exif_transpose`,
as `cv2.IMREAD_COLOR` did).

Decisions:

* The format comes from the content, never from the name: a PNG named `.jpg`
  is decoded as the PNG it is (no data is lost), with one warning per
  process and (extension, format) pair, naming the first such file.
* Bytes after the end of a complete image (after JPEG's EOI marker or PNG's
  `IEND` chunk, as some cameras and editors append) are ignored: the image
  itself is whole.
* 16-bit images keep their high byte (as OpenCV and Pillow's own 16-bit RGB
  reading do); grey, palette and RGBA images become RGB (alpha dropped).
* Label images keep their values: palette PNGs give their indices, 16-bit
  files stay 16-bit, colour files give their first (red) channel. They get
  the same EXIF orientation as colour images, so a mask stays aligned with an
  image that carries the same orientation tag.

Pixels. `to_uint8` and `to_float` convert between the two pixel types the
project uses (uint8 0-255, float32 in [0, 1]); `to_rgb8` also turns any image
array (grey, RGBA, 16-bit, float) into `[H, W, 3]` uint8 RGB, with the same
16-bit rule as the decoder. An array that is no image raises `ImageError` too.

Squares. The readers' crops, the predictor's crop and paste-back and the int8
calibration images all cut the same way: `cut_square` takes a `side x side`
window at an integer corner `(x0, y0)` that may reach outside the image (black
there), `resize` scales with area interpolation when shrinking and bilinear
when enlarging (nearest for label maps), `paste_square` puts a resized crop
back. `centred_square` and `square_around` choose the window. Coordinates
follow `mano_tf.camera` (pixel column j spans [j, j + 1)), in which cutting at
`x0` maps `u -> u - x0` and resizing a side by `f` maps `u -> u f` exactly.
"""

from __future__ import annotations

import io
import logging
import os
import zlib

import cv2
import numpy as np

from hiu_tf.errors import UserError

logger = logging.getLogger(__name__)

# File name extensions the project treats as images (folders are scanned for these).
EXTENSION_FORMATS = {
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".png": "PNG",
    ".bmp": "BMP",
    ".webp": "WEBP",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
IMAGE_EXTENSIONS = tuple(EXTENSION_FORMATS)
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
_mismatches_reported: set[tuple[str, str]] = set()


class ImageError(UserError, ValueError):
    """An image that cannot be used: a bad file, or an array of no image's shape or dtype.

    Files: missing, empty, truncated, corrupt or not an image at all.
    """


def image_files_under(folder: str | os.PathLike) -> list[str]:
    """The files under `folder` (recursively) with an image extension, sorted."""
    found = []
    for root, _, files in os.walk(os.fspath(folder)):
        found.extend(os.path.join(root, f) for f in files if f.lower().endswith(IMAGE_EXTENSIONS))
    return sorted(found)


def _png_incomplete(data: bytes) -> str | None:
    """Why a PNG's chunk list stops before its `IEND` chunk, or None if it reaches it.

    Walks the chunks (4-byte length, 4-byte type, data, 4-byte CRC) from the
    signature on; bytes after `IEND` are not looked at.
    """
    pos = len(_PNG_SIGNATURE)
    while pos + 8 <= len(data):
        length = int.from_bytes(data[pos : pos + 4], "big")
        kind = data[pos + 4 : pos + 8].decode("latin-1")
        end = pos + 12 + length
        if end > len(data):
            return (
                f"its {kind} chunk at byte {pos} needs {end - pos} bytes, "
                f"the file ends after {len(data) - pos}"
            )
        if kind == "IEND":
            return None
        pos = end
    return f"no IEND chunk before the end of the file ({len(data)} bytes)"


def _open(data: bytes, name: str):
    """The fully decoded Pillow image of `data`, EXIF orientation applied."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    if not data:
        raise ImageError(f"{name}: empty file (0 bytes)")
    try:
        image = Image.open(io.BytesIO(data))
    except UnidentifiedImageError as e:
        raise ImageError(
            f"{name}: not an image (no image format recognised in its content, which "
            f"begins with {data[:12]!r})"
        ) from e
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as e:
        raise ImageError(f"{name}: truncated or corrupt image header: {e}") from e
    fmt = image.format or "image"
    if fmt == "PNG":
        reason = _png_incomplete(data)
        if reason is not None:
            raise ImageError(f"{name}: truncated PNG: {reason}")
    try:
        image.load()
    except (OSError, SyntaxError, ValueError, EOFError, zlib.error) as e:
        raise ImageError(f"{name}: truncated or corrupt {fmt} data: {e}") from e
    except Image.DecompressionBombError as e:
        raise ImageError(f"{name}: {e}") from e
    ext = os.path.splitext(name)[1].lower()
    expected = EXTENSION_FORMATS.get(ext)
    if expected is not None and expected != fmt and (ext, fmt) not in _mismatches_reported:
        _mismatches_reported.add((ext, fmt))
        logger.warning(
            "%s holds %s data but is named %s: read as %s (the content decides; further "
            "%s files named %s are not reported)",
            name,
            fmt,
            ext,
            fmt,
            fmt,
            ext,
        )
    try:
        return ImageOps.exif_transpose(image)
    except (OSError, SyntaxError, ValueError, KeyError, TypeError) as e:
        # Broken EXIF metadata does not make the pixels wrong: keep them as stored.
        logger.warning("%s: EXIF orientation not applied (unreadable EXIF: %s)", name, e)
        return image


def _read(path: str | os.PathLike) -> tuple[bytes, str]:
    name = os.fspath(path)
    if not os.path.isfile(name):
        raise ImageError(f"{name}: no such file")
    try:
        with open(name, "rb") as f:
            return f.read(), name
    except OSError as e:
        raise ImageError(f"{name}: cannot read the file: {e}") from e


def _high_byte(values: np.ndarray) -> np.ndarray:
    """16-bit (or wider integer) samples -> uint8 by their high byte, clipped."""
    return np.clip(values.astype(np.int64) >> 8, 0, 255).astype(np.uint8)


def decode_image(data: bytes, name: str = "<bytes>") -> np.ndarray:
    """Decodes encoded image bytes strictly (see the module docstring).

    Args:
        data: the file's bytes (JPEG, PNG, BMP, WebP, TIFF, ...).
        name: the file name used in error messages and for the extension check.

    Returns:
        `[H, W, 3]` uint8 RGB, EXIF orientation applied.

    Raises:
        ImageError: empty, not an image, truncated or corrupt.
    """
    image = _open(data, name)
    if image.mode.startswith("I"):  # 16-bit (I;16, I;16B) or 32-bit integer grey
        grey = _high_byte(np.asarray(image))
        return np.ascontiguousarray(np.repeat(grey[..., None], 3, axis=-1))
    if image.mode != "RGB":
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image, np.uint8))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Reads an image file as `[H, W, 3]` uint8 RGB (EXIF orientation applied).

    Raises:
        ImageError: missing, empty, not an image, truncated or corrupt.
    """
    data, name = _read(path)
    return decode_image(data, name)


def read_label_image(path: str | os.PathLike) -> np.ndarray:
    """Reads a label / mask image with its values unchanged as `[H, W]`.

    Grey and palette files give their values (palette indices, not colours),
    16-bit files stay uint16, colour files give their first (red) channel.

    Raises:
        ImageError: missing, empty, not an image, truncated or corrupt.
    """
    data, name = _read(path)
    image = _open(data, name)
    if image.mode in ("1", "L", "P") or image.mode.startswith("I"):
        values = np.asarray(image)
        return values.astype(np.uint8) if values.dtype == bool else np.ascontiguousarray(values)
    if image.mode not in ("LA", "PA", "RGB", "RGBA"):
        image = image.convert("RGB")
    return np.ascontiguousarray(np.asarray(image)[..., 0])


def write_image(path: str | os.PathLike, image, png_compression: int | None = None) -> str:
    """Writes an RGB (or grey) image array to `path`, its format from the extension.

    The array goes through `to_uint8`; the folder is created. `png_compression`
    (0-9) is passed to OpenCV for PNG files (None: OpenCV's default).

    Returns:
        `path` as a string.

    Raises:
        ImageError: OpenCV cannot write the file (no such format, a read-only folder).
    """
    path = os.fspath(path)
    array = to_uint8(image)
    if array.ndim == 3 and array.shape[-1] == 3:
        array = array[..., ::-1]  # OpenCV writes BGR
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    flags = [] if png_compression is None else [cv2.IMWRITE_PNG_COMPRESSION, int(png_compression)]
    try:
        written = cv2.imwrite(path, np.ascontiguousarray(array), flags)
    except cv2.error as e:
        raise ImageError(f"cannot write {path}: {e}") from e
    if not written:
        raise ImageError(f"cannot write {path}")
    return path


# --------------------------------------------------------------------------- pixels


def to_uint8(image) -> np.ndarray:
    """A new contiguous uint8 array of the same shape as an image array.

    uint8 is copied; uint16 keeps its high byte (the rule of 16-bit files in
    `decode_image`); floats are taken to be in [0, 1], scaled by 255, rounded to
    the nearest integer and clipped.

    Raises:
        ImageError: another dtype.
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return np.array(array, order="C", copy=True)
    if array.dtype == np.uint16:
        return np.ascontiguousarray(_high_byte(array))
    if np.issubdtype(array.dtype, np.floating):
        return np.clip(np.rint(array.astype(np.float64) * 255.0), 0, 255).astype(np.uint8)
    raise ImageError(
        f"an image array must be uint8, uint16 or float in [0, 1]. Received: dtype={array.dtype}"
    )


def to_float(image) -> np.ndarray:
    """An image array as float32 in [0, 1]: uint8 is divided by 255, floats are kept.

    Raises:
        ImageError: another dtype.
    """
    array = np.asarray(image)
    if array.dtype == np.uint8:
        return array.astype(np.float32) * np.float32(1.0 / 255.0)
    if np.issubdtype(array.dtype, np.floating):
        return array.astype(np.float32, copy=False)
    raise ImageError(
        f"an image array must be uint8 or float in [0, 1]. Received: dtype={array.dtype}"
    )


def to_rgb8(image) -> np.ndarray:
    """Any image array -> a new `[H, W, 3]` uint8 RGB array.

    Takes `[H, W]` and `[H, W, 1]` grey (repeated), `[H, W, 3]` RGB and
    `[H, W, 4]` RGBA (alpha dropped), as uint8, uint16 or float (`to_uint8`).

    Raises:
        ImageError: another shape or dtype.
    """
    array = np.asarray(image)
    if array.ndim == 2:
        array = array[..., None]
    if array.ndim != 3 or array.shape[-1] not in (1, 3, 4):
        raise ImageError(
            f"an image array must be [H, W] or [H, W, 1|3|4]. Received: shape={np.shape(image)}"
        )
    if array.shape[-1] == 1:
        array = np.repeat(array, 3, axis=-1)
    return to_uint8(array[..., :3])


# --------------------------------------------------------------------------- squares


def _half(margin: int) -> int:
    """Half a margin (negative: padding), rounded towards zero."""
    return margin // 2 if margin >= 0 else -(-margin // 2)


def centred_square(height: int, width: int, side: int) -> tuple[int, int, int]:
    """The square of `side` pixels centred on a `height x width` image, as `(x0, y0, side)`.

    With `side = min(height, width)` the largest square inside the image, with
    `side = max(height, width)` the smallest around it (the whole image padded).
    An odd margin or padding leaves its extra pixel on the right and bottom.
    """
    return _half(width - side), _half(height - side), side


def square_around(centre_x: float, centre_y: float, side: float) -> tuple[int, int, int]:
    """The integer square `(x0, y0, side)` nearest a square of `side` centred at a point.

    The side is rounded (at least 1 pixel), then the corner.
    """
    side_px = max(int(round(side)), 1)
    return int(round(centre_x - side_px / 2.0)), int(round(centre_y - side_px / 2.0)), side_px


def _overlap(x0: int, y0: int, side: int, height: int, width: int):
    """The slices of a square and of a `height x width` image that cover each other, or None."""
    xa, ya = max(x0, 0), max(y0, 0)
    xb, yb = min(x0 + side, width), min(y0 + side, height)
    if xb <= xa or yb <= ya:
        return None
    square = (slice(ya - y0, yb - y0), slice(xa - x0, xb - x0))
    return square, (slice(ya, yb), slice(xa, xb))


def cut_square(array: np.ndarray, x0: int, y0: int, side: int) -> np.ndarray:
    """The `side x side` window at `(x0, y0)` of an `[H, W, ...]` array, zeros (black) outside it."""
    out = np.zeros((side, side) + array.shape[2:], array.dtype)
    overlap = _overlap(x0, y0, side, *array.shape[:2])
    if overlap is not None:
        out[overlap[0]] = array[overlap[1]]
    return out


def resize(array: np.ndarray, height: int, width: int, nearest: bool = False) -> np.ndarray:
    """An `[H, W, ...]` image or map resized to `height x width` (the array itself if it is).

    Area interpolation when no side grows, bilinear otherwise; nearest
    neighbour for label maps (`nearest=True`).
    """
    if array.shape[:2] == (height, width):
        return array
    if nearest:
        interpolation = cv2.INTER_NEAREST
    elif height <= array.shape[0] and width <= array.shape[1]:
        interpolation = cv2.INTER_AREA
    else:
        interpolation = cv2.INTER_LINEAR
    return cv2.resize(array, (width, height), interpolation=interpolation)


def limit_side(array: np.ndarray, max_side: int) -> tuple[np.ndarray, float]:
    """An image shrunk (area) so that its longer side is at most `max_side` pixels.

    Returns:
        `(array, factor)`: factor = new size / old size (1.0 and the array
        itself when it is small enough).
    """
    h, w = array.shape[:2]
    if max(h, w) <= max_side:
        return array, 1.0
    factor = max_side / max(h, w)
    new_h, new_w = max(int(round(h * factor)), 1), max(int(round(w * factor)), 1)
    return resize(array, new_h, new_w), factor


def crop_square(
    array: np.ndarray, x0: int, y0: int, side: int, size: int, nearest: bool = False
) -> np.ndarray:
    """`cut_square` resized to `size x size` (`resize`): pixel `u` maps to `(u - x0) size / side`."""
    return resize(cut_square(array, x0, y0, side), size, size, nearest)


def paste_square(
    crop: np.ndarray, x0: int, y0: int, side: int, height: int, width: int
) -> np.ndarray:
    """A map of a square crop put back at `(x0, y0, side)` on a `height x width` image.

    The inverse of `crop_square` for a map such as a mask's probabilities:
    `crop` `[S, S, ...]` is resized bilinearly to `side x side` and placed on
    float32 zeros `[height, width, ...]`; what falls outside is dropped.
    """
    resized = cv2.resize(crop.astype(np.float32), (side, side), interpolation=cv2.INTER_LINEAR)
    out = np.zeros((height, width) + resized.shape[2:], np.float32)
    overlap = _overlap(x0, y0, side, height, width)
    if overlap is not None:
        out[overlap[1]] = resized[overlap[0]]
    return out


__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageError",
    "centred_square",
    "crop_square",
    "cut_square",
    "decode_image",
    "image_files_under",
    "limit_side",
    "paste_square",
    "read_image",
    "read_label_image",
    "resize",
    "square_around",
    "to_float",
    "to_rgb8",
    "to_uint8",
    "write_image",
]
