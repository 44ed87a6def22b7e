import cv2
import numpy as np
import pytest

from export import inference
from export.inference import Predictor
from hiu_tf.data import schema
from hiu_tf.image import ImageError
from tests.export import fixtures


def _keras_predictor():
    config, model = fixtures.loaded_run()
    return Predictor.from_keras(model, config)


def test_predictor_mirrors_back_by_the_readers_rule():
    """`mirror_outputs` and `schema.mirror_sample` agree on every quantity they share."""
    rng = np.random.default_rng(0)
    size = 32
    joints = rng.uniform([-0.05, -0.05, 0.4], [0.05, 0.05, 0.6], (21, 3))
    k = np.array([[60.0, 0.0, 15.0], [0.0, 62.0, 17.0], [0.0, 0.0, 1.0]])
    uv = joints @ k.T
    sample = schema.make_sample(
        rng.random((size, size, 3)),
        keypoints_px=uv[:, :2] / uv[:, 2:],
        joints_cam=joints,
        intrinsics=k,
        mask=rng.integers(0, 2, (size, size)),
        mano_pose=rng.normal(0, 0.5, 48),
    )
    mirrored = schema.mirror_sample(sample)
    shared = ("keypoints_px", "joints_cam", "mask", "mano_pose")
    outputs = inference.mirror_outputs({key: sample[key] for key in shared}, size)
    for key in shared:
        np.testing.assert_array_equal(outputs[key], mirrored[key], err_msg=key)
    camera = inference.mirror_outputs({"camera": np.array([50.0, 0.1, -0.2, 0.5])}, size)
    np.testing.assert_allclose(camera["camera"], [50.0, -0.1, -0.2, 0.5], rtol=1e-6)


class _NoModel:
    input_size, faces, kind = 8, None, "none"


def test_an_array_that_is_no_image_raises_image_error():
    with pytest.raises(ImageError, match="an image array must be"):
        Predictor(_NoModel()).predict(np.zeros((10, 10, 2), np.uint8))
    with pytest.raises(ImageError, match="uint8, uint16 or float"):
        Predictor(_NoModel()).predict(np.zeros((10, 10, 3), np.int32))


def test_crop_geometry():
    crop = inference.square_box(30, 40)
    assert (crop.x0, crop.y0, crop.side) == (0, -5, 40)
    crop = inference.square_box(100, 100, (10, 20, 30, 10))
    assert (crop.x0, crop.y0, crop.side) == (10, 10, 30)
    patch = inference.cut_square(np.full((4, 6, 3), 9, np.uint8), inference.square_box(4, 6), 6)
    assert patch[0].max() == 0 and patch[1:5].min() == 9 and patch[5].max() == 0
    with pytest.raises(inference.PredictError, match="positive"):
        inference.square_box(10, 10, (0, 0, 0, 5))


def test_left_hand_equals_mirrored_image():
    predictor = _keras_predictor()
    image = np.zeros((64, 96, 3), np.uint8)
    image[:, 16:80] = fixtures.hand_images()[0]
    left = predictor.predict(image, left=True)
    mirrored = predictor.predict(np.ascontiguousarray(image[:, ::-1]))
    w = image.shape[1]
    expected = mirrored["keypoints_px"].copy()
    expected[:, 0] = w - expected[:, 0]
    np.testing.assert_allclose(left["keypoints_px"], expected, atol=1e-3)
    np.testing.assert_allclose(left["mask"], mirrored["mask"][:, ::-1], atol=1e-5)
    np.testing.assert_allclose(left["vertices"][:, 0], -mirrored["vertices"][:, 0], atol=1e-6)
    np.testing.assert_allclose(
        left["mano_pose"][3:6], mirrored["mano_pose"][3:6] * [1, -1, -1], atol=1e-6
    )
    assert left["is_left"] and not mirrored["is_left"]
    assert left["mask"].shape == image.shape[:2]


def test_box_and_huge_image():
    predictor = _keras_predictor()
    hand = fixtures.hand_images()[1]
    small = predictor.predict(hand)
    # The same hand inside a bigger canvas, found through the box.
    canvas = np.zeros((200, 300, 3), np.uint8)
    canvas[50:114, 120:184] = hand
    boxed = predictor.predict(canvas, box=(120, 50, 64, 64))
    np.testing.assert_allclose(boxed["keypoints_px"], small["keypoints_px"] + [120, 50], atol=1e-3)
    np.testing.assert_allclose(boxed["mask"][50:114, 120:184], small["mask"], atol=1e-4)
    assert boxed["mask"][:50].max() == 0
    np.testing.assert_allclose(boxed["intrinsics"][:2, 2], [152, 82], atol=1e-4)
    # A huge image is downscaled before cropping; outputs come back at full size.
    huge = cv2.resize(hand, (2560, 2560), interpolation=cv2.INTER_NEAREST)
    result = Predictor(predictor.backend, max_side=640).predict(huge)
    assert result["mask"].shape == (2560, 2560)
    overlay = inference.draw_overlay(huge, result, max_side=512)
    assert overlay.shape == (512, 512, 3)
    np.testing.assert_allclose(result["keypoints_px"] / 40, small["keypoints_px"], atol=1.0)


def test_backends_agree():
    keras_predictor = _keras_predictor()
    saved = Predictor.load(fixtures.saved_model_dir())
    base = Predictor.load(fixtures.saved_model_dir().rsplit("/", 1)[0])  # newest version
    lite = Predictor.load(fixtures.tflite_file("none"))
    assert (saved.kind, base.kind, lite.kind) == ("saved_model", "saved_model", "tflite")
    image = np.zeros((80, 64, 3), np.uint8)
    image[8:72] = fixtures.hand_images()[2]
    ref = keras_predictor.predict(image, left=True)
    for predictor in (saved, base, lite):
        got = predictor.predict(image, left=True)
        assert predictor.faces is not None and predictor.input_size == 64
        for key in ("keypoints_px", "keypoints_px_mesh"):
            np.testing.assert_allclose(got[key], ref[key], atol=0.01, err_msg=key)
        np.testing.assert_allclose(got["vertices"], ref["vertices"], atol=1e-4)
        assert fixtures.mask_iou(got["mask"], ref["mask"]) > 0.99
        overlay = inference.draw_overlay(image, got, predictor.faces)
        assert overlay.shape == image.shape and overlay.dtype == np.uint8
    with pytest.raises(inference.PredictError, match="--model"):
        Predictor.load("/nonexistent/folder")
