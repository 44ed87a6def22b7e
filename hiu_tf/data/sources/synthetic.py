"""Synthetic hands: posed hand meshes rendered over varied backgrounds, with every label.

Each sample is drawn from a generator seeded by `(seed, sample index)`, so the
same seed and options give the same data whatever the chunking or the number
of worker processes:

1. **Pose**: a hand-level grip and per-finger curl drive per-joint flexion
   within anatomical limits (MCP -15..90 deg, PIP 0..105, DIP coupled to PIP,
   thumb narrower), plus abduction and a little twist. Axes come from the hand
   model's own rest pose: a finger joint flexes about `bone x palm normal`,
   abducts about the palm normal (`flexion_axes`), so the same code poses MANO
   or the open hand model. Global orientation (`random_orientation`): the hand
   upright with its palm to the camera (`mano_tf.hand_model.facing_rotation`),
   turned to show its back at `back_rate`, tilted out of the image plane by up
   to `max_tilt_deg` (uniformly on that cap of view directions) and rolled in
   the image plane by any angle. `max_tilt_deg=180` is uniform on SO(3).
2. **Shape**: `betas ~ N(0, betas_std)`, clipped to +-3.
3. **Camera**: the paper's Q (one focal length `f = U(focal_min, focal_max) S`,
   principal point at the centre); the hand is placed at the depth where its
   image spans `U(hand_fill_min, hand_fill_max)` of the crop, around the
   centre (jitter), or across the border (truncation, at `truncation_rate`).
4. **Appearance**: skin tones from a light-to-dark palette (rarely a glove
   colour), Lambert shading with a random directional light and ambient term
   (`mano_tf.render.shaded.render_shaded`), low-frequency albedo noise.
5. **Background** (`hiu_tf.data.sources.backgrounds`): a user image (random crop
   and flip) when a folder is given, else procedural: gradients, fractal noise,
   stripes, random clutter shapes.
6. **Occluders** at `occluder_rate`: a random ellipse, box or polygon over part
   of the hand, removed from the mask. Then optional blur and pixel noise.

Labels: 2D keypoints (`mano_tf.camera.project_points`), 3D joints (camera
frame), the visible hand mask, K, MANO pose (full rotations, global orientation
in the camera frame) and betas of the hand model used — with the open hand
model these are open-model parameters, not MANO's (the model's name is
recorded in `dataset_info.json`).
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import cv2
import numpy as np

from hiu_tf.data import schema
from hiu_tf.data.sources.backgrounds import BackgroundBank, procedural_background, random_colour
from hiu_tf.errors import UserError
from hiu_tf.keypoints import MANO_TO_CANONICAL
from mano_tf.hand_model import facing_rotation

logger = logging.getLogger(__name__)

# Skin tones, RGB in [0, 1], light to dark; gloves are drawn at random.
SKIN_TONES = (
    (0.97, 0.82, 0.72),
    (0.93, 0.75, 0.63),
    (0.86, 0.66, 0.53),
    (0.76, 0.57, 0.44),
    (0.65, 0.47, 0.35),
    (0.53, 0.37, 0.27),
    (0.42, 0.29, 0.21),
    (0.31, 0.21, 0.15),
)
# MANO joint (1..15) -> canonical keypoint; its child along the finger is the next canonical index.
_CANONICAL_OF_MANO = {m: c for c, m in enumerate(MANO_TO_CANONICAL) if m < 16}
_THUMB = (13, 14, 15)


class SynthError(UserError, ValueError):
    """Bad options of the synthetic generator."""


@dataclasses.dataclass(frozen=True)
class SynthConfig:
    """Options of the synthetic generator (see the module docstring).

    Attributes:
        image_size: output side S in pixels.
        focal_min: smallest focal length, in units of S.
        focal_max: largest focal length, in units of S.
        hand_fill_min: smallest hand image extent, fraction of S.
        hand_fill_max: largest hand image extent, fraction of S.
        centre_jitter: hand centre offset, uniform in +-this fraction of S.
        max_tilt_deg: largest angle between the palm's normal (the back's, for hands
            shown from the back) and the line of sight, degrees in [0, 180]: 0 = the
            hand lies in the image plane (rolled by any angle), 180 = any orientation.
        back_rate: fraction of hands shown from the back rather than the palm.
        flexion_scale: multiplies all finger joint angles (0 = flat hands).
        betas_std: standard deviation of the shape coefficients.
        occluder_rate: fraction of samples with an occluder.
        truncation_rate: fraction of samples placed across the image border.
        glove_rate: fraction of hands in a random non-skin colour.
        clutter_rate: fraction of procedural backgrounds with clutter shapes.
        blur_prob: probability of a Gaussian blur of the whole image.
        noise_std_max: pixel noise (on half of the images), std up to this (0-1 scale).
        chunk_size: samples posed together in one hand-model call.

    The default orientations, the palm towards the camera and tilted by up to 45
    degrees, are those a small network learns in minutes (`docs/learning.md`):
    on 64 px crops, with the back shown as well (thumb and little finger are then
    easily swapped) or with any orientation (`max_tilt_deg=180, back_rate=0.5`,
    the uniform orientations of earlier versions), the demo's model does not learn
    the orientation in its budget (docs/learning.md, runs E7 and A4). Real
    photographs show both sides; widen the range for larger inputs and longer
    training.
    """

    image_size: int = 256
    focal_min: float = 1.3
    focal_max: float = 3.0
    hand_fill_min: float = 0.5
    hand_fill_max: float = 0.85
    centre_jitter: float = 0.08
    max_tilt_deg: float = 45.0
    back_rate: float = 0.0
    flexion_scale: float = 1.0
    betas_std: float = 1.0
    occluder_rate: float = 0.25
    truncation_rate: float = 0.1
    glove_rate: float = 0.05
    clutter_rate: float = 0.6
    blur_prob: float = 0.1
    noise_std_max: float = 0.02
    chunk_size: int = 32

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise SynthError(f"{f.name} must be a number. Received: {f.name}={value!r}")
            if not math.isfinite(value) or value < 0:
                raise SynthError(f"{f.name} must be >= 0. Received: {f.name}={value!r}")
        if self.max_tilt_deg > 180:
            raise SynthError(
                f"max_tilt_deg must be in [0, 180]. Received: max_tilt_deg={self.max_tilt_deg}"
            )
        for name in (
            "back_rate",
            "occluder_rate",
            "truncation_rate",
            "glove_rate",
            "clutter_rate",
            "blur_prob",
        ):
            if getattr(self, name) > 1:
                raise SynthError(
                    f"{name} must be in [0, 1]. Received: {name}={getattr(self, name)}"
                )
        if not isinstance(self.image_size, int) or self.image_size < 16:
            raise SynthError(f"image_size must be an int >= 16. Received: {self.image_size!r}")
        if not isinstance(self.chunk_size, int) or self.chunk_size < 1:
            raise SynthError(f"chunk_size must be an int >= 1. Received: {self.chunk_size!r}")
        for lo, hi in (("focal_min", "focal_max"), ("hand_fill_min", "hand_fill_max")):
            if not 0 < getattr(self, lo) <= getattr(self, hi):
                raise SynthError(
                    f"{lo} must be > 0 and <= {hi}. Received: "
                    f"{lo}={getattr(self, lo)}, {hi}={getattr(self, hi)}"
                )


# --------------------------------------------------------------------------- pose


def flexion_axes(rest_joints: np.ndarray, side: str = "right") -> np.ndarray:
    """Per-joint rotation axes `[15, 3, 3]` (flexion, abduction, twist) from a rest pose.

    Args:
        rest_joints: `[21, 3]` canonical joints of the model's rest pose (flat hand).
        side: "right" or "left" (the palm normal flips).

    Returns:
        For MANO joints 1..15 (MANO order), rows: the flexion axis (positive angles
        curl the finger towards the palm), the abduction axis (palm normal) and
        the twist axis (the bone direction), unit vectors in the model frame.
    """
    j = np.asarray(rest_joints, np.float64)
    normal = np.cross(j[5] - j[0], j[17] - j[0])  # palm side for a right hand
    normal /= np.linalg.norm(normal)
    if side == "left":
        normal = -normal
    axes = np.zeros((15, 3, 3))
    for m in range(1, 16):
        k = _CANONICAL_OF_MANO[m]
        bone = j[k + 1] - j[k]
        bone /= max(np.linalg.norm(bone), 1e-9)
        n = normal
        if m in _THUMB:
            # The thumb's flexion plane is turned about the thumb axis, towards the palm.
            across = np.cross(bone, normal)
            n = normal * math.cos(math.radians(50)) - across * math.sin(math.radians(50))
        n = n - bone * (n @ bone)
        n /= max(np.linalg.norm(n), 1e-9)
        flex = np.cross(bone, n)
        axes[m - 1] = (flex / np.linalg.norm(flex), n, bone)
    return axes


def random_orientation(
    rng: np.random.Generator, facing: np.ndarray, max_tilt_deg: float, back_rate: float
) -> np.ndarray:
    """A global hand orientation `[3, 3]` (rotation matrix, camera frame) around a facing pose.

    `R = Rz(roll) R_tilt F facing`: `facing` turns the hand upright with its palm to
    the camera; `F` is the identity, or at `back_rate` a half turn about the image's
    vertical axis that shows the back of the hand; the tilt turns the line of sight
    by `t` about a random axis in the image plane, with `cos t` uniform in
    `[cos max_tilt, 1]` (uniform on that cap of view directions); the roll about the
    optical axis is uniform. With `max_tilt_deg = 180` the result is uniform on SO(3).

    Args:
        rng: random generator.
        facing: `[3, 3]` rotation (`mano_tf.hand_model.facing_rotation`).
        max_tilt_deg: in [0, 180].
        back_rate: in [0, 1].
    """
    from mano_tf.rotations import axis_angle_to_matrix

    flip = np.diag([-1.0, 1.0, -1.0]) if rng.random() < back_rate else np.eye(3)
    cos_tilt = rng.uniform(math.cos(math.radians(max_tilt_deg)), 1.0)
    tilt = math.acos(min(max(cos_tilt, -1.0), 1.0))
    psi = rng.uniform(0.0, 2.0 * math.pi)
    tilt_axis = np.array([math.cos(psi), math.sin(psi), 0.0])
    roll = rng.uniform(-math.pi, math.pi)
    roll_r, tilt_r = np.asarray(
        axis_angle_to_matrix(np.stack([np.array([0.0, 0.0, roll]), tilt * tilt_axis]))
    )  # float64
    return roll_r @ tilt_r @ flip @ np.asarray(facing, np.float64)


def random_finger_pose(
    rng: np.random.Generator, axes: np.ndarray, scale: float = 1.0
) -> np.ndarray:
    """`[45]` axis-angles of the 15 finger joints (MANO order), within joint limits."""
    grip = rng.uniform(0.0, 1.0) ** rng.choice([0.5, 1.0, 2.0])
    pose = np.zeros((15, 3))
    deg = math.pi / 180.0
    for finger, joints in enumerate(((1, 2, 3), (4, 5, 6), (7, 8, 9), (10, 11, 12), _THUMB)):
        curl = float(np.clip(grip + rng.normal(0.0, 0.25), 0.0, 1.0))
        thumb = finger == 4
        if thumb:
            flex = (
                -10 + 45 * curl + rng.normal(0, 8),
                -5 + 55 * curl + rng.normal(0, 8),
                -10 + 80 * curl + rng.normal(0, 8),
            )
            limits = ((-25, 45), (-15, 60), (-20, 85))
            spread = (rng.uniform(-25, 25), rng.uniform(-8, 8), 0.0)
        else:
            pip = np.clip(105 * curl + rng.normal(0, 10), 0, 110)
            flex = (-15 + 100 * curl + rng.normal(0, 10), pip, pip * rng.uniform(0.55, 0.9))
            limits = ((-20, 90), (0, 110), (0, 85))
            base_spread = (-12, -4, 12, 5)[finger] * (1.0 - curl)
            spread = (base_spread + rng.uniform(-8, 8), 0.0, 0.0)
        for i, m in enumerate(joints):
            angle = float(np.clip(flex[i], *limits[i])) * scale * deg
            twist = rng.uniform(-4, 4) * deg * scale
            pose[m - 1] = (
                angle * axes[m - 1, 0]
                + spread[i] * deg * scale * axes[m - 1, 1]
                + twist * axes[m - 1, 2]
            )
    return pose.reshape(-1)


# --------------------------------------------------------------------------- generator


class SyntheticGenerator:
    """Makes synthetic samples (see the module docstring).

    Args:
        config: `SynthConfig`.
        hand_model: "open:right" (default), a right-hand MANO `.pkl` / `.npz`
            path, or a `HandModel`.
        backgrounds: folder of background images, or None for procedural ones.
    """

    def __init__(
        self,
        config: SynthConfig | None = None,
        hand_model: Any = "open:right",
        backgrounds: str | None = None,
    ):
        from mano_tf.mano_layer import ManoLayer

        self.config = config or SynthConfig()
        try:
            self.layer = ManoLayer(hand_model, use_pca=False, flat_hand_mean=True)
        except (ValueError, OSError) as e:
            raise SynthError(f"cannot load the hand model {hand_model!r}: {e}") from e
        if self.layer.side != "right":
            raise SynthError(
                f"the synthetic generator renders right hands; hand_model is {self.layer.side}"
            )
        self.hand_model_name = self.layer.hand_model_name
        self.faces = self.layer.faces
        self.num_betas = self.layer.num_betas
        rest = self.layer(np.zeros((1, 48), np.float32), np.zeros((1, self.num_betas), np.float32))
        rest_joints = rest["joints"].numpy()[0]  # [21, 3] canonical order
        self.axes = flexion_axes(rest_joints, "right")
        # Wrist, index / middle / pinky bases of the flat hand.
        self.facing = facing_rotation(*rest_joints[[0, 5, 9, 17]])
        self.backgrounds = (
            BackgroundBank(backgrounds, self.config.image_size) if backgrounds else None
        )

    def _parameters(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """`(global rotation [3, 3], finger pose [45], betas)` of one sample."""
        cfg = self.config
        orientation = random_orientation(rng, self.facing, cfg.max_tilt_deg, cfg.back_rate)
        fingers = random_finger_pose(rng, self.axes, cfg.flexion_scale)
        betas = np.clip(rng.normal(0.0, cfg.betas_std, self.num_betas), -3.0, 3.0)
        return orientation, fingers, betas

    def _place(
        self, rng: np.random.Generator, vertices: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Camera K and the translation that puts the mesh in view."""
        cfg = self.config
        size = cfg.image_size
        f = rng.uniform(cfg.focal_min, cfg.focal_max) * size
        k = np.array([[f, 0.0, size / 2.0], [0.0, f, size / 2.0], [0.0, 0.0, 1.0]])
        lo, hi = vertices.min(0), vertices.max(0)
        centre = (lo + hi) / 2.0
        extent = float(max(hi[0] - lo[0], hi[1] - lo[1]))
        fill = rng.uniform(cfg.hand_fill_min, cfg.hand_fill_max)
        target = size / 2.0 + rng.uniform(-1, 1, 2) * cfg.centre_jitter * size
        if rng.random() < cfg.truncation_rate:
            side = rng.integers(4)
            axis, edge = side % 2, (0.0 if side < 2 else float(size))
            target[axis] = edge + (1 if edge == 0 else -1) * rng.uniform(0.0, 0.2) * size
            fill *= rng.uniform(1.0, 1.4)
        depth = f * extent / (fill * size)
        depth = max(depth, (hi[2] - lo[2]) / 2.0 + 0.05)
        offset = (target - size / 2.0) * depth / f
        translation = np.array([offset[0], offset[1], depth]) - centre
        return k, translation

    def _occlude(self, rng, image, mask, keypoints) -> tuple[np.ndarray, np.ndarray]:
        size = image.shape[0]
        occluder = np.zeros((size, size), np.uint8)
        lo, hi = keypoints.min(0), keypoints.max(0)
        hand_side = float(max(hi - lo))
        centre = keypoints[rng.integers(21)] + rng.normal(0, 0.1 * hand_side, 2)
        radius = max(rng.uniform(0.15, 0.45) * hand_side, 2.0)
        c = (int(centre[0]), int(centre[1]))
        kind = rng.integers(3)
        if kind == 0:
            axes = (int(radius), int(radius * rng.uniform(0.3, 1.0)))
            cv2.ellipse(occluder, c, axes, rng.uniform(0, 180), 0, 360, 1, -1)
        elif kind == 1:
            box = cv2.boxPoints((c, (radius * rng.uniform(0.3, 2.5), radius), rng.uniform(0, 180)))
            cv2.fillPoly(occluder, [np.int32(box)], 1)
        else:
            n = rng.integers(4, 9)
            angles = np.sort(rng.uniform(0, 2 * math.pi, n))
            radii = radius * rng.uniform(0.5, 1.0, n)
            pts = np.stack([c[0] + radii * np.cos(angles), c[1] + radii * np.sin(angles)], -1)
            cv2.fillPoly(occluder, [np.int32(pts)], 1)
        texture = (
            procedural_background(rng, size, 0.0)
            if rng.random() < 0.5
            else np.broadcast_to(random_colour(rng).astype(np.uint8), image.shape)
        )
        covered = occluder > 0
        image = image.copy()
        image[covered] = texture[covered]
        return image, mask & ~covered

    def _render(self, rng, vertices, joints_cam, k, keypoints) -> tuple[np.ndarray, np.ndarray]:
        from mano_tf.render.shaded import render_shaded

        cfg = self.config
        size = cfg.image_size
        background = self.backgrounds.sample(rng) if self.backgrounds is not None else None
        if background is None:
            background = procedural_background(rng, size, cfg.clutter_rate)
        if rng.random() < cfg.glove_rate:
            colour = random_colour(rng) / 255.0
        else:
            colour = np.asarray(SKIN_TONES[rng.integers(len(SKIN_TONES))])
            colour = np.clip(colour * rng.uniform(0.92, 1.08) + rng.normal(0, 0.02, 3), 0, 1)
        light = np.array([rng.uniform(-1, 1), rng.uniform(-1, 1), -rng.uniform(0.3, 1.5)])
        out = render_shaded(
            vertices,
            self.faces,
            k,
            size,
            size,
            color=tuple(colour),
            light_dir=tuple(light),
            ambient=rng.uniform(0.25, 0.55),
            background=None,
        )
        mask = out["mask"]
        # Low-frequency albedo variation on the skin (computed on the hand's pixels only).
        cells = int(rng.integers(3, 9))
        albedo = cv2.resize(
            rng.normal(1.0, 0.06, (cells, cells)).astype(np.float32),
            (size, size),
            interpolation=cv2.INTER_CUBIC,
        )
        image = background.copy()
        hand = out["image"][mask].astype(np.float32) * albedo[mask][:, None]
        image[mask] = np.clip(hand, 0, 255).astype(np.uint8)
        if rng.random() < cfg.occluder_rate:
            image, mask = self._occlude(rng, image, mask, keypoints)
        if rng.random() < cfg.blur_prob:
            image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.5, 1.3))
        if cfg.noise_std_max > 0 and rng.random() < 0.5:
            std = rng.uniform(0, cfg.noise_std_max) * 255.0
            noise = rng.standard_normal(image.shape, dtype=np.float32) * np.float32(std)
            image = np.clip(image + noise, 0, 255).astype(np.uint8)
        return image, mask

    def generate(
        self, seed: int, indices: Sequence[int]
    ) -> list[tuple[str, dict[str, np.ndarray]]]:
        """The samples of the given indices (each seeded by `(seed, index)`)."""
        from mano_tf import camera, rotations

        if not len(indices):
            return []
        rngs = [np.random.default_rng([seed, int(i)]) for i in indices]
        params = [self._parameters(rng) for rng in rngs]
        global_aa = rotations.matrix_to_axis_angle(np.stack([p[0] for p in params])).numpy()
        fingers = np.stack([p[1] for p in params])
        poses = np.concatenate([global_aa, fingers], axis=1).astype(np.float32)  # [N, 48]
        betas = np.stack([p[2] for p in params]).astype(np.float32)
        out = self.layer(poses, betas)
        vertices_all = out["vertices"].numpy().astype(np.float64)
        joints_all = out["joints"].numpy().astype(np.float64)
        placed = [self._place(rng, v) for rng, v in zip(rngs, vertices_all, strict=True)]
        ks = np.stack([k for k, _ in placed])
        joints_cam = joints_all + np.stack([t for _, t in placed])[:, None, :]
        keypoints = camera.project_points(joints_cam, ks).numpy()
        samples = []
        for i, index in enumerate(indices):
            vertices = vertices_all[i] + placed[i][1]
            image, mask = self._render(rngs[i], vertices, joints_cam[i], ks[i], keypoints[i])
            betas10 = np.zeros(schema.NUM_MANO_BETAS, np.float32)
            n = min(self.num_betas, schema.NUM_MANO_BETAS)
            betas10[:n] = betas[i, :n]
            sample = schema.make_sample(
                image,
                keypoints_px=keypoints[i],
                joints_cam=joints_cam[i],
                intrinsics=ks[i],
                mask=mask,
                mano_pose=poses[i],
                mano_betas=betas10,
            )
            samples.append((f"{int(index):08d}", sample))
        return samples

    def __call__(self, seed: int, count: int, start: int = 0) -> Iterator[tuple[str, dict]]:
        """Yields samples `start .. start + count - 1`, in chunks of `config.chunk_size`."""
        step = self.config.chunk_size
        for lo in range(start, start + count, step):
            yield from self.generate(seed, range(lo, min(lo + step, start + count)))


