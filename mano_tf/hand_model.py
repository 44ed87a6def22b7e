"""The hand model: a frozen dataclass of NumPy arrays, and its safe loaders.

`load_hand_model(path)` reads

* the official MANO pickles (`MANO_RIGHT.pkl`, `MANO_LEFT.pkl`): Python-2
  pickles that hold chumpy objects and a scipy sparse `J_regressor`. They are
  read **without chumpy and without scipy** by a restricted unpickler that can
  only rebuild NumPy arrays, dtypes, chumpy leaf arrays and scipy sparse
  matrices (turned into dense arrays). Any other global that the pickle asks
  for (`os.system`, `builtins.eval`, `subprocess.Popen`, ...) is refused with
  `UnsafePickleError` before anything in the file runs.
* the project's own `.npz` format, written by `HandModel.save_npz`.
"""

from __future__ import annotations

import dataclasses
import io
import logging
import os
import pickle
import zipfile
from typing import Any

import numpy as np

logger = logging.getLogger(__name__)

NUM_JOINTS = 16
NUM_BETAS = 10
NUM_POSE_FEATURES = (NUM_JOINTS - 1) * 9  # 135
# MANO's kinematic tree: wrist; index 1-3; middle 4-6; pinky 7-9; ring 10-12; thumb 13-15.
MANO_PARENTS = (-1, 0, 1, 2, 0, 4, 5, 0, 7, 8, 0, 10, 11, 0, 13, 14)
# smplx / HaMeR fingertip vertex ids of the right MANO mesh: thumb, index, middle, ring, pinky.
MANO_TIP_VERTEX_IDS = (744, 320, 443, 554, 671)
# [16 MANO joints + 5 tips (thumb, index, middle, ring, pinky)] -> the canonical 21
# keypoints (`hiu_tf.keypoints`): canonical[i] = mano_with_tips[MANO_TO_CANONICAL[i]].
MANO_TO_CANONICAL = (0, 13, 14, 15, 16, 1, 2, 3, 17, 4, 5, 6, 18, 10, 11, 12, 19, 7, 8, 9, 20)
NPZ_FORMAT_VERSION = 1


class HandModelError(ValueError):
    """A hand model file is missing, malformed or inconsistent."""


class UnsafePickleError(pickle.UnpicklingError):
    """A pickle asked for a global that the restricted unpickler does not allow."""


@dataclasses.dataclass(frozen=True, eq=False)
class HandModel:
    """A MANO-style hand model: a template mesh with blend shapes and a skeleton.

    All arrays are float64 (int32 for indices) and read-only. Units are metres.

    Attributes:
        v_template: `[V, 3]` rest-pose vertices (the flat hand).
        faces: `[F, 3]` int32 vertex indices, counter-clockwise seen from outside.
        shapedirs: `[V, 3, 10]` shape blend shapes (per unit of beta).
        posedirs: `[V, 3, 135]` pose blend shapes, applied to the flattened
            `(R_j - I)` of joints 1..15 (smplx order: joint-major, then row, col).
        J_regressor: `[16, V]` dense joint regressor.
        weights: `[V, 16]` skinning weights, each row sums to one.
        parents: `[16]` int32 parent of each joint, -1 for the root.
        hands_components: `[45, 45]` PCA basis of the 15 finger-joint axis-angles,
            one component per row.
        hands_mean: `[45]` mean finger pose (axis-angle) added when
            `flat_hand_mean=False`.
        tip_vertex_ids: `[5]` int32 fingertip vertices: thumb, index, middle, ring,
            pinky.
        side: "right" or "left".
        name: where the model came from (e.g. "open-hand-v1" or "MANO_RIGHT.pkl").
    """

    v_template: np.ndarray
    faces: np.ndarray
    shapedirs: np.ndarray
    posedirs: np.ndarray
    J_regressor: np.ndarray
    weights: np.ndarray
    parents: np.ndarray
    hands_components: np.ndarray
    hands_mean: np.ndarray
    tip_vertex_ids: np.ndarray
    side: str
    name: str

    def __post_init__(self) -> None:
        for field in ARRAY_FIELDS:
            value = np.array(getattr(self, field), dtype=_FIELD_DTYPES.get(field, np.float64))
            value.setflags(write=False)
            object.__setattr__(self, field, value)
        _validate(self)

    @property
    def num_vertices(self) -> int:
        return int(self.v_template.shape[0])

    @property
    def num_faces(self) -> int:
        return int(self.faces.shape[0])

    @property
    def num_betas(self) -> int:
        return int(self.shapedirs.shape[2])

    def save_npz(self, path: str | os.PathLike) -> None:
        """Writes the model to the project's `.npz` format (uncompressed).

        Args:
            path: output file; `.npz` is not appended automatically.
        """
        arrays = {field: getattr(self, field) for field in ARRAY_FIELDS}
        meta = {
            "format_version": np.array(NPZ_FORMAT_VERSION),
            "side": np.array(self.side),
            "name": np.array(self.name),
        }
        # Write through a file object so that NumPy does not append ".npz".
        with open(path, "wb") as f:
            np.savez(f, **arrays, **meta)

    def summary(self) -> dict[str, Any]:
        """Returns a JSON-friendly description (sizes, extent, side, name)."""
        extent = self.v_template.max(axis=0) - self.v_template.min(axis=0)
        return {
            "name": self.name,
            "side": self.side,
            "num_vertices": self.num_vertices,
            "num_faces": self.num_faces,
            "num_joints": int(self.parents.shape[0]),
            "num_betas": self.num_betas,
            "num_pose_features": int(self.posedirs.shape[2]),
            "pca_components": int(self.hands_components.shape[0]),
            "tip_vertex_ids": [int(i) for i in self.tip_vertex_ids],
            "extent_m": [round(float(e), 4) for e in extent],
            "parents": [int(p) for p in self.parents],
        }


