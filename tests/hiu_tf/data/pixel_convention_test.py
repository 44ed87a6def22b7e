"""One pixel convention end to end: a dot drawn at a label stays on its label.

Datasets give keypoints (and K) in OpenCV's convention: integer values are
pixel centres. Each test draws a small Gaussian dot centred *in that
convention* at a labelled keypoint of a real image file, runs a reader's crop
and resize (and then the training pipeline's resize, augmentation and
heat-maps), and finds the dot's centre as the intensity-weighted centroid in
the project's convention (pixel column j spans [j, j + 1), centre j + 0.5). It
must lie within 0.1 px of the transformed label. Reading the labels in the
wrong convention moves the dot by 0.5 px times the resize factor (0.2-0.8 px
at the sizes used here).
"""

import json

import cv2
import numpy as np
import pytest

from hiu_tf.data import augment, pipeline, tfrecord
from hiu_tf.data.sources.coco_hand import CocoHandReader
from hiu_tf.data.sources.freihand import FreiHandReader
from tests.hiu_tf.data.sources.hands import project

SIGMA = 5.0  # source pixels
TOLERANCE = 0.1  # pixels of the output crop


def _dot(height: int, width: int, u: float, v: float, sigma: float = SIGMA) -> np.ndarray:
    """`[H, W, 3]` uint8: a Gaussian dot centred at (u, v) in OpenCV's convention (x = column)."""
    x = np.arange(width, dtype=np.float64)  # pixel centres on integers
    y = np.arange(height, dtype=np.float64)
    dot = np.exp(-((x[None, :] - u) ** 2 + (y[:, None] - v) ** 2) / (2.0 * sigma * sigma))
    grey = np.round(dot * 255.0).astype(np.uint8)
    return np.repeat(grey[..., None], 3, axis=-1)


def _centroid(intensity: np.ndarray) -> np.ndarray:
    """Intensity-weighted centre `(x, y)` of an `[H, W]` map, pixel centres at j + 0.5."""
    intensity = np.asarray(intensity, np.float64)
    h, w = intensity.shape
    total = intensity.sum()
    x = (intensity.sum(axis=0) * (np.arange(w) + 0.5)).sum() / total
    y = (intensity.sum(axis=1) * (np.arange(h) + 0.5)).sum() / total
    return np.array([x, y])


def _write_png(path, rgb: np.ndarray) -> None:
    assert cv2.imwrite(str(path), np.ascontiguousarray(rgb[..., ::-1]))


# The dotted keypoint sits between two undotted ones that set the crop (side 96 px with
# the default box scale), so the dot is near the crop centre.
DOT = (120.3, 117.7)
BOX_POINTS = ((90.2, 95.4), (150.6, 140.1))


def _coco_root(root, is_left: bool):
    (root / "images").mkdir(parents=True)
    (root / "annotations").mkdir()
    _write_png(root / "images" / "dot.png", _dot(220, 260, *DOT))
    keypoints = np.zeros((21, 3))
    keypoints[0] = (*DOT, 2)
    keypoints[5] = (*BOX_POINTS[0], 2)
    keypoints[17] = (*BOX_POINTS[1], 2)
    data = {
        "images": [{"id": 1, "file_name": "dot.png", "height": 220, "width": 260}],
        "annotations": [
            {
                "id": 1,
                "image_id": 1,
                "keypoints": keypoints.reshape(-1).tolist(),
                "handedness": "left" if is_left else "right",
            }
        ],
    }
    (root / "annotations" / "train.json").write_text(json.dumps(data))
    return root


@pytest.mark.parametrize("is_left", [False, True])
@pytest.mark.parametrize("size", [40, 160])  # the 96 px crop shrunk 2.4 x, enlarged 1.67 x
def test_reader_crop_and_resize_keep_the_dot_on_its_label(tmp_path, size, is_left):
    root = _coco_root(tmp_path, is_left)
    samples = dict(CocoHandReader(root, "train", image_size=size, jitter=False))
    sample = samples["1/1"]
    assert sample["is_left"] == is_left
    label = sample["keypoints_px"][0]
    error = np.abs(_centroid(sample["image"][..., 1]) - label).max()
    assert error < TOLERANCE, (error, label)


def test_freihand_intrinsics_project_onto_the_dot(tmp_path):
    """FreiHAND's labels are 3D joints and K: the dot is at K's projection (OpenCV's)."""
    k = np.array([[300.0, 0.0, 111.6], [0.0, 300.0, 113.2], [0.0, 0.0, 1.0]])
    joints = np.zeros((21, 3))
    joints[:, 2] = 0.5
    joints[1:, 0] = np.linspace(-0.05, 0.05, 20)
    joints[1:, 1] = np.linspace(0.04, -0.03, 20)
    joints[0] = (0.0013, 0.0021, 0.5)
    uv = project(joints, k)
    (tmp_path / "evaluation" / "rgb").mkdir(parents=True)
    # A lossless PNG under FreiHAND's .jpg name: the content decides the format.
    _write_png(tmp_path / "evaluation" / "rgb" / "00000000.jpg", _dot(224, 224, *uv[0]))
    for what, values in (("K", [k.tolist()]), ("xyz", [joints.tolist()])):
        (tmp_path / f"evaluation_{what}.json").write_text(json.dumps(values))
    sample = FreiHandReader(tmp_path, "eval", image_size=64).load(0)[0][1]
    label = sample["keypoints_px"][0]
    np.testing.assert_allclose(
        project(sample["joints_cam"], sample["intrinsics"]), sample["keypoints_px"], atol=1e-3
    )
    error = np.abs(_centroid(sample["image"][..., 1]) - label).max()
    assert error < TOLERANCE, (error, label)


def test_pipeline_resize_augmentation_and_heatmaps_keep_the_dot_on_its_label(tmp_path):
    root = _coco_root(tmp_path / "coco", is_left=False)
    reader = CocoHandReader(root, "train", image_size=40, jitter=False)
    records = tmp_path / "records"
    tfrecord.write_tfrecords(list(reader), records, "dot", image_format="png")
    geometry_only = augment.AugmentConfig(
        brightness=0.0, contrast=0.0, saturation=0.0, hue=0.0, blur_prob=0.0, noise_std_max=0.0
    )
    size, heatmap_size = 64, 16  # records of 40 px resized to 64, maps of 16
    ds = pipeline.build_dataset(
        [pipeline.Source(str(records))],
        image_size=size,
        heatmap_size=heatmap_size,
        batch_size=1,
        seed=5,
        augment=geometry_only,
        shuffle_buffer=0,
    )
    labels = []
    for batch in ds.take(6):  # six random rotations, zooms and shifts of the one sample
        label = batch["keypoints_px"][0, 0].numpy()
        labels.append(label)
        error = np.abs(_centroid(batch["image"][0, ..., 1].numpy()) - label).max()
        assert error < TOLERANCE, (error, label)
        # The heat-map's centre, in crop pixels, is the label too (away from the border).
        heatmap_centre = _centroid(batch["heatmaps"][0, ..., 0].numpy()) * size / heatmap_size
        assert np.abs(heatmap_centre - label).max() < TOLERANCE
    assert np.ptp(np.array(labels), axis=0).min() > 1.0  # the augmentation did move it
