"""Named experiment presets: plain functions returning an `ExperimentConfig`.

Each preset also exists as a YAML file, `training/configs/<name>.yaml`, written
by `save_config` and kept equal to the function by a test. Use one with
`preset(name)`, then a YAML file and `--set` overrides on top.

Presets:

* `paper-{1,2,4,8}stack`: the paper's cascade (Tables 2 and 3) at 256 x 256 input
  (64 x 64 maps), bottleneck residual blocks, BatchNorm, TAM. The paper's 1-, 2-
  and 4-stack models "are designed to have similar FLOPs"; here the width C of
  every stack is scaled with the number of stacks N as `C = 128 * sqrt(4 / N)`
  rounded to a multiple of 8 (256, 184, 128, 88), because a stack's cost grows
  with C^2 (all its convolutions are C -> C), so N * C^2 stays constant. The
  stem (~1 GFLOP) and the shared regressor head are common to all. FLOPs
  (multiply-add = 2; `python -m hiu_tf model-info --preset ...` counts them):
  11.7 G, 12.2 G, 12.1 G, 11.8 G for 1, 2, 4, 8 stacks, within 5 % of each other.
* `paper-{1,2,4,8}stack-notam`: the same with the paper's "no TAM" baseline
  (concatenation + 3x3 conv, Table 5). Only the fusion changes, and it is not
  cheap: the 3x3 conv from 3C to C channels costs 2 * 64^2 * 9 * 3C * C FLOPs per
  stack (3.6 G for C = 128), so these presets have about 25-27 GFLOPs, more than
  twice their TAM counterparts (the TAM costs a few MFLOPs).
* The phone family, `mobile-lite`, `mobile-mid` and `mobile`: 224 x 224 input
  (56 x 56 maps, MediaPipe's crop size), one stack of MobileNetV2 inverted
  residual blocks (depthwise 3x3, expansion 2, ReLU6), task decoders without a
  residual block at full resolution (`decoder_full_res=False`), a stem of 3x3
  convolutions (MobileNetV2's) whose second one is depthwise-separable, and the
  mask exported at its maps' 56 x 56 (`mask_output="maps"`, the caller
  upsamples). They differ in width only: 32, 64 and 96 (head 64, 64 and 96),
  about 0.15, 0.41 and 0.88 GFLOPs for the network, MANO and projection (the
  training-only silhouette renderer excluded; exports drop it), against 0.66 for
  the convolutions of MediaPipe's `hand_landmark_full`. `mobile-lite` is the
  fastest; `mobile`, the default, is the most accurate of the three within
  `hand_landmark_full`'s int8 time, chosen from the table of
  `benchmarks/bench_phone.py` (held-out accuracy at one training budget over
  three seeds, int8 parity and latency beside MediaPipe's two hand landmark
  models; `docs/export.md`, "The phone presets"). The paper's 7x7 stem (LiteRT's
  XNNPACK is slow on 7x7 depthwise kernels), the full-resolution decoder blocks
  and a second stack cost most int8 time per unit of accuracy; the timings, per
  part and per layer, and the commands that made them are in `docs/export.md`
  ("Latency"). Until 2026-12-05 `mobile` was today's `mobile-lite`.
* `mobile-2stack`: `mobile-lite` with two stacks and full-resolution decoder
  blocks (0.25 M parameters, 0.42 GFLOPs), kept from before the family: about as
  slow as `mobile-mid` in int8, and less accurate in the small-scale study.
* `tiny`: 64 x 64 input, 2 stacks of width 16: small enough to train on a laptop
  CPU, for tests and the demo.

Training with XLA (`train.jit_compile`) is on in the `paper-*` presets, where it
makes a training step faster on a CPU as well as on a GPU, and off in the phone
presets, whose depthwise convolutions XLA compiles into slower code than
TensorFlow's own kernels (a step takes several times longer). `tiny` leaves it
off as well, though XLA speeds it up: the tests train many small `tiny` models
for a few steps each, and XLA's compile time would outweigh that. The demo turns
it on in `training/configs/demo.yaml`. The timings: README, "Benchmarks".
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable

from hiu_tf.config import ConfigError, ExperimentConfig, ModelConfig, TrainConfig

PAPER_BASE_STACKS = 4
PAPER_BASE_WIDTH = 128


def paper_width(num_stacks: int) -> int:
    """Width per stack that keeps the FLOPs of an N-stack model at the 4-stack's.

    `C_N = 128 * sqrt(4 / N)` rounded to a multiple of 8: 256, 184, 128, 88 for
    N = 1, 2, 4, 8.
    """
    return int(8 * round(PAPER_BASE_WIDTH * math.sqrt(PAPER_BASE_STACKS / num_stacks) / 8))


def paper(num_stacks: int, use_tam: bool = True) -> ExperimentConfig:
    """The paper's N-stack model with or without the TAM (see the module docstring)."""
    suffix = "" if use_tam else "-notam"
    return ExperimentConfig(
        name=f"paper-{num_stacks}stack{suffix}",
        description=(
            f"HIU-DMTL, {num_stacks} MTL block(s) of width {paper_width(num_stacks)} "
            f"({'TAM' if use_tam else 'concatenation + 3x3 conv instead of the TAM'}), "
            "256x256 input; widths chosen so that 1/2/4/8 stacks have similar FLOPs."
        ),
        model=ModelConfig(
            num_stacks=num_stacks,
            width=paper_width(num_stacks),
            use_tam=use_tam,
        ),
        # XLA: faster for these convolutional trunks, on a CPU too (`bench_train.py --jit
        # both`; README, "Benchmarks"). Not for the phone presets: XLA's depthwise
        # convolutions are slow, on CPU and GPU alike.
        train=dataclasses.replace(TrainConfig(), jit_compile=True),
    )


