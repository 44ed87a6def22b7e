"""Callbacks of `training.train`: run-folder checkpoints, NaN guard, images, learning rate.

- `TerminateOnNaNTerms`: stops at the first non-finite loss with a one-line message
  naming the epoch, the step and the terms that went bad.
- `LearningRateLogger`: adds `learning_rate` to the epoch logs (CSV, TensorBoard).
- `HistoryCSV`: `keras.callbacks.CSVLogger` without the empty `val_*` columns.
- `EpochSummaries`: TensorBoard scalars of the epoch logs.
- `PredictionImages`: TensorBoard images, prediction vs ground truth, every epoch.
- `RunCheckpoint`: `checkpoints/epoch_NNN.weights.h5` and `model.keras`, written atomically.
- `TimeBudget`, `StepTimer`, `FitScheduleToBudget`: training for a wall-clock budget
  (`train(..., time_budget_s=...)`): stop after the step that crosses the deadline,
  time the steps, and end the cosine decay with the budget.

TensorBoard files are written with TensorFlow's own summary op (`tf.summary.write`
with the scalar / image plugin metadata), in the format TensorBoard reads:
`tf.summary.scalar`, `tf.summary.image` and `keras.callbacks.TensorBoard` need the
`tensorboard` package, which the project does not install.
"""

from __future__ import annotations

import logging
import os
import statistics
import time
from collections.abc import Callable, Mapping

import keras
import numpy as np

from hiu_tf.errors import UserError
from hiu_tf.runs import RunPaths, save_run_model

logger = logging.getLogger(__name__)


class TrainingDivergedError(UserError, RuntimeError):
    """The loss became NaN or infinite."""


def _finite(value) -> bool:
    try:
        return bool(np.all(np.isfinite(np.asarray(value, np.float64))))
    except (TypeError, ValueError):
        return True  # not a number: nothing to check


def current_learning_rate(optimizer) -> float:
    """The learning rate the optimizer uses at its current step (schedules evaluated)."""
    inner = getattr(optimizer, "inner_optimizer", optimizer)  # LossScaleOptimizer
    return float(keras.ops.convert_to_numpy(inner.learning_rate))


def _plugin_metadata(plugin: str) -> bytes:
    from tensorflow.core.framework import summary_pb2

    metadata = summary_pb2.SummaryMetadata()
    metadata.plugin_data.plugin_name = plugin
    return metadata.SerializeToString()


def write_scalar(name: str, value: float, step: int) -> None:
    """A TensorBoard scalar into the default summary writer (no `tensorboard` needed)."""
    import tensorflow as tf

    tf.summary.write(
        name, tf.constant(float(value), tf.float32), step=step, metadata=_plugin_metadata("scalars")
    )


def write_images(name: str, images: np.ndarray, step: int) -> None:
    """TensorBoard images, `[N, H, W, 3]` uint8, into the default summary writer."""
    import tensorflow as tf

    images = np.asarray(images, np.uint8)
    height, width = images.shape[1:3]
    tensor = tf.stack(
        [tf.as_string(width), tf.as_string(height)] + [tf.io.encode_png(i) for i in images]
    )
    tf.summary.write(name, tensor, step=step, metadata=_plugin_metadata("images"))


class EpochSummaries(keras.callbacks.Callback):
    """TensorBoard scalars `epoch_<name>` of every epoch log entry (like Keras' callback).

    Training entries go to `log_dir/train`, `val_*` entries to `log_dir/validation`;
    the step is the epoch number (1-based).
    """

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = log_dir
        self._writers: dict = {}

    def _writer(self, kind: str):
        import tensorflow as tf

        if kind not in self._writers:
            self._writers[kind] = tf.summary.create_file_writer(os.path.join(self.log_dir, kind))
        return self._writers[kind]

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            if np.asarray(value).size != 1:
                continue
            kind, name = ("validation", key[4:]) if key.startswith("val_") else ("train", key)
            with self._writer(kind).as_default():
                write_scalar(f"epoch_{name}", float(np.asarray(value)), epoch + 1)
        for writer in self._writers.values():
            writer.flush()

    def on_train_end(self, logs=None):
        for writer in self._writers.values():
            writer.close()
        self._writers = {}


