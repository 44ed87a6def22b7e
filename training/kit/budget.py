"""Training on a budget: wall-clock minutes for the demo, a fixed number of steps for ablations.

`train_on_budget` runs one `training.train.train` for about a number of seconds
(the cosine decay re-sized to end with the budget); `InitialModelSaver` keeps
the model as `fit` starts it, the "untrained" model of a before / after
comparison; `calibrate_steps` turns a time budget into a step count once, from
a short run, so that repeated runs train the same steps whatever the load.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import shutil
import time
from collections.abc import Callable
from typing import Any

import keras

logger = logging.getLogger(__name__)

# Steps per epoch of a budgeted run: every epoch ends with a checkpoint and a backup
# (seconds on a CPU), so epochs are long; training stops with the budget.
EPOCH_STEPS = 500
# An upper bound on the number of epochs: steps never take less than this (seconds).
MIN_STEP_SECONDS = 0.005
CALIBRATION_STEPS = 8  # steps of the short run that measures the step time


class InitialModelSaver(keras.callbacks.Callback):
    """Saves the model as `fit` starts (weights before the first update) as a run folder.

    Args:
        run_dir: folder for `config.yaml` and `model.keras` (`hiu_tf.runs.save_run_model`).
        config: the `ExperimentConfig` of the model.
    """

    def __init__(self, run_dir: str, config):
        super().__init__()
        self.run_dir = run_dir
        self.config = config

    def on_train_begin(self, logs=None):
        from hiu_tf.runs import save_run_model

        save_run_model(self.run_dir, self.config, self.model)


def _with_train(config, **fields):
    return dataclasses.replace(config, train=dataclasses.replace(config.train, **fields))


def train_on_budget(
    config,
    run_dir: str,
    seconds: float,
    *,
    untrained_dir: str | None = None,
    warmup_steps: int | None = None,
    run_eagerly: bool = False,
    verbose: int = 1,
    echo: Callable[[str], None] = logger.info,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Trains `config` into `run_dir` for about `seconds` of wall-clock time.

    One `training.train.train` call with `time_budget_s=seconds`, so the train step
    is traced once: a linear warm-up of `W` steps (`W = warmup_steps` or
    `train.warmup_steps`), then a cosine decay whose end is re-estimated at every
    epoch end from the measured step time, so that it ends with the budget
    (`training.callbacks.FitScheduleToBudget`); `TimeBudget` stops `fit` after the
    step that crosses the deadline, so a busy machine only shortens training.
    Epochs have `EPOCH_STEPS` steps (each ends with a checkpoint).

    Args:
        config: the resolved config (data sources with paths).
        run_dir: the run folder (started afresh).
        seconds: the budget.
        untrained_dir: where `InitialModelSaver` saves the untrained model.
        warmup_steps: steps of the warm-up; None = `train.warmup_steps`.
        run_eagerly: train eagerly.
        verbose: `fit` verbosity.
        echo: progress messages.
        clock: monotonic clock.

    Returns:
        A dict: `result` (the `TrainResult`), `config` (the final config), `steps`,
        `epochs`, `step_time_s`, `seconds`, `stopped_by_budget` and `planned_steps`
        (the last end of the cosine decay).
    """
    from training.callbacks import StepTimer
    from training.train import train

    start = clock()
    timer = StepTimer(clock)
    warm = int(warmup_steps or config.train.warmup_steps or 1)
    shutil.rmtree(run_dir, ignore_errors=True)
    callbacks: list[keras.callbacks.Callback] = [timer]
    if untrained_dir is not None:
        callbacks.insert(0, InitialModelSaver(untrained_dir, config))
    epochs = max(1, math.ceil(seconds / (EPOCH_STEPS * MIN_STEP_SECONDS)))
    echo(
        f"  {warm} warm-up steps to a learning rate of {config.train.learning_rate:g}, then "
        f"a {config.train.lr_schedule} decay sized to end with the {seconds:.0f} s budget"
    )
    result = train(
        _with_train(config, warmup_steps=warm),
        run_dir,
        resume=False,
        epochs=epochs,
        steps_per_epoch=EPOCH_STEPS,
        callbacks=callbacks,
        run_eagerly=run_eagerly,
        images=0,
        verbose=verbose,
        time_budget_s=seconds,
        clock=clock,
    )
    steps = len(timer.durations)
    schedule = result.model.optimizer.learning_rate_schedule
    if result.stopped_by_budget:
        echo(f"  the time budget stopped training after {steps} steps")
    prune_checkpoints(run_dir)
    return {
        "result": result,
        "config": result.config,
        "steps": steps,
        "planned_steps": schedule.decay_steps or steps,
        "epochs": len(timer.epoch_overheads),
        "step_time_s": timer.step_time() or (timer.durations[-1] if timer.durations else None),
        "seconds": clock() - start,
        "stopped_by_budget": result.stopped_by_budget,
    }


def prune_checkpoints(run_dir: str) -> int:
    """Deletes every per-epoch checkpoint of a run folder but the newest; returns the count.

    A budgeted run writes one per epoch (dozens of MB in all); `model.keras` and
    the newest checkpoint are all that evaluation and export read.
    """
    from hiu_tf.runs import RunPaths

    paths = RunPaths(run_dir)
    latest = paths.latest_checkpoint()
    removed = 0
    if latest is None:
        return 0
    for name in os.listdir(paths.checkpoints):
        path = os.path.join(paths.checkpoints, name)
        if name.endswith(".weights.h5") and os.path.abspath(path) != os.path.abspath(latest[1]):
            os.remove(path)
            removed += 1
    return removed


def calibrate_steps(
    config, folder: str, budget_seconds: float, *, run_eagerly: bool = False
) -> tuple[int, float]:
    """Steps that fit in `budget_seconds`, from a short run of `config`: `(steps, step_time)`."""
    from training.callbacks import StepTimer
    from training.train import train

    timer = StepTimer()
    shutil.rmtree(folder, ignore_errors=True)
    train(
        config,
        folder,
        resume=False,
        epochs=1,
        steps_per_epoch=CALIBRATION_STEPS,
        callbacks=[timer],
        run_eagerly=run_eagerly,
        images=0,
        verbose=0,
    )
    shutil.rmtree(folder, ignore_errors=True)
    step_time = timer.step_time() or timer.durations[-1]
    return max(int(budget_seconds / step_time), 1), step_time
