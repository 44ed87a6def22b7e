"""`Predictor`: one interface over Keras, SavedModel and TFLite, with shared pre/post-processing.

    predictor = Predictor.load("runs/tiny")            # run folder, .keras, SavedModel, .tflite
    result = predictor.predict(image_rgb, box=(x, y, w, h), left=False)

Pre-processing (the same for every backend), with the image functions of
`hiu_tf.image` that the dataset readers use too:

1. Image files are read by `hiu_tf.image.read_image`: strictly (a truncated,
   empty or non-image file raises `hiu_tf.image.ImageError`), grayscale, RGBA
   and 16-bit files become 8-bit RGB and the EXIF orientation is applied.
   Arrays go through `hiu_tf.image.to_rgb8` (the same rules; an array of no
   image's shape or dtype raises `ImageError` too).
2. Images larger than `max_side` pixels on their longer side are first
   downscaled (area interpolation); outputs are mapped back to the full image.
3. The crop is a square: centred on `box` (x, y, w, h) with side max(w, h), or,
   without a box, centred on the image with side max(H, W) (the whole image,
   padded, as the SavedModel's `serving_bytes` does). Pixels outside the image
   are black. The square is resized to S x S (area when shrinking, bilinear
   when enlarging).
4. `left=True`: the crop is mirrored, the (right-hand) model runs on it, and the
   outputs are mirrored back by the readers' rules (`hiu_tf.mirror`): keypoints
   and mask horizontally; vertices and joints x -> -x; the pose's axis-angles
   (x, y, z) -> (x, -y, -z), i.e. for a left hand model; camera T_x -> -T_x.

Post-processing: keypoints in the original image's pixels; the mask (a
probability) pasted back at the image's size; vertices and joints stay in the
camera frame of the crop, whose intrinsics in original pixels are `intrinsics`.
Keypoints and intrinsics use the project's pixel convention (`mano_tf.camera`:
pixel column j spans [j, j + 1)); subtract 0.5 to compare them with labels in
OpenCV's convention (integers at pixel centres), as datasets give them.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Any

import numpy as np

from hiu_tf import image as image_lib
from hiu_tf import mirror
from hiu_tf.errors import UserError

logger = logging.getLogger(__name__)

DEFAULT_MAX_SIDE = 2048


class PredictError(UserError, ValueError):
    """A model path or a box that cannot be used (an unusable image raises `ImageError`)."""


# --------------------------------------------------------------------------- crops


@dataclasses.dataclass(frozen=True)
class Crop:
    """A square crop of the (possibly downscaled) image.

    Attributes:
        x0, y0: top-left corner in the working image's pixels (may be negative).
        side: side in working pixels.
        scale: working pixels per original pixel (<= 1; 1 = not downscaled).
    """

    x0: int
    y0: int
    side: int
    scale: float = 1.0

    def box_original(self) -> tuple[float, float, float, float]:
        """(x, y, w, h) of the crop in the original image's pixels."""
        s = self.scale
        return (self.x0 / s, self.y0 / s, self.side / s, self.side / s)


def square_box(height: int, width: int, box=None, scale: float = 1.0) -> Crop:
    """The square crop: around `box` (original pixels), or the whole image centred.

    Args:
        height, width: of the working image.
        box: (x, y, w, h) in original pixels, or None.
        scale: working pixels per original pixel.

    Raises:
        PredictError: a box without a positive width and height.
    """
    if box is None:
        return Crop(*image_lib.centred_square(height, width, max(height, width)), scale)
    x, y, w, h = (float(v) * scale for v in box)
    if not (w > 0 and h > 0):
        raise PredictError(f"a box needs a positive width and height. Received: box={box}")
    return Crop(*image_lib.square_around(x + w / 2.0, y + h / 2.0, max(w, h)), scale)


def cut_square(image: np.ndarray, crop: Crop, size: int) -> np.ndarray:
    """The crop of the working image resized to `size` x `size` (black outside the image)."""
    return image_lib.crop_square(image, crop.x0, crop.y0, crop.side, size)


