"""The sample dict: the one format that every reader produces.

A sample is a plain `dict[str, np.ndarray]` with exactly these keys (S = crop side):

    image             [S, S, 3] float32 in [0, 1], RGB, a crop around the hand
    keypoints_px      [21, 2]   float32, pixels in the crop, canonical order
    keypoint_visible  [21]      float32 {0, 1}: the 2D location of the keypoint is
                                labelled (occluded keypoints whose location is known,
                                e.g. projected from 3D, count as labelled); the
                                keypoints_px of unlabelled keypoints are zeros
    joints_cam        [21, 3]   float32, metres, camera frame of the crop
    mask              [S, S]    float32 {0, 1}, 1 = hand
    intrinsics        [3, 3]    float32, K of the crop (zeros when unknown)
    mano_pose         [48]      float32 axis-angle: global orientation, then 15 joints
                                in MANO order, the *full* rotations (hands_mean
                                included, i.e. `flat_hand_mean=True` convention)
    mano_betas        [10]      float32
    has_2d, has_3d, has_mask, has_mano   float32 scalars {0, 1}: which labels are real
    is_left           float32 scalar {0, 1}: the crop was mirrored from a left hand
                                into a right hand

Missing labels are zeros with their flag off; losses are masked by the flags.

Pixel and camera conventions are those of `mano_tf.camera`: pixel `(row i,
column j)` has its centre at `(j + 0.5, i + 0.5)`, the crop spans `[0, S]`;
camera x right, y down, z forward. `keypoints_px` of a sample with 3D labels are
the projections of `joints_cam` with `intrinsics`.

This module is NumPy-only apart from `mirror_sample`, whose rules
(`hiu_tf.mirror`) use the `mano_tf.camera` functions (eager TensorFlow).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from hiu_tf.errors import UserError
from hiu_tf.keypoints import NUM_KEYPOINTS

NUM_MANO_POSE = 48
NUM_MANO_BETAS = 10
FLAG_KEYS = ("has_2d", "has_3d", "has_mask", "has_mano", "is_left")
# Keys and shapes; "S" stands for the crop side.
SAMPLE_SHAPES: dict[str, tuple] = {
    "image": ("S", "S", 3),
    "keypoints_px": (NUM_KEYPOINTS, 2),
    "keypoint_visible": (NUM_KEYPOINTS,),
    "joints_cam": (NUM_KEYPOINTS, 3),
    "mask": ("S", "S"),
    "intrinsics": (3, 3),
    "mano_pose": (NUM_MANO_POSE,),
    "mano_betas": (NUM_MANO_BETAS,),
    "has_2d": (),
    "has_3d": (),
    "has_mask": (),
    "has_mano": (),
    "is_left": (),
}
SAMPLE_KEYS = tuple(SAMPLE_SHAPES)
# Label keys that must be all zeros when their flag is off.
_FLAGGED = {
    "has_2d": ("keypoints_px", "keypoint_visible"),
    "has_3d": ("joints_cam",),
    "has_mask": ("mask",),
    "has_mano": ("mano_pose", "mano_betas"),
}


class SampleError(UserError, ValueError):
    """A sample dict that breaks the schema (a wrong key, shape, dtype or value)."""


def sample_shapes(size: int) -> dict[str, tuple[int, ...]]:
    """The shape of every key for crops of side `size`."""
    return {k: tuple(size if d == "S" else d for d in s) for k, s in SAMPLE_SHAPES.items()}


def _array(value: Any, name: str, shape: tuple[int, ...]) -> np.ndarray:
    try:
        array = np.asarray(value, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise SampleError(f"{name} must be numeric. Received: {name}={value!r:.80}") from e
    if array.shape != shape:
        raise SampleError(
            f"{name} must have shape {list(shape)}. Received: {name}.shape={list(array.shape)}"
        )
    return array


def image_to_float(image: Any) -> np.ndarray:
    """A sample's RGB image as float32 in [0, 1] (`hiu_tf.image.to_float`).

    Args:
        image: `[H, W, 3]` uint8, or float in [0, 1].

    Returns:
        `[H, W, 3]` float32.

    Raises:
        SampleError: not an `[H, W, 3]` uint8 or float array.
    """
    from hiu_tf import image as image_lib

    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise SampleError(f"image must have shape [S, S, 3]. Received: image.shape={image.shape}")
    if image.dtype != np.uint8 and not np.issubdtype(image.dtype, np.floating):
        raise SampleError(f"image must be uint8 or float. Received: image.dtype={image.dtype}")
    return image_lib.to_float(image)


def make_sample(
    image: Any,
    *,
    keypoints_px: Any = None,
    keypoint_visible: Any = None,
    joints_cam: Any = None,
    mask: Any = None,
    intrinsics: Any = None,
    mano_pose: Any = None,
    mano_betas: Any = None,
    is_left: bool = False,
) -> dict[str, np.ndarray]:
    """Builds a sample dict; labels that are not given are zeros with their flag off.

    Args:
        image: `[S, S, 3]` RGB crop, uint8 or float in [0, 1].
        keypoints_px: `[21, 2]` pixels in the crop, canonical order; sets `has_2d`.
        keypoint_visible: `[21]` 1 where the keypoint is labelled; default all ones
            (only with `keypoints_px`); unlabelled keypoints are set to zeros.
        joints_cam: `[21, 3]` metres, camera frame; sets `has_3d` (needs `intrinsics`).
        mask: `[S, S]` hand mask, any dtype; nonzero = hand; sets `has_mask`.
        intrinsics: `[3, 3]` K of the crop; zeros when not given.
        mano_pose: `[48]` full axis-angle pose (see the module docstring); sets `has_mano`.
        mano_betas: `[10]` shape; zeros when not given.
        is_left: the crop was mirrored from a left hand (normally set by `mirror_sample`).

    Returns:
        A sample dict that passes `validate_sample`.

    Raises:
        SampleError: a bad shape or combination of labels.
    """
    image = image_to_float(image)
    size = image.shape[0]
    if image.shape[:2] != (size, size):
        raise SampleError(f"image must be square. Received: image.shape={list(image.shape)}")
    shapes = sample_shapes(size)
    zeros = {k: np.zeros(s, np.float32) for k, s in shapes.items()}
    sample = dict(zeros)
    sample["image"] = image
    if keypoints_px is not None:
        sample["keypoints_px"] = _array(keypoints_px, "keypoints_px", shapes["keypoints_px"])
        sample["keypoint_visible"] = (
            np.ones(NUM_KEYPOINTS, np.float32)
            if keypoint_visible is None
            else (_array(keypoint_visible, "keypoint_visible", (NUM_KEYPOINTS,)) > 0).astype(
                np.float32
            )
        )
        sample["keypoints_px"] = sample["keypoints_px"] * sample["keypoint_visible"][:, None]
        sample["has_2d"] = np.float32(1.0)
    elif keypoint_visible is not None:
        raise SampleError("keypoint_visible needs keypoints_px. Received: keypoints_px=None")
    if intrinsics is not None:
        sample["intrinsics"] = _array(intrinsics, "intrinsics", (3, 3))
    if joints_cam is not None:
        if intrinsics is None:
            raise SampleError(
                "joints_cam needs the intrinsics of the crop. Received: intrinsics=None"
            )
        sample["joints_cam"] = _array(joints_cam, "joints_cam", shapes["joints_cam"])
        sample["has_3d"] = np.float32(1.0)
    if mask is not None:
        mask = np.asarray(mask)
        if mask.shape != (size, size):
            raise SampleError(
                f"mask must have shape [{size}, {size}]. Received: mask.shape={list(mask.shape)}"
            )
        sample["mask"] = (mask > 0).astype(np.float32)
        sample["has_mask"] = np.float32(1.0)
    if mano_pose is not None:
        sample["mano_pose"] = _array(mano_pose, "mano_pose", (NUM_MANO_POSE,))
        if mano_betas is not None:
            sample["mano_betas"] = _array(mano_betas, "mano_betas", (NUM_MANO_BETAS,))
        sample["has_mano"] = np.float32(1.0)
    elif mano_betas is not None:
        raise SampleError("mano_betas needs mano_pose. Received: mano_pose=None")
    sample["is_left"] = np.float32(1.0 if is_left else 0.0)
    for key in FLAG_KEYS:
        sample[key] = np.asarray(sample[key], np.float32)
    return sample


def validate_sample(sample: Mapping[str, Any], image_size: int | None = None) -> None:
    """Checks a sample dict against the schema.

    Args:
        sample: the dict to check (NumPy arrays or anything `np.asarray` takes).
        image_size: the expected crop side S; None takes it from `image`.

    Raises:
        SampleError: the first problem found, naming the key, the value and what
            was expected.
    """
    if not isinstance(sample, Mapping):
        raise SampleError(f"a sample must be a dict. Received: {type(sample).__name__}")
    missing = [k for k in SAMPLE_KEYS if k not in sample]
    extra = [k for k in sample if k not in SAMPLE_SHAPES]
    if missing or extra:
        raise SampleError(
            f"a sample must have exactly the keys {list(SAMPLE_KEYS)}. "
            f"Received: missing={missing}, unexpected={extra}"
        )
    image = np.asarray(sample["image"])
    if image_size is None:
        if image.ndim != 3:
            raise SampleError(
                f"image must have shape [S, S, 3]. Received: image.shape={list(image.shape)}"
            )
        image_size = image.shape[0]
    shapes = sample_shapes(image_size)
    arrays = {}
    for key, shape in shapes.items():
        array = np.asarray(sample[key])
        if array.shape != shape:
            raise SampleError(
                f"{key} must have shape {list(shape)}. Received: {key}.shape={list(array.shape)}"
            )
        if array.dtype != np.float32:
            raise SampleError(f"{key} must be float32. Received: {key}.dtype={array.dtype}")
        if not np.all(np.isfinite(array)):
            raise SampleError(f"{key} must be finite. Received: {key} with NaN or inf")
        arrays[key] = array
    if arrays["image"].min() < 0.0 or arrays["image"].max() > 1.0:
        raise SampleError(
            "image must be in [0, 1]. Received: image in "
            f"[{arrays['image'].min():.3g}, {arrays['image'].max():.3g}]"
        )
    for key in (*FLAG_KEYS, "keypoint_visible", "mask"):
        values = np.unique(arrays[key])
        if not np.all(np.isin(values, (0.0, 1.0))):
            raise SampleError(f"{key} must be 0 or 1. Received: {key} values {values[:5]}")
    for flag, keys in _FLAGGED.items():
        if arrays[flag] == 0:
            for key in keys:
                if np.any(arrays[key] != 0):
                    raise SampleError(
                        f"{key} must be zeros when {flag}=0 (missing labels are zeros). "
                        f"Received: nonzero {key}"
                    )
    if np.any(arrays["keypoints_px"][arrays["keypoint_visible"] == 0] != 0):
        raise SampleError(
            "keypoints_px of unlabelled keypoints (keypoint_visible=0) must be zeros. "
            "Received: nonzero keypoints_px"
        )
    if arrays["has_3d"] == 1:
        k = arrays["intrinsics"]
        if k[2, 2] != 1 or np.any(k[2, :2] != 0) or k[0, 0] <= 0 or k[1, 1] <= 0:
            raise SampleError(
                "intrinsics must be [[fx, s, cx], [0, fy, cy], [0, 0, 1]] with fx, fy > 0 when "
                f"has_3d=1. Received: intrinsics={k.tolist()}"
            )
        if np.any(arrays["joints_cam"][:, 2] <= 0):
            raise SampleError(
                "joints_cam must be in front of the camera (z > 0). Received: min z="
                f"{arrays['joints_cam'][:, 2].min():.4g}"
            )


def mirror_sample(sample: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Mirrors a sample horizontally (a left hand becomes a right hand, and back).

    Each quantity follows its rule in `hiu_tf.mirror`, the one the predictor
    uses too: the image and mask are flipped left-right; keypoints `u -> S - u`;
    `joints_cam` x is negated and K is flipped consistently, so the mirrored
    joints project onto the mirrored keypoints; the MANO axis-angles (global
    orientation and every joint) map `(x, y, z) -> (x, -y, -z)`. Unlabelled
    keypoints stay zeros, and so do missing labels; `is_left` toggles (0 -> 1
    for a left hand turned into a right one).

    Args:
        sample: a sample dict of crop side S.

    Returns:
        A new sample dict.
    """
    from hiu_tf import mirror

    out = {k: np.asarray(v, np.float32) for k, v in sample.items()}
    size = out["image"].shape[1]
    out["image"] = mirror.image(out["image"])
    out["mask"] = mirror.image(out["mask"])
    keypoints = mirror.pixels(out["keypoints_px"], size)
    # Unlabelled keypoints (and all of them without 2D labels) stay zeros.
    out["keypoints_px"] = (keypoints * out["keypoint_visible"][:, None]).astype(np.float32)
    out["joints_cam"] = mirror.points_cam(out["joints_cam"])
    out["intrinsics"] = mirror.intrinsics(out["intrinsics"], size)
    out["mano_pose"] = mirror.axis_angles(out["mano_pose"])
    out["is_left"] = np.float32(1.0) - out["is_left"]
    return out
