"""Experiment configuration, one job in one file: validated dataclasses, YAML, `--set` overrides.

An `ExperimentConfig` holds five sections:

    model   ModelConfig   the network (stacks, width, tasks, TAM, hand model, camera)
    data    DataConfig    sources and their mixing weights, crop and heat-map sizes
    loss    LossConfig    one weight per loss term
    train   TrainConfig   AdamW, schedule, mixed precision, XLA, distribution
    export  ExportConfig  quantisation and serving choices

Configs are resolved in this order (as in tensorflow/models): a named preset
(`hiu_tf.presets.preset(name)`), then a YAML file (`load_config(path, base=...)`;
it may set only some fields), then `apply_overrides(cfg, ["model.width=96", ...])`.

Every section validates itself on construction, so an invalid config cannot
exist; errors are `ConfigError` and name the dotted field and the value, e.g.
"model.num_stacks must be one of (1, 2, 4, 8). Received: model.num_stacks=3".

One file on purpose: the sections share one type coercion and one error
wording, and the dict / YAML / override functions walk the same dataclasses;
most of the length is the documentation of each field, next to the field.
"""

from __future__ import annotations

import dataclasses
import math
import os
import types
import typing
from collections.abc import Callable, Sequence
from typing import Any, ClassVar

import yaml

from hiu_tf.errors import UserError
from mano_tf.hand_model import HandModelError, open_side

TASKS = ("heatmap", "mask", "pof")
NUM_STACKS_CHOICES = (1, 2, 4, 8)
ROTATIONS = ("axis_angle", "6d")
HEAD_POOLINGS = ("average", "flatten")
FOCAL_MODES = ("fixed", "predicted")
HEATMAP_DECODERS = ("dark", "peak", "mean")  # hiu_tf.layers.soft_argmax
MASK_OUTPUTS = ("input", "maps")  # export.graph: the exported mask's resolution
NORMS = ("batch", "group")
BLOCK_TYPES = ("basic", "bottleneck", "inverted")
ACTIVATIONS = ("relu", "relu6", "swish", "gelu")
OPTIMIZERS = ("adamw",)
LR_SCHEDULES = ("cosine", "constant")
DISTRIBUTE = ("default", "mirrored", "multi_worker")
MIXED_PRECISION = ("none", "mixed_float16", "mixed_bfloat16")
QUANTIZATIONS = ("none", "fp16", "dynamic", "int8")
RENDER_SIGMA_DIVISOR = 512  # default silhouette edge width: heatmap_size / this (pixels)
DATA_MIXES = ("weight", "batch")  # data.mix: sampled by weight, or fixed counts per batch


def batch_counts(weights: Sequence[float], batch_size: int) -> list[int]:
    """Elements of each source in every batch of `data.mix: batch`.

    `weight / sum(weights) * batch_size` for each source, which must be a whole
    number (a source of weight 0 gets none).

    Raises:
        ValueError: a share that is not whole, or weights that do not sum to > 0.
    """
    total = float(sum(weights))
    if total <= 0:
        raise ValueError(f"the source weights must sum to > 0. Received: {list(weights)}")
    shares = [float(w) / total * batch_size for w in weights]
    counts = [round(x) for x in shares]
    if any(abs(x - c) > 1e-6 for x, c in zip(shares, counts, strict=True)):
        raise ValueError(
            f"the source weights {list(weights)} do not split a batch of {batch_size} into "
            f"whole numbers ({', '.join(f'{x:g}' for x in shares)})"
        )
    return counts


class ConfigError(UserError, ValueError):
    """An invalid config value, an unknown key or a malformed override."""


def _fail(field: str, value: Any, expected: str) -> ConfigError:
    return ConfigError(f"{field} {expected}. Received: {field}={value!r}")


def _one_of(section: str, name: str, value: Any, choices: tuple) -> None:
    if value not in choices:
        raise _fail(f"{section}.{name}", value, f"must be one of {choices}")


