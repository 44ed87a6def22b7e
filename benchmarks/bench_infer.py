"""Inference latency: Keras, SavedModel and TFLite (fp32/fp16/dynamic/int8), 1 and 2 threads.

    python benchmarks/bench_infer.py                 # paper-4stack, mobile, mobile-2stack,
                                                     # MobileNetV2
    python benchmarks/bench_infer.py --quick         # mobile, mobile-2stack, MobileNetV2,
                                                     # 5 runs each
    python benchmarks/bench_infer.py --models mobile --runs 100
    python benchmarks/bench_infer.py --models mobile mobile:model.stem_kernel=7
    python benchmarks/bench_infer.py --quants int8 --no-tf --rounds 3 \
        --models mobilenetv2 mobile mobile:model.decoder_full_res=true   # a quick sweep

A model is `mobilenetv2` or a preset, optionally with config overrides after a
colon (`PRESET:section.field=value,section.field=value`), so that variants are
timed side by side in one run.

For each model (random weights, batch 1) it prints the median latency in
milliseconds of `--runs` calls after `--warmup` calls:

* Keras: `export.graph.forward` (the exported function, renderer excluded) in a
  `tf.function`, i.e. the Keras layers run by TensorFlow;
* SavedModel: the exported `serving_default` signature, loaded with
  `tf.saved_model.load`;
* TFLite: `ai_edge_litert.interpreter.Interpreter` with 1 and 2 threads, for
  fp32, fp16, dynamic-range int8 and int8 (ours: int8 trunk, float tail;
  MobileNetV2: the whole graph; calibrated on a few random images: latency
  does not depend on calibration).

With MobileNetV2 in the run, each time also comes as a ratio to MobileNetV2's
(same backend and thread count), and a last line per model of its input size
(224 x 224) says on which thread counts the goal of issue 7 is met: int8 no
slower than MobileNetV2 int8.

`--quants` and `--no-tf` narrow a run to some TFLite files (a sweep of
variants); `--rounds N` times the TFLite files in N rounds that go through
every model in turn, keeping each file's fastest median, so that machine noise
hits the variants alike.

`--reference PATH...` times other `.tflite` files (for example MediaPipe's
`hand_landmark_full.tflite` and `hand_landmark_lite.tflite`, from a path you
give: nothing is downloaded) in the same interleaved rounds as our TFLite files,
on 1 and 2 threads, and prints a second table: every reference and every one of
our files with its latency, its ratio to the first reference's, and its GFLOPs
and weights as `export.tflite.graph_cost` reads them off the file (convolutions
and dense layers only, counted the same way for every file).

`--segments` also times, for our models' fp32 and int8 files on one thread,
the graph cut down to the ops that the stem's output needs, to the ops that
the trunk's outputs need (the tensors that cross into the float tail), the
whole graph, and the trunk with each part of the tail (keypoint decoding, mask
upsampling, regressor head + MANO + projection): where the time goes, without
LiteRT's op profiler.

`--scopes` goes further for our models' int8 files (1 thread): the time of each
part of the network (`scope_of`: stem, each stack's encoder, task decoders
and TAM, the tail's heat-map decoding, regressor head, MANO, and the rest),
from the graph cut after every run of consecutive ops of one part (each cut
keeps the ops up to it, in the file's order); a part's time is the sum of the
differences over its runs. Each cut is timed in `SCOPE_ROUNDS` rounds that
go through all cuts in turn, keeping the fastest median, so that machine
noise hits them alike; parts smaller than the run-to-run noise can come out
negative. Slow for `paper-4stack` (hundreds of cuts of a large graph): use it
with `--models mobile`.

TensorFlow's thread pools are fixed when it starts, so the Keras and SavedModel
timings run in one child process per thread count (intra- and inter-op
threads = N). The phone-class reference is `keras.applications.MobileNetV2`
(alpha 1.0, 224 x 224, weights=None), converted and timed the same way.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from _common import best_of_rounds, median_ms  # noqa: E402

REFERENCE = "mobilenetv2"  # the phone-class reference
MODELS = ("paper-4stack", "mobile", "mobile-2stack", REFERENCE)
QUANTS = ("none", "fp16", "dynamic", "int8")
THREADS = (1, 2)


def _hand_model(folder: str) -> str:
    try:
        from mano_tf.open_hand import default_hand_model

        default_hand_model("right")
        return "open:right"
    except Exception:  # the open model is not available: a random model in MANO's layout
        from tests.mano_fixtures import random_mano_dict, write_mano_pickle

        path = os.path.join(folder, "MANO_RIGHT.pkl")
        write_mano_pickle(path, random_mano_dict(0))
        return path


def _preset_config(spec: str):
    """The `ExperimentConfig` of `PRESET[:section.field=value,...]`."""
    from hiu_tf import presets
    from hiu_tf.config import apply_overrides

    name, _, overrides = spec.partition(":")
    return apply_overrides(presets.preset(name), [o for o in overrides.split(",") if o])


def _model_spec(text: str) -> str:
    """Checks `mobilenetv2` or `PRESET[:section.field=value,...]` (argparse type)."""
    from hiu_tf.config import ConfigError

    if text == REFERENCE:
        return text
    try:
        _preset_config(text)
    except (ConfigError, KeyError, ValueError) as e:
        raise argparse.ArgumentTypeError(f"{text!r}: {e}") from e
    return text


def _slug(name: str) -> str:
    """A file-name-safe form of a model spec."""
    return re.sub(r"[^A-Za-z0-9_.-]", "_", name)


def _build(name: str, folder: str):
    """(keras model or HIUModel, input size, config or None)."""
    import dataclasses

    import keras

    keras.utils.set_random_seed(0)
    if name == REFERENCE:
        model = keras.applications.MobileNetV2(alpha=1.0, input_shape=(224, 224, 3), weights=None)
        return model, 224, None
    from hiu_tf.model import build_model

    cfg = _preset_config(name)
    cfg = dataclasses.replace(
        cfg,
        model=dataclasses.replace(cfg.model, hand_model=_hand_model(folder), render_mask=False),
    )
    return build_model(cfg.model), cfg.model.input_size, cfg


def _fn(model, config):
    from export import graph

    if config is None:
        return lambda images: {"output": model(images / 127.5 - 1.0, training=False)}
    return lambda images: graph.forward(model, images)


def _export(name: str, folder: str, quick: bool, quants=QUANTS) -> dict:
    """Writes the SavedModel and the TFLite files of one model; returns their paths."""
    import keras
    import tensorflow as tf

    from export import tflite

    model, size, config = _build(name, folder)
    fn = _fn(model, config)
    paths = {"saved_model": os.path.join(folder, f"{_slug(name)}_sm"), "size": size}
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        "serving_default",
        fn,
        input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, "images")],
    )
    archive.write_out(paths["saved_model"], verbose=False)
    rng = np.random.default_rng(0)
    rep = (rng.random((4 if quick else 8, size, size, 3)) * 255).astype(np.float32)

    def representative():
        for image in rep:
            yield {"images": image[None]}

    for quant in quants:
        print(f"  converting {name} {quant}", file=sys.stderr, flush=True)
        # Ours: int8 trunk, float tail. MobileNetV2 has no tail: the whole graph is int8.
        content = tflite.convert_saved_model(
            paths["saved_model"], quant, representative, float_tail=config is not None
        )
        path = os.path.join(folder, f"{_slug(name)}_{quant}.tflite")
        with open(path, "wb") as f:
            f.write(content)
        paths[quant] = path
    return paths


def _tflite_latency(path: str, size: int, threads: int, runs: int, warmup: int) -> float:
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    runner = interpreter.get_signature_runner("serving_default")
    image = (np.random.default_rng(1).random((1, size, size, 3)) * 255).astype(np.float32)
    return median_ms(lambda: runner(images=image), runs, warmup)


def _fill_inputs(interpreter, float_high: float = 1.0) -> None:
    """Sets every input of an allocated LiteRT interpreter to random values of its own
    shape and dtype (seed 1): floats uniform in [0, float_high), integers over their range."""
    rng = np.random.default_rng(1)
    for detail in interpreter.get_input_details():
        dtype = np.dtype(detail["dtype"])
        if dtype.kind == "f":
            value = (rng.random(detail["shape"]) * float_high).astype(dtype)
        else:
            info = np.iinfo(dtype)
            value = rng.integers(info.min, info.max, detail["shape"], endpoint=True, dtype=dtype)
        interpreter.set_tensor(detail["index"], value)


def _file_latency(path: str, threads: int, runs: int, warmup: int) -> float:
    """Median ms of `invoke` on any `.tflite` file, its inputs filled with random values."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=path, num_threads=threads)
    interpreter.allocate_tensors()
    _fill_inputs(interpreter)
    return median_ms(interpreter.invoke, runs, warmup)


