"""training.demo: the time budget, the held-out backgrounds, the summary and the report page.

The whole demo, end to end, runs in tests/hiu_tf/cli/demo_test.py.
"""

import json
import os
import re

import cv2
import keras
import numpy as np
import pytest

from training import demo


class FakeClock:
    """A clock that advances by `tick` seconds per reading."""

    def __init__(self, tick: float):
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_time_budget_stops_fit_after_the_step_that_crosses_the_deadline():
    clock = FakeClock(1.0)  # one reading per step: 1 s per step
    budget = demo.TimeBudget(deadline=5.5, clock=clock)
    x, y = np.zeros((40, 3), np.float32), np.zeros((40, 1), np.float32)
    history = _tiny_model().fit(x, y, batch_size=4, epochs=3, callbacks=[budget], verbose=0)
    assert budget.stopped
    assert budget.steps == 6  # readings 1..6: the sixth step crosses 5.5
    assert len(history.history["loss"]) == 1  # the epoch ends, the next does not start


def test_time_budget_does_not_stop_a_run_within_the_budget():
    budget = demo.TimeBudget(deadline=1e9, clock=FakeClock(1.0))
    x, y = np.zeros((8, 3), np.float32), np.zeros((8, 1), np.float32)
    history = _tiny_model().fit(x, y, batch_size=4, epochs=2, callbacks=[budget], verbose=0)
    assert not budget.stopped and budget.steps == 4
    assert len(history.history["loss"]) == 2


def test_step_timer_times_steps_and_epoch_ends():
    timer = demo.StepTimer(clock=FakeClock(1.0))  # one reading per event: 1 s apart
    x, y = np.zeros((12, 3), np.float32), np.zeros((12, 1), np.float32)
    _tiny_model().fit(x, y, batch_size=4, epochs=2, callbacks=[timer], verbose=0)
    assert timer.durations == [1.0] * 6
    assert timer.epoch_overheads == [1.0, 1.0]
    timer.durations = [30.0, 2.0, 0.5, 0.4, 0.6]
    assert timer.step_time() == pytest.approx(0.5)  # the first two (tracing) left out
    assert demo.StepTimer().step_time() is None
    assert demo.StepTimer().epoch_overhead() == 0.0


def test_heldout_backgrounds_are_deterministic_and_varied(tmp_path):
    paths = demo.heldout_backgrounds(str(tmp_path / "a"), 4, 64, seed=3)
    again = demo.heldout_backgrounds(str(tmp_path / "b"), 4, 64, seed=3)
    images = [cv2.imread(p) for p in paths]
    assert all(i.shape == (64, 64, 3) for i in images)
    for p, q in zip(paths, again, strict=True):
        assert np.array_equal(cv2.imread(p), cv2.imread(q))
    assert not np.array_equal(images[0], images[2])  # two Voronoi mosaics differ
    assert all(i.std() > 5 for i in images)  # not flat


def test_options_reject_bad_values():
    with pytest.raises(demo.DemoError, match=r"--minutes must be > 0. Received: --minutes=0"):
        demo.DemoOptions(minutes=0)
    with pytest.raises(demo.DemoError, match=r"--train-samples must be an integer >= 1"):
        demo.DemoOptions(train_samples=0)
    with pytest.raises(demo.DemoError, match=r"--seed must be an integer >= 0"):
        demo.DemoOptions(seed=-1)


def test_demo_config_file_resolves():
    config = demo.demo_config(demo.DemoOptions(seed=7), train_dir="/data/train")
    assert config.name == "demo"
    assert config.train.seed == 7
    assert config.model.hand_model == "open:right"
    assert [s.path for s in config.data.sources] == ["/data/train"]


def _metrics(pck_scale: float, iou: float) -> dict:
    thresholds = list(np.linspace(0.0, demo.PCK_2D_MAX_PX, 20))
    pck = [min(1.0, pck_scale * t / 10) for t in thresholds]
    section = {"thresholds_px": thresholds, "pck": pck, "auc": 0.5 * pck_scale, "epe_mean_px": 3.0}
    return {
        "keypoints_2d": {"heatmap": section},
        "mask": {
            "mean_iou": iou,
            "iou_pck_auc": iou,
            "thresholds": [0.0, 1.0],
            "iou_pck": [1.0, 0.0],
        },
    }


def test_summarize_interpolates_pck_and_marks_missing_sections():
    summary = demo.summarize(_metrics(1.0, 0.7))
    assert summary["pck_2d_heatmap@4px"] == pytest.approx(0.4)
    assert summary["pck_2d_heatmap@8px"] == pytest.approx(0.8)
    assert summary["mask_mean_iou"] == 0.7
    assert summary["auc_2d_mesh"] is None and summary["auc_3d_20_50"] is None


def test_report_page_links_only_given_files(tmp_path):
    trained, untrained = _metrics(1.0, 0.7), _metrics(0.3, 0.2)
    files = {
        os.path.splitext(os.path.basename(p))[0]: os.path.basename(p)
        for p in demo.before_after_curves(trained, untrained, str(tmp_path))
    }
    assert sorted(files) == ["iou_pck", "pck_2d"]
    files["predictions"] = []
    metrics = {
        "summary": {"trained": demo.summarize(trained), "untrained": demo.summarize(untrained)},
        "training": {
            "steps": 10,
            "seconds": 5.0,
            "budget_seconds": 6.0,
            "step_time_s": 0.5,
            "stopped_by_budget": True,
        },
        "timing": {"data": 1.0, "total": 9.0},
        "config": {"model": {"input_size": 64}, "data": {"batch_size": 16}},
        "heldout": {"num_samples": 8, "seed": 1},
        "train_set": {"num_samples": 16, "seed": 0},
        "tflite": {"quantization": "none", "bytes": 1000, "parity": {}},
        "machine": {"cpus": 2, "load_start": "1.0", "load_end": "2.0"},
    }
    page = demo.render_html(metrics, files)
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(sources) == ["iou_pck.png", "pck_2d.png"]
    assert all((tmp_path / s).is_file() for s in sources)
    assert 'class="better"' in page  # trained beats untrained
    json.dumps(metrics)  # the metrics stay JSON
