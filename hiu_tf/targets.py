"""Training targets from the sample dict: Gaussian heat-maps, POF (paper Eq. 2), small masks.

TensorFlow ops without Python-side state, usable inside `tf.data` (graph mode)
and on batches: every function takes `[A1, ..., An, ...]` leading dimensions.

Geometry. Keypoints are in input-crop pixels with the convention of
`mano_tf.camera` (pixel `(i, j)` has its centre at `(j + 0.5, i + 0.5)`; the crop
spans `[0, S]`). A map of side `h` covers the crop with pixels of `S / h` input
pixels, so a keypoint `u` sits at `u h / S` in map pixels and map pixel `j` has its
centre at `j + 0.5` — i.e. at input pixel `(j + 0.5) S / h` (`4 j + 2` for
`S / h = 4`).

Channel order of the POF, `[..., h, h, 60]`: channels `3 b, 3 b + 1, 3 b + 2` belong
to bone `b` of `hiu_tf.keypoints.BONES` (parent -> child) and hold the x and y of
the unit 2D direction of the bone in the image and the z of its unit 3D direction
in the camera frame (z forward, so z > 0 points away from the camera). They are
non-zero only on the bone's pixels: map pixels whose centre is within
`half_width` map pixels of the segment between the projected joints.
"""

from __future__ import annotations

from collections.abc import Mapping

import tensorflow as tf

from hiu_tf.keypoints import BONE_CHILDREN, BONE_PARENTS, NUM_KEYPOINTS
from mano_tf.checks import check_int, check_last_dims, check_positive

NUM_BONES = len(BONE_PARENTS)
POF_CHANNELS = 3 * NUM_BONES
_EPS = 1e-8


def _float(value, name: str) -> tf.Tensor:
    value = tf.convert_to_tensor(value, name=name)
    return value if value.dtype == tf.float32 else tf.cast(value, tf.float32)


def _centres(size: int) -> tf.Tensor:
    """`[size]` map pixel centres `j + 0.5`."""
    return tf.range(size, dtype=tf.float32) + 0.5


def gaussian_heatmaps(
    keypoints_px,
    keypoint_visible,
    *,
    input_size: int,
    heatmap_size: int,
    sigma: float = 2.0,
) -> tf.Tensor:
    """Gaussian heat-maps `exp(-d^2 / (2 sigma^2))` around each keypoint (paper §3.1).

    Args:
        keypoints_px: `[A1, ..., An, K, 2]` keypoints in input-crop pixels.
        keypoint_visible: `[A1, ..., An, K]` 1 where the keypoint is labelled;
            the map of a keypoint with 0 is all zeros.
        input_size: side S of the input crop, pixels.
        heatmap_size: side h of the heat-maps.
        sigma: standard deviation in heat-map pixels.

    Returns:
        `[A1, ..., An, h, h, K]` float32 in [0, 1]; the peak is 1 when the keypoint
        falls on a pixel centre. Keypoints outside the crop give the tail of
        their Gaussian (or zeros).

    Raises:
        ValueError: bad static shapes or sizes (the message names the argument).
    """
    check_int(input_size, "input_size")
    check_int(heatmap_size, "heatmap_size")
    check_positive(sigma, "sigma")
    keypoints_px = _float(keypoints_px, "keypoints_px")
    keypoint_visible = _float(keypoint_visible, "keypoint_visible")
    check_last_dims(keypoints_px, "keypoints_px", (None, 2), "[..., K, 2]")
    points = keypoints_px * (heatmap_size / input_size)  # [..., K, 2] map pixels
    centres = _centres(heatmap_size)  # [h]
    scale = -0.5 / (sigma * sigma)
    gx = tf.exp(scale * tf.square(centres - points[..., 0:1]))  # [..., K, W]
    gy = tf.exp(scale * tf.square(centres - points[..., 1:2]))  # [..., K, H]
    gy = gy * keypoint_visible[..., tf.newaxis]
    # [..., H, W, K] = gy [..., K, H] (outer) gx [..., K, W]
    return tf.einsum("...kh,...kw->...hwk", gy, gx)


