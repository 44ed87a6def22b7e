import numpy as np
import pytest

from hiu_tf.layers.soft_argmax import SoftArgmax, peak_2d, soft_argmax_2d
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


# ----------------------------------------------------------------------------- "peak"


def _peak_reference(maps, floor=1e-6):
    """Independent NumPy loops: arg max, then the parabola through three log values."""
    b_, h, w, k_ = maps.shape
    out = np.zeros((b_, k_, 2))
    logs = np.log(np.maximum(maps.astype(np.float64), floor))
    for b in range(b_):
        for k in range(k_):
            i, j = np.unravel_index(np.argmax(maps[b, :, :, k]), (h, w))
            loc = [float(j), float(i)]
            for axis, line in enumerate((logs[b, i, :, k], logs[b, :, j, k])):
                peak = loc[axis]
                m = min(max(peak, 1), len(line) - 2)
                before, centre, after = line[int(m) - 1 : int(m) + 2]
                curvature = before - 2 * centre + after
                if curvature < -1e-6:
                    vertex = m + 0.5 * (before - after) / curvature
                    loc[axis] = float(np.clip(vertex, peak - 0.5, peak + 0.5))
            out[b, k] = loc
    return out


def test_peak_is_exact_on_gaussian_targets_anywhere_in_the_map():
    from hiu_tf import targets

    rng = np.random.default_rng(1)
    keypoints = rng.uniform(-4.0, 68.0, (8, 21, 2)).astype("float32")  # past the borders too
    for sigma in (1.0, 2.0):
        maps = targets.gaussian_heatmaps(
            keypoints, np.ones((8, 21)), input_size=64, heatmap_size=16, sigma=sigma
        )
        found = np.asarray(peak_2d(maps, scale=4.0, offset=2.0))
        inside = (keypoints >= 0.0) & (keypoints <= 64.0)  # up to half a map pixel out
        np.testing.assert_allclose(found[inside], keypoints[inside], atol=2e-3)


def test_peak_matches_the_numpy_reference_on_random_maps():
    rng = np.random.default_rng(2)
    maps = rng.normal(0.0, 0.3, (4, 9, 11, 5)).astype("float32")
    maps[0, 0, 0, 0] = maps[1, 8, 10, 1] = maps[2, 4, 0, 2] = 5.0  # peaks on borders/corners
    maps[3, :, :, 3] = -1.0  # all below the floor: the arg max (0, 0), no refinement
    np.testing.assert_allclose(np.asarray(peak_2d(maps)), _peak_reference(maps), atol=1e-4)


def test_peak_ignores_what_is_away_from_the_peak():
    maps = _gaussians([(5.3, 6.6)], size=16, sigma=1.5)
    noisy = maps.copy()
    noisy[0, 12:, 12:, 0] += 0.4  # a second, lower blob far away
    noisy[0, :2, :, 0] += 0.2
    np.testing.assert_allclose(np.asarray(peak_2d(noisy)), [[[5.3, 6.6]]], atol=1e-3)
    # Eq. 1 is pulled towards the other blob.
    assert np.abs(np.asarray(soft_argmax_2d(noisy))[0, 0] - [5.3, 6.6]).max() > 1.0


def test_peak_gradient_matches_finite_differences():
    import tensorflow as tf

    rng = np.random.default_rng(3)
    maps = _gaussians([(4.3, 5.6), (9.8, 2.2)], size=12, sigma=1.5)
    maps = maps + rng.uniform(0.0, 0.05, maps.shape).astype("float32")
    weights = tf.constant(rng.normal(size=(1, 2, 2)), tf.float64)
    x = tf.Variable(maps.astype("float64"))

    def f(v):
        return tf.reduce_sum(tf.cast(peak_2d(tf.cast(v, tf.float32)), tf.float64) * weights)

    with tf.GradientTape() as tape:
        y = f(x)
    grad = tape.gradient(y, x).numpy()
    assert np.count_nonzero(grad) == 10  # the peak and its four neighbours, two maps
    for index in zip(*np.nonzero(grad), strict=True):
        step = np.zeros_like(maps, dtype="float64")
        step[index] = 1e-3
        numeric = (f(x + step) - f(x - step)).numpy() / 2e-3
        np.testing.assert_allclose(grad[index], numeric, rtol=2e-2, atol=1e-3)


def test_layer_modes():
    maps = _gaussians([(3.2, 6.9)]) - 0.2
    peak = np.asarray(SoftArgmax(scale=4.0, offset=2.0, mode="peak")(maps))
    np.testing.assert_allclose(peak[0, 0], [3.2 * 4 + 2, 6.9 * 4 + 2], atol=0.05)
    assert SoftArgmax(mode="peak").get_config()["mode"] == "peak"
    assert SoftArgmax().mode == "mean"  # the layer's own default: Eq. 1
    with pytest.raises(ValueError, match="Received: mode='max'"):
        SoftArgmax(mode="max")
