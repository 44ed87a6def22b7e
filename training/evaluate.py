"""One job, evaluating a run on TFRecords: `metrics.json`, PCK-curve plots, FreiHAND predictions.

    python -m hiu_tf evaluate --run runs/NAME --data data/rhd-eval
    python -m hiu_tf evaluate --run runs/NAME --data data/freihand-eval --format freihand

The run's model (`hiu_tf.runs.load_run`) is applied to every record of the
data, and every metric whose labels exist is computed (`hiu_tf.metrics`):

    keypoints_2d.heatmap   2D PCK / AUC of `keypoints_px_heatmap` (has_2d, visible keypoints)
    keypoints_2d.mesh      the same for `keypoints_px`, the projected mesh joints
    keypoints_3d           hand3d (RHD / STB) 3D PCK of `joints_cam` (root-relative,
                           rescaled to the reference bone; AUC 20-50 mm), plus
                           root-relative MPJPE and PA-MPJPE (has_3d)
    mask                   per-image IoU of the last stack's mask (logits resized
                           bilinearly to the crop, > 0), mean IoU and IoU-PCK (has_mask)

Each section has `count`, the number of samples it used; sections without
labels or without the model output are listed under `skipped` with the reason.
2D thresholds are pixels of the model's input crop (default: hand3d's 20
thresholds over 0-30 px); 3D numbers in the JSON are millimetres.

The sample dict has no ground-truth vertices, so FreiHAND's mesh metrics are
not computed from the records: `--format freihand` writes `pred.json` in the
format of the official evaluation (lmb-freiburg/freihand `eval.py`): a JSON
list `[xyz_list, verts_list]`, per sample 21 x 3 joints and V x 3 vertices in
metres (rounded to 1 micrometre), in record order. Left hands (mirrored to
right hands by the readers, `is_left = 1`) are mirrored back. With
`freihand_gt` (a folder holding the official `evaluation_xyz.json` and
`evaluation_verts.json`), `hiu_tf.metrics.freihand_metrics` scores them too.

Records are read in file order (sorted shards, then records), once, without
training targets; `hiu_tf.data.pipeline.build_dataset` interleaves shards,
which would reorder the samples that `pred.json` must list in the order of
the ground truth. Crops of another size are resized as the pipeline does.
"""

from __future__ import annotations

import dataclasses
import glob
import json
import logging
import math
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from hiu_tf import metrics
from hiu_tf.errors import UserError
from hiu_tf.keypoints import ANCHOR_KEYPOINT
from mano_tf.checks import is_int

logger = logging.getLogger(__name__)

FORMATS = ("freihand",)
METRICS_FILE = "metrics.json"
FREIHAND_PRED_FILE = "pred.json"
PRED_DECIMALS = 6  # pred.json holds metres rounded to 1 micrometre
FREIHAND_GT_FILES = ("evaluation_xyz.json", "evaluation_verts.json")


class EvaluationError(UserError, ValueError):
    """Bad evaluation options or inputs."""


@dataclasses.dataclass
class EvalResult:
    """What `evaluate_run` produced.

    Attributes:
        metrics: the dict written to `metrics.json`.
        out_dir: the output folder.
        files: paths written (metrics, plots, predictions).
    """

    metrics: dict[str, Any]
    out_dir: str
    files: list[str]


# --------------------------------------------------------------------------- paths and data


def data_name(data: str) -> str:
    """A short name for a TFRecord folder, pattern or file (for `runs/NAME/eval/<name>/`)."""
    path = os.path.normpath(os.fspath(data))
    if os.path.isdir(path):
        return os.path.basename(os.path.abspath(path)) or "data"
    stem = os.path.basename(path)
    if stem.endswith(".tfrecord"):
        stem = stem[: -len(".tfrecord")]
    stem = "".join(c for c in stem if c not in "*?[]").strip("-_.")
    return stem or os.path.basename(os.path.dirname(os.path.abspath(path))) or "data"


def default_out_dir(run_dir: str, data: str) -> str:
    """`runs/NAME/eval/<data name>`."""
    return os.path.join(run_dir, "eval", data_name(data))


