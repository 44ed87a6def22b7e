"""training.train: run folder, resuming, NaN guard, mixed batches, precision, XLA, Mirrored.

Everything uses the `tiny` preset at 32 x 32 input with the stick hand model
(tests/hiu_tf/data/sources/stick_hand.py: a few hundred faces, so rendering and
synthetic data are fast) and trains eagerly (`run_eagerly=True`): for a handful
of steps on a CPU, tracing the train step costs far more than it saves.
"""

import glob
import json
import os
import socket
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

from hiu_tf import runs, targets
from hiu_tf.config import apply_overrides
from hiu_tf.data import schema
from hiu_tf.data.sources import synthetic
from hiu_tf.presets import preset
from tests.hiu_tf.data.sources.stick_hand import stick_hand_model
from training.train import TrainError, TrainingDivergedError, history_rows, make_strategy, train

SIZE = 32
METRICS = ("pck_2d_heatmap", "pck_2d_mesh", "mask_iou", "mpjpe_3d_mm")  # fit_metrics's names
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture(scope="module")
def hand_npz(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("hand") / "stick.npz")
    stick_hand_model().save_npz(path)
    return path


def _config(hand_npz, *overrides):
    return apply_overrides(
        preset("tiny"),
        [
            f"model.hand_model={hand_npz}",
            f"model.input_size={SIZE}",
            "data.batch_size=2",
            "data.shuffle_buffer=8",
            "train.warmup_steps=1",
            *overrides,
        ],
    )


def _mixed_batch(hand_npz, *, nan_image=False):
    """A batch (dict with targets): every label, 2D only, mask only, unlabelled."""
    gen = synthetic.SyntheticGenerator(synthetic.SynthConfig(image_size=SIZE), hand_npz)
    full = [s for _, s in gen.generate(3, range(4))]
    samples = [
        full[0],
        schema.make_sample(
            full[1]["image"],
            keypoints_px=full[1]["keypoints_px"],
            keypoint_visible=(np.arange(21) % 3 != 0).astype(np.float32),
        ),
        schema.make_sample(full[2]["image"], mask=full[2]["mask"]),
        schema.make_sample(full[3]["image"]),
    ]
    batch = {k: np.stack([s[k] for s in samples]) for k in samples[0]}
    if nan_image:
        batch["image"][1] = np.nan
    return targets.make_targets(
        {k: tf.constant(v) for k, v in batch.items()}, heatmap_size=SIZE // 4
    )


class _Kill(Exception):
    pass


class _KillAfterEpoch(keras.callbacks.Callback):
    """Simulates a killed process: raises at the end of the first epoch."""

    def on_epoch_end(self, epoch, logs=None):
        raise _Kill(f"killed after epoch {epoch + 1}")


class _StepLosses(keras.callbacks.Callback):
    """Per-step losses from Keras' running epoch means."""

    def __init__(self):
        super().__init__()
        self.means = []

    def on_train_batch_end(self, batch, logs=None):
        self.means.append({k: float(v) for k, v in logs.items()})

    def per_step(self, key="loss"):
        m = [row[key] for row in self.means]
        return [m[0]] + [(i + 1) * m[i] - i * m[i - 1] for i in range(1, len(m))]


