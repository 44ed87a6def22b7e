"""Smoke tests of the benchmark scripts' plumbing (no timing is asserted)."""

import argparse
import os
import sys

import numpy as np
import pytest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))

import _common  # noqa: E402
import bench_decoders  # noqa: E402
import bench_head_init  # noqa: E402
import bench_infer  # noqa: E402
import bench_int8  # noqa: E402
import bench_learning  # noqa: E402
import bench_tflite_layers  # noqa: E402
import bench_train  # noqa: E402

PHONE_RECIPE = os.path.join(
    os.path.dirname(os.path.dirname(__file__)), "training", "configs", "phone-recipe.yaml"
)


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
        assert min(fp32, builtin, int8) > 0
        # The table prints ms to 3 decimals and the ratio (of the unrounded times) to 2.
        rounding = int8 / fp32 * (0.0005 / fp32 + 0.0005 / int8) + 0.005
        assert ratio == pytest.approx(int8 / fp32, abs=rounding + 1e-9)
    with pytest.raises(SystemExit):
        bench_tflite_layers.main(["--runs", "0"])


def test_bench_infer_references_any_tflite_file(tmp_path):
    """`--reference`: any file is timed with random inputs and tabled against the first."""
    import argparse

    from export import tflite
    from tests.export import fixtures

    path = fixtures.tflite_file("none")
    assert bench_infer._file_latency(path, 1, runs=2, warmup=1) > 0
    with pytest.raises(argparse.ArgumentTypeError, match="no such file"):
        bench_infer._reference_path(str(tmp_path / "missing.tflite"))
    with pytest.raises(argparse.ArgumentTypeError, match="not a .tflite file"):
        bench_infer._reference_path(path + ".json")
    with open(path, "rb") as f:
        cost = tflite.graph_cost(f.read())
    results = {"ref/file/1": 2.0, "ref/file/2": 1.0, "ours/file/1": 1.0, "ours/file/2": 1.5}
    lines = bench_infer.reference_table(results, {"ref": cost, "ours": cost}, ["ref", "ours"])
    rows = {line.split()[0]: line.split()[1:] for line in lines[2:-1]}
    assert rows["ref"][:4] == ["2.00", "1.00", "1.00", "1.00"]
    assert rows["ours"][:4] == ["1.00", "0.50", "1.50", "1.50"]
    assert cost["flops"] > 0 and cost["params"] > 0
    assert float(rows["ours"][4]) == pytest.approx(cost["flops"] / 1e9, abs=5e-4)
    assert float(rows["ours"][5]) == pytest.approx(cost["params"] / 1e6, abs=5e-4)


def test_bench_infer_segments_cut_the_graph_at_the_trunk():
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_litert.tools import flatbuffer_utils

    from export import tflite
    from tests.export import fixtures

    for quant in ("none", "int8"):
        with open(fixtures.tflite_file(quant), "rb") as f:
            content = f.read()
        segments = bench_infer._segment_outputs(content)
        assert len(segments["stem"]) == 1 and len(segments["trunk"]) >= 2
        assert set(segments) == {"stem", "trunk", "whole", *bench_infer.TAIL_PARTS}
        full = flatbuffer_utils.convert_bytearray_to_object(bytearray(content)).subgraphs[0]
        for name, outputs in segments.items():
            model = flatbuffer_utils.convert_bytearray_to_object(
                bytearray(bench_infer._pruned(content, outputs))
            )
            ops = model.subgraphs[0].operators
            names = [model.subgraphs[0].tensors[op.outputs[0]].name.decode() for op in ops]
            kinds = {tflite.op_name(model, op) for op in ops}
            if name == "whole":
                assert len(ops) == len(full.operators)  # the export has no dead ops
            elif name.startswith("+"):  # the trunk and one part of the tail
                assert len(ops) < len(full.operators)
                assert any(n.startswith("float_tail/") for n in names), names
                own = {"+keypoints": "ARG_MAX", "+mask": "RESIZE_BILINEAR", "+mesh": "BATCH_MATMUL"}
                assert own[name] in kinds, kinds
                # The mesh part has an ARG_MAX of its own (rotations); none has the mask's
                # resize but the mask, none MANO's matrix products but the mesh.
                absent = {"RESIZE_BILINEAR", "BATCH_MATMUL"} - {own[name]}
                assert not kinds & absent, kinds
            else:  # nothing of the float tail
                assert ops and not any(n.startswith("float_tail/") for n in names), names
            if name == "stem":
                # the input scaling, the stem; no MTL block
                assert any("/stem" in n for n in names) and not any("stack" in n for n in names)
        # The cut-down trunk computes the same values as the whole graph.
        image = fixtures.hand_images()[:1].astype("float32")
        values = []
        for graph_content in (content, bench_infer._pruned(content, segments["trunk"])):
            interpreter = Interpreter(
                model_content=graph_content, experimental_preserve_all_tensors=True
            )
            interpreter.allocate_tensors()
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], image)
            interpreter.invoke()
            values.append([interpreter.get_tensor(t) for t in segments["trunk"]])
        for a, b in zip(*values, strict=True):
            assert a.dtype == b.dtype and (a == b).all()