def _positive(section: str, name: str, value: float, allow_zero: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (value == 0 and not allow_zero):
        raise _fail(f"{section}.{name}", value, "must be >= 0" if allow_zero else "must be > 0")


# --------------------------------------------------------------------------- base


class _Section:
    """Type checking and coercion shared by the config dataclasses."""

    SECTION: ClassVar[str] = ""

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for f in dataclasses.fields(self):
            name = f"{self.SECTION}.{f.name}" if self.SECTION else f.name
            value = _coerce(getattr(self, f.name), hints[f.name], name)
            object.__setattr__(self, f.name, value)
        self.validate()

    def validate(self) -> None:
        """Checks values; raises `ConfigError` naming the field and the value."""


def _coerce(value: Any, tp: Any, name: str) -> Any:
    """Checks `value` against the annotation `tp`, converting lists to tuples, ints to floats."""
    origin = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        errors = []
        for a in inner:
            try:
                return _coerce(value, a, name)
            except ConfigError as e:
                errors.append(e)
        raise errors[0]
    if dataclasses.is_dataclass(tp):
        if isinstance(value, tp):
            return value
        if not isinstance(value, dict):
            raise _fail(name, value, "must be a mapping")
        return _from_dict(tp, value, name)
    if origin is tuple:
        if isinstance(value, str) or not isinstance(value, list | tuple):
            raise _fail(name, value, "must be a list")
        item_tp = args[0]
        return tuple(_coerce(v, item_tp, f"{name}[{i}]") for i, v in enumerate(value))
    if origin is dict:
        if not isinstance(value, dict):
            raise _fail(name, value, "must be a mapping")
        return {
            _coerce(k, args[0], name): _coerce(v, args[1], f"{name}.{k}") for k, v in value.items()
        }
    if tp is bool:
        if not isinstance(value, bool):
            raise _fail(name, value, "must be true or false")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(name, value, "must be an integer")
        return value
    if tp is float:
        if isinstance(value, str):  # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(name, value, "must be a number")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise _fail(name, value, "must be a string")
        return value
    raise TypeError(f"unsupported config annotation {tp!r} for {name}")


def _from_dict(cls: type, data: dict, prefix: str) -> Any:
    valid = [f.name for f in dataclasses.fields(cls)]
    for key in data:
        if key not in valid:
            where = f"{prefix}.{key}" if prefix else str(key)
            raise ConfigError(f"unknown config key {where!r}; valid keys: {', '.join(valid)}")
    return cls(**data)


# --------------------------------------------------------------------------- sections


@dataclasses.dataclass(frozen=True)
class ModelConfig(_Section):
    """The network: stem, `num_stacks` MTL blocks, the shared regressor head, MANO, camera.

    Attributes:
        num_stacks: MTL blocks in the cascade (paper Tables 2/3: 1, 2, 4, 8).
        width: channels C of the encoder, the task features and the fused (TAM) features.
        stem_width: output channels of the stem (two 7x7 stride-2 convolutions).
        stem_kernel: kernel side of the stem's two convolutions (the paper's 7; odd, >= 3).
        separable_stem: make the stem's second convolution depthwise-separable.
        input_size: side S of the square input crop in pixels; maps are S/4 (default 256 -> 64).
        encoder_levels: stride-2 downsamplings inside each encoder (U-shaped: the decoders
            upsample back to S/4 with skip connections).
        blocks_per_level: residual blocks at each encoder level.
        block_type: "basic" (two 3x3 convs), "bottleneck" (1x1, 3x3, 1x1) or "inverted"
            (MobileNetV2: 1x1 expand, 3x3 depthwise, 1x1 project).
        expansion: channel expansion of "inverted" blocks (bottleneck ratio of "bottleneck").
        decoder_full_res: a residual block at the full-resolution (S/4) level of each
            task decoder; false: the task features there are the upsampled coarser
            features plus the encoder's skip (`TaskDecoder`), for phone-class models.
        norm: "batch" (BatchNormalization) or "group" (GroupNormalization).
        norm_groups: groups of GroupNormalization (must divide every normalised width).
        activation: activation after each normalisation.
        tasks: the backbone's tasks, a non-empty subset of ("heatmap", "mask", "pof").
        use_tam: fuse the task features with the task attention module (paper Fig. 3);
            false = the paper's "no TAM" baseline, concatenation + 3x3 conv (Table 5).
            With a single task there is nothing to fuse: its features pass unchanged.
        tam_reduction: reduction ratio r of the TAM's hidden FC layer (N*C/r units).
        heatmap_decoder: how `keypoints_px_heatmap` is read off the last stack's
            heat-maps: "dark" (DARK's decoding: a Gaussian blur of `decoder_sigma`,
            then the arg max refined by a 2D Gaussian fit; robust to broad peaks and
            to an int8 trunk's errors), "peak" (the arg max refined by a Gaussian fit
            along x and y, without the blur) or "mean" (the paper's Eq. 1 over the
            whole map, pulled towards the map centre by broad or noisy maps); see
            `hiu_tf.layers.soft_argmax`.
        decoder_sigma: "dark": standard deviation of the blur, heat-map pixels (>= 0;
            DARK uses the training heat-maps' `data.heatmap_sigma`).
        mask_output: the resolution of the exported `mask` (`export.graph`): "input"
            (upsampled to the input crop, S x S) or "maps" (the mask's own maps, S/4
            or refined S/2, left to the caller to upsample, as `export.inference`'s
            Predictor does: a phone draws it scaled anyway, and the upsampling is
            about a quarter of the phone models' float tail).
        mesh_head: build the regressor head, MANO, the camera and the renderer.
        head_width: channels of the regressor head's convolutions and hidden FC layer.
        head_downsamples: stride-2 convolutions of the regressor head before pooling.
        head_pooling: how the regressor head pools its last map: "average" (global
            average pooling) or "flatten" (the map flattened, keeping where each feature
            is; `RegressorHead`).
        head_keypoints: the regressor head also reads the 2D keypoints of the heat-maps
            (`keypoints_px_heatmap`, without gradient) next to the fused features: the
            fingers' articulation and the hand's turn are easier to regress from where
            the keypoints are than from pooled features (needs the "heatmap" task).
        regress_every_stack: also run the shared regressor head (and MANO) on every
            intermediate stack and output `stack{i}_*` mesh outputs (paper Table 3).
        hand_model: "open:right" / "open:left" (the project's open model) or a MANO file.
        use_pca: MANO pose as PCA coefficients (a `ManoLayer` option).
        num_pca_comps: PCA coefficients when `use_pca`.
        flat_hand_mean: the zero pose is the flat hand (no `hands_mean`).
        rotation: representation the head predicts for joint and global rotations.
        focal_mode: "fixed" (f from `focal_length_norm`) or "predicted" (a learned
            multiplicative correction around it).
        focal_length_norm: focal length in units of the crop side: f_px = value * S.
        hand_size_m: typical hand extent (metres), with `hand_fill` sets the initial depth.
        hand_fill: fraction of the crop that the hand spans at initialisation.
        depth_range: the regressed depth of the hand stays within a factor of this of its
            initial value (`RegressorHead`: a bounded log-depth), so the mesh cannot
            drift off to infinity or onto the camera (> 1).
        head_gradient_scale: multiplies the gradient that the regressor head sends back
            into the shared backbone during training (the forward pass is unchanged):
            1 = the paper's end-to-end training, in which the mesh terms swamp the
            heat-map, mask and POF terms on the shared trunk (docs/learning.md, "What
            fixed them"; the figures are in docs/results.md); 0 = the
            head learns on the backbone's features as they are, and the last stack's
            task attention, which only the head reads, gets no gradient at all. The
            default, 0.01, keeps that fusion learning (Adam's steps do not depend on a
            gradient's scale) while the trunk hardly feels the mesh terms (>= 0).
        render_mask: render the soft silhouette of the mesh at heat-map resolution.
        render_sigma: width of the silhouette's soft edges, in heat-map pixels
            (`mano_tf.render.silhouette.sigma_from_pixels`); None = `heatmap_size / 512`
            (0.125 px at 64 x 64, 0.03 px at 16 x 16). The soft silhouette of a
            dense mesh is the union of thousands of soft triangles, so it spills
            over its outline by a few widths; wider edges make the rendered-mask
            error smallest for a hand drawn too small, i.e. too far from the camera
            (docs/results.md). At 1/512 of the side the
            error is smallest within 2 % of the true depth at every map size (a
            test checks it on the open hand), at the price of gradients only near
            the outline.
        mask_refine_width: channels of `MaskRefiner` (ours, not the paper's), which
            refines the last stack's mask to S/2 from the stem's first convolution and
            outputs it as `mask_logits`, trained by the `mask_fine` loss term; the
            S/4 mask cannot draw fingers that are one map pixel wide. 0 = off, the
            paper's mask only (needs the "mask" task when > 0; >= 0).
        mask_refine_levels: resolutions the `MaskRefiner` doubles to: 1 = S/2 (from
            the stem's first convolution), 2 = S (then from the input image as well).
    """

    SECTION: ClassVar[str] = "model"

    num_stacks: int = 4
    width: int = 128
    stem_width: int = 64
    stem_kernel: int = 7
    separable_stem: bool = False
    input_size: int = 256
    encoder_levels: int = 3
    blocks_per_level: int = 1
    block_type: str = "bottleneck"
    expansion: int = 2
    decoder_full_res: bool = True
    norm: str = "batch"
    norm_groups: int = 8
    activation: str = "relu"
    tasks: tuple[str, ...] = TASKS
    use_tam: bool = True
    tam_reduction: int = 4
    heatmap_decoder: str = "dark"
    decoder_sigma: float = 2.0
    mask_output: str = "input"
    mesh_head: bool = True
    head_width: int = 128
    head_downsamples: int = 3
    head_pooling: str = "average"
    head_keypoints: bool = False
    regress_every_stack: bool = False
    hand_model: str = "open:right"
    use_pca: bool = False
    num_pca_comps: int = 45
    flat_hand_mean: bool = True
    rotation: str = "6d"
    focal_mode: str = "fixed"
    focal_length_norm: float = 2.0
    hand_size_m: float = 0.2
    hand_fill: float = 0.8
    depth_range: float = 4.0
    head_gradient_scale: float = 0.01
    render_mask: bool = True
    render_sigma: float | None = None
    mask_refine_width: int = 0
    mask_refine_levels: int = 1

    def validate(self) -> None:
        s = self.SECTION
        _one_of(s, "num_stacks", self.num_stacks, NUM_STACKS_CHOICES)
        for name in ("width", "stem_width", "head_width", "tam_reduction", "expansion"):
            if getattr(self, name) < 1:
                raise _fail(f"{s}.{name}", getattr(self, name), "must be >= 1")
        if self.stem_kernel < 3 or self.stem_kernel % 2 == 0:
            raise _fail(f"{s}.stem_kernel", self.stem_kernel, "must be odd and >= 3")
        if self.input_size < 32:
            raise _fail(f"{s}.input_size", self.input_size, "must be >= 32")
        for name, low in (("encoder_levels", 0), ("blocks_per_level", 1), ("head_downsamples", 0)):
            if getattr(self, name) < low:
                raise _fail(f"{s}.{name}", getattr(self, name), f"must be >= {low}")
        divisor = 4 * 2**self.encoder_levels
        if self.input_size % divisor:
            raise _fail(
                f"{s}.input_size",
                self.input_size,
                f"must be divisible by 4 * 2**encoder_levels = {divisor}",
            )
        _one_of(s, "block_type", self.block_type, BLOCK_TYPES)
        _one_of(s, "norm", self.norm, NORMS)
        _one_of(s, "activation", self.activation, ACTIVATIONS)
        if self.norm == "group":
            for name in ("width", "stem_width", "head_width"):
                if getattr(self, name) % self.norm_groups:
                    raise _fail(
                        f"{s}.{name}",
                        getattr(self, name),
                        f"must be divisible by model.norm_groups={self.norm_groups}",
                    )
        if not self.tasks or len(set(self.tasks)) != len(self.tasks):
            raise _fail(f"{s}.tasks", list(self.tasks), f"must be a non-empty subset of {TASKS}")
        for task in self.tasks:
            if task not in TASKS:
                raise _fail(
                    f"{s}.tasks", list(self.tasks), f"must be a non-empty subset of {TASKS}"
                )
        # Keep one canonical order so that equal task sets give equal configs and layers.
        object.__setattr__(self, "tasks", tuple(t for t in TASKS if t in self.tasks))
        try:
            open_side(self.hand_model)  # raises on an "open:" spec with an unknown side
            known = bool(self.hand_model)
        except HandModelError:
            known = False
        if not known:
            raise _fail(
                f"{s}.hand_model", self.hand_model, "must be 'open:right', 'open:left' or a path"
            )
        if not 1 <= self.num_pca_comps <= 45:
            raise _fail(f"{s}.num_pca_comps", self.num_pca_comps, "must be in [1, 45]")
        if self.use_pca and self.rotation != "axis_angle":
            raise _fail(
                f"{s}.rotation",
                self.rotation,
                "must be 'axis_angle' when model.use_pca=true (PCA coefficients are axis-angle)",
            )
        _one_of(s, "rotation", self.rotation, ROTATIONS)
        _one_of(s, "head_pooling", self.head_pooling, HEAD_POOLINGS)
        if self.head_keypoints and "heatmap" not in self.tasks:
            raise _fail(
                f"{s}.head_keypoints",
                self.head_keypoints,
                "needs the 'heatmap' task in model.tasks",
            )
        _one_of(s, "heatmap_decoder", self.heatmap_decoder, HEATMAP_DECODERS)
        _positive(s, "decoder_sigma", self.decoder_sigma, allow_zero=True)
        _one_of(s, "mask_output", self.mask_output, MASK_OUTPUTS)
        _one_of(s, "focal_mode", self.focal_mode, FOCAL_MODES)
        for name in ("focal_length_norm", "hand_size_m"):
            _positive(s, name, getattr(self, name))
        if self.render_sigma is not None:
            _positive(s, "render_sigma", self.render_sigma)
        if not 0 < self.hand_fill <= 1:
            raise _fail(f"{s}.hand_fill", self.hand_fill, "must be in (0, 1]")
        if not (math.isfinite(self.depth_range) and self.depth_range > 1):
            raise _fail(f"{s}.depth_range", self.depth_range, "must be > 1")
        _positive(s, "head_gradient_scale", self.head_gradient_scale, allow_zero=True)
        if self.mask_refine_width < 0:
            raise _fail(f"{s}.mask_refine_width", self.mask_refine_width, "must be >= 0")
        _one_of(s, "mask_refine_levels", self.mask_refine_levels, (1, 2))
        if self.mask_refine_width and "mask" not in self.tasks:
            raise _fail(
                f"{s}.mask_refine_width",
                self.mask_refine_width,
                "needs the 'mask' task in model.tasks (or 0)",
            )

    @property
    def heatmap_size(self) -> int:
        """Side of the heat-map, mask and POF maps: input_size / 4."""
        return self.input_size // 4

    @property
    def render_sigma_px(self) -> float:
        """`render_sigma`, or its default `heatmap_size / RENDER_SIGMA_DIVISOR`, in heat-map
        pixels."""
        if self.render_sigma is not None:
            return self.render_sigma
        return self.heatmap_size / RENDER_SIGMA_DIVISOR


@dataclasses.dataclass(frozen=True)
class SourceConfig(_Section):
    """One data source and its mixing weight.

    Attributes:
        name: reader name, e.g. "synthetic", "freihand", "rhd", "stb", "panoptic",
            "coco_hand", "folder" (unlabelled images).
        path: dataset root or TFRecord pattern; None for generated data.
        weight: relative sampling weight (normalised over all sources).
        split: which split to read.
    """

    SECTION: ClassVar[str] = "data.sources[]"

    name: str = "synthetic"
    path: str | None = None
    weight: float = 1.0
    split: str = "train"

    def validate(self) -> None:
        if not self.name:
            raise _fail("data.sources[].name", self.name, "must be a non-empty string")
        _positive(self.SECTION, "weight", self.weight, allow_zero=True)


@dataclasses.dataclass(frozen=True)
class DataConfig(_Section):
    """Input pipeline.

    Attributes:
        sources: training sources with mixing weights.
        eval_sources: sources for evaluation (weights ignored).
        input_size: crop side in pixels; None = `model.input_size` (if set, must agree).
        heatmap_size: heat-map side; None = `model.input_size // 4` (if set, must agree).
        heatmap_sigma: standard deviation of the Gaussian heat-maps, heat-map pixels.
        pof_half_width: half-thickness of a bone in the POF, heat-map pixels
            (`hiu_tf.targets.make_targets`).
        mask_threshold: the mask target at heat-map resolution (`mask_small`) is 1 where
            a map pixel is covered at least this much; null (the default) = the covered
            fraction itself, a soft target that keeps thin fingers
            (`hiu_tf.targets.make_targets`).
        batch_size: global batch size (split across replicas).
        shuffle_buffer: examples in the shuffle buffer.
        augment: apply geometric and colour augmentation to training data.
        cache: cache decoded examples in memory (small data sets only).
        mix: how training batches mix the sources: "weight" samples each element from
            a source drawn by weight (batches vary); "batch" gives every batch the
            same number of elements of each source, `weight / sum(weights) *
            batch_size`, which must be whole (for example a labelled and an
            unlabelled source with weights 8 and 8 in batches of 16: the ablations'
            equal-labelled-exposure SSL study).
    """

    SECTION: ClassVar[str] = "data"

    sources: tuple[SourceConfig, ...] = (SourceConfig(),)
    eval_sources: tuple[SourceConfig, ...] = ()
    input_size: int | None = None
    heatmap_size: int | None = None
    heatmap_sigma: float = 2.0
    pof_half_width: float = 1.0
    mask_threshold: float | None = None
    batch_size: int = 32
    shuffle_buffer: int = 1000
    augment: bool = True
    cache: bool = False
    mix: str = "weight"

    def validate(self) -> None:
        s = self.SECTION
        if not self.sources:
            raise _fail(f"{s}.sources", [], "must list at least one source")
        if sum(src.weight for src in self.sources) <= 0:
            raise _fail(
                f"{s}.sources", [src.weight for src in self.sources], "weights must sum to > 0"
            )
        for name in ("input_size", "heatmap_size"):
            if getattr(self, name) is not None and getattr(self, name) < 1:
                raise _fail(f"{s}.{name}", getattr(self, name), "must be >= 1 or null")
        for name in ("heatmap_sigma", "pof_half_width"):
            _positive(s, name, getattr(self, name))
        if self.mask_threshold is not None and not 0 < self.mask_threshold <= 1:
            raise _fail(f"{s}.mask_threshold", self.mask_threshold, "must be in (0, 1] or null")
        if self.batch_size < 1:
            raise _fail(f"{s}.batch_size", self.batch_size, "must be >= 1")
        if self.shuffle_buffer < 0:
            raise _fail(f"{s}.shuffle_buffer", self.shuffle_buffer, "must be >= 0")
        if self.mix not in DATA_MIXES:
            raise _fail(f"{s}.mix", self.mix, f"must be one of {DATA_MIXES}")
        if self.mix == "batch":
            try:
                batch_counts([src.weight for src in self.sources], self.batch_size)
            except ValueError as e:
                raise _fail(f"{s}.mix", self.mix, str(e)) from None


@dataclasses.dataclass(frozen=True)
class LossConfig(_Section):
    """Loss weights (0 switches a term off). Combined in one place by the training code.

    Attributes:
        heatmap: heat-maps of every stack (L_hm).
        pof: part orientation fields of every stack (L_pof).
        mask: segmentation cross-entropy of every stack (L_seg).
        mask_fine: the same for the refined mask (`model.mask_refine_width`; ours).
        mask_iou: 1 - soft IoU of the final mask (refined if there is a refiner; ours).
        bone_3d: orientation of the regressed 3D bones vs. ground truth (L_3d).
        reproj_2d: re-projected 2D joints vs. ground truth (L_2d).
        render_mask: rendered silhouette vs. ground-truth mask (L_mask).
        ssl_mask: rendered silhouette vs. the backbone's predicted mask (self-supervised).
        ssl_2d: re-projected joints vs. the heat-maps' keypoints (self-supervised).
        pose_prior: L2 prior on the MANO pose.
        shape_prior: L2 prior on the MANO shape.
        global_rotation: regressed vs labelled global orientation (`has_mano`; ours).
        hand_pose: regressed vs labelled finger rotations (`has_mano`; ours).
        shape: regressed vs labelled shape coefficients (`has_mano`; ours).
        joints_3d: root-relative 3D keypoints, in units of 10 cm (`has_3d`; ours).
        joints_hand: the same in each hand's own frame (global rotation undone), so
            only the fingers and the shape count (`has_3d` and `has_mano`; ours).
        depth: the anchor's depth in focal-length units, log error (`has_3d`; ours).

    `mask_fine`, `mask_iou` and the last six are not in the paper (`hiu_tf.losses` says what
    each does and why); `training/configs/objective-paper.yaml` switches them off.

    The heat-map and POF terms are pixel means of sparse maps, so an all-zero
    prediction scores far below 1 (docs/results.md), and less on larger maps (the
    Gaussians and bones cover a smaller share of the pixels; a narrower Gaussian
    lowers the heat-map term further), while the mesh terms are about 1. Weights
    of 1 let the mesh terms
    dominate; the demo, on 16 x 16 maps with 1-pixel Gaussians, uses 120 and 50
    (`training/configs/demo.yaml`, docs/learning.md).
    """

    SECTION: ClassVar[str] = "loss"

    heatmap: float = 1.0
    pof: float = 1.0
    mask: float = 1.0
    mask_fine: float = 1.0
    mask_iou: float = 0.0
    bone_3d: float = 1.0
    reproj_2d: float = 1.0
    render_mask: float = 1.0
    ssl_mask: float = 0.1
    ssl_2d: float = 0.1
    pose_prior: float = 0.001
    shape_prior: float = 0.001
    global_rotation: float = 1.0
    hand_pose: float = 1.0
    shape: float = 0.1
    joints_3d: float = 1.0
    joints_hand: float = 0.0
    depth: float = 1.0

    def validate(self) -> None:
        for f in dataclasses.fields(self):
            _positive(self.SECTION, f.name, getattr(self, f.name), allow_zero=True)


@dataclasses.dataclass(frozen=True)
class TrainConfig(_Section):
    """Optimisation and runtime.

    Attributes:
        optimizer: "adamw" (keras.optimizers.AdamW).
        learning_rate: peak learning rate.
        weight_decay: decoupled weight decay of AdamW.
        lr_schedule: "cosine" (decay to 0 after warm-up) or "constant".
        warmup_steps: linear warm-up steps.
        epochs: training epochs.
        steps_per_epoch: steps per epoch; None = one pass over finite data.
        clipnorm: clip each gradient to this norm; None = no clipping.
        mixed_precision: the Keras dtype policy of the model, set by the entry point:
            "none" (float32), "mixed_float16" (float16 compute, dynamic loss scaling by
            the automatic `keras.optimizers.LossScaleOptimizer`; for GPUs) or
            "mixed_bfloat16" (bfloat16 compute, no loss scaling; TPUs, recent GPUs and
            CPUs). `false` / `true` are still accepted and mean "none" /
            "mixed_float16".
        jit_compile: compile the train step with XLA.
        metrics: log the streaming metrics of `hiu_tf.metrics.fit_metrics` (2D PCK,
            mask IoU, MPJPE) in `fit`'s logs beside the loss terms; they are not part
            of the loss.
        distribute: "default", "mirrored" or "multi_worker" (reads TF_CONFIG).
        seed: random seed set by the entry point.
    """

    SECTION: ClassVar[str] = "train"

    optimizer: str = "adamw"
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"
    warmup_steps: int = 500
    epochs: int = 100
    steps_per_epoch: int | None = None
    clipnorm: float | None = 1.0
    mixed_precision: bool | str = "none"
    jit_compile: bool = False
    metrics: bool = True
    distribute: str = "default"
    seed: int = 0

    def validate(self) -> None:
        s = self.SECTION
        _one_of(s, "optimizer", self.optimizer, OPTIMIZERS)
        _one_of(s, "lr_schedule", self.lr_schedule, LR_SCHEDULES)
        _one_of(s, "distribute", self.distribute, DISTRIBUTE)
        if isinstance(self.mixed_precision, bool):  # the old boolean form
            object.__setattr__(
                self, "mixed_precision", "mixed_float16" if self.mixed_precision else "none"
            )
        _one_of(s, "mixed_precision", self.mixed_precision, MIXED_PRECISION)
        _positive(s, "learning_rate", self.learning_rate)
        _positive(s, "weight_decay", self.weight_decay, allow_zero=True)
        if self.clipnorm is not None:
            _positive(s, "clipnorm", self.clipnorm)
        if self.warmup_steps < 0:
            raise _fail(f"{s}.warmup_steps", self.warmup_steps, "must be >= 0")
        if self.epochs < 1:
            raise _fail(f"{s}.epochs", self.epochs, "must be >= 1")
        if self.steps_per_epoch is not None and self.steps_per_epoch < 1:
            raise _fail(f"{s}.steps_per_epoch", self.steps_per_epoch, "must be >= 1 or null")


@dataclasses.dataclass(frozen=True)
class ExportConfig(_Section):
    """Export choices.

    Attributes:
        quantization: "none", "fp16", "dynamic" (int8 weights) or "int8" (full
            integer trunk, float tail) — the names of `export tflite --quant`.
        representative_samples: images drawn from the input pipeline for full int8.
        float_tail: keep the heat-map decoding, MANO and projection in float32 when quantising.
        include_renderer: export the silhouette renderer (usually training-only).
        bytes_signature: add a SavedModel signature on encoded image bytes.
        version: version folder of the SavedModel for TF Serving.
    """

    SECTION: ClassVar[str] = "export"

    quantization: str = "none"
    representative_samples: int = 100
    float_tail: bool = True
    include_renderer: bool = False
    bytes_signature: bool = True
    version: int = 1

    def validate(self) -> None:
        s = self.SECTION
        _one_of(s, "quantization", self.quantization, QUANTIZATIONS)
        if self.representative_samples < 1:
            raise _fail(f"{s}.representative_samples", self.representative_samples, "must be >= 1")
        if self.version < 1:
            raise _fail(f"{s}.version", self.version, "must be >= 1")


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(_Section):
    """The whole experiment.

    Attributes:
        name: a short name (the preset's, or your own).
        description: free text.
        model, data, loss, train, export: the sections.
    """

    SECTION: ClassVar[str] = ""

    name: str = "custom"
    description: str = ""
    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    export: ExportConfig = dataclasses.field(default_factory=ExportConfig)

    def validate(self) -> None:
        if self.data.input_size is not None and self.data.input_size != self.model.input_size:
            raise _fail(
                "data.input_size",
                self.data.input_size,
                f"must be null or equal model.input_size={self.model.input_size}",
            )
        if self.data.heatmap_size is not None and self.data.heatmap_size != self.heatmap_size:
            raise _fail(
                "data.heatmap_size",
                self.data.heatmap_size,
                f"must be null or equal model.input_size // 4 = {self.heatmap_size}",
            )

    @property
    def input_size(self) -> int:
        """The crop side in pixels (from the model; `data.input_size` may only repeat it)."""
        return self.model.input_size

    @property
    def heatmap_size(self) -> int:
        """The heat-map side in pixels (input_size / 4)."""
        return self.model.heatmap_size


# --------------------------------------------------------------------------- dict / YAML


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Returns a config (any section) as nested dicts/lists of plain values."""

    def plain(v: Any) -> Any:
        if dataclasses.is_dataclass(v):
            return {f.name: plain(getattr(v, f.name)) for f in dataclasses.fields(v)}
        if isinstance(v, tuple | list):
            return [plain(x) for x in v]
        if isinstance(v, dict):
            return {k: plain(x) for k, x in v.items()}
        return v

    return plain(cfg)


def config_from_dict(
    data: dict[str, Any], base: ExperimentConfig | None = None
) -> ExperimentConfig:
    """Builds an `ExperimentConfig` from a (possibly partial) nested dict over `base`.

    Keys that are absent keep `base`'s values (defaults when `base` is None); lists
    (e.g. `data.sources`) are replaced whole.

    Raises:
        ConfigError: unknown keys (the message lists the valid ones) or invalid values.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"a config must be a mapping. Received: {type(data).__name__}")
    merged = _merge(config_to_dict(base or ExperimentConfig()), data, "")
    return _from_dict(ExperimentConfig, merged, "")


