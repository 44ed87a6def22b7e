"""How much of the 3D hand pose a model's 2D keypoints hold: a readout MLP trained on them.

Usage (from the repository root, after `bench_learning.py` runs):

    python benchmarks/bench_readout.py \\
        --train runs/bench_learning/data/64px-s0/train \\
        --heldout runs/bench_learning/data/64px-s0/heldout \\
        --run runs/bench_learning/after/run

A small MLP (the regressor head's size: one hidden layer of `--hidden` units)
learns the hand model's pose, global rotation and finger rotations (the labels'
shape is given), from 21 2D keypoints alone, on the `--train` folder, and is
scored on the `--heldout` folder. One row per keypoint source:

    labels             the labelled keypoints (what the pose drawn in 2D holds)
    labels + N px      the same with Gaussian noise of N px per coordinate
    RUN                the run's own heat-map keypoints (`keypoints_px_heatmap`),
                       on both folders; the row also gives the PA-MPJPE of the
                       run's own mesh on the held-out folder

A run whose mesh scores about as well as the MLP on its keypoints reads all that
its keypoints hold: its PA-MPJPE is then limited by the keypoints, not by the
regressor head or its losses. Comparing the `labels + N px` row with the run's
row at a similar median error tells whether the run's errors are the harmless
kind (random) or fall where the pose is decided (the fingertips).

The MLP is trained with the direct mesh terms of `hiu_tf.losses`: root-relative
3D keypoints in the camera frame (`joints_3d`) and in the hand's frame
(`joints_hand`) and the global rotation (`global_rotation`), on batches of
`--batch-size` for `--steps` steps with Adam, on one CPU thread so that it can
run beside other work. The labels must come from `--hand-model` (the synthetic
data of `model.hand_model`), as for the `has_mano` loss terms. Each row trains its
own MLP; each `--run` also runs that model once over the folders.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LABEL_KEYS = ("keypoints_px", "joints_cam", "mano_pose", "mano_betas")
LOSS_WEIGHTS = {"joints_3d": 1.0, "joints_hand": 1.0, "global_rotation": 1.0}


def _noise(text: str) -> tuple[float, ...]:
    try:
        values = tuple(float(v) for v in text.split(",") if v.strip())
    except ValueError as err:
        raise argparse.ArgumentTypeError(f"expected comma-separated pixels, got {text!r}") from err
    if any(v <= 0 for v in values):
        raise argparse.ArgumentTypeError(f"noise levels must be > 0, got {text!r}")
    return values


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--train", required=True, help="TFRecord folder the MLP learns from")
    p.add_argument("--heldout", required=True, help="TFRecord folder it is scored on")
    p.add_argument("--run", action="append", default=[], help="a run folder (repeat for several)")
    p.add_argument("--noise", type=_noise, default=(2.5,), help="px per coordinate, e.g. 1,2.5")
    p.add_argument("--train-samples", type=int, default=4096)
    p.add_argument("--heldout-samples", type=int, default=256)
    p.add_argument("--steps", type=int, default=8000)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--hidden", type=int, default=64, help="units of the MLP's hidden layer")
    p.add_argument("--hand-model", default="open:right", help="the labels' hand model")
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args(argv)
    for name in ("train_samples", "heldout_samples", "steps", "batch_size", "hidden"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    return args


def read_labels(folder: str, count: int) -> dict[str, np.ndarray]:
    """The first `count` records of a folder: images and the `LABEL_KEYS` arrays."""
    from hiu_tf.data import tfrecord

    samples = list(tfrecord.read_tfrecords(folder).take(count).as_numpy_iterator())
    if not samples:
        raise ValueError(f"no records in {folder!r}")
    if not all(s["has_mano"] > 0 and s["has_3d"] > 0 for s in samples):
        raise ValueError(f"every record of {folder!r} needs MANO and 3D labels")
    out = {k: np.stack([s[k] for s in samples]).astype(np.float32) for k in LABEL_KEYS}
    out["image"] = np.stack([s["image"] for s in samples])
    return out


def fit_readout(
    layer,
    train: dict[str, np.ndarray],
    keypoints: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    hidden: int,
    seed: int,
):
    """Trains the MLP `keypoints [N, 21, 2] -> pose`; returns `predict(keypoints, betas)`.

    `predict` gives `(joints [N, 21, 3] root-relative metres, global rotations [N, 3, 3])`.
    Keypoints enter as the regressor head reads them: crop widths from the centre.
    """
    import keras
    import tensorflow as tf

    from hiu_tf import losses
    from mano_tf.rotations import rotation_6d_to_matrix

    size = float(train["image"].shape[1])
    keras.utils.set_random_seed(seed)
    mlp = keras.Sequential(
        [
            keras.Input((42,)),
            keras.layers.Dense(hidden, activation="relu"),
            keras.layers.Dense(96, kernel_initializer=keras.initializers.RandomNormal(stddev=1e-3)),
        ]
    )
    identity = tf.constant([1.0, 0.0, 0.0, 0.0, 1.0, 0.0] * 16)  # zeros -> identity rotations
    optimizer = keras.optimizers.Adam(1e-3)

    def encode(kp):
        return tf.reshape(tf.cast(kp, tf.float32) / size - 0.5, (-1, 42))

    def forward(kp, betas):
        rotmat = rotation_6d_to_matrix(tf.reshape(mlp(encode(kp)) + identity, (-1, 16, 6)))
        joints = layer(betas=betas, pose_rotmat=rotmat)["joints"]
        return joints - joints[:, :1], rotmat

    @tf.function
    def step(kp, joints, pose, betas):
        ones = tf.ones(tf.shape(kp)[0])
        target = joints - joints[:, :1]
        with tf.GradientTape() as tape:
            pred, rotmat = forward(kp, betas)
            terms = {
                "joints_3d": losses.joints_3d_loss(pred, target, ones),
                "joints_hand": losses.hand_frame_joints_loss(
                    pred, rotmat, target, pose, ones, ones
                ),
                "global_rotation": losses.global_rotation_loss(rotmat, pose, ones),
            }
            loss = tf.add_n([LOSS_WEIGHTS[k] * v for k, v in terms.items()])
        grads = tape.gradient(loss, mlp.trainable_variables)
        optimizer.apply_gradients(zip(grads, mlp.trainable_variables, strict=True))
        return loss

    rng = np.random.default_rng(seed)
    n = len(keypoints)
    for _ in range(steps):
        i = rng.integers(0, n, batch_size)
        step(keypoints[i], train["joints_cam"][i], train["mano_pose"][i], train["mano_betas"][i])

    def predict(kp, betas):
        pred, rotmat = forward(kp, betas)
        return pred.numpy(), rotmat[:, 0].numpy()

    return predict


def score(predict, heldout: dict[str, np.ndarray], keypoints: np.ndarray) -> dict[str, float]:
    """PA-MPJPE, MPJPE (mm) and median rotation error (degrees) on the held-out labels,
    and the median 2D error (px) of the keypoints read."""
    from hiu_tf import metrics
    from mano_tf.rotations import axis_angle_to_matrix

    joints = heldout["joints_cam"].astype(np.float64)
    joints = joints - joints[:, :1]
    pred, rotmat = predict(keypoints, heldout["mano_betas"])
    true_rot = np.asarray(axis_angle_to_matrix(heldout["mano_pose"][:, :3]))
    return {
        "kp_median_px": float(
            np.median(np.linalg.norm(keypoints - heldout["keypoints_px"], axis=-1))
        ),
        "pa_mpjpe_mm": 1000.0 * metrics.pa_mpjpe(pred.astype(np.float64), joints),
        "mpjpe_mm": 1000.0 * metrics.mpjpe(pred.astype(np.float64), joints),
        "rotation_deg": float(np.median(metrics.rotation_errors_deg(rotmat, true_rot))),
    }


def run_keypoints(model, images: np.ndarray) -> np.ndarray:
    out = model.predict(images.astype(np.float32), batch_size=32, verbose=0)
    return np.asarray(out["keypoints_px_heatmap"], np.float32)


def main(argv=None) -> int:
    args = parse_args(argv)
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    from hiu_tf import metrics
    from hiu_tf.runs import load_run
    from mano_tf.mano_layer import ManoLayer

    start = time.perf_counter()
    train = read_labels(args.train, args.train_samples)
    heldout = read_labels(args.heldout, args.heldout_samples)
    layer = ManoLayer(args.hand_model, flat_hand_mean=True)
    rng = np.random.default_rng(args.seed + 1)
    sources = [("labels", train["keypoints_px"], heldout["keypoints_px"], None)]
    for sigma in args.noise:
        sources.append(
            (
                f"labels + {sigma:g} px",
                train["keypoints_px"] + rng.normal(0, sigma, train["keypoints_px"].shape),
                heldout["keypoints_px"] + rng.normal(0, sigma, heldout["keypoints_px"].shape),
                None,
            )
        )
    for run in args.run:
        _, model = load_run(run)
        if model.mano is None or model.soft_argmax is None:
            print(f"error: {run} has no mesh head or no heat-maps", file=sys.stderr)
            return 2
        out = model.predict(heldout["image"].astype(np.float32), batch_size=32, verbose=0)
        joints = heldout["joints_cam"].astype(np.float64)
        own = 1000.0 * metrics.pa_mpjpe(np.asarray(out["joints_cam"], np.float64), joints)
        sources.append(
            (
                run,
                run_keypoints(model, train["image"]),
                np.asarray(out["keypoints_px_heatmap"], np.float32),
                own,
            )
        )
    rows = []
    for i, (name, kp_train, kp_heldout, own) in enumerate(sources, start=1):
        print(f"[{i}/{len(sources)}] training the readout on: {name}", file=sys.stderr)
        predict = fit_readout(
            layer,
            train,
            kp_train.astype(np.float32),
            steps=args.steps,
            batch_size=args.batch_size,
            hidden=args.hidden,
            seed=args.seed,
        )
        rows.append((name, score(predict, heldout, kp_heldout.astype(np.float32)), own))
    width = max(len(r[0]) for r in rows)
    print(
        f"readout MLP ({args.hidden} hidden units, {args.steps} steps of {args.batch_size}) "
        f"from 2D keypoints; {len(train['image'])} training / {len(heldout['image'])} "
        f"held-out records"
    )
    header = ("kp median px", "PA-MPJPE", "MPJPE", "rot deg", "run's mesh PA")
    print(f"{'keypoints':<{width}}" + "".join(f"{h:>15}" for h in header))
    for name, s, own in rows:
        values = (s["kp_median_px"], s["pa_mpjpe_mm"], s["mpjpe_mm"], s["rotation_deg"])
        cells = "".join(f"{v:>15.2f}" for v in values)
        cells += f"{own:>15.2f}" if own is not None else f"{'':>15}"
        print(f"{name:<{width}}{cells}")
    print(f"wall time: {(time.perf_counter() - start) / 60:.1f} min (one CPU thread)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
