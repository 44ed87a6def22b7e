"""`HIUModel`: the HIU-DMTL network (paper Fig. 2) as one Keras model.

    image -> Stem -> MTLBlock 1 -> MTLBlock 2 -> ... -> MTLBlock N
                        |             |                    |
                  heat-maps, mask, POF per stack      fused features
                                                           |
                               RegressorHead (one set of weights for all stacks)
                                                           |
                         theta, beta, R, T, f -> ManoLayer -> camera -> renderer

Inputs: `images [B, S, S, 3]`, float RGB in [0, 1] (the sample dict's `image`),
S = `ModelConfig.input_size`. Maps are `h = S / 4` on a side.

Outputs: a flat dict with stable string keys (export-friendly: no "/" or ".";
stacks are numbered from 1 as in the paper; N = num_stacks). All float32.

    stack{i}_heatmaps     [B, h, h, 21]  heat-maps, canonical keypoint order   ("heatmap" task)
    stack{i}_mask_logits  [B, h, h, 1]   hand-vs-background logits             ("mask" task)
    stack{i}_pof          [B, h, h, 60]  POF, channels 3b..3b+2 = bone b of
                                         `hiu_tf.keypoints.BONES`: (x, y) of the 2D
                                         direction, z of the 3D direction     ("pof" task)
    mask_logits   [B, S/r, S/r, 1]   the last stack's mask refined by `MaskRefiner` (with
                                         `mask_refine_width > 0`; ours): r = 2 with
                                         `mask_refine_levels=1`, 1 with 2   ("mask" task)
    keypoints_px_heatmap  [B, 21, 2]     keypoints read off stack{N}_heatmaps (DARK: blur,
                                         arg max, 2D Gaussian fit; or the paper's Eq. 1:
                                         `ModelConfig.heatmap_decoder`), (x, y) in
                                         input-crop pixels                 ("heatmap" task)

and, with `mesh_head=True`, from the last stack's fused features:

    mano_pose      [B, 48]     axis-angle: global orientation (3), then the 15 joints in
                               MANO order (45), *after* PCA and `hands_mean` (the
                               rotations that pose the mesh; `ManoLayer.full_pose`)
    pose_rotmat    [B, 16, 3, 3]  the same rotations as matrices (what the losses on
                               rotations compare: no round trip through axis-angle)
    mano_betas     [B, 10]     shape coefficients
    camera         [B, 4]      (f, T_x, T_y, T_z): focal length in input pixels and the
                               translation (metres) of the hand's anchor point, the
                               middle-finger MCP (keypoint 9), in the camera frame;
                               T_z stays within `depth_range` of its initial value
    vertices       [B, V, 3]   mesh, camera frame, metres
    joints_cam     [B, 21, 3]  3D keypoints, camera frame, metres, canonical order
    keypoints_px   [B, 21, 2]  joints_cam projected with Q (paper Eq. 5: focal f,
                               principal point at the crop centre), input-crop pixels
    rendered_mask  [B, h, h, 1] soft silhouette of the mesh in [0, 1], heat-map
                               resolution (when `render_mask=True`)

With `regress_every_stack=True`, stacks i < N also give `stack{i}_mano_pose`,
`stack{i}_pose_rotmat`, `stack{i}_mano_betas`, `stack{i}_camera`, `stack{i}_joints_cam` and
`stack{i}_keypoints_px` from the same (shared) head; the last stack's are the
unprefixed keys above.

Pixel convention (that of `mano_tf.camera`): continuous coordinates with pixel
(row i, column j) covering [j, j + 1) x [i, i + 1), so its centre is at
(j + 0.5, i + 0.5); the crop spans [0, S] and its centre, the principal point,
is (S / 2, S / 2). Heat-map pixel j covers input pixels [4j, 4j + 4), centre 4j + 2.

Camera frame: x right, y down, z forward (OpenCV); depth is positive in front.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

import keras
import numpy as np
from keras import ops

from hiu_tf.config import ModelConfig, config_to_dict
from hiu_tf.keypoints import ANCHOR_KEYPOINT
from hiu_tf.layers.mask_refiner import MaskRefiner
from hiu_tf.layers.mtl_block import TASK_OUTPUTS, MTLBlock
from hiu_tf.layers.regressor_head import RegressorHead
from hiu_tf.layers.soft_argmax import SoftArgmax
from hiu_tf.layers.stem import Stem
from hiu_tf.losses import MultiTaskLossMixin
from mano_tf import camera, rotations
from mano_tf.hand_model import facing_rotation, resolve_hand_model
from mano_tf.mano_layer import ManoLayer
from mano_tf.render.silhouette import render_silhouette, sigma_from_pixels

logger = logging.getLogger(__name__)

STRIDE = 4  # input pixels per heat-map pixel (the stem's two stride-2 convolutions)
# MANO joint indices used to find the hand's frame: wrist, index / middle / pinky bases.
_WRIST, _INDEX1, _MIDDLE1, _PINKY1 = 0, 1, 4, 7


def mask_output_key(keys, num_stacks: int) -> str | None:
    """The output key of the model's best mask among `keys`: the refined `mask_logits`
    (`MaskRefiner`) when the model has it, else the last stack's, else None."""
    return next((k for k in ("mask_logits", f"stack{num_stacks}_mask_logits") if k in keys), None)


