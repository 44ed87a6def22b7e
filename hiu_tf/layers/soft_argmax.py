"""`SoftArgmax`: keypoint locations from heat-maps, differentiable in the map values.

Three decoders. Two are named in the paper (Sec. 3.1, "one may derive the k-th
key point with arg max, or in a differentiable form, Eq. 1"); the third is the
arg max as DARK reads it:

* "dark" (`dark_2d`, the default): DARK's decoding (Zhang et al., "Distribution-
  Aware Coordinate Representation for Human Pose Estimation", CVPR 2020): the
  map is first blurred by a Gaussian of `sigma` heat-map pixels, then the arg
  max of the blurred map is refined by one Newton step on its log, with the
  full 2 x 2 Hessian (a 2D Gaussian fit to the peak and its 3 x 3
  neighbourhood). Exact on Gaussian targets away from the borders (a blurred
  Gaussian is a Gaussian). The blur is what makes it robust: it rounds the
  broad, flat-topped or ragged peaks of a briefly trained model and averages
  out the small errors of an int8 trunk, so the arg max no longer jumps between
  the pixels of a plateau (`benchmarks/bench_decoders.py` compares the decoders
  on int8 and Keras heat-maps; its figures are in docs/export.md).
* "peak" (`peak_2d`): the arg max of each map, refined to sub-pixel precision
  by fitting a Gaussian to the peak and its four neighbours (a parabola through
  the log values along x and along y). Exact on the Gaussian targets of
  `hiu_tf.targets.gaussian_heatmaps`, and blind to anything away from the peak;
  but on a plateau the arg max, and so the result, can move by whole pixels
  with tiny changes of the map.
* "mean" (`soft_argmax_2d`): Eq. 1, the weighted mean location over the whole
  map. Every pixel pulls on the result, so a broad or noisy map (a model early
  in training, an int8 trunk) is pulled towards the map centre, which also
  flatters an untrained model (docs/design.md gives the demo model's figures).

The model uses "dark" by default (`ModelConfig.heatmap_decoder`, with
`ModelConfig.decoder_sigma`).
"""

from __future__ import annotations

import keras
import numpy as np
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
    builtin TFLite ops only (TRANSPOSE, ARG_MAX, GATHER, comparisons, LOG,
    arithmetic).

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
    _, h, w, _ = _static_shape(heatmaps)
    maps = _channels_first(heatmaps)
    row, col = _argmax_2d(maps)  # int32 [B, K]

    def refine(peak, at, size: int, along_x: bool):
        """`peak` (its index along x or y) refined from the logs along that axis."""
        if size < 3:
            return ops.cast(peak, "float32")
        # The parabola through three neighbours; at a border, the three innermost ones
        # (a Gaussian's log is a parabola, so any three points find its vertex).
        middle = ops.clip(peak, 1, size - 2)
        points = [(at, middle + d) if along_x else (middle + d, at) for d in (-1, 0, 1)]
        logs = ops.log(ops.maximum(_values_at(maps, points), floor))  # [B, 3, K]
        before, centre, after = logs[:, 0], logs[:, 1], logs[:, 2]
        curvature = before - 2.0 * centre + after  # < 0 where the logs bend down
        peaked = curvature < -1e-6
        middle = ops.cast(middle, "float32")
        vertex = middle + 0.5 * (before - after) / ops.where(peaked, curvature, -1.0)
        # The arg max is the pixel nearest to the peak: stay within half a pixel of it.
        peak = ops.cast(peak, "float32")
        return ops.where(peaked, ops.clip(vertex, peak - 0.5, peak + 0.5), peak)

    x = refine(col, row, w, True)
    y = refine(row, col, h, False)
    return ops.stack([x, y], axis=-1) * scale + offset  # [B, K, 2]


