import numpy as np
import pytest

from hiu_tf.layers.soft_argmax import SoftArgmax, soft_argmax_2d
from tests.helpers import run_layer_test


def _gaussians(points, size=16, sigma=1.5):
    ys, xs = np.mgrid[0:size, 0:size]
    maps = [np.exp(-((xs - x) ** 2 + (ys - y) ** 2) / (2 * sigma**2)) for x, y in points]
    return np.stack(maps, axis=-1)[None].astype("float32")  # [1, H, W, K]


def test_soft_argmax_layer():
    x = np.random.default_rng(0).uniform(size=(2, 8, 8, 3)).astype("float32")
    run_layer_test(
        SoftArgmax,
        {"scale": 4.0, "offset": 1.5},
        x,
        expected_output_shape=(2, 3, 2),
        expected_output_dtype="float32",
    )


def test_finds_gaussian_centres_eq1():
    points = [(4.0, 5.0), (10.25, 7.5), (8.0, 8.0)]
    out = np.asarray(soft_argmax_2d(_gaussians(points)))
    np.testing.assert_allclose(out[0], points, atol=1e-2)


def test_scale_offset_and_negative_maps():
    heatmaps = _gaussians([(3.0, 6.0)]) - 0.5  # negative background is clipped
    out = np.asarray(soft_argmax_2d(heatmaps, scale=4.0, offset=1.5))
    np.testing.assert_allclose(out[0, 0], [3.0 * 4 + 1.5, 6.0 * 4 + 1.5], atol=0.05)
    flat = np.asarray(soft_argmax_2d(-np.ones((1, 8, 8, 1), "float32")))
    np.testing.assert_allclose(flat[0, 0], [3.5, 3.5], atol=1e-4)  # the map centre


def test_bad_eps():
    with pytest.raises(ValueError, match="Received: eps=0"):
        SoftArgmax(eps=0)
