"""The tables of an ablation: per variant, the mean and spread over seeds of each column.

Columns (`COLUMNS`): 2D Pose = AUC of the 2D PCK (0-19 px of the 64 px crop) of
the keypoints read off the heat-maps; 2D Pose† = the same for the projected
mesh joints; Hand Mask = mean IoU of the backbone's mask; 3D Pose = 3D PCK AUC
20-50 mm (hand3d protocol) of the mesh joints. The paper's "Hand Mask†" and
"Hand Mesh" need the rendered mask's IoU and ground-truth vertices, which the
evaluation does not compute. Cells are the mean ± the sample standard deviation
over seeds. `write_results` keeps `results.json` (every finished run, written
atomically so an interrupted study resumes), `results.md` (the table in the
paper's layout, the verdict on each of the paper's claims, `verdicts`, and
whether each variant has left its untrained state, `left_untrained`) and
`curves.png` (seed 0's held-out learning curves).

Both judgements use the seed spread (the sample standard deviation over seeds):
a claim "A > B" holds on a column when A's mean is above B's by more than the two
spreads added, is not held when it is below by as much, and is otherwise within
spread; a variant has left its untrained state on a column when its trained mean
is further than `UNTRAINED_SPREADS` times the larger spread (trained or untrained)
from the untrained model's mean.
"""

from __future__ import annotations

import json
import os
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from training.kit.studies import FLOPS_STUDIES, Variant, percent

RESULTS_JSON = "results.json"
RESULTS_MD = "results.md"
CURVES_PNG = "curves.png"
MESH_COLUMNS = ("2d_mesh", "3d")  # the columns read off the regressed mesh
UNTRAINED_SPREADS = 3.0
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


def compare(a: Sequence[float], b: Sequence[float], higher: bool) -> str:
    """`b` against `a` (each `(mean, std)`): "better", "worse" or "within spread" (the
    means no further apart than the two standard deviations added)."""
    gap = b[0] - a[0]
    if abs(gap) <= a[1] + b[1]:
        return "within spread"
    return "better" if (gap > 0) == higher else "worse"


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
            row[f"{column}_initial"] = aggregate(
                [r.get("initial", {}).get(key) for r in results if r.get("steps")]
            )
        row["seeds"] = len(results)
        flops = [r.get("flops") for r in results if r.get("flops")]
        row["flops"] = flops[0] if flops else None
        table[v.slug] = row
    return table


def left_untrained(row: Mapping[str, Any]) -> dict[str, bool | None]:
    """Per column: has the variant left its untrained state (`UNTRAINED_SPREADS`)?

    None where the column or the untrained evaluation is missing (an untrained
    variant, such as the ssl study's 0 % row, has no untrained counterpart).
    """
    out: dict[str, bool | None] = {}
    for column, _, _ in COLUMNS:
        trained, initial = row.get(column) or {}, row.get(f"{column}_initial") or {}
        if trained.get("mean") is None or initial.get("mean") is None:
            out[column] = None
            continue
        spread = max(trained["std"], initial["std"])
        out[column] = abs(trained["mean"] - initial["mean"]) > UNTRAINED_SPREADS * spread
    return out


def verdicts(
    study: str, table: Mapping[str, Any], variant_list: Sequence[Variant] | None = None
) -> list[dict[str, Any]]:
    """The paper's claims of a study (`studies.claims` of `variant_list`, default the
    study's rows) judged on every column.

    Returns:
        Per claim: `claim` (words), `columns` ({column: "held" | "not held" |
        "within spread" | None when a side has no value}) and `verdict`: "held"
        (every column that differs beyond the spread favours the claim, and one
        does), "not held" (every one that differs goes against it), "mixed", or
        "within spread" (no column differs), or "not run".
    """
    from training.kit.studies import claims

    words = {"better": "held", "worse": "not held", "within spread": "within spread"}
    out = []
    for better, worse, claim in claims(study, variant_list):
        a, b = table.get(better, {}), table.get(worse, {})
        columns: dict[str, str | None] = {}
        for column, _, _ in COLUMNS:
            x, y = a.get(column) or {}, b.get(column) or {}
            if x.get("mean") is None or y.get("mean") is None:
                columns[column] = None
                continue
            columns[column] = words[
                compare((y["mean"], y["std"]), (x["mean"], x["std"]), higher=True)
            ]
        found = {v for v in columns.values() if v is not None}
        if not found:
            verdict = "not run"
        elif found == {"within spread"}:
            verdict = "within spread"
        elif "not held" not in found:
            verdict = "held"
        elif "held" not in found:
            verdict = "not held"
        else:
            verdict = "mixed"
        out.append({"claim": claim, "columns": columns, "verdict": verdict})
    return out


