"""The tables of an ablation: per variant, the mean and spread over seeds of each column.

Columns (`COLUMNS`): 2D Pose = AUC of the 2D PCK (0-19 px of the 64 px crop) of
the keypoints read off the heat-maps; 2D Pose† = the same for the projected
mesh joints; Hand Mask = mean IoU of the backbone's mask; 3D Pose = 3D PCK AUC
20-50 mm (hand3d protocol) of the mesh joints. The paper's "Hand Mask†" and
"Hand Mesh" need the rendered mask's IoU and ground-truth vertices, which the
evaluation does not compute. Cells are the mean ± the sample standard deviation
over seeds. `write_results` keeps `results.json` (every finished run, written
atomically so an interrupted study resumes) and `results.md` (the table in the
paper's layout).
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from training.kit.studies import FLOPS_STUDIES, Variant

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
# (column, summary key of training.kit.learning.summarize, heading)
COLUMNS = (
    ("2d", "auc_2d_heatmap", "2D Pose"),
    ("2d_mesh", "auc_2d_mesh", "2D Pose †"),
    ("mask", "mask_mean_iou", "Hand Mask"),
    ("3d", "auc_3d_20_50", "3D Pose"),
)


def aggregate(values: Sequence[float | None]) -> dict[str, Any]:
    """`{"mean", "std", "n"}` of the non-None values (std: sample std, 0 for one value)."""
    kept = [float(v) for v in values if v is not None]
    if not kept:
        return {"mean": None, "std": None, "n": 0}
    std = statistics.stdev(kept) if len(kept) > 1 else 0.0
    return {"mean": statistics.fmean(kept), "std": std, "n": len(kept)}


def cell(stat: Mapping[str, Any] | None) -> str:
    if not stat or stat.get("mean") is None:
        return "-"
    if stat["n"] > 1:
        return f"{stat['mean']:.3f} ± {stat['std']:.3f}"
    return f"{stat['mean']:.3f}"


def build_table(
    study: str, variant_list: Sequence[Variant], runs: Mapping[str, Any], seeds: Sequence[int]
) -> dict[str, dict[str, Any]]:
    """Per variant and column, the `aggregate` over the seeds' finished runs."""
    table = {}
    for v in variant_list:
        row: dict[str, Any] = {}
        results = [runs.get(run_key(v, s)) for s in seeds]
        results = [r for r in results if r is not None]
        for column, key, _ in COLUMNS:
            row[column] = aggregate([r["metrics"].get(key) for r in results])
        row["seeds"] = len(results)
        flops = [r.get("flops") for r in results if r.get("flops")]
        row["flops"] = flops[0] if flops else None
        table[v.slug] = row
    return table


def flops_text(flops: float | None) -> str:
    """FLOPs of one forward pass (multiply-add = 2), e.g. "20.6 M", "11.7 G"."""
    if flops is None:
        return "-"
    for scale, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if flops >= scale:
            return f"{flops / scale:.1f} {unit}"
    return f"{flops:.0f}"


def format_table(
    study: str, variant_list: Sequence[Variant], table: Mapping[str, Any], markdown: bool = False
) -> str:
    """The table in the paper's layout, as aligned text or Markdown."""
    headings = [h for _, _, h in COLUMNS]
    if study == "tasks":
        lead = ["Heat-map", "Mask", "POF"]
    elif study == "ssl":
        lead = ["Labelled", "SSL"]
    else:
        lead = ["Model"]
    extra = ["FLOPs"] if study in FLOPS_STUDIES else []
    rows = []
    for v in variant_list:
        row = table.get(v.slug, {})
        if study == "tasks":
            tasks = next(o for o in v.overrides if o.startswith("model.tasks="))
            first = ["✓" if t in tasks else "✗" for t in ("heatmap", "mask", "pof")]
        elif study == "ssl":
            first = [f"{int(round(100 * (v.label_fraction or 0)))} %", "✓" if v.unlabelled else "✗"]
        else:
            first = [v.name]
        cells = [cell(row.get(c)) for c, _, _ in COLUMNS]
        if extra:
            cells.append(flops_text(row.get("flops")))
        rows.append(first + cells + [str(row.get("seeds", 0))])
    header = lead + headings + extra + ["seeds"]
    if markdown:
        lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(r) + " |" for r in rows]
        return "\n".join(lines)
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    fmt = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([fmt(header), *(fmt(r) for r in rows)])


def run_key(variant: Variant, seed: int) -> str:
    """The key of one run in `results.json`: "<slug>/seed<seed>"."""
    return f"{variant.slug}/seed{seed}"


TITLES = {
    "stacks": "Ablation of the cascade (paper Table 2): stacks with similar FLOPs",
    "tam": "Ablation of the TAM (paper Table 5); § = concatenation + 3x3 conv",
    "tasks": "Ablation of the MTL setup (paper Table 4): backbone task combinations",
    "mobile": "Phone-class trunk: inverted blocks of expansion ×2 or ×1; ◇ = no residual "
    "block at the task decoders' full resolution",
    "ssl": "Ablation of SSL (paper Fig. 10); SSL ✓ = the unlabelled rest with the "
    "self-supervised terms",
}


def write_json(path: str, data: Mapping[str, Any]) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2)
    os.replace(tmp, path)


def write_results(out: str, results: Mapping[str, Any], variant_list: Sequence[Variant]) -> str:
    """Writes `results.json` and `results.md`; returns the text table."""
    study = results["study"]
    seeds = results["seeds"]
    table = build_table(study, variant_list, results["runs"], seeds)
    results = {**results, "table": table}
    write_json(os.path.join(out, RESULTS_JSON), results)
    md = [
        f"# {TITLES[study]}",
        "",
        f"{results['steps']} training steps per run, batch {results['batch_size']}, "
        f"seeds {', '.join(map(str, seeds))}; {results['train_samples']} synthetic training "
        f"samples; evaluated on {results['heldout_samples']} held-out samples (other seed, other "
        "backgrounds). Cells: mean ± sample standard deviation over seeds.",
        "",
        format_table(study, variant_list, table, markdown=True),
        "",
        "2D Pose: AUC of the 2D PCK (0-19 px of the 64 px crop) of the heat-maps; "
        "2D Pose †: the same for the projected mesh joints; Hand Mask: mean IoU of the "
        "backbone's mask; 3D Pose: 3D PCK AUC 20-50 mm of the mesh joints (hand3d protocol).",
        "",
    ]
    with open(os.path.join(out, RESULTS_MD), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    return format_table(study, variant_list, table)