def canonical_rotation(hand_model) -> np.ndarray:
    """The rotation that turns the hand upright and towards the camera at step 0.

    `mano_tf.hand_model.facing_rotation` of the rest pose's joints
    (`J_regressor @ v_template`): wrist, index / middle / pinky bases. For a right
    hand the palm then faces the camera with the thumb on the image's right (for a
    mirrored left model, the back of the hand).

    Args:
        hand_model: a `mano_tf.hand_model.HandModel`.

    Returns:
        `[3, 3]` float64 rotation matrix.
    """
    joints = np.asarray(hand_model.J_regressor, np.float64) @ np.asarray(
        hand_model.v_template, np.float64
    )  # [16, 3]
    return facing_rotation(joints[_WRIST], joints[_INDEX1], joints[_MIDDLE1], joints[_PINKY1])


def scale_gradient(x, scale: float):
    """`x` in the forward pass; its gradient multiplied by `scale` in the backward pass.

    `stop_gradient(x) + scale * (x - stop_gradient(x))`: the second term is exactly
    zero forward and has the gradient `scale`. Plain ops, so it traces, exports and
    runs under XLA like any other; the model applies it during training only.
    """
    if scale == 0.0:
        return ops.stop_gradient(x)
    frozen = ops.stop_gradient(x)
    return frozen + scale * (x - frozen)


