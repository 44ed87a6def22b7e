"""training.kit: the summary of an evaluation, the before / after curves and the report page."""

import json
import os
import re

import numpy as np
import pytest

from training.kit import figures, learning, report


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
        for p in figures.before_after_curves(trained, untrained, str(tmp_path))
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
        "tflite": {"quantization": "none", "bytes": 1000, "parity": {}, "scene_size": 256},
        "machine": {"cpus": 2, "load_start": "1.0", "load_end": "2.0"},
    }
    page = report.render_html(metrics, files)
    sources = re.findall(r'<img src="([^"]+)"', page)
    assert sorted(sources) == ["iou_pck.png", "pck_2d.png"]
    assert all((tmp_path / s).is_file() for s in sources)
    assert 'class="better"' in page  # trained beats untrained
    assert "Targets: 1 of 2 met" in page and "10 steps of batch 16" in page
    assert re.search(r"mask IoU &gt;= 0.85</td><td>0.7</td><td>0.85</td><td class=\"worse\">", page)
    json.dumps(metrics)  # the metrics stay JSON
