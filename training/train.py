"""`train(config, out_dir)`: config -> data -> strategy -> model -> compile -> `model.fit`.

    python -m hiu_tf train --config training/configs/tiny.yaml --out-dir runs/tiny

Steps, in order:

1. The resolved config (with `epochs` / `steps_per_epoch` overrides) is written
   to `out_dir/config.yaml` first (the run-folder layout is `hiu_tf.runs`).
2. Seeds: `keras.utils.set_random_seed(train.seed)` (Python, NumPy, TF).
3. Strategy (`train.distribute`): "default" (`tf.distribute.get_strategy()`),
   "mirrored" (`MirroredStrategy` over the GPUs, or over the logical CPU devices
   when there is no GPU) or "multi_worker" (`MultiWorkerMirroredStrategy`,
   cluster from `TF_CONFIG`; create it before any other TensorFlow work, i.e.
   run one process per worker with this entry point). The model, its metrics
   and the optimizer are created under `strategy.scope()`; `data.batch_size` is
   the global batch.
4. Data: `hiu_tf.data.pipeline.dataset_from_config` on `data.sources`. A
   `synthetic` source without a path is generated once into
   `out_dir/cache/synthetic-...` (`hiu_tf.data.sources.synthetic.write_synthetic`,
   with the model's hand model) and reused by later runs. Batches are mapped to
   `(image, labels)` (`split_batch`). `steps_per_epoch` defaults to one pass
   over the sources' samples.
5. Mixed precision (`train.mixed_precision`): the model is built with the dtype
   policy "mixed_float16" or "mixed_bfloat16" (its outputs stay float32 and the
   losses run in float32). With "mixed_float16", `compile` wraps the optimizer in
   `keras.optimizers.LossScaleOptimizer` (dynamic loss scaling) automatically.
   The global Keras policy is not touched.
6. `compile(AdamW(WarmupCosineDecay, weight_decay, global_clipnorm=train.clipnorm),
   loss_config=config.loss, jit_compile=train.jit_compile)`; the loss is
   `hiu_tf.losses.total_loss` and each term is logged as `loss_<term>`. With
   `train.metrics` the metrics of `hiu_tf.metrics.fit_metrics` (2D PCK, mask IoU,
   MPJPE) are logged too; they are not part of the loss.
7. Callbacks: TerminateOnNaN with a clear message (`TrainingDivergedError`), the
   learning rate in the logs, CSVLogger (`history.csv`), TensorBoard scalars and
   prediction-vs-ground-truth images (`logs/train`, `logs/images`; written with
   TensorFlow's summary op, see `training.callbacks`), per-epoch checkpoints and
   `model.keras` (atomic), and `BackupAndRestore` (`backup/`) last, so an epoch
   counts as done only once everything else of it is written.

Resuming: with `resume=True` (the default) a run folder with a `backup/` carries
on from its last finished epoch (weights, optimizer state and step, epoch
counter); `history.csv` keeps one row per finished epoch. The backup is kept
after training (unlike Keras' default), so calling `train` again with more
epochs continues the run, and with the same epochs does nothing; the learning
rate schedule is then that of the new epoch count. `resume=False` deletes `backup/`,
`checkpoints/`, `logs/` and `history.csv` first.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras
import tensorflow as tf

from hiu_tf.config import (
    ExperimentConfig,
    SourceConfig,
    TrainConfig,
    apply_overrides,
    config_to_dict,
    load_config,
    save_config,
)
from hiu_tf.errors import UserError
from hiu_tf.losses import active_terms
from hiu_tf.metrics import fit_metrics
from hiu_tf.runs import RunPaths
from training.callbacks import (
    EpochSummaries,
    FitScheduleToBudget,
    HistoryCSV,
    LearningRateLogger,
    PredictionImages,
    RunCheckpoint,
    TerminateOnNaNTerms,
    TimeBudget,
    TrainingDivergedError,
    trim_history,
)
from training.schedules import WarmupCosineDecay

logger = logging.getLogger(__name__)

CACHE_DIR = "cache"
DEFAULT_SYNTHETIC_SAMPLES = 1024
# Full-resolution keys not passed as labels (unless `needs_full_mask`: they read `mask`).
_NOT_LABELS = ("image", "mask")


class TrainError(UserError, ValueError):
    """Bad training options or a run folder that cannot be resumed."""


@dataclasses.dataclass
class TrainResult:
    """What `train` returns.

    Attributes:
        model: the trained `HIUModel` (compiled).
        history: metric name -> values of the epochs run by this call.
        paths: the run folder's `RunPaths`.
        config: the resolved `ExperimentConfig` written to `config.yaml`.
        initial_epoch: finished epochs restored from `backup/` (0 for a new run).
        steps_per_epoch: steps of each epoch.
        stopped_by_budget: `time_budget_s` ended training.
    """

    model: Any
    history: dict[str, list[float]]
    paths: RunPaths
    config: ExperimentConfig
    initial_epoch: int
    steps_per_epoch: int | None
    stopped_by_budget: bool = False


# --------------------------------------------------------------------------- data


def split_batch(
    batch: Mapping[str, tf.Tensor], full_mask: bool = False
) -> tuple[tf.Tensor, dict[str, tf.Tensor]]:
    """A pipeline batch dict -> `(image, labels)` for `model.fit`.

    `labels` is the batch without `image` and, unless `full_mask`, without the
    full-resolution `mask` (only `needs_full_mask` terms read it; the others use
    `mask_small`): the sample dict's labels and flags plus the targets.
    """
    drop = ("image",) if full_mask else _NOT_LABELS
    labels = {k: v for k, v in batch.items() if k not in drop}
    return batch["image"], labels


def needs_full_mask(config: ExperimentConfig) -> bool:
    """Whether an active loss term reads the full-resolution `mask`: `mask_fine`, and
    `mask_iou` on a refined mask (`model.mask_refine_width`)."""
    terms = active_terms(config.loss, config.model)
    return "mask_fine" in terms or ("mask_iou" in terms and config.model.mask_refine_width > 0)


def fit_dataset(dataset: tf.data.Dataset, full_mask: bool = False) -> tf.data.Dataset:
    """Maps a dataset of pipeline batch dicts to `(image, labels)` (`split_batch`);
    tuples pass unchanged."""
    if isinstance(dataset.element_spec, Mapping):
        return dataset.map(
            lambda batch: split_batch(batch, full_mask),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return dataset


def synthetic_cache(run_dir: str, config: ExperimentConfig, count: int) -> str:
    """Generates (once) and returns the folder of synthetic TFRecords for a run.

    The folder, `run_dir/cache/synthetic-s{seed}-{size}px-n{count}`, is reused when
    its `dataset_info.json` says it is complete.
    """
    from hiu_tf.data import tfrecord
    from hiu_tf.data.sources import synthetic

    size, seed = config.model.input_size, config.train.seed
    folder = os.path.join(run_dir, CACHE_DIR, f"synthetic-s{seed}-{size}px-n{count}")
    info = tfrecord.read_dataset_info(folder) if os.path.isdir(folder) else {}
    if info.get("num_samples") == count and info.get("image_size") == size:
        return folder
    logger.info("generating %d synthetic %dpx samples into %s", count, size, folder)
    synthetic.write_synthetic(
        folder,
        count=count,
        seed=seed,
        config=synthetic.SynthConfig(image_size=size, chunk_size=min(32, count)),
        hand_model=config.model.hand_model,
        overwrite=True,
    )
    return folder


def resolve_sources(
    config: ExperimentConfig, run_dir: str, synthetic_samples: int
) -> ExperimentConfig:
    """Fills the path of every `synthetic` source without one with the run's cache."""
    sources = []
    for source in config.data.sources:
        if source.name == "synthetic" and not source.path:
            path = synthetic_cache(run_dir, config, synthetic_samples)
            source = dataclasses.replace(source, path=path)
        sources.append(source)
    data = dataclasses.replace(config.data, sources=tuple(sources))
    return dataclasses.replace(config, data=data)