class HistoryCSV(keras.callbacks.CSVLogger):
    """`CSVLogger` without the empty `val_*` columns it adds when there is no validation."""

    def on_epoch_end(self, epoch, logs=None):
        if self.keys is None and logs:
            self.keys = sorted(logs)
        super().on_epoch_end(epoch, logs)


class LearningRateLogger(keras.callbacks.Callback):
    """Adds `learning_rate` (of the next step) to the epoch logs; put it before the loggers."""

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None and self.model.optimizer is not None:
            logs["learning_rate"] = current_learning_rate(self.model.optimizer)


class TerminateOnNaNTerms(keras.callbacks.TerminateOnNaN):
    """`TerminateOnNaN` that raises `TrainingDivergedError` with a clear one-line message.

    The message names the epoch and the step (1-based, as Keras prints them), the
    optimizer step, and every log entry that is not finite (the total `loss` and
    the `loss_<term>` metrics of `hiu_tf.losses`), e.g.

        training diverged at epoch 2, step 3 (optimizer step 7): non-finite loss,
        loss_heatmap; finite: loss_mask=0.61, ...

    Raising (instead of only stopping) skips the end-of-training callbacks, so the
    last good epoch stays in `backup/` and a fixed run resumes from it.
    """

    def __init__(self):
        super().__init__(raise_error=True)
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._epoch = epoch

    def on_batch_end(self, batch, logs=None):
        logs = logs or {}
        bad = [k for k, v in logs.items() if not _finite(v)]
        if not bad:
            return
        good = ", ".join(
            f"{k}={float(np.asarray(v)):.4g}"
            for k, v in logs.items()
            if k not in bad and np.asarray(v).size == 1
        )
        step = ""
        if self.model is not None and self.model.optimizer is not None:
            iterations = keras.ops.convert_to_numpy(self.model.optimizer.iterations)
            step = f" (optimizer step {int(iterations)})"
        raise TrainingDivergedError(
            f"training diverged at epoch {self._epoch + 1}, step {batch + 1}{step}: "
            f"non-finite {', '.join(bad)}"
            + (f"; finite: {good}" if good else "")
            + ". Lower train.learning_rate or check the data; the run resumes from its "
            "last finished epoch"
        )


class RunCheckpoint(keras.callbacks.Callback):
    """Writes `checkpoints/epoch_NNN.weights.h5` and `model.keras` after every epoch.

    Both are written to temporary names and renamed, so a crash never leaves a
    half-written file under the final name (`hiu_tf.runs`).

    Args:
        run_dir: the run folder.
        config: the `ExperimentConfig` (saved with the model, `save_run_model`).
        save_model: also write `model.keras` (False on non-chief workers).
    """

    def __init__(self, run_dir: str, config, save_model: bool = True):
        super().__init__()
        self.paths = RunPaths(run_dir)
        self.config = config
        self.save_model = save_model

    def on_epoch_end(self, epoch, logs=None):
        os.makedirs(self.paths.checkpoints, exist_ok=True)
        final = self.paths.checkpoint(epoch + 1)
        tmp = os.path.join(self.paths.checkpoints, ".tmp-" + os.path.basename(final))
        self.model.save_weights(tmp, overwrite=True)
        os.replace(tmp, final)
        if self.save_model:
            save_run_model(self.paths.root, self.config, self.model)


