"""training.demo: the time budget, the held-out backgrounds, the summary and the report page.

The whole demo, end to end, runs in tests/hiu_tf/cli/demo_test.py.
"""

import json
import os
import re

import cv2
import numpy as np
import pytest

from training import demo, learning


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
    thresholds = list(np.linspace(0.0, learning.PCK_2D_MAX_PX, 20))
    pck = [min(1.0, pck_scale * t / 10) for t in thresholds]
    section = {
        "thresholds_px": thresholds,
        "pck": pck,
        "auc": 0.5 * pck_scale,
        "epe_mean_px": 3.0,
        "epe_median_px": 2.0,
    }
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
    summary = learning.summarize(_metrics(1.0, 0.7))
    assert summary["pck_2d_heatmap@4px"] == pytest.approx(0.4)
    assert summary["pck_2d_heatmap@8px"] == pytest.approx(0.8)
    assert summary["median_2d_heatmap_px"] == 2.0
    assert summary["mask_mean_iou"] == 0.7
    assert summary["auc_2d_mesh"] is None and summary["auc_3d_20_50"] is None
    assert summary["rotation_error_deg"] is None and summary["depth_ratio"] is None


def test_report_page_links_only_given_files(tmp_path):
    trained, untrained = _metrics(1.0, 0.7), _metrics(0.3, 0.2)
    files = {
        os.path.splitext(os.path.basename(p))[0]: os.path.basename(p)
        for p in demo.before_after_curves(trained, untrained, str(tmp_path))
    }
    assert sorted(files) == ["iou_pck", "pck_2d"]
    files["predictions"] = []
    metrics = {
        "summary": {
            "trained": learning.summarize(trained),
            "untrained": learning.summarize(untrained),
        },
        "training": {
            "steps": 10,
            "seconds": 5.0,
            "budget_seconds": 6.0,
            "step_time_s": 0.5,
            "stopped_by_budget": True,
        },
        "timing": {"data": 1.0, "total": 9.0},
        "targets": [
            {
                "key": "mask_mean_iou",
                "label": "mask IoU >= 0.85",
                "value": 0.7,
                "limit": 0.85,
                "met": False,
            },
            {
                "key": "median_2d_heatmap_px",
                "label": "median <= 4 px",
                "value": 2.0,
                "limit": 4.0,
                "met": True,
            },
        ],
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
    assert "Targets: 1 of 2 met" in page and "10 steps of batch 16" in page
    assert re.search(r"mask IoU &gt;= 0.85</td><td>0.7</td><td>0.85</td><td class=\"worse\">", page)
    json.dumps(metrics)  # the metrics stay JSON