def _reference_path(text: str) -> str:
    """Checks a `--reference` file (argparse type)."""
    if not text.endswith(".tflite"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a .tflite file")
    if not os.path.isfile(text):
        raise argparse.ArgumentTypeError(f"{text!r}: no such file")
    return text


def reference_table(results: dict, costs: dict, names: list[str]) -> list[str]:
    """Lines of the table against the reference files: `results["NAME/file/THREADS"]` ms,
    `costs[NAME]` (`export.tflite.graph_cost`), ratios to `names[0]`, the first reference."""
    width = max(14, *(len(name) for name in names))
    header = (
        f"{'file':<{width}}"
        + "".join(f"{f'{t} thr ms':>10}{'ratio':>7}" for t in THREADS)
        + f"{'GFLOPs':>9}{'M weights':>11}"
    )
    lines = [header, "-" * len(header)]
    for name in names:
        row = f"{name:<{width}}"
        for t in THREADS:
            ms = results[f"{name}/file/{t}"]
            row += f"{ms:>10.2f}{ms / results[f'{names[0]}/file/{t}']:>7.2f}"
        cost = costs[name]
        lines.append(row + f"{cost['flops'] / 1e9:>9.3f}{cost['params'] / 1e6:>11.3f}")
    lines.append(f"(ratio: the file's time over {names[0]}'s, same thread count)")
    return lines


def _pruned(content: bytes, outputs: list[int]) -> bytes:
    """The flatbuffer with only the ops that tensors `outputs` need (no signature)."""
    from ai_edge_litert.tools import flatbuffer_utils

    # `read_model_from_bytearray`, not `convert_bytearray_to_object`: int8 files keep large
    # weights after the flatbuffer (buffers given by offset and size), which only the former
    # reads into the model, so that they are written back.
    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    sg = model.subgraphs[0]
    need, keep = set(outputs), []
    for op in reversed(sg.operators):
        if any(t in need for t in op.outputs):
            keep.append(op)
            need.update(t for t in op.inputs if t >= 0)
    sg.operators, sg.outputs, model.signatureDefs = keep[::-1], list(outputs), []
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model))


