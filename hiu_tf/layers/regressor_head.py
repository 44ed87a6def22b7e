"""`RegressorHead`: fused task features -> MANO and camera parameters (paper Sec. 3.2)."""

from __future__ import annotations

import math

import keras
import numpy as np
from keras import ops

from hiu_tf.layers._common import ACTIVATIONS, NORMS, check_choice
from hiu_tf.layers.conv_norm_act import ConvNormAct
from mano_tf.checks import check_int
from mano_tf.rotations import axis_angle_to_matrix, rotation_6d_to_matrix

ROTATIONS = ("axis_angle", "6d")
POOLINGS = ("average", "flatten")
FOCAL_MODES = ("fixed", "predicted")
NUM_BETAS = 10
NUM_KEYPOINTS = 21
NUM_HAND_JOINTS = 15
_LN2 = math.log(2.0)
# The 6D representation of the identity: its first two columns.
_IDENTITY_6D = (1.0, 0.0, 0.0, 0.0, 1.0, 0.0)


def _softplus_unit(x):
    """softplus(x) / ln 2: positive, smooth, equal to 1 at x = 0."""
    return ops.softplus(x) / _LN2


@keras.saving.register_keras_serializable(package="hiu_tf")
class RegressorHead(keras.layers.Layer):
    """Regresses Theta = {theta, beta, R, T} and the focal length from fused features.

    One instance is shared by all stacks (the paper follows CPM: "the K regressors
    share a global group of training parameters").

    Network: `downsamples` stride-2 conv-norm-act layers (`width` channels), then
    global average pooling ("average") or the whole map flattened ("flatten": the
    FC layer sees where each feature is, e.g. how far each finger reaches), with
    `keypoint_inputs` the 21 keypoints read off the heat-maps appended (in crop
    widths from the centre, without gradient), FC (`width`, ReLU), a linear FC to
    all parameters. The last FC
    starts with tiny weights and zero bias, so at step 0 every parameter is at its
    reference value below (all maths after the convolutions is float32):

    * global rotation: `R = R_pred @ R_0`, with `R_pred` from axis-angle (0 -> I) or
      6D (offset by the identity's 6D, so 0 -> I), and `R_0` a non-trainable 3x3
      weight initialised from `canonical_rotation` (the model sets it so that the
      hand starts upright, facing the camera; it is saved with the weights).
    * joint rotations (15 joints, MANO order): axis-angle `[B, 45]` (0 = the hand
      model's zero pose) or 6D `[B, 90]` (already offset by the identity's 6D, so
      0 -> identity rotations); or `num_pca_comps` PCA coefficients.
    * shape `beta` `[B, 10]`, 0 = mean shape.
    * focal length in input pixels: `f = focal_length_norm * input_size` ("fixed"),
      or that times `softplus(d) / ln 2` ("predicted", 1 at d = 0).
    * translation `T` (metres, camera frame) of the hand's anchor point: depth
      `T_z = reference_depth * exp(r tanh(d_z / r))` with `r = ln(depth_range)`, a
      log-depth bounded to `reference_depth` times `[1 / depth_range, depth_range]`
      (`reference_depth` at d_z = 0, with unit slope there in log space), so the
      hand starts in front of the camera and can never run off to infinity (where
      a wrongly turned hand would shrink to a point that fits 2D keypoints best)
      nor onto the camera plane; and
      `T_xy = d_xy * T_z * input_size / f`, so `d_xy` is the anchor's offset from the
      crop centre in crop widths (0 = centred).

    Precision: the head's dtype policy defaults to "float32" even under a global
    mixed-precision policy (rotations, depth and focal length are a delicate
    tail); its outputs are float32.

    Shapes: features `[B, H, W, C]` -> dict of
        "global_rotmat" `[B, 3, 3]`, "joint_params" `[B, 45 | 90 | num_pca_comps]`,
        "betas" `[B, 10]`, "translation" `[B, 3]` metres, "focal_px" `[B, 1]` input
        pixels.

    Args:
        width: channels of the convolutions and units of the hidden FC layer.
        downsamples: stride-2 convolutions before pooling.
        pooling: "average" or "flatten" (needs static feature sizes).
        keypoint_inputs: also regress from the heat-maps' 2D keypoints (`call` and
            `regress` then need `keypoints_px`).
        rotation: "axis_angle" or "6d".
        num_pca_comps: 0 for per-joint rotations, else PCA coefficients (axis-angle).
        focal_mode: "fixed" or "predicted".
        focal_length_norm: focal length in crop widths.
        input_size: crop side S in pixels.
        reference_depth: initial depth T_z in metres.
        depth_range: T_z stays within this factor of `reference_depth` (> 1).
        canonical_rotation: 9 floats, the initial value of R_0 (row-major); None = identity.
        norm, norm_groups, activation: of the convolutions.
        **kwargs: base layer arguments.
    """

    def __init__(
        self,
        width: int = 128,
        downsamples: int = 3,
        pooling: str = "average",
        keypoint_inputs: bool = False,
        rotation: str = "6d",
        num_pca_comps: int = 0,
        focal_mode: str = "fixed",
        focal_length_norm: float = 2.0,
        input_size: int = 256,
        reference_depth: float = 0.5,
        depth_range: float = 4.0,
        canonical_rotation: tuple[float, ...] | list[float] | None = None,
        norm: str = "batch",
        norm_groups: int = 8,
        activation: str = "relu",
        **kwargs,
    ):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "float32"
        super().__init__(**kwargs)
        check_int(width, "width")
        check_int(downsamples, "downsamples", 0)
        check_choice("rotation", rotation, ROTATIONS)
        check_choice("pooling", pooling, POOLINGS)
        check_int(num_pca_comps, "num_pca_comps", 0)
        if num_pca_comps > 45:
            raise ValueError(
                f"`num_pca_comps` must be <= 45. Received: num_pca_comps={num_pca_comps}"
            )
        if num_pca_comps and rotation != "axis_angle":
            raise ValueError(
                "PCA pose coefficients need rotation='axis_angle'. "
                f"Received: rotation={rotation!r}, num_pca_comps={num_pca_comps}"
            )
        check_choice("focal_mode", focal_mode, FOCAL_MODES)
        for name, value in (
            ("focal_length_norm", focal_length_norm),
            ("reference_depth", reference_depth),
        ):
            if not value > 0:
                raise ValueError(f"`{name}` must be > 0. Received: {name}={value!r}")
        if not (isinstance(depth_range, int | float) and math.isfinite(depth_range)) or not (
            depth_range > 1
        ):
            raise ValueError(f"`depth_range` must be > 1. Received: depth_range={depth_range!r}")
        check_int(input_size, "input_size")
        if canonical_rotation is not None:
            r0 = np.asarray(canonical_rotation, dtype=np.float64)
            if r0.shape != (9,) or not np.allclose(
                r0.reshape(3, 3) @ r0.reshape(3, 3).T, np.eye(3), atol=1e-5
            ):
                raise ValueError(
                    "`canonical_rotation` must be 9 numbers forming a rotation matrix "
                    f"(row-major). Received: canonical_rotation={canonical_rotation}"
                )
            canonical_rotation = [float(v) for v in r0]
        check_choice("norm", norm, NORMS)
        check_choice("activation", activation, ACTIVATIONS)
        self.width = width
        self.downsamples = downsamples
        self.pooling = pooling
        self.keypoint_inputs = bool(keypoint_inputs)
        self.rotation = rotation
        self.num_pca_comps = num_pca_comps
        self.focal_mode = focal_mode
        self.focal_length_norm = float(focal_length_norm)
        self.input_size = input_size
        self.reference_depth = float(reference_depth)
        self.depth_range = float(depth_range)
        self.canonical_rotation = canonical_rotation
        self.norm = norm
        self.norm_groups = norm_groups
        self.activation = activation

        self.rot_dim = 3 if rotation == "axis_angle" else 6
        self.joint_dim = num_pca_comps or NUM_HAND_JOINTS * self.rot_dim
        self.num_outputs = (
            self.rot_dim + self.joint_dim + NUM_BETAS + 3 + (focal_mode == "predicted")
        )
        self.convs = [
            ConvNormAct(
                width,
                3,
                strides=2,
                norm=norm,
                norm_groups=norm_groups,
                activation=activation,
                name=f"conv{i}",
                dtype=self.dtype_policy,
            )
            for i in range(downsamples)
        ]
        if pooling == "average":
            self.pool = keras.layers.GlobalAveragePooling2D(name="pool", dtype=self.dtype_policy)
        else:
            self.pool = keras.layers.Flatten(name="pool", dtype=self.dtype_policy)
        self.fc = keras.layers.Dense(width, activation="relu", name="fc", dtype=self.dtype_policy)
        self.out = keras.layers.Dense(
            self.num_outputs,
            kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3),
            bias_initializer="zeros",
            name="out",
            dtype=self.dtype_policy,
        )

    def build(self, input_shape):
        shape = tuple(input_shape)
        if len(shape) != 4:
            raise ValueError(f"RegressorHead expects [B, H, W, C] features. Received: {shape}")
        for conv in self.convs:
            conv.build(shape)
            shape = conv.compute_output_shape(shape)
        if self.pooling == "flatten" and (shape[1] is None or shape[2] is None):
            raise ValueError(
                "RegressorHead(pooling='flatten') needs features of a static size. "
                f"Received: input_shape={tuple(input_shape)}"
            )
        pooled = self.pool.compute_output_shape(shape)
        extra = 2 * NUM_KEYPOINTS if self.keypoint_inputs else 0
        self.fc.build((None, pooled[-1] + extra))
        self.out.build((None, self.width))
        r0 = np.eye(3) if self.canonical_rotation is None else self.canonical_rotation
        self.canonical_rotmat = self.add_weight(
            name="canonical_rotation",
            shape=(3, 3),
            initializer=keras.initializers.Constant(np.reshape(r0, (3, 3)).tolist()),
            dtype="float32",
            trainable=False,
            autocast=False,
        )
        self.built = True

    def _to_rotmat(self, params):
        """`[B, n, 3 | 6]` -> `[B, n, 3, 3]` (6D offset so that zeros give the identity)."""
        if self.rotation == "axis_angle":
            return axis_angle_to_matrix(params)
        return rotation_6d_to_matrix(params + ops.convert_to_tensor(_IDENTITY_6D, params.dtype))

    def encode(self, inputs, training=None):
        """The convolutions and the pooling: `[B, H, W, C]` -> `[B, width]` (`[B, C]` without
        convolutions; times the remaining map size with "flatten"). `call` is
        `regress(encode(inputs))`; the export runs the two apart, this half with the
        int8 trunk (`export.graph`)."""
        x = ops.cast(inputs, self.compute_dtype)
        for conv in self.convs:
            x = conv(x, training=training)
        return self.pool(x)

    def regress(self, pooled, keypoints_px=None):
        """The FC layers and the parameter maths: `encode`'s output -> the dict of `call`.

        Args:
            pooled: `encode`'s output.
            keypoints_px: `[B, 21, 2]` keypoints read off the heat-maps (input-crop
                pixels); needed with `keypoint_inputs`, else ignored.
        """
        x = ops.cast(pooled, self.compute_dtype)
        if self.keypoint_inputs:
            if keypoints_px is None:
                raise ValueError(
                    "RegressorHead(keypoint_inputs=True) needs keypoints_px [B, 21, 2]. "
                    "Received: keypoints_px=None"
                )
            # Crop widths from the centre; a fixed input, so no gradient into the heat-maps.
            kp = ops.stop_gradient(ops.cast(keypoints_px, self.compute_dtype))
            kp = ops.reshape(kp / float(self.input_size) - 0.5, (-1, 2 * NUM_KEYPOINTS))
            x = ops.concatenate([x, kp], axis=-1)
        raw = self.out(self.fc(x))  # [B, P]
        i = 0
        global_params = raw[:, i : i + self.rot_dim]
        i += self.rot_dim
        joint_params = raw[:, i : i + self.joint_dim]
        i += self.joint_dim
        betas = raw[:, i : i + NUM_BETAS]
        i += NUM_BETAS
        d_xy, d_z = raw[:, i : i + 2], raw[:, i + 2 : i + 3]
        i += 3
        f_ref = self.focal_length_norm * self.input_size
        if self.focal_mode == "predicted":
            focal = f_ref * _softplus_unit(raw[:, i : i + 1]) + 1e-3 * f_ref  # [B, 1]
        else:
            focal = ops.zeros_like(d_z) + f_ref  # [B, 1]
        r = math.log(self.depth_range)
        depth = self.reference_depth * ops.exp(r * ops.tanh(d_z / r))  # [B, 1] > 0, bounded
        translation = ops.concatenate(
            [d_xy * depth * (self.input_size / focal), depth], axis=-1
        )  # [B, 3]

        global_rotmat = self._to_rotmat(global_params[:, None, :])[:, 0]  # [B, 3, 3]
        # R_pred @ R_0: out[b, i, k] = sum_j R_pred[b, i, j] R_0[j, k]
        r0 = ops.cast(self.canonical_rotmat, global_rotmat.dtype)
        global_rotmat = ops.einsum("bij,jk->bik", global_rotmat, r0)
        if self.rotation == "6d" and not self.num_pca_comps:
            joint_params = joint_params + ops.convert_to_tensor(
                _IDENTITY_6D * NUM_HAND_JOINTS, joint_params.dtype
            )
        return {
            "global_rotmat": global_rotmat,
            "joint_params": joint_params,
            "betas": betas,
            "translation": translation,
            "focal_px": focal,
        }

    def call(self, inputs, keypoints_px=None, training=None):
        return self.regress(self.encode(inputs, training=training), keypoints_px)

    def compute_output_shape(self, input_shape):
        b = input_shape[0]
        out = {
            "global_rotmat": (b, 3, 3),
            "joint_params": (b, self.joint_dim),
            "betas": (b, NUM_BETAS),
            "translation": (b, 3),
            "focal_px": (b, 1),
        }
        return out

    def get_config(self):
        config = super().get_config()
        config.update(
            width=self.width,
            downsamples=self.downsamples,
            pooling=self.pooling,
            keypoint_inputs=self.keypoint_inputs,
            rotation=self.rotation,
            num_pca_comps=self.num_pca_comps,
            focal_mode=self.focal_mode,
            focal_length_norm=self.focal_length_norm,
            input_size=self.input_size,
            reference_depth=self.reference_depth,
            depth_range=self.depth_range,
            canonical_rotation=self.canonical_rotation,
            norm=self.norm,
            norm_groups=self.norm_groups,
            activation=self.activation,
        )
        return config
