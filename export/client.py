"""A small TF Serving REST client helper: request bodies and responses of `serving_bytes`.

    body = request_body([open("hand.jpg", "rb").read()])      # JSON text
    # POST body to http://HOST:8501/v1/models/hiu:predict (any HTTP client)
    results = parse_response(response_text)                 # one dict per image

The request is TF Serving's row format with binary values in base64:

    {"signature_name": "serving_bytes", "instances": [{"b64": "<base64 JPEG/PNG>"}, ...]}

The response is `{"predictions": [{output name: value, ...}, ...]}` (one object per
instance) or, for the columnar `"inputs"` format, `{"outputs": {name: [...]}}`;
`parse_response` accepts both and returns NumPy arrays per image. Needs only the
standard library and NumPy (and OpenCV to encode arrays or re-orient files).
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

SIGNATURE_BYTES = "serving_bytes"


def encode_image(image: Any, upright: bool = False) -> bytes:
    """Encoded image bytes from bytes, a file path or an `[H, W, 3]` uint8 RGB array.

    Args:
        image: bytes (sent as they are), a path, or an RGB array (encoded as PNG).
        upright: for paths, decode with `hiu_tf.image` (which applies the EXIF orientation)
            and re-encode as PNG, because the server's decoder ignores EXIF.
    """
    if isinstance(image, bytes | bytearray):
        return bytes(image)
    if isinstance(image, str | os.PathLike):
        if not upright:
            with open(image, "rb") as f:
                return f.read()
        from hiu_tf.image import read_image  # strict; raises ImageError (a ValueError)

        return _png(np.ascontiguousarray(read_image(image)[..., ::-1]))
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(
            f"an image array must be [H, W, 3] uint8 RGB. Received: {array.shape} {array.dtype}"
        )
    return _png(np.ascontiguousarray(array[..., ::-1]))


def _png(bgr: np.ndarray) -> bytes:
    import cv2

    ok, data = cv2.imencode(".png", bgr)
    if not ok:
        raise ValueError("cv2.imencode failed")
    return data.tobytes()


def request_body(images: Sequence[Any], signature_name: str = SIGNATURE_BYTES, **kwargs) -> str:
    """The JSON body of a `:predict` request on encoded images (see the module docstring).

    Args:
        images: bytes, paths or RGB arrays (see `encode_image`).
        signature_name: the signature (default "serving_bytes").
        **kwargs: passed to `encode_image` (e.g. `upright=True`).
    """
    if not len(images):
        raise ValueError("images must not be empty")
    instances = [
        {"b64": base64.b64encode(encode_image(image, **kwargs)).decode("ascii")} for image in images
    ]
    return json.dumps({"signature_name": signature_name, "instances": instances})


def decode_request(body: str) -> tuple[str, list[bytes]]:
    """(signature_name, encoded images) of a body made by `request_body`."""
    data = json.loads(body)
    return data.get("signature_name", "serving_default"), [
        base64.b64decode(item["b64"]) for item in data["instances"]
    ]


def parse_response(response: str | dict) -> list[dict[str, np.ndarray]]:
    """One dict of float32/int32 NumPy arrays per image from a `:predict` response.

    Raises:
        ValueError: an error response (`{"error": ...}`) or an unknown layout.
    """
    data = json.loads(response) if isinstance(response, str | bytes) else response
    if "error" in data:
        raise ValueError(f"TF Serving returned an error: {data['error']}")
    if "predictions" in data:
        rows = data["predictions"]
    elif "outputs" in data:
        columns = data["outputs"]
        if not isinstance(columns, dict):
            raise ValueError("a columnar response with one unnamed output is not supported")
        n = len(next(iter(columns.values())))
        rows = [{k: v[i] for k, v in columns.items()} for i in range(n)]
    else:
        raise ValueError(f"unknown response layout with keys {sorted(data)}")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError("expected one object of named outputs per instance")
        out.append({k: _array(k, v) for k, v in row.items()})
    return out


def _array(name: str, value: Any) -> np.ndarray:
    array = np.asarray(value)
    return array.astype(np.int32 if name == "image_size" else np.float32)


def response_from_outputs(outputs: dict[str, Any]) -> str:
    """The row-format response TF Serving sends for batched `outputs` (for tests and mocks)."""
    arrays = {k: np.asarray(v) for k, v in outputs.items()}
    n = len(next(iter(arrays.values())))
    return json.dumps(
        {"predictions": [{k: v[i].tolist() for k, v in arrays.items()} for i in range(n)]}
    )


__all__ = [
    "decode_request",
    "encode_image",
    "parse_response",
    "request_body",
    "response_from_outputs",
]
