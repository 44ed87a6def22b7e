"""The objective: which terms a config switches on, and their weighted sum over a batch."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from hiu_tf.losses import terms as fns

TERMS = (
    "heatmap",
    "pof",
    "mask",
    "mask_fine",
    "mask_iou",
    "bone_3d",
    "reproj_2d",
    "render_mask",
    "ssl_mask",
    "ssl_2d",
    "pose_prior",
    "shape_prior",
    "global_rotation",
    "hand_pose",
    "shape",
    "joints_3d",
    "joints_hand",
    "depth",
)
# Label keys that `total_loss` may read (a batch from `hiu_tf.data.pipeline` has them all).
LABEL_KEYS = (
    "heatmaps",
    "pof",
    "pof_weight",
    "mask_small",
    "mask",
    "keypoints_px",
    "keypoint_visible",
    "joints_cam",
    "has_2d",
    "has_3d",
    "has_mask",
    "intrinsics",
    "mano_pose",
    "mano_betas",
    "has_mano",
)


def active_terms(loss_config, model_config) -> tuple[str, ...]:
    """The terms that `total_loss` computes: a non-zero weight and the outputs to feed it.

    Args:
        loss_config: `hiu_tf.config.LossConfig`.
        model_config: `hiu_tf.config.ModelConfig`.

    Returns:
        Term names in the order of `TERMS`.
    """
    tasks = set(model_config.tasks)
    mesh = bool(model_config.mesh_head)
    render = mesh and bool(model_config.render_mask)
    available = {
        "heatmap": "heatmap" in tasks,
        "pof": "pof" in tasks,
        "mask": "mask" in tasks,
        "mask_fine": "mask" in tasks and model_config.mask_refine_width > 0,
        "mask_iou": "mask" in tasks,
        "bone_3d": mesh,
        "reproj_2d": mesh,
        "render_mask": render,
        "ssl_mask": render and "mask" in tasks,
        "ssl_2d": mesh and "heatmap" in tasks,
        "pose_prior": mesh,
        "shape_prior": mesh,
        "global_rotation": mesh,
        "hand_pose": mesh,
        "shape": mesh,
        "joints_3d": mesh,
        "joints_hand": mesh,
        "depth": mesh,
    }
    return tuple(t for t in TERMS if available[t] and getattr(loss_config, t) > 0)


def _mean(values: list[tf.Tensor]) -> tf.Tensor:
    return values[0] if len(values) == 1 else tf.add_n(values) / float(len(values))


def _label(labels: Mapping[str, Any], key: str, term: str) -> tf.Tensor:
    if key not in labels:
        raise ValueError(
            f"the {term!r} loss needs the label {key!r} (a batch of hiu_tf.data.pipeline). "
            f"Received: labels with keys {sorted(labels)}"
        )
    return labels[key]


def total_loss(
    outputs: Mapping[str, Any],
    labels: Mapping[str, Any],
    loss_config,
    model_config,
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """Combines the terms with the `LossConfig` weights: `sum_t weight_t * term_t`.

    Terms with weight 0, or whose outputs the model does not make (a task switched
    off, no mesh head, no renderer, or a key missing from `outputs`), are skipped.

    Args:
        outputs: the `HIUModel` outputs dict (see `hiu_tf.model`).
        labels: a batch of `hiu_tf.data.pipeline` (sample dict plus targets; at least
            the `LABEL_KEYS` that the active terms read).
        loss_config: `hiu_tf.config.LossConfig` (weights).
        model_config: `hiu_tf.config.ModelConfig` (tasks, stacks, input size).

    Returns:
        `(total, terms)`: the weighted sum (scalar float32) and the unweighted terms
        by name (a subset of `TERMS`, in that order).

    Raises:
        ValueError: an active term's label is missing.
    """
    n = model_config.num_stacks
    size = float(model_config.input_size)
    stacks = [f"stack{i}_" for i in range(1, n + 1)]
    # The mesh branch: the last stack (no prefix) and, with regress_every_stack, the others.
    meshes = [p for p in stacks[:-1] if f"{p}keypoints_px" in outputs] + [""]
    # Terms computed on each prediction of the heat-map stacks ("stack") or of the mesh
    # branch ("mesh"), averaged over them: (outputs, over, label keys, fn(*outputs, *labels));
    # `outputs` is one output key or a tuple of them.
    per_prediction = {
        "heatmap": (
            "heatmaps",
            "stack",
            ("heatmaps", "keypoint_visible", "has_2d"),
            fns.heatmap_loss,
        ),
        "pof": ("pof", "stack", ("pof", "pof_weight"), fns.pof_loss),
        "mask": ("mask_logits", "stack", ("mask_small", "has_mask"), fns.mask_loss),
        "bone_3d": ("joints_cam", "mesh", ("joints_cam", "has_3d"), fns.bone_orientation_loss),
        "reproj_2d": (
            "keypoints_px",
            "mesh",
            ("keypoints_px", "keypoint_visible", "has_2d"),
            lambda pred, target, visible, has_2d: fns.reprojection_loss(
                pred, target, visible, has_2d, size
            ),
        ),
        "pose_prior": ("mano_pose", "mesh", (), fns.pose_prior_loss),
        "shape_prior": ("mano_betas", "mesh", (), fns.shape_prior_loss),
        "global_rotation": (
            "pose_rotmat",
            "mesh",
            ("mano_pose", "has_mano"),
            fns.global_rotation_loss,
        ),
        "hand_pose": ("pose_rotmat", "mesh", ("mano_pose", "has_mano"), fns.hand_pose_loss),
        "shape": ("mano_betas", "mesh", ("mano_betas", "has_mano"), fns.shape_loss),
        "joints_3d": ("joints_cam", "mesh", ("joints_cam", "has_3d"), fns.joints_3d_loss),
        "joints_hand": (
            ("joints_cam", "pose_rotmat"),
            "mesh",
            ("joints_cam", "mano_pose", "has_3d", "has_mano"),
            fns.hand_frame_joints_loss,
        ),
        "depth": ("camera", "mesh", ("joints_cam", "intrinsics", "has_3d"), fns.depth_loss),
    }
    terms: dict[str, tf.Tensor] = {}
    for term in active_terms(loss_config, model_config):
        if term in per_prediction:
            names, over, keys, fn = per_prediction[term]
            names = (names,) if isinstance(names, str) else names
            prefixes = stacks if over == "stack" else meshes
            # The stacks' outputs all carry a prefix; the last mesh prediction has none.
            last = f"stack{n}_" if over == "stack" else ""
            if any(f"{last}{name}" not in outputs for name in names):
                continue
            values = [_label(labels, key, term) for key in keys]
            terms[term] = _mean(
                [fn(*[outputs[f"{p}{name}"] for name in names], *values) for p in prefixes]
            )
        elif term == "mask_fine" and "mask_logits" in outputs:
            terms[term] = fns.fine_mask_loss(
                outputs["mask_logits"],
                _label(labels, "mask", term),
                _label(labels, "has_mask", term),
            )
        elif term == "mask_iou":
            # The final mask: the refined one against `mask`, else the last stack's.
            output, label = (
                ("mask_logits", "mask")
                if "mask_logits" in outputs
                else (f"stack{n}_mask_logits", "mask_small")
            )
            if output in outputs:
                terms[term] = fns.mask_iou_loss(
                    outputs[output], _label(labels, label, term), _label(labels, "has_mask", term)
                )
        elif term == "render_mask" and "rendered_mask" in outputs:
            terms[term] = fns.rendered_mask_loss(
                outputs["rendered_mask"],
                _label(labels, "mask_small", term),
                _label(labels, "has_mask", term),
            )
        elif (
            term == "ssl_mask" and "rendered_mask" in outputs and f"stack{n}_mask_logits" in outputs
        ):
            terms[term] = fns.mask_consistency_loss(
                outputs["rendered_mask"], outputs[f"stack{n}_mask_logits"]
            )
        elif term == "ssl_2d" and "keypoints_px" in outputs and "keypoints_px_heatmap" in outputs:
            terms[term] = fns.keypoint_consistency_loss(
                outputs["keypoints_px"], outputs["keypoints_px_heatmap"], size
            )
    weighted = [float(getattr(loss_config, term)) * value for term, value in terms.items()]
    total = tf.add_n(weighted) if weighted else tf.constant(0.0, tf.float32)
    return total, terms
