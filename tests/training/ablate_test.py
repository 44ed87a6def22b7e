"""training.ablate: variant lists, matched widths, label stripping, tables, and one study end to end."""

import json

import numpy as np
import pytest
import tensorflow as tf

from hiu_tf.config import TASKS
from hiu_tf.data import tfrecord
from hiu_tf.data.sources import synthetic
from tests.hiu_tf.data.sources.stick_hand import stick_hand_model
from training import ablate


@pytest.fixture(scope="module")
def stick_npz(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("hand") / "stick.npz")
    stick_hand_model().save_npz(path)
    return path


@pytest.mark.parametrize("study", ablate.STUDIES)
def test_every_variant_resolves_to_a_valid_config(study):
    base = ablate.base_config(study)
    for variant in ablate.variants(study):
        config = ablate.variant_config(base, variant, seed=1, sources=[("/data/train", 1.0)])
        assert config.train.seed == 1
        assert config.name == f"ablate-{variant.slug}"
        assert [s.path for s in config.data.sources] == ["/data/train"]


def test_variant_lists_follow_the_paper():
    names = lambda study: [v.name for v in ablate.variants(study)]  # noqa: E731
    assert names("stacks") == ["4-stack", "2-stack", "1-stack"]
    assert names("tam") == ["4-stack", "4-stack §", "1-stack", "1-stack §"]
    tasks = [
        ablate.variant_config(ablate.base_config("tasks"), v, 0, [("x", 1.0)]).model.tasks
        for v in ablate.variants("tasks")
    ]
    assert len(tasks) == 7 and len(set(tasks)) == 7  # every non-empty subset once
    assert all(set(t) <= set(TASKS) for t in tasks)
    mobile = [
        ablate.variant_config(ablate.base_config("mobile"), v, 0, [("x", 1.0)]).model
        for v in ablate.variants("mobile")
    ]
    assert all(m.block_type == "inverted" and m.activation == "relu6" for m in mobile)
    assert [(m.num_stacks, m.expansion, m.decoder_full_res) for m in mobile] == [
        (2, 2, True), (2, 2, False), (2, 1, True), (2, 1, False),
        (1, 2, True), (1, 2, False), (1, 1, True),
    ]  # fmt: skip
    ssl = ablate.variants("ssl")
    assert [(v.label_fraction, v.unlabelled) for v in ssl] == [
        (f, u) for f in ablate.SSL_FRACTIONS for u in (False, True)
    ]
    base = ablate.base_config("ssl")
    assert base.model.render_mask  # the mask consistency term needs the renderer
    plain = ablate.variant_config(base, ssl[2], 0, [("x", 1.0)])
    with_ssl = ablate.variant_config(base, ssl[3], 0, [("x", 1.0)])
    assert plain.loss.ssl_mask == plain.loss.ssl_2d == 0
    assert with_ssl.loss.ssl_mask > 0 and with_ssl.loss.ssl_2d > 0
    with pytest.raises(ablate.AblationError, match="--study must be one of"):
        ablate.variants("depth")


def test_widths_keep_the_flops_of_the_stacks_about_equal():
    widths = {n: ablate.ablation_width(n) for n in (1, 2, 4, 8)}
    assert widths == {1: 32, 2: 22, 4: 16, 8: 12}
    costs = [n * w**2 for n, w in widths.items()]
    assert max(costs) / min(costs) < 1.2


def test_aggregate_and_table_cells():
    assert ablate.aggregate([0.5, 0.7, None]) == {
        "mean": pytest.approx(0.6),
        "std": pytest.approx(np.std([0.5, 0.7], ddof=1)),
        "n": 2,
    }
    assert ablate.aggregate([None]) == {"mean": None, "std": None, "n": 0}
    variants = ablate.variants("tasks")[:2]
    runs = {
        "heatmap/seed0": {"metrics": {"auc_2d_heatmap": 0.5, "auc_2d_mesh": 0.2}},
        "heatmap/seed1": {"metrics": {"auc_2d_heatmap": 0.7, "auc_2d_mesh": 0.2}},
        "mask/seed0": {"metrics": {"mask_mean_iou": 0.8}},
    }
    table = ablate.build_table("tasks", variants, runs, [0, 1])
    text = ablate.format_table("tasks", variants, table)
    lines = text.splitlines()
    assert lines[0].split()[:3] == ["Heat-map", "Mask", "POF"]
    assert "0.600 ± 0.141" in lines[1] and lines[1].split()[:3] == ["✓", "✗", "✗"]
    assert "0.800" in lines[2] and "±" not in lines[2]  # one seed: no spread
    markdown = ablate.format_table("tasks", variants, table, markdown=True)
    assert markdown.splitlines()[1].startswith("|---|")