def eval_dataset(
    data: str, image_size: int, batch_size: int, max_samples: int | None = None
) -> tuple[Any, int | None]:
    """Batched sample dicts of a TFRecord folder / pattern / file, in file order, once.

    Args:
        data: what `hiu_tf.data.tfrecord.list_shards` accepts.
        image_size: the model's input size; other crop sizes are resized.
        batch_size: samples per batch (the last batch may be smaller).
        max_samples: read at most this many records.

    Returns:
        `(dataset, num_samples)`; `num_samples` is None when unknown (a pattern
        that selects only some shards of a folder).

    Raises:
        TFRecordError: no shards; EvaluationError: no crop size next to the shards.
    """
    import tensorflow as tf

    from hiu_tf.data import augment, tfrecord

    files = tfrecord.list_shards(data)
    info = tfrecord.read_dataset_info(data)
    stored = info.get("image_size")
    if stored is None:
        raise EvaluationError(
            f"{data}: no dataset_info.json with the crop size next to the shards; write the "
            "records with `python -m hiu_tf data convert/synth`"
        )
    total = None
    folder = data if os.path.isdir(data) else os.path.dirname(data)
    all_shards = glob.glob(os.path.join(glob.escape(folder or "."), "*.tfrecord"))
    if sorted(os.path.abspath(f) for f in files) == sorted(os.path.abspath(f) for f in all_shards):
        total = info.get("num_samples")
    ds = tf.data.TFRecordDataset(files)
    if max_samples is not None:
        ds = ds.take(max_samples)
        total = max_samples if total is None else min(total, max_samples)
    ds = ds.map(
        lambda s: tfrecord.decode_example(s, stored),
        num_parallel_calls=tf.data.AUTOTUNE,
        deterministic=True,
    )
    if stored != image_size:
        logger.info("resizing %d px crops to the model's %d px", stored, image_size)
        ds = ds.map(
            lambda s: augment.resize_sample(s, image_size),
            num_parallel_calls=tf.data.AUTOTUNE,
            deterministic=True,
        )
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE), total


# --------------------------------------------------------------------------- accumulation


class _Collector:
    """Keeps, per batch, what the metrics need (labels and predictions of labelled samples)."""

    def __init__(self, outputs: Sequence[str], mask_key: str | None, keep_mesh: bool):
        self.outputs = set(outputs)
        self.mask_key = mask_key
        self.keep_mesh = keep_mesh
        self.num_samples = 0
        self.flags = {"has_2d": 0, "has_3d": 0, "has_mask": 0}
        self.kp2d: dict[str, list] = {"gt": [], "visible": []}
        self.kp2d_pred: dict[str, list] = {"keypoints_px_heatmap": [], "keypoints_px": []}
        self.joints_gt: list = []
        self.joints_pred: list = []
        self.ious: list = []
        self.mesh_joints: list = []
        self.mesh_vertices: list = []
        self.rotations: dict[str, list] = {"pred": [], "gt": []}
        self.depths: dict[str, list] = {"pred": [], "pred_focal": [], "gt": [], "gt_focal": []}

    def add(self, batch: dict[str, np.ndarray], out: dict[str, np.ndarray]) -> None:
        import tensorflow as tf

        self.num_samples += len(batch["has_2d"])
        for flag in self.flags:
            self.flags[flag] += int(np.sum(batch[flag] > 0))
        has_2d = batch["has_2d"] > 0
        if np.any(has_2d):
            self.kp2d["gt"].append(batch["keypoints_px"][has_2d])
            self.kp2d["visible"].append(batch["keypoint_visible"][has_2d] > 0)
            for key, values in self.kp2d_pred.items():
                if key in self.outputs:
                    values.append(out[key][has_2d])
        has_3d = batch["has_3d"] > 0
        if np.any(has_3d) and "joints_cam" in self.outputs:
            self.joints_gt.append(batch["joints_cam"][has_3d])
            self.joints_pred.append(out["joints_cam"][has_3d])
        has_mano = batch["has_mano"] > 0
        if np.any(has_mano) and "mano_pose" in self.outputs:
            self.rotations["pred"].append(out["mano_pose"][has_mano, :3])
            self.rotations["gt"].append(batch["mano_pose"][has_mano, :3])
        # The depth ratio needs the label's focal length: records without K have zeros.
        has_depth = has_3d & (batch["intrinsics"][:, 0, 0] > 0)
        if np.any(has_depth) and "camera" in self.outputs:
            self.depths["pred"].append(out["camera"][has_depth, 3])
            self.depths["pred_focal"].append(out["camera"][has_depth, 0])
            self.depths["gt"].append(batch["joints_cam"][has_depth, ANCHOR_KEYPOINT, 2])
            self.depths["gt_focal"].append(batch["intrinsics"][has_depth, 0, 0])
        has_mask = batch["has_mask"] > 0
        if np.any(has_mask) and self.mask_key is not None:
            size = batch["mask"].shape[1:3]
            logits = tf.image.resize(out[self.mask_key][has_mask], size, method="bilinear")
            pred = logits.numpy()[..., 0] > 0
            self.ious.append(np.atleast_1d(metrics.mask_iou(pred, batch["mask"][has_mask])))
        if self.keep_mesh:
            mirror = np.where(batch["is_left"] > 0, -1.0, 1.0)[:, None, None]  # undo the mirror
            flip = np.concatenate([mirror, np.ones_like(mirror), np.ones_like(mirror)], axis=-1)
            self.mesh_joints.append(out["joints_cam"] * flip)
            self.mesh_vertices.append(out["vertices"] * flip)