class PredictionImages(keras.callbacks.Callback):
    """Logs prediction-vs-ground-truth panels to TensorBoard after every epoch.

    Two images per epoch, each with one row per sample (`hiu_tf.visualize.overlay_panel`:
    input | ground truth | prediction): `backbone` (keypoints read off the heat-maps and
    `sigmoid` of the mask logits of the last stack) and, with a mesh head, `mesh`
    (re-projected joints and the rendered silhouette).

    Args:
        log_dir: TensorBoard folder (the images go to `log_dir/images`).
        images: `[n, S, S, 3]` float in [0, 1], a fixed batch.
        labels: its labels (NumPy): `keypoints_px`, `keypoint_visible`, `has_2d`,
            `mask_small`, `has_mask`.
        num_stacks: the model's number of stacks (for the last stack's keys).
        tile_size: side of each tile, pixels.
    """

    def __init__(
        self,
        log_dir: str,
        images: np.ndarray,
        labels: Mapping[str, np.ndarray],
        num_stacks: int,
        tile_size: int = 128,
    ):
        super().__init__()
        self.log_dir = os.path.join(log_dir, "images")
        self.images = np.asarray(images, np.float32)
        self.labels = {k: np.asarray(v) for k, v in labels.items()}
        self.num_stacks = num_stacks
        self.tile_size = tile_size
        self._writer = None

    def panels(self, outputs: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        """`{name: uint8 [n * T, k * T, 3]}` panels from model outputs (NumPy)."""
        from hiu_tf import visualize
        from hiu_tf.model import mask_output_key

        n = self.num_stacks
        lab = self.labels
        groups = {
            "backbone": ("keypoints_px_heatmap", mask_output_key(outputs, n) or ""),
            "mesh": ("keypoints_px", "rendered_mask"),
        }
        result = {}
        for name, (kp_key, mask_key) in groups.items():
            if kp_key not in outputs and mask_key not in outputs:
                continue
            rows = []
            for i, image in enumerate(self.images):
                has_2d = float(lab["has_2d"][i]) > 0 if "has_2d" in lab else False
                has_mask = float(lab["has_mask"][i]) > 0 if "has_mask" in lab else False
                pred_mask = outputs.get(mask_key)
                if pred_mask is not None:
                    pred_mask = pred_mask[i]
                    if mask_key.endswith("logits"):
                        pred_mask = 1.0 / (1.0 + np.exp(-pred_mask))
                kp = outputs.get(kp_key)
                rows.append(
                    visualize.overlay_panel(
                        image,
                        pred_keypoints_px=None if kp is None else kp[i],
                        gt_keypoints_px=lab["keypoints_px"][i] if has_2d else None,
                        pred_mask=pred_mask,
                        gt_mask=lab["mask_small"][i] if has_mask else None,
                        visible=lab["keypoint_visible"][i] if has_2d else None,
                        tile_size=self.tile_size,
                    )
                )
            width = max(r.shape[1] for r in rows)
            rows = [np.pad(r, ((0, 0), (0, width - r.shape[1]), (0, 0))) for r in rows]
            result[name] = np.concatenate(rows, axis=0)
        return result

    def on_epoch_end(self, epoch, logs=None):
        import tensorflow as tf

        outputs = self.model(self.images, training=False)
        outputs = {k: keras.ops.convert_to_numpy(v) for k, v in outputs.items()}
        panels = self.panels(outputs)
        if self._writer is None:
            self._writer = tf.summary.create_file_writer(self.log_dir)
        with self._writer.as_default():
            for name, panel in panels.items():
                write_images(name, panel[None], epoch + 1)
        self._writer.flush()

    def on_train_end(self, logs=None):
        if self._writer is not None:
            self._writer.close()
            self._writer = None


class TimeBudget(keras.callbacks.Callback):
    """Stops `fit` cleanly after the training step that crosses a wall-clock deadline.

    The step in flight finishes, Keras then ends the epoch (its logs, checkpoints
    and backup are written as usual) and `fit` returns. The deadline is absolute
    (`clock()` seconds), so one callback can bound several `fit` calls.

    Args:
        deadline: `clock()` time at which training stops.
        clock: a monotonic clock in seconds (tests pass a fake one).
    """

    def __init__(self, deadline: float, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.deadline = float(deadline)
        self.clock = clock
        self.stopped = False
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.clock() >= self.deadline:
            self.stopped = True
            self.model.stop_training = True

    def remaining(self) -> float:
        """Seconds left before the deadline (negative when past it)."""
        return self.deadline - self.clock()


class StepTimer(keras.callbacks.Callback):
    """Times training: every step, and the work at the end of every epoch (seconds).

    A step lasts from the end of the previous step (or the start of the epoch) to
    its own end, so the other callbacks' per-step work counts. The epoch overhead
    lasts from the last step's end to this callback's `on_epoch_end`: put it after
    the callbacks that write checkpoints (`training.train.train` runs the
    callbacks it is given after its own), and it covers them.

    Args:
        clock: a monotonic clock in seconds.
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.clock = clock
        self.durations: list[float] = []
        self.epoch_overheads: list[float] = []
        self._last = None

    def on_epoch_begin(self, epoch, logs=None):
        self._last = self.clock()

    def on_train_batch_end(self, batch, logs=None):
        now = self.clock()
        if self._last is not None:
            self.durations.append(now - self._last)
        self._last = now

    def on_epoch_end(self, epoch, logs=None):
        if self._last is not None:
            self.epoch_overheads.append(self.clock() - self._last)

    def step_time(self, skip: int = 2) -> float | None:
        """Mean step time without the first `skip` steps (tracing); None if too few."""
        steady = self.durations[skip:]
        return statistics.fmean(steady) if steady else None

    def epoch_overhead(self) -> float:
        """Mean end-of-epoch time (0 before the first epoch ends)."""
        return statistics.fmean(self.epoch_overheads) if self.epoch_overheads else 0.0


class FitScheduleToBudget(keras.callbacks.Callback):
    """Resizes an adjustable cosine schedule so that its decay ends with a time budget.

    At the end of every epoch, the optimizer step `s`, the mean wall time per step
    `t` of that epoch and the time left give the new end of the decay,
    `s + left / t` (`training.schedules.WarmupCosineDecay.set_decay_steps`; the
    train step is not retraced). `t` runs from the end of the epoch's second step
    (so the first epoch's tracing is left out) to the end of the epoch (so its
    checkpoints are counted): put it after the callbacks that write them.

    Args:
        schedule: a `WarmupCosineDecay` made with `adjustable=True`.
        budget: the `TimeBudget` that will stop training.
        clock: a monotonic clock in seconds (the budget's).
    """

    def __init__(self, schedule, budget: TimeBudget, clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.schedule = schedule
        self.budget = budget
        self.clock = clock
        self.horizons: list[int] = []
        self._marks: list[float] = []  # clock at the epoch's start and after its steps 1, 2
        self._steps = 0

    def on_epoch_begin(self, epoch, logs=None):
        self._marks = [self.clock()]
        self._steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self._steps += 1
        if self._steps <= 2:
            self._marks.append(self.clock())

    def on_epoch_end(self, epoch, logs=None):
        if not self._marks or self._steps == 0:
            return
        skipped = 2 if self._steps > 2 else 0
        per_step = (self.clock() - self._marks[skipped]) / (self._steps - skipped)
        step = int(keras.ops.convert_to_numpy(self.model.optimizer.iterations))
        left = max(self.budget.remaining(), 0.0)
        horizon = max(step + int(left / max(per_step, 1e-9)), step + 1)
        self.schedule.set_decay_steps(horizon)
        self.horizons.append(horizon)


def trim_history(path: str, finished_epochs: int) -> None:
    """Keeps the header and the rows of epochs `< finished_epochs` of a CSVLogger file.

    Rows of epochs that were not backed up (a run killed after logging an epoch
    but before `BackupAndRestore` saved it) are dropped, because that epoch runs
    again; so every epoch appears once. `finished_epochs = 0` empties the file.
    """
    if not os.path.isfile(path):
        return
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines()
    if finished_epochs <= 0 or not lines:
        kept = []
    else:
        header = lines[0].split(",")
        column = header.index("epoch") if "epoch" in header else 0
        kept = [lines[0]]
        for line in lines[1:]:
            try:
                epoch = int(line.split(",")[column])
            except (ValueError, IndexError):
                continue
            if epoch < finished_epochs:
                kept.append(line)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        f.write("".join(line + "\n" for line in kept))
    os.replace(tmp, path)


__all__ = [
    "EpochSummaries",
    "HistoryCSV",
    "LearningRateLogger",
    "PredictionImages",
    "RunCheckpoint",
    "TerminateOnNaNTerms",
    "TrainingDivergedError",
    "current_learning_rate",
    "trim_history",
    "write_images",
    "write_scalar",
]
