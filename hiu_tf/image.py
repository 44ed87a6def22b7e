"""Image files: the one strict decoder that every reader, the predictor and export use.

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
"""

from __future__ import annotations

import io
import logging
import os
import zlib

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
    """An image file that is missing, empty, truncated, corrupt or not an image at all."""


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


__all__ = [
    "IMAGE_EXTENSIONS",
    "ImageError",
    "decode_image",
    "image_files_under",
    "read_image",
    "read_label_image",
]