# --------------------------------------------------------------------------- writing


# Set by `_worker_init` inside spawned worker processes only (never in the main process).
_WORKER: dict[str, Any] = {}


def _worker_init(config: SynthConfig, hand_model: Any, backgrounds: str | None) -> None:
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    _WORKER["generator"] = SyntheticGenerator(config, hand_model, backgrounds)


def _worker_chunk(args: tuple) -> list[tuple[str, bytes]]:
    from hiu_tf.data import tfrecord

    seed, lo, hi, image_format, quality = args
    samples = _WORKER["generator"].generate(seed, range(lo, hi))
    return [
        (sid, tfrecord.encode_sample(s, image_format, quality, "synthetic", sid))
        for sid, s in samples
    ]


def write_synthetic(
    out_dir: str,
    *,
    count: int,
    seed: int = 0,
    config: SynthConfig | None = None,
    hand_model: Any = "open:right",
    backgrounds: str | None = None,
    workers: int = 1,
    prefix: str = "synthetic",
    shard_size: int = 2048,
    image_format: str = "jpeg",
    jpeg_quality: int = 95,
    overwrite: bool = False,
    progress: Callable[[int], None] | None = None,
) -> dict[str, Any]:
    """Generates `count` samples into sharded TFRecords; returns the dataset info.

    With `workers > 1` chunks are made in worker processes (spawned, one TF
    thread each) and written in order, so the records are the same as with one
    worker.
    """
    from hiu_tf.data import tfrecord

    config = config or SynthConfig()
    if count < 1:
        raise SynthError(f"count must be >= 1. Received: count={count}")
    if workers < 1:
        raise SynthError(f"workers must be >= 1. Received: workers={workers}")
    generator = SyntheticGenerator(config, hand_model, backgrounds) if workers == 1 else None
    model_name = generator.hand_model_name if generator else str(hand_model)
    writer = tfrecord.ShardedWriter(
        out_dir, prefix, shard_size, image_format, jpeg_quality, "synthetic", overwrite
    )
    step = config.chunk_size
    chunks = [
        (seed, lo, min(lo + step, count), image_format, jpeg_quality)
        for lo in range(0, count, step)
    ]
    try:
        if generator is not None:
            for seed_, lo, hi, _, _ in chunks:
                for sid, sample in generator.generate(seed_, range(lo, hi)):
                    writer.write(sample, sid)
                if progress is not None:
                    progress(writer.num_samples)
        else:
            import multiprocessing
            from concurrent.futures import ProcessPoolExecutor

            with ProcessPoolExecutor(
                max_workers=workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_worker_init,
                initargs=(config, hand_model, backgrounds),
            ) as pool:
                for records in pool.map(_worker_chunk, chunks):
                    for _, record in records:
                        writer.write_encoded(record, config.image_size)
                    if progress is not None:
                        progress(writer.num_samples)
    except BaseException:
        writer.abort()
        raise
    return writer.close(
        {
            "seed": seed,
            "hand_model": model_name,
            "backgrounds": os.path.abspath(backgrounds) if backgrounds else "procedural",
            "config": dataclasses.asdict(config),
        }
    )
