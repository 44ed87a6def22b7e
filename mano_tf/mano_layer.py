"""`ManoLayer`: a MANO-style hand model as a Keras layer (pose, betas -> mesh and joints)."""

from __future__ import annotations

import logging
import os
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from mano_tf import lbs as lbs_lib
from mano_tf import rotations
from mano_tf.hand_model import (
    MANO_TO_CANONICAL,
    NUM_JOINTS,
    HandModel,
    resolve_hand_model,
)

logger = logging.getLogger(__name__)

NUM_KEYPOINTS = 21
_NUM_FINGER_POSE = 3 * (NUM_JOINTS - 1)  # 45
_SPEC_KEYS = (
    "name",
    "side",
    "num_vertices",
    "num_faces",
    "num_betas",
    "num_hand_components",
    "parents",
    "tip_vertex_ids",
)


def _resolve_hand_model(hand_model: Any) -> tuple[HandModel | None, dict[str, Any]]:
    """Turns the `hand_model` argument into (model or None, plain-value spec)."""
    if isinstance(hand_model, dict):
        missing = [k for k in _SPEC_KEYS if k not in hand_model]
        if missing:
            raise ValueError(
                "hand_model given as a dict must be the spec written by ManoLayer.get_config() "
                f"with keys {list(_SPEC_KEYS)}; missing {missing}. Received: hand_model={hand_model!r}"
            )
        return None, {k: hand_model[k] for k in _SPEC_KEYS}
    if isinstance(hand_model, str | os.PathLike):
        model = resolve_hand_model(hand_model)
    elif isinstance(hand_model, HandModel):
        model = hand_model
    else:
        raise ValueError(
            "hand_model must be 'open:right', 'open:left', a HandModel or a path to a MANO "
            f".pkl / .npz file. Received: hand_model={hand_model!r}"
        )
    spec = {
        "name": model.name,
        "side": model.side,
        "num_vertices": model.num_vertices,
        "num_faces": model.num_faces,
        "num_betas": model.num_betas,
        "num_hand_components": int(model.hands_components.shape[0]),
        "parents": [int(p) for p in model.parents],
        "tip_vertex_ids": [int(i) for i in model.tip_vertex_ids],
    }
    return model, spec


def _static_shape(x: tf.Tensor) -> tuple:
    return tuple(x.shape.as_list()) if x.shape.rank is not None else ("?",)


