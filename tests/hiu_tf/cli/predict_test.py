import json
import os

import cv2
import numpy as np

from hiu_tf.__main__ import main
from tests import image_files
from tests.export import fixtures


def _write(path, rgb):
    cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


def test_predict_images_folders_and_video(tmp_path, capsys):
    images = fixtures.hand_images()
    src = tmp_path / "in"
    src.mkdir()
    _write(src / "a.png", images[0])
    cv2.imwrite(str(src / "gray.png"), images[1][..., 0])
    rgba = np.concatenate([images[2], np.full((64, 64, 1), 255, np.uint8)], -1)
    cv2.imwrite(str(src / "rgba.png"), rgba[..., [2, 1, 0, 3]])
    cv2.imwrite(str(src / "deep.png"), (images[3].astype(np.uint16) * 257)[..., ::-1])
    (src / "corrupt.jpg").write_bytes(b"\xff\xd8\xff\xe0 not a jpeg")
    video = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    assert writer.isOpened()
    for i in range(5):
        writer.write(np.ascontiguousarray(images[i][..., ::-1]))
    writer.release()
    out = tmp_path / "out"
    argv = [
        "predict",
        str(src),
        str(video),
        "--model",
        fixtures.trained_run(),
        "--out",
        str(out),
        "--every",
        "2",
    ]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "skipped" in captured.err and "corrupt.jpg" in captured.err
    names = sorted(os.listdir(out))
    for stem in ("a", "gray", "rgba", "deep", "clip_000000", "clip_000002", "clip_000004"):
        assert f"{stem}.json" in names and f"{stem}_overlay.png" in names, stem
    assert "clip_000001.json" not in names
    result = json.loads((out / "a.json").read_text())
    assert np.asarray(result["keypoints_px"]).shape == (21, 2)
    assert np.asarray(result["vertices"]).shape[1] == 3 and result["backend"] == "keras"
    assert cv2.imread(str(out / "a_mask.png"), cv2.IMREAD_UNCHANGED).shape == (64, 64)
    overlay = cv2.imread(str(out / "a_overlay.png"))
    assert (
        overlay.shape == (64, 64, 3)
        and np.abs(overlay.astype(int) - images[0][..., ::-1]).max() > 50
    )


def test_predict_left_bbox_and_exported_models(tmp_path):
    image = np.zeros((100, 120, 3), np.uint8)
    image[20:84, 30:94] = fixtures.hand_images()[4]
    path = tmp_path / "hand.jpg"
    _write(path, image)
    results = {}
    for name, model in (
        ("keras", fixtures.trained_run()),
        ("tflite", fixtures.tflite_file("none")),
        ("saved", fixtures.saved_model_dir()),
    ):
        out = tmp_path / name
        assert (
            main(
                [
                    "predict",
                    str(path),
                    "--model",
                    model,
                    "--out",
                    str(out),
                    "--bbox",
                    "30,20,64,64",
                    "--left",
                ]
            )
            == 0
        )
        results[name] = json.loads((out / "hand.json").read_text())
        assert results[name]["is_left"] is True
        np.testing.assert_allclose(results[name]["crop_box"], [30, 20, 64, 64])
    for name in ("tflite", "saved"):
        np.testing.assert_allclose(
            results[name]["keypoints_px"], results["keras"]["keypoints_px"], atol=0.01
        )


def test_predict_errors(tmp_path, capsys):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"nope")
    run = fixtures.trained_run()
    assert main(["predict", str(bad), "--model", run, "--out", str(tmp_path / "o")]) == 2
    assert "no input could be read" in capsys.readouterr().err
    assert main(["predict", str(bad), "--model", run, "--out", "o", "--bbox", "1,2,3"]) == 2
    assert "--bbox" in capsys.readouterr().err
    assert main(["predict", str(bad), "--model", str(tmp_path), "--out", "o"]) == 2
    assert "--model" in capsys.readouterr().err


def test_predict_reports_each_unreadable_file_and_goes_on(tmp_path, capsys):
    src = tmp_path / "in"
    src.mkdir()
    names = {
        "truncated_jpeg": "cut.jpg",
        "truncated_png": "cut.png",
        "empty": "empty.jpg",
        "text": "notes.jpg",
        "wrong_extension": "png_named.jpg",
    }
    for kind, name in names.items():
        _write(src / name, fixtures.hand_images()[0])
        image_files.spoil(src / name, kind)
    _write(src / "good.png", fixtures.hand_images()[1])
    out = tmp_path / "out"
    assert main(["predict", str(src), "--model", fixtures.trained_run(), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert "wrote 2 result(s)" in captured.out and "skipped 4 unreadable input(s)" in captured.out
    skipped = [line for line in captured.err.splitlines() if line.startswith("skipped ")]
    reasons = {
        "cut.jpg": "truncated or corrupt JPEG",
        "cut.png": "truncated PNG",
        "empty.jpg": "empty file (0 bytes)",
        "notes.jpg": "not an image",
    }
    assert len(skipped) == 4, captured.err
    for name, reason in reasons.items():
        assert any(str(src / name) in line and reason in line for line in skipped), name
    assert sorted(f for f in os.listdir(out) if f.endswith(".json")) == [
        "good.json",
        "png_named.json",
    ]
