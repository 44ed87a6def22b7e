"""Throughput of the ManoLayer forward pass (and forward + backward) on CPU.

Usage (from the repository root):

    python benchmarks/bench_mano.py                 # batch 1, 64, 1024
    python benchmarks/bench_mano.py --quick         # batch 1 and 64, short timings
    python benchmarks/bench_mano.py --hand-model MANO_RIGHT.pkl

Each row is one (execution mode, batch size, pass): `eager` calls the layer
directly, `tf.function` traces it into a graph, `XLA` compiles that graph with
`jit_compile=True`. "fwd+bwd" also takes the gradient of the summed vertices
and joints with respect to pose and betas. Throughput is hands per second
after warm-up (tracing and compilation excluded), over at least `--min-time`
seconds. GFLOP/s uses the analytic per-hand FLOP count printed above the
table (a multiply-add is 2 FLOPs; transcendental functions count 1).

The hand model is, in order: `--hand-model PATH`, the project's open hand
model when `mano_tf.open_hand` is available, or a random model of MANO's
size (778 vertices, 1538 faces).
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
from pathlib import Path

from _common import Progress, time_per_call

NUM_JOINTS = 16


def flop_terms(num_vertices: int, num_betas: int = 10, num_joints: int = NUM_JOINTS) -> list:
    """Per-hand FLOPs of each step of the forward pass and of its backward pass.

    The backward pass only needs gradients with respect to pose and betas: a
    product with a constant model matrix costs about its forward once more (one
    gradient), a product of two variable operands about twice (two gradients).

    Args:
        num_vertices: V.
        num_betas: S.
        num_joints: J (16 for MANO).

    Returns:
        A list of `(step, forward FLOPs, backward FLOPs)`.
    """
    v, s, j = num_vertices, num_betas, num_joints
    p = 9 * (j - 1)
    # Rodrigues per joint: |v|^2 (5), sin/cos/divisions for a, b (10), K @ K (45),
    # a K and b K^2 (18), I + aK + bK^2 (18).
    rodrigues = 96 * j
    # Chain per non-root joint: R_p @ R_j (45), R_p @ t_j + t_p (18), bone vector (3);
    # per joint: A_j translation t - R J (18).
    chain = 66 * (j - 1) + 18 * j
    return [
        ("hands_mean add", 3 * (j - 1), 0),
        ("shape blend  v_t + S.beta", 2 * 3 * v * s + 3 * v, 2 * 3 * v * s),
        ("joint regression  J.v", 2 * j * v * 3, 2 * j * v * 3),
        ("Rodrigues", rodrigues, 2 * rodrigues),
        ("pose blend  P.(R-I)", p + 2 * 3 * v * p + 3 * v, 2 * 3 * v * p),
        ("kinematic chain", chain, 2 * chain),
        ("skinning blend  W.A", 2 * v * j * 12, 2 * v * j * 12),
        ("skinning apply  T.v", 18 * v, 2 * 18 * v),
    ]


def _random_hand_model(num_vertices: int = 778, num_faces: int = 1538):
    """A random model of MANO's size (used only when no other model is available)."""
    import numpy as np

    from mano_tf.hand_model import MANO_PARENTS, MANO_TIP_VERTEX_IDS, HandModel

    rng = np.random.default_rng(0)
    weights = rng.random((num_vertices, NUM_JOINTS)) ** 4
    regressor = rng.random((NUM_JOINTS, num_vertices))
    return HandModel(
        v_template=rng.normal(scale=0.03, size=(num_vertices, 3)),
        faces=rng.integers(0, num_vertices, size=(num_faces, 3)),
        shapedirs=rng.normal(scale=0.005, size=(num_vertices, 3, 10)),
        posedirs=rng.normal(scale=0.005, size=(num_vertices, 3, 135)),
        J_regressor=regressor / regressor.sum(axis=1, keepdims=True),
        weights=weights / weights.sum(axis=1, keepdims=True),
        parents=MANO_PARENTS,
        hands_components=np.linalg.qr(rng.normal(size=(45, 45)))[0],
        hands_mean=rng.normal(scale=0.2, size=45),
        tip_vertex_ids=MANO_TIP_VERTEX_IDS,
        side="right",
        name="random (MANO-sized)",
    )


def _hand_model(path: str | None):
    from mano_tf.hand_model import load_hand_model

    if path:
        return load_hand_model(path)
    try:
        from mano_tf.open_hand import default_hand_model
    except ImportError:
        return _random_hand_model()
    return default_hand_model("right")


