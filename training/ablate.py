"""The paper's ablations (§4.4) at small scale on synthetic data, with fixed step budgets and seeds.

    python -m hiu_tf ablate --study tam --seeds 3 --out runs/ablate-tam
    python -m hiu_tf ablate --study all --scale 4          # every study, 4x the steps

The studies and their variants are `training.kit.studies` (stacks, tam, tasks,
mobile, ssl); the columns of their tables are `training.kit.results.COLUMNS`.
Stages of `run_ablation`:

1. **Data**: one synthetic training set and one held-out set (another seed and
   another background family: `training.kit.datasets.make_datasets`), both with
   the demo's generator options (`DEMO_SYNTH`: larger, less curled, unoccluded
   hands, on which keypoints are learnt in minutes); the ssl study also splits
   the training set into a labelled part and an unlabelled rest.
2. **Steps**: every variant trains for the same number of steps with the same
   seeds: the study's budget (`training.kit.studies.STUDY_STEPS`) times
   `scale`, or `steps`, or `budget_minutes` converted into steps once from the
   step time of the study's first variant (`training.kit.budget.calibrate_steps`).
   The steps are recorded in `results.json`, so a repeated command uses the same.
3. **Runs**: each (variant, seed) trains from the same base config
   (`training/configs/ablate.yaml`, then the study's and the variant's
   overrides) with `training.kit.learning.learning_curve`: the held-out set is
   evaluated before the first step (the untrained model, kept as `initial`) and
   after the last; seed 0 also at every quarter of the steps (its learning
   curve, `curve`, drawn in `curves.png`). The tables are rewritten after every run.

Output folder (`out`):

    results.json   every finished (variant, seed) run and the aggregated table
    results.md     the table in the paper's layout (Markdown), the paper's claims
                   with their verdicts, and whether each variant has left its
                   untrained state
    curves.png     seed 0's held-out learning curve of every variant
    data/          the training and held-out sets (and the SSL splits)
    runs/<variant>-s<seed>/   one run folder each

Resuming: a (variant, seed) whose result is in `results.json` is skipped; a
run interrupted in the middle starts again (runs are minutes long).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from mano_tf.checks import check_int, check_positive
from training.kit import ExperimentError
from training.kit.results import COLUMNS, RESULTS_JSON, TITLES, aggregate, cell, run_key
from training.kit.studies import (
    ABLATE_CONFIG,
    FLOPS_STUDIES,
    Variant,
    base_config,
    percent,
    variant_config,
    variants,
)

logger = logging.getLogger(__name__)

CURVE_POINTS = 4  # seed 0 is evaluated at every quarter of its steps
DEFAULT_SEEDS = 3
DEFAULT_TRAIN_SAMPLES = 2048
DEFAULT_HELDOUT_SAMPLES = 256


class AblationError(ExperimentError):
    """Bad ablation options, or results of other options in the output folder."""


def _flops(config) -> int | None:
    from hiu_tf.model import build_model
    from hiu_tf.model_stats import count_flops

    size = config.model.input_size
    model_config = dataclasses.replace(config.model, render_mask=False)
    return int(count_flops(build_model(model_config, 1), (1, size, size, 3)))


def _previous(out: str, study: str, steps: int | None, samples: dict[str, int]) -> dict[str, Any]:
    """The results of an earlier run in `out`, if of the same options; AblationError if not."""
    path = os.path.join(out, RESULTS_JSON)
    if not os.path.isfile(path):
        return {}
    with open(path, encoding="utf-8") as f:
        previous = json.load(f)
    for key, value in (("study", study), *samples.items()):
        if previous.get(key) != value:
            raise AblationError(
                f"{path} holds results for {key}={previous.get(key)!r}, not {value!r}: "
                "use another --out"
            )
    if steps is not None and previous.get("steps") not in (None, steps):
        raise AblationError(
            f"{path} holds runs of {previous['steps']} steps; pass --steps "
            f"{previous['steps']} to resume them, or use another --out. Received: --steps={steps}"
        )
    return previous


def _sources(variant: Variant, data: dict[str, str], out: str, total: int) -> list[str]:
    """The TFRecord folders a variant trains on: the training set, or its ssl split."""
    from training.kit.datasets import split_labelled

    if variant.label_fraction is None:
        return [data["train"]]
    pct = percent(variant.label_fraction)
    labelled, unlabelled, _ = split_labelled(
        data["train"], os.path.join(out, "data", f"ssl-{pct}"), variant.label_fraction, total
    )
    found = [labelled] if labelled else []
    if variant.unlabelled and unlabelled:
        found.append(unlabelled)
    return found


def run_digest(config, data_root: str) -> str:
    """A fingerprint of a run's config, its data paths taken relative to `data_root`:
    two studies' runs of the same digest (same steps, seed and sets) are the same run."""
    import hashlib

    from hiu_tf.config import config_to_dict

    values = config_to_dict(config)
    values.pop("name", None)
    for source in values["data"]["sources"]:
        source["path"] = os.path.relpath(source["path"], data_root)
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