def gaussian_kernel_1d(sigma: float) -> np.ndarray:
    """The normalised 1D Gaussian of `dark_2d`'s blur: `2 * ceil(3 sigma) + 1` taps."""
    radius = int(np.ceil(3.0 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    return (taps / taps.sum()).astype(np.float32)


def gaussian_blur(heatmaps, sigma: float):
    """Each channel of `[B, H, W, K]` blurred by a Gaussian of `sigma` pixels (zeros outside).

    `sigma` 0 returns the maps unchanged. Computed as `_blur_channels_first`.
    """
    if sigma == 0:
        return heatmaps
    return ops.transpose(_blur_channels_first(heatmaps, sigma), (0, 2, 3, 1))


def _blur_channels_first(heatmaps, sigma: float):
    """`gaussian_blur` of `[B, H, W, K]` maps, returned as `[B, K, H, W]` (`sigma` > 0).

    Two 1D depthwise convolutions with `gaussian_kernel_1d(sigma)` (DEPTHWISE_CONV_2D in
    TFLite), each along the outer spatial axis of a reshaped tensor whose channels are
    the rest of the map: along y on `[B, H, 1, W * K]`, then, transposed, along x on
    `[B, W, 1, H * K]`. Wide channels keep XNNPACK's depthwise kernel busy, which the 21
    channels of `[B, H, W, K]` do not (the blur is slower there: docs/results.md).
    """
    taps = gaussian_kernel_1d(sigma)
    _, h, w, k = heatmaps.shape

    def along_outer(x, n: int, rest: int):  # [B, n, rest] blurred along n
        kernel = np.tile(taps[:, None, None, None], (1, 1, rest, 1))  # [T, 1, rest, 1]
        x = tf.nn.depthwise_conv2d(ops.reshape(x, (-1, n, 1, rest)), kernel, [1] * 4, "SAME")
        return ops.reshape(x, (-1, n, rest))

    x = ops.reshape(along_outer(heatmaps, h, w * k), (-1, h, w, k))
    x = ops.reshape(along_outer(ops.transpose(x, (0, 2, 1, 3)), w, h * k), (-1, w, h, k))
    return ops.transpose(x, (0, 3, 2, 1))  # [B, K, H, W]


def dark_2d(
    heatmaps, scale: float = 1.0, offset: float = 0.0, sigma: float = 2.0, floor: float = 1e-6
):
    """DARK's decoding: blur, arg max, one Newton step on the log map (sub-pixel).

    With `B` the maps blurred by a Gaussian of `sigma` pixels (`gaussian_blur`;
    zeros outside the map), `(i, j)` the arg max of `B` and `L = log(max(B,
    floor))`: at `(r, c) = (clip(i, 1, H - 2), clip(j, 1, W - 2))` the gradient
    `g` and Hessian `D` of `L` by central differences over the 3 x 3
    neighbourhood, and the location `(c, r) - D^-1 g`, the vertex of the
    quadratic through them: exact for a Gaussian (of any covariance), whose log
    is quadratic. The result is kept within half a pixel of the arg max along
    each axis (the pixel nearest to the peak); where `L` does not bend down in
    every direction (`D` not negative definite: a plateau, a saddle, or all
    below `floor`) the arg max stays as it is. The location in heat-map pixels
    (pixel `(h, w)` at `(w, h)`) is then mapped to `location * scale + offset`.
    Computed in float32, with builtin TFLite ops only (DEPTHWISE_CONV_2D,
    TRANSPOSE, ARG_MAX, GATHER, comparisons, LOG, arithmetic).

    Differentiable in the blurred values of the 3 x 3 neighbourhood (so in the
    map values within about `3 sigma + 1` pixels of the peak), not in the arg
    max's position. Maps narrower than 3 pixels give the arg max.

    Args:
        heatmaps: `[B, H, W, K]` with static H, W and K.
        scale: multiplier from heat-map pixels to the output unit.
        offset: added after scaling.
        sigma: standard deviation of the blur, heat-map pixels (DARK uses that of the
            training heat-maps); 0: no blur.
        floor: values below it are raised to it before the logs.

    Returns:
        `[B, K, 2]` (x, y).
    """
    if not sigma >= 0:
        raise ValueError(f"`sigma` must be >= 0. Received: sigma={sigma!r}")
    heatmaps = ops.cast(heatmaps, "float32")
    _, h, w, _ = _static_shape(heatmaps)
    maps = _blur_channels_first(heatmaps, sigma) if sigma else _channels_first(heatmaps)
    row, col = _argmax_2d(maps)  # int32 [B, K]
    if h < 3 or w < 3:
        return ops.cast(ops.stack([col, row], axis=-1), "float32") * scale + offset
    r, c = ops.clip(row, 1, h - 2), ops.clip(col, 1, w - 2)
    # p[dy][dx] = L[r + dy - 1, c + dx - 1]: the 3 x 3 neighbourhood, gathered.
    points = [(r + dy, c + dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
    logs = ops.log(ops.maximum(_values_at(maps, points), floor))  # [B, 9, K]
    p = [[logs[:, 3 * dy + dx] for dx in range(3)] for dy in range(3)]  # [B, K] each
    gx = 0.5 * (p[1][2] - p[1][0])
    gy = 0.5 * (p[2][1] - p[0][1])
    dxx = p[1][2] - 2.0 * p[1][1] + p[1][0]
    dyy = p[2][1] - 2.0 * p[1][1] + p[0][1]
    dxy = 0.25 * (p[2][2] - p[2][0] - p[0][2] + p[0][0])
    det = dxx * dyy - dxy * dxy
    peaked = (dxx < -1e-6) & (det > 1e-9)  # negative definite
    safe = ops.where(peaked, det, 1.0)
    row, col, r, c = (ops.cast(v, "float32") for v in (row, col, r, c))
    x = c - (dyy * gx - dxy * gy) / safe
    y = r - (dxx * gy - dxy * gx) / safe
    # The arg max is the pixel nearest to the peak: stay within half a pixel of it.
    x = ops.where(peaked, ops.clip(x, col - 0.5, col + 0.5), col)
    y = ops.where(peaked, ops.clip(y, row - 0.5, row + 0.5), row)
    return ops.stack([x, y], axis=-1) * scale + offset  # [B, K, 2]


def _static_shape(heatmaps) -> tuple:
    _, h, w, k = heatmaps.shape
    if h is None or w is None or k is None:
        raise ValueError(f"heatmaps need static H, W and K. Received: shape={heatmaps.shape}")
    return heatmaps.shape


def _channels_first(heatmaps):
    """`[B, H, W, K]` -> `[B, K, H, W]`."""
    return ops.transpose(heatmaps, (0, 3, 1, 2))


def _argmax_2d(maps):
    """(row, column) of the arg max of each map of `[B, K, H, W]`, int32 `[B, K]` each
    (the first in row-major order where values tie).

    Along the innermost axis: LiteRT's ARG_MAX over the middle axis of `[B, H * W, K]`
    is slower than the transpose and this (docs/export.md, "Latency", item 6).
    """
    _, k, h, w = maps.shape
    # tf.argmax, not keras.ops.argmax: the latter adds a BitwiseAnd (its tie rule for
    # -0.0) that TFLite has no builtin for.
    index = tf.argmax(ops.reshape(maps, (-1, k, h * w)), axis=2, output_type=tf.int32)
    row = index // w
    return row, index - row * w


def _values_at(maps, points):
    """The values of `[B, K, H, W]` maps at N points, each (row, column) int32 `[B, K]`
    inside the map (map k at its own point): `[B, N, K]`, one GATHER (differentiable
    in the values, as `tf.gather` is)."""
    _, k, h, w = maps.shape
    channel = ops.arange(k, dtype="int32")[None, :] * (h * w)  # [1, K]
    index = ops.stack([channel + row * w + col for row, col in points], axis=1)  # [B, N, K]
    flat = ops.reshape(maps, (-1, k * h * w))
    values = tf.gather(flat, ops.reshape(index, (-1, len(points) * k)), batch_dims=1)
    return ops.reshape(values, (-1, len(points), k))


@keras.saving.register_keras_serializable(package="hiu_tf")
class SoftArgmax(keras.layers.Layer):
    """Keypoints from heat-maps: `[B, H, W, K]` -> `[B, K, 2]` (x, y), float32.

    Args:
        mode: "mean" (`soft_argmax_2d`, paper Eq. 1), "peak" (`peak_2d`: the arg max
            refined by a Gaussian fit) or "dark" (`dark_2d`: blur, arg max, 2D
            Gaussian fit); see the module docstring.
        scale: multiplier from heat-map pixels to the output unit (e.g. the stride 4
            to reach input pixels).
        offset: added after scaling (the pixel-centre convention's shift).
        eps: "mean": the uniform floor added to the clipped heat-maps; "peak" and
            "dark": the floor below which values are raised before their logs.
        sigma: "dark": the blur's standard deviation in heat-map pixels (>= 0).
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        scale: float = 1.0,
        offset: float = 0.0,
        eps: float = 1e-6,
        mode: str = "mean",
        sigma: float = 2.0,
        **kwargs,
    ):
        kwargs.setdefault("dtype", "float32")
        super().__init__(**kwargs)
        if not eps > 0:
            raise ValueError(f"`eps` must be > 0. Received: eps={eps!r}")
        check_choice("mode", mode, HEATMAP_DECODERS)
        if not sigma >= 0:
            raise ValueError(f"`sigma` must be >= 0. Received: sigma={sigma!r}")
        self.mode = mode
        self.scale = float(scale)
        self.offset = float(offset)
        self.eps = float(eps)
        self.sigma = float(sigma)

    def call(self, heatmaps):
        if self.mode == "dark":
            return dark_2d(heatmaps, self.scale, self.offset, self.sigma, self.eps)
        if self.mode == "peak":
            return peak_2d(heatmaps, self.scale, self.offset, self.eps)
        return soft_argmax_2d(heatmaps, self.scale, self.offset, self.eps)

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[-1], 2)

    def get_config(self):
        config = super().get_config()
        config.update(
            scale=self.scale, offset=self.offset, eps=self.eps, mode=self.mode, sigma=self.sigma
        )
        return config
