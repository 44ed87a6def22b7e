import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import tensorflow as tf

from export import client, saved_model
from tests.export import fixtures

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_version_dir():
    assert saved_model.version_dir("exports/hiu/3", 1) == os.path.join("exports", "hiu", "3")
    assert saved_model.version_dir("exports/hiu", 2) == os.path.join("exports", "hiu", "2")
    with pytest.raises(saved_model.ExportError, match="version"):
        saved_model.version_dir("exports/hiu/0", 1)


def test_warmup_records_round_trip_through_prediction_log(tmp_path):
    from tensorflow.core.framework import types_pb2
    from tensorflow_serving.apis import prediction_log_pb2

    path = tmp_path / "tf_serving_warmup_requests"
    assert saved_model.write_warmup_requests(str(path), "hands", 32, bytes_signature=True) == 2
    records = list(tf.data.TFRecordDataset(str(path)).as_numpy_iterator())
    logs = [prediction_log_pb2.PredictionLog.FromString(r) for r in records]
    assert [log.WhichOneof("log_type") for log in logs] == ["predict_log", "predict_log"]
    requests = [log.predict_log.request for log in logs]
    assert [r.model_spec.name for r in requests] == ["hands", "hands"]
    assert [r.model_spec.signature_name for r in requests] == ["serving_default", "serving_bytes"]
    # The test card, independently: red rises left to right, green top to bottom, blue 128.
    ramp = np.round(np.linspace(0, 255, 32)).astype(np.uint8)
    card = np.stack(np.broadcast_arrays(ramp[None, :], ramp[:, None], np.uint8(128)), axis=-1)
    assert np.abs(saved_model.warmup_image(32).astype(int) - card).max() <= 1
    images = requests[0].inputs["images"]
    assert list(requests[0].inputs) == ["images"] and images.dtype == types_pb2.DT_FLOAT
    assert [d.size for d in images.tensor_shape.dim] == [1, 32, 32, 3]
    np.testing.assert_array_equal(tf.make_ndarray(images), saved_model.warmup_image(32)[None])
    encoded = requests[1].inputs["image_bytes"]
    assert list(requests[1].inputs) == ["image_bytes"] and encoded.dtype == types_pb2.DT_STRING
    assert [d.size for d in encoded.tensor_shape.dim] == [1]
    png = cv2.imdecode(np.frombuffer(encoded.string_val[0], np.uint8), cv2.IMREAD_COLOR)
    np.testing.assert_array_equal(png[..., ::-1], saved_model.warmup_image(32))
    # read_warmup_requests gives the same, and refuses records that are not predict logs.
    back = saved_model.read_warmup_requests(str(path))
    assert [(r["model_name"], r["signature_name"]) for r in back] == [
        ("hands", "serving_default"),
        ("hands", "serving_bytes"),
    ]
    np.testing.assert_array_equal(back[0]["inputs"]["images"], tf.make_ndarray(images))
    assert back[1]["inputs"]["image_bytes"].tolist() == list(encoded.string_val)
    other = prediction_log_pb2.PredictionLog()
    other.classify_log.request.model_spec.name = "hands"
    with tf.io.TFRecordWriter(str(tmp_path / "bad")) as writer:
        writer.write(other.SerializeToString())
    with pytest.raises(saved_model.ExportError, match="holds classify_log, not a predict_log"):
        saved_model.read_warmup_requests(str(tmp_path / "bad"))