def test_bench_head_init_builds_both_starts():
    import numpy as np

    stds = {}
    for start in bench_head_init.STARTS:
        _, model = bench_head_init._model("tiny", 64, start, 0)
        kernels = [np.asarray(layer.kernel) for layer in bench_head_init.output_convs(model)]
        assert len(kernels) == 6  # 2 stacks x (heat-maps, mask, POF)
        stds[start] = max(float(k.std()) for k in kernels)
    assert stds["small"] < 2e-3 < 0.05 < stds["glorot"], stds


def test_bench_decoders_reads_the_heatmaps_that_the_int8_file_decodes():
    """The cut-down int8 file gives the heat-maps that the whole file decodes: the
    model's decoder on them gives the file's own keypoints."""
    import numpy as np

    from export.tflite import TFLiteRunner
    from tests.export import fixtures

    config, _ = fixtures.loaded_run()
    path = fixtures.tflite_file("int8")
    images = fixtures.hand_images(3).astype(np.float32)
    maps = bench_decoders.int8_heatmaps(path, images)
    size = config.model.heatmap_size
    assert maps.shape == (3, size, size, 21) and maps.dtype == np.float32
    name = f"dark sigma {config.model.decoder_sigma:g}"
    table = bench_decoders.decoders([config.model.decoder_sigma])
    assert list(table) == ["peak", name, "mean"]
    np.testing.assert_allclose(
        np.asarray(table[name](maps)), TFLiteRunner(path)(images)["keypoints_px"], atol=1e-3
    )