# The arrays of a hand model, in the order the .npz and the open model's generator write them.
ARRAY_FIELDS = (
    "v_template",
    "faces",
    "shapedirs",
    "posedirs",
    "J_regressor",
    "weights",
    "parents",
    "hands_components",
    "hands_mean",
    "tip_vertex_ids",
)
INT_FIELDS = ("faces", "parents", "tip_vertex_ids")  # int32; the others are floats
_FIELD_DTYPES = dict.fromkeys(INT_FIELDS, np.int32)


def mirror_hand_model(model: HandModel) -> HandModel:
    """The mirror image of a hand model (right <-> left) through the plane x = 0.

    With `M = diag(-1, 1, 1)`, the mirrored model posed with the mirrored pose
    (axis-angle `(x, y, z) -> (x, -y, -z)` per joint, global orientation
    included) and the same betas gives exactly the mirror `M v` of the original
    model's vertices and joints:

    * `v_template`, `shapedirs`: x negated.
    * `faces`: winding reversed, so that they stay counter-clockwise from outside.
    * `posedirs`: a pose feature `(R - I)[i, j]` becomes that of `M R M`, which is
      `s_i s_j (R - I)[i, j]` with `s = (-1, 1, 1)`; the displacement's x is negated
      too, so entry `(v, c, 9 k + 3 i + j)` is multiplied by `s_c s_i s_j`.
    * `hands_components`, `hands_mean`: `(x, y, z) -> (x, -y, -z)` per joint.
    * `J_regressor`, `weights`, `parents`, `tip_vertex_ids`: unchanged.

    Args:
        model: a right or left hand model.

    Returns:
        The model of the other side; its name records the mirroring.
    """
    s = np.array([-1.0, 1.0, 1.0])
    feature_sign = np.tile(np.outer(s, s).reshape(-1), NUM_JOINTS - 1)  # [135]
    aa_sign = np.tile(np.array([1.0, -1.0, -1.0]), (NUM_JOINTS - 1))  # [45]
    side = "left" if model.side == "right" else "right"
    return HandModel(
        v_template=model.v_template * s,
        faces=model.faces[:, ::-1],
        shapedirs=model.shapedirs * s[None, :, None],
        posedirs=model.posedirs * s[None, :, None] * feature_sign[None, None, :],
        J_regressor=model.J_regressor,
        weights=model.weights,
        parents=model.parents,
        hands_components=model.hands_components * aa_sign[None, :],
        hands_mean=model.hands_mean * aa_sign,
        tip_vertex_ids=model.tip_vertex_ids,
        side=side,
        name=f"{model.name}, mirrored to {side}",
    )


