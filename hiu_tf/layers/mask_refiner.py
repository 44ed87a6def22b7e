"""`MaskRefiner`: the last stack's hand mask, refined to twice the heat-map resolution.

Our addition, not the paper's (`ModelConfig.mask_refine_width`, 0 = off). The MTL
blocks predict the mask at the heat-map resolution h = S / 4; upsampled to the
crop, even a perfect h x h mask cannot draw a finger a few input pixels wide: on
64-px crops a finger is about one map pixel wide (`docs/learning.md` measures
the IoU that a perfect h x h mask reaches). This layer predicts a residual at 2h = S / 2 from the stem's first convolution
(which has seen the image at that resolution) and the fused features, as the
skip connections of a U-Net do:

    coarse [B, h, h, 1], features [B, h, h, C], skip [B, 2h, 2h, C_s]
      -> up = bilinear x2 of (coarse, 1x1 conv-norm-act of features)
      -> 3x3 conv-norm-act of (up, skip) -> 3x3 conv (1 channel, zero-initialised)
      -> fine = bilinear x2 of coarse + that residual        [B, 2h, 2h, 1]

The last convolution starts at zero, so an untrained refiner returns exactly the
upsampled coarse logits: switching it on never makes a model's first steps worse.
"""

from __future__ import annotations

import keras
from keras import ops

from hiu_tf.layers._common import ACTIVATIONS, NORMS, check_choice, check_positive_int
from hiu_tf.layers.conv_norm_act import ConvNormAct


@keras.saving.register_keras_serializable(package="hiu_tf")
class MaskRefiner(keras.layers.Layer):
    """Refines `[B, h, h, 1]` mask logits to `[B, 2h, 2h, 1]` (see the module docstring).

    Call it on the list `[coarse_logits, features, skip]`.

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
        check_positive_int("filters", filters)
        check_choice("norm", norm, NORMS)
        check_positive_int("norm_groups", norm_groups)
        check_choice("activation", activation, ACTIVATIONS)
        self.filters = filters
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        common = dict(
            norm=norm, norm_groups=norm_groups, activation=activation, dtype=self.dtype_policy
        )
        self.squeeze = ConvNormAct(filters, 1, name="squeeze", **common)
        self.upsample = keras.layers.UpSampling2D(
            2, interpolation="bilinear", name="upsample", dtype=self.dtype_policy
        )
        self.fuse = ConvNormAct(filters, 3, name="fuse", **common)
        self.residual = keras.layers.Conv2D(
            1,
            3,
            padding="same",
            kernel_initializer="zeros",
            name="residual",
            dtype=self.dtype_policy,
        )

    def _shapes(self, input_shape):
        shapes = [tuple(s) for s in input_shape]
        if len(shapes) != 3 or any(len(s) != 4 for s in shapes):
            raise ValueError(
                "MaskRefiner expects [coarse [B, h, h, 1], features [B, h, h, C], "
                f"skip [B, 2h, 2h, C_s]]. Received: input_shape={input_shape}"
            )
        coarse, features, skip = shapes
        h = coarse[1]
        if (
            coarse[-1] != 1
            or features[1:3] != coarse[1:3]
            or (h is not None and skip[1:3] != (2 * h, 2 * coarse[2]))
        ):
            raise ValueError(
                "MaskRefiner expects coarse logits [B, h, h, 1], features [B, h, h, C] and "
                f"a skip [B, 2h, 2h, C_s]. Received: input_shape={shapes}"
            )
        return coarse, features, skip

    def build(self, input_shape):
        coarse, features, skip = self._shapes(input_shape)
        self.squeeze.build(features)
        self.upsample.build(coarse)
        self.fuse.build(skip[:3] + (1 + self.filters + skip[3],))
        self.residual.build(skip[:3] + (self.filters,))
        self.built = True

    def call(self, inputs, training=None):
        coarse, features, skip = inputs
        up = self.upsample(coarse)
        squeezed = self.upsample(self.squeeze(features, training=training))
        x = ops.concatenate([up, squeezed, ops.cast(skip, up.dtype)], axis=-1)
        return up + self.residual(self.fuse(x, training=training))

    def compute_output_shape(self, input_shape):
        coarse, _, skip = self._shapes(input_shape)
        return (coarse[0], skip[1], skip[2], 1)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
        )
        return config
