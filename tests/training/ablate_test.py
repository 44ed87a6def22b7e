"""training.ablate: one study end to end, resumed."""

import json
import os

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
    assert len(text) == 1 + 7 + 3  # header, the seven task combinations, the three claims
    assert text[7].split()[:3] == ["✓", "✓", "✓"]
    assert text[8].startswith("all three tasks > heat-map + mask: not run")
    # Every run keeps its untrained evaluation; seed 0 its learning curve.
    run = saved["runs"]["heatmap/seed0"]
    assert run["initial"]["auc_2d_heatmap"] is not None
    assert [row["step"] for row in run["curve"]][0] == 0 and run["curve"][-1]["step"] == steps
    with open(f"{out}/results.md") as f:
        md = f.read()
    assert "Table 4" in md and "## The paper's claims" in md and "curves.png" in md
    assert os.path.getsize(f"{out}/curves.png") > 1000
    # Repeating the command skips the finished runs (and reuses the calibrated steps).
    lines.clear()
    again = ablate.run_ablation("tasks", out, **kwargs)
    assert sum("done earlier, skipped" in line for line in lines) == 2
    assert not any(line.startswith("calibrating") for line in lines)
    assert again["runs"] == saved["runs"] and again["steps"] == steps
    with pytest.raises(ablate.AblationError, match=f"holds runs of {steps} steps"):
        ablate.run_ablation("tasks", out, **{**kwargs, "steps": steps + 1})


def test_a_study_reuses_the_same_run_of_a_sibling_study(tmp_path, stick_npz):
    kwargs = dict(
        seeds=1,
        steps=2,
        only=("1-stack",),
        overrides=("model.input_size=32", "train.jit_compile=false"),
        train_samples=16,
        heldout_samples=8,
        hand_model=stick_npz,
        run_eagerly=True,
        verbose=0,
    )
    stacks = ablate.run_ablation("stacks", str(tmp_path / "ablate-stacks"), **kwargs)
    lines = []
    tam = ablate.run_ablation("tam", str(tmp_path / "ablate-tam"), echo=lines.append, **kwargs)
    assert any("reused" in line for line in lines)
    first, second = stacks["runs"]["1-stack/seed0"], tam["runs"]["1-stack/seed0"]
    assert second["metrics"] == first["metrics"] and second["digest"] == first["digest"]
    assert second["borrowed_from"] == str(tmp_path / "ablate-stacks")
    # Other steps: not the same run.
    lines.clear()
    other = {**kwargs, "steps": 3}
    ablate.run_ablation("tam", str(tmp_path / "ablate-tam-3"), echo=lines.append, **other)
    assert not any("reused" in line for line in lines)


def test_ssl_study_at_other_fractions_keeps_the_earlier_rows(tmp_path, stick_npz):
    out = str(tmp_path / "ssl")
    kwargs = dict(
        seeds=1,
        steps=1,
        overrides=("model.input_size=32", "train.jit_compile=false", "data.batch_size=2"),
        train_samples=8,
        heldout_samples=4,
        hand_model=stick_npz,
        run_eagerly=True,
        verbose=0,
    )
    first = ablate.run_ablation("ssl", out, fractions=(0.25,), only=("labelled25",), **kwargs)
    assert sorted(first["runs"]) == ["labelled25/seed0"]
    assert os.path.isdir(os.path.join(out, "data", "ssl-25", "labelled"))
    with open(f"{out}/results.json") as f:
        assert [v["claim"] for v in json.load(f)["verdicts"]] == ["SSL > no SSL at 25 %"]
    # Another fraction: the 25 % run stays in results.json, out of the table.
    lines = []
    second = ablate.run_ablation(
        "ssl", out, fractions=(0.5,), only=("labelled50",), echo=lines.append, **kwargs
    )
    assert sorted(second["runs"]) == ["labelled25/seed0", "labelled50/seed0"]
    assert "25 %" not in second["text"] and "50 %" in second["text"]
    # Both asked for again: nothing retrained.
    lines.clear()
    both = ablate.run_ablation(
        "ssl",
        out,
        fractions=(0.25, 0.5),
        only=("labelled25", "labelled50"),
        echo=lines.append,
        **kwargs,
    )
    assert sum("done earlier, skipped" in line for line in lines) == 2
    assert "SSL > no SSL at 25 %" in both["text"] and "SSL > no SSL at 50 %" in both["text"]
    with pytest.raises(ablate.AblationError, match="options of the ssl study"):
        ablate.run_ablation("tam", out, fractions=(0.5,), **kwargs)