def facing_rotation(wrist, index_base, middle_base, pinky_base) -> np.ndarray:
    """The rotation that turns a hand upright, its palm towards the camera.

    From four joints of a flat hand (any frame): `a` = wrist -> middle-finger base,
    `c` = normalised `a x (index base - pinky base)`, `b = c x a`. The returned
    `R` maps `a` to image-up `(0, -1, 0)` and `c` to the viewing direction
    `(0, 0, 1)` of the camera frame (x right, y down, z forward). For a right
    hand the palm then faces the camera with the thumb on the image's right; for
    a left hand (mirrored), the back of the hand.

    Args:
        wrist, index_base, middle_base, pinky_base: `[3]` points.

    Returns:
        `[3, 3]` float64 rotation matrix.
    """
    wrist, index_base, middle_base, pinky_base = (
        np.asarray(p, np.float64) for p in (wrist, index_base, middle_base, pinky_base)
    )
    a = middle_base - wrist
    a = a / np.linalg.norm(a)
    c = np.cross(a, index_base - pinky_base)
    c = c / np.linalg.norm(c)
    b = np.cross(c, a)
    source = np.stack([a, b, c], axis=1)  # columns
    target = np.array([[0.0, 1.0, 0.0], [-1.0, 0.0, 0.0], [0.0, 0.0, 1.0]])  # a_t, b_t, c_t
    return target @ source.T


def _validate(model: HandModel) -> None:
    """Checks shapes and values; raises HandModelError naming the field."""
    v = model.v_template.shape[0] if model.v_template.ndim == 2 else -1
    expected = {
        "v_template": (v, 3),
        "shapedirs": (v, 3, None),
        "posedirs": (v, 3, NUM_POSE_FEATURES),
        "J_regressor": (NUM_JOINTS, v),
        "weights": (v, NUM_JOINTS),
        "parents": (NUM_JOINTS,),
        "hands_components": (None, 45),
        "hands_mean": (45,),
        "tip_vertex_ids": (5,),
        "faces": (None, 3),
    }
    if v <= 0:
        raise HandModelError(
            f"v_template must have shape [V, 3]. Received: v_template.shape={model.v_template.shape}"
        )
    for field, shape in expected.items():
        actual = getattr(model, field).shape
        if len(actual) != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, actual, strict=True)
        ):
            shown = tuple("*" if s is None else s for s in shape)
            raise HandModelError(
                f"{field} must have shape {shown} for a model with {v} vertices. "
                f"Received: {field}.shape={actual}"
            )
    if model.faces.size and (model.faces.min() < 0 or model.faces.max() >= v):
        raise HandModelError(
            f"faces must index vertices in [0, {v}). Received: faces range "
            f"[{model.faces.min()}, {model.faces.max()}]"
        )
    if model.tip_vertex_ids.min() < 0 or model.tip_vertex_ids.max() >= v:
        raise HandModelError(
            f"tip_vertex_ids must index vertices in [0, {v}). "
            f"Received: tip_vertex_ids={model.tip_vertex_ids.tolist()}"
        )
    parents = model.parents
    if parents[0] != -1 or any(not 0 <= parents[i] < i for i in range(1, NUM_JOINTS)):
        raise HandModelError(
            "parents must be -1 for the root and point to an earlier joint otherwise. "
            f"Received: parents={parents.tolist()}"
        )
    if model.side not in ("right", "left"):
        raise HandModelError(f"side must be 'right' or 'left'. Received: side={model.side!r}")


# --------------------------------------------------------------------------------------
# Restricted unpickling of the official MANO files.
# --------------------------------------------------------------------------------------


class _Recorded:
    """Stands in for an allowed foreign class (chumpy, scipy.sparse): it keeps state only.

    `find_class` hands out a fresh subclass per allowed global, so the pickle
    machinery (REDUCE, NEWOBJ, BUILD) can build it, but nothing of the real class runs.
    """

    kind = "object"
    qualname = "?"
    args: tuple = ()
    state: Any = None

    def __init__(self, *args: Any) -> None:
        self.args = args

    def __setstate__(self, state: Any) -> None:
        self.state = state


def _recorded_class(kind: str, qualname: str) -> type[_Recorded]:
    return type(f"Recorded[{qualname}]", (_Recorded,), {"kind": kind, "qualname": qualname})


def _reconstructor(cls: Any, base: Any, state: Any) -> Any:
    """Safe stand-in for `copy_reg._reconstructor` (Python 2's object rebuilding)."""
    if isinstance(cls, type) and issubclass(cls, _Recorded) and base is object:
        obj = cls.__new__(cls)
        if state is not None:
            obj.args = (state,)
        return obj
    raise UnsafePickleError(
        f"the pickle asked to rebuild an object of type {cls!r}; only NumPy arrays, "
        "chumpy arrays and scipy sparse matrices are allowed"
    )


_NUMPY_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_SAFE_BUILTINS = {"object": object, "set": set, "frozenset": frozenset}


def _latin1_encode(text: Any, encoding: str = "latin1") -> bytes:
    """Safe stand-in for `_codecs.encode`, which Python 3 uses to pickle bytes at protocol 2."""
    if not isinstance(text, str) or encoding not in ("latin1", "latin-1"):
        raise UnsafePickleError(f"unexpected _codecs.encode({type(text).__name__}, {encoding!r})")
    return text.encode("latin1")


