"""TFLite export (fp32, fp16, dynamic-range int8, int8 with a float tail), run with LiteRT.

`export_tflite(config, model, out, quant)` writes `out` (the `.tflite` flatbuffer)
and `out + ".json"` (the export info: input size, output keys, quantisation, the
run's config and, with the mesh, the hand model's faces for overlays).

Every variant has one signature, `serving_default`, with the input `images`
`[1, S, S, 3]` float32 RGB in [0, 255] and the float32 outputs of
`export.graph` (batch of one: LiteRT needs static shapes here), and uses
builtin ops only (no Flex / SELECT_TF_OPS, which LiteRT cannot run here). It is
converted from a SavedModel (`TFLiteConverter.from_saved_model`), never from a
concrete function holding a Keras model (that leaves variable reads in the
graph and gives NaNs).

Quantisation (`quant`):

* `none`: float32.
* `fp16`: float16 weights, float32 compute (weights dequantised at load).
* `dynamic`: int8 weights, activations quantised on the fly where kernels allow.
* `int8`: full-integer trunk, float tail. The convolutional trunk (stem and MTL
  blocks, nearly all FLOPs) is quantised to int8 with activation ranges
  calibrated on a representative dataset; everything after it (the regressor
  head's FC layers, keypoint decoding, heat-map peaks, mask upsampling, MANO
  and the projection) stays float32 in the same graph, with QUANTIZE /
  DEQUANTIZE ops at the boundary; so do the heat-map output conv and the
  stem's first conv (`INT8_SCOPE`). This is selective quantisation with
  `ai_edge_quantizer` (`quantize_int8`): the converter writes the float32
  model, and a quantizer recipe scoped to `INT8_SCOPE` quantises it. Quantising
  the whole graph instead fails: LiteRT stops in an int8 DIV of the
  projection ("data[i] != zero_point"), and int8 is too coarse for the
  soft-argmax and projection (docs/export.md, "int8: what was decided and
  measured"; docs/results.md).

Representative data (`representative_images`): `--data` TFRecords (any source
written by `python -m hiu_tf data`) or image files (`export.calibration`: read
strictly, unreadable ones skipped and counted), `--data config` (the run's data
config), or, by default, synthetic hands made in memory by
`hiu_tf.data.sources.synthetic.SyntheticGenerator` with the run's hand model.
"""

from __future__ import annotations

import collections
import contextlib
import functools
import io
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from export import graph
from export.graph import ExportError
from hiu_tf import config as config_lib

logger = logging.getLogger(__name__)

QUANTIZATIONS = config_lib.QUANTIZATIONS  # ("none", "fp16", "dynamic", "int8")
INPUT_NAME = "images"
SIGNATURE = "serving_default"
# What an int8 export quantises (`INT8_SCOPE`): every op under the `trunk` name scope of
# `export.graph` except two convolutions, which stay float32 with everything outside the trunk
# (the float tail and the ops producing the outputs):
# * the heat-map output conv, whose maps the keypoints are read from: TFLite's own converter
#   quantiser gave it the range [0, max] (its negative values clipped, whatever the calibration
#   saw), so a map whose peak is <= 0 turned flat, its arg max jumped to the corner and its
#   keypoints_score was off (docs/export.md, "The int8 goal"). One small
#   conv, so it stays float with ai-edge-quantizer too.
# * the stem's first conv, on the float image: with 3 input channels XNNPACK's int8 kernel
#   gains nothing there, and quantising the image costs as much as quantising the conv's
#   output (docs/export.md, "Latency", item 7).
_HEATMAP_OUTPUT = re.compile(r"/heatmap_decoder(_\d+)?/predict(_\d+)?/")
_STEM_FIRST_CONV = re.compile(r"stem(_\d+)?/conv1(_\d+)?/")
# An ai-edge-quantizer recipe scope: matched with `re.search` against an op's scope, its output
# tensor names joined by ";" (fused ops have several, e.g. "trunk/.../Relu;trunk/.../convolution").
INT8_SCOPE = rf"^{graph.TRUNK_SCOPE}/(?!{_STEM_FIRST_CONV.pattern})(?!.*{_HEATMAP_OUTPUT.pattern})"


def _check_quant(quant: str) -> str:
    if quant not in QUANTIZATIONS:
        raise ExportError(f"quant must be one of {QUANTIZATIONS}. Received: quant={quant!r}")
    return quant