def _sync(out) -> None:
    """Waits for a layer output (a dict) or a gradient list."""
    _ = out["vertices"].numpy() if isinstance(out, dict) else out[0].numpy()


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_mano", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument("--hand-model", metavar="PATH", help="MANO .pkl or project .npz")
    parser.add_argument("--quick", action="store_true", help="batch 1 and 64, short timings")
    parser.add_argument(
        "--batch-sizes", metavar="N,N", help="comma-separated (default 1,64,1024; quick 1,64)"
    )
    parser.add_argument(
        "--min-time", type=float, help="seconds per measurement (default 1.0; quick 0.2)"
    )
    parser.add_argument(
        "--modes",
        default="eager,function,xla",
        help="comma-separated subset of eager,function,xla (default all)",
    )
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        batch_sizes = [
            int(b) for b in (args.batch_sizes or ("1,64" if args.quick else "1,64,1024")).split(",")
        ]
        if any(b < 1 for b in batch_sizes):
            raise ValueError
    except ValueError:
        print(f"bench_mano: --batch-sizes must be positive ints. Received: {args.batch_sizes}")
        return 2
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    unknown = sorted(set(modes) - {"eager", "function", "xla"})
    if unknown or not modes:
        print(f"bench_mano: --modes must be a subset of eager,function,xla. Received: {args.modes}")
        return 2
    min_time = args.min_time if args.min_time is not None else (0.2 if args.quick else 1.0)
    if args.hand_model and not os.path.isfile(args.hand_model):
        print(f"bench_mano: hand model file not found: {args.hand_model}")
        return 2

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np
    import tensorflow as tf

    from mano_tf.hand_model import HandModelError
    from mano_tf.mano_layer import ManoLayer

    try:
        model = _hand_model(args.hand_model)
    except (HandModelError, OSError) as e:
        print(f"bench_mano: cannot read the hand model: {e}")
        return 2
    layer = ManoLayer(model)

    terms = flop_terms(model.num_vertices, model.num_betas)
    fwd_flops = sum(t[1] for t in terms)
    bwd_flops = sum(t[2] for t in terms)
    print(f"hand model: {model.name} ({model.num_vertices} vertices, side {model.side})")
    print(
        f"TensorFlow {tf.__version__}, {platform.machine()}, {os.cpu_count()} CPU cores visible, "
        f"float32, min {min_time:g} s per row"
    )
    print("\nAnalytic FLOPs per hand (multiply-add = 2):")
    print(f"  {'step':<28}{'forward':>12}{'backward':>12}")
    for name, fwd, bwd in terms:
        print(f"  {name:<28}{fwd:>12,}{bwd:>12,}")
    print(f"  {'total':<28}{fwd_flops:>12,}{bwd_flops:>12,}")

    def forward(pose, betas):
        return layer(pose, betas)

    def forward_backward(pose, betas):
        with tf.GradientTape() as tape:
            tape.watch([pose, betas])
            out = layer(pose, betas)
            loss = tf.reduce_sum(out["vertices"]) + tf.reduce_sum(out["joints"])
        return tape.gradient(loss, [pose, betas])

    runners = {
        "eager": lambda f: f,
        "function": lambda f: tf.function(f),
        "xla": lambda f: tf.function(f, jit_compile=True),
    }
    passes = {"fwd": (forward, fwd_flops), "fwd+bwd": (forward_backward, fwd_flops + bwd_flops)}
    rng = np.random.default_rng(0)
    rows = []
    progress = Progress(len(modes) * len(batch_sizes) * len(passes), label_width=40)
    progress.show("starting")
    for mode in modes:
        for pass_name, (fn, flops) in passes.items():
            compiled = runners[mode](fn)
            for batch in batch_sizes:
                progress.show(f"{mode} {pass_name} batch {batch}")
                pose = tf.constant(rng.normal(scale=0.5, size=(batch, 48)), tf.float32)
                betas = tf.constant(rng.normal(size=(batch, 10)), tf.float32)
                seconds = time_per_call(compiled, (pose, betas), _sync, min_time)
                hands = batch / seconds
                rows.append((mode, pass_name, batch, seconds * 1e3, hands, hands * flops / 1e9))
                progress.step(f"{mode} {pass_name} batch {batch}: {hands:,.0f} hands/s")

    print(
        f"\n| {'mode':<9}| {'pass':<8}| {'batch':>5} | {'ms/call':>9} | {'hands/s':>10} | GFLOP/s |"
    )
    print(f"|{'-' * 10}|{'-' * 9}|{'-' * 7}|{'-' * 11}|{'-' * 12}|{'-' * 9}|")
    for mode, pass_name, batch, ms, hands, gflops in rows:
        print(
            f"| {mode:<9}| {pass_name:<8}| {batch:>5} | {ms:>9.3f} | {hands:>10,.0f} | {gflops:>7.2f} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
