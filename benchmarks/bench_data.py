"""Throughput of the data side: synthetic generation, and TFRecords -> augmentation -> targets -> batches.

Usage (from the repository root):

    python benchmarks/bench_data.py                  # the full run
    python benchmarks/bench_data.py --quick          # smaller counts, shorter timings
    python benchmarks/bench_data.py --records DIR    # time the pipeline on your own records
    python benchmarks/bench_data.py --skip-model     # no training-step comparison

What is measured (samples per second, after warm-up):

1. `synth`: `hiu_tf.data.sources.synthetic` rendering 256 x 256 samples and
   writing them as JPEG TFRecords, with 1 worker (in process) and with
   `--workers` spawned processes (process start-up excluded: the rate is taken
   between the first and the last finished chunk).
2. `pipeline`: `hiu_tf.data.pipeline.build_dataset` on those records (or
   `--records`): decode only; decode + augmentation; and the full training
   pipeline (decode, augmentation, heat-maps, POF, small mask, batches of
   `--batch`), iterated for at least `--min-time` seconds.
3. `train step`: forward + backward of the presets `paper-4stack` and `mobile`
   (`hiu_tf.model.build_model`; MSE on heat-maps, POF and mask logits, one
   AdamW step) at a small batch, and the ratio pipeline / training throughput
   (> 1 means the input pipeline keeps up with training on this machine).

All numbers depend on the machine and on what else runs on it: the table
header prints the CPU count and TensorFlow's thread settings.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def _rate_of(iterator, batch_size: int, warmup: int, min_time: float) -> tuple[float, int]:
    """Samples/s of an iterator of batches after `warmup` batches, over >= `min_time` s."""
    for _ in range(warmup):
        next(iterator)
    count = 0
    start = time.perf_counter()
    while True:
        next(iterator)
        count += batch_size
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and count >= 4 * batch_size:
            return count / elapsed, count


def bench_synth(out_dir: str, count: int, workers: int, size: int, hand_model: str) -> list[tuple]:
    from hiu_tf.data.sources import synthetic

    rows = []
    config = synthetic.SynthConfig(image_size=size)
    for n_workers in sorted({1, workers}):
        times: list[float] = []

        def progress(n, times=times):
            times.append((n, time.perf_counter()))

        folder = os.path.join(out_dir, f"synth-{n_workers}")
        start = time.perf_counter()
        synthetic.write_synthetic(
            folder,
            count=count,
            seed=0,
            config=config,
            hand_model=hand_model,
            workers=n_workers,
            overwrite=True,
            progress=progress,
        )
        total = time.perf_counter() - start
        (n0, t0), (n1, t1) = times[0], times[-1]
        steady = (n1 - n0) / max(t1 - t0, 1e-9)
        rows.append(
            (f"synth, {n_workers} worker(s)", steady, f"{count} samples, {total:.1f} s total")
        )
    return rows


def write_random_records(out_dir: str, count: int, size: int) -> str:
    """Records with smooth random images and random labels (when no hand model is available)."""
    import cv2
    import numpy as np

    from hiu_tf.data import schema, tfrecord

    rng = np.random.default_rng(0)

    def samples():
        for i in range(count):
            image = cv2.resize(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8), (size, size))
            joints = rng.normal(0, 0.03, (21, 3)) + [0, 0, 0.5]
            k = np.array([[2.0 * size, 0, size / 2], [0, 2.0 * size, size / 2], [0, 0, 1.0]])
            uv = joints @ k.T
            sample = schema.make_sample(
                image,
                keypoints_px=uv[:, :2] / uv[:, 2:],
                joints_cam=joints,
                intrinsics=k,
                mask=rng.random((size, size)) > 0.5,
            )
            yield str(i), sample

    folder = os.path.join(out_dir, "random")
    tfrecord.write_tfrecords(samples(), folder, "random", overwrite=True)
    return folder


def bench_pipeline(records: str, size: int, batch: int, min_time: float) -> list[tuple]:
    import tensorflow as tf

    from hiu_tf.data import augment, pipeline, tfrecord

    rows = []
    info = tfrecord.read_dataset_info(records)
    stored = info.get("image_size", size)
    decode = tfrecord.read_tfrecords(records).repeat().batch(batch).prefetch(tf.data.AUTOTUNE)
    rate, n = _rate_of(iter(decode), batch, 2, min_time)
    rows.append((f"pipeline: decode only ({stored} px)", rate, f"{n} samples"))

    files = tfrecord.list_shards(records)

    def _aug(index, sample):
        return augment.augment_sample(sample, tf.stack([tf.constant(0, tf.int64), index]))

    decode_aug = (
        tf.data.TFRecordDataset(files)
        .repeat()
        .map(lambda s: tfrecord.decode_example(s, stored), num_parallel_calls=tf.data.AUTOTUNE)
        .enumerate()
        .map(_aug, num_parallel_calls=tf.data.AUTOTUNE)
        .batch(batch)
        .prefetch(tf.data.AUTOTUNE)
    )
    rate, n = _rate_of(iter(decode_aug), batch, 2, min_time)
    rows.append((f"pipeline: decode + augment ({stored} px)", rate, f"{n} samples"))

    for out_size in sorted({size, 224}, reverse=True):
        ds = pipeline.build_dataset(
            [pipeline.Source(records)],
            image_size=out_size,
            heatmap_size=out_size // 4,
            batch_size=batch,
            training=True,
            seed=0,
        )
        rate, n = _rate_of(iter(ds), batch, 2, min_time)
        rows.append(
            (f"pipeline: full training ({out_size} px)", rate, f"{n} samples, batch {batch}")
        )
    return rows


def bench_train_step(name: str, batch: int, min_time: float) -> tuple[float, str, int]:

    import keras
    import tensorflow as tf

    from hiu_tf.model import build_model
    from hiu_tf.presets import preset

    cfg = preset(name).model
    note = ""
    model = build_model(cfg, batch)
    optimizer = keras.optimizers.AdamW(1e-4)
    s, h = cfg.input_size, cfg.input_size // 4
    images = tf.random.uniform([batch, s, s, 3])
    targets = {
        "heatmaps": tf.random.uniform([batch, h, h, 21]),
        "mask_logits": tf.random.uniform([batch, h, h, 1]),
        "pof": tf.random.uniform([batch, h, h, 60]),
    }

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            out = model(images, training=True)
            loss = 0.0
            for key, value in out.items():
                for suffix, target in targets.items():
                    if key.endswith(suffix):
                        loss += tf.reduce_mean(tf.square(value - target))
                if not any(key.endswith(sfx) for sfx in targets):
                    loss += 1e-6 * tf.reduce_mean(tf.square(value))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply(grads, model.trainable_variables)
        return loss

    step()
    count = 0
    start = time.perf_counter()
    while True:
        step().numpy()
        count += batch
        elapsed = time.perf_counter() - start
        if elapsed >= min_time and count >= 2 * batch:
            return count / elapsed, note, s


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, shorter timings")
    parser.add_argument("--records", help="TFRecord folder to time (default: synthesise one)")
    parser.add_argument("--count", type=int, default=512, help="synthetic samples to make")
    parser.add_argument("--workers", type=int, default=2, help="synthetic worker processes")
    parser.add_argument("--size", type=int, default=256, help="crop size")
    parser.add_argument("--batch", type=int, default=32, help="pipeline batch size")
    parser.add_argument("--min-time", type=float, default=10.0, help="seconds per measurement")
    parser.add_argument("--hand-model", default="open:right", help="hand model of the generator")
    parser.add_argument("--skip-model", action="store_true", help="no training-step comparison")
    parser.add_argument("--skip-synth", action="store_true", help="no synthetic generation")
    args = parser.parse_args(argv)
    if args.quick:
        args.count, args.min_time = min(args.count, 192), min(args.min_time, 4.0)

    import tensorflow as tf

    print(
        f"# bench_data on {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs, "
        f"TF {tf.__version__} (intra-op threads {tf.config.threading.get_intra_op_parallelism_threads()} "
        "= 0 means all)"
    )
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        records = args.records
        if not args.skip_synth:
            rows += bench_synth(tmp, args.count, args.workers, args.size, args.hand_model)
            records = records or os.path.join(tmp, f"synth-{max(args.workers, 1)}")
        if records is None:
            print("# pipeline on random-image records (no synthetic records)")
            records = write_random_records(tmp, min(args.count, 256), args.size)
        rows += bench_pipeline(records, args.size, args.batch, args.min_time)
        full = {r[0]: r[1] for r in rows}
        if not args.skip_model:
            try:
                import hiu_tf.model  # noqa: F401
                import hiu_tf.presets  # noqa: F401
            except ImportError as e:
                print(f"# training-step comparison skipped: {e}")
            else:
                for name, batch in (("paper-4stack", 2), ("mobile", 8)):
                    rate, note, s = bench_train_step(name, batch, args.min_time)
                    pipe = full.get(f"pipeline: full training ({s} px)")
                    ratio = f"pipeline/train = {pipe / rate:.1f}x" if pipe else ""
                    detail = ", ".join(x for x in (f"batch {batch}", note, ratio) if x)
                    rows.append((f"train step: {name} ({s} px)", rate, detail))
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'samples/s':>10}  notes")
    for what, rate, notes in rows:
        print(f"{what:<{width}}  {rate:>10.1f}  {notes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