def _phone(name: str, width: int, head_width: int, description: str) -> ExperimentConfig:
    """A one-stack phone-class model at 224 x 224 (see the module docstring)."""
    return ExperimentConfig(
        name=name,
        description=description,
        model=ModelConfig(
            num_stacks=1,
            width=width,
            stem_width=24,
            stem_kernel=3,
            separable_stem=True,
            input_size=224,
            encoder_levels=3,
            block_type="inverted",
            expansion=2,
            activation="relu6",
            head_width=head_width,
            decoder_full_res=False,
            mask_output="maps",
        ),
    )


def mobile_lite() -> ExperimentConfig:
    """The fastest phone-class model: one stack of width 32 (see the module docstring)."""
    return _phone(
        "mobile-lite",
        32,
        64,
        "Fastest phone-class HIU-DMTL: 224x224 input, 1 stack of width 32, inverted residual "
        "(depthwise) blocks, no full-resolution decoder blocks, ~0.16 M parameters, "
        "~0.15 GFLOPs without the renderer.",
    )


def mobile_mid() -> ExperimentConfig:
    """The middle phone-class model: one stack of width 64 (see the module docstring)."""
    return _phone(
        "mobile-mid",
        64,
        64,
        "Phone-class HIU-DMTL between mobile-lite and mobile: 224x224 input, 1 stack of width "
        "64, inverted residual (depthwise) blocks, no full-resolution decoder blocks, ~0.41 "
        "GFLOPs without the renderer.",
    )


def mobile() -> ExperimentConfig:
    """The default phone-class model: one stack of width 96 (see the module docstring)."""
    return _phone(
        "mobile",
        96,
        96,
        "Phone-class HIU-DMTL within MediaPipe hand_landmark_full's time: 224x224 input, "
        "1 stack of width 96, inverted residual (depthwise) blocks, no full-resolution decoder "
        "blocks, ~0.88 GFLOPs without the renderer.",
    )


def mobile_2stack() -> ExperimentConfig:
    """`mobile-lite` with two stacks and full-resolution decoder blocks (see the module
    docstring)."""
    base = mobile_lite()
    return dataclasses.replace(
        base,
        name="mobile-2stack",
        description=(
            "More accurate phone-class HIU-DMTL: `mobile` with 2 stacks and full-resolution "
            "decoder blocks, ~0.25 M parameters, ~0.5 GFLOPs without the renderer."
        ),
        model=dataclasses.replace(base.model, num_stacks=2, decoder_full_res=True),
    )


def tiny() -> ExperimentConfig:
    """A very small model for tests and the CPU demo."""
    return ExperimentConfig(
        name="tiny",
        description="2 stacks of width 16 at 64x64 input: fast on a CPU, for tests and the demo.",
        model=ModelConfig(
            num_stacks=2,
            width=16,
            stem_width=16,
            input_size=64,
            encoder_levels=2,
            head_width=16,
            head_downsamples=2,
        ),
        train=dataclasses.replace(TrainConfig(), learning_rate=3e-3, warmup_steps=20, epochs=5),
    )


def _presets() -> dict[str, Callable[[], ExperimentConfig]]:
    presets: dict[str, Callable[[], ExperimentConfig]] = {}
    for n in (1, 2, 4, 8):
        presets[f"paper-{n}stack"] = lambda n=n: paper(n)
        presets[f"paper-{n}stack-notam"] = lambda n=n: paper(n, use_tam=False)
    presets["mobile-lite"] = mobile_lite
    presets["mobile-mid"] = mobile_mid
    presets["mobile"] = mobile
    presets["mobile-2stack"] = mobile_2stack
    presets["tiny"] = tiny
    return presets


def preset_names() -> tuple[str, ...]:
    """Names accepted by `preset`."""
    return tuple(_presets())


def preset(name: str) -> ExperimentConfig:
    """Returns the named preset.

    Raises:
        ConfigError: an unknown name (the message lists the known ones).
    """
    presets = _presets()
    if name not in presets:
        raise ConfigError(
            f"unknown preset; known presets: {', '.join(presets)}. Received: preset={name!r}"
        )
    return presets[name]()


def write_preset_configs(directory: str) -> list[str]:
    """Writes every preset as `<directory>/<name>.yaml`; returns the paths.

    `training/configs/` holds the output; regenerate it after changing a preset:
    `python -c "from hiu_tf.presets import write_preset_configs as w; w('training/configs')"`.
    """
    import os

    from hiu_tf.config import save_config

    paths = []
    for name in preset_names():
        path = os.path.join(directory, f"{name}.yaml")
        save_config(
            preset(name),
            path,
            header=f"Preset {name!r} (hiu_tf.presets). Generated by write_preset_configs;\n"
            "a test keeps it equal to the preset function.",
        )
        paths.append(path)
    return paths
