"""Where a trained model's PA-MPJPE comes from: its mesh parameters swapped for the labels'.

Usage (from the repository root, after a `bench_learning.py` run):

    python benchmarks/bench_pose_oracles.py runs/bench_learning/after2/run \\
        --data runs/bench_learning/data/64px-s0/heldout \\
        --data runs/bench_learning/data/64px-s0/train

For each TFRecord folder (the first `--samples` records) it runs the run's model
and prints the PA-MPJPE (mm) of the 3D keypoints of the hand model posed with:

    model                      the model's own mesh (`joints_cam`)
    pred fingers, true shape   the labelled global rotation and shape, the model's
                               finger rotations
    true fingers, pred shape   the labelled rotations, the model's shape
    true fingers, mean shape   the labelled rotations, shape coefficients 0
    mean fingers, true shape   the labelled global rotation and shape, every finger
                               at the folder's average finger rotations (what a
                               model that reads nothing of the fingers can reach)

Procrustes alignment removes the global rotation, scale and translation, so the
rows separate the fingers' share of the error from the shape's.

A second table asks how well the 2D keypoints draw each finger segment, for the
keypoints read off the heat-maps (`keypoints_px_heatmap`) and for the projected
mesh (`keypoints_px`): the slope of the predicted 2D bone vectors on the
labelled ones, `sum(p . t) / sum(|t|^2)` over the samples and the five fingers,
per segment from the wrist (1) to the tip (4). 1 draws the segments right; 0
means the predicted segment does not follow the labelled one at all (a tip drawn
on top of the joint below it, for example). Comparing a
held-out folder with the training folder tells under- from over-fitting. The
labels must come from the model's own hand model (the synthetic data of
`model.hand_model`), as for the `has_mano` loss terms.

A third table looks at the fingertips' heat-map keypoints, finger by finger:
their median error (px), the median of their error along the last bone
(negative = short of the tip, towards the joint below) and the share of tips
predicted closer to the labelled joint below than to the tip.

A fourth table asks of the last stack's part orientation fields (POF,
paper Eq. 2) what the second asks of the keypoints; the POF is the task meant
to carry each bone's direction in depth. On the
map pixels of each labelled bone (the target's own support,
`hiu_tf.targets.part_orientation_fields`), the slope of the predicted field on
the target, `sum(p t) / sum(t^2)`, per segment, for the 2D direction (x, y) and
for z, the depth component of the 3D direction. A z slope near 0 means the
trunk has not learnt which way the fingers point in depth: the head then has
only the 2D keypoints to tell a bent finger from a straight one.
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LABEL_KEYS = ("keypoints_px", "joints_cam", "keypoint_visible", "has_2d", "has_3d")
ROWS = (
    "model",
    "pred fingers, true shape",
    "true fingers, pred shape",
    "true fingers, mean shape",
    "mean fingers, true shape",
)


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("run", help="a run folder (model.keras and config.yaml)")
    p.add_argument(
        "--data", action="append", required=True, help="TFRecord folder (repeat for several)"
    )
    p.add_argument("--samples", type=int, default=256, help="records per folder (default 256)")
    p.add_argument("--batch-size", type=int, default=32)
    args = p.parse_args(argv)
    if args.samples < 1 or args.batch_size < 1:
        p.error("--samples and --batch-size must be >= 1")
    return args


def predict(model, samples: list[dict]) -> dict[str, np.ndarray]:
    """The model's outputs on the images of `samples`, once for every table."""
    images = np.stack([s["image"] for s in samples]).astype(np.float32)
    return {k: np.asarray(v) for k, v in model.predict(images, batch_size=32, verbose=0).items()}


def oracle_errors(model, samples: list[dict], out: dict | None = None) -> dict[str, float]:
    """PA-MPJPE (mm) of each row of the module docstring on labelled `samples`.

    `out`: the model's outputs on `samples` (`predict`), when already computed.
    """
    from hiu_tf import metrics

    if not samples or not all(s["has_mano"] > 0 and s["has_3d"] > 0 for s in samples):
        raise ValueError("every sample needs MANO and 3D labels (has_mano, has_3d)")
    pose = np.stack([s["mano_pose"] for s in samples]).astype(np.float32)
    betas = np.stack([s["mano_betas"] for s in samples]).astype(np.float32)
    joints = np.stack([s["joints_cam"] for s in samples]).astype(np.float64)
    out = predict(model, samples) if out is None else out
    pred_pose, pred_betas = np.asarray(out["mano_pose"]), np.asarray(out["mano_betas"])
    mean_fingers = np.broadcast_to(pose[:, 3:].mean(axis=0), pose[:, 3:].shape)

    def pa(global_and_fingers: np.ndarray, shape: np.ndarray) -> float:
        posed = model.mano(pose=global_and_fingers, betas=shape)["joints"]
        return 1000.0 * metrics.pa_mpjpe(np.asarray(posed, np.float64), joints)

    return {
        "model": 1000.0 * metrics.pa_mpjpe(np.asarray(out["joints_cam"], np.float64), joints),
        "pred fingers, true shape": pa(np.concatenate([pose[:, :3], pred_pose[:, 3:]], 1), betas),
        "true fingers, pred shape": pa(pose, pred_betas),
        "true fingers, mean shape": pa(pose, np.zeros_like(betas)),
        "mean fingers, true shape": pa(np.concatenate([pose[:, :3], mean_fingers], 1), betas),
    }


