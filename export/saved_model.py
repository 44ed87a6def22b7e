"""SavedModel export for TF Serving: two signatures, versioned folders, warm-up requests.

Layout (TF Serving's: a model folder of numbered version folders):

    exports/hiu/                 the model base folder (`--model_base_path`)
        1/                       one version
            saved_model.pb, variables/, fingerprint.pb
            assets.extra/
                tf_serving_warmup_requests   TFRecord of PredictionLog protos
                config.yaml                  the run's resolved ExperimentConfig
                export_info.json             input size, output keys, options

A version folder is written under a temporary name next to it and renamed when
complete, so a server watching the base folder never loads half a model.

Signatures (see `export.graph` for the outputs; all float32):

* `serving_default`: input `images` `[N, S, S, 3]` float32 RGB in [0, 255]; pixel
  outputs are in the S x S input.
* `serving_bytes`: input `image_bytes` `[N]` string, each an encoded JPEG, PNG,
  GIF (first frame) or BMP of any size (grayscale and alpha are turned into RGB;
  16-bit PNGs are scaled to 8 bits). Each image is padded with black to a square
  of side max(H, W), centred (so the aspect ratio is kept), then resized to S x S
  (bilinear, antialiased). EXIF orientation is *not* applied (TensorFlow's
  decoders ignore it): send upright pixels. Outputs are those of
  `serving_default`, except that `keypoints_px` (and `keypoints_px_mesh`) are in
  the pixels of the original image, and two more:

      crop_box     [N, 4]  (x, y, w, h) of the padded square in the original image's
                           pixels (x, y <= 0 where padding was added); `mask` covers it
      image_size   [N, 2]  int32 (height, width) of the decoded image

  `mask` stays S x S (or its maps' m x m, `model.mask_output`) over `crop_box`; `camera`, `vertices` and `joints_cam` are
  those of the S x S crop (focal length in crop pixels; multiply it by w / S for
  original pixels; the principal point is the crop centre).

`mesh=False` (`--no-mesh`) leaves out the hand model's arrays: the SavedModel
holds only the network's variables and outputs pose, shape and camera
parameters (no vertices, joints_cam, keypoints_px_mesh).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import shutil
import tempfile
from typing import Any

import numpy as np
import tensorflow as tf

from export import client, graph
from export.client import BYTES_INPUT, IMAGES_INPUT, SIGNATURE_BYTES, SIGNATURE_DEFAULT
from export.graph import ExportError

logger = logging.getLogger(__name__)

ASSETS_EXTRA = "assets.extra"
WARMUP_FILE = "tf_serving_warmup_requests"
CONFIG_FILE = "config.yaml"
INFO_FILE = "export_info.json"


# --------------------------------------------------------------------------- layout


def version_dir(out: str, version: int) -> str:
    """The version folder that `out` names.

    `out` ending in a number (`exports/hiu/3`) is the version folder itself;
    anything else (`exports/hiu`) is the model base folder and `version` is
    appended (`exports/hiu/1`).

    Raises:
        ExportError: `version` < 1 or a numbered `out` of 0.
    """
    out = os.path.normpath(out)
    name = os.path.basename(out)
    if name.isdigit():
        if int(name) < 1:
            raise ExportError(f"TF Serving versions are numbers >= 1. Received: --out {out!r}")
        return out
    if version < 1:
        raise ExportError(f"export.version must be >= 1. Received: version={version}")
    return os.path.join(out, str(version))


# --------------------------------------------------------------------------- pre-processing


def decode_and_pad(image_bytes: tf.Tensor, size: int) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Decodes encoded images, pads each to a centred square and resizes it to `size`.

    Args:
        image_bytes: `[N]` string tensor of encoded images.
        size: output side S.

    Returns:
        `images [N, S, S, 3]` float32 in [0, 255], `crop_box [N, 4]` float32
        (x, y, w, h) of the square in original pixels, `image_size [N, 2]` int32
        (height, width).
    """

    def one(data):
        image = tf.io.decode_image(data, channels=3, dtype=tf.uint8, expand_animations=False)
        h, w = tf.shape(image)[0], tf.shape(image)[1]
        side = tf.maximum(h, w)
        top, left = (side - h) // 2, (side - w) // 2
        square = tf.pad(image, [[top, side - h - top], [left, side - w - left], [0, 0]])
        resized = tf.image.resize(
            tf.cast(square[None], tf.float32), (size, size), method="bilinear", antialias=True
        )[0]
        box = tf.cast(tf.stack([-left, -top, side, side]), tf.float32)
        return tf.clip_by_value(resized, 0.0, 255.0), box, tf.stack([h, w])

    return tf.map_fn(
        one,
        image_bytes,
        fn_output_signature=(
            tf.TensorSpec([size, size, 3], tf.float32),
            tf.TensorSpec([4], tf.float32),
            tf.TensorSpec([2], tf.int32),
        ),
    )


