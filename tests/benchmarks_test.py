"""Smoke tests of the benchmark scripts' plumbing (no timing is asserted)."""

import argparse
import os
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))

import bench_infer  # noqa: E402
import bench_tflite_layers  # noqa: E402


def test_bench_infer_model_specs():
    assert bench_infer._model_spec("mobilenetv2") == "mobilenetv2"
    spec = "mobile:model.stem_kernel=7,model.width=16"
    assert bench_infer._model_spec(spec) == spec
    assert bench_infer._slug(spec) == "mobile_model.stem_kernel_7_model.width_16"
    with pytest.raises(argparse.ArgumentTypeError, match="unknown config key 'model.stem'"):
        bench_infer._model_spec("mobile:model.stem=7")
    with pytest.raises(argparse.ArgumentTypeError, match="stem_kernel must be odd"):
        bench_infer._model_spec("mobile:model.stem_kernel=4")
    with pytest.raises(argparse.ArgumentTypeError, match="nope"):
        bench_infer._model_spec("nope")


def test_bench_tflite_layers_prints_a_row_per_layer(capsys):
    assert bench_tflite_layers.main(["--only", "stem", "--runs", "1", "--rounds", "1"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("Stem ")]
    assert len(rows) == 3, out
    for row in rows:  # fp32, fp32 builtin, int8, int8/fp32
        fp32, builtin, int8, ratio = (float(v) for v in row.split()[-4:])
        assert min(fp32, builtin, int8) > 0 and ratio == pytest.approx(int8 / fp32, abs=0.01)
    with pytest.raises(SystemExit):
        bench_tflite_layers.main(["--runs", "0"])