def bone_slopes(predicted: np.ndarray, labelled: np.ndarray) -> np.ndarray:
    """`[4]` slope of predicted on labelled 2D bone vectors per finger segment.

    Args:
        predicted, labelled: `[N, 21, 2]` keypoints (canonical order).

    Returns:
        For segment k (wrist -> finger base = 0, ..., last joint -> tip = 3),
        `sum(p . t) / sum(|t|^2)` over the samples and the five fingers' bones k.
    """
    from hiu_tf.keypoints import BONE_CHILDREN, BONE_PARENTS

    p = np.asarray(predicted, np.float64)
    t = np.asarray(labelled, np.float64)
    bp = p[:, list(BONE_CHILDREN)] - p[:, list(BONE_PARENTS)]  # [N, 20, 2]
    bt = t[:, list(BONE_CHILDREN)] - t[:, list(BONE_PARENTS)]
    # Bones go finger by finger, four each (hiu_tf.keypoints.BONES): [N, 5, 4, 2].
    bp, bt = bp.reshape(-1, 5, 4, 2), bt.reshape(-1, 5, 4, 2)
    return (bp * bt).sum(axis=(0, 1, 3)) / np.maximum((bt * bt).sum(axis=(0, 1, 3)), 1e-12)


def tip_errors(predicted: np.ndarray, labelled: np.ndarray) -> dict[str, np.ndarray]:
    """Per finger (thumb to little), how the fingertips' predicted 2D keypoints miss.

    Args:
        predicted, labelled: `[N, 21, 2]` keypoints (canonical order).

    Returns:
        `{"median px": [5], "along px": [5], "closer to joint below": [5]}`: the
        median distance to the labelled tip; the median of the error's component
        along the labelled last bone (joint below -> tip; negative = short of the
        tip); the share of samples whose predicted tip is closer to the labelled
        joint below than to the labelled tip.
    """
    from hiu_tf.keypoints import BONE_CHILDREN, BONE_PARENTS

    p = np.asarray(predicted, np.float64)
    t = np.asarray(labelled, np.float64)
    tips = list(BONE_CHILDREN)[3::4]  # the last bone of each finger (BONES: four per finger)
    below = list(BONE_PARENTS)[3::4]
    bone = t[:, tips] - t[:, below]  # [N, 5, 2]
    unit = bone / np.maximum(np.linalg.norm(bone, axis=-1, keepdims=True), 1e-12)
    error = p[:, tips] - t[:, tips]
    to_tip = np.linalg.norm(error, axis=-1)
    to_below = np.linalg.norm(p[:, tips] - t[:, below], axis=-1)
    return {
        "median px": np.median(to_tip, axis=0),
        "along px": np.median((error * unit).sum(axis=-1), axis=0),
        "closer to joint below": (to_below < to_tip).mean(axis=0),
    }


def segment_slopes(out: dict, labelled: np.ndarray) -> dict[str, np.ndarray]:
    """`bone_slopes` of the heat-map keypoints (when the model has them) and of the mesh."""
    rows = {}
    if "keypoints_px_heatmap" in out:
        rows["heat-map keypoints"] = bone_slopes(out["keypoints_px_heatmap"], labelled)
    rows["projected mesh"] = bone_slopes(out["keypoints_px"], labelled)
    return rows


