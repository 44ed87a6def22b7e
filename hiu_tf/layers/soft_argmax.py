"""`SoftArgmax`: keypoint locations from heat-maps, differentiable in the map values.

Two decoders, both named in the paper (Sec. 3.1, "one may derive the k-th key
point with arg max, or in a differentiable form, Eq. 1"):

* "peak" (`peak_2d`): the arg max of each map, refined to sub-pixel precision
  by fitting a Gaussian to the peak and its four neighbours (a parabola through
  the log values along x and along y). Exact on the Gaussian targets of
  `hiu_tf.targets.gaussian_heatmaps`, and blind to anything away from the peak.
* "mean" (`soft_argmax_2d`): Eq. 1, the weighted mean location over the whole
  map. Every pixel pulls on the result, so a broad or noisy map (a model early
  in training, an int8 trunk) is pulled towards the map centre: measured on the
  demo model after 8 minutes of training, 2D PCK@8px 0.21 with "mean" against
  0.35 with "peak" on the same heat-maps (0.14 against 0.03 untrained: the centre
  bias flatters an untrained model).

The model uses "peak" by default (`ModelConfig.heatmap_decoder`).
"""

from __future__ import annotations

import keras
import tensorflow as tf
from keras import ops

from hiu_tf.config import HEATMAP_DECODERS
from hiu_tf.layers._common import check_choice


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


def peak_2d(heatmaps, scale: float = 1.0, offset: float = 0.0, floor: float = 1e-6):
    """The arg max of each heat-map refined by a Gaussian fit to the peak (sub-pixel).

    With `(i, j)` the arg max (row, column) of map k and `l, c, r` the logs of
    `max(H, floor)` at columns `m - 1, m, m + 1` of row i, `m = clip(j, 1, W - 2)`,
    the x location is `m + 0.5 (l - r) / (l - 2c + r)`, the vertex of the
    parabola through the three points: exact for a Gaussian, whose log is a
    parabola, also when the arg max is on the border (m != j). y likewise along
    column j. The result is kept within half a pixel of the arg max (the pixel
    nearest to the peak); where the logs do not bend down (a plateau, or all
    below `floor`) the arg max stays as it is. The location in heat-map pixels (pixel `(h, w)` at `(w, h)`) is
    then mapped to `location * scale + offset`. Computed in float32, with
    builtin TFLite ops only (ARG_MAX, comparisons, LOG, arithmetic).

    Differentiable in the values at the peak and its neighbours (not in the arg
    max's position). Maps narrower than 3 pixels give the arg max.

    Args:
        heatmaps: `[B, H, W, K]` with static H, W and K.
        scale: multiplier from heat-map pixels to the output unit.
        offset: added after scaling.
        floor: values below it are raised to it before the logs.

    Returns:
        `[B, K, 2]` (x, y).
    """
    heatmaps = ops.cast(heatmaps, "float32")
    _, h, w, k = heatmaps.shape
    if h is None or w is None or k is None:
        raise ValueError(f"heatmaps need static H, W and K. Received: shape={heatmaps.shape}")
    # tf.argmax, not keras.ops.argmax: the latter adds a BitwiseAnd (its tie rule for
    # -0.0) that TFLite has no builtin for.
    index = tf.argmax(ops.reshape(heatmaps, (-1, h * w, k)), axis=1, output_type=tf.int32)
    index = ops.cast(index, "float32")
    row = ops.floor((index + 0.5) / w)  # [B, K]; exact for the small integers here
    col = index - row * w
    logs = ops.log(ops.maximum(heatmaps, floor))

    def one_hot(position, size: int, axis: int):  # [B, H, 1, K] (axis 1) or [B, 1, W, K]
        grid = ops.cast(ops.arange(size), "float32")[None, :, None]
        hot = ops.cast(ops.equal(grid, position[:, None, :]), "float32")
        return ops.expand_dims(hot, 2 if axis == 1 else 1)

    def refine(peak, other, size: int, axis: int):
        """`peak` (its index along `axis`) refined from the logs along `axis`."""
        if size < 3:
            return peak
        # The parabola through three neighbours; at a border, the three innermost ones
        # (a Gaussian's log is a parabola, so any three points find its vertex).
        middle = ops.clip(peak, 1.0, size - 2.0)
        across = one_hot(other, logs.shape[3 - axis], 3 - axis)
        before, centre, after = (
            ops.sum(logs * across * one_hot(middle + d, size, axis), axis=(1, 2))
            for d in (-1.0, 0.0, 1.0)
        )
        curvature = before - 2.0 * centre + after  # < 0 where the logs bend down
        peaked = curvature < -1e-6
        vertex = middle + 0.5 * (before - after) / ops.where(peaked, curvature, -1.0)
        # The arg max is the pixel nearest to the peak: stay within half a pixel of it.
        return ops.where(peaked, ops.clip(vertex, peak - 0.5, peak + 0.5), peak)

    x = refine(col, row, w, 2)
    y = refine(row, col, h, 1)
    return ops.stack([x, y], axis=-1) * scale + offset  # [B, K, 2]


@keras.saving.register_keras_serializable(package="hiu_tf")
class SoftArgmax(keras.layers.Layer):
    """Keypoints from heat-maps: `[B, H, W, K]` -> `[B, K, 2]` (x, y), float32.

    Args:
        mode: "mean" (`soft_argmax_2d`, paper Eq. 1) or "peak" (`peak_2d`: the arg
            max refined by a Gaussian fit); see the module docstring.
        scale: multiplier from heat-map pixels to the output unit (e.g. the stride 4
            to reach input pixels).
        offset: added after scaling (the pixel-centre convention's shift).
        eps: "mean": the uniform floor added to the clipped heat-maps; "peak": the
            floor below which values are raised before their logs.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        scale: float = 1.0,
        offset: float = 0.0,
        eps: float = 1e-6,
        mode: str = "mean",
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not eps > 0:
            raise ValueError(f"`eps` must be > 0. Received: eps={eps!r}")
        check_choice("mode", mode, HEATMAP_DECODERS)
        self.mode = mode
        self.scale = float(scale)
        self.offset = float(offset)
        self.eps = float(eps)

    def call(self, heatmaps):
        if self.mode == "peak":
            return peak_2d(heatmaps, self.scale, self.offset, self.eps)
        return soft_argmax_2d(heatmaps, self.scale, self.offset, self.eps)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], 2)

    def get_config(self):
        config = super().get_config()
        config.update(scale=self.scale, offset=self.offset, eps=self.eps, mode=self.mode)
        return config