# Parts of the float tail (outputs of `export.graph`); () = every other output (the mesh).
TAIL_PARTS = {
    "+keypoints": ("keypoints_px", "keypoints_score"),
    "+mask": ("mask",),
    "+mesh": (),
}
TAIL_KEYS = {k for keys in TAIL_PARTS.values() for k in keys}


def _segment_outputs(content: bytes) -> dict[str, list[int]]:
    """Tensor indices: the stem's output, the trunk's outputs, the graph's outputs, and
    the trunk's outputs plus those of each of `TAIL_PARTS` (the part's own cost)."""
    from ai_edge_litert.tools import flatbuffer_utils

    from export import graph, tflite

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    sg = model.subgraphs[0]

    def name(t):
        return sg.tensors[t].name.decode()

    def in_trunk(op):  # the trunk's ops, and the QUANTIZE of the input image (int8)
        if tflite.op_name(model, op) == "QUANTIZE" and op.inputs[0] in sg.inputs:
            return True
        return name(op.outputs[0]).startswith(graph.TRUNK_SCOPE + "/")

    stem = [op.outputs[0] for op in sg.operators if "/stem" in name(op.outputs[0])]
    produced = {t for op in sg.operators if in_trunk(op) for t in op.outputs}
    crossing = {t for op in sg.operators if not in_trunk(op) for t in op.inputs if t in produced}
    trunk = sorted(crossing | (produced & set(sg.outputs)))
    segments = {"stem": stem[-1:], "trunk": trunk, "whole": list(sg.outputs)}
    # The trunk plus one part of the float tail: its cost is the difference.
    named = {t.name.decode(): t.tensorIndex for t in model.signatureDefs[0].outputs}
    for part, keys in TAIL_PARTS.items():
        outputs = [named[k] for k in named if k in keys or (keys == () and k not in TAIL_KEYS)]
        if outputs:
            segments[part] = sorted(set(trunk) | set(outputs))
    return segments