def _cat(values: list) -> np.ndarray | None:
    return np.concatenate(values) if values else None


def _summary_2d(pred, gt, visible, thresholds) -> dict[str, Any]:
    out = metrics.pck_2d(pred, gt, visible, thresholds)
    return {
        "count": out["count"],
        "auc": out["auc"],
        "epe_mean_px": out["epe_mean"],
        "epe_median_px": out["epe_median"],
        "thresholds_px": out["thresholds"],
        "pck": out["pck"],
    }


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return _jsonable(value.tolist())
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


# --------------------------------------------------------------------------- FreiHAND


def write_freihand_predictions(path: str, joints: np.ndarray, vertices: np.ndarray) -> str:
    """Writes `pred.json` as FreiHAND's `eval.py` reads it: `[xyz_list, verts_list]`.

    Values are rounded to `PRED_DECIMALS` decimals (1 micrometre), which keeps
    the file about half as large as full float64 text.

    Args:
        path: output file.
        joints: `[N, 21, 3]` metres, canonical (= FreiHAND) order.
        vertices: `[N, V, 3]` metres.

    Returns:
        `path`.
    """
    payload = [
        np.round(np.asarray(joints, np.float64), PRED_DECIMALS).tolist(),
        np.round(np.asarray(vertices, np.float64), PRED_DECIMALS).tolist(),
    ]
    with open(path, "w") as f:
        json.dump(payload, f, separators=(",", ":"))
    return path