def mirror_outputs(out: dict[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """The outputs of one mirrored `[S, S]` crop mirrored back, by the rules of `hiu_tf.mirror`."""
    out = dict(out)
    for key in ("keypoints_px", "keypoints_px_mesh"):
        if key in out:
            out[key] = mirror.pixels(out[key], size)
    if "mask" in out:
        out["mask"] = mirror.image(out["mask"])
    for key in ("vertices", "joints_cam"):
        if key in out:
            out[key] = mirror.points_cam(out[key])
    if "mano_pose" in out:
        out["mano_pose"] = mirror.axis_angles(out["mano_pose"])
    if "camera" in out:  # (f, T_x, T_y, T_z): the translation is a camera-frame point
        camera = np.array(out["camera"], np.float32)
        camera[..., 1:] = mirror.points_cam(camera[..., 1:])
        out["camera"] = camera
    return out


# --------------------------------------------------------------------------- backends


class _KerasBackend:
    def __init__(self, model, config=None):
        import tensorflow as tf

        from export import graph

        self.model = model
        self.config = config
        self.input_size = model.model_config.input_size
        self.faces = np.asarray(model.mano.faces) if model.mano is not None else None
        self.kind = "keras"
        self._fn = tf.function(lambda images: graph.forward(model, images, mesh=True))

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.asarray(v) for k, v in self._fn(images.astype(np.float32)).items()}


class _SavedModelBackend:
    def __init__(self, path: str):
        import tensorflow as tf

        from export import saved_model

        self.kind = "saved_model"
        self.module = tf.saved_model.load(path)
        self._fn = self.module.signatures[saved_model.SIGNATURE_DEFAULT]
        spec = self._fn.structured_input_signature[1][saved_model.IMAGES_INPUT]
        self.input_size = int(spec.shape[1])
        info = saved_model.read_export_info(path)
        self.faces = np.asarray(info["faces"]) if info.get("faces") else None
        self.config = info

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        import tensorflow as tf

        out = self._fn(images=tf.constant(images, tf.float32))
        return {k: v.numpy() for k, v in out.items()}


class _TFLiteBackend:
    def __init__(self, path: str, num_threads: int):
        from export import tflite

        self.kind = "tflite"
        self.runner = tflite.TFLiteRunner(path, num_threads=num_threads)
        self.input_size = self.runner.input_size
        info = tflite.read_info(path)
        self.faces = np.asarray(info["faces"]) if info.get("faces") else None
        self.config = info

    def __call__(self, images: np.ndarray) -> dict[str, np.ndarray]:
        return self.runner(images)


def _saved_model_dir(path: str) -> str | None:
    """`path` if it is a SavedModel, its newest numbered version if it is a base folder."""
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    versions = [
        d
        for d in os.listdir(path)
        if d.isdigit() and os.path.isfile(os.path.join(path, d, "saved_model.pb"))
    ]
    return os.path.join(path, max(versions, key=int)) if versions else None


# --------------------------------------------------------------------------- predictor


class Predictor:
    """Runs a model on whole images with the shared pre- and post-processing.

    Build it with `Predictor.load(path)` or `Predictor.from_keras(model)`.

    Args:
        backend: internal; one of the backends above.
        max_side: images with a longer side are downscaled first.
    """

    def __init__(self, backend, max_side: int = DEFAULT_MAX_SIDE):
        self.backend = backend
        self.input_size = backend.input_size
        self.faces = backend.faces
        self.kind = backend.kind
        self.max_side = int(max_side)

    @classmethod
    def from_keras(cls, model, config=None, **kwargs) -> Predictor:
        """A predictor over an in-memory `HIUModel`."""
        return cls(_KerasBackend(model, config), **kwargs)

    @classmethod
    def load(cls, path: str, num_threads: int | None = None, **kwargs) -> Predictor:
        """Loads a run folder, `.keras` file, SavedModel (version or base folder) or `.tflite`.

        Raises:
            PredictError: `path` is none of these.
        """
        if path.endswith(".tflite"):
            if not os.path.isfile(path):
                raise PredictError(f"model not found: {path!r}")
            return cls(_TFLiteBackend(path, num_threads or 2), **kwargs)
        if path.endswith(".keras"):
            if not os.path.isfile(path):
                raise PredictError(f"model not found: {path!r}")
            import keras

            import hiu_tf.model  # noqa: F401  (registers HIUModel for deserialisation)

            return cls(_KerasBackend(keras.saving.load_model(path, compile=False)), **kwargs)
        if os.path.isdir(path):
            from hiu_tf.runs import CONFIG_FILE, load_run

            if os.path.isfile(os.path.join(path, CONFIG_FILE)):
                config, model = load_run(path)
                return cls(_KerasBackend(model, config), **kwargs)
            found = _saved_model_dir(path)
            if found is not None:
                return cls(_SavedModelBackend(found), **kwargs)
        raise PredictError(
            "--model must be a run folder, a .keras file, a SavedModel folder or a .tflite "
            f"file. Received: {path!r}"
        )

    def run_crops(self, crops: np.ndarray) -> dict[str, np.ndarray]:
        """The raw outputs on `[N, S, S, 3]` uint8/float 0-255 crops (no mirroring)."""
        return self.backend(np.asarray(crops, np.float32))

    def predict(self, image: np.ndarray, box=None, left: bool = False) -> dict[str, Any]:
        """Runs on one image (see the module docstring).

        Args:
            image: `[H, W]` or `[H, W, 1|3|4]` RGB(A), uint8, uint16 or float in [0, 1].
            box: (x, y, w, h) around the hand in the image's pixels, or None.
            left: the hand is a left hand.

        Returns:
            A dict of NumPy arrays: the model's outputs with `keypoints_px` (and
            `keypoints_px_mesh`) in image pixels, `mask` `[H, W]` float32, and
            `crop_box` (x, y, w, h), `intrinsics` `[3, 3]` of the crop's camera in
            image pixels (when there is a camera), `image_size` (H, W), `is_left`.
        """
        image = image_lib.to_rgb8(image)
        full_h, full_w = image.shape[:2]
        image, scale = image_lib.limit_side(image, self.max_side)
        h, w = image.shape[:2]
        s = self.input_size
        crop = square_box(h, w, box, scale)
        patch = cut_square(image, crop, s)
        if left:
            patch = mirror.image(patch)
        out = {k: v[0] for k, v in self.run_crops(patch[None]).items()}
        if left:
            out = mirror_outputs(out, s)
        return self._to_image(out, crop, (h, w), (full_h, full_w), left)

    def _to_image(self, out, crop: Crop, working, full, left) -> dict[str, Any]:
        s = self.input_size
        ratio = crop.side / s / crop.scale  # original pixels per crop pixel
        x0, y0 = crop.x0 / crop.scale, crop.y0 / crop.scale
        result: dict[str, Any] = dict(out)
        for key in ("keypoints_px", "keypoints_px_mesh"):
            if key in out:
                result[key] = (out[key] * ratio + np.array([x0, y0])).astype(np.float32)
        if "mask" in out:
            mask = image_lib.paste_square(out["mask"], crop.x0, crop.y0, crop.side, *working)
            result["mask"] = image_lib.resize(mask, *full)  # bilinear up from a downscaled image
        if "camera" in out:
            f = float(out["camera"][0]) * ratio
            result["intrinsics"] = np.array(
                [
                    [f, 0.0, x0 + crop.side / crop.scale / 2],
                    [0.0, f, y0 + crop.side / crop.scale / 2],
                    [0.0, 0.0, 1.0],
                ],
                np.float32,
            )
        result["crop_box"] = np.array(crop.box_original(), np.float32)
        result["image_size"] = np.array(full, np.int32)
        result["is_left"] = bool(left)
        return result


# --------------------------------------------------------------------------- outputs


def draw_overlay(
    image: np.ndarray,
    result: dict[str, Any],
    faces: np.ndarray | None = None,
    max_side: int = DEFAULT_MAX_SIDE,
) -> np.ndarray:
    """An RGB uint8 overlay: mask, shaded mesh (when vertices and faces exist), skeleton.

    Drawn by `hiu_tf.visualize` (`draw_mask`, `draw_mesh`, `draw_skeleton` with
    white dots), lines thicker on larger images.

    Args:
        image: the `[H, W, 3]` uint8 RGB image the result belongs to.
        result: `Predictor.predict`'s output.
        faces: `[F, 3]` mesh faces, or None.
        max_side: larger images are drawn downscaled to this side.
    """
    from hiu_tf import visualize

    canvas, factor = image_lib.limit_side(image_lib.to_rgb8(image), max_side)
    h, w = canvas.shape[:2]
    if factor != 1.0:
        result = dict(result)
        for key in ("keypoints_px", "keypoints_px_mesh"):
            if key in result:
                result[key] = np.asarray(result[key]) * factor
        if "mask" in result:
            result["mask"] = image_lib.resize(result["mask"], h, w)
        if "intrinsics" in result:
            result["intrinsics"] = np.asarray(result["intrinsics"]) * [[factor], [factor], [1.0]]
    if "mask" in result:
        canvas = visualize.draw_mask(canvas, result["mask"], visualize.PRED_MASK_COLOR, 0.45)
    if faces is not None and "vertices" in result and "intrinsics" in result:
        canvas = visualize.draw_mesh(canvas, result["vertices"], faces, result["intrinsics"])
    if "keypoints_px" in result:
        thickness = max(int(round(max(h, w) / 300)), 1)
        canvas = visualize.draw_skeleton(
            canvas,
            result["keypoints_px"],
            thickness=thickness,
            radius=thickness + 1,
            point_color=(255, 255, 255),
        )
    return canvas


def result_to_json(result: dict[str, Any], **extra) -> dict[str, Any]:
    """JSON-ready outputs (no mask: it goes to a PNG)."""
    out: dict[str, Any] = {}
    for key, value in result.items():
        if key == "mask":
            continue
        out[key] = value.tolist() if isinstance(value, np.ndarray) else value
    out.update(extra)
    return out


def save_result(
    out_dir: str, name: str, image: np.ndarray, result: dict, faces=None, **extra
) -> dict[str, str]:
    """Writes `<name>_overlay.png`, `<name>_mask.png` (if any) and `<name>.json`."""
    os.makedirs(out_dir, exist_ok=True)
    paths = {"overlay": os.path.join(out_dir, f"{name}_overlay.png")}
    overlay = draw_overlay(image, result, faces)
    image_lib.write_image(paths["overlay"], overlay)
    if "mask" in result:
        paths["mask"] = os.path.join(out_dir, f"{name}_mask.png")
        image_lib.write_image(paths["mask"], result["mask"])
    paths["json"] = os.path.join(out_dir, f"{name}.json")
    data = result_to_json(result, **extra, mask_png=os.path.basename(paths.get("mask", "")) or None)
    with open(paths["json"], "w", encoding="utf-8") as f:
        json.dump(data, f)
    return paths


__all__ = [
    "Crop",
    "PredictError",
    "Predictor",
    "cut_square",
    "draw_overlay",
    "mirror_outputs",
    "save_result",
    "square_box",
]
