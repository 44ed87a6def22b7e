"""`MTLBlock`: one stack of the cascade (paper Sec. 3.1, Fig. 2)."""

from __future__ import annotations

import keras

from hiu_tf.config import TASKS
from hiu_tf.keypoints import BONES, NUM_KEYPOINTS
from hiu_tf.layers._common import (
    ACTIVATIONS,
    BLOCK_TYPES,
    NORMS,
    check_choice,
)
from hiu_tf.layers.concat_fusion import ConcatFusion
from hiu_tf.layers.mtl_encoder import MTLEncoder
from hiu_tf.layers.task_attention import TaskAttention
from hiu_tf.layers.task_decoder import TaskDecoder
from mano_tf.checks import check_int

# task -> (output name, channels of the prediction)
TASK_OUTPUTS = {
    "heatmap": ("heatmaps", NUM_KEYPOINTS),  # one Gaussian heat-map per keypoint
    "mask": ("mask_logits", 1),  # hand-vs-background logit
    "pof": ("pof", 3 * len(BONES)),  # (2D unit direction, 3D z) per bone, bone-major
}


@keras.saving.register_keras_serializable(package="hiu_tf")
class MTLBlock(keras.layers.Layer):
    """A shared encoder, one decoder per task and a fusion of the task features.

    * encoder: `MTLEncoder` on the stem features and, when `has_previous`, the
      previous block's fused features (the first block's "previous" are zeros in
      the paper; leaving the input out is the same computation).
    * decoders: one `TaskDecoder` per task in `tasks`, each giving task features
      `[B, H, W, C]` and a prediction: "heatmaps" `[B, H, W, 21]`, "mask_logits"
      `[B, H, W, 1]`, "pof" `[B, H, W, 60]` (channels `3*b .. 3*b+2` are bone b of
      `hiu_tf.keypoints.BONES`: x, y of the 2D direction, z of the 3D direction).
    * fusion: `TaskAttention` (use_tam=True) or `ConcatFusion` (the paper's
      "no TAM" baseline) over the task features -> "features" `[B, H, W, C]`. With
      a single task there is nothing to fuse and its features pass unchanged.

    Inputs: stem features `[B, H, W, C_stem]`, or `[stem, previous]` when
    `has_previous`. Output: a dict with "features" and the predictions of `tasks`.

    Args:
        filters: channels C of the encoder, task features and fused features.
        tasks: non-empty subset of ("heatmap", "mask", "pof").
        use_tam: TAM (True) or concatenation + 3x3 conv (False).
        tam_reduction: reduction ratio of the TAM's hidden FC layer.
        levels: downsamplings in the encoder.
        blocks_per_level: residual blocks per encoder level.
        block_type, expansion, norm, norm_groups, activation: see `ResidualBlock`.
        has_previous: the block receives the previous block's fused features.
        decoder_full_res: `TaskDecoder`'s `full_res_block`.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        filters: int,
        tasks: tuple[str, ...] | list[str] = TASKS,
        use_tam: bool = True,
        tam_reduction: int = 4,
        levels: int = 3,
        blocks_per_level: int = 1,
        block_type: str = "bottleneck",
        expansion: int = 2,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        has_previous: bool = False,
        decoder_full_res: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        check_int(filters, "filters")
        tasks = tuple(tasks)
        if not tasks or len(set(tasks)) != len(tasks) or any(t not in TASKS for t in tasks):
            raise ValueError(
                f"`tasks` must be a non-empty subset of {TASKS}. Received: tasks={list(tasks)}"
            )
        check_int(tam_reduction, "tam_reduction")
        check_choice("block_type", block_type, BLOCK_TYPES)
        check_choice("norm", norm, NORMS)
        check_choice("activation", activation, ACTIVATIONS)
        self.filters = filters
        self.tasks = tuple(t for t in TASKS if t in tasks)
        self.use_tam = use_tam
        self.tam_reduction = tam_reduction
        self.levels = levels
        self.blocks_per_level = blocks_per_level
        self.block_type = block_type
        self.expansion = expansion
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation
        self.has_previous = has_previous
        self.decoder_full_res = bool(decoder_full_res)
        common = dict(
            block_type=block_type,
            expansion=expansion,
            norm=norm,
            norm_groups=norm_groups,
            activation=activation,
            dtype=self.dtype_policy,
        )
        self.encoder = MTLEncoder(
            filters,
            levels=levels,
            blocks_per_level=blocks_per_level,
            has_previous=has_previous,
            name="encoder",
            **common,
        )
        self.decoders = [
            TaskDecoder(
                filters,
                TASK_OUTPUTS[t][1],
                full_res_block=self.decoder_full_res,
                name=f"{t}_decoder",
                **common,
            )
            for t in self.tasks
        ]
        if len(self.tasks) == 1:
            self.fusion = None
        elif use_tam:
            self.fusion = TaskAttention(tam_reduction, name="tam", dtype=self.dtype_policy)
        else:
            self.fusion = ConcatFusion(filters, name="concat_fusion", dtype=self.dtype_policy)

    def build(self, input_shape):
        self.encoder.build(input_shape)
        pyramid = self.encoder.compute_output_shape(input_shape)
        features = []
        for decoder in self.decoders:
            decoder.build(pyramid)
            features.append(decoder.compute_output_shape(pyramid)[0])
        if self.fusion is not None:
            self.fusion.build(features)
        self.built = True

    def call(self, inputs, training=None):
        pyramid = self.encoder(inputs, training=training)
        outputs, features = {}, []
        for task, decoder in zip(self.tasks, self.decoders, strict=True):
            feature, prediction = decoder(pyramid, training=training)
            outputs[TASK_OUTPUTS[task][0]] = prediction
            features.append(feature)
        outputs["features"] = features[0] if self.fusion is None else self.fusion(features)
        return outputs

    def compute_output_shape(self, input_shape):
        pyramid = self.encoder.compute_output_shape(input_shape)
        base = tuple(pyramid[0][:3])
        out = {TASK_OUTPUTS[t][0]: base + (TASK_OUTPUTS[t][1],) for t in self.tasks}
        out["features"] = base + (self.filters,)
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            filters=self.filters,
            tasks=list(self.tasks),
            use_tam=self.use_tam,
            tam_reduction=self.tam_reduction,
            levels=self.levels,
            blocks_per_level=self.blocks_per_level,
            block_type=self.block_type,
            expansion=self.expansion,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
            has_previous=self.has_previous,
            decoder_full_res=self.decoder_full_res,
        )
        return config