def _summary_tags(folder):
    tags = set()
    for path in glob.glob(os.path.join(folder, "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update((v.tag, v.metadata.plugin_data.plugin_name) for v in event.summary.value)
    return tags


def test_run_folder_and_resume_after_a_kill(hand_npz, tmp_path):
    run = str(tmp_path / "run")
    cfg = _config(hand_npz)
    kwargs = dict(epochs=2, steps_per_epoch=2, synthetic_samples=6, run_eagerly=True, verbose=0)
    with pytest.raises(_Kill):
        train(cfg, run, callbacks=[_KillAfterEpoch()], **kwargs)
    paths = runs.RunPaths(run)
    assert os.path.isfile(paths.config) and os.path.isfile(paths.model)
    assert paths.latest_checkpoint() == (1, paths.checkpoint(1))
    assert os.path.isfile(os.path.join(paths.backup, "latest.weights.h5"))
    rows = history_rows(paths.history)
    assert [r["epoch"] for r in rows] == [0]
    terms = {"loss_heatmap", "loss_pof", "loss_mask", "loss_bone_3d", "loss_reproj_2d"}
    assert terms | {"loss", "learning_rate"} <= set(rows[0])
    assert set(METRICS) <= set(rows[0])  # train.metrics is on by default
    assert all(np.isfinite(v) for v in rows[0].values())
    # The synthetic source had no path: shards were made in the run's cache.
    assert glob.glob(os.path.join(run, "cache", "synthetic-*", "*.tfrecord"))
    # TensorBoard scalars and prediction panels (the tensorboard package is not needed).
    assert ("epoch_loss_heatmap", "scalars") in _summary_tags(os.path.join(paths.logs, "train"))
    images = _summary_tags(os.path.join(paths.logs, "images"))
    assert {("backbone", "images"), ("mesh", "images")} <= images

    result = train(cfg, run, **kwargs)  # resumes after epoch 1
    assert result.initial_epoch == 1
    assert list(result.history["loss"]) and len(result.history["loss"]) == 1
    assert [r["epoch"] for r in history_rows(paths.history)] == [0, 1]  # each epoch once
    assert int(result.model.optimizer.iterations.numpy()) == 4  # 2 steps x 2 epochs
    assert paths.latest_checkpoint()[0] == 2
    for prefer in ("checkpoint", "model"):
        config, model = runs.load_run(run, prefer=prefer)
        assert config.train.epochs == 2 and config.train.steps_per_epoch == 2
        assert model.model_config.input_size == SIZE

    again = train(cfg, run, **kwargs)  # finished: nothing left to do
    assert again.initial_epoch == 2 and again.history.get("loss", []) == []


def test_another_model_is_refused_and_no_resume_starts_afresh(hand_npz, tmp_path):
    from hiu_tf.config import save_config

    run = str(tmp_path / "run")
    paths = runs.RunPaths(run)
    os.makedirs(paths.backup)
    with open(os.path.join(paths.backup, "training_metadata.json"), "w") as f:
        f.write('{"epoch": 5, "batch": 0}')
    os.makedirs(paths.checkpoints)
    open(paths.checkpoint(5), "w").close()
    with open(paths.history, "w") as f:
        f.write("epoch,loss\n" + "".join(f"{i},1.0\n" for i in range(5)))
    save_config(_config(hand_npz, "model.width=8"), paths.config)
    with pytest.raises(TrainError, match="holds a run of another model config"):
        train(_config(hand_npz), run, epochs=1, steps_per_epoch=1, run_eagerly=True, verbose=0)
    dataset = tf.data.Dataset.from_tensors(_mixed_batch(hand_npz)).repeat()
    result = train(
        _config(hand_npz),
        run,
        resume=False,
        dataset=dataset,
        epochs=1,
        steps_per_epoch=1,
        run_eagerly=True,
        images=0,
        verbose=0,
    )
    assert result.initial_epoch == 0
    assert [r["epoch"] for r in history_rows(paths.history)] == [0]
    assert paths.latest_checkpoint() == (1, paths.checkpoint(1))


def test_loss_goes_down_on_a_fixed_mixed_batch_without_nan(hand_npz, tmp_path):
    batch = _mixed_batch(hand_npz)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    steps = _StepLosses()
    cfg = _config(hand_npz, "train.learning_rate=0.003")
    result = train(
        cfg,
        str(tmp_path / "run"),
        dataset=dataset,
        epochs=1,
        steps_per_epoch=12,
        callbacks=[steps],
        run_eagerly=True,
        images=0,
        verbose=0,
    )
    losses = steps.per_step()
    assert all(np.isfinite(v) for row in steps.means for v in row.values())
    assert np.mean(losses[-3:]) < 0.8 * np.mean(losses[:3]), losses
    assert set(result.history) >= {"loss_ssl_mask", "loss_ssl_2d", "loss_render_mask"}


def test_task_metrics_are_logged_and_change_nothing_that_is_learnt(hand_npz, tmp_path):
    from hiu_tf import metrics
    from hiu_tf.model import mask_output_key

    batch = _mixed_batch(hand_npz)
    dataset = tf.data.Dataset.from_tensors(batch).repeat()
    quiet = dict(dataset=dataset, epochs=1, steps_per_epoch=2, run_eagerly=True, images=0)
    results = {
        on: train(
            _config(hand_npz, f"train.metrics={str(on).lower()}"),
            str(tmp_path / f"run-{on}"),
            verbose=0,
            **quiet,
        )
        for on in (True, False)
    }
    assert set(METRICS) <= set(results[True].history)
    assert not set(METRICS) & set(results[False].history)
    assert results[True].history["loss"] == results[False].history["loss"]
    for a, b in zip(results[True].model.weights, results[False].model.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.path)

    # evaluate (and fit's validation) reports them too, streamed over the batch's labels.
    model = results[True].model
    images, labels = batch["image"], {k: v for k, v in batch.items() if k != "image"}
    logs = model.evaluate(images, labels, batch_size=2, return_dict=True, verbose=0)
    out = {k: np.asarray(v) for k, v in model.predict_on_batch(images).items()}
    labels = {k: v.numpy() for k, v in labels.items()}
    has_3d = labels["has_3d"] > 0
    mpjpe = 1000 * metrics.mpjpe(out["joints_cam"][has_3d], labels["joints_cam"][has_3d], root=0)
    assert logs["mpjpe_3d_mm"] == pytest.approx(mpjpe, rel=1e-5)
    visible = labels["keypoint_visible"] * labels["has_2d"][:, None]
    errors = metrics.keypoint_errors(out["keypoints_px"], labels["keypoints_px"])
    pck = metrics.pck_curve(errors, [0.0, metrics.PCK_CROP_FRACTION * SIZE], visible)[1]
    assert logs["pck_2d_mesh"] == pytest.approx(pck, abs=1e-6)
    logits = out[mask_output_key(out, model.model_config.num_stacks)][..., 0]
    truth = labels["mask_small"].reshape(logits.shape)  # tiny: no MaskRefiner, same size
    iou = metrics.mean_iou(logits > 0, truth, valid=labels["has_mask"])
    assert logs["mask_iou"] == pytest.approx(iou, abs=1e-6)


def test_nan_image_stops_with_a_clear_message(hand_npz, tmp_path):
    dataset = tf.data.Dataset.from_tensors(_mixed_batch(hand_npz, nan_image=True)).repeat()
    run = str(tmp_path / "run")
    with pytest.raises(TrainingDivergedError) as info:
        train(
            _config(hand_npz),
            run,
            dataset=dataset,
            epochs=2,
            steps_per_epoch=3,
            run_eagerly=True,
            images=0,
            verbose=0,
        )
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("training diverged at epoch 1, step 1 (optimizer step 1)")
    assert "loss_heatmap" in message and "loss_mask" in message
    assert runs.RunPaths(run).latest_checkpoint() is None  # nothing of the NaN epoch was kept


@pytest.mark.parametrize(
    "policy",
    ["mixed_float16", "mixed_bfloat16"],
)
def test_mixed_precision_runs_a_step(hand_npz, tmp_path, policy):
    cfg = _config(hand_npz, f"train.mixed_precision={policy}")
    dataset = tf.data.Dataset.from_tensors(_mixed_batch(hand_npz)).repeat()
    result = train(
        cfg,
        str(tmp_path / "run"),
        dataset=dataset,
        epochs=1,
        steps_per_epoch=1,
        run_eagerly=True,
        images=0,
        verbose=0,
    )
    assert result.model.compute_dtype == policy.split("_")[1]
    assert np.isfinite(result.history["loss"][0])
    # Keras 3 wraps the optimizer for float16 (dynamic loss scaling) by itself.
    is_scaled = isinstance(result.model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert is_scaled == (policy == "mixed_float16")
    assert all(w.dtype == "float32" for w in result.model.trainable_weights)


@pytest.mark.slow
def test_jit_compile_runs_a_step(hand_npz, tmp_path):
    cfg = _config(hand_npz, "train.jit_compile=true")
    dataset = tf.data.Dataset.from_tensors(_mixed_batch(hand_npz)).repeat()
    result = train(
        cfg,
        str(tmp_path / "run"),
        dataset=dataset,
        epochs=1,
        steps_per_epoch=2,
        images=0,
        verbose=0,
    )
    assert result.model.jit_compile is True
    assert np.isfinite(result.history["loss"][0])


_DISTRIBUTED = textwrap.dedent(
    """
    import json, sys
    import tensorflow as tf

    npz, run, kind = sys.argv[1:4]
    cpu = tf.config.list_physical_devices("CPU")[0]
    devices = 2 if kind == "mirrored" else 1
    tf.config.set_logical_device_configuration(
        cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(devices)]
    )
    from hiu_tf.config import apply_overrides
    from hiu_tf.presets import preset
    from training.train import train

    cfg = apply_overrides(
        preset("tiny"),
        [
            f"model.hand_model={npz}", "model.input_size=32", "data.batch_size=4",
            f"train.distribute={kind}", "train.warmup_steps=1",
        ],
    )
    result = train(
        cfg, run, epochs=1, steps_per_epoch=1, synthetic_samples=4, run_eagerly=True, verbose=0
    )
    strategy = result.model.distribute_strategy

    # The task metrics over the replicas vs NumPy over the whole batch; the flags
    # differ between the replicas' halves, so a mean of per-replica means would differ.
    import numpy as np
    from hiu_tf import metrics, targets
    from hiu_tf.data.sources import synthetic
    from hiu_tf.model import mask_output_key

    gen = synthetic.SyntheticGenerator(synthetic.SynthConfig(image_size=32), npz)
    samples = [s for _, s in gen.generate(5, range(4))]
    batch = {k: np.stack([s[k] for s in samples]) for k in samples[0]}
    batch["has_3d"] = np.array([1, 1, 1, 0], np.float32)
    batch["has_mask"] = np.array([1, 0, 1, 1], np.float32)
    batch = targets.make_targets({k: tf.constant(v) for k, v in batch.items()}, heatmap_size=8)
    images = batch.pop("image")
    logs = result.model.evaluate(images, batch, batch_size=4, return_dict=True, verbose=0)
    out = {k: np.asarray(v) for k, v in result.model(images, training=False).items()}
    labels = {k: v.numpy() for k, v in batch.items()}
    keep = labels["has_3d"] > 0
    logits = out[mask_output_key(out, cfg.model.num_stacks)][..., 0]
    print("RESULT", json.dumps({
        "mpjpe": [
            logs["mpjpe_3d_mm"],
            1000 * metrics.mpjpe(out["joints_cam"][keep], labels["joints_cam"][keep], root=0),
        ],
        "mask_iou": [
            logs["mask_iou"],
            metrics.mean_iou(
                logits > 0, labels["mask_small"].reshape(logits.shape), labels["has_mask"]
            ),
        ],
        "mirrored": isinstance(strategy, tf.distribute.MirroredStrategy),
        "multi_worker": isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy),
        "replicas": strategy.num_replicas_in_sync,
        "loss": result.history["loss"][0],
        "iterations": int(result.model.optimizer.iterations.numpy()),
    }))
    """
)


def _run_distributed(hand_npz, run, kind, env=None):
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", **(env or {}))
    proc = subprocess.run(
        [sys.executable, "-c", _DISTRIBUTED, hand_npz, str(run), kind],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    line = next(x for x in proc.stdout.splitlines() if x.startswith("RESULT "))
    return json.loads(line[len("RESULT ") :])


@pytest.mark.slow
def test_mirrored_strategy_on_two_logical_cpus(hand_npz, tmp_path):
    result = _run_distributed(hand_npz, tmp_path / "run", "mirrored")
    assert result["mirrored"] and result["replicas"] == 2
    assert result["iterations"] == 1
    assert np.isfinite(result["loss"])
    assert runs.RunPaths(str(tmp_path / "run")).latest_checkpoint()[0] == 1
    for name in ("mpjpe", "mask_iou"):  # (streamed over 2 replicas, NumPy)
        assert result[name][0] == pytest.approx(result[name][1], rel=1e-5, abs=1e-6), name


@pytest.mark.slow
def test_multi_worker_strategy_with_a_one_worker_tf_config(hand_npz, tmp_path):
    with socket.socket() as s:
        s.bind(("localhost", 0))
        port = s.getsockname()[1]
    tf_config = {
        "cluster": {"worker": [f"localhost:{port}"]},
        "task": {"type": "worker", "index": 0},
    }
    result = _run_distributed(
        hand_npz, tmp_path / "run", "multi_worker", {"TF_CONFIG": json.dumps(tf_config)}
    )
    assert result["multi_worker"] and result["replicas"] == 1
    assert result["iterations"] == 1 and os.path.isfile(
        runs.RunPaths(str(tmp_path / "run")).model
    )  # the chief writes


def test_multi_worker_needs_tf_config(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(TrainError, match="needs the cluster in the TF_CONFIG"):
        make_strategy("multi_worker")


@pytest.mark.parametrize(
    "overrides, full",
    [
        ({}, True),  # the preset refines the mask: mask_fine reads the full mask
        ({"loss.mask_fine": 0.0}, False),
        ({"loss.mask_fine": 0.0, "loss.mask_iou": 1.0}, True),  # the refined mask's IoU
        ({"model.mask_refine_width": 0, "loss.mask_iou": 1.0}, False),  # mask_small suffices
    ],
)
def test_the_full_resolution_mask_is_kept_only_for_terms_that_read_it(overrides, full):
    from training.train import fit_dataset, needs_full_mask

    settings = {"model.mask_refine_width": 8, **overrides}
    config = apply_overrides(preset("tiny"), [f"{k}={v}" for k, v in settings.items()])
    assert needs_full_mask(config) is full
    batch = {"image": tf.zeros((1, 4, 4, 3)), "mask": tf.zeros((1, 4, 4)), "has_mask": [1.0]}
    _, labels = next(iter(fit_dataset(tf.data.Dataset.from_tensors(batch), full_mask=full)))
    assert ("mask" in labels) is full
