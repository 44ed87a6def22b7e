"""The exported computation: an `HIUModel` as one float function with stable named outputs.

Every export format (SavedModel, TFLite) and the Keras `Predictor` run this
same function, so they agree by construction. It takes a batch of crops

    images  [B, S, S, 3]  float32 RGB in [0, 255]  (S = model.input_size)

and returns (all float32; pixels in the S x S input crop, with the pixel
convention of `hiu_tf.model`: pixel (i, j) covers [j, j + 1) x [i, i + 1)):

    keypoints_px        [B, 21, 2]  (x, y) read off the last stack's heat-maps
                                    (`ModelConfig.heatmap_decoder`: DARK's blurred peak
                                    refined by a 2D Gaussian fit, or Eq. 1), canonical
                                    keypoint order
    keypoints_score     [B, 21]     the peak value of each heat-map (trained
                                    heat-maps peak near 1 where the keypoint is seen)
    mask                [B, S, S]   hand probability at *input* resolution: the last
                                    stack's mask logits (or the refined S/2 ones,
                                    `model.mask_refine_width`), bilinearly upsampled
                                    (half-pixel centres), then a sigmoid; with
                                    `model.mask_output: maps`, [B, m, m]: the sigmoid of
                                    those logits at their own resolution m (S/4 or S/2),
                                    for the caller to upsample
    mano_pose           [B, 48]     axis-angle: global orientation, then 15 joints
    mano_betas          [B, 10]     shape coefficients
    camera              [B, 4]      (f, T_x, T_y, T_z): focal length in input pixels,
                                    translation (metres) of the middle-finger MCP

and, unless `mesh=False`:

    vertices            [B, V, 3]   mesh in the camera frame, metres
    joints_cam          [B, 21, 3]  3D keypoints in the camera frame, metres
    keypoints_px_mesh   [B, 21, 2]  joints_cam projected with the paper's Q (Eq. 5)

Keys whose task is not in the model are left out (no "heatmap" task: no
`keypoints_px` / `keypoints_score`; no "mask" task: no `mask`; no mesh head: no
MANO or camera outputs).

`mesh=False` leaves out the hand model: the function never touches `ManoLayer`,
so its arrays (MANO's are licensed) are not captured by an export. Only the
regressor head's parameters remain; this needs a pose that is not expressed
through the hand model's PCA basis or mean pose (`use_pca=False`,
`flat_hand_mean=True`, the defaults).

Structure (for selective quantisation): the convolutional trunk (stem, MTL
blocks, and the regressor head's convolutions and pooling) runs under the name
scope `trunk`, everything after it (the regressor head's FC layers,
soft-argmax, heat-map peaks, mask upsampling, MANO, projection) under
`FLOAT_TAIL_SCOPE`; `export.tflite` keeps every op outside `trunk` (the tail and
the ops producing the outputs) in float32 when it quantises to int8.

TFLite builtins: everything traced here converts to builtin ops
(`mano_tf.rotations` spells trace, diagonal and cross product element-wise).
"""

from __future__ import annotations

import logging

import tensorflow as tf

from hiu_tf.errors import UserError

logger = logging.getLogger(__name__)

FLOAT_TAIL_SCOPE = "float_tail"
TRUNK_SCOPE = "trunk"
MESH_KEYS = ("vertices", "joints_cam", "keypoints_px_mesh")
PARAM_KEYS = ("mano_pose", "mano_betas", "camera")
MAP_KEYS = ("keypoints_px", "keypoints_score", "mask")


class ExportError(UserError, ValueError):
    """A model or option that cannot be exported as asked."""


def output_keys(model, mesh: bool = True) -> tuple[str, ...]:
    """The output names of `forward(model, ..., mesh=mesh)`, in a stable order."""
    cfg = model.model_config
    keys: list[str] = []
    if "heatmap" in cfg.tasks:
        keys += ["keypoints_px", "keypoints_score"]
    if "mask" in cfg.tasks:
        keys.append("mask")
    if cfg.mesh_head:
        keys += list(PARAM_KEYS)
        if mesh:
            keys += list(MESH_KEYS)
    return tuple(keys)


def check_exportable(model, mesh: bool = True) -> None:
    """Raises `ExportError` when `model` cannot be exported with these options.

    Args:
        model: an `hiu_tf.model.HIUModel`.
        mesh: whether the hand model is exported.
    """
    from hiu_tf.model import HIUModel

    if not isinstance(model, HIUModel):
        raise ExportError(f"expected an HIUModel. Received: model={type(model).__name__}")
    cfg = model.model_config
    if not mesh and cfg.mesh_head and (cfg.use_pca or not cfg.flat_hand_mean):
        raise ExportError(
            "--no-mesh exports the pose without the hand model, which needs "
            "model.use_pca=false and model.flat_hand_mean=true (otherwise the pose is "
            "expressed through the hand model's PCA basis or mean pose). Received: "
            f"model.use_pca={cfg.use_pca}, model.flat_hand_mean={cfg.flat_hand_mean}"
        )
    if not output_keys(model, mesh):
        raise ExportError("the model has no exportable outputs (no tasks and no mesh head)")


