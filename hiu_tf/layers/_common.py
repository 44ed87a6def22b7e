"""Helpers shared by the layers in this package (not public API)."""

from __future__ import annotations

import math

import keras

from hiu_tf.config import ACTIVATIONS, BLOCK_TYPES, NORMS

__all__ = ["ACTIVATIONS", "BLOCK_TYPES", "NORMS", "build_chain", "check_choice", "make_norm"]


def check_choice(name: str, value, choices: tuple) -> None:
    """Raises ValueError naming the argument unless `value` is one of `choices`."""
    if value not in choices:
        raise ValueError(f"`{name}` must be one of {choices}. Received: {name}={value!r}")


def make_norm(norm: str, groups: int, channels: int, name: str, dtype) -> keras.layers.Layer:
    """BatchNormalization, or GroupNormalization with gcd(groups, channels) groups."""
    if norm == "batch":
        return keras.layers.BatchNormalization(momentum=0.99, epsilon=1e-3, name=name, dtype=dtype)
    return keras.layers.GroupNormalization(
        groups=math.gcd(groups, channels), epsilon=1e-3, name=name, dtype=dtype
    )


def build_chain(layers, input_shape):
    """Builds `layers` one after the other; returns the output shape of the last."""
    shape = input_shape
    for layer in layers:
        layer.build(shape)
        shape = layer.compute_output_shape(shape)
    return shape


def is_single_shape(shape) -> bool:
    """True for one shape (a sequence of ints/None), False for a list of shapes."""
    return all(d is None or isinstance(d, int) for d in tuple(shape))


def shape_list(shape, layer: str, what: str) -> list[tuple]:
    """Returns a list of shapes as tuples; raises ValueError when given a single shape."""
    try:
        shapes = list(shape)
    except TypeError:
        shapes = []
    if not shapes or is_single_shape(shapes):
        raise ValueError(f"{layer} expects a list of {what}. Received: input_shape={shape}")
    return [tuple(s) for s in shapes]