def _siblings(out: str, steps: int, samples: dict[str, int]) -> list[tuple[str, dict]]:
    """The finished runs of the sibling study folders next to `out` that trained the
    same steps on the same sets, as (folder, runs); read once per study."""
    import glob

    mine = os.path.abspath(out)
    found = []
    for path in sorted(glob.glob(os.path.join(os.path.dirname(mine), "*", RESULTS_JSON))):
        if os.path.dirname(path) == mine:
            continue
        try:
            with open(path, encoding="utf-8") as f:
                other = json.load(f)
        except (OSError, ValueError):
            continue
        if other.get("steps") != steps or any(other.get(k) != v for k, v in samples.items()):
            continue
        found.append((os.path.dirname(path), other.get("runs", {})))
    return found


def _borrow(siblings: list[tuple[str, dict]], digest: str, seed: int):
    """A run of the same config digest and seed among `_siblings`' (the tam study's
    TAM rows are the stacks study's), or None."""
    for folder, runs in siblings:
        for entry in runs.values():
            if entry.get("digest") == digest and entry.get("seed") == seed:
                return {**entry, "borrowed_from": folder}
    return None


def _curve_steps(steps: int, curve: bool) -> list[int]:
    """The steps to evaluate at: the last, and with `curve` every quarter of the run."""
    if not curve:
        return [steps]
    return sorted({max(1, round(steps * k / CURVE_POINTS)) for k in range(1, CURVE_POINTS + 1)})


