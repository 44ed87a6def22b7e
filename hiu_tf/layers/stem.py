"""`Stem`: two 7x7 stride-2 convolutions (paper Sec. 3.1, "Stem Module")."""

from __future__ import annotations

import keras

from hiu_tf.layers._common import ACTIVATIONS, NORMS, check_choice
from hiu_tf.layers.conv_norm_act import ConvNormAct
from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="hiu_tf")
class Stem(keras.layers.Layer):
    """Two stride-2 conv-norm-act layers (7x7 by default): input `S` -> maps `S / 4`.

    With `separable=True` the second convolution is depthwise-separable (a k x k
    stride-2 depthwise conv-norm-act, then a 1x1 conv-norm-act), for phone-class
    models; the first stays a full convolution (it sees only 3 channels).
    `kernel_size` replaces the paper's 7 x 7 in both: CPU runtimes can be slow on
    large depthwise kernels, as LiteRT's XNNPACK is on a 7 x 7 stride-2 one on x86
    (`benchmarks/bench_tflite_layers.py --only stem depthwise` times it against smaller
    kernels; docs/results.md has the figures).

    Shapes: `[B, S, S, 3]` -> `[B, S/4, S/4, filters]`; with `return_skip=True` the
    list `[that, [B, S/2, S/2, mid_filters]]`, the first convolution's output too
    (the skip connection of `MaskRefiner`).

    Args:
        filters: output channels.
        mid_filters: channels after the first convolution; None = `filters // 2`.
        kernel_size: side of both convolutions' kernels (odd, >= 3; the paper's 7).
        separable: make the second convolution depthwise-separable.
        return_skip: also return the first convolution's output (see Shapes).
        norm: "batch" or "group".
        norm_groups: groups of GroupNormalization.
        activation: activation function name.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        filters: int,
        mid_filters: int | None = None,
        kernel_size: int = 7,
        separable: bool = False,
        return_skip: bool = False,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int(filters, "filters")
        if mid_filters is not None:
            check_int(mid_filters, "mid_filters")
        check_int(kernel_size, "kernel_size")
        if kernel_size < 3 or kernel_size % 2 == 0:
            raise ValueError(
                f"kernel_size must be odd and >= 3. Received: kernel_size={kernel_size}"
            )
        check_choice("norm", norm, NORMS)
        check_int(norm_groups, "norm_groups")
        check_choice("activation", activation, ACTIVATIONS)
        self.filters = filters
        self.mid_filters = mid_filters
        self.kernel_size = kernel_size
        self.separable = separable
        self.return_skip = bool(return_skip)
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        mid = mid_filters or max(1, filters // 2)
        common = dict(
            norm=norm, norm_groups=norm_groups, activation=activation, dtype=self.dtype_policy
        )
        self.convs = [ConvNormAct(mid, kernel_size, strides=2, name="conv1", **common)]
        if separable:
            self.convs += [
                ConvNormAct(
                    None, kernel_size, strides=2, depthwise=True, name="conv2_dw", **common
                ),
                ConvNormAct(filters, 1, name="conv2_pw", **common),
            ]
        else:
            self.convs += [ConvNormAct(filters, kernel_size, strides=2, name="conv2", **common)]

    def build(self, input_shape):
        shape = input_shape
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        skip = self.convs[0](inputs, training=training)
        x = skip
        for conv in self.convs[1:]:
            x = conv(x, training=training)
        return [x, skip] if self.return_skip else x

    def compute_output_shape(self, input_shape):
        skip = self.convs[0].compute_output_shape(input_shape)
        shape = skip
        for conv in self.convs[1:]:
            shape = conv.compute_output_shape(shape)
        return [shape, skip] if self.return_skip else shape

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            mid_filters=self.mid_filters,
            kernel_size=self.kernel_size,
            separable=self.separable,
            return_skip=self.return_skip,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
        )
        return config
