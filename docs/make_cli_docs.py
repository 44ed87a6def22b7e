"""Writes docs/cli/<command>.md, one page per command of `python -m hiu_tf`.

    python docs/make_cli_docs.py            # rewrite the pages
    python docs/make_cli_docs.py --check    # exit 1 if a page is out of date

Each page is an introduction and examples (below) plus the command's `--help`
text, taken from the same argparse parsers the CLI uses, so the pages cannot
drift from the code (`tests/docs_test.py` runs `--check`).
"""

from __future__ import annotations

import argparse
import importlib
import io
import os
import sys
from contextlib import redirect_stdout
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

INTRO: dict[str, tuple[str, list[str]]] = {
    "demo": (
        "The main job: synthetic data, a short training run, evaluation against the "
        "untrained model, TFLite export and predictions, gathered in one HTML report. "
        "Needs no MANO file and no dataset.",
        ["python -m hiu_tf demo", "python -m hiu_tf demo --minutes 3 --out outputs/quick"],
    ),
    "hand-model": (
        "Inspect a hand model (the open hand `open:right` / `open:left`, an official "
        "`MANO_*.pkl`, or the project's `.npz`) and convert MANO's pickle to `.npz`. "
        "Pickles are read without chumpy and without running pickled code.",
        [
            "python -m hiu_tf hand-model info open:right",
            "python -m hiu_tf hand-model info MANO_RIGHT.pkl --json",
            "python -m hiu_tf hand-model convert MANO_RIGHT.pkl mano_right.npz",
        ],
    ),
    "model-info": (
        "Parameters, FLOPs and output shapes of a preset or config, without training.",
        [
            "python -m hiu_tf model-info --preset paper-4stack",
            "python -m hiu_tf model-info --preset mobile --json",
        ],
    ),
    "data": (
        "Make synthetic TFRecords, convert a dataset (FreiHAND, RHD, STB, CMU Panoptic "
        "hands, a COCO-style hand set, a folder of unlabelled images) to TFRecords of the "
        "project's sample dict, or describe a folder of shards.",
        [
            "python -m hiu_tf data synth --out data/synth --count 10000 --seed 0",
            "python -m hiu_tf data convert --source freihand --root /data/FreiHAND_pub_v2 "
            "--out data/freihand",
            "python -m hiu_tf data info data/synth",
        ],
    ),
    "train": (
        "Train with `model.fit` into a run folder (`config.yaml`, `model.keras`, "
        "checkpoints, TensorBoard logs, `history.csv`). Re-running the same command "
        "resumes after a crash without losing finished epochs.",
        [
            "python -m hiu_tf train --config training/configs/tiny.yaml --out-dir runs/tiny",
            "python -m hiu_tf train --preset paper-4stack --set train.distribute=mirrored "
            "--set train.mixed_precision=mixed_float16 --out-dir runs/p4",
        ],
    ),
    "evaluate": (
        "Run a trained model over TFRecords and write `metrics.json` (2D PCK/AUC, mask "
        "IoU, 3D PCK with the hand3d protocol, PA-MPJPE) and PCK-curve PNGs; "
        "`--format freihand` also writes the official FreiHAND `pred.json`.",
        [
            "python -m hiu_tf evaluate --run runs/tiny --data data/heldout",
            "python -m hiu_tf evaluate --run runs/p4 --data data/freihand-eval --format freihand",
        ],
    ),
    "export": (
        "Export a run as a TF Serving SavedModel (image and encoded-bytes signatures, "
        "warm-up requests) or as TFLite (fp32, fp16, dynamic-range or int8). See "
        "`docs/export.md`.",
        [
            "python -m hiu_tf export saved-model --run runs/p4 --out exports/hiu/1",
            "python -m hiu_tf export tflite --run runs/mobile --quant int8 --out hiu.tflite",
        ],
    ),
    "predict": (
        "Run a Keras, SavedModel or TFLite model on images, folders or videos; writes "
        "overlay PNGs (skeleton, mask, shaded mesh) and a JSON of outputs per input. "
        "Unreadable files are reported and skipped.",
        [
            "python -m hiu_tf predict photo.jpg --model hiu.tflite --out predictions/",
            "python -m hiu_tf predict clip.mp4 --model exports/hiu/1 --out predictions/ "
            "--every 5 --left",
        ],
    ),
    "ablate": (
        "The paper's ablations (Tables 2, 4, 5 and Fig. 10) at small scale on synthetic "
        "data, with fixed budgets and seeds; prints tables in the paper's layout.",
        [
            "python -m hiu_tf ablate --study tam --seeds 2",
            "python -m hiu_tf ablate --study ssl --budget-minutes 5",
        ],
    ),
}


def _help_texts(command: str) -> list[tuple[str, str]]:
    """`(title, --help text)` of a command and of each of its sub-commands."""
    from hiu_tf.__main__ import COMMANDS

    module, help_text = COMMANDS[command]
    parser = argparse.ArgumentParser(prog=f"python -m hiu_tf {command}", description=help_text)
    importlib.import_module(module).configure(parser)
    texts = [(f"python -m hiu_tf {command}", parser.format_help())]
    for action in parser._actions:  # sub-commands (data synth, export tflite, ...)
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                texts.append((f"python -m hiu_tf {command} {name}", sub.format_help()))
    return texts


def render(command: str) -> str:
    """The Markdown page of one command."""
    intro, examples = INTRO[command]
    lines = [f"# `python -m hiu_tf {command}`", "", intro, "", "## Examples", ""]
    lines += [f"    {e}" for e in examples]
    lines += ["", "## Options", ""]
    for title, text in _help_texts(command):
        lines += [f"### `{title}`", "", "```text", text.rstrip(), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare instead of writing")
    parser.add_argument("--out", default=str(ROOT / "docs" / "cli"), help="output folder")
    args = parser.parse_args(argv)
    os.environ["COLUMNS"] = "88"  # argparse wraps help text to the terminal width
    from hiu_tf.__main__ import COMMANDS

    missing = sorted(set(COMMANDS) - set(INTRO))
    if missing:
        print(f"no introduction for {missing}: add them to INTRO")
        return 1
    stale = []
    os.makedirs(args.out, exist_ok=True)
    for command in COMMANDS:
        with redirect_stdout(io.StringIO()):
            page = render(command)
        path = os.path.join(args.out, f"{command}.md")
        old = Path(path).read_text(encoding="utf-8") if os.path.exists(path) else None
        if args.check:
            if old != page:
                stale.append(path)
        elif old != page:
            Path(path).write_text(page, encoding="utf-8")
            print(f"wrote {path}")
    if stale:
        print("out of date (run python docs/make_cli_docs.py): " + ", ".join(stale))
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