def pof_slopes(predicted: np.ndarray, target: np.ndarray, weight: np.ndarray) -> dict:
    """Slopes of the predicted POF on its target over the target's bone pixels.

    Args:
        predicted, target: `[N, h, h, 60]` fields (channels 3b..3b+2 = bone b's 2D x,
            y and 3D z; bones finger by finger, four each).
        weight: `[N, 60]` the target's channel weights (1 = labelled).

    Returns:
        `{"xy": [4], "z": [4]}`: per finger segment k, `sum(p t) / sum(t^2)` over the
        samples, the five fingers' bones k and the pixels where the bone's target
        is drawn (its 2D or z channel non-zero), for the x and y channels together
        and for the z channel.
    """
    p = np.asarray(predicted, np.float64).reshape(*np.shape(predicted)[:3], 5, 4, 3)
    t = np.asarray(target, np.float64).reshape(p.shape)
    w = np.asarray(weight, np.float64).reshape(-1, 1, 1, 5, 4, 3)
    on_bone = (np.abs(t).sum(axis=-1, keepdims=True) > 0).astype(np.float64)
    p, t = p * on_bone * w, t * w

    def slope(channels: slice) -> np.ndarray:
        num = (p[..., channels] * t[..., channels]).sum(axis=(0, 1, 2, 3, 5))
        return num / np.maximum((t[..., channels] ** 2).sum(axis=(0, 1, 2, 3, 5)), 1e-12)

    return {"xy": slope(slice(0, 2)), "z": slope(slice(2, 3))}


def model_pof_slopes(
    model, samples: list[dict], half_width: float = 1.0, out: dict | None = None
) -> dict | None:
    """`pof_slopes` of the model's last-stack POF on `samples` (None without a POF task).

    `half_width` is the bones' half-thickness of the training targets
    (`data.pof_half_width`), so that the slope is taken on the pixels trained;
    `out`: the model's outputs on `samples` (`predict`), when already computed.
    """
    from hiu_tf import targets

    cfg = model.model_config
    key = f"stack{cfg.num_stacks}_pof"
    out = predict(model, samples) if out is None else out
    if key not in out:
        return None
    field, weight = targets.part_orientation_fields(
        *(np.stack([s[k] for s in samples]) for k in LABEL_KEYS),
        input_size=cfg.input_size,
        heatmap_size=out[key].shape[1],
        half_width=half_width,
    )
    return pof_slopes(out[key], field.numpy(), weight.numpy())


def main(argv=None) -> int:
    args = parse_args(argv)
    from hiu_tf.data import tfrecord
    from hiu_tf.runs import load_run

    config, model = load_run(args.run)
    if model.mano is None:
        print(f"error: the model of {args.run} has no mesh head", file=sys.stderr)
        return 2
    results, slopes, tips, pof = {}, {}, {}, {}
    for folder in args.data:
        samples = list(tfrecord.read_tfrecords(folder).take(args.samples).as_numpy_iterator())
        out = predict(model, samples)
        labelled = np.stack([s["keypoints_px"] for s in samples])
        results[folder] = oracle_errors(model, samples, out)
        slopes[folder] = segment_slopes(out, labelled)
        if "keypoints_px_heatmap" in out:
            tips[folder] = tip_errors(out["keypoints_px_heatmap"], labelled)
        pof[folder] = model_pof_slopes(model, samples, config.data.pof_half_width, out)
    width = max(len(r) for r in ROWS)
    names = [os.path.basename(os.path.normpath(f)) for f in args.data]
    print(f"PA-MPJPE (mm) of {args.run}, {args.samples} records per folder")
    print(f"{'':<{width}}" + "".join(f"{n:>12}" for n in names))
    for row in ROWS:
        print(f"{row:<{width}}" + "".join(f"{results[f][row]:>12.2f}" for f in args.data))
    print()
    print("2D bone slope per finger segment (1 = drawn right, 0 = not followed)")
    print(f"{'':<{width}}{'folder':>12}" + "".join(f"{f'seg {k}':>8}" for k in range(1, 5)))
    for folder, name in zip(args.data, names, strict=True):
        for row, values in slopes[folder].items():
            print(f"{row:<{width}}{name:>12}" + "".join(f"{v:>8.2f}" for v in values))
    if len(tips) == len(args.data):
        print()
        print(
            "heat-map fingertips: error px, error along the last bone px (< 0: short of the tip),"
        )
        print("share closer to the joint below than to the tip")
        fingers = ("thumb", "index", "middle", "ring", "little")
        print(f"{'':<{width}}{'folder':>12}" + "".join(f"{f:>8}" for f in fingers))
        for folder, name in zip(args.data, names, strict=True):
            for row, values in tips[folder].items():
                print(f"{row:<{width}}{name:>12}" + "".join(f"{v:>8.2f}" for v in values))
    if all(v is not None for v in pof.values()):
        print()
        print("POF slope on its target per finger segment, on the bones' pixels (1 = learnt)")
        print(f"{'':<{width}}{'folder':>12}" + "".join(f"{f'seg {k}':>8}" for k in range(1, 5)))
        for folder, name in zip(args.data, names, strict=True):
            for part, values in pof[folder].items():
                label = f"POF {part}"
                print(f"{label:<{width}}{name:>12}" + "".join(f"{v:>8.2f}" for v in values))
    return 0


if __name__ == "__main__":
    sys.exit(main())