@keras.saving.register_keras_serializable(package="hiu_tf")
class HIUModel(MultiTaskLossMixin, keras.Model):
    """The HIU-DMTL network; see the module docstring for inputs and outputs.

    Build it from a `ModelConfig` or its fields: `HIUModel(cfg)`,
    `HIUModel(num_stacks=2, width=64)`, `HIUModel(cfg, input_size=128)`.
    `get_config()` returns the `ModelConfig` as a dict of plain values, plus
    `hand_model_spec` (the `ManoLayer` spec: sizes, parents, tip ids) so that a
    `.keras` file reloads without the hand model file (the arrays are weights).

    Training: `compile(optimizer, loss_config=LossConfig(...))` makes
    `compute_loss` the project's multi-task objective (`hiu_tf.losses.total_loss`,
    masked by the label flags, each term reported as a metric `loss_<term>`;
    `hiu_tf.losses.MultiTaskLossMixin`); `fit` then takes `(image, labels)`
    batches, labels being the dict of a `hiu_tf.data.pipeline` batch. Without
    `loss_config`, compile with a loss per output key (e.g.
    `loss={"stack1_heatmaps": "mse"}`) as for any `keras.Model`.

    Args:
        config: a `ModelConfig` (or a dict of its fields); None = defaults.
        hand_model_spec: internal, set by `from_config`.
        **kwargs: `ModelConfig` fields (override `config`) and `keras.Model`
            arguments (`name`, `dtype`, `trainable`).

    Raises:
        hiu_tf.config.ConfigError: an invalid field (a `ValueError`).
    """

    def __init__(
        self,
        config: ModelConfig | dict | None = None,
        hand_model_spec: dict | None = None,
        **kwargs,
    ):
        names = {f.name for f in dataclasses.fields(ModelConfig)}
        fields = {k: kwargs.pop(k) for k in list(kwargs) if k in names}
        if config is None:
            config = ModelConfig()
        elif isinstance(config, dict):
            config = ModelConfig(**config)
        elif not isinstance(config, ModelConfig):
            raise ValueError(
                f"config must be a ModelConfig, a dict or None. Received: config={config!r}"
            )
        if fields:
            config = dataclasses.replace(config, **fields)
        kwargs.setdefault("name", "hiu_model")
        super().__init__(**kwargs)
        self.model_config = cfg = config
        self.hand_model_spec = None
        common = dict(
            norm=cfg.norm,
            norm_groups=cfg.norm_groups,
            activation=cfg.activation,
            dtype=self.dtype_policy,
        )
        self.stem = Stem(
            cfg.stem_width,
            kernel_size=cfg.stem_kernel,
            separable=cfg.separable_stem,
            return_skip=cfg.mask_refine_width > 0,
            name="stem",
            **common,
        )
        self.mask_refiner = None
        if cfg.mask_refine_width > 0:
            self.mask_refiner = MaskRefiner(cfg.mask_refine_width, name="mask_refiner", **common)
        self.blocks = [
            MTLBlock(
                cfg.width,
                tasks=cfg.tasks,
                use_tam=cfg.use_tam,
                tam_reduction=cfg.tam_reduction,
                levels=cfg.encoder_levels,
                blocks_per_level=cfg.blocks_per_level,
                block_type=cfg.block_type,
                expansion=cfg.expansion,
                decoder_full_res=cfg.decoder_full_res,
                has_previous=i > 0,
                name=f"stack{i + 1}",
                **common,
            )
            for i in range(cfg.num_stacks)
        ]
        self.soft_argmax = None
        if "heatmap" in cfg.tasks:
            # Heat-map pixel j covers input [4j, 4j + 4): its centre is at 4j + 2 in the
            # continuous pixel coordinates of the module docstring (targets.py agrees).
            self.soft_argmax = SoftArgmax(
                scale=STRIDE,
                offset=STRIDE / 2,
                mode=cfg.heatmap_decoder,
                sigma=cfg.decoder_sigma,
                name="soft_argmax",
            )
        self.mano = self.head = None
        if cfg.mesh_head:
            if hand_model_spec is not None:
                hand_model, r0 = hand_model_spec, None  # the arrays come with the weights
            else:
                hand_model = resolve_hand_model(cfg.hand_model)
                r0 = canonical_rotation(hand_model).reshape(-1).tolist()
            self.mano = ManoLayer(
                hand_model,
                use_pca=cfg.use_pca,
                num_pca_comps=cfg.num_pca_comps,
                flat_hand_mean=cfg.flat_hand_mean,
                name="mano",
            )
            self.hand_model_spec = self.mano.get_config()["hand_model"]
            self.head = RegressorHead(
                width=cfg.head_width,
                downsamples=cfg.head_downsamples,
                pooling=cfg.head_pooling,
                keypoint_inputs=cfg.head_keypoints,
                rotation=cfg.rotation,
                num_pca_comps=cfg.num_pca_comps if cfg.use_pca else 0,
                focal_mode=cfg.focal_mode,
                focal_length_norm=cfg.focal_length_norm,
                input_size=cfg.input_size,
                reference_depth=cfg.focal_length_norm * cfg.hand_size_m / cfg.hand_fill,
                depth_range=cfg.depth_range,
                canonical_rotation=r0,
                norm=cfg.norm,
                norm_groups=cfg.norm_groups,
                activation=cfg.activation,
                name="regressor_head",
            )

    # ------------------------------------------------------------------ build / call

    def build(self, input_shape):
        s = self.model_config.input_size
        shape = tuple(input_shape)
        if len(shape) != 4 or tuple(shape[1:]) != (s, s, 3):
            raise ValueError(
                f"HIUModel expects images [B, {s}, {s}, 3] (model.input_size={s}). "
                f"Received: input_shape={shape}"
            )
        self.stem.build(shape)
        stem_shape = self.stem.compute_output_shape(shape)
        if self.mask_refiner is not None:
            stem_shape, skip_shape = stem_shape
        features = None
        for block in self.blocks:
            block_in = stem_shape if features is None else [stem_shape, features]
            block.build(block_in)
            features = block.compute_output_shape(block_in)["features"]
        if self.mask_refiner is not None:
            skips = [skip_shape, shape][: self.model_config.mask_refine_levels]
            self.mask_refiner.build([features[:3] + (1,), features, *skips])
        if self.head is not None:
            self.head.build(features)
        self.built = True

    def backbone(self, images, training=None) -> tuple[list[dict[str, Any]], Any]:
        """The stem and the MTL blocks on `[B, S, S, 3]` images in [0, 1].

        Returns:
            `(stacks, features)`: one dict per stack, its task predictions
            ("heatmaps", "mask_logits", "pof": those of `model.tasks`) and its fused
            "features", in the compute dtype; and the last stack's fused features.
            With a `MaskRefiner`, the last stack's dict also has "mask_logits_fine"
            (`[B, S/2, S/2, 1]`, or `[B, S, S, 1]` with `mask_refine_levels=2`).
        """
        x = ops.cast(images, self.compute_dtype) * 2.0 - 1.0  # [0, 1] -> [-1, 1]
        stem = self.stem(x, training=training)
        if self.mask_refiner is not None:
            stem, skip = stem
        stacks: list[dict[str, Any]] = []
        features = None
        for block in self.blocks:
            out = block(stem if features is None else [stem, features], training=training)
            features = out["features"]
            stacks.append(out)
        if self.mask_refiner is not None:
            skips = [skip, x][: self.model_config.mask_refine_levels]
            stacks[-1]["mask_logits_fine"] = self.mask_refiner(
                [stacks[-1]["mask_logits"], features, *skips], training=training
            )
        return stacks, features

    def call(self, images, training=None):
        cfg = self.model_config
        stacks, features = self.backbone(images, training=training)
        outputs: dict[str, Any] = {}
        for i, out in enumerate(stacks, start=1):
            for task in cfg.tasks:
                key = TASK_OUTPUTS[task][0]
                outputs[f"stack{i}_{key}"] = ops.cast(out[key], "float32")
            if "mask_logits_fine" in out:
                outputs["mask_logits"] = ops.cast(out["mask_logits_fine"], "float32")
            if self.head is not None and cfg.regress_every_stack and i < cfg.num_stacks:
                keypoints = None
                if cfg.head_keypoints:  # this stack's own heat-maps
                    keypoints = self.soft_argmax(outputs[f"stack{i}_heatmaps"])
                outputs.update(
                    self.mesh_outputs(
                        out["features"], f"stack{i}_", training=training, keypoints_px=keypoints
                    )
                )
        if self.soft_argmax is not None:
            outputs["keypoints_px_heatmap"] = self.soft_argmax(
                outputs[f"stack{cfg.num_stacks}_heatmaps"]
            )
        if self.head is not None:
            keypoints = outputs["keypoints_px_heatmap"] if cfg.head_keypoints else None
            outputs.update(
                self.mesh_outputs(features, "", cfg.render_mask, training, keypoints_px=keypoints)
            )
        return outputs

    def mesh_outputs(
        self,
        features,
        prefix: str = "",
        render: bool = False,
        training=None,
        encoded: bool = False,
        keypoints_px=None,
    ) -> dict[str, Any]:
        """Head -> MANO -> camera (-> renderer) for one stack's fused features.

        Args:
            features: `[B, h, h, C]` fused features (`backbone`), or with `encoded`
                their `self.head.encode(...)`.
            prefix: prepended to the output keys (`"stack{i}_"` for intermediate stacks).
            render: also render the silhouette (`rendered_mask`; needs `render_mask`).
            training: Keras training flag.
            encoded: `features` went through the head's convolutions already (the export
                runs those with the int8 trunk).
            keypoints_px: `[B, 21, 2]` the stack's heat-map keypoints, read by the head
                with `head_keypoints` (else None).

        Returns:
            The mesh outputs of the module docstring, keys prefixed.
        """
        cfg = self.model_config
        if encoded:
            with keras.name_scope(self.head.name):
                params = self.head.regress(features, keypoints_px)
        else:
            if training and cfg.head_gradient_scale != 1.0:
                features = scale_gradient(features, cfg.head_gradient_scale)
            params = self.head(features, keypoints_px=keypoints_px, training=training)
        global_rotmat = params["global_rotmat"]  # [B, 3, 3]
        joint_params = params["joint_params"]
        if cfg.rotation == "6d":
            joint_rotmat = rotations.rotation_6d_to_matrix(
                ops.reshape(joint_params, (-1, 15, 6))
            )  # [B, 15, 3, 3]
            if not cfg.flat_hand_mean:  # a residual about the mean pose: R = R_pred @ R_mean
                mean = rotations.axis_angle_to_matrix(ops.reshape(self.mano.hands_mean, (15, 3)))
                joint_rotmat = ops.einsum("bjik,jkl->bjil", joint_rotmat, mean)
            finger_aa = ops.reshape(rotations.matrix_to_axis_angle(joint_rotmat), (-1, 45))
        else:
            # Axis-angle or PCA coefficients: the layer adds PCA and hands_mean.
            zeros = ops.zeros_like(joint_params[:, :3])
            finger_aa = self.mano.full_pose(ops.concatenate([zeros, joint_params], -1))[:, 3:]
            joint_rotmat = rotations.axis_angle_to_matrix(ops.reshape(finger_aa, (-1, 15, 3)))
        pose_rotmat = ops.concatenate(
            [global_rotmat[:, None], joint_rotmat], axis=1
        )  # [B, 16, 3, 3]
        mano = self.mano(betas=params["betas"], pose_rotmat=pose_rotmat)
        translation, focal = params["translation"], params["focal_px"]  # [B, 3], [B, 1]
        anchor = mano["joints"][:, ANCHOR_KEYPOINT : ANCHOR_KEYPOINT + 1]  # [B, 1, 3]
        offset = translation[:, None, :] - anchor
        joints_cam = mano["joints"] + offset  # [B, 21, 3]
        s = cfg.input_size
        intrinsics = camera.intrinsics_from_focal(focal[:, 0], s, s)  # [B, 3, 3], Q of Eq. 5
        out = {
            "mano_pose": ops.concatenate(
                [rotations.matrix_to_axis_angle(global_rotmat), finger_aa], axis=-1
            ),
            "pose_rotmat": pose_rotmat,
            "mano_betas": params["betas"],
            "camera": ops.concatenate([focal, translation], axis=-1),
            "joints_cam": joints_cam,
            "keypoints_px": camera.project_points(joints_cam, intrinsics),
        }
        if not prefix:
            out["vertices"] = mano["vertices"] + offset  # [B, V, 3]
        if render:
            out["rendered_mask"] = self._render(out["vertices"], focal)
        return {prefix + k: ops.cast(v, "float32") for k, v in out.items()}

    def _render(self, vertices, focal):
        """Soft silhouette at heat-map resolution, `[B, h, h, 1]`."""
        size = self.model_config.heatmap_size
        # Resizing by 1/4 scales f and the principal point; the centre stays the centre.
        intrinsics = camera.intrinsics_from_focal(focal[:, 0] / STRIDE, size, size)
        silhouette = render_silhouette(
            vertices,
            self.mano.faces_variable,
            intrinsics,
            size,
            size,
            sigma=sigma_from_pixels(self.model_config.render_sigma_px, size, size),
        )  # [B, h, h]
        return silhouette[..., None]

    # ------------------------------------------------------------------ config

    def get_config(self) -> dict[str, Any]:
        config = {
            "name": self.name,
            "trainable": self.trainable,
            "dtype": keras.saving.serialize_keras_object(self.dtype_policy),
        }
        config.update(config_to_dict(self.model_config))
        config["hand_model_spec"] = self.hand_model_spec
        return config

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> HIUModel:
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)


def build_model(config: ModelConfig, batch_size: int | None = None) -> HIUModel:
    """Creates and builds an `HIUModel` for `[batch_size, S, S, 3]` images."""
    model = HIUModel(config)
    s = config.input_size
    model.build((batch_size, s, s, 3))
    return model


__all__ = [
    "HIUModel",
    "build_model",
    "canonical_rotation",
    "scale_gradient",
]
