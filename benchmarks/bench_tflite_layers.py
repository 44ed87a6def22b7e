"""LiteRT latency of single layers: float32 vs int8, with and without XNNPACK (1 thread).

    python benchmarks/bench_tflite_layers.py
    python benchmarks/bench_tflite_layers.py --runs 200 --rounds 5 --only stem

A whole-model timing (`bench_infer.py`) says that an int8 export is slow, not
where. Each row here is one layer at the shapes of the `mobile` preset: the
project's own `Stem` and `ResidualBlock`, and plain Keras convolutions. Each is
converted to a float32 and to a full-integer int8 TFLite file (calibrated on
random inputs: latency does not depend on the calibration) and timed with
`ai_edge_litert` on one thread:

* fp32, fp32 without XNNPACK (LiteRT's builtin kernels: where the two are
  equal, XNNPACK did not take the op), and int8 (XNNPACK);
* in `--rounds` rounds that alternate the three, keeping each one's median
  over rounds, so that machine noise hits them alike;
* int8/fp32: below 1 where int8 pays off.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import statistics
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402
from _common import Progress, median_ms  # noqa: E402


def _layers() -> dict[str, list[tuple[str, object, tuple[int, int, int]]]]:
    """Groups of `(label, keras layer factory, input shape HWC)`."""
    import keras

    from hiu_tf.layers.residual_block import ResidualBlock
    from hiu_tf.layers.stem import Stem

    L = keras.layers

    def stem(k):
        return lambda: Stem(24, kernel_size=k, separable=True, activation="relu6")

    def block(kind):
        return lambda: ResidualBlock(32, block_type=kind, expansion=2, activation="relu6")

    return {
        "stem": [
            (f"Stem {k}x{k} separable, 3->12->24 @224", stem(k), (224, 224, 3)) for k in (7, 5, 3)
        ],
        "depthwise": [
            (
                f"DepthwiseConv2D {k}x{k} stride 2 @112x12",
                lambda k=k: L.DepthwiseConv2D(k, 2, padding="same"),
                (112, 112, 12),
            )
            for k in (7, 5, 3)
        ]
        + [
            (
                "DepthwiseConv2D 3x3 @56x64",
                lambda: L.DepthwiseConv2D(3, padding="same"),
                (56, 56, 64),
            ),
            ("Conv2D 7x7 stride 2, 3->12 @224", lambda: L.Conv2D(12, 7, 2, "same"), (224, 224, 3)),
            ("Conv2D 3x3 stride 2, 3->12 @224", lambda: L.Conv2D(12, 3, 2, "same"), (224, 224, 3)),
        ],
        "pointwise": [
            (f"Conv2D 1x1 {a}->{b} @56", lambda b=b: L.Conv2D(b, 1), (56, 56, a))
            for a, b in ((32, 64), (64, 32), (64, 64), (128, 128))
        ],
        "blocks": [
            (f"ResidualBlock {kind} @56x32", block(kind), (56, 56, 32))
            for kind in ("inverted", "bottleneck", "basic")
        ],
    }


def _convert(factory, shape) -> dict[str, bytes]:
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(0)
    inputs = keras.Input(shape, batch_size=1)
    model = keras.Model(inputs, factory()(inputs))
    rng = np.random.default_rng(0)
    calibration = [rng.random((1, *shape)).astype(np.float32) for _ in range(8)]
    out = {}
    for quant in ("fp32", "int8"):
        converter = tf.lite.TFLiteConverter.from_keras_model(model)
        if quant == "int8":
            converter.optimizations = [tf.lite.Optimize.DEFAULT]
            converter.representative_dataset = lambda: ([x] for x in calibration)
            converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        with contextlib.redirect_stdout(io.StringIO()):  # Keras prints the traced endpoint
            out[quant] = converter.convert()
    return out


def _interpreter(content: bytes, xnnpack: bool):
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    resolver = OpResolverType.AUTO if xnnpack else OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES
    interpreter = Interpreter(
        model_content=content, num_threads=1, experimental_op_resolver_type=resolver
    )
    interpreter.allocate_tensors()
    for detail in interpreter.get_input_details():
        x = np.random.default_rng(1).random(detail["shape"]).astype(np.float32)
        interpreter.set_tensor(detail["index"], x)
    return interpreter


def main(argv: list[str] | None = None) -> int:
    groups = _layers()
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=50, help="timed calls per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="alternating rounds per row")
    parser.add_argument("--only", nargs="+", choices=sorted(groups), help="groups to run")
    args = parser.parse_args(argv)
    if args.runs < 1 or args.rounds < 1:
        parser.error("--runs and --rounds must be >= 1")
    rows = [row for name in args.only or groups for row in groups[name]]
    progress = Progress(len(rows))
    results = []
    for label, factory, shape in rows:
        progress.show(label)
        files = _convert(factory, shape)
        variants = {
            "fp32": _interpreter(files["fp32"], True),
            "fp32 no XNNPACK": _interpreter(files["fp32"], False),
            "int8": _interpreter(files["int8"], True),
        }
        times = {key: [] for key in variants}
        for _ in range(args.rounds):
            for key, interpreter in variants.items():
                times[key].append(median_ms(interpreter.invoke, args.runs))
        results.append((label, {k: statistics.median(v) for k, v in times.items()}))
        progress.step(label)
    width = max(len(label) for label, _ in results)
    print(
        f"\nLiteRT, 1 thread, median ms per call ({args.runs} calls x {args.rounds} "
        "alternating rounds)"
    )
    header = f"{'layer':<{width}} {'fp32':>8} {'fp32 builtin':>13} {'int8':>8} {'int8/fp32':>10}"
    print(header)
    print("-" * len(header))
    for label, t in results:
        print(
            f"{label:<{width}} {t['fp32']:>8.3f} {t['fp32 no XNNPACK']:>13.3f} "
            f"{t['int8']:>8.3f} {t['int8'] / t['fp32']:>10.2f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