def test_layout_cli_show_and_warmup():
    path = fixtures.saved_model_dir()
    assert os.path.basename(path) == "1"
    extra = os.path.join(path, "assets.extra")
    assert sorted(os.listdir(extra)) == [
        "config.yaml",
        "export_info.json",
        "tf_serving_warmup_requests",
    ]
    assert not [d for d in os.listdir(os.path.dirname(path)) if d.startswith(".tmp")]
    shown = subprocess.run(
        ["saved_model_cli", "show", "--dir", path, "--all"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    assert "signature_def['serving_default']" in text and "signature_def['serving_bytes']" in text
    assert "inputs['images'] tensor_info:" in text and "shape: (-1, 64, 64, 3)" in text
    assert "inputs['image_bytes'] tensor_info:" in text and "dtype: DT_STRING" in text
    for key in (
        "keypoints_px",
        "keypoints_score",
        "mask",
        "vertices",
        "joints_cam",
        "mano_pose",
        "mano_betas",
        "camera",
        "crop_box",
    ):
        assert f"outputs['{key}']" in text, key
    records = saved_model.read_warmup_requests(os.path.join(extra, "tf_serving_warmup_requests"))
    assert [r["signature_name"] for r in records] == ["serving_default", "serving_bytes"]
    assert {r["model_name"] for r in records} == {"hiu"}
    assert records[0]["inputs"]["images"].shape == (1, 64, 64, 3)
    png = records[1]["inputs"]["image_bytes"][0]
    assert cv2.imdecode(np.frombuffer(png, np.uint8), cv2.IMREAD_COLOR).shape == (64, 64, 3)


def test_fresh_process_load_matches_keras(tmp_path):
    path = fixtures.saved_model_dir()
    _, model = fixtures.loaded_run()
    images = fixtures.hand_images()[:3].astype(np.float32)
    np.save(tmp_path / "images.npy", images)
    code = (
        "import sys, numpy as np, tensorflow as tf\n"
        "m = tf.saved_model.load(sys.argv[1])\n"
        "x = np.load(sys.argv[2])\n"
        "out = m.signatures['serving_default'](images=tf.constant(x))\n"
        "np.savez(sys.argv[3], **{k: v.numpy() for k, v in out.items()})\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code, path, str(tmp_path / "images.npy"), str(tmp_path / "o.npz")],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(tmp_path),  # not the repo: the SavedModel must not need the project's code
    )
    assert result.returncode == 0, result.stderr[-2000:]
    out = dict(np.load(tmp_path / "o.npz"))
    from export import graph

    ref = {k: np.asarray(v) for k, v in graph.forward(model, images).items()}
    assert set(out) == set(ref)
    for key in ref:
        np.testing.assert_allclose(out[key], ref[key], atol=2e-3, rtol=1e-3, err_msg=key)


def test_bytes_signature_and_client_round_trip():
    module = tf.saved_model.load(fixtures.saved_model_dir())
    images = fixtures.hand_images()[:2]
    # A 64 x 64 PNG needs no padding or resizing: same as serving_default.
    body = client.request_body([images[0], images[1]])
    request = json.loads(body)
    assert request["signature_name"] == "serving_bytes"
    assert set(request["instances"][0]) == {"b64"}
    signature, encoded = client.decode_request(body)
    out = module.signatures[signature](image_bytes=tf.constant(encoded))
    results = client.parse_response(
        client.response_from_outputs({k: v.numpy() for k, v in out.items()})
    )
    ref = module.signatures["serving_default"](images=tf.constant(images, tf.float32))
    for i in range(2):
        np.testing.assert_allclose(results[i]["keypoints_px"], ref["keypoints_px"][i], atol=1e-3)
        np.testing.assert_allclose(results[i]["mask"], ref["mask"][i], atol=1e-4)
        np.testing.assert_array_equal(results[i]["crop_box"], [0, 0, 64, 64])
        np.testing.assert_array_equal(results[i]["image_size"], [64, 64])
    # A wide image is padded to a centred square: keypoints come back in its pixels.
    wide = np.zeros((64, 128, 3), np.uint8)
    wide[:, 32:96] = images[0]
    outputs = module.signatures["serving_bytes"](
        image_bytes=tf.constant([client.encode_image(wide)])
    )
    got = client.parse_response(
        client.response_from_outputs({k: v.numpy() for k, v in outputs.items()})
    )[0]
    np.testing.assert_array_equal(got["crop_box"], [0, -32, 128, 128])
    np.testing.assert_array_equal(got["image_size"], [64, 128])
    square = np.pad(wide, ((32, 32), (0, 0), (0, 0))).astype(np.float32)
    square = tf.image.resize(square[None], (64, 64), antialias=True)
    expected = module.signatures["serving_default"](images=square)
    np.testing.assert_allclose(
        got["keypoints_px"], expected["keypoints_px"][0].numpy() * 2 + [0, -32], atol=1e-2
    )
    np.testing.assert_allclose(got["mask"], expected["mask"][0], atol=1e-4)
    with pytest.raises(ValueError, match="error"):
        client.parse_response('{"error": "bad input"}')


def test_grpc_client_against_the_saved_model():
    """The gRPC helper's request, run by the SavedModel as TF Serving would, parsed back."""
    import grpc

    module = tf.saved_model.load(fixtures.saved_model_dir())

    def run(signature, inputs):
        function = module.signatures[signature]
        return {
            k: v.numpy()
            for k, v in function(**{k: tf.constant(v) for k, v in inputs.items()}).items()
        }

    server = fixtures.InProcessServing(run)
    try:
        images = fixtures.hand_images()[:2]
        results = client.predict_grpc(server.target, [images[0], images[1]], timeout=60)
        ref = module.signatures["serving_default"](images=tf.constant(images, tf.float32))
        assert len(results) == 2
        for i in range(2):
            assert results[i]["image_size"].dtype == np.int32
            np.testing.assert_allclose(
                results[i]["keypoints_px"], ref["keypoints_px"][i], atol=1e-3
            )
            np.testing.assert_allclose(results[i]["mask"], ref["mask"][i], atol=1e-4)
            np.testing.assert_array_equal(results[i]["image_size"], [64, 64])
        floats = client.predict_grpc(
            server.target, images, signature_name="serving_default", timeout=60
        )
        for i in range(2):
            np.testing.assert_array_equal(floats[i]["keypoints_px"], ref["keypoints_px"][i])
        with pytest.raises(grpc.RpcError) as error:
            client.predict_grpc(server.target, [b"not an image"], timeout=60)
        assert error.value.code() == grpc.StatusCode.UNKNOWN
    finally:
        server.stop()


def test_no_mesh_leaves_the_hand_model_out():
    path = fixtures.saved_model_dir(mesh=False)
    _, model = fixtures.loaded_run()
    shapes = [s for _, s in tf.train.list_variables(os.path.join(path, "variables", "variables"))]
    num_vertices = model.mano.num_vertices
    assert shapes and not [s for s in shapes if num_vertices in s]
    info = saved_model.read_export_info(path)
    assert info["mesh"] is False and info["faces"] is None
    assert "vertices" not in info["outputs"] and "mano_pose" in info["outputs"]
    module = tf.saved_model.load(path)
    out = module.signatures["serving_default"](
        images=tf.constant(fixtures.hand_images()[:1], tf.float32)
    )
    assert "vertices" not in out and "joints_cam" not in out and out["mano_pose"].shape == (1, 48)


def test_existing_version_needs_overwrite():
    config, model = fixtures.loaded_run()
    with pytest.raises(saved_model.ExportError, match="--force"):
        saved_model.export_saved_model(config, model, fixtures.saved_model_dir())
