"""Run folders: what `train` writes and what `evaluate`, `export` and `predict` read.

    runs/NAME/
        config.yaml                the resolved `ExperimentConfig` (YAML)
        model.keras                the latest finished model (HIUModel; the hand
                                   model's arrays travel inside as weights)
        checkpoints/epoch_NNN.weights.h5   weights after each finished epoch
        backup/                    `keras.callbacks.BackupAndRestore` state (kept after the
                                   last epoch, so re-running a finished run does nothing)
        logs/                      TensorBoard event files
        history.csv                one row of metrics per finished epoch

`load_run` needs only `config.yaml` plus either `model.keras` or a checkpoint:
it prefers `model.keras` and otherwise rebuilds the model from the config and
loads the newest checkpoint.
"""

from __future__ import annotations

import dataclasses
import glob
import os
import re

from hiu_tf.errors import UserError

CONFIG_FILE = "config.yaml"
MODEL_FILE = "model.keras"
CHECKPOINT_DIR = "checkpoints"
CHECKPOINT_PATTERN = "epoch_{epoch:03d}.weights.h5"
BACKUP_DIR = "backup"
LOG_DIR = "logs"
HISTORY_FILE = "history.csv"

_CHECKPOINT_RE = re.compile(r"epoch_(\d+)\.weights\.h5$")


class RunError(UserError, ValueError):
    """A run folder that is missing or incomplete."""


@dataclasses.dataclass(frozen=True)
class RunPaths:
    """The paths inside one run folder.

    Attributes:
        root: the run folder (`runs/NAME`).
    """

    root: str

    @property
    def config(self) -> str:
        return os.path.join(self.root, CONFIG_FILE)

    @property
    def model(self) -> str:
        return os.path.join(self.root, MODEL_FILE)

    @property
    def checkpoints(self) -> str:
        return os.path.join(self.root, CHECKPOINT_DIR)

    @property
    def backup(self) -> str:
        return os.path.join(self.root, BACKUP_DIR)

    @property
    def logs(self) -> str:
        return os.path.join(self.root, LOG_DIR)

    @property
    def history(self) -> str:
        return os.path.join(self.root, HISTORY_FILE)

    def checkpoint(self, epoch: int) -> str:
        """Path of the weights after `epoch` (1-based, as Keras prints it)."""
        return os.path.join(self.checkpoints, CHECKPOINT_PATTERN.format(epoch=epoch))

    def latest_checkpoint(self) -> tuple[int, str] | None:
        """`(epoch, path)` of the newest checkpoint, or None when there is none."""
        found = []
        for path in glob.glob(os.path.join(self.checkpoints, "epoch_*.weights.h5")):
            match = _CHECKPOINT_RE.search(os.path.basename(path))
            if match:
                found.append((int(match.group(1)), path))
        return max(found) if found else None


def save_run_model(run_dir: str, config, model) -> RunPaths:
    """Writes `config.yaml` and `model.keras` into `run_dir` (created if needed).

    The model file is written to a temporary name and renamed, so that a crash
    never leaves a half-written `model.keras`.

    Args:
        run_dir: the run folder.
        config: the `hiu_tf.config.ExperimentConfig` the model was built from.
        model: the `HIUModel`.

    Returns:
        The run's `RunPaths`.
    """
    from hiu_tf.config import save_config

    paths = RunPaths(run_dir)
    os.makedirs(run_dir, exist_ok=True)
    save_config(config, paths.config)
    tmp = os.path.join(run_dir, ".model.tmp.keras")
    model.save(tmp)
    os.replace(tmp, paths.model)
    return paths


def load_run(run_dir: str, prefer: str = "model"):
    """Loads a run's config and model.

    Args:
        run_dir: the run folder written by `python -m hiu_tf train`.
        prefer: "model" (use `model.keras`, else the newest checkpoint) or
            "checkpoint" (the newest checkpoint, else `model.keras`).

    Returns:
        `(config, model)`: the `ExperimentConfig` and the built `HIUModel`.

    Raises:
        RunError: the folder, its `config.yaml`, or any model file is missing.
    """
    import keras

    from hiu_tf.config import load_config
    from hiu_tf.model import build_model

    if prefer not in ("model", "checkpoint"):
        raise ValueError(f"prefer must be 'model' or 'checkpoint'. Received: prefer={prefer!r}")
    paths = RunPaths(run_dir)
    if not os.path.isdir(run_dir):
        raise RunError(f"run folder not found: {run_dir!r} (expected a folder written by train)")
    if not os.path.isfile(paths.config):
        raise RunError(f"{paths.config!r} is missing: is {run_dir!r} a run folder from train?")
    config = load_config(paths.config)
    latest = paths.latest_checkpoint()
    has_model = os.path.isfile(paths.model)
    if not has_model and latest is None:
        raise RunError(
            f"{run_dir!r} has neither {MODEL_FILE} nor checkpoints/epoch_*.weights.h5: "
            "did training finish an epoch?"
        )
    if has_model and (prefer == "model" or latest is None):
        return config, keras.saving.load_model(paths.model, compile=False)
    model = build_model(config.model)
    model.load_weights(latest[1])
    return config, model


__all__ = [
    "RunError",
    "RunPaths",
    "load_run",
    "save_run_model",
]