def load_freihand_ground_truth(folder: str, count: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `count` samples of FreiHAND's `evaluation_xyz.json` / `evaluation_verts.json`.

    Raises:
        EvaluationError: missing files or fewer samples than `count`.
    """
    arrays = []
    for name in FREIHAND_GT_FILES:
        path = os.path.join(folder, name)
        if not os.path.isfile(path):
            raise EvaluationError(
                f"--freihand-gt must be a folder with {' and '.join(FREIHAND_GT_FILES)}. "
                f"Received: {folder!r} (no {name})"
            )
        with open(path) as f:
            data = json.load(f)
        if len(data) < count:
            raise EvaluationError(
                f"{path} holds {len(data)} samples, fewer than the {count} evaluated"
            )
        arrays.append(np.asarray(data[:count], np.float64))
    return arrays[0], arrays[1]


# --------------------------------------------------------------------------- main entry


def _check_count(value: int | None, flag: str, allow_none: bool = False) -> None:
    """EvaluationError unless `value` is an integer >= 1, in the wording of the CLI flags."""
    if value is None and allow_none:
        return
    if not is_int(value) or value < 1:
        raise EvaluationError(f"{flag} must be an integer >= 1. Received: {flag}={value!r}")


def evaluate_model(
    model,
    config,
    dataset,
    *,
    batch_size: int = 32,
    pck_2d_max_px: float = 30.0,
    total: int | None = None,
    verbose: int = 0,
    keep_mesh: bool = False,
) -> tuple[dict[str, Any], _Collector]:
    """Runs a model over batches of sample dicts and computes every metric their labels allow.

    The metric sections are those of `evaluate_run` (`keypoints_2d`, `keypoints_3d`,
    `mask`, `mesh_health`), with their curves as arrays; nothing is written.

    Args:
        model: an `HIUModel` (or anything whose `predict_on_batch` gives its outputs).
        config: its `ExperimentConfig`.
        dataset: an iterable of batch dicts of NumPy arrays or tensors (`eval_dataset`),
            each at most `batch_size` samples (a smaller one is padded, so that one
            traced shape serves every batch).
        batch_size: images per forward pass.
        pck_2d_max_px: the 2D PCK thresholds are `linspace(0, this, 20)` pixels.
        total: number of samples, for the progress bar (None = unknown).
        verbose: 1 shows a progress bar over batches.
        keep_mesh: keep the mesh joints and vertices (mirrored back for left hands) in
            the returned collector (`mesh_joints`, `mesh_vertices`).

    Returns:
        `(metrics, collector)`: the metrics dict (`config`, `num_samples`, `counts`,
        the sections, and `skipped` with a reason for each section left out) and the
        `_Collector` that holds the per-sample values.
    """
    import keras

    from hiu_tf.model import mask_output_key

    size = config.model.input_size
    probe = model.predict_on_batch(np.zeros((batch_size, size, size, 3), np.float32))
    outputs = sorted(probe)
    mask_key = mask_output_key(probe, config.model.num_stacks)
    has_mesh = "joints_cam" in probe and "vertices" in probe
    if keep_mesh and not has_mesh:
        raise EvaluationError(
            "--format freihand needs a model with joints_cam and vertices outputs. "
            f"Received: outputs {outputs}"
        )
    collector = _Collector(outputs, mask_key, keep_mesh=keep_mesh)

    steps = None if total is None else math.ceil(total / batch_size)
    progress = keras.utils.Progbar(steps, verbose=verbose, unit_name="batch")
    iterator = dataset.as_numpy_iterator() if hasattr(dataset, "as_numpy_iterator") else dataset
    for step, batch in enumerate(iterator, start=1):
        batch = {k: np.asarray(v) for k, v in batch.items()}
        images = batch["image"]
        n = len(images)
        if n < batch_size:  # pad: one traced shape for every batch
            pad = np.zeros((batch_size - n, *images.shape[1:]), images.dtype)
            images = np.concatenate([images, pad])
        out = {k: np.asarray(v)[:n] for k, v in model.predict_on_batch(images).items()}
        collector.add(batch, out)
        progress.update(step)

    result: dict[str, Any] = {
        "config": config.name,
        "num_samples": collector.num_samples,
        "counts": dict(collector.flags),
    }
    skipped: dict[str, str] = {}

    # 2D keypoints
    gt2d, vis2d = _cat(collector.kp2d["gt"]), _cat(collector.kp2d["visible"])
    thresholds_2d = np.linspace(0.0, float(pck_2d_max_px), 20)
    section_2d = {}
    for name, key in (("heatmap", "keypoints_px_heatmap"), ("mesh", "keypoints_px")):
        if key not in probe:
            skipped[f"keypoints_2d.{name}"] = f"the model has no {key} output"
        elif gt2d is None:
            skipped[f"keypoints_2d.{name}"] = "no samples with has_2d"
        else:
            section_2d[name] = _summary_2d(
                _cat(collector.kp2d_pred[key]), gt2d, vis2d, thresholds_2d
            )
    if section_2d:
        result["keypoints_2d"] = section_2d

    # 3D keypoints
    if "joints_cam" not in probe:
        skipped["keypoints_3d"] = "the model has no joints_cam output"
    elif not collector.joints_gt:
        skipped["keypoints_3d"] = "no samples with has_3d"
    else:
        gt3d, pred3d = _cat(collector.joints_gt), _cat(collector.joints_pred)
        pck3d = metrics.rhd_stb_pck(pred3d, gt3d)
        result["keypoints_3d"] = {
            "count": len(gt3d),
            "protocol": "hand3d: root-relative (wrist), rescaled to the reference bone",
            "auc_20_50": pck3d["auc"],
            "auc_0_50": pck3d["auc_0_50"],
            "epe_mean_mm": 1000 * pck3d["epe_mean"],
            "epe_median_mm": 1000 * pck3d["epe_median"],
            "mpjpe_mm": 1000 * metrics.mpjpe(pred3d, gt3d, root=0),
            "pa_mpjpe_mm": 1000 * metrics.pa_mpjpe(pred3d, gt3d),
            "thresholds_mm": 1000 * pck3d["thresholds"],
            "pck": pck3d["pck"],
        }

    # Mesh health: is the regressed hand turned the right way, at the right depth?
    health: dict[str, Any] = {}
    if collector.rotations["gt"]:
        from mano_tf.rotations import axis_angle_to_matrix

        pred_r = axis_angle_to_matrix(_cat(collector.rotations["pred"]).astype(np.float64))
        gt_r = axis_angle_to_matrix(_cat(collector.rotations["gt"]).astype(np.float64))
        angles = metrics.rotation_errors_deg(np.asarray(pred_r), np.asarray(gt_r))
        health.update(
            rotation_count=len(angles),
            rotation_error_median_deg=float(np.median(angles)),
            rotation_error_mean_deg=float(np.mean(angles)),
        )
    if collector.depths["gt"]:
        ratios = metrics.depth_ratios(*(_cat(collector.depths[k]) for k in collector.depths))
        health.update(
            depth_count=len(ratios),
            depth_ratio_median=float(np.median(ratios)),
            depth_ratio_p10=float(np.percentile(ratios, 10)),
            depth_ratio_p90=float(np.percentile(ratios, 90)),
        )
    if health:
        result["mesh_health"] = health
    else:
        skipped["mesh_health"] = (
            "needs mano_pose / camera outputs and samples with has_mano or has_3d and K"
        )

    # Masks
    if mask_key is None:
        skipped["mask"] = "the model has no mask output"
    elif not collector.ious:
        skipped["mask"] = "no samples with has_mask"
    else:
        ious = _cat(collector.ious)
        thresholds_iou = np.linspace(*metrics.IOU_THRESHOLDS)
        curve = metrics.iou_pck(ious, thresholds_iou)
        result["mask"] = {
            "count": len(ious),
            "output": mask_key,
            "mean_iou": float(ious.mean()),
            "iou_pck_auc": metrics.auc(curve, thresholds_iou),
            "thresholds": thresholds_iou,
            "iou_pck": curve,
        }
    if skipped:
        result["skipped"] = skipped
    return result, collector


def plot_metrics(result: dict[str, Any], out_dir: str, name: str) -> list[str]:
    """The PCK-curve plots of an `evaluate_model` metrics dict; returns the files written.

    `pck_2d.png` (heat-map and projected-mesh keypoints), `pck_3d.png` and
    `iou_pck.png`, each when its section exists.
    """
    from hiu_tf.visualize import plot_pck_curves

    files = []
    section_2d = result.get("keypoints_2d", {})
    if section_2d:
        keys = {"heatmap": "keypoints_px_heatmap", "mesh": "keypoints_px"}
        curves = {f"{k} ({keys[k]})": (v["thresholds_px"], v["pck"]) for k, v in section_2d.items()}
        count = max(v["count"] for v in section_2d.values())
        files.append(
            plot_pck_curves(
                curves,
                os.path.join(out_dir, "pck_2d.png"),
                title=f"2D PCK, {name} (n={count})",
                xlabel="threshold (px of the input crop)",
            )
        )
    k3 = result.get("keypoints_3d")
    if k3:
        files.append(
            plot_pck_curves(
                {"joints_cam": (np.asarray(k3["thresholds_mm"]) / 1000.0, k3["pck"])},
                os.path.join(out_dir, "pck_3d.png"),
                title=f"3D PCK (hand3d protocol), {name} (n={k3['count']})",
                xlabel="threshold (mm)",
                x_scale=1000.0,
            )
        )
    mask = result.get("mask")
    if mask:
        files.append(
            plot_pck_curves(
                {mask["output"]: (mask["thresholds"], mask["iou_pck"])},
                os.path.join(out_dir, "iou_pck.png"),
                title=f"IoU PCK, {name} (n={mask['count']})",
                xlabel="IoU threshold",
                ylabel="fraction of images with IoU > threshold",
            )
        )
    return files


def evaluate_run(
    run_dir: str,
    data: str,
    out_dir: str | None = None,
    output_format: str | None = None,
    batch_size: int = 32,
    max_samples: int | None = None,
    pck_2d_max_px: float = 30.0,
    freihand_gt: str | None = None,
    verbose: int = 1,
) -> EvalResult:
    """Runs a run's model over TFRecords and writes metrics, plots and predictions.

    Args:
        run_dir: the run folder (`config.yaml` + `model.keras` or checkpoints).
        data: TFRecord folder, glob pattern or file.
        out_dir: output folder; None = `runs/NAME/eval/<data name>`.
        output_format: None, or "freihand" to also write `pred.json`.
        batch_size: images per forward pass.
        max_samples: evaluate only the first N records.
        pck_2d_max_px: the 2D PCK thresholds are `linspace(0, this, 20)` pixels
            of the model input (hand3d uses 0-30 px).
        freihand_gt: with "freihand", a folder with the official ground truth
            files; adds the `freihand` section to the metrics.
        verbose: 1 shows a progress bar over batches, 0 is silent.

    Returns:
        An `EvalResult`.

    Raises:
        EvaluationError: bad options or inputs; RunError: not a run folder;
        TFRecordError: no records.
    """

    from hiu_tf.config import load_config
    from hiu_tf.data import tfrecord
    from hiu_tf.runs import RunPaths, load_run

    _check_count(batch_size, "--batch-size")
    _check_count(max_samples, "--max-samples", allow_none=True)
    if output_format not in (None, *FORMATS):
        raise EvaluationError(f"--format must be one of {FORMATS}. Received: {output_format!r}")
    if freihand_gt is not None and output_format != "freihand":
        raise EvaluationError("--freihand-gt needs --format freihand. Received: --format=None")
    if not pck_2d_max_px > 0:
        raise EvaluationError(
            f"--pck-2d-max-px must be > 0. Received: --pck-2d-max-px={pck_2d_max_px}"
        )
    if freihand_gt is not None:
        for name in FREIHAND_GT_FILES:
            if not os.path.isfile(os.path.join(freihand_gt, name)):
                raise EvaluationError(
                    f"--freihand-gt must be a folder with {' and '.join(FREIHAND_GT_FILES)}. "
                    f"Received: {freihand_gt!r} (no {name})"
                )
    tfrecord.list_shards(data)  # fail on missing data before loading the model
    config_path = RunPaths(run_dir).config
    if output_format == "freihand" and os.path.isfile(config_path):
        if not load_config(config_path).model.mesh_head:
            raise EvaluationError(
                "--format freihand needs a model with a mesh head (joints_cam, vertices). "
                f"Received: a run with model.mesh_head=false ({run_dir!r})"
            )
    config, model = load_run(run_dir)
    size = config.model.input_size
    dataset, total = eval_dataset(data, size, batch_size, max_samples)

    out_dir = out_dir or default_out_dir(run_dir, data)
    result, collector = evaluate_model(
        model,
        config,
        dataset,
        batch_size=batch_size,
        pck_2d_max_px=pck_2d_max_px,
        total=total,
        verbose=verbose,
        keep_mesh=output_format == "freihand",
    )
    if collector.num_samples == 0:
        raise EvaluationError(f"{data} holds no records")
    os.makedirs(out_dir, exist_ok=True)
    files = plot_metrics(result, out_dir, data_name(data))
    result = {"run": run_dir, "data": data, **result}
    skipped = result.pop("skipped", {})

    # FreiHAND predictions
    if output_format == "freihand":
        # Scored exactly as written: rounded to the micrometre of pred.json.
        joints = np.round(_cat(collector.mesh_joints).astype(np.float64), PRED_DECIMALS)
        vertices = np.round(_cat(collector.mesh_vertices).astype(np.float64), PRED_DECIMALS)
        files.append(
            write_freihand_predictions(os.path.join(out_dir, FREIHAND_PRED_FILE), joints, vertices)
        )
        result["freihand_predictions"] = {
            "count": len(joints),
            "file": FREIHAND_PRED_FILE,
            "vertices_per_mesh": int(vertices.shape[1]),
        }
        if freihand_gt is not None:
            gt_joints, gt_vertices = load_freihand_ground_truth(freihand_gt, len(joints))
            result["freihand"] = {
                "count": len(joints),
                **metrics.freihand_metrics(joints, vertices, gt_joints, gt_vertices),
            }
    if skipped:
        result["skipped"] = skipped
    result["files"] = [os.path.basename(f) for f in files]
    metrics_path = os.path.join(out_dir, METRICS_FILE)
    result = _jsonable(result)
    with open(metrics_path, "w") as f:
        json.dump(result, f, indent=2)
    files.insert(0, metrics_path)
    logger.info("evaluated %d samples; wrote %s", collector.num_samples, metrics_path)
    return EvalResult(metrics=result, out_dir=out_dir, files=files)


__all__ = [
    "EvalResult",
    "EvaluationError",
    "data_name",
    "default_out_dir",
    "eval_dataset",
    "evaluate_model",
    "evaluate_run",
    "load_freihand_ground_truth",
    "plot_metrics",
    "write_freihand_predictions",
]