# --------------------------------------------------------------------------- data


def representative_images(
    config,
    count: int,
    data: str | None = None,
    seed: int = 0,
) -> np.ndarray:
    """Images for int8 calibration: `[count, S, S, 3]` float32 in [0, 255].

    Args:
        config: the run's `ExperimentConfig` (input size, hand model, data sources).
        count: number of images.
        data: None (synthetic hands made in memory), "config" (the run's
            `data.eval_sources`, else `data.sources`), or a TFRecord or image
            folder, glob or file (`export.calibration.load_images`).
        seed: seed of the synthetic generator.

    Raises:
        ExportError: the data cannot be read or holds fewer than `count` images
            (fewer are used, with a warning, if at least one was read).
            Unreadable images are skipped, counted and reported in a warning.
    """
    size = config.model.input_size
    if count < 1:
        raise ExportError(f"count must be >= 1. Received: count={count}")
    if data is None:
        from hiu_tf.data.sources.synthetic import SynthConfig, SyntheticGenerator

        generator = SyntheticGenerator(
            SynthConfig(image_size=size, chunk_size=min(count, 32)), config.model.hand_model
        )
        images = [s["image"] for _, s in generator(seed, count)]
        return np.stack(images).astype(np.float32) * 255.0
    from export import calibration

    if data == "config":
        from hiu_tf.data import pipeline

        sources = config.data.eval_sources or config.data.sources
        paths = [s.path for s in pipeline.sources_from_config(sources)]
    else:
        paths = [data]
    images, stats = calibration.load_images(paths, size, count)
    if stats["skipped_corrupt"] or stats["damaged_shards"]:
        logger.warning(
            "representative data: skipped %d unreadable image(s) and %d damaged shard tail(s)",
            stats["skipped_corrupt"],
            stats["damaged_shards"],
        )
    if len(images) < count:
        logger.warning("representative data: %d images (asked for %d)", len(images), count)
    return images


# --------------------------------------------------------------------------- conversion


def _write_saved_model(model, path: str, mesh: bool) -> None:
    import keras

    size = model.model_config.input_size
    archive = keras.export.ExportArchive()
    archive.add_endpoint(
        SIGNATURE,
        lambda images: graph.forward(model, images, mesh=mesh),
        input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32, INPUT_NAME)],
    )
    archive.write_out(path, verbose=False)  # traces: keep the shims on


def _merge_ranges(ranges: dict[str, dict], sample: dict[str, dict]) -> None:
    """Widens `ranges` (tensor name -> {"min", "max"}) to include those of `sample`."""
    for name, qsv in sample.items():
        if name in ranges:
            ranges[name] = {
                "min": np.minimum(ranges[name]["min"], qsv["min"]),
                "max": np.maximum(ranges[name]["max"], qsv["max"]),
            }
        else:
            ranges[name] = {"min": qsv["min"], "max": qsv["max"]}


def calibrate(quantizer, representative: Callable[[], Iterator[dict[str, np.ndarray]]]) -> dict:
    """Each activation's range over the representative data, for `quantizer.quantize`.

    The range is the smallest minimum and the largest maximum over all samples, as
    TFLite's converter calibrates. `Quantizer.calibrate` on many samples at once keeps
    a moving average of the per-sample ranges instead (smoothing 0.95), which clips
    values that only some images reach; so each sample is calibrated alone and the
    results (the documented `{tensor name: {"min", "max"}}`) are merged here.

    Args:
        quantizer: an `ai_edge_quantizer.quantizer.Quantizer` with its recipe loaded.
        representative: a callable returning an iterator of `{input name: array}` dicts.

    Raises:
        ExportError: the representative data yields nothing.
    """
    ranges: dict[str, dict] = {}
    threads = min(os.cpu_count() or 1, 4)
    for sample in representative():
        # The quantizer draws a progress bar on stderr per call: not ours to show.
        with contextlib.redirect_stderr(io.StringIO()):
            _merge_ranges(ranges, quantizer.calibrate({SIGNATURE: [sample]}, num_threads=threads))
    if not ranges:
        raise ExportError("the representative data holds no samples")
    return ranges


