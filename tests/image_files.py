"""Image files spoilt in each way a reader or the predictor must notice, for the tests.

`spoil(path, kind)` rewrites an existing, good image file in place:

* `truncated_jpeg`, `truncated_png`: the first half of its pixels encoded as
  JPEG / PNG (a file cut off halfway, as by an interrupted copy);
* `empty`: zero bytes;
* `text`: a text file under the image's name;
* `wrong_extension`: its pixels in the other format (PNG bytes named `.jpg`,
  JPEG bytes named `.png`). This one is a readable image: the project decodes
  by content, so it must be read, not skipped.
"""

from __future__ import annotations

import os

import cv2
import numpy as np

UNREADABLE = ("truncated_jpeg", "truncated_png", "empty", "text")
KINDS = (*UNREADABLE, "wrong_extension")


def _encode(rgb: np.ndarray, ext: str) -> bytes:
    params = []
    if ext == ".jpg":  # as close to lossless as JPEG gets: quality 100, no chroma subsampling
        params = [
            cv2.IMWRITE_JPEG_QUALITY,
            100,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR,
            cv2.IMWRITE_JPEG_SAMPLING_FACTOR_444,
        ]
    ok, data = cv2.imencode(ext, np.ascontiguousarray(rgb[..., ::-1]), params)
    assert ok
    return data.tobytes()


def spoil(path: str | os.PathLike, kind: str) -> None:
    """Rewrites the image file at `path` in the way `kind` names (see the module docstring)."""
    path = os.fspath(path)
    bgr = cv2.imread(path, cv2.IMREAD_COLOR)
    assert bgr is not None, path
    rgb = bgr[..., ::-1]
    if kind == "truncated_jpeg":
        data = _encode(rgb, ".jpg")
        data = data[: len(data) // 2]
    elif kind == "truncated_png":
        data = _encode(rgb, ".png")
        data = data[: len(data) // 2]
    elif kind == "empty":
        data = b""
    elif kind == "text":
        data = b"this is a text file, not an image\n"
    elif kind == "wrong_extension":
        named_jpeg = path.lower().endswith((".jpg", ".jpeg"))
        data = _encode(rgb, ".png" if named_jpeg else ".jpg")
    else:
        raise ValueError(f"kind must be one of {KINDS}. Received: kind={kind!r}")
    with open(path, "wb") as f:
        f.write(data)


def assert_only_spoilt_lost(
    clean: dict, got: dict, stats: dict, spoilt: set[str], kind: str
) -> None:
    """A reader's samples after `spoil`: only the spoilt items' samples are gone, and counted.

    Args:
        clean: `{sample_id: sample}` read before spoiling.
        got: `{sample_id: sample}` read after.
        stats: the second reader's `stats`.
        spoilt: the sample ids of the spoilt image's item.
        kind: how it was spoilt.
    """
    assert spoilt and spoilt <= set(clean), (spoilt, sorted(clean))
    if kind in UNREADABLE:
        assert sorted(got) == sorted(set(clean) - spoilt)
        assert stats["skipped_corrupt"] == 1, stats
    else:  # decoded by its content: nothing is lost
        assert sorted(got) == sorted(clean)
        assert stats["skipped_corrupt"] == 0, stats
    for sample_id, sample in got.items():
        for key, value in sample.items():
            if key == "image" and sample_id in spoilt:  # re-encoded; JPEG at quality 100
                assert np.abs(value - clean[sample_id][key]).mean() < 0.01, sample_id
            else:
                np.testing.assert_array_equal(value, clean[sample_id][key], err_msg=sample_id)
