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
  head, keypoint decoding, heat-map peaks, mask upsampling, MANO and the
  projection) stays float32 in the same graph, with DEQUANTIZE ops at the
  boundary; so do the heat-map output conv and the stem's first conv (see
  `convert_saved_model`). This
  is selective quantisation: the converter first only calibrates
  (`converter._experimental_calibrate_only`), then `mlir_quantize` quantises
  with every op outside the `trunk` name scope on its deny-list. Quantising
  the whole graph instead fails: LiteRT stops in an int8 DIV of the
  projection ("data[i] != zero_point"), and the int8 soft-argmax and
  projection are off by tens of pixels (measured; see docs/export.md).

Representative data (`representative_images`): `--data` TFRecords (any source
written by `python -m hiu_tf data`) or image files (`export.calibration`: read
strictly, unreadable ones skipped and counted), `--data config` (the run's data
config), or, by default, synthetic hands made in memory by
`hiu_tf.data.sources.synthetic.SyntheticGenerator` with the run's hand model.
"""

from __future__ import annotations

import collections
import functools
import json
import logging
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
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
_HEATMAP_OUTPUT = re.compile(r"/heatmap_decoder(_\d+)?/predict(_\d+)?/")  # kept float in int8
_STEM_FIRST_CONV = re.compile(r"^trunk/stem(_\d+)?/conv1(_\d+)?/")  # kept float in int8


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


def _tensor_names(content: bytes) -> list[str]:
    from ai_edge_litert.interpreter import Interpreter

    return [d["name"] for d in Interpreter(model_content=content).get_tensor_details()]


def convert_saved_model(
    saved_model_dir: str,
    quant: str = "none",
    representative: Callable[[], Iterator[dict[str, np.ndarray]]] | None = None,
    float_tail: bool = True,
) -> bytes:
    """Converts a SavedModel (one `serving_default` signature) to a TFLite flatbuffer.

    Args:
        saved_model_dir: the SavedModel.
        quant: one of `QUANTIZATIONS`.
        representative: for "int8", a callable returning an iterator of
            `{input name: array}` dicts (the converter's representative dataset).
        float_tail: for "int8", keep every op outside the `trunk` name scope in float32
            (selective quantisation); False quantises the whole graph.

    Returns:
        The flatbuffer.

    Raises:
        ExportError: "int8" without representative data, or an op that is not a builtin.
    """
    quant = _check_quant(quant)
    converter = tf.lite.TFLiteConverter.from_saved_model(saved_model_dir)
    converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]
    if quant == "fp16":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.target_spec.supported_types = [tf.float16]
    elif quant == "dynamic":
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    elif quant == "int8":
        if representative is None:
            raise ExportError("quant='int8' needs representative data")
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
        converter.representative_dataset = representative
        if float_tail:
            from tensorflow.lite.python import convert as lite_convert

            converter._experimental_calibrate_only = True
            calibrated = converter.convert()
            prefix = graph.TRUNK_SCOPE + "/"
            # Also keep the heat-map output conv in float: in int8 mlir_quantize gives it the
            # range [0, max] (its negative values clipped, whatever the calibration saw), so
            # a map whose peak is <= 0 turns flat, its arg max jumps to the corner and its
            # keypoints_score is off (measured on a briefly trained `mobile-2stack`, then
            # named `mobile`: score off by up to 0.19 -> 0.02). One small conv; the rest of
            # the trunk stays int8.
            # And the stem's first conv, on the float image: with 3 input channels XNNPACK's
            # int8 kernel gains nothing there, and quantising the image costs as much as
            # quantising the conv's output. Measured (LiteRT, one / two x86 threads, one
            # run): `mobile` int8 2.48 -> 2.18 / 1.92 -> 1.75 ms, `mobile-2stack` 4.79 ->
            # 4.57 / 3.35 -> 3.25 ms, `paper-4stack` (7 x 7 stem) 23.1 -> 23.2 / 14.4 -> 13.8.
            denylist = [
                n
                for n in _tensor_names(calibrated)
                if not n.startswith(prefix)
                or _HEATMAP_OUTPUT.search(n)
                or _STEM_FIRST_CONV.match(n)
            ]
            content = lite_convert.mlir_quantize(calibrated, denylisted_nodes=denylist)
            content, removed = strip_float_roundtrips(content)
            logger.info("removed %d QUANTIZE/DEQUANTIZE ops from the float tail", removed)
            check_builtin_ops(content)
            return content
        converter.target_spec.supported_ops = [
            tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
            tf.lite.OpsSet.TFLITE_BUILTINS,
        ]
    content = converter.convert()
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


def strip_float_roundtrips(content: bytes) -> tuple[bytes, int]:
    """Removes float -> QUANTIZE (-> QUANTIZE ...) -> DEQUANTIZE -> float chains.

    With a deny-list, `mlir_quantize` still wraps some float-tail ops in such
    chains: ops it gives a fixed output range (L2_NORMALIZATION, whose result
    is rounded to steps of 1/128: the 6D rotations' Gram-Schmidt) and the
    soft-argmax column `index - row * W` (rounded to 1/4 heat-map pixel on
    64-pixel maps). They only round a float value and give it back as float:
    consumers of the DEQUANTIZE read the float value instead, and the chain's
    ops go (a QUANTIZE that also feeds an int8 op stays). Measured on the tiny
    export test model of the time: keypoints' median error vs Keras 1.8 -> 0.8 px.

    Returns:
        `(flatbuffer, number of ops removed)`.
    """
    from ai_edge_litert import schema_py_generated as schema
    from ai_edge_litert.tools import flatbuffer_utils

    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    removed = 0
    for index, sg in enumerate(model.subgraphs):
        producer = {out: op for op in sg.operators for out in op.outputs}
        rewire: dict[int, int] = {}
        chains: set[int] = set()
        for op in sg.operators:
            if op_name(model, op) != "DEQUANTIZE":
                continue
            chain, source = [], op.inputs[0]
            while source in producer and op_name(model, producer[source]) == "QUANTIZE":
                chain.append(producer[source])
                source = producer[source].inputs[0]
            if chain and sg.tensors[source].type == schema.TensorType.FLOAT32:
                rewire[op.outputs[0]] = source
                chains.update(id(o) for o in [op, *chain])
        if not rewire:
            continue
        for op in sg.operators:
            op.inputs = [rewire.get(t, t) for t in op.inputs]
        sg.outputs = [rewire.get(t, t) for t in sg.outputs]
        for signature in model.signatureDefs or []:
            if signature.subgraphIndex == index:
                for tensor in signature.outputs:
                    tensor.tensorIndex = rewire.get(tensor.tensorIndex, tensor.tensorIndex)
        kept, used = [], set(sg.outputs)
        for op in reversed(sg.operators):  # consumers first: a chain's QUANTIZE ops go too
            if id(op) in chains and not any(out in used for out in op.outputs):
                removed += 1
            else:
                kept.append(op)
                used.update(op.inputs)
        sg.operators = kept[::-1]
    return bytes(flatbuffer_utils.convert_object_to_bytearray(model)), removed


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
        content = convert_saved_model(os.path.join(tmp, "saved_model"), quant, rep_fn, float_tail)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    with open(out, "wb") as f:
        f.write(content)
    info = export_info(config, model, quant, mesh, float_tail)
    info["bytes"] = len(content)
    if quant == "int8":
        info["representative"] = {"data": data or "synthetic", "images": int(len(images))}
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
    "QUANTIZATIONS",
    "TFLiteRunner",
    "check_builtin_ops",
    "convert_saved_model",
    "export_tflite",
    "op_counts",
    "op_name",
    "read_info",
    "representative_images",
    "strip_float_roundtrips",
]
