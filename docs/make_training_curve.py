"""Draws `docs/training_curve.png`: the loss terms of a short CPU run of the `tiny` preset.

Usage (from the repository root):

    python docs/make_training_curve.py                         # trains, then plots
    python docs/make_training_curve.py --hand-model stick.npz --epochs 12 --steps-per-epoch 10
    python docs/make_training_curve.py --history runs/tiny/history.csv --out /tmp/curve.png

Training: `training.train.train` on the `tiny` preset (64 x 64 input, 2 stacks of
width 16) with on-the-fly synthetic data (a `synthetic` source without a path:
`--samples` samples are rendered into the run folder's cache), into `--run-dir`
(default `runs/training-curve`, started afresh). Short epochs give points along
the run: `history.csv` has one row per epoch, the epoch means of the total loss
and of every unweighted term (`hiu_tf.losses`), plotted at the optimizer step
that ends the epoch, on a log scale, with the learning rate below.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def read_history(path: str) -> list[dict[str, float]]:
    """Rows of a `history.csv` (Keras CSVLogger) as dicts of floats."""
    with open(path, encoding="utf-8", newline="") as f:
        return [
            {k: float(v) for k, v in row.items() if v not in ("", "NA")}
            for row in csv.DictReader(f)
        ]


def plot(rows: list[dict[str, float]], steps_per_epoch: int, out: str, title: str) -> None:
    """Loss terms (log scale) and the learning rate against the optimizer step."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    steps = [(int(r["epoch"]) + 1) * steps_per_epoch for r in rows]
    terms = sorted(k for k in rows[0] if k.startswith("loss_"))
    fig = Figure(figsize=(9, 6.5), dpi=110, layout="constrained")
    ax, lr_ax = fig.subplots(2, 1, sharex=True, height_ratios=(3, 1))
    ax.plot(steps, [r["loss"] for r in rows], color="black", lw=2.5, label="total (weighted)")
    cmap = matplotlib.colormaps["tab10"]
    for i, term in enumerate(terms):
        values = [max(r[term], 1e-8) for r in rows]
        ax.plot(steps, values, lw=1.5, color=cmap(i % 10), label=term[len("loss_") :])
    ax.set_yscale("log")
    ax.set_ylabel("epoch mean (unweighted terms)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(ncol=3, fontsize=8, loc="lower left")
    ax.set_title(title, fontsize=10)
    if "learning_rate" in rows[0]:
        lr_ax.plot(steps, [r["learning_rate"] for r in rows], color="tab:blue")
    lr_ax.set_ylabel("learning rate")
    lr_ax.set_xlabel("optimizer step")
    lr_ax.grid(True, alpha=0.3)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", default="docs/training_curve.png", help="output PNG")
    parser.add_argument("--history", help="plot this history.csv instead of training")
    parser.add_argument("--run-dir", default="runs/training-curve", help="run folder")
    parser.add_argument("--epochs", type=int, default=15, help="epochs (points on the curve)")
    parser.add_argument("--steps-per-epoch", type=int, default=10, help="steps per epoch")
    parser.add_argument("--batch-size", type=int, default=8, help="batch size")
    parser.add_argument("--samples", type=int, default=256, help="synthetic samples rendered")
    parser.add_argument("--hand-model", help="override model.hand_model (default: the preset's)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    args = parser.parse_args(argv)

    from hiu_tf.config import apply_overrides, load_config
    from hiu_tf.presets import preset

    if args.history:
        rows = read_history(args.history)
        config_path = Path(args.history).with_name("config.yaml")
        config = load_config(config_path) if config_path.exists() else preset("tiny")
        steps_per_epoch = config.train.steps_per_epoch or args.steps_per_epoch
    else:
        import logging

        from training.train import train

        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
        overrides = [f"data.batch_size={args.batch_size}", *args.overrides]
        if args.hand_model:
            overrides.append(f"model.hand_model={args.hand_model}")
        config = apply_overrides(preset("tiny"), overrides)
        result = train(
            config,
            args.run_dir,
            resume=False,
            epochs=args.epochs,
            steps_per_epoch=args.steps_per_epoch,
            synthetic_samples=args.samples,
            verbose=2,
        )
        config = result.config
        steps_per_epoch = result.steps_per_epoch
        rows = read_history(str(result.paths.history))
    m, t = config.model, config.train
    hand = Path(m.hand_model).stem if not m.hand_model.startswith("open:") else m.hand_model
    title = (
        f"{config.name}: {m.num_stacks} stacks x width {m.width}, {m.input_size}px, "
        f"batch {config.data.batch_size}, AdamW peak lr {t.learning_rate:g}, "
        f"synthetic data, hand model {hand}"
    )
    plot(rows, steps_per_epoch, args.out, title)
    print(f"wrote {args.out} ({len(rows)} epochs x {steps_per_epoch} steps)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