def _cut_interpreter(content: bytes, outputs: list[int]):
    """A 1-thread LiteRT interpreter of `_pruned(content, outputs)`, its input set to a
    random 0-255 image, ready to `invoke`."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=_pruned(content, outputs), num_threads=1)
    interpreter.allocate_tensors()
    _fill_inputs(interpreter, float_high=255.0)
    return interpreter


def _segment_latency(path: str, runs: int, warmup: int) -> dict[str, float]:
    """1-thread latency (ms) of each of `_segment_outputs`' cut-down graphs of a `.tflite` file."""
    with open(path, "rb") as f:
        content = f.read()
    out = {}
    for segment, outputs in _segment_outputs(content).items():
        out[segment] = median_ms(_cut_interpreter(content, outputs).invoke, runs, warmup)
    return out


SCOPE_ROUNDS = 3


def scope_of(name: str) -> str:
    """The part of the network that a tensor of our exported graph belongs to.

    `trunk/stem...` -> "stem"; `trunk/stack2_1/pof_decoder_1/...` -> "stack2/pof_decoder";
    `trunk/regressor_head/conv0_1/...` -> "regressor_head" (its int8 convolutions);
    `float_tail/mano_1/...` -> "tail/mano"; other float-tail ops (rotations,
    projection) -> "tail/other"; anything else (QUANTIZE and DEQUANTIZE at the
    borders, the outputs' last ops) -> "io".
    """
    parts = [re.sub(r"_\d+$", "", p) for p in name.split(";")[0].split("/")]
    if parts[0] == "trunk":
        if parts[1].startswith("stack") and len(parts) > 2:
            return "/".join(parts[1:3])
        return parts[1] if len(parts) > 2 else "trunk/other"
    if parts[0] == "float_tail":
        return f"tail/{parts[1]}" if len(parts) > 2 else "tail/other"
    return "io"


def _scope_latency(path: str, runs: int, warmup: int) -> dict[str, float]:
    """1-thread ms per `scope_of` part of a `.tflite` file, from prefix cuts (see the
    module docstring), in the order the parts first appear."""
    from ai_edge_litert.tools import flatbuffer_utils

    with open(path, "rb") as f:
        content = f.read()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    sg = model.subgraphs[0]
    ops = sg.operators
    scopes = [scope_of(sg.tensors[op.outputs[0]].name.decode()) for op in ops]
    cuts = [i for i in range(1, len(ops)) if scopes[i] != scopes[i - 1]] + [len(ops)]
    interpreters = []
    for cut in cuts:  # each cut's outputs: what its ops produce and do not use themselves
        produced = {t for op in ops[:cut] for t in op.outputs}
        used = {t for op in ops[:cut] for t in op.inputs}
        interpreters.append(_cut_interpreter(content, sorted(produced - used)))
    measures = {
        i: lambda call=interpreter.invoke: median_ms(call, runs, warmup)
        for i, interpreter in enumerate(interpreters)
    }
    best = best_of_rounds(measures, SCOPE_ROUNDS)
    times = [best[i] for i in range(len(cuts))]
    out: dict[str, float] = {}
    start, before = 0, 0.0
    for cut, t in zip(cuts, times, strict=True):
        out[scopes[start]] = out.get(scopes[start], 0.0) + t - before
        start, before = cut, t
    out["whole"] = times[-1]
    return out


def _tf_worker(args) -> None:
    """Child process: Keras and SavedModel latencies with N TensorFlow threads (JSON out)."""
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    out = {}
    for name in args.models:
        folder = args.folder
        model, size, config = _build(name, folder)
        image = tf.constant(
            (np.random.default_rng(1).random((1, size, size, 3)) * 255).astype(np.float32)
        )
        keras_fn = tf.function(_fn(model, config))
        out[f"{name}/keras"] = median_ms(lambda fn=keras_fn, x=image: fn(x), args.runs, args.warmup)
        signature = tf.saved_model.load(os.path.join(folder, f"{_slug(name)}_sm")).signatures[
            "serving_default"
        ]
        out[f"{name}/saved_model"] = median_ms(
            lambda fn=signature, x=image: fn(images=x), args.runs, args.warmup
        )
    print(json.dumps(out))