def _to_original(points: tf.Tensor, crop_box: tf.Tensor, size: int) -> tf.Tensor:
    """`[N, K, 2]` crop pixels -> original pixels (crop spans [0, S], box (x, y, w, h))."""
    return crop_box[:, None, :2] + points * (crop_box[:, None, 2:3] / size)


# --------------------------------------------------------------------------- warm-up records
#
# TF Serving replays `assets.extra/tf_serving_warmup_requests` (a TFRecord file of
# `tensorflow.serving.PredictionLog` protos) when it loads a version, so the first
# real request does not pay for tracing and memory allocation. The records are
# `tensorflow-serving-api`'s own messages; their `PredictRequest`s are built by
# the gRPC client's `export.client.predict_request`.


def prediction_log(model_name: str, signature_name: str, inputs: dict[str, Any]):
    """A `PredictionLog` holding one `PredictRequest` (a warm-up record).

    Args:
        model_name: the served model's name (`--model_name`).
        signature_name: the signature to call.
        inputs: input name -> array (converted with `tf.make_tensor_proto`).
    """
    from tensorflow_serving.apis import prediction_log_pb2

    log = prediction_log_pb2.PredictionLog()
    log.predict_log.request.CopyFrom(client.predict_request(inputs, model_name, signature_name))
    return log


def read_warmup_requests(path: str) -> list[dict[str, Any]]:
    """Parses a warm-up file back (for checks): one dict per record.

    Returns:
        Dicts with `model_name`, `signature_name` and `inputs` (name -> NumPy array).

    Raises:
        ExportError: a record that is not a `PredictionLog` with a `predict_log`.
    """
    from google.protobuf.message import DecodeError
    from tensorflow_serving.apis import prediction_log_pb2

    out = []
    for i, record in enumerate(tf.data.TFRecordDataset(path).as_numpy_iterator()):
        try:
            log = prediction_log_pb2.PredictionLog.FromString(record)
        except DecodeError as e:
            raise ExportError(f"{path}: record {i} is not a PredictionLog: {e}") from e
        if log.WhichOneof("log_type") != "predict_log":
            raise ExportError(
                f"{path}: record {i} holds {log.WhichOneof('log_type')}, not a predict_log"
            )
        request = log.predict_log.request
        signature_name, inputs = client.decode_grpc_request(request)
        out.append(
            {
                "model_name": request.model_spec.name,
                "signature_name": signature_name,
                "inputs": inputs,
            }
        )
    return out


def warmup_image(size: int) -> np.ndarray:
    """A deterministic `[size, size, 3]` uint8 test card (gradients) for warm-up requests."""
    ramp = np.linspace(0, 255, size, dtype=np.float32)
    image = np.stack(
        [
            np.broadcast_to(ramp[None, :], (size, size)),
            np.broadcast_to(ramp[:, None], (size, size)),
            np.full((size, size), 128.0, np.float32),
        ],
        axis=-1,
    )
    return image.astype(np.uint8)


def write_warmup_requests(path: str, model_name: str, size: int, bytes_signature: bool) -> int:
    """Writes the warm-up file: one request per signature (batch of one). Returns the count."""
    import cv2

    image = warmup_image(size)
    records = [
        prediction_log(
            model_name, SIGNATURE_DEFAULT, {IMAGES_INPUT: image[None].astype(np.float32)}
        )
    ]
    if bytes_signature:
        ok, png = cv2.imencode(".png", image[..., ::-1])
        if not ok:
            raise RuntimeError("cv2.imencode failed on the warm-up image")
        records.append(
            prediction_log(
                model_name, SIGNATURE_BYTES, {BYTES_INPUT: np.array([png.tobytes()], dtype=object)}
            )
        )
    with tf.io.TFRecordWriter(path) as writer:
        for record in records:
            writer.write(record.SerializeToString())
    return len(records)


# --------------------------------------------------------------------------- export


def _endpoints(model, mesh: bool):
    size = model.model_config.input_size

    def serve_images(images):
        return graph.forward(model, images, mesh=mesh)

    def serve_bytes(image_bytes):
        images, crop_box, image_size = decode_and_pad(image_bytes, size)
        out = dict(graph.forward(model, images, mesh=mesh))
        for key in ("keypoints_px", "keypoints_px_mesh"):
            if key in out:
                out[key] = _to_original(out[key], crop_box, size)
        out["crop_box"] = crop_box
        out["image_size"] = image_size
        return out

    return serve_images, serve_bytes


