"""The paper's ablations (§4.4) at small scale on synthetic data, with fixed step budgets and seeds.

    python -m hiu_tf ablate --study tam --budget-minutes 2 --seeds 2 --out runs/ablate-tam

The studies and their variants are `training.kit.studies` (stacks, tam, tasks,
mobile, ssl); the columns of their tables are `training.kit.results.COLUMNS`.
Stages of `run_ablation`:

1. **Data**: one synthetic training set and one held-out set (another seed and
   another background family: `training.kit.datasets.make_datasets`), both with
   the demo's generator options (`DEMO_SYNTH`: larger, less curled, unoccluded
   hands, on which keypoints are learnt in minutes); the ssl study also splits
   the training set into a labelled part and an unlabelled rest.
2. **Steps**: every variant trains for the same number of steps with the same
   seeds. Fixed steps make results independent of the machine's load:
   `budget_minutes` is converted into steps once, from the step time of the
   study's first variant measured by a short calibration run
   (`training.kit.budget.calibrate_steps`), and recorded in `results.json`, so a
   repeated command uses the same steps.
3. **Runs**: each (variant, seed) trains from the same base config
   (`training/configs/ablate.yaml`, then the study's and the variant's
   overrides) and is evaluated on the held-out set; the tables are rewritten
   after every run.

Output folder (`out`):

    results.json   every finished (variant, seed) run and the aggregated table
    results.md     the table in the paper's layout (Markdown)
    data/          the training and held-out sets (and the SSL splits)
    runs/<variant>-s<seed>/   one run folder each (with eval/)

Resuming: a (variant, seed) whose result is in `results.json` is skipped; an
interrupted run resumes from its last finished epoch (`training.train`).
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
    variant_config,
    variants,
)

logger = logging.getLogger(__name__)

EPOCHS_PER_RUN = 4  # a run is split into epochs so an interrupted one resumes
DEFAULT_BUDGET_MINUTES = 3.0
DEFAULT_SEEDS = 2
DEFAULT_TRAIN_SAMPLES = 2048
DEFAULT_HELDOUT_SAMPLES = 256


class AblationError(ExperimentError):
    """Bad ablation options, or results of other options in the output folder."""


def _epochs(steps: int) -> tuple[int, int]:
    """`(epochs, steps_per_epoch)` with `epochs * steps_per_epoch == steps`, up to EPOCHS_PER_RUN."""
    for epochs in range(min(EPOCHS_PER_RUN, steps), 0, -1):
        if steps % epochs == 0:
            return epochs, steps // epochs
    return 1, steps


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


def _sources(variant: Variant, data: dict[str, str], out: str, total: int):
    """`[(TFRecord folder, weight)]` of a variant: the training set, or its ssl split."""
    from training.kit.datasets import split_labelled

    if variant.label_fraction is None:
        return [(data["train"], 1.0)]
    pct = int(round(100 * variant.label_fraction))
    labelled, unlabelled, n = split_labelled(
        data["train"], os.path.join(out, "data", f"ssl-{pct}"), variant.label_fraction, total
    )
    found = []
    if labelled:
        found.append((labelled, float(n)))
    if variant.unlabelled and unlabelled:
        found.append((unlabelled, float(total - n)))
    return found


def _run_one(config, run_dir: str, steps: int, seed: int, *, trains: bool, **fit) -> int:
    """Trains one (variant, seed) run for `steps` steps, or saves its initial model.

    The warm-up is cut to a quarter of the steps when the config's is longer.
    Returns the steps trained (0 when `trains` is False: nothing to train on).
    """
    import keras

    from hiu_tf.model import build_model
    from hiu_tf.runs import save_run_model
    from training.train import train

    if not trains:
        keras.utils.set_random_seed(seed)
        save_run_model(run_dir, config, build_model(config.model))
        return 0
    if config.train.warmup_steps > steps // 4:
        schedule = dataclasses.replace(config.train, warmup_steps=max(steps // 4, 1))
        config = dataclasses.replace(config, train=schedule)
    epochs, per_epoch = _epochs(steps)
    train(config, run_dir, epochs=epochs, steps_per_epoch=per_epoch, images=0, **fit)
    return steps


def run_ablation(
    study: str,
    out: str,
    *,
    seeds: int = DEFAULT_SEEDS,
    steps: int | None = None,
    budget_minutes: float = DEFAULT_BUDGET_MINUTES,
    only: Sequence[str] = (),
    config_path: str = ABLATE_CONFIG,
    overrides: Sequence[str] = (),
    train_samples: int = DEFAULT_TRAIN_SAMPLES,
    heldout_samples: int = DEFAULT_HELDOUT_SAMPLES,
    hand_model: str | None = None,
    run_eagerly: bool = False,
    verbose: int = 1,
    echo: Callable[[str], None] = logger.info,
) -> dict[str, Any]:
    """Runs (or resumes) one study; writes `results.json` / `results.md` into `out`.

    Args:
        study: one of `training.kit.studies.STUDIES`.
        out: the output folder.
        seeds: seeds 0 .. seeds - 1.
        steps: training steps per run; None = from `budget_minutes` (or those
            recorded in `out/results.json`).
        budget_minutes: training minutes per run, converted to steps once.
        only: variant slugs to run (default: all of the study).
        config_path: the base YAML.
        overrides: `--set` overrides over the base.
        train_samples: synthetic training samples.
        heldout_samples: synthetic held-out samples.
        hand_model: overrides `model.hand_model` (tests).
        run_eagerly: train eagerly (tests).
        verbose: `fit` and evaluation progress bars (1) or none (0).
        echo: progress messages.

    Returns:
        The results dict (as in `results.json`) with `text`, the printed table.

    Raises:
        AblationError: bad options, or `out` holds results of other options.
        ExperimentError: an unknown study.
    """
    from training.evaluate import evaluate_run
    from training.kit.budget import CALIBRATION_STEPS, calibrate_steps
    from training.kit.datasets import DEMO_SYNTH, make_datasets, synth_options
    from training.kit.learning import PCK_2D_MAX_PX, summarize
    from training.kit.results import write_results

    all_variants = variants(study)
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
    check_positive(budget_minutes, "--budget-minutes", AblationError)
    extra = list(overrides) + ([f"model.hand_model={hand_model}"] if hand_model else [])
    base = base_config(study, config_path, extra)
    os.makedirs(out, exist_ok=True)
    samples = {"train_samples": train_samples, "heldout_samples": heldout_samples}
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
        **samples,
        "calibration": calibration,
        "variants": {v.slug: v.name for v in all_variants},
        "runs": dict(previous.get("runs", {})),
    }
    write_results(out, results, all_variants)

    # 3. runs
    todo = [(v, s) for v in chosen for s in range(seeds)]
    for index, (variant, seed) in enumerate(todo, start=1):
        key = run_key(variant, seed)
        if key in results["runs"]:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: done earlier, skipped")
            continue
        sources = _sources(variant, data, out, train_samples)
        config = variant_config(base, variant, seed, sources or [(data["train"], 1.0)])
        run_dir = os.path.join(out, "runs", f"{variant.slug}-s{seed}")
        if sources:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: {steps} steps")
        else:
            echo(f"[{index}/{len(todo)}] {variant.name}, seed {seed}: no labelled data, untrained")
        start = time.monotonic()
        trained_steps = _run_one(
            config,
            run_dir,
            steps,
            seed,
            trains=bool(sources),
            run_eagerly=run_eagerly,
            verbose=verbose,
        )
        seconds = time.monotonic() - start
        metrics = evaluate_run(
            run_dir,
            data["heldout"],
            out_dir=os.path.join(run_dir, "eval"),
            pck_2d_max_px=PCK_2D_MAX_PX,
            verbose=verbose,
        ).metrics
        entry = {
            "variant": variant.slug,
            "seed": seed,
            "steps": trained_steps,
            "train_seconds": seconds,
            "metrics": summarize(metrics),
        }
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
        echo("  " + ", ".join(f"{h} {cell(aggregate([m.get(k)]))}" for _, k, h in COLUMNS))
    text = write_results(out, results, all_variants)
    echo(TITLES[study])
    return {**results, "text": text}


__all__ = ["AblationError", "run_ablation"]
