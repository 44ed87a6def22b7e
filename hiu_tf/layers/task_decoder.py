"""`TaskDecoder`: one task's decoder in an MTL block (heat-maps, mask or POF)."""

from __future__ import annotations

import keras
import tensorflow as tf

from hiu_tf.layers._common import (
    ACTIVATIONS,
    BLOCK_TYPES,
    NORMS,
    check_choice,
    shape_list,
)
from hiu_tf.layers.residual_block import ResidualBlock
from mano_tf.checks import check_int


@tf.custom_gradient
def upsample_nearest(x):
    """Nearest 2x upsampling, `[B, H, W, C] -> [B, 2H, 2W, C]`: each pixel fills a 2 x 2 block.

    Spelled as one resize (RESIZE_NEAREST_NEIGHBOR in TFLite), not as Keras'
    `UpSampling2D`, whose two repeats become TILE ops that ai-edge-quantizer does not
    quantise: an int8 export then ran every upsampling in float between a DEQUANTIZE
    and a QUANTIZE (docs/export.md, "int8 with ai-edge-quantizer"). The gradient is
    written out (the sum over each 2 x 2 block) because XLA has no kernel for the
    resize's own gradient (`train.jit_compile`).
    """
    shape = tf.shape(x)
    y = tf.image.resize(x, shape[1:3] * 2, method="nearest")  # keeps the dtype

    def grad(dy):
        blocks = tf.reshape(dy, tf.stack([shape[0], shape[1], 2, shape[2], 2, shape[3]]))
        return tf.reduce_sum(blocks, axis=[2, 4])

    return y, grad


@keras.saving.register_keras_serializable(package="hiu_tf")
class TaskDecoder(keras.layers.Layer):
    """Decodes the encoder's pyramid into task features and the task's prediction.

    From the coarsest level up: nearest 2x upsampling (`upsample_nearest`), addition
    of the encoder's map at that level (a skip connection), one residual block. With
    `full_res_block=False` the finest (full-resolution) level has no block: its
    task features are the upsampled coarser features plus the encoder's map, so
    the task-specific work happens at half resolution and below (the full-resolution
    blocks are most of a phone-class model's int8 latency). With a one-level
    pyramid there is a single residual block either way. A linear 1x1 convolution turns the
    task features into the prediction (in the compute dtype; `HIUModel` casts its
    outputs to float32).

    Shapes: a list of maps `[B, H / 2^l, W / 2^l, C]`, l = 0..L ->
    `(features [B, H, W, filters], prediction [B, H, W, out_channels])`.

    Args:
        filters: channels of the task features (must equal the pyramid's C when L > 0).
        out_channels: channels of the prediction (21 heat-maps, 1 mask logit, 60 POF).
        block_type, expansion, norm, norm_groups, activation: see `ResidualBlock`.
        full_res_block: a residual block at the finest level (see above).
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        filters: int,
        out_channels: int,
        block_type: str = "bottleneck",
        expansion: int = 2,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        full_res_block: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int(filters, "filters")
        check_int(out_channels, "out_channels")
        check_choice("block_type", block_type, BLOCK_TYPES)
        check_int(expansion, "expansion")
        check_choice("norm", norm, NORMS)
        check_int(norm_groups, "norm_groups")
        check_choice("activation", activation, ACTIVATIONS)
        self.filters = filters
        self.out_channels = out_channels
        self.block_type = block_type
        self.expansion = expansion
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        self.full_res_block = bool(full_res_block)
        self.blocks = []
        # Starts near zero (normal, std 1e-3; bias 0), as SimpleBaselines and HRNet start
        # their heat-map layers. With Keras' default (Glorot) the first heat-maps are far
        # larger than the targets, and a briefly trained model spends its first hundreds
        # of steps undoing that (benchmarks/bench_head_init.py compares the two starts;
        # docs/results.md has its figures).
        self.predict = keras.layers.Conv2D(
            out_channels,
            1,
            kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3),
            name="predict",
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        shapes = shape_list(input_shape, "TaskDecoder", "encoder feature maps")
        if len(shapes) > 1 and any(s[-1] != self.filters for s in shapes):
            raise ValueError(
                "TaskDecoder expects every pyramid level to have `filters` channels. "
                f"Received: filters={self.filters}, shapes={shapes}"
            )
        first = self._first_level(len(shapes))
        self.blocks = [
            ResidualBlock(
                self.filters,
                block_type=self.block_type,
                expansion=self.expansion,
                norm=self.norm,
                norm_groups=self.norm_groups,
                activation=self.activation,
                name=f"block{level}",
                dtype=self.dtype_policy,
            )
            for level in range(first, max(1, len(shapes) - 1))
        ]
        for level, block in enumerate(self.blocks, start=first):
            block.build(shapes[level])
        self.predict.build(shapes[0][:3] + (self.filters,))
        self.built = True

    def _first_level(self, num_levels: int) -> int:
        """The finest pyramid level with a residual block."""
        return 0 if self.full_res_block or num_levels == 1 else 1

    def call(self, inputs, training=None):
        pyramid = list(inputs)
        if len(pyramid) == 1:
            x = self.blocks[0](pyramid[0], training=training)
        else:
            x, first = pyramid[-1], self._first_level(len(pyramid))
            for level in reversed(range(len(pyramid) - 1)):
                x = upsample_nearest(x) + pyramid[level]
                if level >= first:
                    x = self.blocks[level - first](x, training=training)
        return x, self.predict(x)

    def compute_output_shape(self, input_shape):
        base = tuple(list(input_shape)[0])[:3]
        return base + (self.filters,), base + (self.out_channels,)

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            out_channels=self.out_channels,
            block_type=self.block_type,
            expansion=self.expansion,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
            full_res_block=self.full_res_block,
        )
        return config
