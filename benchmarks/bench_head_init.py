"""Accuracy after brief training, and int8 parity, for two starts of the task decoders' output convs.

    python benchmarks/bench_head_init.py [--preset tiny] [--size 64] [--steps 300] [--seeds 0 1]
        [--quant int8 fp16] [--recalibrate]

For each seed, builds the preset twice: with the task decoders' 1x1 output
convs (`TaskDecoder.predict`: heat-maps, mask, POF) started as they are now
(normal, std 1e-3, bias 0) and with Keras' default Glorot-uniform start (the
project's start before that one). Each is trained the way the export tests'
fixture is (`tests/export/fixtures._fit`: Adam with cosine decay, heat-map MSE
x 100 and mask BCE, on 64 drawn 2D hands) and then measured on 32 unseen drawn
hands: the median distance of the heat-map keypoints (`keypoints_px`) to the
drawn ones, the mask IoU against the drawn mask, the median heat-map peak, and
for each `--quant` the TFLite export against Keras (keypoints: median, share
within 3 px, largest; mask IoU: smallest), calibrated on 128 other drawn hands.

Both starts see the same data, seed and steps, one after the other in one run.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

STARTS = ("small", "glorot")


def output_convs(model) -> list:
    """The task decoders' 1x1 output convs (`TaskDecoder.predict`) of a built model."""
    return [
        layer
        for layer in model._flatten_layers(include_self=False)
        if layer.name == "predict" and "_decoder" in layer.path
    ]


def _model(preset: str, size: int, start: str, seed: int):
    import keras

    from hiu_tf.model import build_model
    from tests.export import fixtures

    cfg = fixtures.export_config(fixtures.hand_model_spec(""), size, preset)
    keras.utils.set_random_seed(seed)
    model = build_model(cfg.model)
    if start == "glorot":
        init = keras.initializers.GlorotUniform(seed=seed)
        for layer in output_convs(model):
            layer.kernel.assign(init(layer.kernel.shape))
    return cfg, model


def measure(
    preset: str, size: int, steps: int, seed: int, start: str, quants, tmp: str, recalibrate: bool
) -> dict:
    """One model: trained, measured against the drawn truth, exported and compared."""
    from export import graph, tflite
    from tests.export import fixtures

    cfg, model = _model(preset, size, start, seed)
    fixtures._fit(model, fixtures.drawn_hands(size, 64, seed), steps, seed, recalibrate=recalibrate)
    unseen = fixtures.drawn_hands(size, 32, 100 + seed)
    images = np.stack([x["image"] for x in unseen]).astype(np.float32)
    ref = {k: np.asarray(v) for k, v in graph.forward(model, images).items()}
    truth = np.stack([x["keypoints_px"] for x in unseen])
    row = {
        "truth_px": float(np.median(np.linalg.norm(ref["keypoints_px"] - truth, axis=-1))),
        "truth_iou": float(
            np.mean(
                [fixtures.mask_iou(m, x["mask"]) for m, x in zip(ref["mask"], unseen, strict=True)]
            )
        ),
        "peak": float(np.median(ref["keypoints_score"])),
    }
    rep = np.stack([x["image"] for x in fixtures.drawn_hands(size, 128, 7)]).astype(np.float32)
    for quant in quants:
        path = os.path.join(tmp, f"{preset}_{start}_{seed}_{quant}.tflite")
        tflite.export_tflite(cfg, model, path, quant, representative=rep)
        got = tflite.TFLiteRunner(path)(images)
        d = np.linalg.norm(got["keypoints_px"] - ref["keypoints_px"], axis=-1)
        ious = [fixtures.mask_iou(a, b) for a, b in zip(got["mask"], ref["mask"], strict=True)]
        row[quant] = (float(np.median(d)), float(np.mean(d <= 3.0)), float(d.max()), min(ious))
    return row


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="tiny")
    parser.add_argument("--size", type=int, default=64, help="input size (pixels)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--recalibrate",
        action="store_true",
        help="set BN statistics from the training images after fitting (as the mobile test does)",
    )
    parser.add_argument("--quant", nargs="*", default=["int8"], help="TFLite exports to compare")
    args = parser.parse_args(argv)
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_head_init_") as tmp:
        for seed in args.seeds:
            for start in STARTS:
                print(
                    f"training {args.preset} @{args.size}, seed {seed}, start {start} ...",
                    file=sys.stderr,
                    flush=True,
                )
                row = measure(
                    args.preset,
                    args.size,
                    args.steps,
                    seed,
                    start,
                    args.quant,
                    tmp,
                    args.recalibrate,
                )
                rows.append((seed, start, row))
    print(
        f"\n{args.preset} at {args.size}x{args.size}, {args.steps} steps on 64 drawn hands; "
        "32 unseen ones"
    )
    head = "| seed | start | keypoints vs drawn (median px) | mask IoU vs drawn | peak |"
    sep = "|---|---|---|---|---|"
    for quant in args.quant:
        head += f" {quant} vs Keras: median / within 3 px / max (px), min IoU |"
        sep += "---|"
    print(head)
    print(sep)
    for seed, start, row in rows:
        line = f"| {seed} | {start} | {row['truth_px']:.1f} | {row['truth_iou']:.2f} | {row['peak']:.2f} |"
        for quant in args.quant:
            median, within, worst, iou = row[quant]
            line += f" {median:.2f} / {within:.1%} / {worst:.1f}, {iou:.3f} |"
        print(line)


if __name__ == "__main__":
    main()
