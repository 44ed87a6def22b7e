"""training.ablate: one study end to end, resumed."""

import json

import pytest

from tests.hiu_tf.data.sources.stick_hand import stick_hand_model
from training import ablate


@pytest.fixture(scope="module")
def stick_npz(tmp_path_factory) -> str:
    path = str(tmp_path_factory.mktemp("hand") / "stick.npz")
    stick_hand_model().save_npz(path)
    return path


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
