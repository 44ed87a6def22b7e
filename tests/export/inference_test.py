import struct

import cv2
import numpy as np
import pytest

from export import inference
from export.inference import Predictor
from tests.export import fixtures


def _keras_predictor():
    config, model = fixtures.loaded_run()
    return Predictor.from_keras(model, config)


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


def test_read_odd_images(tmp_path):
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (30, 40, 3), dtype=np.uint8)
    gray = rgb[..., 0]
    cv2.imwrite(str(tmp_path / "gray.png"), gray)
    np.testing.assert_array_equal(
        inference.read_image(str(tmp_path / "gray.png")), np.repeat(gray[..., None], 3, -1)
    )
    rgba = np.concatenate([rgb, np.full((30, 40, 1), 7, np.uint8)], -1)
    cv2.imwrite(str(tmp_path / "rgba.png"), rgba[..., [2, 1, 0, 3]])
    np.testing.assert_array_equal(inference.read_image(str(tmp_path / "rgba.png")), rgb)
    deep = rgb.astype(np.uint16) * 257
    cv2.imwrite(str(tmp_path / "deep.png"), deep[..., ::-1])
    np.testing.assert_array_equal(inference.read_image(str(tmp_path / "deep.png")), rgb)
    np.testing.assert_array_equal(inference.to_rgb8(deep), rgb)
    # EXIF orientation 6: the stored pixels are shown rotated 90 degrees clockwise.
    smooth = cv2.resize(rgb, (40, 30), interpolation=cv2.INTER_AREA)
    smooth = cv2.GaussianBlur(smooth, (0, 0), 2)
    (tmp_path / "exif.jpg").write_bytes(_exif_jpeg(smooth, 6))
    upright = inference.read_image(str(tmp_path / "exif.jpg"))
    assert upright.shape == (40, 30, 3)
    assert np.abs(upright.astype(int) - np.rot90(smooth, -1)).mean() < 4
    (tmp_path / "bad.png").write_bytes(b"\x89PNG\r\n\x1a\nnot really")
    with pytest.raises(inference.UnreadableImageError):
        inference.read_image(str(tmp_path / "bad.png"))


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
