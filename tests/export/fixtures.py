"""Shared helpers for the export tests: a briefly trained `tiny` run and synthetic images.

An untrained model's heat-maps are nearly flat, so their peaks fall anywhere and
move with the smallest change of precision: parity on it proves little.
`trained_run` fits the `tiny` preset (without the training-only renderer) for a
few hundred steps on drawn hands, until its heat-maps have one clear peak near
each keypoint and its masks and mesh keypoints follow the hand: then outputs
differ substantially between images, and the parity tests compare something.
`tflite_test.test_fixture_localises_keypoints` checks that it does (median 1.9 px
from the drawn keypoints on unseen 64 px images; this needs the task decoders'
output convs to start near zero, see `hiu_tf.layers.task_decoder`).

Built once per test process (`functools.cache`) in a temporary folder, removed at exit.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import shutil
import tempfile

import numpy as np

TINY_SIZE = 64


def hand_model_spec(folder: str) -> str:
    """The hand model of the export tests: the project's open hand model.

    Args:
        folder: unused; kept so callers need not change if a file-based model returns.
    """
    del folder
    return "open:right"


def export_config(hand_model: str, input_size: int = TINY_SIZE, preset: str = "tiny"):
    """A preset at `input_size` with `hand_model`, without the training-only renderer."""
    from hiu_tf import presets

    cfg = presets.preset(preset)
    model = dataclasses.replace(
        cfg.model, hand_model=hand_model, render_mask=False, input_size=input_size
    )
    return dataclasses.replace(cfg, model=model)


# A flat right hand, 21 keypoints in the canonical order, in units of the hand's length
# (wrist at the origin, fingers up, thumb on the right as seen in the image).
_TEMPLATE = np.array(
    [
        (0.0, 0.0),
        (0.18, -0.12), (0.33, -0.26), (0.43, -0.4), (0.5, -0.52),
        (0.14, -0.45), (0.17, -0.65), (0.19, -0.78), (0.2, -0.9),
        (0.0, -0.48), (0.0, -0.7), (0.0, -0.84), (0.0, -0.97),
        (-0.13, -0.44), (-0.16, -0.63), (-0.18, -0.76), (-0.19, -0.87),
        (-0.24, -0.38), (-0.3, -0.52), (-0.33, -0.62), (-0.35, -0.72),
    ],
    np.float32,
)  # fmt: skip


def drawn_hands(size: int, count: int, seed: int = 0) -> list[dict]:
    """`count` images of a drawn 2D hand skeleton, with keypoints and masks.

    Each image: smooth random background, a hand template rotated, scaled and moved
    at random, a filled palm and the bones drawn as thick lines in one colour per
    finger (so that a small network learns every keypoint quickly); the mask = the
    drawn pixels.

    Returns:
        Dicts with `image` `[S, S, 3]` uint8, `keypoints_px` `[21, 2]` (pixel
        convention of `hiu_tf.model`), `mask` `[S, S]` {0, 1}.
    """
    import cv2

    from hiu_tf.keypoints import BONES, FINGER_COLORS_BGR, finger_of_keypoint

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        angle = rng.uniform(-np.pi, np.pi)
        rot = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
        length = rng.uniform(0.45, 0.7) * size
        points = _TEMPLATE @ rot.T * length
        points += rng.uniform(0.3, 0.7, 2) * size - points.mean(0)
        cells = rng.uniform(40, 200, (4, 4, 3)).astype(np.float32)
        image = cv2.resize(cells, (size, size), interpolation=cv2.INTER_CUBIC)
        image = np.clip(image + rng.normal(0, 8, image.shape), 0, 255).astype(np.uint8)
        mask = np.zeros((size, size), np.uint8)
        width = max(int(size / 12), 2)
        palm = np.round(points[[0, 1, 5, 9, 13, 17]] * 16 - 8).astype(np.int32)
        cv2.fillPoly(image, [palm], (200, 170, 150), cv2.LINE_AA, shift=4)
        cv2.fillPoly(mask, [palm], 1, cv2.LINE_AA, shift=4)
        for parent, child in BONES:
            colour = FINGER_COLORS_BGR[finger_of_keypoint(child)]
            a = tuple(int(v) for v in np.round(points[parent] * 16 - 8))
            b = tuple(int(v) for v in np.round(points[child] * 16 - 8))
            cv2.line(image, a, b, colour, width, cv2.LINE_AA, shift=4)
            cv2.line(mask, a, b, 1, width, cv2.LINE_AA, shift=4)
        cv2.circle(image, tuple(int(v) for v in points[0]), width, (255, 255, 255), -1)
        out.append({"image": image, "keypoints_px": points.astype(np.float32), "mask": mask})
    return out


def _fit(model, samples: list[dict], steps: int, seed: int, recalibrate: bool = False) -> None:
    import keras
    import tensorflow as tf

    from hiu_tf import targets

    cfg = model.model_config
    s, h = cfg.input_size, cfg.heatmap_size
    images = np.stack([x["image"] for x in samples]).astype(np.float32) / 255.0
    keypoints = np.stack([x["keypoints_px"] for x in samples]).astype(np.float32)
    visible = np.ones(keypoints.shape[:2], np.float32)
    heatmaps = targets.gaussian_heatmaps(
        keypoints, visible, input_size=s, heatmap_size=h, sigma=1.5
    ).numpy()
    masks = np.stack([x["mask"] for x in samples]).astype(np.float32)
    masks = targets.resize_mask(masks, h).numpy()[..., None]
    labels, losses, weights = {}, {}, {}
    for i in range(1, cfg.num_stacks + 1):
        labels[f"stack{i}_heatmaps"] = heatmaps
        losses[f"stack{i}_heatmaps"] = "mse"
        weights[f"stack{i}_heatmaps"] = 100.0
        labels[f"stack{i}_mask_logits"] = masks
        losses[f"stack{i}_mask_logits"] = keras.losses.BinaryCrossentropy(from_logits=True)
        weights[f"stack{i}_mask_logits"] = 1.0
    keras.utils.set_random_seed(seed)
    model.compile(
        optimizer=keras.optimizers.Adam(keras.optimizers.schedules.CosineDecay(3e-3, steps)),
        loss=losses,
        loss_weights=weights,
        jit_compile=False,
    )
    ds = tf.data.Dataset.from_tensor_slices((images, labels)).shuffle(len(images), seed=seed)
    ds = ds.repeat().batch(16)
    model.fit(ds, steps_per_epoch=steps, epochs=1, verbose=0)
    if recalibrate:
        # At most the first 256: one training-mode pass over thousands would not fit
        # in memory (`benchmarks/bench_decoders.py --hands`).
        recalibrate_batch_norm(model, images[:256])
    if cfg.mesh_head:
        # A few dozen steps barely move the regressor head (its last layer starts near
        # zero): give that layer random weights of a useful size, so that pose, shape
        # and camera, and so the mesh, change from image to image.
        kernel = model.head.out.kernel
        rng = np.random.default_rng(seed)
        kernel.assign(rng.normal(0.0, 1.0, kernel.shape).astype(np.float32))


def recalibrate_batch_norm(model, images: np.ndarray) -> None:
    """Sets every BatchNormalization's moving mean and variance to those of `images`.

    After a few hundred steps of fast training the moving averages (momentum
    0.99) still lag the weights. One training-mode pass with momentum 0
    replaces them by the statistics of `images` ("precise BN"); nothing else
    changes. Measured before the task decoders' output convs started near zero
    (on models that did not yet localise keypoints): a briefly trained `mobile`
    gave inference-mode heat-maps peaking at 0.13 instead of 1.35 and empty
    masks; `tiny`'s inference-mode peaks were within 10 % of the recalibrated
    ones, and it is not recalibrated. Not remeasured since.
    """
    import keras

    layers = [
        layer
        for layer in model._flatten_layers(include_self=False)
        if isinstance(layer, keras.layers.BatchNormalization)
    ]
    momenta = [layer.momentum for layer in layers]
    for layer in layers:
        layer.momentum = 0.0
    try:
        model(images, training=True)
    finally:
        for layer, momentum in zip(layers, momenta, strict=True):
            layer.momentum = momentum


@functools.cache
def trained_run(steps: int = 300, count: int = 64, seed: int = 0) -> str:
    """A run folder (`config.yaml`, `model.keras`) of a briefly trained tiny model.

    Heat-maps and masks are trained (`steps` Adam steps on `count` drawn hands);
    the regressor head's last layer gets random weights.

    Returns:
        The run folder (in a temporary folder removed when the process exits).
    """
    import keras

    from hiu_tf.model import build_model
    from hiu_tf.runs import save_run_model

    root = tempfile.mkdtemp(prefix="hiu_export_test_")
    atexit.register(shutil.rmtree, root, ignore_errors=True)  # 5-15 MB per test process
    hand_model = hand_model_spec(root)
    cfg = export_config(hand_model)
    keras.utils.set_random_seed(seed)
    model = build_model(cfg.model)
    _fit(model, drawn_hands(TINY_SIZE, count, seed), steps, seed)
    run_dir = os.path.join(root, "runs", "tiny")
    save_run_model(run_dir, cfg, model)
    return run_dir


@functools.cache
def hand_images(count: int = 6, seed: int = 100) -> np.ndarray:
    """`[count, 64, 64, 3]` uint8 drawn hands unseen in training."""
    return np.stack([x["image"] for x in drawn_hands(TINY_SIZE, count, seed)])


@functools.cache
def loaded_run():
    """`(config, model)` of `trained_run()`."""
    from hiu_tf.runs import load_run

    return load_run(trained_run())


@functools.cache
def saved_model_dir(mesh: bool = True) -> str:
    """A SavedModel version folder exported from `trained_run()`."""
    from export.saved_model import export_saved_model

    config, model = loaded_run()
    base = os.path.join(os.path.dirname(os.path.dirname(trained_run())), "exports")
    return export_saved_model(
        config, model, os.path.join(base, "hiu" if mesh else "nomesh"), mesh=mesh
    )


@functools.cache
def tflite_file(quant: str) -> str:
    """A `.tflite` export of `trained_run()` (int8 calibrated on 128 drawn hands)."""
    from export.tflite import export_tflite

    config, model = loaded_run()
    path = os.path.join(os.path.dirname(os.path.dirname(trained_run())), f"tiny_{quant}.tflite")
    rep = None
    if quant == "int8":
        rep = drawn_hands(TINY_SIZE, 128, seed=7)
        rep = np.stack([x["image"] for x in rep]).astype(np.float32)
    export_tflite(config, model, path, quant, representative=rep)
    return path


PHONE_SIZE = 256  # the deployment issue's input size


def trained_phone_model(
    preset: str, seed: int = 0, steps: int = 300, hands: int = 64, size: int = PHONE_SIZE
):
    """`(config, model)`: a phone-class preset at `size` trained as the slow parity test
    does (`steps` Adam steps on `hands` drawn hands, then BN statistics recalibrated).

    Recalibrated BN statistics: without, a model trained like this (before the task
    decoders' output convs started near zero) gave inference-mode heat-maps peaking at
    ~0.13 (1.35 in training mode) and empty masks (`recalibrate_batch_norm`).
    """
    import keras

    from hiu_tf.model import build_model

    cfg = export_config(hand_model_spec(""), size, preset)
    keras.utils.set_random_seed(seed)
    model = build_model(cfg.model)
    _fit(model, drawn_hands(size, hands, seed), steps, seed, recalibrate=True)
    return cfg, model


def phone_test_images(
    seed: int = 0, size: int = PHONE_SIZE
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """`(unseen images [32, S, S, 3] float32, their keypoints [32, 21, 2], 128 calibration
    images)` for `trained_phone_model(..., seed)` (672 unseen keypoints)."""
    unseen = drawn_hands(size, 32, 100 + seed)
    images = np.stack([x["image"] for x in unseen]).astype(np.float32)
    truth = np.stack([x["keypoints_px"] for x in unseen])
    rep = np.stack([x["image"] for x in drawn_hands(size, 128, 7)]).astype(np.float32)
    return images, truth, rep


def parity(path: str, model, images: np.ndarray, batch_size: int = 32) -> tuple[dict, dict, dict]:
    """A `.tflite` export against Keras (`export.graph.forward`) on `images`.

    Keras runs `batch_size` images at a time, so that hundreds of large crops (a
    benchmark's held-out set) fit in memory.

    Returns:
        `(errors, TFLite outputs, Keras outputs)`; errors: the largest keypoint
        distances (`keypoints_px`, `keypoints_px_mesh`) and the smallest and mean mask IoU.
    """
    from export import graph, tflite

    got = tflite.TFLiteRunner(path)(images)
    chunks = [
        graph.forward(model, images[start : start + batch_size])
        for start in range(0, len(images), batch_size)
    ]
    ref = {k: np.concatenate([np.asarray(c[k]) for c in chunks]) for k in chunks[0]}
    ious = [mask_iou(g, r) for g, r in zip(got["mask"], ref["mask"], strict=True)]
    errors = {
        "keypoints_px": keypoint_error(got["keypoints_px"], ref["keypoints_px"]),
        "keypoints_px_mesh": keypoint_error(got["keypoints_px_mesh"], ref["keypoints_px_mesh"]),
        "mask_iou_min": min(ious),
        "mask_iou_mean": float(np.mean(ious)),
    }
    return errors, got, ref


def keypoint_error(a: np.ndarray, b: np.ndarray) -> float:
    """Largest Euclidean distance between corresponding points, pixels."""
    return float(np.linalg.norm(np.asarray(a) - np.asarray(b), axis=-1).max())


def mask_iou(a: np.ndarray, b: np.ndarray, threshold: float = 0.5) -> float:
    """IoU of two probability masks thresholded at `threshold` (1 when both are empty)."""
    a, b = np.asarray(a) > threshold, np.asarray(b) > threshold
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


# The int8 export's keypoint goal, judged on many keypoints (docs/export.md, "The int8
# goal"). The deployment issue first asked for every int8 keypoint within 3 px of Keras';
# on 672 unseen keypoints 1 of 13 runs of the phone presets met that (`bench_decoders.py`
# and the slow parity test: 93.9-100 % within 3 px, largest 2.9-65 px, varying from one
# trained model to the next): where Keras' own map is broad or has two near-equal peaks,
# an int8 trunk moves the arg max, and Keras is as far from the hand there. What int8
# must keep is the agreement on typical keypoints and the accuracy: int8's mean error
# against the labels changed by -0.04 to +0.21 px in those runs. The share is a guard
# against a broken export (a fixture whose maps were noise gave 40-76 %).
INT8_KEYPOINT_GOAL = {
    "within_3px": 0.90,  # share of keypoints within 3 px of Keras', at least
    "median_px": 1.0,  # median distance to Keras', at most
    "mean_error_rise_px": 0.3,  # int8's mean distance to the labels minus Keras', at most
}


def int8_keypoint_parity(got: np.ndarray, ref: np.ndarray, truth: np.ndarray) -> dict:
    """int8 keypoints `got` against Keras' `ref` and the labels `truth` (`[..., 2]`, px).

    Returns the measures of `INT8_KEYPOINT_GOAL`, the largest distance to Keras'
    (`max_px`), and `meets_goal`.
    """
    from hiu_tf.metrics import keypoint_errors

    distance = keypoint_errors(got, ref)
    rise = keypoint_errors(got, truth).mean() - keypoint_errors(ref, truth).mean()
    out = {
        "median_px": float(np.median(distance)),
        "within_3px": float(np.mean(distance <= 3.0)),
        "max_px": float(distance.max()),
        "mean_error_rise_px": float(rise),
    }
    goal = INT8_KEYPOINT_GOAL
    out["meets_goal"] = bool(
        out["within_3px"] >= goal["within_3px"]
        and out["median_px"] <= goal["median_px"]
        and out["mean_error_rise_px"] <= goal["mean_error_rise_px"]
    )
    return out


class InProcessServing:
    """A gRPC `PredictionService` on the loopback (a random port), for client tests.

    `predict(signature_name, inputs)` maps the request's input arrays to batched
    output arrays; a `KeyError` it raises (unknown signature or input) becomes the
    INVALID_ARGUMENT status TF Serving answers with. Received requests are kept in
    `requests`. Call `stop()` when done.
    """

    def __init__(self, predict):
        from concurrent import futures

        import grpc
        from tensorflow_serving.apis import prediction_service_pb2_grpc

        from export import client

        requests = self.requests = []

        class Servicer(prediction_service_pb2_grpc.PredictionServiceServicer):
            def Predict(self, request, context):
                requests.append(request)
                signature, inputs = client.decode_grpc_request(request)
                try:
                    outputs = predict(signature, inputs)
                except KeyError as e:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(e.args[0]))
                return client.grpc_response_from_outputs(outputs)

        self.server = grpc.server(futures.ThreadPoolExecutor(max_workers=1))
        prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.target = f"127.0.0.1:{self.port}"
        self.server.start()

    def stop(self) -> None:
        self.server.stop(grace=None)
