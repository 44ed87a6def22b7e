"""Keras layers of the HIU-DMTL network (one public class per module, registered "hiu_tf>...")."""

from hiu_tf.layers.concat_fusion import ConcatFusion
from hiu_tf.layers.conv_norm_act import ConvNormAct
from hiu_tf.layers.mask_refiner import MaskRefiner
from hiu_tf.layers.mtl_block import MTLBlock
from hiu_tf.layers.mtl_encoder import MTLEncoder
from hiu_tf.layers.regressor_head import RegressorHead
from hiu_tf.layers.residual_block import ResidualBlock
from hiu_tf.layers.soft_argmax import SoftArgmax
from hiu_tf.layers.stem import Stem
from hiu_tf.layers.task_attention import TaskAttention
from hiu_tf.layers.task_decoder import TaskDecoder

__all__ = [
    "ConcatFusion",
    "ConvNormAct",
    "MaskRefiner",
    "MTLBlock",
    "MTLEncoder",
    "RegressorHead",
    "ResidualBlock",
    "SoftArgmax",
    "Stem",
    "TaskAttention",
    "TaskDecoder",
]