def _write_set(folder, hand, count=6, size=32):
    synthetic.write_synthetic(
        folder,
        count=count,
        seed=0,
        config=synthetic.SynthConfig(image_size=size, chunk_size=count),
        hand_model=hand,
    )


def test_split_labelled_strips_the_rest(tmp_path, stick_npz):
    source = str(tmp_path / "train")
    _write_set(source, stick_npz)
    labelled, unlabelled, n = ablate.split_labelled(source, str(tmp_path / "split"), 0.34, 6)
    assert n == 2
    full = list(tfrecord.read_tfrecords(source).as_numpy_iterator())
    kept = list(tfrecord.read_tfrecords(labelled).as_numpy_iterator())
    rest = list(tfrecord.read_tfrecords(unlabelled).as_numpy_iterator())
    assert len(kept) == 2 and len(rest) == 4
    for a, b in zip(full[:2], kept, strict=True):
        assert all(np.array_equal(a[k], b[k]) for k in a)
    for a, b in zip(full[2:], rest, strict=True):
        assert np.array_equal(a["image"], b["image"])  # image bytes unchanged
        for flag in ("has_2d", "has_3d", "has_mask", "has_mano"):
            assert a[flag] == 1 and b[flag] == 0
        for key in ("keypoints_px", "joints_cam", "mask", "mano_pose", "intrinsics"):
            assert not np.any(b[key])
    # Reused when complete; nothing labelled with 0 %.
    assert ablate.split_labelled(source, str(tmp_path / "split"), 0.34, 6) == (
        labelled,
        unlabelled,
        2,
    )
    none, everything, zero = ablate.split_labelled(source, str(tmp_path / "zero"), 0.0, 6)
    assert none is None and zero == 0 and everything is not None


def test_strip_labels_keeps_a_valid_record(tmp_path, stick_npz):
    source = str(tmp_path / "train")
    _write_set(source, stick_npz, count=1)
    record = next(tf.data.TFRecordDataset(tfrecord.list_shards(source)).as_numpy_iterator())
    sample = tfrecord.decode_example(tf.constant(ablate.strip_labels(record)), 32)
    assert float(sample["has_2d"]) == 0.0 and float(sample["is_left"]) == 0.0


def test_tasks_study_end_to_end_and_resume(tmp_path, stick_npz):
    out = str(tmp_path / "tasks")
    lines = []
    kwargs = dict(
        seeds=1,
        budget_minutes=0.01,  # a calibration run converts it into a step or two
        only=("heatmap", "heatmap+mask+pof"),
        overrides=("model.input_size=32",),
        train_samples=16,
        heldout_samples=8,
        hand_model=stick_npz,
        run_eagerly=True,
        verbose=0,
        echo=lines.append,
    )
    result = ablate.run_ablation("tasks", out, **kwargs)
    with open(f"{out}/results.json") as f:
        saved = json.load(f)
    assert sorted(saved["runs"]) == ["heatmap+mask+pof/seed0", "heatmap/seed0"]
    steps = saved["steps"]
    assert steps >= 1 and saved["calibration"]["step_time_s"] > 0
    assert all(run["steps"] == steps for run in saved["runs"].values())
    only_heatmap = saved["runs"]["heatmap/seed0"]["metrics"]
    assert only_heatmap["auc_2d_heatmap"] is not None and only_heatmap["mask_mean_iou"] is None
    assert saved["runs"]["heatmap+mask+pof/seed0"]["metrics"]["mask_mean_iou"] is not None
    text = result["text"].splitlines()
    assert len(text) == 1 + 7  # header and the seven task combinations
    assert text[7].split()[:3] == ["✓", "✓", "✓"]
    with open(f"{out}/results.md") as f:
        assert "Table 4" in f.read()
    # Repeating the command skips the finished runs (and reuses the calibrated steps).
    lines.clear()
    again = ablate.run_ablation("tasks", out, **kwargs)
    assert sum("done earlier, skipped" in line for line in lines) == 2
    assert not any(line.startswith("calibrating") for line in lines)
    assert again["runs"] == saved["runs"] and again["steps"] == steps
    with pytest.raises(ablate.AblationError, match=f"holds runs of {steps} steps"):
        ablate.run_ablation("tasks", out, **{**kwargs, "steps": steps + 1})
