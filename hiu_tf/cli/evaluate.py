"""`python -m hiu_tf evaluate`: metrics, PCK plots and FreiHAND predictions of a run.

    python -m hiu_tf evaluate --run runs/tiny --data data/synth-val
    python -m hiu_tf evaluate --run runs/paper --data data/freihand-eval --format freihand

Writes `metrics.json` (with the number of samples behind each metric) and
PCK-curve PNGs into `--out` (default `runs/NAME/eval/<data name>/`);
`--format freihand` adds `pred.json` for the official FreiHAND evaluation.
See `training.evaluate` for the protocols.
"""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--run", required=True, help="run folder written by train (runs/NAME)")
    parser.add_argument(
        "--data", required=True, help="TFRecords: a folder of shards, a glob pattern or a file"
    )
    parser.add_argument(
        "--out",
        metavar="DIR",
        help="output folder (default: <run>/eval/<data name>/)",
        default=None,
    )
    parser.add_argument(
        "--format",
        dest="output_format",
        choices=("freihand",),
        default=None,
        help="also write predictions for an official benchmark: freihand -> pred.json",
    )
    parser.add_argument(
        "--freihand-gt",
        default=None,
        metavar="DIR",
        help="with --format freihand: folder with evaluation_xyz.json and "
        "evaluation_verts.json, to score pred.json here as well",
    )
    parser.add_argument(
        "--batch-size", type=int, default=32, metavar="N", help="images per batch (default 32)"
    )
    parser.add_argument(
        "--max-samples", type=int, default=None, metavar="N", help="evaluate the first N records"
    )
    parser.add_argument(
        "--pck-2d-max-px",
        type=float,
        default=30.0,
        metavar="PX",
        help="2D PCK thresholds run from 0 to this many input pixels (default 30, as hand3d)",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def _fmt(value, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def run(args: argparse.Namespace) -> int:
    from training.evaluate import evaluate_run

    result = evaluate_run(
        args.run,
        args.data,
        out_dir=args.out,
        output_format=args.output_format,
        batch_size=args.batch_size,
        max_samples=args.max_samples,
        pck_2d_max_px=args.pck_2d_max_px,
        freihand_gt=args.freihand_gt,
        verbose=0 if args.quiet else 1,
    )
    m = result.metrics
    print(f"evaluated {m['num_samples']} samples of {m['data']} with {m['run']}")
    for name, section in m.get("keypoints_2d", {}).items():
        print(
            f"  2D PCK ({name}): AUC {_fmt(section['auc'])} over 0-{section['thresholds_px'][-1]:g} px, "
            f"mean error {_fmt(section['epe_mean_px'], 2)} px  (n={section['count']})"
        )
    if "keypoints_3d" in m:
        s = m["keypoints_3d"]
        print(
            f"  3D PCK: AUC 20-50 mm {_fmt(s['auc_20_50'])}, MPJPE {_fmt(s['mpjpe_mm'], 2)} mm, "
            f"PA-MPJPE {_fmt(s['pa_mpjpe_mm'], 2)} mm  (n={s['count']})"
        )
    if "mask" in m:
        s = m["mask"]
        print(f"  mask: mean IoU {_fmt(s['mean_iou'])}  (n={s['count']})")
    if "freihand" in m:
        s = m["freihand"]
        print(
            f"  FreiHAND: PA-MPJPE {_fmt(1000 * s['pa_mpjpe'], 2)} mm, "
            f"F@5 {_fmt(s['f5'])}, F@15 {_fmt(s['f15'])}  (n={s['count']})"
        )
    for name, reason in m.get("skipped", {}).items():
        print(f"  skipped {name}: {reason}")
    for path in result.files:
        print(f"wrote {path}")
    return 0
