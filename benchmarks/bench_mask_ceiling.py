"""The mask IoU that a perfect low-resolution mask can reach once upsampled to the crop.

Usage (from the repository root):

    python benchmarks/bench_mask_ceiling.py runs/bench_learning/data/64px-s0/heldout --sizes 16,32

For each side `s` of `--sizes` it averages every labelled mask of the folder over
blocks of `S / s` pixels (the covered fraction: the soft target of `mask_small`
and of the `mask_fine` term) and, for the "thresholded" row, rounds that at 0.5;
then it upsamples the map bilinearly to the crop, as the evaluation upsamples
the model's logits, thresholds it at 0.5 and prints the mean IoU with the
full-resolution mask. That is the best a model whose mask has side `s` can score.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def ceiling_iou(masks: np.ndarray, size: int, soft: bool = True) -> float:
    """Mean IoU of `[N, S, S]` {0, 1} masks with their own perfect `size` x `size` maps."""
    import tensorflow as tf

    from hiu_tf import metrics

    masks = np.asarray(masks, np.float32)
    n, full = masks.shape[0], masks.shape[1]
    if masks.ndim != 3 or masks.shape[2] != full or full % size:
        raise ValueError(
            f"masks must be [N, S, S] with S a multiple of size. Received: {masks.shape}, {size}"
        )
    f = full // size
    small = masks.reshape(n, size, f, size, f).mean(axis=(2, 4))
    if not soft:
        small = (small >= 0.5).astype(np.float32)
    up = tf.image.resize(small[..., None], (full, full), "bilinear").numpy()[..., 0]
    return float(np.mean(metrics.mask_iou(up > 0.5, masks)))


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("data", help="TFRecord folder")
    p.add_argument("--sizes", default="16,32", help="map sides, comma-separated (default 16,32)")
    args = p.parse_args(argv)
    try:
        sizes = [int(s) for s in args.sizes.split(",")]
    except ValueError:
        p.error(f"--sizes must be integers. Received: {args.sizes!r}")
    from hiu_tf.data import tfrecord

    samples = [s for s in tfrecord.read_tfrecords(args.data).as_numpy_iterator() if s["has_mask"]]
    if not samples:
        p.error(f"no sample of {args.data} has a mask")
    masks = np.stack([s["mask"] for s in samples])
    print(f"mask IoU ceiling of {len(samples)} masks of {masks.shape[1]} px ({args.data})")
    print(f"{'side':>6}{'soft':>10}{'thresholded':>14}")
    for size in sizes:
        soft, hard = ceiling_iou(masks, size), ceiling_iou(masks, size, soft=False)
        print(f"{size:>6}{soft:>10.3f}{hard:>14.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
