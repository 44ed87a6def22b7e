import json
import os

import numpy as np
import yaml

from export import tflite
from hiu_tf.__main__ import main
from tests.export import fixtures


def test_export_saved_model_and_tflite(tmp_path, capsys):
    run = fixtures.trained_run()
    out = tmp_path / "exports" / "hiu"
    assert (
        main(
            [
                "export",
                "saved-model",
                "--run",
                run,
                "--out",
                str(out),
                "--no-mesh",
                "--set",
                "export.version=3",
            ]
        )
        == 0
    )
    assert "wrote SavedModel" in capsys.readouterr().out
    info = json.loads((out / "3" / "assets.extra" / "export_info.json").read_text())
    assert info["mesh"] is False and "vertices" not in info["outputs"]
    saved = yaml.safe_load((out / "3" / "assets.extra" / "config.yaml").read_text())
    assert saved["name"] == "tiny" and saved["export"]["version"] == 3
    # The version exists: a second export needs --force.
    assert main(["export", "saved-model", "--run", run, "--out", str(out / "3")]) == 2
    assert "--force" in capsys.readouterr().err

    path = tmp_path / "hiu.tflite"
    assert main(["export", "tflite", "--run", run, "--quant", "fp16", "--out", str(path)]) == 0
    assert "fp16" in capsys.readouterr().out
    runner = tflite.TFLiteRunner(str(path))
    got = runner(fixtures.hand_images()[:1])
    assert got["keypoints_px"].shape == (1, 21, 2) and np.isfinite(got["vertices"]).all()
    assert json.loads((tmp_path / "hiu.tflite.json").read_text())["quantization"] == "fp16"


def test_export_tflite_int8_synthetic_data(tmp_path, capsys):
    path = tmp_path / "q.tflite"
    argv = [
        "export",
        "tflite",
        "--run",
        fixtures.trained_run(),
        "--quant",
        "int8",
        "--samples",
        "2",
        "--out",
        str(path),
    ]
    assert main(argv) == 0
    info = json.loads((tmp_path / "q.tflite.json").read_text())
    assert info["representative"] == {"data": "synthetic", "images": 2}
    tflite.check_builtin_ops(path.read_bytes())
    assert main(argv) == 2 and "exists" in capsys.readouterr().err


def test_export_user_errors(tmp_path, capsys):
    assert main(["export", "tflite", "--run", str(tmp_path / "nope"), "--out", "x.tflite"]) == 2
    assert "run folder not found" in capsys.readouterr().err
    run = fixtures.trained_run()
    assert (
        main(
            [
                "export",
                "saved-model",
                "--run",
                run,
                "--out",
                str(tmp_path / "e"),
                "--set",
                "model.width=8",
            ]
        )
        == 2
    )
    assert "export.*" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "e")
