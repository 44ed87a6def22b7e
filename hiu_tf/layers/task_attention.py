"""`TaskAttention`: the paper's task attention module (TAM, Fig. 3)."""

from __future__ import annotations

import keras
from keras import ops

from hiu_tf.layers._common import shape_list
from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="hiu_tf")
class TaskAttention(keras.layers.Layer):
    """Fuses N task feature maps into one by per-channel attention across tasks.

    Following Fig. 3 of the paper (an SKNet-style selection where the first
    element-wise sum is replaced by pooling and concatenation):

    1. global average pooling of each task's features: `s_n = GAP(F_n)`   `[B, C]`
    2. concatenation: `z = [s_1, ..., s_N]`                                `[B, N*C]`
    3. fully-connected layers: `a = FC2(ReLU(FC1(z)))`, FC1 has
       `max(1, N*C // reduction)` units, FC2 has `N*C`                      `[B, N, C]`
    4. softmax across the N tasks, separately for every channel            `[B, N, C]`
    5. weighted sum: `out = sum_n a[:, n] * F_n` (broadcast over H, W)      `[B, H, W, C]`

    With N = 1 the softmax is 1 and the module is the identity (the model does
    not create one for a single task). The attention logits and softmax are
    computed in float32 under mixed precision.

    Shapes: a list of N tensors `[B, H, W, C]` -> `[B, H, W, C]`.

    Args:
        reduction: reduction ratio r of the hidden FC layer.
        **kwargs: base layer arguments.
    """

    def __init__(self, reduction: int = 4, **kwargs):
        super().__init__(**kwargs)
        check_int(reduction, "reduction")
        self.reduction = reduction
        self.fc1 = None
        self.fc2 = None

    def build(self, input_shape):
        shapes = shape_list(input_shape, "TaskAttention", "task feature maps")
        if any(len(s) != 4 for s in shapes) or len({s[1:] for s in shapes}) != 1:
            raise ValueError(
                "TaskAttention expects task features of one shape [B, H, W, C]. "
                f"Received: shapes={shapes}"
            )
        self.num_tasks = len(shapes)
        self.channels = shapes[0][-1]
        total = self.num_tasks * self.channels
        self.fc1 = keras.layers.Dense(
            max(1, total // self.reduction), activation="relu", name="fc1", dtype="float32"
        )
        self.fc2 = keras.layers.Dense(total, name="fc2", dtype="float32")
        self.fc1.build((None, total))
        self.fc2.build((None, max(1, total // self.reduction)))
        self.built = True

    def call(self, inputs):
        pooled = [ops.cast(ops.mean(f, axis=(1, 2)), "float32") for f in inputs]  # N x [B, C]
        z = ops.concatenate(pooled, axis=-1)  # [B, N*C]
        logits = self.fc2(self.fc1(z))  # [B, N*C]
        logits = ops.reshape(logits, (-1, self.num_tasks, self.channels))  # [B, N, C]
        weights = ops.softmax(logits, axis=1)  # softmax across tasks, per channel
        weights = ops.cast(weights, inputs[0].dtype)
        out = inputs[0] * weights[:, None, None, 0, :]
        for n in range(1, self.num_tasks):
            out = out + inputs[n] * weights[:, None, None, n, :]  # [B, H, W, C]
        return out

    def compute_output_shape(self, input_shape):
        return tuple(list(input_shape)[0])

    def get_config(self):
        config = super().get_config()
        config.update(reduction=self.reduction)
        return config
