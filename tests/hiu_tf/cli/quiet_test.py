"""A quiet command line: no line that TensorFlow wrote, unless asked; real errors still show."""

import os
import re
import subprocess
import sys
import textwrap

import cv2
import numpy as np
import pytest

from hiu_tf.cli import quiet
from tests.export import fixtures

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
# Words of TensorFlow's start-up and log lines that none of our messages uses.
FOREIGN = re.compile(
    r"oneDNN|cuda|cuInit|absl|NodeDef|XNNPACK|fully_quantize|tensorflow|TensorFlow"
)
# Our own log lines (logging.basicConfig in hiu_tf/__main__.py): "INFO export.tflite: ...".
OURS = re.compile(r"(DEBUG|INFO|WARNING|ERROR) (hiu_tf|mano_tf|training|export)[\w.]*: ")


def _run(args, extra_env=None, timeout=600):
    """Runs `args` in a fresh process whose environment sets no TensorFlow log level."""
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "HIU_VERBOSE")}
    env.update(PYTHONPATH=REPO, **(extra_env or {}))
    proc = subprocess.run(
        [sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def _assert_only_ours(proc) -> None:
    for line in proc.stdout.splitlines():
        assert not FOREIGN.search(line), line
    for line in proc.stderr.splitlines():
        assert OURS.match(line) and not quiet.is_noise(line.encode()), line


def test_model_info_prints_no_line_that_tensorflow_wrote():
    quiet_run = _run(["-m", "hiu_tf", "model-info", "--preset", "tiny"])
    assert quiet_run.stderr == ""
    assert quiet_run.stdout.startswith("config       tiny\n") and "FLOPs" in quiet_run.stdout
    _assert_only_ours(quiet_run)
    # Asked for, TensorFlow's lines are there (so the check above can fail), ours unchanged.
    verbose_run = _run(["-m", "hiu_tf", "model-info", "--preset", "tiny"], {"HIU_VERBOSE": "1"})
    assert verbose_run.stdout == quiet_run.stdout
    assert any(quiet.is_noise(line.encode()) for line in verbose_run.stderr.splitlines())


def test_export_and_predict_print_only_their_own_lines(tmp_path):
    model = tmp_path / "q.tflite"
    export = _run(
        ["-m", "hiu_tf", "export", "tflite", "--run", fixtures.trained_run()]
        + ["--quant", "int8", "--samples", "2", "--out", str(model)]
    )
    assert f"wrote {model}" in export.stdout
    _assert_only_ours(export)
    image = tmp_path / "hand.png"
    cv2.imwrite(str(image), np.ascontiguousarray(fixtures.hand_images()[0][..., ::-1]))
    predict = _run(
        ["-m", "hiu_tf", "predict", str(image), "--model", str(model)]
        + ["--out", str(tmp_path / "out")]
    )
    assert predict.stdout == f"wrote 1 result(s) to {tmp_path / 'out'}\n"
    assert predict.stderr == ""


_SCRIPT = textwrap.dedent(
    """
    import os, sys
    from hiu_tf.cli import quiet

    assert quiet.install(sys.argv[1:]) is (not sys.argv[1:])
    os.write(2, b"I0000 00:00:1796425547.517670   26165 port.cc:153] oneDNN custom operations\\n")
    os.write(2, b"E0000 00:00:1796425547.517670   26165 some_op.cc:12] a real error\\n")
    print("our own line", file=sys.stderr)
    os.write(2, b"F0000 00:00:1796425547.517670   26165 some_op.cc:12] Check failed: x == y\\n")
    os.abort()
    """
)


@pytest.mark.parametrize("verbose", [False, True])
def test_errors_and_crashes_still_surface(verbose):
    env = {k: v for k, v in os.environ.items() if k != "HIU_VERBOSE"}
    proc = subprocess.run(
        [sys.executable, "-c", _SCRIPT, *(["--verbose"] if verbose else [])],
        cwd=REPO,
        env=dict(env, PYTHONPATH=REPO),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode != 0  # aborted, as after a C++ CHECK failure
    lines = proc.stderr.splitlines()
    assert "our own line" in lines
    assert any(line.endswith("] a real error") for line in lines), proc.stderr
    assert any(line.endswith("] Check failed: x == y") for line in lines), proc.stderr
    assert any("oneDNN" in line for line in lines) == verbose


def test_noise_patterns():
    noise = [
        b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR",
        b"I0000 00:00:1796423270.329936    8688 port.cc:153] oneDNN custom operations are on.",
        b"W0000 00:00:1796423573.543985   13869 local_rendezvous.cc:412] Local rendezvous is",
        b"I1204 10:11:12.123456   77 cpu_feature_guard.cc:227] This TensorFlow binary is optimized",
        b"To enable the following instructions: AVX2 FMA, in other operations, rebuild TensorFlow "
        b"with the appropriate compiler flags.",
        b"E0000 00:00:1796423273.834322    8688 cuda_platform.cc:52] failed call to cuInit: "
        b"INTERNAL: CUDA error",
        b"E0000 00:00:1796423397.996896   11293 node_def_util.cc:682] NodeDef mentions attribute "
        b"Truncate which is not in the op definition: Op<name=Identity>",
        b"INFO: Created TensorFlow Lite XNNPACK delegate for CPU.",
        b"fully_quantize: 0, inference_type: 6, input_inference_type: FLOAT32",
    ]
    kept = [
        b"E0000 00:00:1796423273.834322    8688 cuda_driver.cc:12] failed to allocate 2.0G",
        b"F0000 00:00:1796423273.834322    8688 op.cc:12] Check failed: a == b",
        b"Traceback (most recent call last):",
        b"ERROR: tflite kernel failed",
        b"INFO export.tflite: wrote q.tflite",
        b"Fatal Python error: Segmentation fault",
    ]
    assert all(quiet.is_noise(line + b"\n") for line in noise)
    assert not any(quiet.is_noise(line + b"\n") for line in kept)


def test_verbose_is_asked_by_flag_or_environment():
    assert quiet.wants_verbose(["-v", "model-info"], {})
    assert quiet.wants_verbose(["model-info", "--verbose"], {})
    assert not quiet.wants_verbose(["model-info"], {})
    assert quiet.wants_verbose(["model-info"], {"HIU_VERBOSE": "1"})
    assert not quiet.wants_verbose(["model-info"], {"HIU_VERBOSE": "0"})


def test_own_info_filter_passes_our_info_and_anyones_warnings():
    import logging

    def record(name, level):
        return logging.LogRecord(name, level, __file__, 1, "message", None, None)

    keep = quiet.OwnInfoFilter()
    for name in ("hiu_tf.cli.demo", "export.tflite", "training.train", "mano_tf", "__main__"):
        assert keep.filter(record(name, logging.INFO)), name
    # ai-edge-quantizer logs "Serializing model..." at INFO on the root logger.
    for name in ("root", "ai_edge_quantizer.quantizer", "absl", "hiu_tf_other"):
        assert not keep.filter(record(name, logging.INFO)), name
        assert keep.filter(record(name, logging.WARNING)), name
