"""`ConvNormAct`: a convolution, a normalisation and an activation."""

from __future__ import annotations

import keras

from hiu_tf.layers._common import (
    ACTIVATIONS,
    NORMS,
    check_choice,
    make_norm,
)
from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="hiu_tf")
class ConvNormAct(keras.layers.Layer):
    """Conv2D (or DepthwiseConv2D) -> normalisation -> activation, "same" padding.

    Shapes: `[B, H, W, C_in]` -> `[B, ceil(H / strides), ceil(W / strides), filters]`
    (`filters = C_in` when `depthwise=True`).

    Args:
        filters: output channels; ignored (must be None or C_in) when `depthwise`.
        kernel_size: square kernel size.
        strides: stride of the convolution.
        depthwise: a depthwise convolution (one filter per input channel).
        norm: "batch", "group" or None (then the convolution has a bias).
        norm_groups: groups of GroupNormalization (reduced to gcd(groups, channels)).
        activation: "relu", "relu6", "swish", "gelu" or None (linear).
        **kwargs: base layer arguments (name, dtype, trainable).
    """

    def __init__(
        self,
        filters: int | None,
        kernel_size: int = 3,
        strides: int = 1,
        depthwise: bool = False,
        norm: str | None = "batch",
        norm_groups: int = 8,
        activation: str | None = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not depthwise or filters is not None:
            check_int(filters, "filters")
        check_int(kernel_size, "kernel_size")
        check_int(strides, "strides")
        if norm is not None:
            check_choice("norm", norm, NORMS)
        if activation is not None:
            check_choice("activation", activation, ACTIVATIONS)
        check_int(norm_groups, "norm_groups")
        self.filters = filters
        self.kernel_size = kernel_size
        self.strides = strides
        self.depthwise = depthwise
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        common = dict(
            kernel_size=kernel_size,
            strides=strides,
            padding="same",
            use_bias=norm is None,
            dtype=self.dtype_policy,
        )
        if depthwise:
            self.conv = keras.layers.DepthwiseConv2D(name="conv", **common)
        else:
            self.conv = keras.layers.Conv2D(filters, name="conv", **common)
        self.norm_layer = None
        self.act = (
            keras.layers.Activation(activation, name="act", dtype=self.dtype_policy)
            if activation
            else None
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.depthwise and self.filters is not None and self.filters != channels:
            raise ValueError(
                "`filters` must equal the input channels of a depthwise ConvNormAct. "
                f"Received: filters={self.filters}, input channels={channels}"
            )
        self.conv.build(input_shape)
        shape = self.conv.compute_output_shape(input_shape)
        if self.norm is not None:
            self.norm_layer = make_norm(
                self.norm, self.norm_groups, shape[-1], "norm", self.dtype_policy
            )
            self.norm_layer.build(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = self.conv(inputs)
        if self.norm_layer is not None:
            x = self.norm_layer(x, training=training)
        if self.act is not None:
            x = self.act(x)
        return x

    def compute_output_shape(self, input_shape):
        return self.conv.compute_output_shape(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            kernel_size=self.kernel_size,
            strides=self.strides,
            depthwise=self.depthwise,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
        )
        return config
