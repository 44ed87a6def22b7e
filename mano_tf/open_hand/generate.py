"""Generates the open hand model from its design, and writes it as a reproducible `.npz`.

`generate_hand_model` runs the steps in order (design, mesh, rig, blend
shapes, poses) and rounds the arrays to what the committed asset stores;
`save_compact_npz` writes them so that the same model always gives the same
bytes, which lets a test check that the committed asset is what the code makes.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile

import numpy as np

from mano_tf.hand_model import (
    ARRAY_FIELDS,
    INT_FIELDS,
    MANO_PARENTS,
    NPZ_FORMAT_VERSION,
    HandModel,
)
from mano_tf.open_hand.blend_shapes import pose_blend_shapes, shape_blend_shapes
from mano_tf.open_hand.design import hand_design
from mano_tf.open_hand.mesh import mesh_hand, tip_vertices
from mano_tf.open_hand.poses import named_pose, pose_pca
from mano_tf.open_hand.rig import joint_regressor, skinning_weights

MODEL_NAME = "open-hand-v1 (not MANO)"


def generate_hand_model() -> HandModel:
    """Generates the open right hand model from scratch, deterministically.

    Float arrays are rounded to float32, as stored in the committed asset, so a
    regenerated model equals `default_hand_model("right")`.

    Returns:
        The right-hand `HandModel`, named `MODEL_NAME`.
    """
    design = hand_design()
    vertices, faces = mesh_hand(design)
    weights = skinning_weights(vertices, faces, design)
    tips = tip_vertices(vertices, design)
    hands_mean = named_pose("relaxed")[3:]
    arrays = {
        "v_template": vertices,
        "faces": faces,
        "shapedirs": shape_blend_shapes(vertices, weights, design),
        "posedirs": pose_blend_shapes(vertices, weights, design),
        "J_regressor": joint_regressor(vertices, design.joints),
        "weights": weights,
        "parents": np.asarray(MANO_PARENTS),
        "hands_components": pose_pca(design, hands_mean),
        "hands_mean": hands_mean,
        "tip_vertex_ids": tips,
    }
    arrays = {
        k: np.asarray(v, np.int32 if k in INT_FIELDS else np.float32) for k, v in arrays.items()
    }
    return HandModel(**arrays, side="right", name=MODEL_NAME)


def save_compact_npz(model: HandModel, path: str | os.PathLike) -> None:
    """Writes a model in the project's `.npz` layout, compressed, float32, reproducibly.

    Same keys as `HandModel.save_npz` (so `load_hand_model` reads it), but float
    arrays are stored as float32, deflate-compressed, with fixed time stamps:
    the same model always gives the same bytes.

    Args:
        model: the hand model.
        path: output file.
    """
    entries = {
        field: np.asarray(getattr(model, field), np.int32 if field in INT_FIELDS else np.float32)
        for field in ARRAY_FIELDS
    }
    entries["format_version"] = np.array(NPZ_FORMAT_VERSION)
    entries["side"] = np.array(model.side)
    entries["name"] = np.array(model.name)
    with zipfile.ZipFile(path, "w") as archive:
        for key, value in entries.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.array(value, order="C"), allow_pickle=False)
            info = zipfile.ZipInfo(f"{key}.npy", date_time=(1980, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, buffer.getvalue(), compresslevel=9)


def arrays_digest(model: HandModel) -> str:
    """SHA-256 of a model's arrays as stored (float32 / int32), in field order."""
    digest = hashlib.sha256()
    for field in ARRAY_FIELDS:
        dtype = np.int32 if field in INT_FIELDS else np.float32
        digest.update(np.ascontiguousarray(getattr(model, field), dtype).tobytes())
    return digest.hexdigest()
