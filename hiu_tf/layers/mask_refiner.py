"""`MaskRefiner`: the last stack's hand mask, refined to higher resolutions.

Our addition, not the paper's (`ModelConfig.mask_refine_width`, 0 = off). The MTL
blocks predict the mask at the heat-map resolution h = S / 4; upsampled to the
crop, even a perfect h x h mask cannot draw a finger a few input pixels wide (on
64-px crops a finger is about one map pixel wide; `benchmarks/bench_mask_ceiling.py`
measures the IoU that a perfect h x h mask reaches). Like the skip connections
of a U-Net, each level doubles the resolution and predicts a residual from a
skip input at the new resolution (the stem's first convolution at S / 2, the
image at S):

    coarse [B, h, h, 1], features [B, h, h, C], skips [B, 2h, 2h, C_1], [B, 4h, 4h, C_2] ...
      hidden = 1x1 conv-norm-act of features; logits = coarse
      per skip:  up = bilinear x2 of logits
                 hidden = 3x3 conv-norm-act of (up, bilinear x2 of hidden, skip)
                 logits = up + 3x3 conv of hidden (1 channel, zero-initialised)
      -> logits at the last skip's resolution                 [B, 2^k h, 2^k h, 1]

Each level's last convolution starts at zero, so an untrained refiner returns
exactly the upsampled coarse logits: switching it on never makes a model's first
steps worse.
"""

from __future__ import annotations

import keras
from keras import ops

from hiu_tf.layers._common import ACTIVATIONS, NORMS, check_choice
from hiu_tf.layers.conv_norm_act import ConvNormAct
from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="hiu_tf")
class MaskRefiner(keras.layers.Layer):
    """Refines `[B, h, h, 1]` mask logits to `[B, 2^k h, 2^k h, 1]` (module docstring).

    Call it on the list `[coarse_logits, features, skip_1, ..., skip_k]`, k >= 1, each
    skip twice the side of the one before (the first twice the coarse logits').

    Args:
        filters: channels of the two hidden convolutions.
        norm: "batch" or "group".
        norm_groups: groups of GroupNormalization.
        activation: activation function name.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        filters: int = 16,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int(filters, "filters")
        check_choice("norm", norm, NORMS)
        check_int(norm_groups, "norm_groups")
        check_choice("activation", activation, ACTIVATIONS)
        self.filters = filters
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        common = dict(
            norm=norm, norm_groups=norm_groups, activation=activation, dtype=self.dtype_policy
        )
        self._common = common
        self.squeeze = ConvNormAct(filters, 1, name="squeeze", **common)
        self.upsample = keras.layers.UpSampling2D(
            2, interpolation="bilinear", name="upsample", dtype=self.dtype_policy
        )
        self.fuse: list[ConvNormAct] = []
        self.residual: list[keras.layers.Conv2D] = []

    def _shapes(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) < 3 or any(len(s) != 4 for s in shapes):
            raise ValueError(
                "MaskRefiner expects [coarse [B, h, h, 1], features [B, h, h, C], "
                f"skips [B, 2h, 2h, C_1], ...]. Received: input_shape={input_shape}"
            )
        coarse, features, *skips = shapes
        side = coarse[1:3]
        ok = coarse[-1] == 1 and features[1:3] == side
        for skip in skips:
            side = tuple(None if d is None else 2 * d for d in side)
            ok = ok and (None in side or skip[1:3] == side)
        if not ok:
            raise ValueError(
                "MaskRefiner expects coarse logits [B, h, h, 1], features [B, h, h, C] and "
                f"skips of sides 2h, 4h, ... Received: input_shape={shapes}"
            )
        return coarse, features, skips

    def build(self, input_shape):
        coarse, features, skips = self._shapes(input_shape)
        self.squeeze.build(features)
        self.upsample.build(coarse)
        self.fuse = [
            ConvNormAct(self.filters, 3, name=f"fuse{i}", **self._common)
            for i in range(1, len(skips) + 1)
        ]
        self.residual = [
            keras.layers.Conv2D(
                1,
                3,
                padding="same",
                kernel_initializer="zeros",
                name=f"residual{i}",
                dtype=self.dtype_policy,
            )
            for i in range(1, len(skips) + 1)
        ]
        for fuse, residual, skip in zip(self.fuse, self.residual, skips, strict=True):
            fuse.build(skip[:3] + (1 + self.filters + skip[3],))
            residual.build(skip[:3] + (self.filters,))
        self.built = True

    def call(self, inputs, training=None):
        logits, features, *skips = inputs
        hidden = self.squeeze(features, training=training)
        for fuse, residual, skip in zip(self.fuse, self.residual, skips, strict=True):
            up = self.upsample(logits)
            x = ops.concatenate([up, self.upsample(hidden), ops.cast(skip, up.dtype)], axis=-1)
            hidden = fuse(x, training=training)
            logits = up + residual(hidden)
        return logits

    def compute_output_shape(self, input_shape):
        coarse, _, skips = self._shapes(input_shape)
        return (coarse[0], skips[-1][1], skips[-1][2], 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
        )
        return config