def quantize_int8(
    content: bytes,
    representative: Callable[[], Iterator[dict[str, np.ndarray]]],
    int16_scopes: Sequence[str] = (),
) -> bytes:
    """Quantises a float32 TFLite model's `INT8_SCOPE` with `ai_edge_quantizer`.

    Static range quantisation: int8 weights (per channel) and int8 activations with
    ranges from `calibrate`; ops outside `INT8_SCOPE` stay float32, with QUANTIZE /
    DEQUANTIZE ops where int8 and float tensors meet. Ops matching one of
    `int16_scopes` (recipe regexes, later ones win) get int16 activations instead
    (int8 weights, "a16w8"): finer steps where int8 is too coarse, at the cost of
    kernels that XNNPACK does not run.

    Args:
        content: the float32 flatbuffer (one `serving_default` signature).
        representative: a callable returning an iterator of `{input name: array}` dicts.
        int16_scopes: regexes of ops with int16 activations.

    Returns:
        The quantised flatbuffer.
    """
    from ai_edge_quantizer import qtyping, quantizer

    every_op = qtyping.TFLOperationName.ALL_SUPPORTED
    q = quantizer.Quantizer(content)
    q.add_static_config(INT8_SCOPE, every_op, activation_num_bits=8, weight_num_bits=8)
    for scope in int16_scopes:
        q.add_static_config(scope, every_op, activation_num_bits=16, weight_num_bits=8)
    ranges = calibrate(q, representative)
    with contextlib.redirect_stderr(io.StringIO()):  # a progress bar, as in `calibrate`
        result = q.quantize(ranges, enable_progress_bar=False, enable_progress_report=False)
    return bytes(result.quantized_model)


def convert_saved_model(
    saved_model_dir: str,
    quant: str = "none",
    representative: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None,
    float_tail: bool = True,
    int16_scopes: Sequence[str] = (),
) -> bytes:
    """Converts a SavedModel (one `serving_default` signature) to a TFLite flatbuffer.

    Args:
        saved_model_dir: the SavedModel.
        quant: one of `QUANTIZATIONS`.
        representative: for "int8", a callable returning an iterator of
            `{input name: array}` dicts (the calibration data).
        float_tail: for "int8", quantise only `INT8_SCOPE` and keep the rest float32
            (selective quantisation, `quantize_int8`); False quantises the whole graph
            with the converter (`representative_dataset`, int8 builtins).
        int16_scopes: for "int8" with the float tail, regexes of ops with int16
            activations (`quantize_int8`).

    Returns:
        The flatbuffer.

    Raises:
        ExportError: "int8" without representative data, or an op that is not a builtin.
    """
    quant = _check_quant(quant)
    if quant == "int8" and representative is None:
        raise ExportError("quant='int8' needs representative data")
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quant == "int8" and not float_tail:
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
    content = converter.convert()
    if quant == "int8" and float_tail:  # the float32 model, quantised by the recipe
        content = quantize_int8(content, representative, int16_scopes)
    check_builtin_ops(content)
    return content


@functools.cache
def _builtin_names() -> dict[int, str]:
    from ai_edge_litert import schema_py_generated as schema

    return {v: k for k, v in vars(schema.BuiltinOperator).items() if not k.startswith("_")}


def op_name(model, op) -> str:
    """The builtin name of a flatbuffer operator (object API)."""
    code = model.operatorCodes[op.opcodeIndex]
    number = max(code.builtinCode, code.deprecatedBuiltinCode)
    return _builtin_names().get(number, str(number))


