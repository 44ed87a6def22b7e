"""`SoftArgmax`: differentiable heat-map peak locations (paper Eq. 1)."""

from __future__ import annotations

import keras
from keras import ops


def soft_argmax_2d(heatmaps, scale: float = 1.0, offset: float = 0.0, eps: float = 1e-6):
    """The weighted mean location of each heat-map (paper Eq. 1).

    `x_k = sum_{h,w} H'_k(h, w) * w / sum_{h,w} H'_k(h, w)` (and `y_k` with `h`), where
    `H' = max(H, 0) + eps`: Eq. 1 assumes non-negative maps, so the negative
    responses of a linear output are clipped, and the tiny uniform `eps` makes an
    all-non-positive map give the map centre instead of 0/0. The location in
    heat-map pixels (pixel `(h, w)` at `(w, h)`) is then mapped to
    `location * scale + offset`. Computed in float32.

    Args:
        heatmaps: `[B, H, W, K]`.
        scale: multiplier from heat-map pixels to the output unit.
        offset: added after scaling.
        eps: the uniform floor added to every pixel.

    Returns:
        `[B, K, 2]` (x, y).
    """
    heatmaps = ops.cast(heatmaps, "float32")
    _, h, w, _ = ops.shape(heatmaps)
    weights = ops.relu(heatmaps) + eps  # [B, H, W, K]
    total = ops.sum(weights, axis=(1, 2))  # [B, K]
    xs = ops.cast(ops.arange(w), "float32")  # [W]
    ys = ops.cast(ops.arange(h), "float32")  # [H]
    # x[b, k] = sum_w (sum_h weights[b, h, w, k]) * xs[w]
    x = ops.einsum("bwk,w->bk", ops.sum(weights, axis=1), xs) / total
    # y[b, k] = sum_h (sum_w weights[b, h, w, k]) * ys[h]
    y = ops.einsum("bhk,h->bk", ops.sum(weights, axis=2), ys) / total
    return ops.stack([x, y], axis=-1) * scale + offset  # [B, K, 2]


@keras.saving.register_keras_serializable(package="hiu_tf")
class SoftArgmax(keras.layers.Layer):
    """Keras layer around `soft_argmax_2d`: `[B, H, W, K]` -> `[B, K, 2]` (x, y), float32.

    Args:
        scale: multiplier from heat-map pixels to the output unit (e.g. the stride 4
            to reach input pixels).
        offset: added after scaling (the pixel-centre convention's shift).
        eps: uniform floor added to the clipped heat-maps.
        **kwargs: base layer arguments.
    """

    def __init__(self, scale: float = 1.0, offset: float = 0.0, eps: float = 1e-6, **kwargs):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not eps > 0:
            raise ValueError(f"`eps` must be > 0. Received: eps={eps!r}")
        self.scale = float(scale)
        self.offset = float(offset)
        self.eps = float(eps)

    def call(self, heatmaps):
        return soft_argmax_2d(heatmaps, self.scale, self.offset, self.eps)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], 2)

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset, eps=self.eps)
        return config
