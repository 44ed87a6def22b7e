"""TF Serving client helpers for the exported SavedModel: REST (JSON) and gRPC.

REST, standard library and NumPy only (OpenCV to encode arrays or re-orient files):

    body = request_body([open("hand.jpg", "rb").read()])      # JSON text
    # POST body to http://HOST:8501/v1/models/hiu:predict (any HTTP client)
    results = parse_response(response_text)                 # one dict per image

The request is TF Serving's row format with binary values in base64:

    {"signature_name": "serving_bytes", "instances": [{"b64": "<base64 JPEG/PNG>"}, ...]}

The response is `{"predictions": [{output name: value, ...}, ...]}` (one object per
instance) or, for the columnar `"inputs"` format, `{"outputs": {name: [...]}}`;
`parse_response` accepts both and returns NumPy arrays per image.

gRPC, with the `PredictRequest` / `PredictResponse` protos and the
`PredictionService` stub of `tensorflow-serving-api` (imported on first use: they
import TensorFlow, which the REST helpers do not need):

    results = predict_grpc("HOST:8500", ["hand.jpg"])       # one dict per image

or in steps: `grpc_request(images)` builds the `PredictRequest` (encoded images for
`serving_bytes`, an `[N, S, S, 3]` array for `serving_default`), any gRPC channel
sends it, and `parse_grpc_response(response)` splits the batched output tensors into
the same per-image dicts as `parse_response`, keeping the tensors' dtypes.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

# The exported SavedModel's signatures and their inputs (see `export.saved_model`).
SIGNATURE_DEFAULT = "serving_default"
SIGNATURE_BYTES = "serving_bytes"
IMAGES_INPUT = "images"
BYTES_INPUT = "image_bytes"


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
        rows = _rows(columns)
    else:
        raise ValueError(f"unknown response layout with keys {sorted(data)}")
    out = []
    for row in rows:
        if not isinstance(row, dict):
            raise ValueError("expected one object of named outputs per instance")
        out.append({k: _array(k, v) for k, v in row.items()})
    return out


def _rows(columns: dict[str, Any]) -> list[dict[str, Any]]:
    """Batched outputs `{name: [N, ...]}` -> N dicts `{name: [...]}` (one per image).

    Raises:
        ValueError: no outputs, or outputs with different batch sizes.
    """
    if not columns:
        raise ValueError("the response has no outputs")
    sizes = {name: len(value) for name, value in columns.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"outputs differ in batch size: {sizes}")
    n = next(iter(sizes.values()))
    return [{k: v[i] for k, v in columns.items()} for i in range(n)]


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


# --------------------------------------------------------------------------- gRPC


def predict_request(inputs: dict[str, Any], model_name: str, signature_name: str):
    """A `tensorflow.serving.PredictRequest` for named input arrays.

    Args:
        inputs: input name -> array (turned into `TensorProto`s by
            `tf.make_tensor_proto`; bytes in an object array become a string tensor).
        model_name: the served model's name (TF Serving's `--model_name`).
        signature_name: the signature to call.
    """
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    if not inputs:
        raise ValueError("a PredictRequest needs at least one input")
    request = predict_pb2.PredictRequest()
    request.model_spec.name = model_name
    request.model_spec.signature_name = signature_name
    for name in sorted(inputs):
        request.inputs[name].CopyFrom(tf.make_tensor_proto(inputs[name]))
    return request


def grpc_request(
    images: Any, model_name: str = "hiu", signature_name: str = SIGNATURE_BYTES, **kwargs
):
    """The `PredictRequest` of one batch of images.

    Args:
        images: for `serving_bytes`, a sequence of bytes, paths or RGB arrays (see
            `encode_image`), sent as the string tensor `image_bytes`; for
            `serving_default`, an `[N, S, S, 3]` array of RGB values in [0, 255]
            (uint8 or float), sent as the float32 tensor `images`.
        model_name: the served model's name.
        signature_name: "serving_bytes" (default) or "serving_default".
        **kwargs: passed to `encode_image` (e.g. `upright=True`); `serving_bytes` only.

    Raises:
        ValueError: no images, an image batch of the wrong shape, or an unknown signature.
    """
    if signature_name == SIGNATURE_BYTES:
        if not len(images):
            raise ValueError("images must not be empty")
        encoded = np.array([encode_image(image, **kwargs) for image in images], dtype=object)
        return predict_request({BYTES_INPUT: encoded}, model_name, signature_name)
    if signature_name == SIGNATURE_DEFAULT:
        if kwargs:
            raise ValueError(f"{sorted(kwargs)} apply to encoded images (serving_bytes) only")
        batch = np.asarray(images)
        if batch.ndim != 4 or batch.shape[-1] != 3 or not len(batch):
            raise ValueError(
                f"serving_default takes an [N, S, S, 3] RGB batch. Received: shape {batch.shape}"
            )
        return predict_request({IMAGES_INPUT: batch.astype(np.float32)}, model_name, signature_name)
    raise ValueError(
        f"signature_name must be {SIGNATURE_BYTES!r} or {SIGNATURE_DEFAULT!r}. "
        f"Received: {signature_name!r}"
    )


def decode_grpc_request(request) -> tuple[str, dict[str, np.ndarray]]:
    """(signature_name, input name -> NumPy array) of a `PredictRequest`."""
    import tensorflow as tf

    inputs = {name: tf.make_ndarray(tensor) for name, tensor in request.inputs.items()}
    return request.model_spec.signature_name or SIGNATURE_DEFAULT, inputs


def parse_grpc_response(response) -> list[dict[str, np.ndarray]]:
    """One dict of NumPy arrays per image from a `PredictResponse`, in the tensors' dtypes.

    Raises:
        ValueError: a response without outputs, or outputs of different batch sizes.
    """
    import tensorflow as tf

    columns = {name: tf.make_ndarray(tensor) for name, tensor in response.outputs.items()}
    return _rows(columns)


def grpc_response_from_outputs(outputs: dict[str, Any]):
    """The `PredictResponse` TF Serving sends for batched `outputs` (for tests and mocks)."""
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
        response.outputs[name].CopyFrom(tf.make_tensor_proto(np.asarray(value)))
    return response


def predict_grpc(
    target: str,
    images: Any,
    model_name: str = "hiu",
    signature_name: str = SIGNATURE_BYTES,
    timeout: float = 30.0,
    **kwargs,
) -> list[dict[str, np.ndarray]]:
    """Sends one batch to TF Serving's gRPC `PredictionService.Predict` and parses the answer.

    Args:
        target: "HOST:PORT" of the server's gRPC port (TF Serving's default is 8500).
        images, model_name, signature_name, **kwargs: as for `grpc_request`.
        timeout: seconds to wait for the answer.

    Returns:
        One dict of output arrays per image (see `parse_grpc_response`).

    Opens a channel for this one call; for many calls, keep one channel and its
    `PredictionServiceStub` and use `grpc_request` / `parse_grpc_response`.

    Raises:
        grpc.RpcError: the call failed (server down, unknown model or signature,
            bad input); its `code()` and `details()` say why.
    """
    import grpc
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    request = grpc_request(images, model_name, signature_name, **kwargs)
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout)
    return parse_grpc_response(response)


__all__ = [
    "decode_grpc_request",
    "decode_request",
    "encode_image",
    "grpc_request",
    "grpc_response_from_outputs",
    "parse_grpc_response",
    "parse_response",
    "predict_grpc",
    "predict_request",
    "request_body",
    "response_from_outputs",
]