def export_saved_model(
    config,
    model,
    out: str,
    *,
    mesh: bool = True,
    version: int | None = None,
    model_name: str | None = None,
    bytes_signature: bool | None = None,
    warmup: bool = True,
    overwrite: bool = False,
) -> str:
    """Writes a SavedModel version folder for TF Serving (see the module docstring).

    Args:
        config: the run's `ExperimentConfig` (saved beside the model).
        model: the `HIUModel`.
        out: the version folder (`.../3`) or the model base folder (see `version_dir`).
        mesh: include the hand model (vertices, joints_cam, keypoints_px_mesh).
        version: version number for a base folder; None = `config.export.version`.
        model_name: model name in the warm-up requests; None = the base folder's name.
        bytes_signature: add `serving_bytes`; None = `config.export.bytes_signature`.
        warmup: write `assets.extra/tf_serving_warmup_requests`.
        overwrite: replace an existing version folder.

    Returns:
        The version folder.

    Raises:
        ExportError: the folder exists (without `overwrite`) or the model cannot be
            exported with these options.
    """
    import keras

    graph.check_exportable(model, mesh)
    export_cfg = config.export
    if export_cfg.include_renderer:
        logger.warning("export.include_renderer is ignored: exports never include the renderer")
    target = version_dir(out, export_cfg.version if version is None else version)
    if bytes_signature is None:
        bytes_signature = export_cfg.bytes_signature
    if model_name is None:
        model_name = os.path.basename(os.path.dirname(os.path.abspath(target))) or "hiu"
    if os.path.exists(target) and os.listdir(target) and not overwrite:
        raise ExportError(f"{target} exists and is not empty; pass --force to replace it")
    size = model.model_config.input_size
    parent = os.path.dirname(os.path.abspath(target))
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".tmp-{os.path.basename(target)}-", dir=parent)
    try:
        serve_images, serve_bytes = _endpoints(model, mesh)
        archive = keras.export.ExportArchive()
        archive.add_endpoint(
            SIGNATURE_DEFAULT,
            serve_images,
            input_signature=[tf.TensorSpec([None, size, size, 3], tf.float32, IMAGES_INPUT)],
        )
        if bytes_signature:
            archive.add_endpoint(
                SIGNATURE_BYTES,
                serve_bytes,
                input_signature=[tf.TensorSpec([None], tf.string, BYTES_INPUT)],
            )
        archive.write_out(tmp, verbose=False)  # traces: keep the shims on
        extra = os.path.join(tmp, ASSETS_EXTRA)
        os.makedirs(extra, exist_ok=True)
        from hiu_tf.config import save_config

        save_config(config, os.path.join(extra, CONFIG_FILE), header="The run's config.")
        info = {
            "format": "hiu_tf saved_model",
            "name": config.name,
            "input_size": size,
            "mesh": bool(mesh and model.model_config.mesh_head),
            "signatures": [SIGNATURE_DEFAULT] + ([SIGNATURE_BYTES] if bytes_signature else []),
            "outputs": list(graph.output_keys(model, mesh)),
            "hand_model": model.mano.hand_model_name if (mesh and model.mano) else None,
            "faces": (
                np.asarray(model.mano.faces).astype(int).tolist() if (mesh and model.mano) else None
            ),
            "keypoints": "canonical 21 (hiu_tf.keypoints), (x, y) pixels",
            "model": dataclasses.asdict(model.model_config),
        }
        with open(os.path.join(extra, INFO_FILE), "w", encoding="utf-8") as f:
            json.dump(info, f, indent=2, default=list)
        if warmup:
            write_warmup_requests(
                os.path.join(extra, WARMUP_FILE), model_name, size, bytes_signature
            )
        if os.path.exists(target):
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    logger.info("wrote SavedModel %s (signatures: %s)", target, ", ".join(info["signatures"]))
    return target


def read_export_info(path: str) -> dict[str, Any]:
    """`assets.extra/export_info.json` of a version folder, or {} when absent."""
    info = os.path.join(path, ASSETS_EXTRA, INFO_FILE)
    if not os.path.isfile(info):
        return {}
    with open(info, encoding="utf-8") as f:
        return json.load(f)


__all__ = [
    "SIGNATURE_BYTES",
    "SIGNATURE_DEFAULT",
    "decode_and_pad",
    "export_saved_model",
    "prediction_log",
    "read_export_info",
    "read_warmup_requests",
    "version_dir",
]