# --------------------------------------------------------------------------- forward


def _trunk(model, images01):
    """Stem and MTL blocks (`HIUModel.backbone`): the last stack's maps, and its fused
    features through the regressor head's convolutions (`RegressorHead.encode`)."""
    cfg = model.model_config
    stacks, features = model.backbone(images01, training=False)
    if cfg.mesh_head:
        # The regressor head's convolutions and pooling run with the trunk: int8 in an
        # int8 export. Kept float, the float tail would begin by dequantising the fused
        # maps and run three float 3 x 3 convolutions on them (docs/export.md, "Latency",
        # item 3); only the FC layers and the maths after them are float.
        with tf.name_scope("regressor_head"):
            features = model.head.encode(features, training=False)
    maps = {}
    if "heatmap" in cfg.tasks:
        maps["heatmaps"] = tf.cast(stacks[-1]["heatmaps"], tf.float32)  # [B, h, h, 21]
    if "mask" in cfg.tasks:
        # [B, h, h, 1], or [B, 2h, 2h, 1] refined by the model's MaskRefiner
        logits = stacks[-1].get("mask_logits_fine", stacks[-1]["mask_logits"])
        maps["mask_logits"] = tf.cast(logits, tf.float32)
    return maps, features


def _params_only(model, features, keypoints_px=None) -> dict[str, tf.Tensor]:
    """Encoded features (`_trunk`) -> the head's FC layers -> pose, shape and camera,
    without the hand model (see `check_exportable`)."""
    from mano_tf import rotations

    cfg = model.model_config
    with tf.name_scope(model.head.name):
        params = model.head.regress(features, keypoints_px)
    joint_params = params["joint_params"]
    if cfg.rotation == "6d":
        joint_rotmat = rotations.rotation_6d_to_matrix(tf.reshape(joint_params, (-1, 15, 6)))
        finger_aa = tf.reshape(rotations.matrix_to_axis_angle(joint_rotmat), (-1, 45))
    else:
        finger_aa = joint_params  # axis-angle, flat mean, no PCA: the pose itself
    pose = tf.concat([rotations.matrix_to_axis_angle(params["global_rotmat"]), finger_aa], -1)
    return {
        "mano_pose": tf.cast(pose, tf.float32),
        "mano_betas": tf.cast(params["betas"], tf.float32),
        "camera": tf.cast(tf.concat([params["focal_px"], params["translation"]], -1), tf.float32),
    }


def forward(model, images, mesh: bool = True) -> dict[str, tf.Tensor]:
    """Runs the export function (see the module docstring) on `[B, S, S, 3]` 0-255 images.

    Args:
        model: an `HIUModel` (built).
        images: `[B, S, S, 3]` RGB in [0, 255], any float or integer dtype.
        mesh: also output vertices, joints_cam and keypoints_px_mesh.

    Returns:
        A dict of float32 tensors keyed by `output_keys(model, mesh)`.
    """
    cfg = model.model_config
    s = cfg.input_size
    with tf.name_scope(TRUNK_SCOPE):
        images01 = tf.cast(images, tf.float32) * (1.0 / 255.0)
        maps, features = _trunk(model, images01)
    out: dict[str, tf.Tensor] = {}
    with tf.name_scope(FLOAT_TAIL_SCOPE):
        if "heatmaps" in maps:
            heatmaps = maps["heatmaps"]
            out["keypoints_px"] = tf.cast(model.soft_argmax(heatmaps), tf.float32)
            out["keypoints_score"] = tf.reduce_max(heatmaps, axis=(1, 2))  # [B, 21]
        if "mask_logits" in maps:
            logits = maps["mask_logits"]
            if cfg.mask_output == "input":
                logits = tf.image.resize(logits, (s, s), method="bilinear")
            # squeeze, not [..., 0]: TFLite runs the latter as a STRIDED_SLICE outside
            # XNNPACK, most of the mask's time at 224 x 224 (`bench_infer.py --scopes`);
            # squeeze is a RESHAPE, free.
            out["mask"] = tf.squeeze(tf.sigmoid(logits), axis=-1)  # [B, S, S] or [B, m, m]
        if cfg.mesh_head:
            keypoints = out.get("keypoints_px") if cfg.head_keypoints else None
            if mesh:
                # no renderer
                mesh_out = model.mesh_outputs(
                    features, training=False, encoded=True, keypoints_px=keypoints
                )
                for key in PARAM_KEYS + ("vertices", "joints_cam"):
                    out[key] = tf.cast(mesh_out[key], tf.float32)
                out["keypoints_px_mesh"] = tf.cast(mesh_out["keypoints_px"], tf.float32)
            else:
                out.update(_params_only(model, features, keypoints))
    return {k: out[k] for k in output_keys(model, mesh)}


__all__ = [
    "FLOAT_TAIL_SCOPE",
    "ExportError",
    "check_exportable",
    "forward",
    "output_keys",
]