_CHUMPY_MODULES = ("chumpy", "chumpy.ch", "chumpy.ch_ops", "chumpy.reordering", "chumpy.utils")
_SPARSE_NAMES = ("csc_matrix", "csr_matrix", "coo_matrix")


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler whose `find_class` only returns array builders or inert placeholders."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in _NUMPY_GLOBALS:
            return super().find_class(module, name)
        if module in ("copy_reg", "copyreg") and name == "_reconstructor":
            return _reconstructor
        if module in ("__builtin__", "builtins") and name in _SAFE_BUILTINS:
            return _SAFE_BUILTINS[name]
        if module == "_codecs" and name == "encode":
            return _latin1_encode
        if module in _CHUMPY_MODULES and name.isidentifier():
            return _recorded_class("chumpy", f"{module}.{name}")
        if module.startswith("scipy.sparse") and name in _SPARSE_NAMES:
            return _recorded_class("sparse", name)
        raise UnsafePickleError(
            f"refusing to load global '{module}.{name}' from the pickle: a hand model file "
            "may only contain NumPy arrays, chumpy arrays and scipy sparse matrices. "
            "Nothing from the file was executed."
        )


def _to_array(value: Any, key: str) -> Any:
    """Turns recorded chumpy / sparse placeholders into NumPy arrays (recursively)."""
    if isinstance(value, _Recorded):
        state = value.state if value.state is not None else (value.args[0] if value.args else None)
        if value.kind == "chumpy":
            if isinstance(state, dict) and "x" in state:
                return np.asarray(_to_array(state["x"], key))
            if isinstance(state, dict) and "a" in state and len(state) <= 4:
                return np.asarray(_to_array(state["a"], key))
            raise HandModelError(
                f"{key}: unsupported chumpy object {value.qualname}; expected a plain Ch array"
            )
        return _sparse_to_dense(state, value.qualname, key)
    if isinstance(value, dict):
        return {k: _to_array(v, k if isinstance(k, str) else key) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(_to_array(v, key) for v in value)
    return value


def _sparse_to_dense(state: Any, qualname: str, key: str) -> np.ndarray:
    if not isinstance(state, dict):
        raise HandModelError(f"{key}: malformed {qualname} in the pickle")
    shape = state.get("_shape", state.get("shape"))
    if shape is None:
        raise HandModelError(f"{key}: {qualname} without a shape")
    shape = tuple(int(s) for s in shape)
    dense = np.zeros(shape, dtype=np.float64)
    if qualname == "coo_matrix":
        row, col = np.asarray(state["row"]), np.asarray(state["col"])
        np.add.at(dense, (row, col), np.asarray(state["data"], dtype=np.float64))
        return dense
    data = np.asarray(state["data"], dtype=np.float64)
    indices = np.asarray(state["indices"], dtype=np.int64)
    indptr = np.asarray(state["indptr"], dtype=np.int64)
    major = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
    if qualname == "csc_matrix":
        np.add.at(dense, (indices, major), data)
    else:
        np.add.at(dense, (major, indices), data)
    return dense


def load_pickle_arrays(path: str | os.PathLike) -> dict[str, Any]:
    """Reads a MANO/SMPL-style pickle into a dict of NumPy arrays, safely.

    Args:
        path: the pickle file.

    Returns:
        The pickled dict with chumpy arrays and sparse matrices turned into
        NumPy arrays.

    Raises:
        UnsafePickleError: the pickle asks for a global other than array builders.
        HandModelError: the file is not a pickled dict.
    """
    with open(path, "rb") as f:
        data = f.read()
    try:
        obj = _RestrictedUnpickler(io.BytesIO(data), encoding="latin1").load()
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError) as e:
        raise HandModelError(f"{os.fspath(path)} is not a readable hand model pickle: {e}") from e
    if not isinstance(obj, dict):
        raise HandModelError(
            f"{os.fspath(path)} must hold a dict of arrays. Received: {type(obj).__name__}"
        )
    return _to_array(obj, "<root>")