def _num_samples(sources: Sequence[SourceConfig]) -> int:
    from hiu_tf.data import tfrecord

    total = 0
    for source in sources:
        if source.weight > 0 and source.path:
            total += int(tfrecord.read_dataset_info(source.path).get("num_samples", 0))
    return total


# --------------------------------------------------------------------------- runtime


def make_strategy(kind: str) -> tf.distribute.Strategy:
    """The `tf.distribute` strategy for `TrainConfig.distribute`.

    Raises:
        TrainError: "multi_worker" without `TF_CONFIG`, or an unknown kind.
    """
    if kind == "default":
        return tf.distribute.get_strategy()
    if kind == "mirrored":
        if tf.config.list_logical_devices("GPU"):
            return tf.distribute.MirroredStrategy()
        cpus = [d.name for d in tf.config.list_logical_devices("CPU")]
        return tf.distribute.MirroredStrategy(devices=cpus)
    if kind == "multi_worker":
        if not os.environ.get("TF_CONFIG"):
            raise TrainError(
                "train.distribute=multi_worker needs the cluster in the TF_CONFIG "
                "environment variable. Received: TF_CONFIG unset"
            )
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise TrainError(
        "train.distribute must be one of ('default', 'mirrored', 'multi_worker'). "
        f"Received: train.distribute={kind!r}"
    )