def _safe_unit(v: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
    """`(v / |v|, |v| > eps)` along the last axis; zero vectors give zeros."""
    norm2 = tf.reduce_sum(tf.square(v), axis=-1, keepdims=True)
    ok = norm2 > _EPS
    unit = tf.where(ok, v * tf.math.rsqrt(tf.maximum(norm2, _EPS)), tf.zeros_like(v))
    return unit, ok[..., 0]


def part_orientation_fields(
    keypoints_px,
    joints_cam,
    keypoint_visible,
    has_2d,
    has_3d,
    *,
    input_size: int,
    heatmap_size: int,
    half_width: float = 1.0,
) -> tuple[tf.Tensor, tf.Tensor]:
    """Part orientation fields (paper Eq. 2) and their per-channel weights.

    For each bone (A, B) of `hiu_tf.keypoints.BONES`, on the map pixels of the
    bone (centre within `half_width` of the 2D segment A-B) the field is
    `(AB_2d.x, AB_2d.y, AB_3d.z)` with unit directions; elsewhere 0. As the
    paper points out, the 2D part needs only 2D labels: the x, y channels of a
    bone are filled when `has_2d` and both joints are labelled; the z channel
    only when `has_3d` as well. The returned weights say which channels are
    real labels, so a loss can use 2D-only samples for x, y and mask z.

    Args:
        keypoints_px: `[A1, ..., An, 21, 2]` input-crop pixels, canonical order.
        joints_cam: `[A1, ..., An, 21, 3]` camera frame (any unit).
        keypoint_visible: `[A1, ..., An, 21]` 1 where the keypoint is labelled.
        has_2d: `[A1, ..., An]` the sample has 2D labels.
        has_3d: `[A1, ..., An]` the sample has 3D labels.
        input_size: side S of the input crop.
        heatmap_size: side h of the maps.
        half_width: half the thickness of a bone, map pixels.

    Returns:
        `(pof, weight)`: `pof [A1, ..., An, h, h, 60]` (channel order in the module
        docstring) and `weight [A1, ..., An, 60]` in {0, 1}. A bone whose 2D
        projection is shorter than 1e-4 map pixels has a zero 2D direction (its
        pixels are a disc around the joint, carrying z).

    Raises:
        ValueError: bad static shapes or sizes.
    """
    check_int(input_size, "input_size")
    check_int(heatmap_size, "heatmap_size")
    check_positive(half_width, "half_width")
    keypoints_px = _float(keypoints_px, "keypoints_px")
    joints_cam = _float(joints_cam, "joints_cam")
    keypoint_visible = _float(keypoint_visible, "keypoint_visible")
    has_2d = _float(has_2d, "has_2d")
    has_3d = _float(has_3d, "has_3d")
    check_last_dims(keypoints_px, "keypoints_px", (NUM_KEYPOINTS, 2), f"[..., {NUM_KEYPOINTS}, 2]")
    check_last_dims(joints_cam, "joints_cam", (NUM_KEYPOINTS, 3), f"[..., {NUM_KEYPOINTS}, 3]")
    check_last_dims(keypoint_visible, "keypoint_visible", (NUM_KEYPOINTS,), "[..., 21]")

    parents, children = list(BONE_PARENTS), list(BONE_CHILDREN)
    points = keypoints_px * (heatmap_size / input_size)  # [..., 21, 2] map pixels
    a = tf.gather(points, parents, axis=-2)  # [..., 20, 2]
    b = tf.gather(points, children, axis=-2)  # [..., 20, 2]
    d = b - a  # [..., 20, 2]
    dir_2d, _ = _safe_unit(d)  # [..., 20, 2]
    dir_3d, _ = _safe_unit(
        tf.gather(joints_cam, children, axis=-2) - tf.gather(joints_cam, parents, axis=-2)
    )  # [..., 20, 3]

    # Squared distance of every pixel centre (x, y) to every bone segment a + t d, t in [0, 1],
    # written with [..., H, 1, 20] and [..., 1, W, 20] terms so that no [H, W, 20, 2] array is made:
    # rel . d = (x - ax) dx + (y - ay) dy,  |rel|^2 = (x - ax)^2 + (y - ay)^2.
    centres = _centres(heatmap_size)[:, tf.newaxis]  # [h, 1]
    rx = centres - a[..., tf.newaxis, :, 0]  # [..., W, 20]  x - ax
    ry = centres - a[..., tf.newaxis, :, 1]  # [..., H, 20]  y - ay
    dx = d[..., tf.newaxis, tf.newaxis, :, 0]  # [..., 1, 1, 20]
    dy = d[..., tf.newaxis, tf.newaxis, :, 1]
    rx_ = rx[..., tf.newaxis, :, :]  # [..., 1, W, 20]
    ry_ = ry[..., :, tf.newaxis, :]  # [..., H, 1, 20]
    dot = rx_ * dx + ry_ * dy  # [..., H, W, 20]
    len2 = tf.maximum(dx * dx + dy * dy, _EPS)  # [..., 1, 1, 20]
    t = tf.clip_by_value(dot / len2, 0.0, 1.0)
    # |rel - t d|^2 = |rel|^2 - 2 t (rel . d) + t^2 |d|^2
    dist2 = tf.square(rx_) + tf.square(ry_) - t * (2.0 * dot - t * len2)  # [..., H, W, 20]
    on_bone = tf.cast(dist2 <= half_width * half_width, tf.float32)

    valid_2d = (
        has_2d[..., tf.newaxis]
        * tf.gather(keypoint_visible, parents, axis=-1)
        * tf.gather(keypoint_visible, children, axis=-1)
    )  # [..., 20]
    valid_z = valid_2d * has_3d[..., tf.newaxis]  # [..., 20]
    weight = tf.stack([valid_2d, valid_2d, valid_z], axis=-1)  # [..., 20, 3]
    values = tf.concat([dir_2d, dir_3d[..., 2:3]], axis=-1) * weight  # [..., 20, 3]
    pof = on_bone[..., tf.newaxis] * values[..., tf.newaxis, tf.newaxis, :, :]  # [..., H, W, 20, 3]
    pof = tf.reshape(pof, tf.concat([tf.shape(pof)[:-2], [POF_CHANNELS]], axis=0))
    weight = tf.reshape(weight, tf.concat([tf.shape(weight)[:-2], [POF_CHANNELS]], axis=0))
    return pof, weight


def resize_mask(mask, heatmap_size: int, threshold: float | None = 0.5) -> tf.Tensor:
    """A hand mask at heat-map resolution (area average, then optionally thresholded).

    Args:
        mask: `[S, S]` or `[B, S, S]` in [0, 1].
        heatmap_size: side h of the output.
        threshold: output `1` where the covered fraction is `>= threshold`, else 0;
            None keeps the fraction (a soft target).

    Returns:
        `[h, h]` or `[B, h, h]` float32.

    Raises:
        ValueError: a mask of another rank, or a bad size.
    """
    check_int(heatmap_size, "heatmap_size")
    mask = _float(mask, "mask")
    if mask.shape.rank not in (2, 3):
        raise ValueError(
            f"mask must have shape [S, S] or [B, S, S]. Received: mask.shape={mask.shape}"
        )
    small = tf.image.resize(mask[..., tf.newaxis], [heatmap_size, heatmap_size], method="area")
    small = small[..., 0]
    if threshold is not None:
        small = tf.cast(small >= threshold, tf.float32)
    return small


def make_targets(
    sample: Mapping[str, tf.Tensor],
    *,
    heatmap_size: int,
    sigma: float = 2.0,
    pof_half_width: float = 1.0,
    mask_threshold: float | None = None,
) -> dict[str, tf.Tensor]:
    """Adds the training targets to a sample dict (one sample or a batch).

    Args:
        sample: a sample dict of tensors (`hiu_tf.data.schema`), unbatched or batched;
            the crop side S is read from the static shape of `image`.
        heatmap_size: side h of the maps.
        sigma: heat-map standard deviation, map pixels.
        pof_half_width: half-thickness of a bone in the POF, map pixels.
        mask_threshold: see `resize_mask`; None (the default) keeps the covered
            fraction of each map pixel, a soft target. On 16 x 16 maps a thresholded
            target loses the fingers' outlines: a perfect predictor of it, upsampled to
            the crop, scores a lower mask IoU than one of the soft fraction
            (`benchmarks/bench_mask_ceiling.py`; docs/learning.md, "Before: what went
            wrong", item 5).

    Returns:
        A new dict: the sample's keys plus
        `heatmaps [..., h, h, 21]` (zero maps when `has_2d = 0`),
        `pof [..., h, h, 60]`, `pof_weight [..., 60]` and `mask_small [..., h, h]`.

    Raises:
        ValueError: the image has no static square size.
    """
    image = sample["image"]
    size = image.shape[-2]
    if size is None or image.shape[-3] != size:
        raise ValueError(
            f"image must have a static square shape [..., S, S, 3]. Received: {image.shape}"
        )
    has_2d = _float(sample["has_2d"], "has_2d")
    visible = _float(sample["keypoint_visible"], "keypoint_visible") * has_2d[..., tf.newaxis]
    out = dict(sample)
    out["heatmaps"] = gaussian_heatmaps(
        sample["keypoints_px"], visible, input_size=size, heatmap_size=heatmap_size, sigma=sigma
    )
    out["pof"], out["pof_weight"] = part_orientation_fields(
        sample["keypoints_px"],
        sample["joints_cam"],
        visible,
        has_2d,
        sample["has_3d"],
        input_size=size,
        heatmap_size=heatmap_size,
        half_width=pof_half_width,
    )
    out["mask_small"] = resize_mask(sample["mask"], heatmap_size, mask_threshold)
    return out