def latency_table(
    results: dict, sizes: dict, models, backends, inputs: dict | None = None
) -> list[str]:
    """The latency table's lines: `results["MODEL/BACKEND/THREADS"]` ms, `sizes[MODEL][QUANT]`
    MB, and with `REFERENCE` among `models` the ratios to it and the goal's verdict for
    the models whose input side (`inputs[MODEL]`, pixels) is the reference's."""
    width = max(14, *(len(name) for name in models))
    lines: list[str] = []
    ref = REFERENCE if REFERENCE in models else None
    header = (
        f"{'model':<{width}} {'backend':<16}"
        + "".join(f"{f'{t} thr ms':>10}" + (f"{'ratio':>7}" if ref else "") for t in THREADS)
        + f"{'MB':>8}"
    )
    lines.append(header)
    lines.append("-" * len(header))
    for name in models:
        for key, label in backends:
            row = f"{name:<{width}} {label:<16}"
            for t in THREADS:
                ms = results[f"{name}/{key}/{t}"]
                row += f"{ms:>10.2f}"
                if ref:
                    row += f"{ms / results[f'{ref}/{key}/{t}']:>7.2f}"
            if key.startswith("tflite-"):
                row += f"{sizes[name][key[7:]]:>8.2f}"
            lines.append(row)
    if ref:
        lines.append(f"(ratio: the model's time over {ref}'s, same backend and threads)")
        if any(key == "tflite-int8" for key, _ in backends):
            inputs = inputs or {}
            for name in models:
                if name != ref and inputs.get(name) == inputs.get(ref):
                    ratios = [results[f"{name}/tflite-int8/{t}"] / results[f"{ref}/tflite-int8/{t}"]
                              for t in THREADS]  # fmt: skip
                    met = " and ".join(
                        str(t) for t, r in zip(THREADS, ratios, strict=True) if r <= 1
                    )
                    lines.append(
                        f"goal, int8 no slower than {ref} int8: {name} "
                        + (f"met on {met} thread(s)" if met else "not met")
                    )
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--models",
        nargs="+",
        type=_model_spec,
        metavar="MODEL",
        help=f"{', '.join(MODELS)} or PRESET:section.field=value,... "
        "(default: all; quick: mobile, mobile-2stack, mobilenetv2)",
    )
    parser.add_argument(
        "--runs", type=int, help="timed calls per measurement (default 50; quick 5)"
    )
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="few runs, small models only")
    parser.add_argument(
        "--segments",
        action="store_true",
        help="also time the stem, the trunk and the whole graph of our fp32 and int8 files",
    )
    parser.add_argument(
        "--scopes",
        action="store_true",
        help="also time each part of our int8 files (stem, encoders, decoders, tail parts)",
    )
    parser.add_argument(
        "--quants",
        nargs="+",
        choices=QUANTS,
        default=list(QUANTS),
        help="TFLite files to make and time (default: all; --segments adds none and int8)",
    )
    parser.add_argument(
        "--no-tf", action="store_true", help="skip the Keras and SavedModel timings"
    )
    parser.add_argument(
        "--rounds", type=int, default=1, help="interleaved rounds of the TFLite timings"
    )
    parser.add_argument(
        "--reference",
        nargs="+",
        type=_reference_path,
        default=[],
        metavar="PATH",
        help="other .tflite files timed beside ours (ratios to the first one)",
    )
    parser.add_argument("--folder", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--tf-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    args.models = args.models or (
        ["mobile", "mobile-2stack", REFERENCE] if args.quick else list(MODELS)
    )
    args.runs = args.runs or (5 if args.quick else 50)
    if args.rounds < 1:
        parser.error("--rounds must be >= 1")
    needed = {"none", "int8"} if args.segments else {"int8"} if args.scopes else set()
    quants = [q for q in QUANTS if q in args.quants or q in needed]
    if args.tf_worker:
        _tf_worker(args)
        return 0
    from export.tflite import graph_cost

    with tempfile.TemporaryDirectory(prefix="bench_infer_") as folder:
        sizes = {}
        results: dict[str, float] = {}
        segments: dict[str, dict[str, float]] = {}
        scopes: dict[str, dict[str, float]] = {}
        all_paths: dict[str, dict] = {}
        for name in args.models:
            print(f"exporting {name}", file=sys.stderr, flush=True)
            paths = _export(name, folder, args.quick, quants)
            all_paths[name] = paths
            sizes[name] = {q: os.path.getsize(paths[q]) / 2**20 for q in quants}
            if args.segments and name != REFERENCE:
                for quant in ("none", "int8"):
                    segments[f"{name}/{quant}"] = _segment_latency(
                        paths[quant], args.runs, args.warmup
                    )
            if args.scopes and name != REFERENCE:
                print(f"  timing the parts of {name} int8", file=sys.stderr, flush=True)
                scopes[name] = _scope_latency(paths["int8"], args.runs, args.warmup)
        measures = {
            f"{name}/tflite-{quant}/{threads}": lambda p=paths, q=quant, t=threads: _tflite_latency(
                p[q], p["size"], t, args.runs, args.warmup
            )
            for name, paths in all_paths.items()
            for quant in quants
            for threads in THREADS
        }
        # The reference files, then our TFLite files, all timed by `_file_latency` in the
        # same rounds as the rest, so that the ratios compare like with like.
        references = {}
        for path in args.reference:
            stem = os.path.splitext(os.path.basename(path))[0]
            references[stem if stem not in references else path] = path
        if references:
            for name, paths in all_paths.items():
                for quant in quants:
                    references[f"{name} {quant}"] = paths[quant]
        measures.update(
            {
                f"{name}/file/{threads}": lambda p=path, t=threads: _file_latency(
                    p, t, args.runs, args.warmup
                )
                for name, path in references.items()
                for threads in THREADS
            }
        )
        results.update(best_of_rounds(measures, args.rounds))
        costs = {}
        for name, path in references.items():
            with open(path, "rb") as f:
                costs[name] = graph_cost(f.read())
        for threads in () if args.no_tf else THREADS:
            print(
                f"timing Keras and SavedModel with {threads} thread(s)", file=sys.stderr, flush=True
            )
            cmd = [sys.executable, os.path.abspath(__file__), "--tf-worker", "--folder", folder,
                   "--threads", str(threads), "--runs", str(args.runs), "--warmup", str(args.warmup),
                   "--models", *args.models]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=True)
            for key, value in json.loads(done.stdout.strip().splitlines()[-1]).items():
                results[f"{key}/{threads}"] = value
    rounds = f"; TFLite: best of {args.rounds} rounds" if args.rounds > 1 else ""
    print(
        f"\nMedian latency, ms, batch 1 ({args.runs} runs after {args.warmup} warm-up{rounds}; CPU)"
    )
    backends = [] if args.no_tf else [("keras", "Keras"), ("saved_model", "SavedModel")]
    backends += [(f"tflite-{q}", f"TFLite {q}") for q in quants]
    width = max(14, *(len(name) for name in args.models))
    inputs = {name: paths["size"] for name, paths in all_paths.items()}
    print("\n".join(latency_table(results, sizes, args.models, backends, inputs)))
    if segments:
        print("\nTFLite segments, 1 thread, median ms (graph cut down to what each output needs)")
        print("(tail = whole - trunk; +part = the trunk with that part of the tail - the trunk)")
        header = (
            f"{'model':<{width}} {'quant':<6}{'stem':>8}{'trunk':>8}{'whole':>8}{'tail':>8}"
            + "".join(f"{part:>12}" for part in TAIL_PARTS)
        )
        print(header)
        print("-" * len(header))
        for key, t in segments.items():
            name, quant = key.rsplit("/", 1)
            parts = "".join(
                f"{t[part] - t['trunk']:>12.2f}" if part in t else f"{'-':>12}"
                for part in TAIL_PARTS
            )
            print(
                f"{name:<{width}} {quant:<6}{t['stem']:>8.2f}{t['trunk']:>8.2f}"
                f"{t['whole']:>8.2f}{t['whole'] - t['trunk']:>8.2f}{parts}"
            )
    if references:
        print(f"\nAgainst the reference files, median ms, batch 1 ({args.runs} runs{rounds})")
        print("\n".join(reference_table(results, costs, list(references))))
    for name, t in scopes.items():
        print(f"\nTFLite int8 parts of {name}, 1 thread, ms (from cuts; best of {SCOPE_ROUNDS})")
        for scope, ms in t.items():
            if scope != "whole":
                print(f"  {scope:<28}{ms:>8.3f}")
        print(f"  {'whole':<28}{t['whole']:>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
