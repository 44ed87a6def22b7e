"""The one command line: `python -m hiu_tf COMMAND ...`.

Thin dispatch: each command lives in `hiu_tf/cli/<module>.py` with
`configure(parser)` and `run(args) -> int`, and is imported only when used,
so `python -m hiu_tf --help` does not import TensorFlow.

A command prints its own progress, results and errors only: `cli` first hides
TensorFlow's start-up and log lines (`hiu_tf.cli.quiet`), unless `-v` /
`--verbose` (before or after the command) or `HIU_VERBOSE=1` asks for them.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import logging
import os
import sys

from hiu_tf.errors import UserError
from mano_tf.hand_model import HandModelError, UnsafePickleError

# command -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("hiu_tf.cli.demo", "run the main job end to end on the open hand model"),
    "hand-model": ("hiu_tf.cli.hand_model", "inspect or convert hand model files"),
    "model-info": ("hiu_tf.cli.model_info", "parameters, FLOPs and outputs of a preset"),
    "data": ("hiu_tf.cli.data", "make synthetic data, convert datasets to TFRecords"),
    "train": ("hiu_tf.cli.train", "train a model with model.fit"),
    "evaluate": ("hiu_tf.cli.evaluate", "evaluate a run on a dataset"),
    "export": ("hiu_tf.cli.export", "export a run to SavedModel or TFLite"),
    "predict": ("hiu_tf.cli.predict", "run a model on images and draw the results"),
    "ablate": ("hiu_tf.cli.ablate", "rerun the paper's ablations at small scale"),
}


def _available() -> dict[str, tuple[str, str]]:
    return {
        name: spec
        for name, spec in COMMANDS.items()
        if importlib.util.find_spec(spec[0]) is not None
    }


def main(argv: list[str] | None = None, prog: str = "python -m hiu_tf") -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    parser = argparse.ArgumentParser(
        prog=prog,
        description="HIU-DMTL hand image understanding in Keras/TensorFlow.",
    )
    verbose_help = "log debug messages and show TensorFlow's own log lines (also: HIU_VERBOSE=1)"
    parser.add_argument("-v", "--verbose", action="store_true", help=verbose_help)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    # Only the chosen command's module is imported.
    chosen = next((a for a in argv if not a.startswith("-")), None)
    for name, (module, help_text) in commands.items():
        p = sub.add_parser(name, help=help_text, description=help_text)
        if name == chosen:
            importlib.import_module(module).configure(p)
            # Also accepted after the command; SUPPRESS keeps a flag given before it.
            p.add_argument(
                "-v", "--verbose", action="store_true", default=argparse.SUPPRESS, help=verbose_help
            )
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    from hiu_tf.cli.quiet import wants_verbose

    verbose = bool(args.verbose or wants_verbose([]))
    configured = bool(logging.getLogger().handlers)  # by a host (pytest): left alone
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    if not verbose and not configured:  # our INFO lines only (quiet.OwnInfoFilter)
        from hiu_tf.cli.quiet import OwnInfoFilter

        for handler in logging.getLogger().handlers:
            handler.addFilter(OwnInfoFilter())
    module = importlib.import_module(commands[args.command][0])
    try:
        return int(module.run(args) or 0)
    except (UserError, FileNotFoundError, HandModelError, UnsafePickleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def cli() -> int:
    """`python -m hiu_tf` and the `hiu` console script: quiets TensorFlow unless asked, then `main`.

    The usage lines name the command the user typed: `hiu` when run as the console
    script (pyproject.toml's `[project.scripts]`), `python -m hiu_tf` otherwise.
    """
    from hiu_tf.cli import quiet

    quiet.install(sys.argv[1:])
    script = os.path.splitext(os.path.basename(sys.argv[0]))[0] if sys.argv else ""
    return main(prog="hiu" if script == "hiu" else "python -m hiu_tf")


if __name__ == "__main__":
    sys.exit(cli())
