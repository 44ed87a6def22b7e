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

  `mask` stays S x S over `crop_box`; `camera`, `vertices` and `joints_cam` are
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

from export import graph
from export.graph import ExportError

logger = logging.getLogger(__name__)

SIGNATURE_DEFAULT = "serving_default"
SIGNATURE_BYTES = "serving_bytes"
IMAGES_INPUT = "images"
BYTES_INPUT = "image_bytes"
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
# `tensorflow.serving.PredictionLog` protos) when it loads a version. The serving
# API protos are not a dependency here, so the records are written in protobuf's
# wire format by hand (field numbers from tensorflow_serving/apis/*.proto):
#
#   PredictionLog  { PredictLog predict_log = 6; }
#   PredictLog     { PredictRequest request = 1; }
#   PredictRequest { ModelSpec model_spec = 1; map<string, TensorProto> inputs = 2; }
#   ModelSpec      { string name = 1; string signature_name = 3; }
#
# A map entry is a message { key = 1; value = 2; }. `read_warmup_requests`
# parses them back with message classes built from the same declarations.


def _varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2)."""
    return _varint(number << 3 | 2) + _varint(len(payload)) + payload


def prediction_log(model_name: str, signature_name: str, inputs: dict[str, Any]) -> bytes:
    """A serialised `PredictionLog` holding one `PredictRequest`.

    Args:
        model_name: the served model's name (`--model_name`).
        signature_name: the signature to call.
        inputs: input name -> array (converted with `tf.make_tensor_proto`).

    Returns:
        The serialised proto.
    """
    spec = _field(1, model_name.encode()) + _field(3, signature_name.encode())
    request = _field(1, spec)
    for name in sorted(inputs):
        tensor = tf.make_tensor_proto(inputs[name]).SerializeToString()
        request += _field(2, _field(1, name.encode()) + _field(2, tensor))
    return _field(6, _field(1, request))


def _serving_messages():
    """Message classes for the protos above, in a private descriptor pool."""
    from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
    from tensorflow.core.framework import tensor_pb2

    pool = descriptor_pool.DescriptorPool()
    added: set[str] = set()

    def add(file_descriptor) -> None:
        if file_descriptor.name in added:
            return
        for dependency in file_descriptor.dependencies:
            add(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)
        pool.Add(proto)
        added.add(file_descriptor.name)

    add(tensor_pb2.DESCRIPTOR)
    f = descriptor_pb2.FileDescriptorProto(
        name="hiu_export/prediction_log.proto",
        package="tensorflow.serving",
        syntax="proto3",
        dependency=[tensor_pb2.DESCRIPTOR.name],
    )
    string, message = (
        descriptor_pb2.FieldDescriptorProto.TYPE_STRING,
        descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE,
    )
    optional, repeated = (
        descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL,
        descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED,
    )

    def add_message(container, name, fields):
        m = container.add(name=name)
        for field_name, number, ftype, label, type_name in fields:
            m.field.add(
                name=field_name, number=number, type=ftype, label=label, type_name=type_name
            )
        return m

    add_message(
        f.message_type,
        "ModelSpec",
        [("name", 1, string, optional, None), ("signature_name", 3, string, optional, None)],
    )
    request = add_message(
        f.message_type,
        "PredictRequest",
        [
            ("model_spec", 1, message, optional, ".tensorflow.serving.ModelSpec"),
            ("inputs", 2, message, repeated, ".tensorflow.serving.PredictRequest.InputsEntry"),
        ],
    )
    entry = add_message(
        request.nested_type,
        "InputsEntry",
        [
            ("key", 1, string, optional, None),
            ("value", 2, message, optional, ".tensorflow.TensorProto"),
        ],
    )
    entry.options.map_entry = True
    add_message(
        f.message_type,
        "PredictLog",
        [("request", 1, message, optional, ".tensorflow.serving.PredictRequest")],
    )
    add_message(
        f.message_type,
        "PredictionLog",
        [("predict_log", 6, message, optional, ".tensorflow.serving.PredictLog")],
    )
    pool.Add(f)
    return message_factory.GetMessageClass(
        pool.FindMessageTypeByName("tensorflow.serving.PredictionLog")
    )


def read_warmup_requests(path: str) -> list[dict[str, Any]]:
    """Parses a warm-up file back (for checks): one dict per record.

    Returns:
        Dicts with `model_name`, `signature_name` and `inputs` (name -> NumPy array).
    """
    from tensorflow.core.framework import tensor_pb2

    log_class = _serving_messages()
    out = []
    for record in tf.data.TFRecordDataset(path).as_numpy_iterator():
        log = log_class.FromString(record)
        request = log.predict_log.request
        inputs = {
            key: tf.make_ndarray(tensor_pb2.TensorProto.FromString(value.SerializeToString()))
            for key, value in request.inputs.items()
        }
        out.append(
            {
                "model_name": request.model_spec.name,
                "signature_name": request.model_spec.signature_name,
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
            writer.write(record)
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
