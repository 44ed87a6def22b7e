"""`MTLEncoder`: the shared encoder of an MTL block."""

from __future__ import annotations

import keras
from keras import ops

from hiu_tf.layers._common import (
    ACTIVATIONS,
    BLOCK_TYPES,
    NORMS,
    check_choice,
    is_single_shape,
    shape_list,
)
from hiu_tf.layers.conv_norm_act import ConvNormAct
from hiu_tf.layers.residual_block import ResidualBlock
from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="hiu_tf")
class MTLEncoder(keras.layers.Layer):
    """The encoder of an MTL block: stem features (+ previous TAM output) -> a feature pyramid.

    The inputs are joined by a 1x1 conv-norm-act: `concat([stem, previous])` when
    `has_previous`, `stem` alone otherwise. The latter is exactly the paper's first
    stack, whose "previous" features are zeros (zero channels add nothing to a
    convolution), without computing on zeros. Then `levels + 1` levels of
    `blocks_per_level` residual blocks; each level after the first starts with a
    stride-2 block.

    Shapes: `[B, H, W, C_stem]` (or `[[B, H, W, C_stem], [B, H, W, C_prev]]` when
    `has_previous`) -> a list of `levels + 1` maps `[B, H / 2^l, W / 2^l, filters]`.

    Args:
        filters: channels at every level.
        levels: number of stride-2 downsamplings.
        blocks_per_level: residual blocks per level.
        block_type: "basic", "bottleneck" or "inverted" (see `ResidualBlock`).
        expansion: `ResidualBlock` expansion.
        norm: "batch" or "group".
        norm_groups: groups of GroupNormalization.
        activation: activation function name.
        has_previous: a second input, the previous block's fused features, is given.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        filters: int,
        levels: int = 3,
        blocks_per_level: int = 1,
        block_type: str = "bottleneck",
        expansion: int = 2,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        has_previous: bool = False,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int(filters, "filters")
        check_int(levels, "levels", 0)
        check_int(blocks_per_level, "blocks_per_level")
        check_choice("block_type", block_type, BLOCK_TYPES)
        check_int(expansion, "expansion")
        check_choice("norm", norm, NORMS)
        check_int(norm_groups, "norm_groups")
        check_choice("activation", activation, ACTIVATIONS)
        self.filters = filters
        self.levels = levels
        self.blocks_per_level = blocks_per_level
        self.block_type = block_type
        self.expansion = expansion
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        self.has_previous = has_previous
        common = dict(norm=norm, norm_groups=norm_groups, activation=activation)
        self.input_proj = ConvNormAct(
            filters, 1, name="input_proj", dtype=self.dtype_policy, **common
        )
        self.stages = [
            [
                ResidualBlock(
                    filters,
                    block_type=block_type,
                    expansion=expansion,
                    strides=2 if (level > 0 and b == 0) else 1,
                    name=f"level{level}_block{b}",
                    dtype=self.dtype_policy,
                    **common,
                )
                for b in range(blocks_per_level)
            ]
            for level in range(levels + 1)
        ]

    def _check_inputs(self, input_shape):
        two = not is_single_shape(input_shape)
        if two != self.has_previous:
            expected = "[stem, previous]" if self.has_previous else "one stem feature map"
            raise ValueError(
                f"MTLEncoder(has_previous={self.has_previous}) expects {expected}. "
                f"Received: input_shape={input_shape}"
            )
        if two:
            shapes = shape_list(input_shape, "MTLEncoder", "[stem, previous] shapes")
            if len(shapes) != 2:
                raise ValueError(
                    f"MTLEncoder expects [stem, previous]. Received: input_shape={input_shape}"
                )
            stem, prev = shapes
            if stem[1:3] != prev[1:3]:
                raise ValueError(
                    "MTLEncoder expects stem and previous features of one size. "
                    f"Received: stem={stem}, previous={prev}"
                )
            return stem[:3] + (stem[-1] + prev[-1],)
        return tuple(input_shape)

    def build(self, input_shape):
        shape = self._check_inputs(input_shape)
        self.input_proj.build(shape)
        shape = self.input_proj.compute_output_shape(shape)
        for stage in self.stages:
            for block in stage:
                block.build(shape)
                shape = block.compute_output_shape(shape)
        self.built = True

    def call(self, inputs, training=None):
        x = ops.concatenate(list(inputs), axis=-1) if self.has_previous else inputs
        x = self.input_proj(x, training=training)
        pyramid = []
        for stage in self.stages:
            for block in stage:
                x = block(x, training=training)
            pyramid.append(x)
        return pyramid

    def compute_output_shape(self, input_shape):
        shape = self.input_proj.compute_output_shape(self._check_inputs(input_shape))
        out = []
        for stage in self.stages:
            for block in stage:
                shape = block.compute_output_shape(shape)
            out.append(shape)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            levels=self.levels,
            blocks_per_level=self.blocks_per_level,
            block_type=self.block_type,
            expansion=self.expansion,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
            has_previous=self.has_previous,
        )
        return config