def hand_model_from_mano_dict(
    data: dict[str, Any], name: str, side: str | None = None
) -> HandModel:
    """Builds a HandModel from the key layout of the official MANO pickles.

    Args:
        data: dict with v_template, f, shapedirs, posedirs, J_regressor, weights,
            kintree_table, hands_components, hands_mean.
        name: recorded in `HandModel.name`.
        side: "right"/"left"; guessed from `name` when None.

    Returns:
        The hand model; its fingertips are the smplx/HaMeR vertex ids.
    """
    required = (
        "v_template",
        "f",
        "shapedirs",
        "posedirs",
        "J_regressor",
        "weights",
        "kintree_table",
        "hands_components",
        "hands_mean",
    )
    missing = [k for k in required if k not in data]
    if missing:
        raise HandModelError(f"{name}: missing MANO keys {missing}. Received keys: {sorted(data)}")
    kintree = np.asarray(data["kintree_table"]).astype(np.int64)
    parents = kintree[0].copy()
    parents[0] = -1
    if side is None:
        side = "left" if "left" in name.lower() else "right"
    shapedirs = np.asarray(data["shapedirs"], dtype=np.float64)
    return HandModel(
        v_template=np.asarray(data["v_template"]),
        faces=np.asarray(data["f"]).astype(np.int32),
        shapedirs=shapedirs[:, :, :NUM_BETAS],
        posedirs=np.asarray(data["posedirs"]),
        J_regressor=np.asarray(data["J_regressor"]),
        weights=np.asarray(data["weights"]),
        parents=parents.astype(np.int32),
        hands_components=np.asarray(data["hands_components"]),
        hands_mean=np.asarray(data["hands_mean"]).reshape(-1),
        tip_vertex_ids=np.asarray(MANO_TIP_VERTEX_IDS, dtype=np.int32),
        side=side,
        name=name,
    )


def _load_npz(path: str | os.PathLike) -> HandModel:
    try:
        with np.load(path, allow_pickle=False) as npz:
            missing = [k for k in (*ARRAY_FIELDS, "side", "name") if k not in npz.files]
            if missing:
                raise HandModelError(f"{os.fspath(path)}: missing arrays {missing}")
            version = int(npz["format_version"]) if "format_version" in npz.files else 0
            if version > NPZ_FORMAT_VERSION:
                raise HandModelError(
                    f"{os.fspath(path)}: format_version {version} is newer than this code "
                    f"understands ({NPZ_FORMAT_VERSION})"
                )
            kwargs = {k: npz[k] for k in ARRAY_FIELDS}
            return HandModel(**kwargs, side=str(npz["side"]), name=str(npz["name"]))
    except (zipfile.BadZipFile, OSError, ValueError) as e:
        if isinstance(e, HandModelError):
            raise
        raise HandModelError(f"{os.fspath(path)} is not a readable .npz hand model: {e}") from e


OPEN_SPECS = ("open:right", "open:left")


def open_side(spec: Any) -> str | None:
    """The side of an open-hand-model spec ("open:right" -> "right"); None for a path.

    Raises:
        HandModelError: an "open:" spec with a side other than right or left.
    """
    if not isinstance(spec, str) or not spec.startswith("open:"):
        return None
    if spec not in OPEN_SPECS:
        raise HandModelError(
            f"hand_model must be {OPEN_SPECS[0]!r}, {OPEN_SPECS[1]!r} or a path to a MANO .pkl / "
            f".npz file. Received: hand_model={spec!r}"
        )
    return spec.split(":", 1)[1]


def resolve_hand_model(spec: str | os.PathLike) -> HandModel:
    """The hand model that a spec names: "open:right" / "open:left" (the project's open
    model, `mano_tf.open_hand`) or a MANO pickle / `.npz` path (`load_hand_model`).

    This is the one place that reads a spec; configs, the CLI and `ManoLayer` call it.

    Raises:
        HandModelError: an unknown open side, or a malformed file.
        FileNotFoundError, UnsafePickleError: from `load_hand_model`.
    """
    side = open_side(spec)
    if side is None:
        return load_hand_model(spec)
    from mano_tf.open_hand import default_hand_model  # the generator imports this module

    return default_hand_model(side)


def load_hand_model(path: str | os.PathLike) -> HandModel:
    """Loads a hand model from a MANO pickle or from the project's `.npz`.

    Args:
        path: `MANO_RIGHT.pkl`, `MANO_LEFT.pkl` (official, chumpy inside is fine)
            or a `.npz` written by `HandModel.save_npz`.

    Returns:
        The hand model.

    Raises:
        FileNotFoundError: `path` does not exist.
        UnsafePickleError: the pickle asks for code other than array builders.
        HandModelError: the file is malformed.
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"hand model file not found: {path}")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic.startswith(b"PK"):
        return _load_npz(path)
    data = load_pickle_arrays(path)
    return hand_model_from_mano_dict(data, name=os.path.basename(path))