def verdict_lines(judged: Sequence[Mapping[str, Any]]) -> list[str]:
    """One line per claim of `verdicts`' list: the verdict and the reason (which
    columns say what)."""
    headings = {column: heading for column, _, heading in COLUMNS}
    lines = []
    for v in judged:
        by: dict[str, list[str]] = {}
        for column, word in v["columns"].items():
            if word is not None:
                by.setdefault(word, []).append(headings[column])
        reason = "; ".join(f"{word} on {', '.join(cols)}" for word, cols in by.items())
        lines.append(f"{v['claim']}: **{v['verdict']}**" + (f" ({reason})" if reason else ""))
    return lines


def curves_figure(out: str, results: Mapping[str, Any], variant_list: Sequence[Variant]) -> str:
    """Seed 0's held-out learning curve of every variant that has one, in `out/curves.png`."""
    from training.kit.learning import plot_learning_curves

    runs = [
        (entry["curve"], v.name, results["input_size"])
        for v in variant_list
        if (entry := results["runs"].get(run_key(v, 0))) and entry.get("curve")
    ]
    path = os.path.join(out, CURVES_PNG)
    title = f"{TITLES[results['study']]}: held-out learning curves, seed 0"
    return plot_learning_curves(runs, path, title, log_steps=False)


def time_text(runs) -> str:
    """The study's cost: the training and evaluation minutes summed over its runs."""
    runs = list(runs)
    if not runs:
        return ""
    minutes = sum(r.get("train_seconds", 0.0) for r in runs) / 60.0
    borrowed = sum(1 for r in runs if r.get("borrowed_from"))
    reused = f", {borrowed} of them reused from another study's folder" if borrowed else ""
    return f"Training and evaluation: {minutes:.1f} min summed over {len(runs)} runs{reused}."


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
            first = [f"{percent(v.label_fraction or 0)} %", "✓" if v.unlabelled else "✗"]
        else:
            first = [v.name]
        cells = [cell(row.get(c)) for c, _, _ in COLUMNS]
        if extra:
            cells.append(flops_text(row.get("flops")))
        left = left_untrained(row)
        mesh = [left[c] for c in MESH_COLUMNS]
        trained = "-" if None in mesh else ("✓" if all(mesh) else "✗")
        rows.append(first + cells + [trained, str(row.get("seeds", 0))])
    header = lead + headings + extra + ["mesh learnt", "seeds"]
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
    """Writes `results.json`, `results.md` and `curves.png`; returns the text table."""
    study = results["study"]
    seeds = results["seeds"]
    table = build_table(study, variant_list, results["runs"], seeds)
    results = {**results, "table": table, "verdicts": verdicts(study, table, variant_list)}
    write_json(os.path.join(out, RESULTS_JSON), results)
    claims = verdict_lines(results["verdicts"])
    untrained = [
        f"- {v.name}: "
        + ", ".join(
            f"{heading} {cell(table[v.slug].get(column + '_initial'))}"
            for column, _, heading in COLUMNS
            if column in MESH_COLUMNS
        )
        for v in variant_list
        if table[v.slug].get("seeds")
        and any(r is not None for r in left_untrained(table[v.slug]).values())
    ]
    md = [
        f"# {TITLES[study]}",
        "",
        f"{results['steps']} training steps per run, batch {results['batch_size']}, "
        f"seeds {', '.join(map(str, seeds))}; {results['train_samples']} synthetic training "
        f"samples; evaluated on {results['heldout_samples']} held-out samples (other seed, other "
        "backgrounds). Cells: mean ± sample standard deviation over seeds. "
        + time_text(results["runs"].values()),
        "",
        format_table(study, variant_list, table, markdown=True),
        "",
        "2D Pose: AUC of the 2D PCK (0-19 px of the 64 px crop) of the heat-maps; "
        "2D Pose †: the same for the projected mesh joints; Hand Mask: mean IoU of the "
        "backbone's mask; 3D Pose: 3D PCK AUC 20-50 mm of the mesh joints (hand3d protocol). "
        f"Mesh learnt: both mesh columns (2D Pose †, 3D Pose) are more than {UNTRAINED_SPREADS:g} "
        "seed spreads from the untrained model's (- = not trained, or not run).",
        "",
    ]
    if claims:
        md += ["## The paper's claims", "", *(f"- {line}" for line in claims), ""]
        md += [
            "Held: better beyond the spread (the means further apart than the two standard "
            "deviations added); not held: worse beyond it.",
            "",
        ]
    if untrained:
        md += ["## The untrained models (mean ± std over seeds)", "", *untrained, ""]
    if any(r.get("curve") for r in results["runs"].values()):
        curves_figure(out, results, variant_list)
        md += [f"![seed 0's held-out learning curves]({CURVES_PNG})", ""]
    with open(os.path.join(out, RESULTS_MD), "w", encoding="utf-8") as f:
        f.write("\n".join(md))
    text = format_table(study, variant_list, table)
    return text + "".join(f"\n{line.replace('**', '')}" for line in claims)
