"""`python -m hiu_tf evaluate`: outputs on a tiny run, and one-line errors with exit code 2."""

import json
import os

import numpy as np
import pytest

from hiu_tf.__main__ import main
from tests.training.evaluate_test import make_run, write_records


@pytest.fixture(scope="module")
def run_and_data(tmp_path_factory, hand_model):
    root = tmp_path_factory.mktemp("cli-eval")
    return make_run(root / "run", hand_model), write_records(root / "val")


def test_evaluate_writes_metrics_plots_and_freihand_predictions(run_and_data, capsys):
    run, data = run_and_data
    argv = ["evaluate", "--run", run, "--data", data, "--format", "freihand"]
    argv += ["--batch-size", "2", "--max-samples", "5", "--quiet"]
    assert main(argv) == 0
    stdout = capsys.readouterr().out
    out = os.path.join(run, "eval", "val")  # the default output folder
    assert f"evaluated 5 samples of {data}" in stdout
    assert "2D PCK (heatmap): AUC" in stdout and "3D PCK: AUC 20-50 mm" in stdout
    assert f"wrote {os.path.join(out, 'metrics.json')}" in stdout
    with open(os.path.join(out, "metrics.json")) as f:
        m = json.load(f)
    assert m["num_samples"] == 5
    assert {"keypoints_2d", "keypoints_3d", "mask", "freihand_predictions"} <= set(m)
    assert all(m[k]["count"] > 0 for k in ("keypoints_3d", "mask", "freihand_predictions"))
    for name in ("pck_2d.png", "pck_3d.png", "iou_pck.png"):
        assert os.path.getsize(os.path.join(out, name)) > 1000
    with open(os.path.join(out, "pred.json")) as f:
        pred = json.load(f)
    assert len(pred) == 2 and np.asarray(pred[0]).shape == (5, 21, 3)
    assert len(pred[1]) == 5 and np.asarray(pred[1][0]).shape[1] == 3


@pytest.mark.parametrize(
    "change, message",
    [
        ({"--run": "MISSING"}, "error: run folder not found"),
        ({"--data": "MISSING"}, "error: no TFRecord files at"),
        ({"--batch-size": "0"}, "error: --batch-size must be an integer >= 1. Received: "),
    ],
)
def test_user_errors_exit_2_with_one_line(run_and_data, tmp_path, capsys, change, message):
    run, data = run_and_data
    args = {"--run": run, "--data": data, "--batch-size": "2"}
    for key, value in change.items():
        args[key] = str(tmp_path / "missing") if value == "MISSING" else value
    argv = ["evaluate", *[x for kv in args.items() for x in kv], "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith(message) and err.count("\n") == 1, err
