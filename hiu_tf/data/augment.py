"""Data augmentation of sample dicts in TensorFlow, with every label kept consistent.

Geometric augmentation is one similarity transform of the crop about its
centre c = (S/2, S/2): `p' = c + s R(a) (p - c) + t` (pixel convention of
`mano_tf.camera`), applied to

* the image and the mask: one `tf.raw_ops.ImageProjectiveTransformV3` call
  (bilinear; the mask is re-thresholded at 0.5; outside the crop is black /
  background);
* `keypoints_px`: `p' = A p`;
* the 3D labels: an in-plane rotation of the image is a rotation of the camera
  about its optical axis, so `joints_cam' = Rz(a) joints_cam` and the global
  MANO orientation is left-multiplied by `Rz(a)`; scale and translation are
  changes of the intrinsics only. With `K' = A K Rz(a)^T` the new joints project
  exactly onto the new keypoints (for any K). Note that K' generally has its
  principal point away from the crop centre (translation, or a K that was not
  centred), so consumers must use the sample's K rather than assume the
  paper's centred Q.

Colour augmentation (brightness, contrast, saturation, hue, Gaussian blur,
Gaussian noise) touches the image only.

Randomness is stateless: `augment_sample(sample, seed)` with a `[2]` int seed
gives the same output for the same seed, in eager or graph mode — the pipeline
derives one seed per element from the global seed and the element index.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping

import tensorflow as tf

from mano_tf import camera, rotations

_NUM_SEEDS = 12


@dataclasses.dataclass(frozen=True)
class AugmentConfig:
    """Ranges of the random augmentations (0 switches one off).

    Attributes:
        rotation_deg: in-plane rotation, uniform in [-r, r] degrees.
        scale_min: smallest zoom factor (log-uniform between min and max).
        scale_max: largest zoom factor.
        translate: shift, uniform in [-t, t] x S per axis.
        brightness: additive brightness delta, uniform in [-b, b].
        contrast: contrast factor uniform in [1 - c, 1 + c].
        saturation: saturation factor uniform in [1 - s, 1 + s].
        hue: hue delta, uniform in [-h, h] (fraction of the colour circle).
        blur_prob: probability of a Gaussian blur.
        blur_sigma_max: blur standard deviation, uniform in [0.3, max] pixels.
        noise_std_max: Gaussian pixel noise, std uniform in [0, max].
    """

    rotation_deg: float = 30.0
    scale_min: float = 0.85
    scale_max: float = 1.2
    translate: float = 0.08
    brightness: float = 0.15
    contrast: float = 0.3
    saturation: float = 0.3
    hue: float = 0.04
    blur_prob: float = 0.15
    blur_sigma_max: float = 1.5
    noise_std_max: float = 0.02

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise ValueError(f"{f.name} must be a number. Received: {f.name}={value!r}")
            if not math.isfinite(value) or value < 0:
                raise ValueError(f"{f.name} must be >= 0. Received: {f.name}={value!r}")
        if not 0 < self.scale_min <= self.scale_max:
            raise ValueError(
                "scale_min must be > 0 and <= scale_max. Received: "
                f"scale_min={self.scale_min}, scale_max={self.scale_max}"
            )
        if self.blur_prob > 1:
            raise ValueError(f"blur_prob must be in [0, 1]. Received: blur_prob={self.blur_prob}")
        if self.hue > 0.5:
            raise ValueError(f"hue must be in [0, 0.5]. Received: hue={self.hue}")
        if self.contrast >= 1 or self.saturation >= 1:
            raise ValueError(
                "contrast and saturation must be < 1. Received: "
                f"contrast={self.contrast}, saturation={self.saturation}"
            )


def similarity_matrix(angle, scale, shift, size) -> tf.Tensor:
    """`[3, 3]` pixel transform `p' = c + scale R(angle) (p - c) + shift`, c = (S/2, S/2).

    Args:
        angle: scalar, radians (positive turns +x towards +y, i.e. clockwise on screen).
        scale: scalar zoom factor.
        shift: `[2]` pixels.
        size: crop side S.
    """
    angle = tf.cast(angle, tf.float32)
    scale = tf.cast(scale, tf.float32)
    shift = tf.cast(shift, tf.float32)
    c = tf.cast(size, tf.float32) / 2.0
    cos, sin = scale * tf.cos(angle), scale * tf.sin(angle)
    tx = c + shift[0] - (cos * c - sin * c)
    ty = c + shift[1] - (sin * c + cos * c)
    zero, one = tf.zeros_like(cos), tf.ones_like(cos)
    return tf.stack(
        [tf.stack([cos, -sin, tx]), tf.stack([sin, cos, ty]), tf.stack([zero, zero, one])]
    )


def _rotation_z(angle) -> tf.Tensor:
    """`[3, 3]` rotation about the camera z axis, matching the pixel rotation."""
    cos, sin = tf.cos(angle), tf.sin(angle)
    zero, one = tf.zeros_like(cos), tf.ones_like(cos)
    return tf.stack(
        [tf.stack([cos, -sin, zero]), tf.stack([sin, cos, zero]), tf.stack([zero, zero, one])]
    )


def _warp(images: tf.Tensor, matrix: tf.Tensor, size: int) -> tf.Tensor:
    """Warps `[H, W, C]` images by the pixel transform `matrix` (output = matrix . input)."""
    # ImageProjectiveTransformV3 maps *output* index coordinates (pixel centres on
    # integers) to input ones; in our convention centres are at +0.5.
    shift = tf.constant([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5], [0.0, 0.0, 1.0]])
    unshift = tf.constant([[1.0, 0.0, -0.5], [0.0, 1.0, -0.5], [0.0, 0.0, 1.0]])
    inverse = unshift @ tf.linalg.inv(matrix) @ shift
    inverse = inverse / inverse[2, 2]
    transform = tf.reshape(inverse, [9])[:8][tf.newaxis, :]
    out = tf.raw_ops.ImageProjectiveTransformV3(
        images=images[tf.newaxis],
        transforms=transform,
        output_shape=tf.constant([size, size], tf.int32),
        fill_value=tf.constant(0.0, images.dtype),
        interpolation="BILINEAR",
        fill_mode="CONSTANT",
    )
    return out[0]


def transform_sample(sample: Mapping[str, tf.Tensor], angle, scale, shift) -> dict:
    """Applies one similarity transform (see the module docstring) to a sample dict.

    Args:
        sample: unbatched sample dict of tensors with a static crop side.
        angle: scalar radians; scale: scalar; shift: `[2]` pixels.

    Returns:
        A new sample dict.
    """
    size = sample["image"].shape[0]
    if size is None:
        raise ValueError(f"image must have a static shape. Received: {sample['image'].shape}")
    angle = tf.cast(angle, tf.float32)
    a = similarity_matrix(angle, scale, shift, size)  # [3, 3]
    rz = _rotation_z(angle)  # [3, 3]
    out = dict(sample)
    stacked = tf.concat([sample["image"], sample["mask"][..., tf.newaxis]], axis=-1)
    warped = _warp(stacked, a, size)
    out["image"] = tf.clip_by_value(warped[..., :3], 0.0, 1.0)
    out["mask"] = tf.cast(warped[..., 3] >= 0.5, tf.float32)
    # [21, 2] = A[:2, :2] p + A[:2, 2]; unlabelled keypoints stay zeros.
    keypoints = tf.linalg.matvec(a[:2, :2], sample["keypoints_px"]) + a[:2, 2]
    out["keypoints_px"] = keypoints * sample["keypoint_visible"][:, tf.newaxis]
    out["joints_cam"] = tf.linalg.matvec(rz, sample["joints_cam"])  # [21, 3]
    out["intrinsics"] = a @ sample["intrinsics"] @ tf.transpose(rz)
    old_global = sample["mano_pose"][:3]
    new_global = tf.cond(
        sample["has_mano"] > 0,
        lambda: rotations.matrix_to_axis_angle(rz @ rotations.axis_angle_to_matrix(old_global)),
        lambda: old_global,
    )
    out["mano_pose"] = tf.concat([new_global, sample["mano_pose"][3:]], axis=0)
    return out


def _gaussian_blur(image: tf.Tensor, sigma: tf.Tensor, radius: int = 3) -> tf.Tensor:
    """Separable Gaussian blur of an `[H, W, 3]` image (reflect padding)."""
    x = tf.range(-radius, radius + 1, dtype=tf.float32)
    kernel = tf.exp(-0.5 * tf.square(x / sigma))
    kernel = kernel / tf.reduce_sum(kernel)
    channels = image.shape[-1]
    kx = tf.tile(tf.reshape(kernel, [1, -1, 1, 1]), [1, 1, channels, 1])
    ky = tf.tile(tf.reshape(kernel, [-1, 1, 1, 1]), [1, 1, channels, 1])
    padded = tf.pad(
        image[tf.newaxis], [[0, 0], [radius, radius], [radius, radius], [0, 0]], "REFLECT"
    )
    out = tf.nn.depthwise_conv2d(padded, kx, [1, 1, 1, 1], "VALID")
    out = tf.nn.depthwise_conv2d(out, ky, [1, 1, 1, 1], "VALID")
    return out[0]


# RGB <-> YIQ (NTSC): hue is a rotation of (I, Q) about the luma axis Y.
_RGB_TO_YIQ = (
    (0.299, 0.587, 0.114),
    (0.595716, -0.274453, -0.321263),
    (0.211456, -0.522591, 0.311135),
)
_LUMA = (0.299, 0.587, 0.114)


def color_matrix(saturation, hue) -> tf.Tensor:
    """`[3, 3]` linear RGB map: saturation about the luma, then a hue rotation (YIQ).

    Args:
        saturation: scalar factor (1 = unchanged, 0 = grey).
        hue: scalar, fraction of the colour circle (0.5 = half a turn).
    """
    to_yiq = tf.constant(_RGB_TO_YIQ, tf.float32)
    angle = 2.0 * math.pi * tf.cast(hue, tf.float32)
    cos, sin = tf.cos(angle), tf.sin(angle)
    one, zero = tf.ones_like(cos), tf.zeros_like(cos)
    rotate = tf.stack(
        [tf.stack([one, zero, zero]), tf.stack([zero, cos, -sin]), tf.stack([zero, sin, cos])]
    )
    hue_rgb = tf.linalg.inv(to_yiq) @ rotate @ to_yiq
    luma = tf.constant(_LUMA, tf.float32)[tf.newaxis, :]  # [1, 3]
    s = tf.cast(saturation, tf.float32)
    sat_rgb = s * tf.eye(3) + (1.0 - s) * tf.ones([3, 1]) @ luma  # grey + s (x - grey)
    return hue_rgb @ sat_rgb


def color_augment(image: tf.Tensor, seeds: tf.Tensor, config: AugmentConfig) -> tf.Tensor:
    """Colour jitter, blur and noise of an `[H, W, 3]` image in [0, 1]; `seeds` is `[>=7, 2]`.

    Brightness (additive), contrast (about the per-channel mean, like
    `tf.image.adjust_contrast`), saturation (about the luma) and hue (a
    rotation in YIQ) are one affine colour map `x' = M x + b`, applied in a
    single pass. Then, at random, a Gaussian blur (probability `blur_prob`)
    and uniform pixel noise (half of the images) with standard deviation up to
    `noise_std_max`.
    """
    u = tf.random.stateless_uniform([8], seeds[0], -1.0, 1.0)
    contrast = 1.0 + u[1] * config.contrast
    matrix = contrast * color_matrix(1.0 + u[2] * config.saturation, u[3] * config.hue)
    mean = tf.reduce_mean(image, axis=[0, 1])  # [3]
    # x' = M (c (x - m) + m + delta) / c ... written as M' x + b with M' = c M0:
    # contrast about the channel mean, then saturation/hue, brightness added last.
    offset = (1.0 - contrast) * tf.linalg.matvec(matrix / contrast, mean) + u[0] * config.brightness
    image = tf.einsum("hwc,kc->hwk", image, matrix) + offset
    if config.blur_prob > 0 and config.blur_sigma_max > 0:
        sigma = 0.3 + (u[5] + 1.0) * 0.5 * max(config.blur_sigma_max - 0.3, 0.0)
        image = tf.cond(
            (u[4] + 1.0) * 0.5 < config.blur_prob,
            lambda: _gaussian_blur(image, sigma),
            lambda: image,
        )
    if config.noise_std_max > 0:
        std = (u[7] + 1.0) * 0.5 * config.noise_std_max

        def _noise():
            # Uniform noise in [-sqrt(3) std, sqrt(3) std] has standard deviation std.
            noise = tf.random.stateless_uniform(tf.shape(image), seeds[6], -1.0, 1.0)
            return image + (std * math.sqrt(3.0)) * noise

        image = tf.cond(u[6] < 0.0, _noise, lambda: image)
    return tf.clip_by_value(image, 0.0, 1.0)


def augment_sample(
    sample: Mapping[str, tf.Tensor], seed, config: AugmentConfig | None = None
) -> dict[str, tf.Tensor]:
    """Random geometric and colour augmentation of one sample dict (stateless).

    Args:
        sample: unbatched sample dict of tensors (`hiu_tf.data.schema` keys).
        seed: `[2]` int32/int64 seed; the same seed gives the same output.
        config: the ranges; None uses `AugmentConfig()`.

    Returns:
        A new sample dict with the same keys, shapes and dtypes.
    """
    config = config or AugmentConfig()
    seed = tf.cast(tf.convert_to_tensor(seed), tf.int64)
    seeds = tf.random.experimental.stateless_split(seed, _NUM_SEEDS)  # [N, 2]
    size = sample["image"].shape[0]
    geo = tf.random.stateless_uniform([4], seeds[7], -1.0, 1.0)
    angle = geo[0] * math.radians(config.rotation_deg)
    log_lo, log_hi = math.log(config.scale_min), math.log(config.scale_max)
    scale = tf.exp(log_lo + (geo[1] + 1.0) * 0.5 * (log_hi - log_lo))
    shift = geo[2:] * config.translate * size
    out = transform_sample(sample, angle, scale, shift)
    out["image"] = color_augment(out["image"], seeds, config)
    return out


def resize_sample(sample: Mapping[str, tf.Tensor], size: int) -> dict[str, tf.Tensor]:
    """Resizes a sample dict's crop to `size` (area when shrinking, bilinear when enlarging).

    Keypoints scale with the image and K is updated with
    `mano_tf.camera.resize_intrinsics`; the 3D labels are unchanged.
    """
    old = sample["image"].shape[0]
    if old is None:
        raise ValueError(f"image must have a static shape. Received: {sample['image'].shape}")
    if old == size:
        return dict(sample)
    factor = size / old
    method = "area" if size < old else "bilinear"
    out = dict(sample)
    out["image"] = tf.clip_by_value(tf.image.resize(sample["image"], [size, size], method), 0, 1)
    mask = tf.image.resize(sample["mask"][..., tf.newaxis], [size, size], method)[..., 0]
    out["mask"] = tf.cast(mask >= 0.5, tf.float32)
    out["keypoints_px"] = sample["keypoints_px"] * factor
    out["intrinsics"] = camera.resize_intrinsics(sample["intrinsics"], factor, factor)
    return out
