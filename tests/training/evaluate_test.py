"""training.evaluate: metrics.json, plots, FreiHAND pred.json, options and errors.

`make_run` and `write_records` are shared with tests/hiu_tf/cli/evaluate_test.py:
a tiny untrained model saved as a run folder, and a few labelled crops with a
mix of label flags written as TFRecords in several shards.
"""

import dataclasses
import json
import os

import numpy as np
import pytest

from hiu_tf import metrics
from hiu_tf.data import schema, tfrecord
from hiu_tf.data.tfrecord import TFRecordError
from hiu_tf.runs import RunError
from tests.hiu_tf.data.fixtures import full_sample
from tests.reference.lbs_numpy import rodrigues
from training import evaluate

SIZE = 64
COUNT = 7
# Per record (i % 4): 0 every label, 1 2D only (some keypoints unlabelled), 2 mask only, 3 none.
LABELS = [i % 4 for i in range(COUNT)]
LEFT = 4  # record 4 (every label) was mirrored from a left hand


def make_run(run_dir, hand_model: str, **model_fields) -> str:
    """A run folder with the `tiny` preset's untrained model; returns its path.

    The silhouette renderer is off unless asked for: evaluation does not use it.
    """
    from hiu_tf.model import build_model
    from hiu_tf.presets import preset
    from hiu_tf.runs import save_run_model

    cfg = preset("tiny")
    model_fields.setdefault("render_mask", False)
    model_cfg = dataclasses.replace(cfg.model, hand_model=hand_model, **model_fields)
    cfg = dataclasses.replace(cfg, model=model_cfg)
    save_run_model(str(run_dir), cfg, build_model(cfg.model))
    return str(run_dir)


def write_records(folder, count: int = COUNT, size: int = SIZE, seed: int = 0) -> str:
    """`count` PNG-encoded samples (flags as `LABELS`) in shards of 3; returns the folder."""
    rng = np.random.default_rng(seed)

    def samples():
        for i in range(count):
            full = full_sample(rng, size)
            kind = i % 4
            if kind == 0:
                sample = full if i != LEFT else dict(full, is_left=np.float32(1.0))
            elif kind == 1:
                visible = (rng.random(21) > 0.3).astype(np.float32)
                sample = schema.make_sample(
                    full["image"], keypoints_px=full["keypoints_px"], keypoint_visible=visible
                )
            elif kind == 2:
                sample = schema.make_sample(full["image"], mask=full["mask"])
            else:
                sample = schema.make_sample(full["image"])
            yield f"{i:05d}", sample

    tfrecord.write_tfrecords(samples(), folder, "eval", shard_size=3, image_format="png")
    return str(folder)


@pytest.fixture(scope="module")
def evaluated(tmp_path_factory, hand_model):
    root = tmp_path_factory.mktemp("eval")
    run = make_run(root / "runs" / "tiny", hand_model)
    data = write_records(root / "data" / "synth-val")
    # Arbitrary FreiHAND-style ground truth, to check the `freihand` section's wiring.
    rng = np.random.default_rng(1)
    gt = root / "freihand-gt"
    gt.mkdir()
    gt_xyz = rng.normal(size=(COUNT + 2, 21, 3)) * 0.03
    gt_verts = rng.normal(size=(COUNT + 2, 778, 3)) * 0.03
    (gt / "evaluation_xyz.json").write_text(json.dumps(gt_xyz.tolist()))
    (gt / "evaluation_verts.json").write_text(json.dumps(gt_verts.tolist()))
    result = evaluate.evaluate_run(
        run, data, output_format="freihand", batch_size=4, freihand_gt=str(gt), verbose=0
    )
    return run, data, result, gt_xyz[:COUNT], gt_verts[:COUNT]