@keras.saving.register_keras_serializable(package="mano_tf")
class ManoLayer(keras.layers.Layer):
    """MANO forward pass: pose and shape parameters to a posed hand mesh and joints.

    Call `layer(pose, betas)` or `layer(betas=betas, pose_rotmat=pose_rotmat)`.
    Outputs are in metres, in the model's frame, without translation:

    * `vertices`: `[B, V, 3]`.
    * `joints`: `[B, 21, 3]` in the canonical order (wrist; thumb, index, middle,
      ring, pinky, each base to tip). The fingertips are the model's tip vertices.
    * `joints_mano`: `[B, 16, 3]` the kinematic joints in MANO's order.

    Pose input (smplx conventions):

    * `use_pca=False`: `pose` is `[B, 48]` axis-angle, global orientation (3) then
      15 finger joints (45) in MANO's joint order.
    * `use_pca=True`: `pose` is `[B, 3 + num_pca_comps]`, global orientation then
      coefficients; finger pose = `coeffs @ hands_components[:num_pca_comps]`.
    * In both cases `hands_mean` is added to the finger pose unless
      `flat_hand_mean=True` (then a zero pose is the flat hand).
    * `pose_rotmat`: `[B, 16, 3, 3]` local rotation matrices (e.g. from a 6D
      head, `mano_tf.rotations.rotation_6d_to_matrix`). They are taken as the
      **final** rotations, as smplx's `MANOLayer` does: `use_pca`, `num_pca_comps`,
      `flat_hand_mean` and `hands_mean` do not apply. A head that wants to
      predict a residual about the mean pose must compose it itself (the mean
      rotations are `axis_angle_to_matrix(reshape(hands_mean, [15, 3]))`).

    Precision: the layer always computes in float32 (its model arrays are
    float32 variables that are never autocast, and inputs are cast up), and its
    dtype policy defaults to `"float32"` even under a global mixed-precision
    policy, because the mesh is a numerically delicate tail (like a softmax
    output). Its outputs are then float32. Passing an explicit `dtype` (e.g.
    `"mixed_float16"`) keeps the float32 maths but casts the outputs to that
    compute dtype.

    Saving: the model's arrays are non-trainable weights of the layer (faces as
    int32), so they are stored in the `.keras` weights file and a reloaded
    model needs no hand-model file. `get_config()` only holds plain values: the
    hand model's name, side, sizes, parents, fingertip ids, and the options.
    `from_config()` (via the constructor, with `hand_model` given as that spec
    dict) creates zero-filled variables of those shapes, which weight loading
    then fills; such a layer gives meaningless output until its weights are
    loaded. A `.keras` file of a model built from a MANO file therefore
    contains MANO's arrays and falls under the MANO licence: do not
    redistribute it.

    Args:
        hand_model: a `HandModel`; a path to a MANO `.pkl` or a project `.npz`
            (read with `mano_tf.hand_model.load_hand_model`); `"open:right"` or
            `"open:left"` for the project's open hand model; or the spec dict
            written by `get_config()`.
        use_pca: whether `pose` holds PCA coefficients for the fingers.
        num_pca_comps: number of PCA coefficients when `use_pca=True`.
        flat_hand_mean: if True, do not add `hands_mean` to the finger pose.
        **kwargs: standard `keras.layers.Layer` arguments (`name`, `dtype`, ...).
    """

    def __init__(
        self,
        hand_model: HandModel | str | os.PathLike | dict = "open:right",
        use_pca: bool = False,
        num_pca_comps: int = 6,
        flat_hand_mean: bool = False,
        **kwargs,
    ):
        if kwargs.get("dtype") is None:
            kwargs["dtype"] = "float32"
        kwargs.setdefault("autocast", False)
        super().__init__(**kwargs)
        if not isinstance(use_pca, bool):
            raise ValueError(f"use_pca must be a bool. Received: use_pca={use_pca!r}")
        if not isinstance(flat_hand_mean, bool):
            raise ValueError(
                f"flat_hand_mean must be a bool. Received: flat_hand_mean={flat_hand_mean!r}"
            )
        model, spec = _resolve_hand_model(hand_model)
        if (
            isinstance(num_pca_comps, bool)
            or not isinstance(num_pca_comps, int | np.integer)
            or not 1 <= num_pca_comps <= spec["num_hand_components"]
        ):
            raise ValueError(
                f"num_pca_comps must be an int in [1, {spec['num_hand_components']}]. "
                f"Received: num_pca_comps={num_pca_comps!r}"
            )
        self.use_pca = use_pca
        self.num_pca_comps = int(num_pca_comps)
        self.flat_hand_mean = flat_hand_mean
        self.hand_model_name = str(spec["name"])
        self.side = str(spec["side"])
        self._num_vertices = int(spec["num_vertices"])
        self.num_faces = int(spec["num_faces"])
        self.num_betas = int(spec["num_betas"])
        self.num_hand_components = int(spec["num_hand_components"])
        self.parents = tuple(int(p) for p in spec["parents"])
        self.tip_vertex_ids = tuple(int(i) for i in spec["tip_vertex_ids"])
        if len(self.parents) != NUM_JOINTS or len(self.tip_vertex_ids) != 5:
            raise ValueError(
                f"hand_model must have {NUM_JOINTS} joints and 5 fingertips. Received: "
                f"parents={list(self.parents)}, tip_vertex_ids={list(self.tip_vertex_ids)}"
            )

        v, f = self._num_vertices, self.num_faces
        shapes = {
            "v_template": (v, 3),
            "shapedirs": (v, 3, self.num_betas),
            "posedirs": (v, 3, 9 * (NUM_JOINTS - 1)),
            "J_regressor": (NUM_JOINTS, v),
            "skinning_weights": (v, NUM_JOINTS),
            "hands_components": (self.num_hand_components, _NUM_FINGER_POSE),
            "hands_mean": (_NUM_FINGER_POSE,),
        }
        # Non-trainable float32 weights that are never autocast (see the docstring).
        for attr, shape in shapes.items():
            var = self.add_weight(
                name=attr,
                shape=shape,
                initializer="zeros",
                dtype="float32",
                trainable=False,
                autocast=False,
            )
            setattr(self, attr, var)
        self.faces_variable = self.add_weight(
            name="faces", shape=(f, 3), initializer="zeros", dtype="int32", trainable=False
        )
        if model is not None:
            arrays = {
                "v_template": model.v_template,
                "shapedirs": model.shapedirs,
                "posedirs": model.posedirs,
                "J_regressor": model.J_regressor,
                "skinning_weights": model.weights,
                "hands_components": model.hands_components,
                "hands_mean": model.hands_mean,
            }
            for attr, array in arrays.items():
                getattr(self, attr).assign(np.asarray(array, dtype=np.float32))
            self.faces_variable.assign(np.asarray(model.faces, dtype=np.int32))
        else:
            logger.debug(
                "ManoLayer %s built from a spec: zeros until weights are loaded", self.name
            )

    # ------------------------------------------------------------------ properties

    @property
    def num_vertices(self) -> int:
        """Number of mesh vertices V."""
        return self._num_vertices

    @property
    def faces(self) -> np.ndarray:
        """`[F, 3]` int32 triangle vertex indices (a NumPy copy of the faces weight)."""
        return np.asarray(keras.ops.convert_to_numpy(self.faces_variable), dtype=np.int32)

    # ------------------------------------------------------------------ maths

    def _check(self, x: Any, name: str, expected: tuple, shown: str, extra: str = "") -> tf.Tensor:
        x = tf.convert_to_tensor(x)
        if not x.dtype.is_floating and not x.dtype.is_integer:
            raise ValueError(
                f"{name} must be a float tensor. Received: {name}.dtype={x.dtype.name}"
            )
        x = tf.cast(x, tf.float32)
        shape = x.shape
        ok = shape.rank is None or (
            shape.rank == len(expected)
            and all(e is None or d is None or d == e for d, e in zip(shape, expected, strict=True))
        )
        if not ok:
            raise ValueError(
                f"{name} must have shape {shown}{extra}. Received: {name}.shape={_static_shape(x)}"
            )
        return x

    def full_pose(self, pose) -> tf.Tensor:
        """Axis-angle pose after PCA and `hands_mean`: what the rotations are made of.

        Args:
            pose: `[B, 48]`, or `[B, 3 + num_pca_comps]` when `use_pca=True`.

        Returns:
            `[B, 48]` float32 axis-angle: global orientation, then 15 finger joints.

        Raises:
            ValueError: `pose` has the wrong shape.
        """
        if self.use_pca:
            width = 3 + self.num_pca_comps
            extra = f" (global orientation + {self.num_pca_comps} PCA coefficients)"
        else:
            width = 3 + _NUM_FINGER_POSE
            extra = " (axis-angle: global orientation + 15 joints)"
        pose = self._check(pose, "pose", (None, width), f"[B, {width}]", extra)
        global_orient = pose[:, :3]  # [B, 3]
        if self.use_pca:
            components = self.hands_components[: self.num_pca_comps]  # [n, 45]
            # finger[b, k] = sum_i coeffs[b, i] * components[i, k]
            finger = tf.einsum("bi,ik->bk", pose[:, 3:], components)  # [B, 45]
        else:
            finger = pose[:, 3:]  # [B, 45]
        if not self.flat_hand_mean:
            finger = finger + self.hands_mean
        return tf.concat([global_orient, finger], axis=-1)  # [B, 48]

    def call(self, pose=None, betas=None, pose_rotmat=None) -> dict[str, tf.Tensor]:
        """Runs the hand model.

        Args:
            pose: `[B, 48]` axis-angle, or `[B, 3 + num_pca_comps]` with
                `use_pca=True`; None when `pose_rotmat` is given.
            betas: `[B, num_betas]` shape coefficients.
            pose_rotmat: `[B, 16, 3, 3]` final local rotations (keyword only in
                practice); None when `pose` is given.

        Returns:
            dict with `vertices [B, V, 3]`, `joints [B, 21, 3]` (canonical order)
            and `joints_mano [B, 16, 3]`, metres, in the layer's compute dtype.

        Raises:
            ValueError: a missing or badly shaped argument, or both/neither of
                `pose` and `pose_rotmat`.
        """
        if (pose is None) == (pose_rotmat is None):
            raise ValueError(
                "Pass exactly one of pose (axis-angle or PCA) and pose_rotmat (rotation "
                f"matrices). Received: pose={'None' if pose is None else 'a tensor'}, "
                f"pose_rotmat={'None' if pose_rotmat is None else 'a tensor'}"
            )
        if betas is None:
            raise ValueError(f"betas [B, {self.num_betas}] is required. Received: betas=None")
        betas = self._check(betas, "betas", (None, self.num_betas), f"[B, {self.num_betas}]")
        if pose_rotmat is not None:
            rotmat = self._check(
                pose_rotmat, "pose_rotmat", (None, NUM_JOINTS, 3, 3), f"[B, {NUM_JOINTS}, 3, 3]"
            )
            pose_name, pose_value = "pose_rotmat", rotmat
        else:
            full = self.full_pose(pose)  # [B, 48]
            pose_name, pose_value = "pose", full
            rotmat = rotations.axis_angle_to_matrix(
                tf.reshape(full, [-1, NUM_JOINTS, 3])
            )  # [B, 16, 3, 3]
        b_pose, b_betas = pose_value.shape[0], betas.shape[0]
        if b_pose is not None and b_betas is not None and b_pose != b_betas:
            raise ValueError(
                f"{pose_name} and betas must have the same batch size. Received: "
                f"{pose_name}.shape={_static_shape(pose_value)}, betas.shape={_static_shape(betas)}"
            )

        vertices, joints_mano = lbs_lib.lbs(
            betas,
            rotmat,
            self.v_template,
            self.shapedirs,
            self.posedirs,
            self.J_regressor,
            self.parents,
            self.skinning_weights,
        )  # [B, V, 3], [B, 16, 3]
        tips = tf.gather(vertices, self.tip_vertex_ids, axis=1)  # [B, 5, 3]
        joints = tf.gather(
            tf.concat([joints_mano, tips], axis=1), MANO_TO_CANONICAL, axis=1
        )  # [B, 21, 3]
        outputs = {"vertices": vertices, "joints": joints, "joints_mano": joints_mano}
        return {k: tf.cast(v, self.compute_dtype) for k, v in outputs.items()}

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config.update(
            {
                "hand_model": {
                    "name": self.hand_model_name,
                    "side": self.side,
                    "num_vertices": self._num_vertices,
                    "num_faces": self.num_faces,
                    "num_betas": self.num_betas,
                    "num_hand_components": self.num_hand_components,
                    "parents": list(self.parents),
                    "tip_vertex_ids": list(self.tip_vertex_ids),
                },
                "use_pca": self.use_pca,
                "num_pca_comps": self.num_pca_comps,
                "flat_hand_mean": self.flat_hand_mean,
            }
        )
        return config
