"""The ablation studies of the paper (§4.4) at small scale: their variants and configs.

Studies (`variants(study)`; the display names follow the paper, `§` = no TAM,
`‡` = self-supervised training on the unlabelled rest):

* `stacks` (Table 2): 4, 2 and 1 stacks with matched FLOPs: the width of an
  N-stack model is `ablation_width(N)`, the rule of `hiu_tf.presets.paper_width`
  (`C_N = C_4 * sqrt(4 / N)`) at a small base width, so `N * C^2` stays about
  constant.
* `tam` (Table 5): 4 and 1 stacks, with the TAM and with the paper's baseline,
  concatenation + 3x3 conv (`model.use_tam=false`), at the widths of `stacks`.
* `tasks` (Table 4): the seven non-empty subsets of the backbone's tasks
  (heat-map, mask, POF: `model.tasks`). The mesh head stays on in every
  variant (the paper's third task is the mesh, whose supervision never
  changes here), so every row has the projected-mesh and 3D columns. As in the
  paper, the head reads what the backbone predicts: the heat-maps' keypoints
  (`model.head_keypoints`) only in the variants with heat-maps.
* `mobile` (not in the paper): the phone-class trunk (`hiu_tf.presets.mobile`'s
  inverted residual blocks, ReLU6, separable 3x3 stem, 2 stacks) with the
  blocks' expansion 2 or 1, and with or without the task decoders' residual
  block at full resolution (`model.decoder_full_res`), plus one stack: what each
  cut of the int8 latency (`benchmarks/bench_infer.py`) costs in accuracy.
* `ssl` (Fig. 10): 0, 10, 30 and 100 % of the training samples labelled (other
  fractions: `variants("ssl", fractions)`, `--fractions`). Without
  SSL: training on the labelled subset only, self-supervised weights 0 (with
  0 % there is nothing to train on: the initial model is evaluated). With SSL
  (‡): the labelled subset plus the rest as unlabelled samples
  (`training.kit.datasets.split_labelled`), with the self-supervised terms on.
  Both arms see the same labelled samples: every SSL batch holds a full batch of
  labelled samples and as many unlabelled ones (`data.mix: batch`, twice the
  batch), so at equal steps SSL only *adds* the unlabelled images and the
  self-supervised terms. The renderer is on in this study (the mask
  consistency term needs it). The 0 % row is the untrained model, without an SSL
  arm: with no labels, the self-supervised terms would only make the mesh agree
  with untrained heat-maps and masks.

Budgets (`STUDY_STEPS`): the training steps per run at which every variant of a
study has left its untrained state on every column on a 2-core CPU (measured:
docs/ablations.md); `--scale` multiplies them for longer runs.

Every variant's config is the base YAML (`training/configs/ablate.yaml`), then
the study's overrides (`STUDY_OVERRIDES`: `tasks` and `ssl` train the 2-stack
model of `stacks`), then the variant's, then the seed and the data sources
(`variant_config`).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
from collections.abc import Sequence

from hiu_tf import presets
from training.kit import ExperimentError

STUDIES = ("stacks", "tam", "tasks", "mobile", "ssl")
ABLATE_CONFIG = os.path.join(
    os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs", "ablate.yaml"
)
BASE_WIDTH = 34  # width of the 4-stack model (2 stacks: 48, the demo's); see ablation_width
SSL_FRACTIONS = (0.0, 0.1, 0.3, 1.0)
# Training steps per run of each study at --scale 1 (docs/ablations.md: the curves).
STUDY_STEPS = {"stacks": 1500, "tam": 1500, "tasks": 1500, "mobile": 1500, "ssl": 1500}
_TASK_NAMES = {"heatmap": "Heat-map", "mask": "Mask", "pof": "POF"}
# Study-wide overrides (over training/configs/ablate.yaml).
# The tasks and ssl studies ablate the tasks and the data, not the trunk: they use the
# 2-stack model of the stacks study (the demo's trunk, width 48), which at these budgets
# is at least as accurate as the 4-stack one and trains in about 2/3 of its time.
# (tests check that 48 is ablation_width(2))
TWO_STACKS = ("model.num_stacks=2", "model.width=48")
STUDY_OVERRIDES = {
    "stacks": (),
    "tam": (),
    "tasks": TWO_STACKS,
    # The `mobile` preset's kind of trunk, read off the preset so that the study follows
    # it; every variant sets num_stacks, expansion and decoder_full_res.
    "mobile": tuple(
        f"model.{field}={json.dumps(getattr(presets.mobile().model, field))}"
        for field in ("block_type", "activation", "separable_stem", "stem_kernel")
    )
    # XLA makes depthwise convolutions slower on a CPU (docs/results.md, bench_train).
    + ("train.jit_compile=false",),
    "ssl": (*TWO_STACKS, "model.render_mask=true"),
}
# The paper's directions each study tests: (variant expected better, variant expected
# worse, the claim in words). `mobile` is ours and claims nothing; the ssl study's
# claims follow its fractions (`claims`).
_CLAIMS = {
    "stacks": (
        ("4-stack", "2-stack", "4-stack > 2-stack"),
        ("4-stack", "1-stack", "4-stack > 1-stack"),
        ("2-stack", "1-stack", "2-stack > 1-stack"),
    ),
    "tam": (
        ("4-stack", "4-stack-notam", "TAM > concatenation (4 stacks)"),
        ("1-stack", "1-stack-notam", "TAM > concatenation (1 stack)"),
    ),
    "tasks": (
        ("heatmap+mask+pof", "heatmap+mask", "all three tasks > heat-map + mask"),
        ("heatmap+mask+pof", "heatmap+pof", "all three tasks > heat-map + POF"),
        ("heatmap+mask+pof", "mask+pof", "all three tasks > mask + POF"),
    ),
    "mobile": (),
}
FLOPS_STUDIES = ("stacks", "tam", "mobile")  # studies whose table has a FLOPs column
# mobile: (slug, name, stacks, expansion, decoders' full-resolution block)
_MOBILE = (
    ("2-stack-x2", "2-stack ×2", 2, 2, True),
    ("2-stack-x2-nofull", "2-stack ×2 ◇", 2, 2, False),
    ("2-stack-x1", "2-stack ×1", 2, 1, True),
    ("2-stack-x1-nofull", "2-stack ×1 ◇", 2, 1, False),
    ("1-stack-x2", "1-stack ×2", 1, 2, True),
    ("1-stack-x2-nofull", "1-stack ×2 ◇", 1, 2, False),
    ("1-stack-x1", "1-stack ×1", 1, 1, True),
)


@dataclasses.dataclass(frozen=True)
class Variant:
    """One row of an ablation.

    Attributes:
        slug: file-system and command-line name, e.g. "4-stack-notam".
        name: display name in the paper's style, e.g. "4-stack §".
        overrides: config overrides (`--set` syntax) over the study's base.
        label_fraction: ssl: fraction of the training samples that keep labels.
        unlabelled: ssl: also train on the rest, unlabelled.
    """

    slug: str
    name: str
    overrides: tuple[str, ...] = ()
    label_fraction: float | None = None
    unlabelled: bool = False


def ablation_width(num_stacks: int, base_width: int = BASE_WIDTH) -> int:
    """Width per stack keeping `N * C^2` at the 4-stack model's: `C_4 * sqrt(4 / N)`, even.

    With the default base 34: 68, 48, 34, 24 for N = 1, 2, 4, 8 (N * C^2 = 4624,
    4608, 4624, 4608).
    """
    return int(2 * round(base_width * math.sqrt(4 / num_stacks) / 2))


def _stack(n: int, tam: bool = True) -> Variant:
    suffix = "" if tam else "-notam"
    return Variant(
        slug=f"{n}-stack{suffix}",
        name=f"{n}-stack" + ("" if tam else " §"),
        overrides=(
            f"model.num_stacks={n}",
            f"model.width={ablation_width(n)}",
            f"model.use_tam={'true' if tam else 'false'}",
        ),
    )


def check_study(study: str) -> None:
    """ExperimentError unless `study` is one of `STUDIES`."""
    if study not in STUDIES:
        raise ExperimentError(f"--study must be one of {STUDIES}. Received: --study={study!r}")


def percent(fraction: float) -> str:
    """A labelled fraction as the ssl study names it: 0.1 -> "10", 0.025 -> "2.5"."""
    return f"{100 * fraction:g}"


def ssl_fractions(fractions: Sequence[float] | None = None) -> tuple[float, ...]:
    """The ssl study's labelled fractions: 0 (the untrained row) and `fractions`
    (default `SSL_FRACTIONS`' others), sorted, each in (0, 1].

    Raises:
        ExperimentError: a fraction outside (0, 1], or two that name the same percent.
    """
    if fractions is None:
        return SSL_FRACTIONS
    for f in fractions:
        if not 0 < f <= 1:
            raise ExperimentError(
                f"labelled fractions must be in (0, 1]. Received: {f!r} (0 % is always a row)"
            )
    found = sorted(set(fractions))
    names = [percent(f) for f in found]
    if len(set(names)) != len(names):
        raise ExperimentError(
            f"labelled fractions must differ in percent. Received: {', '.join(names)} %"
        )
    return (0.0, *found)


def claims(study: str, variant_list: Sequence[Variant] | None = None):
    """The paper's claims a study tests, as (better slug, worse slug, words).

    The ssl study's are "SSL > no SSL" at each labelled fraction of `variant_list`
    (default: `variants("ssl")`); the others are fixed.

    Raises:
        ExperimentError: an unknown study.
    """
    if study != "ssl":
        check_study(study)
        return _CLAIMS[study]
    return tuple(
        (v.slug, v.slug.removesuffix("-ssl"), f"SSL > no SSL at {percent(v.label_fraction)} %")
        for v in (variant_list if variant_list is not None else variants("ssl"))
        if v.unlabelled
    )


def variants(study: str, fractions: Sequence[float] | None = None) -> list[Variant]:
    """The rows of a study, in the paper's order.

    Args:
        study: one of `STUDIES`.
        fractions: ssl only: the labelled fractions besides 0 (default 0.1, 0.3, 1).

    Raises:
        ExperimentError: an unknown study, fractions for another study than ssl, or
            a bad fraction (`ssl_fractions`).
    """
    check_study(study)
    if fractions is not None and study != "ssl":
        raise ExperimentError(f"labelled fractions are options of the ssl study, not of {study!r}")
    if study == "stacks":
        return [_stack(4), _stack(2), _stack(1)]
    if study == "tam":
        return [_stack(4), _stack(4, False), _stack(1), _stack(1, False)]
    if study == "tasks":
        combos = (
            ("heatmap",),
            ("mask",),
            ("pof",),
            ("heatmap", "mask"),
            ("mask", "pof"),
            ("heatmap", "pof"),
            ("heatmap", "mask", "pof"),
        )
        return [
            Variant(
                slug="+".join(c),
                name=" + ".join(_TASK_NAMES[t] for t in c),
                overrides=(f"model.tasks=[{', '.join(c)}]",)
                + (() if "heatmap" in c else ("model.head_keypoints=false",)),
            )
            for c in combos
        ]
    if study == "mobile":
        return [
            Variant(
                slug=slug,
                name=name,
                overrides=(
                    f"model.num_stacks={stacks}",
                    f"model.expansion={expansion}",
                    f"model.decoder_full_res={'true' if full else 'false'}",
                ),
            )
            for slug, name, stacks, expansion, full in _MOBILE
        ]
    if study == "ssl":
        out = []
        for fraction in ssl_fractions(fractions):
            pct = percent(fraction)
            out.append(
                Variant(
                    slug=f"labelled{pct}",
                    name=f"{pct} % labelled",
                    overrides=("loss.ssl_mask=0", "loss.ssl_2d=0"),
                    label_fraction=fraction,
                )
            )
            if fraction > 0:  # with no labels the SSL terms have only untrained maps to agree with
                out.append(
                    Variant(
                        slug=f"labelled{pct}-ssl",
                        name=f"{pct} % labelled ‡",
                        label_fraction=fraction,
                        unlabelled=True,
                    )
                )
        return out
    raise AssertionError(f"no variants for the study {study!r}")  # every study returns above


def base_config(study: str, config_path: str = ABLATE_CONFIG, overrides: Sequence[str] = ()):
    """`config_path` over the defaults, then the study's overrides, then `overrides`."""
    from hiu_tf.config import apply_overrides, load_config

    if not os.path.isfile(config_path):
        raise ExperimentError(f"config file not found: {config_path!r}")
    config = load_config(config_path)
    return apply_overrides(config, [*STUDY_OVERRIDES[study], *overrides])


def variant_config(base, variant: Variant, seed: int, sources: Sequence[str]):
    """The config of one (variant, seed) run: overrides, seed and the data sources.

    `sources` are TFRecord folders; an `unlabelled` one (`split_labelled`) next to a
    labelled one doubles the batch, half of each in every batch (`data.mix: batch`),
    so the labelled samples per step stay the base's.
    """
    from hiu_tf.config import SourceConfig, apply_overrides

    config = apply_overrides(base, [*variant.overrides, f"train.seed={seed}"])
    kinds = ["unlabelled" if os.path.basename(p) == "unlabelled" else "synthetic" for p in sources]
    data = dataclasses.replace(
        config.data,
        sources=tuple(
            SourceConfig(name=kind, path=os.path.abspath(path), weight=1.0)
            for path, kind in zip(sources, kinds, strict=True)
        ),
    )
    if len(set(kinds)) == 2:
        data = dataclasses.replace(data, batch_size=2 * data.batch_size, mix="batch")
    return dataclasses.replace(config, name=f"ablate-{variant.slug}", data=data)