def _merge(base: dict, update: dict, prefix: str) -> dict:
    out = dict(base)
    for key, value in update.items():
        where = f"{prefix}.{key}" if prefix else str(key)
        if key not in base:
            raise ConfigError(
                f"unknown config key {where!r}; valid keys: {', '.join(map(str, base))}"
            )
        if isinstance(base[key], dict) and isinstance(value, dict):
            out[key] = _merge(base[key], value, where)
        else:
            out[key] = value
    return out


def load_config(path: str | os.PathLike, base: ExperimentConfig | None = None) -> ExperimentConfig:
    """Reads a YAML config over `base` (defaults when None).

    Raises:
        FileNotFoundError: no such file.
        ConfigError: malformed YAML, unknown keys or invalid values.
    """
    with open(path, encoding="utf-8") as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise ConfigError(f"{path}: not valid YAML: {e}") from e
    try:
        return config_from_dict(data or {}, base)
    except ConfigError as e:
        raise ConfigError(f"{path}: {e}") from e


class _Dumper(yaml.SafeDumper):
    """Block style for mappings, flow style for lists of scalars ("tasks: [heatmap, mask]")."""


def _represent_list(dumper: yaml.SafeDumper, data: list) -> yaml.Node:
    flow = all(not isinstance(v, dict | list) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def save_config(cfg: ExperimentConfig, path: str | os.PathLike, header: str = "") -> None:
    """Writes the full config as YAML (every field, so the file reproduces the run)."""
    text = yaml.dump(config_to_dict(cfg), Dumper=_Dumper, sort_keys=False, width=100)
    if header:
        text = "".join(f"# {line}\n" for line in header.splitlines()) + text
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def parse_assignments(
    items: Sequence[str],
    form: str = "key=value",
    what: str = "an option",
    valid_key: Callable[[str], bool] | None = None,
) -> list[tuple[str, Any]]:
    """`["key=value", ...]` -> `[(key, value), ...]`, each value parsed as YAML.

    The one parser of the command line's KEY=VALUE options (`--set`, `--synth`):
    keys are stripped, values read as YAML (numbers, true/false, null, [lists],
    {mappings}); an empty value is the empty string.

    Args:
        items: the options as given.
        form: how an option must look, for the error message ("section.field=value").
        what: what an option is, for the error message ("an override", "--synth").
        valid_key: a further check of the key's form (not of its name).

    Raises:
        ConfigError: an item without "=", with an empty key or one that fails
            `valid_key`, or a value that is not YAML.
    """
    out = []
    for item in items:
        key, sep, text = item.partition("=")
        key = key.strip()
        if not sep or not key or (valid_key is not None and not valid_key(key)):
            raise ConfigError(f"{what} must look like {form}. Received: {item!r}")
        try:
            value = yaml.safe_load(text) if text.strip() else ""
        except yaml.YAMLError as e:
            raise ConfigError(f"cannot parse the value of {key!r} as YAML: {text!r}") from e
        out.append((key, value))
    return out


def apply_overrides(
    cfg: ExperimentConfig, overrides: list[str] | tuple[str, ...]
) -> ExperimentConfig:
    """Applies `--set` overrides such as "model.num_stacks=2" or "model.tasks=[heatmap, mask]".

    Values are parsed as YAML (numbers, true/false, null, [lists], {mappings}).

    Raises:
        ConfigError: a malformed override, an unknown key (listing the valid ones) or an
            invalid value.
    """
    data: dict[str, Any] = {}
    assignments = parse_assignments(
        overrides,
        "section.field=value",
        "an override",
        lambda key: all(part for part in key.split(".")),
    )
    for key, value in assignments:
        node = data
        parts = key.split(".")
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"override {key}={value!r} conflicts with an earlier one")
        node[parts[-1]] = value
    return config_from_dict(data, cfg)
