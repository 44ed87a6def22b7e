"""The demo's report: one self-contained HTML page over `metrics.json` and the report's pictures."""

from __future__ import annotations

import html
import os
from collections.abc import Mapping
from typing import Any

from training.kit.learning import SUMMARY_ROWS, fmt, improved

_CSS = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em;
       color: #222; line-height: 1.45; }
h1 { margin-bottom: 0.2em; } h2 { margin-top: 1.8em; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 0.8em 0; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.7em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.better { color: #176117; font-weight: bold; } td.worse { color: #9b1c1c; }
img { max-width: 100%; border: 1px solid #ddd; }
.grid { display: flex; flex-wrap: wrap; gap: 8px; } .grid img { width: 256px; }
.note { color: #555; font-size: 0.92em; } code { background: #f3f3f3; padding: 0 0.2em; }
"""


_QUANT_NAMES = {
    "none": "float32",
    "fp16": "float16 weights",
    "dynamic": "dynamic-range int8",
    "int8": "int8 trunk, float tail",
}


def _img(src: str, alt: str) -> str:
    return f'<img src="{html.escape(src)}" alt="{html.escape(alt)}">'


def render_html(metrics: Mapping[str, Any], files: Mapping[str, Any]) -> str:
    """The report page (one self-contained HTML document; images by relative path).

    Args:
        metrics: the dict of `metrics.json`.
        files: report-relative paths: `pck_2d`, `iou_pck`, `pck_3d`, `training_curve`,
            `panels_trained`, `panels_untrained`, `data_train`, `data_heldout`,
            `hand_model` (each optional) and `predictions` (a list).
    """
    e = html.escape
    s = metrics["summary"]
    t = metrics["training"]
    timing = metrics["timing"]
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        "<title>HIU-DMTL demo report</title>",
        f"<style>{_CSS}</style></head><body>",
        "<h1>HIU-DMTL demo report</h1>",
        '<p class="note">A small HIU-DMTL model (Zhang et al., ICCV 2021) trained from scratch on '
        "synthetic hands of the project's open hand model (not MANO), on a CPU, for a fixed "
        "time budget; then evaluated on a held-out synthetic set with other seeds and another "
        "family of backgrounds, exported to TFLite and run on held-out images. The numbers "
        "show that the whole system learns; they say nothing about real photographs.</p>",
        "<h2>Before and after training</h2>",
        f"<p>{metrics['heldout']['num_samples']} held-out samples. The <em>untrained</em> model "
        "is the training run's own starting point (its weights as <code>fit</code> began). "
        "2D errors are pixels of the model's "
        f"{metrics['config']['model']['input_size']}&times;"
        f"{metrics['config']['model']['input_size']} input crop.</p>",
        "<table><tr><th>metric</th><th>untrained</th><th>trained</th></tr>",
    ]
    before, after = s["untrained"], s["trained"]
    for key, label, higher, spec in SUMMARY_ROWS:
        b, a = before.get(key), after.get(key)
        better = improved(b, a, higher)
        css = "" if better is None else (' class="better"' if better else ' class="worse"')
        parts.append(
            f"<tr><td>{e(label)}</td><td>{fmt(b, spec)}</td><td{css}>{fmt(a, spec)}</td></tr>"
        )
    parts.append("</table>")
    parts.append(
        '<p class="note">Heat-maps: the peak of each of the last stack\'s heat-maps (the '
        "backbone). Projected mesh: the 3D joints of the regressed hand model projected with "
        "the predicted camera. Mask: the last stack's mask logits, upsampled to the crop, "
        "&gt; 0. 3D: root-relative joints rescaled to the reference bone (hand3d protocol). "
        "PA-MPJPE aligns the prediction to the truth by a similarity first: the untrained "
        "model's flat template hand is then already a fair guess. Mesh health: the median "
        "angle between the regressed and the true global orientation of the hand, and the "
        "median ratio of the regressed to the true depth in focal-length units (1: the mesh "
        "is drawn at the right size; above 1 it has drifted away from the camera).</p>"
    )
    checked = metrics.get("targets", [])
    if checked:
        met = sum(1 for t in checked if t["met"])
        parts.append(
            f"<h3>Targets: {met} of {len(checked)} met</h3>"
            "<table><tr><th>target</th><th>trained</th><th>limit</th><th></th></tr>"
        )
        for target in checked:
            verdict = (
                '<td class="better">met</td>' if target["met"] else '<td class="worse">missed</td>'
            )
            parts.append(
                f"<tr><td>{e(target['label'])}</td><td>{fmt(target['value'], '{:.3g}')}</td>"
                f"<td>{target['limit']:.3g}</td>{verdict}</tr>"
            )
        parts.append(
            "</table><p class='note'>The goals of the default demo on its held-out crops "
            "(<code>training.kit.learning.DEMO_TARGETS</code>); other options (input size, hand "
            "model, budget) are not held to them.</p>"
        )
    for key, caption in (
        ("pck_2d", "2D PCK: fraction of keypoints within a threshold, trained vs untrained."),
        ("iou_pck", "Fraction of images whose mask IoU exceeds a threshold."),
        ("pck_3d", "3D PCK of the mesh joints (hand3d protocol)."),
    ):
        if files.get(key):
            parts.append(f"<h3>{e(caption)}</h3>{_img(files[key], key)}")
    parts.append("<h2>Predictions</h2>")
    q = metrics["tflite"]["quantization"]
    scene = metrics["tflite"]["scene_size"]
    if files.get("predictions"):
        parts.append(
            f"<p>The exported TFLite model ({e(_QUANT_NAMES.get(q, q))}, "
            f"{metrics['tflite']['bytes'] / 2**20:.2f} MB) through the predictor "
            "(<code>export.inference.Predictor</code>) on held-out scenes rendered at "
            f"{scene}&times;{scene} px; the predictor crops and resizes them to the "
            "model's input. Blue: the predicted mask; lines: the keypoints from the heat-maps; "
            "shaded: the regressed hand mesh.</p><div class='grid'>"
        )
        for path in files["predictions"]:
            parts.append(_img(path, os.path.basename(path)))
        parts.append("</div>")
        parity = metrics["tflite"].get("parity", {})
        if parity:
            text = ", ".join(f"{k} {v:.3g}" for k, v in parity.items())
            parts.append(f'<p class="note">TFLite vs Keras on the same crops: {e(text)}.</p>')
    for key, caption in (
        ("panels_trained", "Trained model on held-out crops: input | ground truth | prediction"),
        ("panels_untrained", "Untrained model on the same crops"),
    ):
        if files.get(key):
            parts.append(f"<h3>{e(caption)}</h3>{_img(files[key], key)}")
    parts.append("<h2>Training</h2>")
    parts.append(
        f"<p>{t['steps']} steps of batch {metrics['config']['data']['batch_size']} in "
        f"{t['seconds']:.0f} s (budget {t['budget_seconds']:.0f} s; mean step "
        f"{fmt(t['step_time_s'], '{:.2f}')} s)"
        + ("; the budget stopped training" if t["stopped_by_budget"] else "")
        + ". A linearly rising learning rate for the first steps, then a cosine decay "
        "re-sized at every epoch end from the measured step time to end with the budget.</p>"
    )
    if files.get("training_curve"):
        parts.append(_img(files["training_curve"], "training curve"))
    parts.append("<h2>Data</h2>")
    parts.append(
        f"<p>{metrics['train_set']['num_samples']} training samples (seed "
        f"{metrics['train_set']['seed']}, the generator's procedural backgrounds) and "
        f"{metrics['heldout']['num_samples']} held-out samples (seed {metrics['heldout']['seed']}, "
        "Voronoi and bokeh backgrounds the generator never draws), rendered from the open hand "
        "model with random poses (the palm towards the camera, tilted by up to 45 degrees and "
        "rolled any way), shapes, cameras, skin tones and lights. Generator options of both "
        "sets: "
        + e(", ".join(f"{k}={v}" for k, v in metrics["train_set"].get("generator", {}).items()))
        + " (an easier setting than the generator's default, so that keypoints can be learnt "
        "in minutes). Ground truth drawn: mask (green) and keypoints.</p>"
    )
    for key, caption in (("data_train", "training samples"), ("data_heldout", "held-out samples")):
        if files.get(key):
            parts.append(f"<h3>{e(caption)}</h3>{_img(files[key], key)}")
    if files.get("hand_model"):
        parts.append("<h2>The hand model</h2>")
        parts.append(
            "<p>The project's open hand model (<code>mano_tf.open_hand</code>), generated by "
            "code with MANO's joint tree: right hands on top, their mirror images below.</p>"
        )
        parts.append(_img(files["hand_model"], "hand model"))
    parts.append("<h2>Time and files</h2><table><tr><th>stage</th><th>seconds</th></tr>")
    for stage, seconds in timing.items():
        parts.append(f"<tr><td>{e(stage)}</td><td>{seconds:.1f}</td></tr>")
    parts.append("</table>")
    parts.append(
        f'<p class="note">Machine: {metrics["machine"]["cpus"]} CPUs, load average '
        f"{metrics['machine']['load_start']} at the start, {metrics['machine']['load_end']} at "
        "the end.</p>"
    )
    parts.append(
        "<p>All numbers: <a href='metrics.json'>metrics.json</a>; config: "
        "<a href='config.yaml'>config.yaml</a>; model: <a href='model.tflite'>model.tflite</a>; "
        "the run folder: <code>run/</code>; per-model evaluation: <code>eval/</code>.</p>"
    )
    parts.append("</body></html>")
    return "\n".join(parts) + "\n"