def _run_one(
    config, run_dir: str, heldout: str, steps: int, seed: int, *, trains: bool, curve: bool, **fit
) -> tuple[list[dict[str, Any]], int]:
    """Trains one (variant, seed) run for `steps` steps, or evaluates its initial model.

    The warm-up is cut to a quarter of the steps when the config's is longer.
    Returns the held-out rows (`learning_curve`: step 0 first, the trained model
    last) and the steps trained (0 when `trains` is False: nothing to train on).
    """
    import keras

    from hiu_tf.model import build_model
    from hiu_tf.runs import save_run_model
    from training.evaluate import evaluate_run
    from training.kit.learning import PCK_2D_MAX_PX, learning_curve, summarize

    if not trains:
        keras.utils.set_random_seed(seed)
        save_run_model(run_dir, config, build_model(config.model))
        metrics = evaluate_run(
            run_dir,
            heldout,
            out_dir=os.path.join(run_dir, "eval"),
            pck_2d_max_px=PCK_2D_MAX_PX,
            verbose=0,
        ).metrics
        return [{"step": 0, "wall_s": 0.0, **summarize(metrics)}], 0
    if config.train.warmup_steps > steps // 4:
        schedule = dataclasses.replace(config.train, warmup_steps=max(steps // 4, 1))
        config = dataclasses.replace(config, train=schedule)
    rows = learning_curve(config, heldout, _curve_steps(steps, curve), run_dir, **fit)
    return rows, steps


def run_ablation(
    study: str,
    out: str,
    *,
    seeds: int = DEFAULT_SEEDS,
    steps: int | None = None,
    scale: float = 1.0,
    budget_minutes: float | None = None,
    only: Sequence[str] = (),
    fractions: Sequence[float] | None = None,
    config_path: str = ABLATE_CONFIG,
    overrides: Sequence[str] = (),
    train_samples: int = DEFAULT_TRAIN_SAMPLES,
    heldout_samples: int = DEFAULT_HELDOUT_SAMPLES,
    hand_model: str | None = None,
    run_eagerly: bool = False,
    verbose: int = 1,
    echo: Callable[[str], None] = logger.info,
) -> dict[str, Any]:
    """Runs (or resumes) one study; writes `results.json`, `results.md` and `curves.png`.

    Args:
        study: one of `training.kit.studies.STUDIES`.
        out: the output folder.
        seeds: seeds 0 .. seeds - 1.
        steps: training steps per run; None = those recorded in `out/results.json`,
            else from `budget_minutes`, else the study's budget times `scale`.
        scale: multiplies the study's budget (`STUDY_STEPS`), e.g. for a GPU.
        budget_minutes: training minutes per run, converted to steps once.
        only: variant slugs to run (default: all of the study).
        fractions: ssl only: the labelled fractions besides 0 (default 0.1, 0.3, 1).
            Runs of other fractions already in `out` are kept, and come back into
            the table when their fractions are asked for again.
        config_path: the base YAML.
        overrides: `--set` overrides over the base.
        train_samples: synthetic training samples.
        heldout_samples: synthetic held-out samples.
        hand_model: overrides `model.hand_model` (tests).
        run_eagerly: train eagerly (tests).
        verbose: a message with the training loss at every evaluation step (1) or
            none (0).
        echo: progress messages.

    Returns:
        The results dict (as in `results.json`) with `text`, the printed table.

    Raises:
        AblationError: bad options, or `out` holds results of other options.
        ExperimentError: an unknown study.
    """
    from training.kit.budget import CALIBRATION_STEPS, calibrate_steps
    from training.kit.datasets import DEMO_SYNTH, make_datasets, synth_options
    from training.kit.results import write_results
    from training.kit.studies import STUDY_STEPS

    try:
        all_variants = variants(study, fractions)
    except ExperimentError as e:
        raise AblationError(str(e)) from None
    slugs = [v.slug for v in all_variants]
    for slug in only:
        if slug not in slugs:
            raise AblationError(
                f"--only must name variants of the {study} study ({', '.join(slugs)}). "
                f"Received: {slug!r}"
            )
    chosen = [v for v in all_variants if not only or v.slug in only]
    check_int(seeds, "--seeds", 1, AblationError)
    if steps is not None:
        check_int(steps, "--steps", 1, AblationError)
    check_positive(scale, "--scale", AblationError)
    if budget_minutes is not None:
        check_positive(budget_minutes, "--budget-minutes", AblationError)
    extra = list(overrides) + ([f"model.hand_model={hand_model}"] if hand_model else [])
    base = base_config(study, config_path, extra)
    os.makedirs(out, exist_ok=True)
    samples = {"train_samples": train_samples, "heldout_samples": heldout_samples}
    if steps is None and budget_minutes is None:
        steps = max(1, int(round(STUDY_STEPS[study] * scale)))
    previous = _previous(out, study, steps, samples)

    # 1. data
    echo(f"ablation {study}: {len(chosen)} variants x {seeds} seeds, output {out}")
    echo("data")
    data = make_datasets(
        os.path.join(out, "data"),
        size=base.model.input_size,
        seed=0,
        train_samples=train_samples,
        heldout_samples=heldout_samples,
        hand_model=base.model.hand_model,
        synth=synth_options(DEMO_SYNTH),
        echo=echo,
    )

    # 2. steps
    steps = steps if steps is not None else previous.get("steps")
    calibration = previous.get("calibration")
    if steps is None:
        # The first variant with data to train on (an ssl split is written or reused once).
        reference, sources = next(
            (v, found) for v in chosen if (found := _sources(v, data, out, train_samples))
        )
        config = variant_config(base, reference, 0, sources)
        echo(f"calibrating: {CALIBRATION_STEPS} steps of {reference.name}")
        steps, step_time = calibrate_steps(
            config, os.path.join(out, "calibration"), budget_minutes * 60.0, run_eagerly=run_eagerly
        )
        calibration = {
            "variant": reference.slug,
            "step_time_s": step_time,
            "budget_minutes": budget_minutes,
        }
        echo(f"  {step_time:.2f} s per step: {steps} steps per run")
    results: dict[str, Any] = {
        "study": study,
        "steps": steps,
        "seeds": list(range(seeds)),
        "batch_size": base.data.batch_size,
        "input_size": base.model.input_size,
        **samples,
        "calibration": calibration,
        "variants": {v.slug: v.name for v in all_variants},
        "runs": dict(previous.get("runs", {})),
    }
    write_results(out, results, all_variants)

    # 3. runs
    todo = [(v, s) for v in chosen for s in range(seeds)]
    siblings = _siblings(out, steps, samples)
    for index, (variant, seed) in enumerate(todo, start=1):
        key = run_key(variant, seed)
        if key in results["runs"]:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: done earlier, skipped")
            continue
        sources = _sources(variant, data, out, train_samples)
        config = variant_config(base, variant, seed, sources or [data["train"]])
        digest = run_digest(config, os.path.join(out, "data"))
        borrowed = _borrow(siblings, digest, seed)
        if borrowed is not None and (seed != 0 or borrowed.get("curve")):
            echo(
                f"[{index}/{len(todo)}] {variant.name}, seed {seed}: the same run as in "
                f"{borrowed['borrowed_from']}, reused"
            )
            results["runs"][key] = {**borrowed, "variant": variant.slug}
            write_results(out, results, all_variants)
            continue
        run_dir = os.path.join(out, "runs", f"{variant.slug}-s{seed}")
        if sources:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: {steps} steps")
        else:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: no labelled data, untrained")
        start = time.monotonic()
        rows, trained_steps = _run_one(
            config,
            run_dir,
            data["heldout"],
            steps,
            seed,
            trains=bool(sources),
            curve=seed == 0,
            run_eagerly=run_eagerly,
            on_epoch=(lambda step, loss: echo(f"  step {step}: loss {loss:.3f}"))
            if verbose
            else None,
        )
        seconds = time.monotonic() - start
        entry = {
            "variant": variant.slug,
            "seed": seed,
            "digest": digest,
            "steps": trained_steps,
            "train_seconds": seconds,
            "metrics": {k: v for k, v in rows[-1].items() if k not in ("step", "wall_s")},
            "initial": {k: v for k, v in rows[0].items() if k not in ("step", "wall_s")},
        }
        if seed == 0:
            entry["curve"] = rows
        if study in FLOPS_STUDIES:
            flops = next(
                (
                    r.get("flops")
                    for k, r in results["runs"].items()
                    if k.startswith(variant.slug + "/") and r.get("flops")
                ),
                None,
            )
            entry["flops"] = flops or _flops(config)
        results["runs"][key] = entry
        write_results(out, results, all_variants)
        m = entry["metrics"]
        echo(
            f"  {seconds:.0f} s; "
            + ", ".join(f"{h} {cell(aggregate([m.get(k)]))}" for _, k, h in COLUMNS)
        )
    text = write_results(out, results, all_variants)
    echo(TITLES[study])
    return {**results, "text": text}


__all__ = ["AblationError", "run_ablation"]