def test_bench_decoders_exports_once_per_calibration_count(capsys):
    """A few steps of `tiny`: one table row per (seed, calibration count, decoder), with
    distances and shares in range; the Keras columns do not depend on the count."""
    argv = ["--preset", "tiny", "--size", "64", "--steps", "2", "--hands", "4"]
    bench_decoders.main(argv + ["--sigmas", "2", "--calibration", "2", "3"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| 0 |")]
    cells = [row.strip(" |").split(" | ") for row in rows]
    assert [(c[1], c[2]) for c in cells] == [
        (n, d) for n in ("2", "3") for d in ("peak", "dark sigma 2", "mean")
    ], rows
    for c in cells:
        median, within, worst = c[3].split(" / ")
        assert 0 <= float(median) <= float(worst) and 0 <= float(within.rstrip("%")) <= 100
    assert [c[4] for c in cells[:3]] == [c[4] for c in cells[3:]]
    assert all(c[6] in ("met", "missed") for c in cells), rows
    with pytest.raises(SystemExit):
        bench_decoders.main(argv + ["--calibration", "0"])


def test_best_of_rounds_interleaves_the_keys_and_keeps_each_smallest():
    calls = []
    values = {"a": iter([3.0, 1.0, 2.0]), "b": iter([5.0, 6.0, 4.0])}

    def measure(key):
        calls.append(key)
        return next(values[key])

    best = _common.best_of_rounds({k: lambda k=k: measure(k) for k in ("a", "b")}, 3)
    assert best == {"a": 1.0, "b": 4.0}
    assert calls == ["a", "b"] * 3


def test_bench_decoders_latency_times_every_decoder(capsys):
    bench_decoders.main(["--latency", "--size", "32", "--sigmas", "2", "--runs", "1"])
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| ")]
    assert [row.split(" | ")[0] for row in rows[1:]] == ["| peak", "| dark sigma 2", "| mean"]
    times = [float(x) for row in rows[1:] for x in row.strip(" |").split(" | ")[1:]]
    assert len(times) == 6 and all(t > 0 for t in times), rows
    with pytest.raises(SystemExit):
        bench_decoders.main(["--latency", "--runs", "0"])


def test_bench_infer_table_gives_ratios_to_mobilenetv2_and_the_goal():
    results = {
        "mobile/tflite-int8/1": 5.0, "mobile/tflite-int8/2": 3.0,
        "lite/tflite-int8/1": 2.5, "lite/tflite-int8/2": 2.1,
        "mobilenetv2/tflite-int8/1": 3.2, "mobilenetv2/tflite-int8/2": 2.0,
    }  # fmt: skip
    sizes = {name: {"int8": 3.0} for name in ("mobile", "lite", "mobilenetv2")}
    backends = [("tflite-int8", "TFLite int8")]
    models = ["mobile", "lite", "paper", "mobilenetv2"]
    results.update({"paper/tflite-int8/1": 20.0, "paper/tflite-int8/2": 13.0})
    sizes["paper"] = {"int8": 7.0}
    inputs = {"mobile": 224, "lite": 224, "paper": 256, "mobilenetv2": 224}
    lines = bench_infer.latency_table(results, sizes, models, backends, inputs)
    lite = next(line for line in lines if line.startswith("lite "))
    assert lite.split()[-5:] == ["2.50", "0.78", "2.10", "1.05", "3.00"], lite
    assert "goal, int8 no slower than mobilenetv2 int8: mobile not met" in lines
    assert "goal, int8 no slower than mobilenetv2 int8: lite met on 1 thread(s)" in lines
    assert not any("paper" in line for line in lines if line.startswith("goal"))  # 256 px
    plain = bench_infer.latency_table(results, sizes, ["mobile"], backends)
    assert len(plain) == 3 and not any("ratio" in line or "goal" in line for line in plain)


def test_bench_infer_scope_names():
    scope_of = bench_infer.scope_of
    assert scope_of("trunk/stem_1/conv1_1/act_1/Relu6;trunk/stem_1/conv1_1/conv") == "stem"
    name = "trunk/stack2_1/pof_decoder_1/block0_1/expand_1/act_1/Relu6"
    assert scope_of(name) == "stack2/pof_decoder"
    assert scope_of("trunk/stack1_1/tam_1/Softmax") == "stack1/tam"
    assert scope_of("trunk/mul") == "trunk/other"
    assert scope_of("trunk/regressor_head/conv0_1/act_1/Relu6;trunk/x") == "regressor_head"
    assert scope_of("float_tail/mano_1/GatherV2_11;") == "tail/mano"
    assert scope_of("float_tail/soft_argmax_1/ArgMax") == "tail/soft_argmax"
    assert scope_of("float_tail/Sum") == "tail/other"
    assert scope_of("tfl.dequantize") == scope_of("StatefulPartitionedCall:4") == "io"


def test_bench_infer_times_the_parts_of_an_int8_file():
    import math

    from tests.export import fixtures

    parts = bench_infer._scope_latency(fixtures.tflite_file("int8"), runs=1, warmup=0)
    for scope in (
        "stem",
        "stack1/encoder",
        "stack2/heatmap_decoder",
        "stack2/tam",
        "regressor_head",
    ):
        assert scope in parts, parts
    for scope in ("tail/soft_argmax", "tail/regressor_head", "tail/mano"):
        assert scope in parts, parts
    assert all(math.isfinite(v) for v in parts.values())
    # The parts are differences of the cuts' times: they add up to the whole graph's.
    whole = parts.pop("whole")
    assert whole > 0 and sum(parts.values()) == pytest.approx(whole, rel=1e-9)


def test_bench_infer_sweep_of_int8_files(capsys):
    """`--quants int8 --no-tf --rounds 2`: one TFLite file per model, no TensorFlow timings."""
    args = ["--models", "tiny", "tiny:model.decoder_full_res=false", "--quants", "int8"]
    assert (
        bench_infer.main([*args, "--no-tf", "--runs", "1", "--warmup", "0", "--rounds", "2"]) == 0
    )
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("tiny")]
    assert len(rows) == 2 and all("TFLite int8" in row for row in rows), out
    assert "Keras" not in out and "best of 2 rounds" in out
    with pytest.raises(SystemExit):
        bench_infer.main(["--models", "tiny", "--rounds", "0"])


def test_bench_int8_options():
    assert bench_int8._int16_spec("maps=^trunk/a;b") == ("maps", "^trunk/a;b")
    for bad in ("maps", "=^trunk", "maps=", "maps=(unclosed"):
        with pytest.raises(argparse.ArgumentTypeError):
            bench_int8._int16_spec(bad)
    files = bench_int8.files({"maps": "^trunk/x"})
    assert list(files) == ["fp32", "int8", "int8, a16 maps"]
    assert files["int8, a16 maps"] == {"quant": "int8", "int16_scopes": ("^trunk/x",)}
    assert list(bench_int8.files({})) == ["fp32", "int8"]
    with pytest.raises(SystemExit):
        bench_int8.main(["--rounds", "0"])


@pytest.mark.slow
def test_bench_int8_prints_a_row_per_file(capsys):
    """A barely trained `tiny` at 64 px, fp32 and int8 only (`--int16` without values)."""
    args = ["--presets", "tiny", "--size", "64", "--steps", "1", "--int16"]
    assert bench_int8.main([*args, "--runs", "1", "--warmup", "0", "--rounds", "1"]) == 0
    rows = [line for line in capsys.readouterr().out.splitlines() if line.startswith("| tiny |")]
    assert [row.split(" | ")[2] for row in rows] == ["fp32", "int8"], rows
    fp32 = rows[0].split(" | ")
    assert fp32[3].startswith("0.00 / 100.0% / 0.0") and fp32[5] == "met", fp32


def test_bench_learning_options_and_config():
    args = bench_learning.parse_args(["--steps", "400,100,200,200", "--set", "model.width=32"])
    assert args.steps == (100, 200, 400)  # sorted, unique
    config = bench_learning.resolve_config(args)
    assert config.name == "demo" and config.model.width == 32 and config.train.seed == 0
    assert (
        bench_learning.resolve_config(bench_learning.parse_args(["--preset", "tiny"])).name
        == "tiny"
    )
    # a YAML file over a preset: the phone study's recipe keeps the preset's model
    phone = bench_learning.resolve_config(
        bench_learning.parse_args(["--preset", "mobile", "--config", PHONE_RECIPE, "--seed", "2"])
    )
    assert phone.name == "mobile" and phone.model.input_size == 224
    assert phone.model.head_keypoints and not phone.model.render_mask
    assert phone.loss.heatmap == 480.0 and phone.data.batch_size == 8 and phone.train.seed == 2
    for argv in (["--steps", "0,100"], ["--steps", "a"]):
        with pytest.raises(SystemExit):
            bench_learning.parse_args(argv)


def test_bench_phone_keeps_only_finished_runs_of_the_same_model(tmp_path):
    import json

    import bench_phone

    from hiu_tf.config import config_to_dict

    argv = bench_phone.learning_argv("mobile-lite", 1, (250, 500), str(tmp_path), ["data.x=1"])
    assert argv[argv.index("--config") + 1] == bench_phone.RECIPE
    assert argv[argv.index("--name") + 1] == "mobile-lite-s1" and "data.x=1" in argv
    config = bench_learning.resolve_config(
        bench_learning.parse_args(bench_phone.learning_argv("mobile-lite", 1, (250, 500), "o"))
    )
    assert config.train.seed == 1 and config.model.width == 32 and config.loss.heatmap == 480.0
    path = tmp_path / "results.json"
    assert bench_phone.finished(str(path), config, (250, 500)) is None  # no file
    rows = [{"step": s} for s in (0, 250, 500)]
    path.write_text(json.dumps({"config": config_to_dict(config), "rows": rows}))
    assert bench_phone.finished(str(path), config, (250, 500))["rows"] == rows
    assert bench_phone.finished(str(path), config, (250, 500, 1000)) is None  # other steps
    other = bench_learning.resolve_config(
        bench_learning.parse_args(bench_phone.learning_argv("mobile", 1, (250, 500), "o"))
    )
    assert bench_phone.finished(str(path), other, (250, 500)) is None  # another model
    export_only = bench_learning.resolve_config(
        bench_learning.parse_args(
            [*bench_phone.learning_argv("mobile-lite", 1, (250, 500), "o"), "--set"]
            + ["model.mask_output=" + ("input" if config.model.mask_output == "maps" else "maps")]
        )
    )
    assert bench_phone.finished(str(path), export_only, (250, 500))["rows"] == rows
    path.write_text(json.dumps({"config": config_to_dict(config), "rows": rows[:2]}))
    assert bench_phone.finished(str(path), config, (250, 500)) is None  # killed mid-run
    path.write_text("{")
    assert bench_phone.finished(str(path), config, (250, 500)) is None  # torn file


def test_bench_phone_spread_and_verdicts(tmp_path):
    import statistics

    import bench_phone

    mean, std = bench_phone.spread([1.0, 2.0, 4.0])
    assert mean == pytest.approx(7 / 3) and std == pytest.approx(statistics.stdev([1, 2, 4]))
    assert bench_phone.spread([3.0]) == (3.0, 0.0)
    # an error (lower is better) 1.0 lower with spreads 0.3 + 0.3: beyond the spread
    # (the verdicts are training.kit.results.compare, which the ablations share)
    from training.kit.results import compare

    assert compare((5.0, 0.3), (4.0, 0.3), higher=False) == "better"
    assert compare((5.0, 0.3), (4.0, 0.3), higher=True) == "worse"
    assert compare((5.0, 0.6), (4.0, 0.5), higher=False) == "within spread"
    assert compare((0.8, 0.0), (0.9, 0.05), higher=True) == "better"
    for argv in (["--presets", "nope"], ["--seeds", "0", "0"], ["--steps", "0"], ["--runs", "0"]):
        with pytest.raises(SystemExit):
            bench_phone.parse_args(argv)
    rows = [
        {
            "preset": name,
            "accuracy": {k: (m, 0.1) for k in ("median_2d_heatmap_px", "pa_mpjpe_mm")},
            "ms": {"1": ms, "2": ms / 2},
            "ratios": {"full.tflite": {"1": ms / 4, "2": ms / 3}},
        }
        for name, m, ms in (("a", 5.0, 1.0), ("b", 4.0, 2.0))
    ]
    lines = {"full.tflite": {"1": 1.0, "2": 1.0}, "lite.tflite": {"1": 0.5, "2": 0.45}}
    for references, ratios in ((["full.tflite", "lite.tflite"], lines), ([], None)):
        path = bench_phone.frontier_figure(rows, references, str(tmp_path / "f.png"), ratios)
        with open(path, "rb") as f:
            assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_bench_pose_oracles_rows_swap_in_the_labels():
    import dataclasses

    import bench_pose_oracles

    from hiu_tf.data.sources import synthetic
    from hiu_tf.model import HIUModel
    from hiu_tf.presets import preset

    gen = synthetic.SyntheticGenerator(synthetic.SynthConfig(image_size=64), "open:right")
    samples = [s for _, s in gen.generate(0, range(6))]
    cfg = dataclasses.replace(preset("tiny").model, hand_model="open:right", render_mask=False)
    model = HIUModel(cfg)
    errors = bench_pose_oracles.oracle_errors(model, samples)
    assert set(errors) == set(bench_pose_oracles.ROWS)
    assert all(np.isfinite(v) for v in errors.values())
    assert errors["mean fingers, true shape"] > 1.0  # the fingers differ between samples
    assert errors["true fingers, mean shape"] > 0.1  # the shapes differ too
    # Labels made with the mean shape: the labelled rotations with shape 0 reproduce
    # them exactly, so the pose labels and the model's hand model agree.
    for s in samples:
        mean_shape = model.mano(pose=s["mano_pose"][None], betas=np.zeros((1, 10), np.float32))
        s["joints_cam"] = np.asarray(mean_shape["joints"])[0]
    errors = bench_pose_oracles.oracle_errors(model, samples)
    assert errors["true fingers, mean shape"] < 1e-3
    with pytest.raises(ValueError, match="MANO and 3D labels"):
        bench_pose_oracles.oracle_errors(model, [{**samples[0], "has_mano": 0.0}])
    pof = bench_pose_oracles.model_pof_slopes(model, samples)
    assert set(pof) == {"xy", "z"} and all(
        np.isfinite(v).all() and v.shape == (4,) for v in pof.values()
    )
    # One prediction serves every table: the same numbers as predicting again.
    out = bench_pose_oracles.predict(model, samples)
    assert bench_pose_oracles.oracle_errors(model, samples, out) == errors
    assert bench_pose_oracles.model_pof_slopes(model, samples, out=out).keys() == pof.keys()
    labelled = np.stack([s["keypoints_px"] for s in samples])
    slopes = bench_pose_oracles.segment_slopes(out, labelled)
    assert set(slopes) == {"heat-map keypoints", "projected mesh"}
    assert all(v.shape == (4,) for v in slopes.values())


def test_bench_readout_learns_the_pose_from_keypoints():
    import bench_readout

    from hiu_tf.data.sources import synthetic
    from mano_tf.mano_layer import ManoLayer

    gen = synthetic.SyntheticGenerator(synthetic.SynthConfig(image_size=64), "open:right")
    samples = [s for _, s in gen.generate(0, range(16))]
    data = {
        k: np.stack([s[k] for s in samples]).astype(np.float32) for k in bench_readout.LABEL_KEYS
    }
    data["image"] = np.stack([s["image"] for s in samples])
    layer = ManoLayer("open:right", flat_hand_mean=True)
    kp = data["keypoints_px"]
    scores = [
        bench_readout.score(
            bench_readout.fit_readout(
                layer, data, kp, steps=steps, batch_size=8, hidden=32, seed=0
            ),
            data,
            kp,
        )
        for steps in (1, 300)
    ]
    assert scores[0]["kp_median_px"] == 0.0
    # It learns its training set: the rotation and the finger pose both improve.
    assert scores[1]["rotation_deg"] < 0.5 * scores[0]["rotation_deg"]
    assert scores[1]["pa_mpjpe_mm"] < 0.8 * scores[0]["pa_mpjpe_mm"]
    args = bench_readout.parse_args(["--train", "a", "--heldout", "b", "--noise", "1,2.5"])
    assert args.noise == (1.0, 2.5) and args.run == []
    for argv in (["--train", "a"], ["--train", "a", "--heldout", "b", "--noise", "0"]):
        with pytest.raises(SystemExit):
            bench_readout.parse_args(argv)


def test_bench_pose_oracles_bone_slopes_against_a_loop():
    import bench_pose_oracles

    from hiu_tf.keypoints import BONES

    rng = np.random.default_rng(3)
    labelled = rng.uniform(0, 64, (7, 21, 2))
    predicted = rng.uniform(0, 64, (7, 21, 2))
    want = []
    for k in range(4):  # the k-th bone of each finger
        num = den = 0.0
        for n in range(7):
            for f in range(5):
                parent, child = BONES[4 * f + k]
                t = labelled[n, child] - labelled[n, parent]
                p = predicted[n, child] - predicted[n, parent]
                num += float(p @ t)
                den += float(t @ t)
        want.append(num / den)
    got = bench_pose_oracles.bone_slopes(predicted, labelled)
    np.testing.assert_allclose(got, want, rtol=1e-12)
    # Every bone drawn at 0.3 of its length (built along the chain): slope 0.3.
    chain = labelled.copy()
    for parent, child in BONES:
        chain[:, child] = chain[:, parent] + 0.3 * (labelled[:, child] - labelled[:, parent])
    np.testing.assert_allclose(bench_pose_oracles.bone_slopes(chain, labelled), 0.3, rtol=1e-12)
    np.testing.assert_allclose(bench_pose_oracles.bone_slopes(labelled + 5.0, labelled), 1.0)


def test_bench_pose_oracles_tip_errors_against_a_loop():
    import bench_pose_oracles

    rng = np.random.default_rng(5)
    labelled = rng.uniform(0, 64, (9, 21, 2))
    predicted = labelled + rng.normal(0, 3, (9, 21, 2))
    got = bench_pose_oracles.tip_errors(predicted, labelled)
    for f, (tip, below) in enumerate(((4, 3), (8, 7), (12, 11), (16, 15), (20, 19))):
        err, along, closer = [], [], []
        for n in range(9):
            bone = labelled[n, tip] - labelled[n, below]
            e = predicted[n, tip] - labelled[n, tip]
            err.append(np.hypot(*e))
            along.append(e @ bone / np.hypot(*bone))
            closer.append(np.hypot(*(predicted[n, tip] - labelled[n, below])) < err[-1])
        assert got["median px"][f] == pytest.approx(np.median(err), rel=1e-12)
        assert got["along px"][f] == pytest.approx(np.median(along), rel=1e-12)
        assert got["closer to joint below"][f] == pytest.approx(np.mean(closer), rel=1e-12)
    # Every tip drawn on the joint below: short by the whole bone, all closer to it.
    on_below = labelled.copy()
    on_below[:, [4, 8, 12, 16, 20]] = labelled[:, [3, 7, 11, 15, 19]]
    got = bench_pose_oracles.tip_errors(on_below, labelled)
    lengths = np.linalg.norm(
        labelled[:, [4, 8, 12, 16, 20]] - labelled[:, [3, 7, 11, 15, 19]], axis=-1
    )
    np.testing.assert_allclose(got["along px"], -np.median(lengths, axis=0), rtol=1e-12)
    np.testing.assert_allclose(got["closer to joint below"], 1.0)


def test_bench_pose_oracles_pof_slopes_against_a_loop():
    import bench_pose_oracles

    rng = np.random.default_rng(4)
    n, h = 3, 5
    target = rng.normal(size=(n, h, h, 60)) * (rng.uniform(size=(n, h, h, 60)) < 0.3)
    predicted = rng.normal(size=(n, h, h, 60))
    weight = (rng.uniform(size=(n, 60)) < 0.8).astype(np.float64)
    want = {"xy": [], "z": []}
    for k in range(4):
        sums = {"xy": [0.0, 0.0], "z": [0.0, 0.0]}
        for i in range(n):
            for f in range(5):
                c = 3 * (4 * f + k)  # bone k of finger f: channels c, c + 1, c + 2
                for y in range(h):
                    for x in range(h):
                        if not np.any(target[i, y, x, c : c + 3]):
                            continue  # not a pixel of this bone
                        for part, channels in (("xy", (c, c + 1)), ("z", (c + 2,))):
                            for ch in channels:
                                t = target[i, y, x, ch] * weight[i, ch]
                                sums[part][0] += predicted[i, y, x, ch] * weight[i, ch] * t
                                sums[part][1] += t * t
        for part in want:
            want[part].append(sums[part][0] / sums[part][1])
    got = bench_pose_oracles.pof_slopes(predicted, target, weight)
    for part in want:
        np.testing.assert_allclose(got[part], want[part], rtol=1e-12)
    # Half the target everywhere: 0.5; the target plus anything off its bones: 1.
    ones = np.ones((n, 60))
    np.testing.assert_allclose(bench_pose_oracles.pof_slopes(0.5 * target, target, ones)["z"], 0.5)
    off_bone = np.where(target == 0, predicted, target)
    got = bench_pose_oracles.pof_slopes(off_bone, target, ones)
    np.testing.assert_allclose(np.concatenate([got["xy"], got["z"]]), 1.0)


def test_bench_mask_ceiling():
    import bench_mask_ceiling

    yy, xx = np.mgrid[:32, :32] + 0.5
    disks = np.stack(
        [((xx - cx) ** 2 + (yy - cy) ** 2 < r**2) for cx, cy, r in ((16, 16, 10), (10, 20, 6))]
    ).astype(np.float32)
    assert bench_mask_ceiling.ceiling_iou(disks, 32) == pytest.approx(1.0)
    # A smooth shape loses more of its outline the coarser the map.
    soft = [bench_mask_ceiling.ceiling_iou(disks, s) for s in (4, 8, 16)]
    hard = [bench_mask_ceiling.ceiling_iou(disks, s, soft=False) for s in (4, 8, 16)]
    assert soft[0] < soft[1] < soft[2] < 1.0 and soft[2] > 0.9
    assert hard[0] < hard[2] < 1.0
    with pytest.raises(ValueError, match="multiple"):
        bench_mask_ceiling.ceiling_iou(disks, 5)


@pytest.mark.slow  # two tiny models traced and trained: about two minutes
def test_bench_train_times_a_row_with_and_without_the_task_metrics(tmp_path, capsys):
    from tests.hiu_tf.data.sources.stick_hand import stick_hand_model

    hand = str(tmp_path / "stick.npz")
    stick_hand_model().save_npz(hand)
    argv = ["--batch-size", "2", "--steps", "1", "--warmup", "1", "--rounds", "2"]
    argv += ["--jit", "off", "--mixed-precision", "none", "--metrics", "both"]
    assert bench_train.main([*argv, "--hand-model", hand, "--set", "model.input_size=32"]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith("float32 ")]
    assert [row[2] for row in rows] == ["off", "on"], out  # the metrics column
    ratio = next(line for line in out.splitlines() if line.startswith("metrics on / off"))
    assert float(ratio.split(": ")[1].split("x")[0]) > 0
