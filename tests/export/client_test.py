import base64
import json

import cv2
import numpy as np
import pytest

from export import client
from tests.export import fixtures


def test_request_body_formats(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"\xff\xd8fake")
    body = json.loads(client.request_body([path, b"raw", np.zeros((4, 5, 3), np.uint8)]))
    assert body["signature_name"] == "serving_bytes"
    first, second, third = (base64.b64decode(i["b64"]) for i in body["instances"])
    assert first == b"\xff\xd8fake" and second == b"raw" and third.startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="empty"):
        client.request_body([])
    with pytest.raises(ValueError, match="uint8"):
        client.encode_image(np.zeros((4, 5), np.float32))


def test_parse_response_rows_and_columns():
    rows = {"predictions": [{"keypoints_px": [[1, 2]], "image_size": [3, 4]}]}
    cols = {"outputs": {"keypoints_px": [[[1, 2]]], "image_size": [[3, 4]]}}
    for response in (json.dumps(rows), cols):
        (result,) = client.parse_response(response)
        assert result["keypoints_px"].dtype == np.float32 and result["image_size"].dtype == np.int32
        np.testing.assert_array_equal(result["keypoints_px"], [[1, 2]])
    with pytest.raises(ValueError, match="layout"):
        client.parse_response({"foo": 1})


# --------------------------------------------------------------------------- gRPC


def _tensor(proto) -> tuple[str, list[int]]:
    """(dtype name, shape) of a TensorProto, read from its fields."""
    from tensorflow.core.framework import types_pb2

    return types_pb2.DataType.Name(proto.dtype), [d.size for d in proto.tensor_shape.dim]


def test_grpc_request_of_encoded_images(tmp_path):
    path = tmp_path / "a.jpg"
    path.write_bytes(b"\xff\xd8fake")
    rgb = np.arange(4 * 5 * 3, dtype=np.uint8).reshape(4, 5, 3)
    request = client.grpc_request([path, b"raw", rgb], model_name="hands")
    assert request.model_spec.name == "hands"
    assert request.model_spec.signature_name == "serving_bytes"
    assert list(request.inputs) == ["image_bytes"]
    tensor = request.inputs["image_bytes"]
    assert _tensor(tensor) == ("DT_STRING", [3])
    first, second, third = tensor.string_val
    assert first == b"\xff\xd8fake" and second == b"raw"
    decoded = cv2.imdecode(np.frombuffer(third, np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(decoded[..., ::-1], rgb)  # lossless PNG of the RGB array
    with pytest.raises(ValueError, match="empty"):
        client.grpc_request([])


def test_grpc_request_of_an_image_batch():
    batch = np.random.default_rng(0).integers(0, 256, (2, 6, 6, 3)).astype(np.uint8)
    request = client.grpc_request(batch, signature_name="serving_default")
    assert request.model_spec.name == "hiu"
    assert request.model_spec.signature_name == "serving_default"
    tensor = request.inputs["images"]
    assert _tensor(tensor) == ("DT_FLOAT", [2, 6, 6, 3])
    # tf.make_tensor_proto packs the values little-endian into tensor_content.
    values = np.frombuffer(tensor.tensor_content, "<f4").reshape(2, 6, 6, 3)
    np.testing.assert_array_equal(values, batch.astype(np.float32))
    signature, inputs = client.decode_grpc_request(request)
    assert signature == "serving_default" and inputs["images"].dtype == np.float32
    np.testing.assert_array_equal(inputs["images"], batch)
    with pytest.raises(ValueError, match=r"\[N, S, S, 3\]"):
        client.grpc_request(batch[0], signature_name="serving_default")
    with pytest.raises(ValueError, match=r"\(serving_bytes\) only"):
        client.grpc_request(batch, signature_name="serving_default", upright=True)
    with pytest.raises(ValueError, match="signature_name must be"):
        client.grpc_request(batch, signature_name="serving_other")


def _response(outputs: dict):
    """A PredictResponse written field by field (not through tf.make_tensor_proto)."""
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import predict_pb2

    response = predict_pb2.PredictResponse()
    for name, value in outputs.items():
        tensor = response.outputs[name]
        for size in value.shape:
            tensor.tensor_shape.dim.add(size=size)
        if value.dtype == np.float32:
            tensor.dtype = types_pb2.DT_FLOAT
            tensor.float_val.extend(value.reshape(-1).tolist())
        else:
            tensor.dtype = types_pb2.DT_INT32
            tensor.int_val.extend(value.reshape(-1).tolist())
    return response


def test_parse_grpc_response():
    keypoints = np.arange(2 * 21 * 2, dtype=np.float32).reshape(2, 21, 2) / 4
    sizes = np.array([[480, 640], [64, 64]], np.int32)
    results = client.parse_grpc_response(
        _response({"keypoints_px": keypoints, "image_size": sizes})
    )
    assert len(results) == 2
    for i, result in enumerate(results):
        assert result["keypoints_px"].dtype == np.float32 and result["image_size"].dtype == np.int32
        np.testing.assert_array_equal(result["keypoints_px"], keypoints[i])
        np.testing.assert_array_equal(result["image_size"], sizes[i])
    # The mock builder gives the same answer as the field-by-field response.
    again = client.parse_grpc_response(
        client.grpc_response_from_outputs({"keypoints_px": keypoints, "image_size": sizes})
    )
    for a, b in zip(results, again, strict=True):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key])
            assert a[key].dtype == b[key].dtype
    with pytest.raises(ValueError, match="batch size"):
        client.parse_grpc_response(_response({"keypoints_px": keypoints, "image_size": sizes[:1]}))
    with pytest.raises(ValueError, match="no outputs"):
        client.parse_grpc_response(_response({}))


def _sum_pixels(signature: str, inputs: dict) -> dict:
    """A stand-in model: each image's pixel sum and its size."""
    if signature != "serving_default":
        raise KeyError(f"no signature {signature}")
    images = inputs["images"]
    return {
        "total": images.sum(axis=(1, 2, 3)),
        "image_size": np.tile(np.int32(images.shape[1:3]), (len(images), 1)),
    }


def test_predict_grpc_against_an_in_process_server():
    import grpc

    server = fixtures.InProcessServing(_sum_pixels)
    try:
        batch = np.random.default_rng(1).integers(0, 256, (3, 5, 5, 3)).astype(np.uint8)
        results = client.predict_grpc(
            f"127.0.0.1:{server.port}", batch, signature_name="serving_default", timeout=20
        )
        assert len(results) == 3 and len(server.requests) == 1
        assert server.requests[0].model_spec.name == "hiu"
        for image, result in zip(batch, results, strict=True):
            np.testing.assert_allclose(result["total"], image.astype(np.float64).sum(), rtol=1e-6)
            np.testing.assert_array_equal(result["image_size"], [5, 5])
        with pytest.raises(grpc.RpcError) as error:
            client.predict_grpc(f"127.0.0.1:{server.port}", [b"raw"], timeout=20)
        assert error.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "no signature serving_bytes" in error.value.details()
    finally:
        server.stop()