def test_metrics_json_counts_and_plots(evaluated):
    run, data, result, _, _ = evaluated
    assert result.out_dir == os.path.join(run, "eval", "synth-val")
    with open(os.path.join(result.out_dir, "metrics.json")) as f:
        m = json.load(f)
    assert m == result.metrics
    n2d = sum(k in (0, 1) for k in LABELS)
    n3d = sum(k == 0 for k in LABELS)
    nmask = sum(k in (0, 2) for k in LABELS)
    assert m["num_samples"] == COUNT
    assert m["counts"] == {"has_2d": n2d, "has_3d": n3d, "has_mask": nmask}
    for name in ("heatmap", "mesh"):
        section = m["keypoints_2d"][name]
        assert section["count"] == n2d and 0 <= section["auc"] <= 1
        assert len(section["pck"]) == len(section["thresholds_px"]) == 20
        assert section["thresholds_px"][-1] == 30.0
    s3 = m["keypoints_3d"]
    assert s3["count"] == n3d and len(s3["pck"]) == 20 and s3["thresholds_mm"][-1] == 50.0
    assert 0 <= s3["auc_20_50"] <= 1 and s3["pa_mpjpe_mm"] <= s3["mpjpe_mm"] + 1e-6
    assert m["mask"]["count"] == nmask and 0 <= m["mask"]["mean_iou"] <= 1
    assert m["mask"]["output"] == "stack2_mask_logits"
    assert "skipped" not in m
    for name in ("pck_2d.png", "pck_3d.png", "iou_pck.png", "pred.json"):
        path = os.path.join(result.out_dir, name)
        assert os.path.getsize(path) > 1000, name
        assert name in m["files"]


def test_freihand_pred_json_is_the_official_format_in_record_order(evaluated):
    run, data, result, _, _ = evaluated
    with open(os.path.join(result.out_dir, "pred.json")) as f:
        pred = json.load(f)
    assert isinstance(pred, list) and len(pred) == 2
    xyz, verts = np.asarray(pred[0]), np.asarray(pred[1])
    assert xyz.shape == (COUNT, 21, 3) and verts.shape[0] == COUNT and verts.shape[2] == 3
    assert result.metrics["freihand_predictions"]["vertices_per_mesh"] == verts.shape[1]
    # The same model on the records read in file order; left hands mirrored back.
    from hiu_tf.runs import load_run

    _, model = load_run(run)
    records = list(tfrecord.read_tfrecords(data).as_numpy_iterator())
    assert [r["is_left"] for r in records] == [float(i == LEFT) for i in range(COUNT)]
    joints = np.asarray(
        model(np.stack([r["image"] for r in records]), training=False)["joints_cam"]
    )
    expected = joints.copy()
    expected[LEFT, :, 0] *= -1
    np.testing.assert_allclose(xyz, expected, atol=1e-4)
    assert not np.allclose(xyz[LEFT], joints[LEFT], atol=1e-4)


def test_freihand_scores_from_ground_truth_files(evaluated):
    _, _, result, gt_xyz, gt_verts = evaluated
    with open(os.path.join(result.out_dir, "pred.json")) as f:
        pred = json.load(f)
    expected = metrics.freihand_metrics(np.asarray(pred[0]), np.asarray(pred[1]), gt_xyz, gt_verts)
    got = result.metrics["freihand"]
    assert got["count"] == COUNT
    for key, value in expected.items():
        assert got[key] == (None if value is None else pytest.approx(value, abs=1e-12)), key