def _worker() -> tuple[bool, str]:
    """`(is_chief, name)` of this process in a TF_CONFIG cluster (chief when none)."""
    spec = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = spec.get("task") or {}
    kind, index = task.get("type", "chief"), int(task.get("index", 0))
    has_chief = "chief" in (spec.get("cluster") or {})
    chief = kind == "chief" or (kind == "worker" and index == 0 and not has_chief)
    return chief, f"{kind}-{index}"


def dtype_policy(mixed_precision: str) -> str:
    """The Keras dtype policy name for `TrainConfig.mixed_precision`."""
    return "float32" if mixed_precision == "none" else mixed_precision


def make_optimizer(
    train_config: TrainConfig, total_steps: int | None, adjustable: bool = False
) -> keras.optimizers.AdamW:
    """AdamW with the warm-up + cosine (or constant) schedule and global norm clipping.

    Decoupled weight decay is not applied to biases and normalisation parameters.
    With `adjustable` (and the cosine schedule) the end of the decay can be moved
    during training (`WarmupCosineDecay.set_decay_steps`); the schedule is the
    optimizer's `learning_rate_schedule` attribute.
    """
    decay = total_steps if train_config.lr_schedule == "cosine" else None
    schedule = WarmupCosineDecay(
        train_config.learning_rate,
        warmup_steps=train_config.warmup_steps,
        decay_steps=max(decay, 1) if decay is not None else None,
        adjustable=adjustable and decay is not None,
    )
    optimizer = keras.optimizers.AdamW(
        learning_rate=schedule,
        weight_decay=train_config.weight_decay,
        global_clipnorm=train_config.clipnorm,
    )
    optimizer.exclude_from_weight_decay(var_names=["bias", "gamma", "beta"])
    # A plain attribute, outside Keras' tracking (the schedule is not optimizer state).
    object.__setattr__(optimizer, "learning_rate_schedule", schedule)
    return optimizer


# --------------------------------------------------------------------------- run folder


def _finished_epochs(paths: RunPaths) -> int:
    """Epochs recorded by `BackupAndRestore` in `backup/` (0 when there is no backup)."""
    path = os.path.join(paths.backup, "training_metadata.json")
    if not os.path.isfile(path):
        return 0
    try:
        with open(path) as f:
            return int(json.load(f).get("epoch", 0))
    except (OSError, ValueError):
        return 0


def _prepare_run_folder(paths: RunPaths, config: ExperimentConfig, resume: bool) -> int:
    """Clears or checks the run folder; returns the finished epochs to resume from."""
    if not resume:
        for folder in (paths.backup, paths.checkpoints, paths.logs):
            shutil.rmtree(folder, ignore_errors=True)
        if os.path.exists(paths.history):
            os.remove(paths.history)
        return 0
    finished = _finished_epochs(paths)
    if finished and os.path.isfile(paths.config):
        previous = load_config(paths.config)
        if config_to_dict(previous.model) != config_to_dict(config.model):
            raise TrainError(
                f"{paths.root} holds a run of another model config ({paths.config}); "
                "resume it with that config, or pass --no-resume or another --out-dir"
            )
    trim_history(paths.history, finished)
    return finished


