import os

import pytest

from hiu_tf.__main__ import main
from hiu_tf.runs import RunPaths
from tests.hiu_tf.data.sources.stick_hand import stick_hand_model


@pytest.fixture(scope="module")
def hand_npz(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("hand") / "stick.npz")
    stick_hand_model().save_npz(path)
    return path


def _argv(hand_npz, out_dir, *extra):
    return [
        "train",
        "--preset",
        "tiny",
        "--set",
        f"model.hand_model={hand_npz}",
        "--set",
        "model.input_size=32",
        "--set",
        "data.batch_size=2",
        "--out-dir",
        str(out_dir),
        *extra,
    ]


def test_train_writes_a_run_folder(capsys, hand_npz, tmp_path):
    flags = ["--epochs", "1", "--steps-per-epoch", "1", "--synthetic-samples", "4"]
    argv = _argv(hand_npz, tmp_path / "run", *flags, "--run-eagerly", "--fit-verbose", "0")
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "trained epochs 1-1 of 1" in out and "final loss" in out
    paths = RunPaths(str(tmp_path / "run"))
    assert os.path.isfile(paths.config) and os.path.isfile(paths.model)
    assert os.path.isfile(paths.history) and paths.latest_checkpoint()[0] == 1
    assert main(argv) == 0  # a finished run resumes into nothing to do
    assert "nothing to do" in capsys.readouterr().out


def test_user_errors_are_one_line(capsys, hand_npz, tmp_path):
    assert main(_argv(hand_npz, tmp_path / "run", "--set", "train.nope=1")) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: unknown config key 'train.nope'") and err.count("\n") == 1
    assert main(_argv(hand_npz, tmp_path / "run", "--set", "train.mixed_precision=fp8")) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        "error: train.mixed_precision must be one of ('none', 'mixed_float16', "
        "'mixed_bfloat16'). Received: train.mixed_precision='fp8'"
    )
    assert main(_argv(hand_npz, tmp_path / "run", "--epochs", "0")) == 2
    assert capsys.readouterr().err.strip() == "error: --epochs must be >= 1. Received: --epochs=0"
    assert not os.path.exists(tmp_path / "run")
