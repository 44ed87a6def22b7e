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
  changes here), so every row has the projected-mesh and 3D columns.
* `mobile` (not in the paper): the phone-class trunk (`hiu_tf.presets.mobile`'s
  inverted residual blocks, ReLU6, separable 3x3 stem, 2 stacks) with the
  blocks' expansion 2 or 1, and with or without the task decoders' residual
  block at full resolution (`model.decoder_full_res`), plus one stack: what each
  cut of the int8 latency (`benchmarks/bench_infer.py`) costs in accuracy.
* `ssl` (Fig. 10): 0, 10, 30 and 100 % of the training samples labelled. Without
  SSL: training on the labelled subset only, self-supervised weights 0 (with
  0 % there is nothing to train on: the initial model is evaluated). With SSL
  (‡): the labelled subset plus the rest as unlabelled samples
  (`training.kit.datasets.split_labelled`), mixed in proportion, with the
  self-supervised terms on. The renderer is on in this study (the mask
  consistency term needs it).

Every variant's config is the base YAML (`training/configs/ablate.yaml`), then
the study's overrides (`STUDY_OVERRIDES`), then the variant's, then the seed
and the data sources (`variant_config`).
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
BASE_WIDTH = 16  # width of the 4-stack model; the others follow ablation_width
SSL_FRACTIONS = (0.0, 0.1, 0.3, 1.0)
_TASK_NAMES = {"heatmap": "Heat-map", "mask": "Mask", "pof": "POF"}
# Study-wide overrides (over training/configs/ablate.yaml).
STUDY_OVERRIDES = {
    "stacks": (),
    "tam": (),
    "tasks": (),
    # The `mobile` preset's kind of trunk, read off the preset so that the study follows
    # it; every variant sets num_stacks, expansion and decoder_full_res.
    "mobile": tuple(
        f"model.{field}={json.dumps(getattr(presets.mobile().model, field))}"
        for field in ("block_type", "activation", "separable_stem", "stem_kernel")
    ),
    "ssl": ("model.render_mask=true",),
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

    With the default base 16: 32, 22, 16, 12 for N = 1, 2, 4, 8 (N * C^2 = 1024,
    968, 1024, 1152).
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


def variants(study: str) -> list[Variant]:
    """The rows of a study, in the paper's order.

    Raises:
        ExperimentError: an unknown study.
    """
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
                overrides=(f"model.tasks=[{', '.join(c)}]",),
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
        for fraction in SSL_FRACTIONS:
            pct = int(round(100 * fraction))
            out.append(
                Variant(
                    slug=f"labelled{pct}",
                    name=f"{pct} % labelled",
                    overrides=("loss.ssl_mask=0", "loss.ssl_2d=0"),
                    label_fraction=fraction,
                )
            )
            out.append(
                Variant(
                    slug=f"labelled{pct}-ssl",
                    name=f"{pct} % labelled ‡",
                    label_fraction=fraction,
                    unlabelled=True,
                )
            )
        return out
    raise ExperimentError(f"--study must be one of {STUDIES}. Received: --study={study!r}")


def base_config(study: str, config_path: str = ABLATE_CONFIG, overrides: Sequence[str] = ()):
    """`config_path` over the defaults, then the study's overrides, then `overrides`."""
    from hiu_tf.config import apply_overrides, load_config

    if not os.path.isfile(config_path):
        raise ExperimentError(f"config file not found: {config_path!r}")
    config = load_config(config_path)
    return apply_overrides(config, [*STUDY_OVERRIDES[study], *overrides])


def variant_config(base, variant: Variant, seed: int, sources: Sequence[tuple[str, float]]):
    """The config of one (variant, seed) run: overrides, seed and the data sources."""
    from hiu_tf.config import SourceConfig, apply_overrides

    config = apply_overrides(base, [*variant.overrides, f"train.seed={seed}"])
    data = dataclasses.replace(
        config.data,
        sources=tuple(
            SourceConfig(
                name="unlabelled" if os.path.basename(path) == "unlabelled" else "synthetic",
                path=os.path.abspath(path),
                weight=float(weight),
            )
            for path, weight in sources
        ),
    )
    return dataclasses.replace(config, name=f"ablate-{variant.slug}", data=data)
