"""Speed and memory of the renderers: tiled soft silhouettes vs the dense maths, and shaded renders.

Usage (from the repository root):

    python benchmarks/bench_render.py            # 64 and 128 px
    python benchmarks/bench_render.py --quick    # 64 px only, short timings

Meshes: the project's open hand model (`mano_tf.open_hand`) in random poses
(`ManoLayer`, random finger poses, shapes and global rotations), framed so that
the hand spans about three quarters of a square crop, with the paper's camera
(one focal length, principal point at the crop centre).

Tables:

1. Soft silhouettes (`render_silhouette`, default options, sigma = 1e-4) for a
   batch of 32: milliseconds per call for the forward pass and for forward +
   backward (gradient of a mean-squared mask loss with respect to the
   vertices), `eager` / `tf.function` / `XLA` (`jit_compile=True`), after
   warm-up (tracing and compilation excluded).
2. The tiled renderer against the naive dense version of the same maths (all
   pixels x all faces, `tests/reference/silhouette_dense.py`, differentiated by
   TensorFlow), per image, at a batch small enough for the dense version to fit
   in memory; `ratio` = dense time / tiled time.
3. Shaded renders (`render_shaded`, NumPy, one thread) per second at 256 x 256.

Peak memory is the growth of the process's peak resident set size during a
measurement (Linux `VmHWM`, reset through `/proc/self/clear_refs` before each
row) on CPU, or TensorFlow's peak allocation on a GPU; "n/a" where neither is
available. It includes TensorFlow's working memory for that call, not the
model or the inputs.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

from _common import Progress, time_per_call

# NumPy's BLAS must not use more than one thread for the "one core" shaded figure;
# this is set before NumPy is imported (it does not affect TensorFlow's thread pools).
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

BATCH = 32
SIGMA = 1e-4
DENSE_PAIRS = 2.6e7  # (batch x pixels x faces) the dense version is run at


class _PeakMemory:
    """Peak memory growth during a block: GPU allocator stats, or Linux VmHWM on CPU."""

    def __init__(self, tf):
        self.tf = tf
        self.gpu = bool(tf.config.list_physical_devices("GPU"))
        self.linux = os.path.exists("/proc/self/clear_refs")

    @staticmethod
    def _status_kib(key: str) -> int:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
        return 0

    def start(self) -> None:
        if self.gpu:
            self.tf.config.experimental.reset_memory_stats("GPU:0")
            self.base = self.tf.config.experimental.get_memory_info("GPU:0")["current"]
        elif self.linux:
            try:
                with open("/proc/self/clear_refs", "w") as f:
                    f.write("5")  # reset VmHWM to the current RSS
            except OSError:
                self.linux = False
            self.base = self._status_kib("VmRSS") * 1024 if self.linux else 0

    def stop(self) -> str:
        if self.gpu:
            peak = self.tf.config.experimental.get_memory_info("GPU:0")["peak"]
        elif self.linux:
            peak = self._status_kib("VmHWM") * 1024
        else:
            return "n/a"
        return f"{max(peak - self.base, 0) / 2**20:,.0f}"


def _hand_meshes(batch: int, size: int, seed: int):
    """`[B, V, 3]` float32 camera-frame vertices, `[F, 3]` faces, `[B, 3, 3]` intrinsics."""
    import numpy as np

    from mano_tf import camera
    from mano_tf.mano_layer import ManoLayer
    from mano_tf.open_hand import default_hand_model

    rng = np.random.default_rng(seed)
    model = default_hand_model("right")
    axis = rng.normal(size=(batch, 3))
    axis /= np.linalg.norm(axis, axis=-1, keepdims=True)
    pose = np.concatenate(
        [axis * rng.uniform(0, np.pi, (batch, 1)), rng.normal(0, 0.25, (batch, 45))], -1
    )
    betas = rng.normal(size=(batch, model.num_betas))
    out = ManoLayer(model)(pose.astype(np.float32), betas.astype(np.float32))
    vertices = np.asarray(out["vertices"], np.float64)
    centre = (vertices.max(1, keepdims=True) + vertices.min(1, keepdims=True)) / 2
    vertices = vertices - centre + [0.0, 0.0, 0.5]
    K = camera.intrinsics_from_focal(np.full(batch, 1.875 * size), size, size).numpy()
    return vertices.astype(np.float32), model.faces, K.astype(np.float32), model


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="bench_render", description=__doc__.split("\n\n")[0], allow_abbrev=False
    )
    parser.add_argument("--quick", action="store_true", help="64 px only, short timings")
    parser.add_argument(
        "--sizes", metavar="N,N", help="comma-separated square sizes (default 64,128; quick 64)"
    )
    parser.add_argument(
        "--min-time", type=float, help="seconds per measurement (default 2.0; quick 0.3)"
    )
    parser.add_argument(
        "--modes",
        default="eager,function,xla",
        help="comma-separated subset of eager,function,xla (default all)",
    )
    parser.add_argument("--no-dense", action="store_true", help="skip the dense comparison")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        sizes = [int(s) for s in (args.sizes or ("64" if args.quick else "64,128")).split(",")]
        if any(s < 8 for s in sizes):
            raise ValueError
    except ValueError:
        print(f"bench_render: --sizes must be ints >= 8. Received: {args.sizes}")
        return 2
    modes = [m.strip() for m in args.modes.split(",") if m.strip()]
    if not modes or set(modes) - {"eager", "function", "xla"}:
        print(
            f"bench_render: --modes must be a subset of eager,function,xla. Received: {args.modes}"
        )
        return 2
    min_time = args.min_time if args.min_time is not None else (0.3 if args.quick else 2.0)

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import numpy as np
    import tensorflow as tf

    try:
        import mano_tf.open_hand  # noqa: F401
    except ImportError as e:
        print(f"bench_render: needs the open hand model (mano_tf.open_hand): {e}")
        return 2
    from mano_tf.render.shaded import render_shaded
    from mano_tf.render.silhouette import render_silhouette
    from tests.reference.silhouette_dense import render_silhouette_dense

    memory = _PeakMemory(tf)
    device = "GPU" if memory.gpu else f"CPU ({os.cpu_count()} cores visible)"
    print(f"TensorFlow {tf.__version__}, NumPy {np.__version__}, {platform.machine()}, {device}")

    def make_fns(render, faces, size):
        def forward(vertices, intrinsics, target):
            return (render(vertices, faces, intrinsics, size, size, sigma=SIGMA),)

        def forward_backward(vertices, intrinsics, target):
            with tf.GradientTape() as tape:
                tape.watch(vertices)
                masks = render(vertices, faces, intrinsics, size, size, sigma=SIGMA)
                loss = tf.reduce_mean(tf.square(masks - target))
            return masks, tape.gradient(loss, vertices)

        return {"fwd": forward, "fwd+bwd": forward_backward}

    runners = {
        "eager": lambda f: f,
        "function": lambda f: tf.function(f),
        "xla": lambda f: tf.function(f, jit_compile=True),
    }

    def measure(render, faces, size, vertices, K, mode, pass_name):
        vertices, K = tf.constant(vertices), tf.constant(K)
        target = tf.cast(render_silhouette(vertices, faces, K, size, size, mode="hard"), tf.float32)
        fn = runners[mode](make_fns(render, faces, size)[pass_name])
        memory.start()
        seconds = time_per_call(
            fn,
            (vertices, K, target),
            lambda out: [t.numpy() for t in out],
            min_time,
            min_iters=2,
            warmup=1,
        )
        return seconds, memory.stop()

    meshes = {size: _hand_meshes(BATCH, size, seed=size) for size in sizes}
    model = meshes[sizes[0]][3]
    faces = model.faces
    print(
        f"hand model: {model.name} ({model.num_vertices} vertices, {model.num_faces} faces); "
        f"sigma {SIGMA:g}; min {min_time:g} s per row"
    )
    dense_batch = {s: max(1, int(DENSE_PAIRS // (s * s * model.num_faces))) for s in sizes}
    passes = ("fwd", "fwd+bwd")
    total = len(sizes) * len(modes) * len(passes) * (1 if args.no_dense else 3) + 2
    progress = Progress(total)
    progress.show("starting")

    tiled_rows, dense_rows = [], []
    for size in sizes:
        vertices, _, K, _ = meshes[size]
        for mode in modes:
            for pass_name in passes:
                progress.show(f"tiled {size}px {mode} {pass_name} batch {BATCH}")
                seconds, peak = measure(
                    render_silhouette, faces, size, vertices, K, mode, pass_name
                )
                tiled_rows.append((size, mode, pass_name, seconds * 1e3, peak))
                progress.step(f"tiled {size}px {mode} {pass_name}: {seconds * 1e3:,.0f} ms")
                if args.no_dense:
                    continue
                b = dense_batch[size]
                small = {}
                for name, render in (
                    ("tiled", render_silhouette),
                    ("dense", render_silhouette_dense),
                ):
                    progress.show(f"{name} {size}px {mode} {pass_name} batch {b}")
                    small[name] = measure(render, faces, size, vertices[:b], K[:b], mode, pass_name)
                    progress.step(
                        f"{name} {size}px {mode} {pass_name}: {small[name][0] * 1e3:,.0f} ms"
                    )
                dense_rows.append((size, b, mode, pass_name, small["tiled"], small["dense"]))

    # Shaded renders at 256 x 256 on one thread.
    vertices256, _, K256, _ = _hand_meshes(16, 256, seed=256)
    shaded_rows = []
    for cull in (False, True):
        label = "back faces culled" if cull else "all faces"
        progress.show(f"shaded 256px {label}")
        for b in range(2):
            render_shaded(vertices256[b], faces, K256[b], 256, 256, cull_back_faces=cull)
        count, coverage, start = 0, 0.0, time.perf_counter()
        while count < 16 or time.perf_counter() - start < min_time:
            out = render_shaded(
                vertices256[count % 16], faces, K256[count % 16], 256, 256, cull_back_faces=cull
            )
            coverage += out["mask"].mean()
            count += 1
        seconds = (time.perf_counter() - start) / count
        shaded_rows.append((label, seconds * 1e3, 1.0 / seconds, coverage / count))
        progress.step(f"shaded 256px {label}: {1.0 / seconds:,.0f} renders/s")

    print(f"\nSoft silhouettes, batch {BATCH} (ms per call; peak memory growth in MiB):")
    print(
        f"| {'size':>5} | {'mode':<9}| {'pass':<8}| {'ms/call':>9} | {'ms/image':>9} | {'peak MiB':>9} |"
    )
    print(f"|{'-' * 7}|{'-' * 10}|{'-' * 9}|{'-' * 11}|{'-' * 11}|{'-' * 11}|")
    for size, mode, pass_name, ms, peak in tiled_rows:
        print(
            f"| {size:>5} | {mode:<9}| {pass_name:<8}| {ms:>9,.1f} | {ms / BATCH:>9,.2f} | {peak:>9} |"
        )
    if dense_rows:
        print("\nTiled vs naive dense (all pixels x all faces), per image, at a small batch:")
        print(
            f"| {'size':>5} | {'batch':>5} | {'mode':<9}| {'pass':<8}| {'tiled ms':>9} | "
            f"{'dense ms':>9} | {'ratio':>6} | {'tiled MiB':>9} | {'dense MiB':>9} |"
        )
        print(
            f"|{'-' * 7}|{'-' * 7}|{'-' * 10}|{'-' * 9}|{'-' * 11}|{'-' * 11}|{'-' * 8}|{'-' * 11}|{'-' * 11}|"
        )
        for size, b, mode, pass_name, (t_s, t_mem), (d_s, d_mem) in dense_rows:
            print(
                f"| {size:>5} | {b:>5} | {mode:<9}| {pass_name:<8}| {t_s * 1e3 / b:>9,.2f} | "
                f"{d_s * 1e3 / b:>9,.2f} | {d_s / t_s:>6.1f} | {t_mem:>9} | {d_mem:>9} |"
            )
    print(f"\nShaded renders, 256 x 256, {model.num_faces} faces, NumPy on one thread:")
    print(f"| {'faces':<18}| {'ms/render':>9} | {'renders/s':>9} | {'coverage':>8} |")
    print(f"|{'-' * 19}|{'-' * 11}|{'-' * 11}|{'-' * 10}|")
    for label, ms, rate, coverage in shaded_rows:
        print(f"| {label:<18}| {ms:>9.2f} | {rate:>9,.0f} | {coverage:>8.1%} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
