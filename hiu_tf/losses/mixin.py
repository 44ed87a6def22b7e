"""`MultiTaskLossMixin`: `total_loss` as `keras.Model.compute_loss`, and what `fit` logs.

Beside the total, `fit` logs each term (`loss_<term>`), for a model with a
mesh head the mesh's health (`mesh_health`), and the task metrics compiled in
(`hiu_tf.metrics.fit_metrics`: 2D PCK, mask IoU, MPJPE); these are logged
numbers only, outside the loss and its gradient.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import keras
import tensorflow as tf

from hiu_tf.losses.objective import active_terms, total_loss
from hiu_tf.losses.terms import (
    _depth_label,
    _depth_over_focal,
    _float,
    _pose_distances,
    masked_mean,
)

HEALTH = ("rotation_error_deg", "depth_ratio")  # mesh_health's entries


def mesh_health(outputs: Mapping[str, Any], labels: Mapping[str, Any]) -> dict[str, tuple]:
    """Per-batch health of the regressed mesh, for logging (no gradient is meant).

    Returns:
        `{"rotation_error_deg": (mean, count), "depth_ratio": (mean, count)}` for the
        entries whose outputs and labels exist: the mean geodesic error (degrees) of
        the global orientation over samples with `has_mano`, and the mean of
        `(Z / f) / (Z* / f*)` of the anchor keypoint over samples with 3D labels and K
        (`hiu_tf.metrics.depth_ratios`; 1 = the right image size, > 1 = too far away).
    """
    out: dict[str, tuple] = {}
    if "pose_rotmat" in outputs and {"mano_pose", "has_mano"} <= set(labels):
        distances, weight = _pose_distances(
            tf.stop_gradient(outputs["pose_rotmat"]), labels["mano_pose"], labels["has_mano"]
        )
        cos = 1.0 - 2.0 * distances[:, 0]  # rotation_distance = (1 - cos) / 2
        degrees = tf.acos(tf.clip_by_value(cos, -1.0, 1.0)) * (180.0 / 3.141592653589793)
        out["rotation_error_deg"] = (masked_mean(degrees, weight), tf.reduce_sum(weight))
    if "camera" in outputs and {"joints_cam", "intrinsics", "has_3d"} <= set(labels):
        cam = tf.stop_gradient(_float(outputs["camera"], "camera"))
        ratio, weight = _depth_label(
            labels["joints_cam"], labels["intrinsics"], labels["has_3d"], cam
        )
        out["depth_ratio"] = (
            masked_mean(_depth_over_focal(cam) / ratio, weight),
            tf.reduce_sum(weight),
        )
    return out


class MultiTaskLossMixin:
    """`compute_loss` for a `keras.Model` whose outputs and labels are those above.

    Put it before `keras.Model` in the bases. After `compile(..., loss_config=cfg)`
    (or `set_loss_config(cfg)` on a compiled model) the loss is `total_loss` with
    the model's `model_config`, and each term `t` is reported as the metric
    `loss_<t>` (epoch means in the `fit` logs, `val_loss_<t>` in evaluation).
    A model with a mesh head also reports its health where the labels allow
    (`mesh_health`): `mesh_rotation_error_deg` and `mesh_depth_ratio`, so that a
    mesh turning away or drifting from the camera shows in `history.csv` and
    TensorBoard while it happens.
    Without a loss config the model behaves as a plain `keras.Model` (losses per
    output from `compile`). Create the model and compile it under the
    distribution strategy's scope; the total is divided by the number of
    replicas, as Keras does for compiled losses, so the summed gradients are
    those of the global batch mean.

    `compile(..., task_metrics=[...])` adds metrics that read the whole label and
    output dicts (`update_state(labels, outputs)`, as those of `hiu_tf.metrics`):
    they are updated in `compute_metrics`, after the loss and outside the gradient
    tape, so they change nothing that is learnt; they are reset every epoch and
    reported under their names in `fit` (train and validation) and `evaluate`.
    Like the term trackers they are not part of the saved weights.
    """

    def compile(self, *args, loss_config=None, task_metrics=(), **kwargs):
        """`keras.Model.compile`, plus `loss_config` (a `LossConfig`) for `total_loss`
        and `task_metrics` (see the class docstring)."""
        super().compile(*args, **kwargs)
        self.set_loss_config(loss_config)
        self.set_task_metrics(task_metrics)

    def set_task_metrics(self, task_metrics) -> None:
        """Reports these `keras.metrics.Metric`s, updated with `(labels, outputs)`.

        Create them under the distribution strategy's scope (their sums and counts
        are then added over the replicas).

        Raises:
            ValueError: an item is not a `keras.metrics.Metric`.
        """
        task_metrics = list(task_metrics or ())
        for metric in task_metrics:
            if not isinstance(metric, keras.metrics.Metric):
                raise ValueError(
                    "task_metrics must be keras.metrics.Metric objects. "
                    f"Received: {metric!r} of type {type(metric).__name__}"
                )
        object.__setattr__(self, "_task_metrics", task_metrics)

    def set_loss_config(self, loss_config) -> None:
        """Uses `total_loss` with these weights (None = back to the compiled losses).

        Creates one `keras.metrics.Mean` per active term (under the current
        distribution strategy's scope).

        Raises:
            ValueError: `loss_config` is not a `LossConfig` (or dict of its fields).
        """
        from hiu_tf.config import LossConfig

        if isinstance(loss_config, dict):
            loss_config = LossConfig(**loss_config)
        if loss_config is not None and not isinstance(loss_config, LossConfig):
            raise ValueError(
                f"loss_config must be a LossConfig, a dict or None. Received: "
                f"loss_config={loss_config!r}"
            )
        trackers, health = {}, {}
        if loss_config is not None:
            names = active_terms(loss_config, self.model_config)
            trackers = {name: keras.metrics.Mean(name=f"loss_{name}") for name in names}
            if self.model_config.mesh_head:
                health = {name: keras.metrics.Mean(name=f"mesh_{name}") for name in HEALTH}
        # Plain attributes: Keras' tracking is locked once the model is built, and the
        # trackers are listed by the `metrics` property below.
        object.__setattr__(self, "loss_config", loss_config)
        object.__setattr__(self, "_loss_term_trackers", trackers)
        object.__setattr__(self, "_health_trackers", health)

    @property
    def metrics(self):
        trackers = getattr(self, "_loss_term_trackers", None) or {}
        health = getattr(self, "_health_trackers", None) or {}
        task = getattr(self, "_task_metrics", None) or []
        return list(super().metrics) + list(trackers.values()) + list(health.values()) + task

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        for metric in getattr(self, "_task_metrics", None) or ():
            metric.update_state(y, y_pred)
        return super().compute_metrics(x, y, y_pred, sample_weight)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        loss_config = getattr(self, "loss_config", None)
        if loss_config is None:
            return super().compute_loss(x, y, y_pred, sample_weight, training=training)
        if not isinstance(y, Mapping):
            raise ValueError(
                "with a loss_config the labels must be the dict of a hiu_tf.data.pipeline "
                f"batch. Received: y of type {type(y).__name__}"
            )
        total, terms = total_loss(y_pred, y, loss_config, self.model_config)
        for name, value in terms.items():
            tracker = self._loss_term_trackers.get(name)
            if tracker is not None:
                tracker.update_state(value)
        if self._health_trackers:
            for name, (value, count) in mesh_health(y_pred, y).items():
                self._health_trackers[name].update_state(value, sample_weight=count)
        for extra in self.losses:  # regularisers and add_loss, as keras.Model does
            total = total + tf.cast(tf.reduce_sum(extra), tf.float32)
        replicas = tf.distribute.get_strategy().num_replicas_in_sync
        if replicas > 1:
            total = total * (1.0 / replicas)
        return total