# --------------------------------------------------------------------------- train


def train(
    config: ExperimentConfig,
    out_dir: str,
    *,
    resume: bool = True,
    epochs: int | None = None,
    steps_per_epoch: int | None = None,
    dataset: tf.data.Dataset | None = None,
    callbacks: Sequence[keras.callbacks.Callback] = (),
    synthetic_samples: int = DEFAULT_SYNTHETIC_SAMPLES,
    run_eagerly: bool = False,
    images: int = 4,
    verbose: int | str = "auto",
    time_budget_s: float | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> TrainResult:
    """Trains `config` into the run folder `out_dir` (see the module docstring).

    Args:
        config: the resolved `ExperimentConfig`.
        out_dir: the run folder (created).
        resume: carry on from `out_dir/backup` when it exists; False starts afresh.
        epochs: overrides `train.epochs` (recorded in `config.yaml`).
        steps_per_epoch: overrides `train.steps_per_epoch`.
        dataset: batches to train on instead of `data.sources`: pipeline batch dicts
            or `(image, labels)` tuples (e.g. for tests); its batch size is used as
            is; an infinite one needs `steps_per_epoch`, a finite one without it
            makes one pass per epoch (and a constant learning rate after warm-up).
        callbacks: more Keras callbacks, run after the built-in ones.
        synthetic_samples: samples generated for a `synthetic` source without a path.
        run_eagerly: run the train step eagerly (debugging; skips tracing, which
            dominates very short runs on a CPU).
        images: samples shown in the TensorBoard image panels (0 = none).
        verbose: `model.fit` verbosity ("auto", 0, 1 progress bar, 2 one line per epoch).
        time_budget_s: stop after the step that crosses this many seconds of wall-clock
            time from the start of `fit` (the epoch then ends as usual, checkpoints and
            all); with the cosine schedule, its decay is re-sized at every epoch end to
            end with the budget (`FitScheduleToBudget`), so `epochs` is only an upper
            bound. None = no budget.
        clock: the monotonic clock of the budget (tests pass a fake one).

    Returns:
        A `TrainResult`.

    Raises:
        TrainError: bad options or a run folder of another model.
        TrainingDivergedError: the loss became NaN or infinite (the message names
            the epoch, the step and the terms).
        hiu_tf.config.ConfigError, PipelineError, TFRecordError: bad config or data.
    """
    overrides = []
    if epochs is not None:
        overrides.append(f"train.epochs={epochs}")
    if steps_per_epoch is not None:
        overrides.append(f"train.steps_per_epoch={steps_per_epoch}")
    config = apply_overrides(config, overrides)
    if time_budget_s is not None and not time_budget_s > 0:
        raise TrainError(f"time_budget_s must be > 0. Received: time_budget_s={time_budget_s}")
    if isinstance(synthetic_samples, bool) or synthetic_samples < 1:
        raise TrainError(
            f"synthetic_samples must be >= 1. Received: synthetic_samples={synthetic_samples}"
        )
    tc = config.train
    keras.utils.set_random_seed(tc.seed)
    strategy = make_strategy(tc.distribute)
    chief, worker_name = _worker()
    # Non-chief workers write their (identical) state into a folder of their own.
    run_dir = out_dir if chief else os.path.join(out_dir, "workers", worker_name)
    paths = RunPaths(run_dir)
    os.makedirs(paths.root, exist_ok=True)
    initial_epoch = _prepare_run_folder(paths, config, resume)
    save_config(config, paths.config)  # first; rewritten once steps_per_epoch is resolved

    # ---- data
    if dataset is None:
        from hiu_tf.data.pipeline import dataset_from_config

        data_config = resolve_sources(config, run_dir, synthetic_samples)
        if tc.steps_per_epoch is None:
            samples = _num_samples(data_config.data.sources)
            steps = max(math.ceil(samples / config.data.batch_size), 1)
            config = apply_overrides(config, [f"train.steps_per_epoch={steps}"])
            tc = config.train
        dataset = dataset_from_config(
            data_config.data, image_size=config.input_size, training=True, seed=tc.seed
        )
    full_mask = needs_full_mask(config)
    dataset = fit_dataset(dataset, full_mask=full_mask)
    infinite = (
        tf.data.experimental.cardinality(dataset) == tf.data.experimental.INFINITE_CARDINALITY
    )
    if tc.steps_per_epoch is None and bool(infinite):
        raise TrainError(
            "an infinite dataset needs steps_per_epoch (--steps-per-epoch or "
            "train.steps_per_epoch). Received: steps_per_epoch=None"
        )
    if tc.distribute == "multi_worker":
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        dataset = dataset.with_options(options)
    save_config(config, paths.config)
    if initial_epoch:
        logger.info("resuming %s after epoch %d", paths.root, initial_epoch)

    # ---- model
    from hiu_tf.model import HIUModel

    size = config.input_size
    total_steps = tc.epochs * tc.steps_per_epoch if tc.steps_per_epoch else None
    with strategy.scope():
        model = HIUModel(config.model, dtype=dtype_policy(tc.mixed_precision))
        model.build((None, size, size, 3))
        optimizer = make_optimizer(tc, total_steps, adjustable=time_budget_s is not None)
        mask_label = "mask" if full_mask else "mask_small"
        model.compile(
            optimizer=optimizer,
            loss_config=config.loss,
            task_metrics=fit_metrics(config.model, mask_label) if tc.metrics else (),
            # Eager steps are not compiled: Keras would switch XLA off with a warning.
            jit_compile=bool(tc.jit_compile) and not run_eagerly,
            run_eagerly=run_eagerly,
        )

    # ---- callbacks
    cbs: list[keras.callbacks.Callback] = [
        TerminateOnNaNTerms(),
        LearningRateLogger(),
        HistoryCSV(paths.history, append=True),
        EpochSummaries(paths.logs),
    ]
    if images > 0 and chief:
        batch_images, batch_labels = next(iter(dataset.take(1)))
        cbs.append(
            PredictionImages(
                paths.logs,
                batch_images.numpy()[:images],
                {k: v.numpy()[:images] for k, v in batch_labels.items()},
                config.model.num_stacks,
            )
        )
    cbs.append(RunCheckpoint(paths.root, config, save_model=chief))
    cbs.append(
        keras.callbacks.BackupAndRestore(paths.backup, save_freq="epoch", delete_checkpoint=False)
    )
    cbs.extend(callbacks)
    budget = None
    if time_budget_s is not None:
        budget = TimeBudget(clock() + time_budget_s, clock)
        cbs.append(budget)
        if optimizer.learning_rate_schedule.adjustable:
            cbs.append(FitScheduleToBudget(optimizer.learning_rate_schedule, budget, clock))

    history = model.fit(
        dataset,
        epochs=tc.epochs,
        steps_per_epoch=tc.steps_per_epoch,
        callbacks=cbs,
        verbose=verbose,
        shuffle=False,  # the pipeline shuffles
    )
    return TrainResult(
        model=model,
        history={k: [float(x) for x in v] for k, v in history.history.items()},
        paths=paths,
        config=config,
        initial_epoch=initial_epoch,
        steps_per_epoch=tc.steps_per_epoch,
        stopped_by_budget=bool(budget is not None and budget.stopped),
    )


def history_rows(path: str) -> list[dict[str, float]]:
    """The rows of a `history.csv` as dicts of floats (one per finished epoch)."""
    import csv

    if not os.path.isfile(path):
        return []
    with open(path, encoding="utf-8", newline="") as f:
        return [{k: float(v) for k, v in row.items()} for row in csv.DictReader(f)]


__all__ = [
    "TrainError",
    "TrainResult",
    "TrainingDivergedError",
    "fit_dataset",
    "needs_full_mask",
    "history_rows",
    "make_optimizer",
    "make_strategy",
    "split_batch",
    "train",
]