def op_counts(content: bytes) -> collections.Counter:
    """`(op name, output dtype name) -> count` of a flatbuffer's ops."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_content=content)
    tensors = interpreter.get_tensor_details()
    counts: collections.Counter = collections.Counter()
    for op in interpreter._get_ops_details():
        dtype = tensors[op["outputs"][0]]["dtype"].__name__ if op["outputs"] else "none"
        counts[(op["op_name"], dtype)] += 1
    return counts


# Ops whose multiply-adds `graph_cost` counts; each takes its weights as input 1.
_WEIGHTED_OPS = frozenset({"CONV_2D", "DEPTHWISE_CONV_2D", "TRANSPOSE_CONV", "FULLY_CONNECTED"})


def graph_cost(content: bytes) -> dict[str, int]:
    """FLOPs (multiply-add = 2) and weights of a flatbuffer's convolutions and dense layers.

    Read off the graph, so that any `.tflite` file (ours or another project's)
    is counted the same way: `CONV_2D`, `DEPTHWISE_CONV_2D`, `TRANSPOSE_CONV` and
    `FULLY_CONNECTED` (weights given as a constant, or dequantized from one), from the
    static tensor shapes;
    element-wise ops, pooling, resizing and the rest are not counted, as in the
    usual "GFLOPs of convolutions" of phone models. `params` counts the elements
    of those ops' constant weights and biases (each constant once), so in our files
    it includes the hand model's arrays that run as `FULLY_CONNECTED`.

    Returns:
        `{"flops": ..., "params": ...}`, for one image where the batch is dynamic (the
        file's shapes hold 1 there; its shape signatures hold -1).

    Raises:
        ExportError: a counted op with an unknown dimension in its shapes.
    """
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model_from_bytearray(bytearray(content))
    flops, weights = 0, set()

    def stored(tensor) -> bool:
        buffer = model.buffers[tensor.buffer]
        return (buffer.data is not None and len(buffer.data) > 0) or (buffer.offset or 0) > 1

    for index, sg in enumerate(model.subgraphs):
        # Weights stored in float16 or int8 reach their op through a DEQUANTIZE.
        dequantized = {
            op.outputs[0]
            for op in sg.operators
            if op_name(model, op) == "DEQUANTIZE" and stored(sg.tensors[op.inputs[0]])
        }

        def is_constant(i: int, sg=sg, dequantized=dequantized) -> bool:
            return i in dequantized or stored(sg.tensors[i])

        for op in sg.operators:
            name = op_name(model, op)
            if name not in _WEIGHTED_OPS:
                continue
            w = sg.tensors[op.inputs[1]]
            out = sg.tensors[op.outputs[0]]
            shapes = [out.shape, w.shape]
            if name == "TRANSPOSE_CONV":
                shapes.append(sg.tensors[op.inputs[2]].shape)
            if any(d < 0 for shape in shapes for d in shape):
                raise ExportError(f"{name} has an unknown dimension: {shapes}")
            if name == "FULLY_CONNECTED" and not is_constant(op.inputs[1]):
                continue  # a product of two activations: not a layer
            if name == "CONV_2D":  # weights [out, kh, kw, in / groups]
                flops += 2 * int(np.prod(out.shape)) * int(np.prod(w.shape[1:]))
            elif name == "DEPTHWISE_CONV_2D":  # weights [1, kh, kw, out]
                flops += 2 * int(np.prod(out.shape)) * int(w.shape[1] * w.shape[2])
            elif name == "TRANSPOSE_CONV":  # weights [out, kh, kw, in]; input [n, h, w, in]
                flops += 2 * int(np.prod(shapes[2])) * int(np.prod(w.shape[:3]))
            else:  # FULLY_CONNECTED: weights [units, in]
                flops += 2 * int(np.prod(out.shape)) * int(w.shape[-1])
            for i in op.inputs[1:]:
                if i >= 0 and is_constant(i):
                    weights.add((index, i))
    params = sum(int(np.prod(model.subgraphs[j].tensors[i].shape)) for j, i in weights)
    return {"flops": flops, "params": params}


def check_builtin_ops(content: bytes) -> None:
    """Raises `ExportError` if the flatbuffer holds Flex (TF) or custom ops."""
    bad = sorted(
        {name for name, _ in op_counts(content) if name.startswith("Flex") or name == "CUSTOM"}
    )
    if bad:
        raise ExportError(f"the TFLite model needs non-builtin ops: {', '.join(bad)}")


def export_tflite(
    config,
    model,
    out: str,
    quant: str = "none",
    *,
    mesh: bool = True,
    data: str | None = None,
    samples: int | None = None,
    float_tail: bool | None = None,
    representative: np.ndarray | None = None,
    overwrite: bool = True,
    int16_scopes: Sequence[str] = (),
) -> dict[str, Any]:
    """Converts a model to `out` (+ `out.json`, the export info); see the module docstring.

    Args:
        config: the run's `ExperimentConfig`.
        model: the `HIUModel`.
        out: the `.tflite` path.
        quant: "none", "fp16", "dynamic" or "int8" (or the config's spellings).
        mesh: include the hand model (vertices, joints_cam, keypoints_px_mesh).
        data: representative data for "int8" (see `representative_images`).
        samples: representative images; None = `config.export.representative_samples`.
        float_tail: None = `config.export.float_tail`.
        representative: `[N, S, S, 3]` 0-255 images to use instead of `data`.
        overwrite: replace an existing `out`.
        int16_scopes: for "int8", regexes of ops with int16 activations (`quantize_int8`).

    Returns:
        The export info (also written to `out + ".json"`).
    """
    quant = _check_quant(quant)
    graph.check_exportable(model, mesh)
    if os.path.exists(out) and not overwrite:
        raise ExportError(f"{out} exists; pass --force to replace it")
    float_tail = config.export.float_tail if float_tail is None else float_tail
    if quant == "int8" and not float_tail:
        logger.warning(
            "export.float_tail=false: quantising the keypoint decoding, MANO and the projection "
            "to int8 is known to fail or be far off (see docs/export.md)"
        )
    rep_fn = None
    if quant == "int8":
        if representative is None:
            count = samples or config.export.representative_samples
            representative = representative_images(config, count, data)
        images = np.asarray(representative, np.float32)

        def rep_fn():
            for image in images:
                yield {INPUT_NAME: image[None]}

    tmp = tempfile.mkdtemp(prefix="hiu_tflite_")
    try:
        _write_saved_model(model, os.path.join(tmp, "saved_model"), mesh)
        content = convert_saved_model(
            os.path.join(tmp, "saved_model"), quant, rep_fn, float_tail, int16_scopes
        )
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(content)
    info = export_info(config, model, quant, mesh, float_tail)
    info["bytes"] = len(content)
    if quant == "int8":
        info["representative"] = {"data": data or "synthetic", "images": int(len(images))}
        info["int16_scopes"] = list(int16_scopes)
    with open(out + ".json", "w", encoding="utf-8") as f:
        json.dump(info, f)
    logger.info("wrote %s (%s, %.1f MB)", out, quant, len(content) / 2**20)
    return info


def export_info(config, model, quant: str, mesh: bool, float_tail: bool = True) -> dict:
    """The sidecar JSON of a TFLite export (what `export.inference` reads)."""
    from hiu_tf.config import config_to_dict

    mesh = bool(mesh and model.model_config.mesh_head)
    return {
        "format": "hiu_tf tflite",
        "name": config.name,
        "input_size": model.model_config.input_size,
        "quantization": quant,
        "float_tail": bool(float_tail) if quant == "int8" else None,
        "mesh": mesh,
        "outputs": list(graph.output_keys(model, mesh)),
        "faces": np.asarray(model.mano.faces).astype(int).tolist() if mesh else None,
        "config": config_to_dict(config),
    }


def read_info(path: str) -> dict[str, Any]:
    """The sidecar JSON of a `.tflite` file, or {} when absent."""
    if not os.path.isfile(path + ".json"):
        return {}
    with open(path + ".json", encoding="utf-8") as f:
        return json.load(f)


class TFLiteRunner:
    """Runs an exported `.tflite` file with `ai_edge_litert.interpreter.Interpreter`.

    Args:
        path: the `.tflite` file (or None with `content`).
        content: the flatbuffer bytes.
        num_threads: CPU threads of the interpreter.
    """

    def __init__(self, path: str | None = None, content: bytes | None = None, num_threads: int = 1):
        from ai_edge_litert.interpreter import Interpreter

        self.interpreter = Interpreter(
            model_path=path, model_content=content, num_threads=num_threads
        )
        self.runner = self.interpreter.get_signature_runner(SIGNATURE)
        detail = self.runner.get_input_details()[INPUT_NAME]
        self.input_shape = tuple(int(d) for d in detail["shape"])
        self.input_size = self.input_shape[1]

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        """`[N, S, S, 3]` 0-255 images -> dict of `[N, ...]` float32 outputs (one at a time)."""
        images = np.asarray(images, np.float32)
        outs = [self.runner(**{INPUT_NAME: image[None]}) for image in images]
        return {k: np.concatenate([o[k] for o in outs]) for k in outs[0]}


__all__ = [
    "INT8_SCOPE",
    "QUANTIZATIONS",
    "TFLiteRunner",
    "calibrate",
    "check_builtin_ops",
    "convert_saved_model",
    "export_tflite",
    "op_counts",
    "op_name",
    "read_info",
    "quantize_int8",
    "representative_images",
]
