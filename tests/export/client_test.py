import base64
import json

import numpy as np
import pytest

from export import client


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
