"""The `--preset`, `--config` and `--set` options that every experiment command shares.

Order of application: the preset (or the defaults), then the YAML file, then
each `--set section.field=value` in the order given.
"""

from __future__ import annotations

import argparse


def add_config_arguments(
    parser: argparse.ArgumentParser,
    example: str = "model.num_stacks=2",
    preset: bool = True,
    config_default: str | None = None,
    config_help: str = "a YAML config applied over the preset",
) -> None:
    """Adds `--preset` (optional), `--config` and the repeatable `--set`.

    Args:
        parser: the command's parser.
        example: a `KEY=VALUE` shown in the `--set` help.
        preset: also add `--preset`.
        config_default: the `--config` default (a command's own base YAML).
        config_help: the `--config` help.
    """
    if preset:
        parser.add_argument("--preset", help="a named preset (default: the config defaults)")
    parser.add_argument("--config", default=config_default, help=config_help)
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help=f"override a config field, e.g. --set {example} (repeatable)",
    )


def resolve_config(args: argparse.Namespace, base=None):
    """Preset (or `base`, or the defaults) -> YAML file -> `--set` overrides.

    Args:
        args: parsed arguments with `config`, `overrides` and optionally `preset`.
        base: the `ExperimentConfig` to start from when no `--preset` is given.

    Returns:
        The resolved `hiu_tf.config.ExperimentConfig`.

    Raises:
        hiu_tf.config.ConfigError: an unknown preset, a bad file or a bad override.
    """
    from hiu_tf.config import ExperimentConfig, apply_overrides, load_config
    from hiu_tf.presets import preset

    name = getattr(args, "preset", None)
    cfg = preset(name) if name else (base if base is not None else ExperimentConfig())
    if args.config:
        cfg = load_config(args.config, base=cfg)
    return apply_overrides(cfg, args.overrides)


def add_synthetic_set_arguments(parser: argparse.ArgumentParser, train: int, heldout: int) -> None:
    """Adds `--train-samples` and `--heldout-samples` (the synthetic sets' sizes).

    Args:
        parser: the command's parser.
        train: the default training samples.
        heldout: the default held-out samples.
    """
    parser.add_argument(
        "--train-samples",
        type=int,
        default=train,
        help=f"synthetic training samples (default {train})",
    )
    parser.add_argument(
        "--heldout-samples",
        type=int,
        default=heldout,
        help=f"synthetic held-out samples (default {heldout})",
    )
