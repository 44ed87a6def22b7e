"""Heat-map decoders side by side: accuracy, and agreement between Keras and an int8 trunk.

    python benchmarks/bench_decoders.py [--preset mobile] [--size 256] [--steps 300]
        [--hands 64] [--seeds 0 1] [--sigmas 1.5 2 2.5 3] [--calibration 128 512]
    python benchmarks/bench_decoders.py --latency [--size 224] [--sigmas 2]

For each seed, trains the preset the way the export tests' fixture does
(`tests/export/fixtures._fit`: `--steps` Adam steps on `--hands` drawn 2D
hands, by default 300 on 64, then BN statistics from (at most 256 of) those
images), exports it to an int8 TFLite file once per `--calibration` count N
(calibrated on N other drawn hands; the smaller sets are the first images of
the largest) and reads the last stack's heat-maps of 32 unseen drawn hands
twice: from Keras, and from the int8 file cut after the heat-map output conv
(the float heat-maps that the exported graph decodes). Each decoder of
`hiu_tf.layers.soft_argmax` then reads keypoints off both:

* "peak": the arg max refined by a Gaussian fit along x and y (the default
  before "dark");
* "dark" at each `--sigmas` blur: DARK's decoding (the default, sigma 2);
* "mean": the paper's Eq. 1.

Columns: the keypoints from the int8 heat-maps against those from Keras'
(median, share within 3 px, largest), Keras' and int8's keypoints against the
drawn ones (median, mean), and whether int8 meets the export's keypoint goal
(`tests/export/fixtures.INT8_KEYPOINT_GOAL`: most keypoints within 3 px of
Keras', and no more than a small rise of the mean error against the drawn
ones): robustness, accuracy and what int8 costs of it on the same heat-maps, in
one run.

`--latency` instead times each decoder alone as a float32 TFLite graph on one
`[1, size / 4, size / 4, 21]` map (LiteRT, 1 and 2 threads; median of
`--runs` calls, best of `LATENCY_ROUNDS` rounds that go through every decoder
in turn): what keypoint decoding adds to an export's float tail.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import numpy as np  # noqa: E402


def int8_heatmaps(path: str, images: np.ndarray) -> np.ndarray:
    """The float heat-maps `[N, h, h, 21]` of an int8 export (the graph cut after the
    last stack's heat-map output conv), one image at a time."""
    from ai_edge_litert.tools import flatbuffer_utils
    from bench_infer import _cut_interpreter

    from export import tflite

    with open(path, "rb") as f:
        content = f.read()
    model = flatbuffer_utils.convert_bytearray_to_object(bytearray(content))
    sg = model.subgraphs[0]
    # The output conv of the heat-map decoder, kept float32 (`tflite._HEATMAP_OUTPUT`).
    found = [
        op.outputs[0]
        for op in sg.operators
        if tflite._HEATMAP_OUTPUT.search(sg.tensors[op.outputs[0]].name.decode())
        and sg.tensors[op.outputs[0]].type == 0  # float32
    ]
    if not found:
        raise RuntimeError(f"no float heat-map output conv in {path}")
    interpreter = _cut_interpreter(content, found[-1:])
    source = interpreter.get_input_details()[0]["index"]
    target = interpreter.get_output_details()[0]["index"]
    maps = []
    for image in images:
        interpreter.set_tensor(source, image[None].astype(np.float32))
        interpreter.invoke()
        maps.append(interpreter.get_tensor(target)[0])
    return np.stack(maps)


def decoders(sigmas) -> dict:
    """name -> function of `[N, h, h, K]` heat-maps giving `[N, K, 2]` input pixels."""
    from hiu_tf.layers import soft_argmax
    from hiu_tf.model import STRIDE

    scale, offset = STRIDE, STRIDE / 2
    table = {"peak": lambda maps: soft_argmax.peak_2d(maps, scale, offset)}
    for sigma in sigmas:
        table[f"dark sigma {sigma:g}"] = lambda maps, s=sigma: soft_argmax.dark_2d(
            maps, scale, offset, s
        )
    table["mean"] = lambda maps: soft_argmax.soft_argmax_2d(maps, scale, offset)
    return table


LATENCY_ROUNDS = 3


def latency(size: int, sigmas, runs: int) -> dict:
    """name -> (1-thread ms, 2-thread ms) of each decoder's TFLite graph (`--latency`)."""
    import tensorflow as tf
    from _common import best_of_rounds, median_ms
    from ai_edge_litert.interpreter import Interpreter

    from hiu_tf.model import STRIDE

    h = size // STRIDE
    maps = np.random.default_rng(0).uniform(0.0, 0.1, (1, h, h, 21)).astype(np.float32)
    calls = {}
    for name, decode in decoders(sigmas).items():
        fn = tf.function(decode, input_signature=[tf.TensorSpec(maps.shape, tf.float32)])
        converter = tf.lite.TFLiteConverter.from_concrete_functions(
            [fn.get_concrete_function()], fn
        )
        content = converter.convert()
        for threads in (1, 2):
            interpreter = Interpreter(model_content=content, num_threads=threads)
            interpreter.allocate_tensors()
            interpreter.set_tensor(interpreter.get_input_details()[0]["index"], maps)
            calls[name, threads] = interpreter.invoke
    measures = {
        key: lambda call=call: median_ms(call, runs, warmup=20) for key, call in calls.items()
    }
    best = best_of_rounds(measures, LATENCY_ROUNDS)
    return {name: (best[name, 1], best[name, 2]) for name in decoders(sigmas)}


def measure(
    preset: str,
    size: int,
    steps: int,
    seed: int,
    sigmas,
    tmp: str,
    hands: int = 64,
    calibrations=(128,),
) -> dict:
    """One trained model, exported once per calibration count: `{(count, decoder):
    (int8 vs Keras: median, within 3 px, max; Keras vs drawn: median, mean; int8 vs
    drawn: median, mean; whether int8 meets the goal)}`, pixels."""
    from export import tflite
    from tests.export import fixtures

    cfg, model = fixtures.trained_phone_model(preset, seed, steps, hands, size)
    unseen = fixtures.drawn_hands(size, 32, 100 + seed)
    images = np.stack([x["image"] for x in unseen]).astype(np.float32)
    truth = np.stack([x["keypoints_px"] for x in unseen])
    stacks, _ = model.backbone(images / 255.0, training=False)
    keras_maps = np.asarray(stacks[-1]["heatmaps"], np.float32)
    # One draw of calibration images: a smaller count uses the first ones of the larger.
    pool = fixtures.drawn_hands(size, max(calibrations), 7)
    table = decoders(sigmas)
    refs = {name: np.asarray(decode(keras_maps)) for name, decode in table.items()}
    keras_errors = {name: np.linalg.norm(ref - truth, axis=-1) for name, ref in refs.items()}
    rows = {}
    for count in calibrations:
        rep = np.stack([x["image"] for x in pool[:count]]).astype(np.float32)
        path = os.path.join(tmp, f"{preset}_{seed}_{count}_int8.tflite")
        tflite.export_tflite(cfg, model, path, "int8", representative=rep)
        int8_maps = int8_heatmaps(path, images)
        for name, decode in table.items():
            got = np.asarray(decode(int8_maps))
            parity = fixtures.int8_keypoint_parity(got, refs[name], truth)
            e = keras_errors[name]
            e8 = np.linalg.norm(got - truth, axis=-1)
            rows[count, name] = (
                parity["median_px"],
                parity["within_3px"],
                parity["max_px"],
                float(np.median(e)),
                float(e.mean()),
                float(np.median(e8)),
                float(e8.mean()),
                parity["meets_goal"],
            )
    return rows


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--preset", default="mobile")
    parser.add_argument("--size", type=int, help="input size, pixels (default 256; --latency: 224)")
    parser.add_argument("--steps", type=int, default=300)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument(
        "--hands", type=int, default=64, help="drawn hands to train on (the fixture's: 64)"
    )
    parser.add_argument(
        "--sigmas", type=float, nargs="+", default=[1.5, 2.0, 2.5, 3.0], help="DARK blurs"
    )
    parser.add_argument(
        "--calibration",
        type=int,
        nargs="+",
        default=[128],
        help="int8 calibration images (one export per count; the tests' fixtures use 128)",
    )
    parser.add_argument(
        "--latency", action="store_true", help="time each decoder's TFLite graph instead"
    )
    parser.add_argument("--runs", type=int, default=300, help="--latency: calls per median")
    args = parser.parse_args(argv)
    if any(not s >= 0 for s in args.sigmas):
        parser.error(f"--sigmas must be >= 0. Received: {args.sigmas}")
    if args.runs < 1:
        parser.error(f"--runs must be >= 1. Received: {args.runs}")
    if args.latency:
        size = args.size or 224
        print(f"\nDecoder latency, TFLite fp32, one {size // 4}x{size // 4}x21 map, ms")
        print("| decoder | 1 thread | 2 threads |\n|---|---|---|")
        for name, (one, two) in latency(size, args.sigmas, args.runs).items():
            print(f"| {name} | {one:.3f} | {two:.3f} |")
        return
    if any(n < 1 for n in args.calibration + [args.hands, args.steps]):
        parser.error("--calibration, --hands and --steps must be >= 1")
    args.size = args.size or 256
    results = []
    with tempfile.TemporaryDirectory(prefix="bench_decoders_") as tmp:
        for seed in args.seeds:
            print(
                f"training {args.preset} @{args.size}, seed {seed} ...", file=sys.stderr, flush=True
            )
            rows = measure(
                args.preset,
                args.size,
                args.steps,
                seed,
                args.sigmas,
                tmp,
                args.hands,
                args.calibration,
            )
            results.append((seed, rows))
    print(
        f"\n{args.preset} at {args.size}x{args.size}, {args.steps} steps on {args.hands} drawn "
        "hands; 32 unseen ones (672 keypoints per seed); int8 calibrated on N other drawn hands"
    )
    print(
        "| seed | N | decoder | int8 vs Keras: median / within 3 px / max (px) "
        "| Keras vs drawn: median / mean (px) | int8 vs drawn: median / mean (px) | goal |"
    )
    print("|---|---|---|---|---|---|---|")
    for seed, rows in results:
        for (count, name), row in rows.items():
            median, within, worst, t_median, t_mean, q_median, q_mean, meets = row
            print(
                f"| {seed} | {count} | {name} | {median:.2f} / {within:.1%} / {worst:.1f} "
                f"| {t_median:.2f} / {t_mean:.2f} | {q_median:.2f} / {q_mean:.2f} "
                f"| {'met' if meets else 'missed'} |"
            )
    from tests.export import fixtures

    goal = fixtures.INT8_KEYPOINT_GOAL
    print(
        f"goal (tests/export/fixtures.INT8_KEYPOINT_GOAL): >= {goal['within_3px']:.0%} within "
        f"3 px of Keras, median <= {goal['median_px']:g} px, int8's mean error against the "
        f"drawn keypoints at most {goal['mean_error_rise_px']:g} px above Keras'"
    )


if __name__ == "__main__":
    main()
