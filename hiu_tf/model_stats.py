"""Model statistics: parameters and FLOPs counted on a traced graph.

FLOPs are counted by TensorFlow's graph profiler (`tf.compat.v1.profiler`, the
`float_ops` statistic) on the frozen graph of `model(images, training=False)`
traced for a fixed input shape; nothing is run. Conventions of that counter:

* a multiply-add counts as **2 FLOPs** (Conv2D: `2 * k_h * k_w * C_in * H_out *
  W_out * C_out`; MatMul / BatchMatMul: `2 * M * N * K`; depthwise convs alike);
* element-wise ops (bias adds, activations, normalisation, additions, softmax)
  count one FLOP per output element where TensorFlow registers a statistic;
* ops without a registered statistic (gathers, reshapes, `einsum` before it is
  lowered, most of the trigonometry in rotations) count 0. Convolutions, dense
  layers and matrix products, which dominate, are all counted.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import re
from collections.abc import Sequence

import keras
import numpy as np
import tensorflow as tf


def count_params(model: keras.Model) -> dict[str, int]:
    """Returns trainable, non-trainable and total parameter counts of a built model.

    The hand model's arrays (template, blend shapes, regressor, skinning weights)
    are non-trainable weights of `ManoLayer` and are reported separately as
    `hand_model`; `non_trainable` excludes them (it is BatchNorm statistics and
    the like).
    """
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    hand = 0
    mano = getattr(model, "mano", None)
    if mano is not None:
        hand = sum(int(np.prod(w.shape)) for w in mano.weights)
    non_trainable = sum(int(np.prod(w.shape)) for w in model.non_trainable_weights) - hand
    return {
        "trainable": trainable,
        "non_trainable": non_trainable,
        "hand_model": hand,
        "total": trainable + non_trainable,
    }


def _concrete_function(model: keras.Model, input_shape: Sequence[int]):
    spec = tf.TensorSpec(tuple(input_shape), tf.float32)
    function = tf.function(lambda images: model(images, training=False))
    return function.get_concrete_function(spec)


def _frozen_graph(concrete) -> tf.Graph:
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2,
    )

    frozen = convert_variables_to_constants_v2(concrete)
    graph = tf.Graph()
    with graph.as_default():
        tf.graph_util.import_graph_def(frozen.graph.as_graph_def(), name="")
    return graph


def _flops_of_graph(graph: tf.Graph) -> dict[str, int]:
    options = tf.compat.v1.profiler.ProfileOptionBuilder.float_operation()
    options["output"] = "none"
    with open(os.devnull, "w") as devnull, contextlib.redirect_stdout(devnull):
        with contextlib.redirect_stderr(io.StringIO()):
            profile = tf.compat.v1.profiler.profile(graph, options=options)
    return {node.name: int(node.total_float_ops) for node in profile.children}


def output_shapes(model: keras.Model, input_shape: Sequence[int]) -> dict[str, tuple]:
    """Output shapes by tracing `model` at `input_shape` (nothing is run)."""
    outputs = _concrete_function(model, input_shape).structured_outputs
    return {k: tuple(v.shape.as_list()) for k, v in outputs.items()}


def flops_by_op(model: keras.Model, input_shape: Sequence[int]) -> dict[str, int]:
    """FLOPs of every op of the traced graph with a non-zero count, by op name."""
    return _flops_of_graph(_frozen_graph(_concrete_function(model, input_shape)))


def count_flops(model: keras.Model, input_shape: Sequence[int]) -> int:
    """Total FLOPs of one forward pass at `input_shape` (multiply-add = 2 FLOPs).

    Args:
        model: a Keras model taking one image tensor.
        input_shape: the full input shape with a fixed batch size, e.g. `(1, 256, 256, 3)`.

    Returns:
        FLOPs for the whole batch.
    """
    return sum(flops_by_op(model, input_shape).values())


def group_by_layer(model: keras.Model, op_flops: dict[str, int]) -> dict[str, int]:
    """Sums per-op FLOPs by the model's direct sub-layers (by name scope); the rest is "other"."""
    names = {layer.name for layer in model._flatten_layers(include_self=False, recursive=False)}
    groups: dict[str, int] = collections.Counter()
    for op_name, flops in op_flops.items():
        # Scopes carry a uniquifying suffix: "hiu_model_1/stack1_1/...".
        parts = [re.sub(r"_\d+$", "", p) for p in op_name.split("/")[:3]]
        group = next((p for p in parts[1:] if p in names), "other")
        groups[group] += flops
    return dict(groups)


def flops_by_layer(model: keras.Model, input_shape: Sequence[int]) -> dict[str, int]:
    """FLOPs grouped by the model's direct sub-layers; ops outside them are "other"."""
    return group_by_layer(model, flops_by_op(model, input_shape))


def describe(model: keras.Model, input_shape: Sequence[int], flops: bool = True) -> dict:
    """Parameters, FLOPs by layer and output shapes from one trace of `model`.

    Returns:
        dict with "input_shape", "params" (see `count_params`), "flops" (total, or
        None when `flops=False`), "flops_by_layer" and "outputs" (name -> shape).
    """
    concrete = _concrete_function(model, input_shape)
    outputs = {k: tuple(v.shape.as_list()) for k, v in concrete.structured_outputs.items()}
    by_layer: dict[str, int] = {}
    if flops:
        by_layer = group_by_layer(model, _flops_of_graph(_frozen_graph(concrete)))
    return {
        "input_shape": tuple(input_shape),
        "params": count_params(model),
        "flops": sum(by_layer.values()) if flops else None,
        "flops_by_layer": by_layer,
        "outputs": outputs,
    }
