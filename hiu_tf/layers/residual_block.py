"""`ResidualBlock`: basic, bottleneck or inverted (MobileNetV2) residual block."""

from __future__ import annotations

import keras

from hiu_tf.layers._common import (
    ACTIVATIONS,
    BLOCK_TYPES,
    NORMS,
    check_choice,
)
from hiu_tf.layers.conv_norm_act import ConvNormAct
from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="hiu_tf")
class ResidualBlock(keras.layers.Layer):
    """A residual block of one of three kinds.

    * "basic": 3x3 conv-norm-act, 3x3 conv-norm, + shortcut, act (ResNet-18 style).
    * "bottleneck": 1x1 to `filters // expansion`, 3x3, 1x1 back to `filters`
      (each conv-norm, act between), + shortcut, act (ResNet-50 / hourglass style).
    * "inverted": 1x1 expansion to `C_in * expansion` (skipped when 1), 3x3 depthwise,
      linear 1x1 projection to `filters` (each conv-norm, act after the first two);
      the shortcut exists only when the shape is kept (MobileNetV2).

    For "basic"/"bottleneck", the shortcut is a 1x1 conv-norm when the stride is not
    1 or the channels change, the identity otherwise.

    Shapes: `[B, H, W, C_in]` -> `[B, ceil(H / strides), ceil(W / strides), filters]`.

    Args:
        filters: output channels.
        block_type: "basic", "bottleneck" or "inverted".
        expansion: bottleneck ratio ("bottleneck") or expansion factor ("inverted").
        strides: stride of the 3x3 convolution (1 or 2).
        norm: "batch" or "group".
        norm_groups: groups of GroupNormalization.
        activation: activation function name.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        filters: int,
        block_type: str = "bottleneck",
        expansion: int = 2,
        strides: int = 1,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int(filters, "filters")
        check_choice("block_type", block_type, BLOCK_TYPES)
        check_int(expansion, "expansion")
        check_choice("strides", strides, (1, 2))
        check_choice("norm", norm, NORMS)
        check_int(norm_groups, "norm_groups")
        check_choice("activation", activation, ACTIVATIONS)
        self.filters = filters
        self.block_type = block_type
        self.expansion = expansion
        self.strides = strides
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        self.out_act = None
        self.shortcut = None
        self.convs = []

    def _cna(self, filters, kernel_size, name, strides=1, depthwise=False, activation=True):
        return ConvNormAct(
            filters,
            kernel_size=kernel_size,
            strides=strides,
            depthwise=depthwise,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation if activation else None,
            name=name,
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        channels = input_shape[-1]
        f, s = self.filters, self.strides
        if self.block_type == "basic":
            self.convs = [
                self._cna(f, 3, "conv1", strides=s),
                self._cna(f, 3, "conv2", activation=False),
            ]
        elif self.block_type == "bottleneck":
            mid = max(1, f // self.expansion)
            self.convs = [
                self._cna(mid, 1, "conv1"),
                self._cna(mid, 3, "conv2", strides=s),
                self._cna(f, 1, "conv3", activation=False),
            ]
        else:
            hidden = channels * self.expansion
            self.convs = [self._cna(hidden, 1, "expand")] if self.expansion > 1 else []
            self.convs += [
                self._cna(None, 3, "depthwise", strides=s, depthwise=True),
                self._cna(f, 1, "project", activation=False),
            ]
        keeps_shape = s == 1 and channels == f
        if self.block_type != "inverted":
            self.out_act = keras.layers.Activation(
                self.activation, name="out_act", dtype=self.dtype_policy
            )
            if not keeps_shape:
                self.shortcut = self._cna(f, 1, "shortcut", strides=s, activation=False)
        self.use_residual = keeps_shape or self.shortcut is not None
        shape = input_shape
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        if self.shortcut is not None:
            self.shortcut.build(input_shape)
        self.built = True

    def call(self, inputs, training=None):
        x = inputs
        for conv in self.convs:
            x = conv(x, training=training)
        if self.use_residual:
            shortcut = inputs if self.shortcut is None else self.shortcut(inputs, training=training)
            x = x + shortcut
        if self.out_act is not None:
            x = self.out_act(x)
        return x

    def compute_output_shape(self, input_shape):
        b, h, w, _ = input_shape
        s = self.strides
        h = None if h is None else -(-h // s)
        w = None if w is None else -(-w // s)
        return (b, h, w, self.filters)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            block_type=self.block_type,
            expansion=self.expansion,
            strides=self.strides,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
        )
        return config
