"""`ConcatFusion`: the paper's "no TAM" baseline (Table 5)."""

from __future__ import annotations

import keras
from keras import ops

from hiu_tf.layers._common import shape_list
from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="hiu_tf")
class ConcatFusion(keras.layers.Layer):
    """Concatenates N task feature maps and mixes them with one 3x3 convolution.

    The baseline of the TAM ablation: "a concatenation followed by a 3x3
    convolution to aggregate the feature-maps from individual tasks". The
    convolution is linear with a bias, like the TAM's weighted sum.

    Shapes: a list of N tensors `[B, H, W, C]` -> `[B, H, W, filters]`.

    Args:
        filters: output channels; None = the input channels C.
        kernel_size: size of the mixing convolution (3 in the paper).
        **kwargs: base layer arguments.
    """

    def __init__(self, filters: int | None = None, kernel_size: int = 3, **kwargs):
        super().__init__(**kwargs)
        if filters is not None:
            check_int(filters, "filters")
        check_int(kernel_size, "kernel_size")
        self.filters = filters
        self.kernel_size = kernel_size
        self.conv = None

    def build(self, input_shape):
        shapes = shape_list(input_shape, "ConcatFusion", "task feature maps")
        if any(len(s) != 4 for s in shapes) or len({s[1:3] for s in shapes}) != 1:
            raise ValueError(
                "ConcatFusion expects task features [B, H, W, C] of one size. "
                f"Received: shapes={shapes}"
            )
        channels = sum(s[-1] for s in shapes)
        self.conv = keras.layers.Conv2D(
            self.filters or shapes[0][-1],
            self.kernel_size,
            padding="same",
            name="conv",
            dtype=self.dtype_policy,
        )
        self.conv.build(shapes[0][:3] + (channels,))
        self.built = True

    def call(self, inputs):
        return self.conv(ops.concatenate(list(inputs), axis=-1))

    def compute_output_shape(self, input_shape):
        first = tuple(list(input_shape)[0])
        return first[:3] + (self.filters or first[-1],)

    def get_config(self):
        config = super().get_config()
        config.update(filters=self.filters, kernel_size=self.kernel_size)
        return config