def test_mesh_health_matches_a_reference(evaluated):
    """Rotation error and depth ratio from the model's outputs, recomputed independently."""
    from hiu_tf.runs import load_run

    run, data, result, _, _ = evaluated
    _, model = load_run(run)
    records = list(tfrecord.read_tfrecords(data).as_numpy_iterator())
    full = [i for i in range(COUNT) if LABELS[i] == 0]  # has_3d and has_mano
    out = model(np.stack([records[i]["image"] for i in full]), training=False)
    pred_r = rodrigues(np.asarray(out["mano_pose"])[:, :3].astype(np.float64))
    gt_r = rodrigues(np.stack([records[i]["mano_pose"][:3] for i in full]).astype(np.float64))
    # The angle of the relative rotation, from its quaternion's real part.
    angles = []
    for p, g in zip(pred_r, gt_r, strict=True):
        rel = p.T @ g
        w = np.sqrt(max(1.0 + np.trace(rel), 0.0)) / 2.0
        angles.append(np.degrees(2.0 * np.arccos(min(w, 1.0))))
    camera = np.asarray(out["camera"], np.float64)
    ratios = [
        (camera[j, 3] / camera[j, 0])
        / (records[i]["joints_cam"][9, 2] / records[i]["intrinsics"][0, 0])
        for j, i in enumerate(full)
    ]
    health = result.metrics["mesh_health"]
    assert health["rotation_count"] == health["depth_count"] == len(full)
    assert health["rotation_error_median_deg"] == pytest.approx(np.median(angles), abs=1e-3)
    assert health["rotation_error_mean_deg"] == pytest.approx(np.mean(angles), abs=1e-3)
    assert health["depth_ratio_median"] == pytest.approx(np.median(ratios), rel=1e-5)
    assert health["depth_ratio_p10"] <= health["depth_ratio_median"] <= health["depth_ratio_p90"]


def test_resized_crops_max_samples_and_skipped_sections(tmp_path, hand_model):
    run = make_run(tmp_path / "run", hand_model, mesh_head=False)
    data = write_records(tmp_path / "big", count=5, size=96)  # resized to 64
    out = tmp_path / "out"
    result = evaluate.evaluate_run(
        run, data, out_dir=str(out), batch_size=2, max_samples=3, verbose=0
    )
    m = result.metrics
    assert m["num_samples"] == 3 and m["counts"] == {"has_2d": 2, "has_3d": 1, "has_mask": 2}
    assert set(m["keypoints_2d"]) == {"heatmap"}
    assert m["skipped"] == {
        "keypoints_2d.mesh": "the model has no keypoints_px output",
        "keypoints_3d": "the model has no joints_cam output",
        "mesh_health": (
            "needs mano_pose / camera outputs and samples with has_mano or has_3d and K"
        ),
    }
    assert sorted(os.listdir(out)) == ["iou_pck.png", "metrics.json", "pck_2d.png"]
    with pytest.raises(evaluate.EvaluationError, match="needs a model with a mesh head"):
        evaluate.evaluate_run(run, data, output_format="freihand", verbose=0)


def test_errors(tmp_path, evaluated):
    run, data, _, _, _ = evaluated
    with pytest.raises(RunError, match="run folder not found"):
        evaluate.evaluate_run(str(tmp_path / "nope"), data, verbose=0)
    with pytest.raises(TFRecordError, match="no TFRecord files"):
        evaluate.evaluate_run(run, str(tmp_path / "missing"), verbose=0)
    with pytest.raises(evaluate.EvaluationError, match=r"Received: --batch-size=0"):
        evaluate.evaluate_run(run, data, batch_size=0)
    with pytest.raises(evaluate.EvaluationError, match=r"--freihand-gt needs --format freihand"):
        evaluate.evaluate_run(run, data, freihand_gt=str(tmp_path))
    with pytest.raises(evaluate.EvaluationError, match=r"no evaluation_xyz.json"):
        evaluate.evaluate_run(run, data, output_format="freihand", freihand_gt=str(tmp_path))


def test_data_name(tmp_path):
    assert evaluate.data_name(str(tmp_path)) == tmp_path.name
    assert evaluate.data_name("data/rhd/rhd-eval-*.tfrecord") == "rhd-eval"
    assert evaluate.data_name("data/stb/*.tfrecord") == "stb"
    assert evaluate.default_out_dir("runs/a", "data/x/") == os.path.join("runs/a", "eval", "x")
