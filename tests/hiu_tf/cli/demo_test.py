"""`python -m hiu_tf demo`: the whole pipeline, end to end, on a tiny budget.

Uses the stick hand model (a few hundred faces) at 32 x 32 px, a few dozen
samples and eager training, so that data, training, both evaluations, the
TFLite export, the predictor and the report all run in well under a minute.
The full default demo (minutes on a CPU) is the `slow` test at the end.
"""

import json
import os
import re

import pytest

from hiu_tf.__main__ import main
from tests.hiu_tf.data.sources.stick_hand import stick_hand_model


@pytest.fixture(scope="module")
def stick_npz(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("hand") / "stick.npz")
    stick_hand_model().save_npz(path)
    return path


def _check_report(out) -> dict:
    for name in (
        "index.html",
        "metrics.json",
        "config.yaml",
        "model.tflite",
        "model.tflite.json",
        "pck_2d.png",
        "iou_pck.png",
        "pck_3d.png",
        "training_curve.png",
        "panels_trained.png",
        "panels_untrained.png",
        "data_train.png",
        "data_heldout.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    page = (out / "index.html").read_text()
    links = re.findall(r'(?:src|href)="([^"]+)"', page) + re.findall(r"href='([^']+)'", page)
    assert len(links) >= 12
    for link in links:
        assert not os.path.isabs(link), link
        assert (out / link).is_file(), link
    metrics = json.loads((out / "metrics.json").read_text())
    for tag in ("trained", "untrained"):
        assert metrics[tag]["num_samples"] > 0
        assert {"keypoints_2d", "mask", "keypoints_3d"} <= set(metrics[tag])
        assert metrics["summary"][tag]["mask_mean_iou"] is not None
    return metrics


def test_demo_runs_end_to_end_and_writes_the_report(tmp_path, capsys, stick_npz):
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--out",
        str(out),
        "--minutes",
        "0.05",
        "--train-samples",
        "24",
        "--heldout-samples",
        "8",
        "--predict-images",
        "2",
        "--hand-model",
        stick_npz,
        "--set",
        "model.input_size=32",
        "--warmup-steps",
        "2",
        "--run-eagerly",
        "--no-hand-pictures",
        "--quiet",
    ]
    assert main(argv) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(out / "index.html")  # the last line names the report
    for stage in range(1, 7):
        assert any(line.startswith(f"[{stage}/6]") for line in lines), stage
    metrics = _check_report(out)
    assert metrics["training"]["steps"] >= 1
    assert len(os.listdir(out / "run" / "checkpoints")) == 1  # older ones pruned
    assert metrics["tflite"]["parity"]["max_abs_diff_keypoints_px"] < 0.05
    assert sorted(os.listdir(out / "predictions")) == [
        f"heldout_{i:02d}{suffix}"
        for i in range(2)
        for suffix in (".json", "_mask.png", "_overlay.png")
    ]


def test_demo_rejects_bad_options(tmp_path, capsys):
    assert main(["demo", "--out", str(tmp_path), "--minutes", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --minutes must be a positive number. Received: --minutes=0.0"
    )
    assert main(["demo", "--out", str(tmp_path), "--set", "model.width=0"]) == 2
    assert "model.width must be >= 1" in capsys.readouterr().err


@pytest.mark.slow
def test_default_demo_learns_within_its_budget(tmp_path, capsys):
    """The README's command: within 10 minutes, it meets every demo target on its held-out set.

    The demo trains for a fixed time, so a slower machine trains fewer steps; the
    margins of runs on 2 cores are in docs/learning.md, "The demo".
    """
    import time

    out = tmp_path / "demo"
    start = time.monotonic()
    assert main(["demo", "--out", str(out), "--quiet"]) == 0
    assert time.monotonic() - start < 600
    metrics = _check_report(out)
    trained, untrained = metrics["summary"]["trained"], metrics["summary"]["untrained"]
    missed = {t["key"]: t for t in metrics["targets"] if not t["met"]}
    assert not missed, missed
    assert trained["mask_mean_iou"] > untrained["mask_mean_iou"] + 0.4
    # The mesh's health: turned the right way, at the right depth.
    assert abs(trained["depth_ratio"] - 1.0) < 0.15
