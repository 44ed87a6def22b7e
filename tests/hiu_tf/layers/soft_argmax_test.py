import numpy as np
import pytest

from hiu_tf.layers.soft_argmax import (
    SoftArgmax,
    dark_2d,
    gaussian_blur,
    peak_2d,
    soft_argmax_2d,
)
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


def _gradient_and_finite_differences(decode, points, size, seed, every=1):
    """The gradient of a random weighting of `decode(maps)` on noisy Gaussians, and the
    float64 central differences at every `every`-th of its non-zero entries."""
    import tensorflow as tf

    rng = np.random.default_rng(seed)
    maps = _gaussians(points, size=size, sigma=1.5)
    maps = maps + rng.uniform(0.0, 0.05, maps.shape).astype("float32")
    weights = tf.constant(rng.normal(size=(1, len(points), 2)), tf.float64)
    x = tf.Variable(maps.astype("float64"))

    def f(v):
        return tf.reduce_sum(tf.cast(decode(tf.cast(v, tf.float32)), tf.float64) * weights)

    with tf.GradientTape() as tape:
        y = f(x)
    grad = tape.gradient(y, x).numpy()
    numeric = {}
    for index in list(zip(*np.nonzero(grad), strict=True))[::every]:
        step = np.zeros_like(maps, dtype="float64")
        step[index] = 1e-3
        numeric[index] = (f(x + step) - f(x - step)).numpy() / 2e-3
    return grad, numeric


def test_peak_gradient_matches_finite_differences():
    grad, numeric = _gradient_and_finite_differences(peak_2d, [(4.3, 5.6), (9.8, 2.2)], 12, 3)
    assert np.count_nonzero(grad) == 10  # the peak and its four neighbours, two maps
    for index, value in numeric.items():
        np.testing.assert_allclose(grad[index], value, rtol=2e-2, atol=1e-3)


# ----------------------------------------------------------------------------- "dark"


def _blur_reference(maps, sigma):
    """Independent NumPy: each row, then each column, convolved with the sampled Gaussian
    (truncated at 3 sigma, normalised), zeros outside the map."""
    radius = int(np.ceil(3 * sigma))
    taps = np.exp(-0.5 * (np.arange(-radius, radius + 1) / sigma) ** 2)
    taps /= taps.sum()

    def along(axis, x):
        n = x.shape[axis]
        return np.apply_along_axis(lambda v: np.convolve(v, taps)[radius : radius + n], axis, x)

    return along(1, along(2, maps))


def _dark_reference(maps, sigma=2.0, floor=1e-6):
    """Independent NumPy loops: blur, arg max, Newton step with the 2 x 2 Hessian."""
    maps = maps.astype(np.float64)
    blurred = _blur_reference(maps, sigma) if sigma else maps
    b_, h, w, k_ = maps.shape
    out = np.zeros((b_, k_, 2))
    for b in range(b_):
        for k in range(k_):
            i, j = np.unravel_index(np.argmax(blurred[b, :, :, k]), (h, w))
            r, c = min(max(i, 1), h - 2), min(max(j, 1), w - 2)
            patch = np.log(np.maximum(blurred[b, r - 1 : r + 2, c - 1 : c + 2, k], floor))
            gradient = (
                np.array([patch[1, 2] - patch[1, 0], patch[2, 1] - patch[0, 1]]) / 2
            )  # (d/dx, d/dy)
            dxy = (patch[2, 2] - patch[2, 0] - patch[0, 2] + patch[0, 0]) / 4
            hessian = np.array(
                [
                    [patch[1, 2] - 2 * patch[1, 1] + patch[1, 0], dxy],
                    [dxy, patch[2, 1] - 2 * patch[1, 1] + patch[0, 1]],
                ]
            )
            loc = np.array([j, i], np.float64)
            if hessian[0, 0] < -1e-6 and np.linalg.det(hessian) > 1e-9:
                vertex = np.array([c, r]) - np.linalg.solve(hessian, gradient)
                loc = np.clip(vertex, loc - 0.5, loc + 0.5)
            out[b, k] = loc
    return out


def test_blur_matches_the_numpy_reference():
    # H != W and a batch of 2: the blur runs on reshaped, transposed maps.
    maps = np.random.default_rng(7).normal(size=(2, 9, 13, 3)).astype("float32")
    for sigma in (0.7, 2.0):
        np.testing.assert_allclose(
            np.asarray(gaussian_blur(maps, sigma)), _blur_reference(maps, sigma), atol=1e-5
        )
    assert gaussian_blur(maps, 0.0) is maps


def test_dark_matches_the_numpy_reference_on_random_maps():
    rng = np.random.default_rng(4)
    maps = rng.uniform(0.0, 0.2, (4, 12, 14, 5)).astype("float32")
    maps[0, 0, 0, 0] = maps[1, 11, 13, 1] = maps[2, 5, 0, 2] = 5.0  # peaks on borders/corners
    # All below the floor: the arg max (near the corner (0, 0)), no refinement.
    maps[3, :, :, 3] = -1.0 - 0.01 * np.add.outer(np.arange(12), np.arange(14))
    for sigma in (0.0, 1.0, 2.0):
        np.testing.assert_allclose(
            np.asarray(dark_2d(maps, sigma=sigma)), _dark_reference(maps, sigma), atol=1e-4
        )
    found = np.asarray(dark_2d(maps, scale=4.0, offset=2.0, sigma=1.5))
    np.testing.assert_allclose(found, _dark_reference(maps, 1.5) * 4.0 + 2.0, atol=4e-4)


def test_dark_is_exact_on_gaussians_away_from_the_borders():
    rng = np.random.default_rng(5)
    points = rng.uniform(8.0, 24.0, (6, 2))
    for sigma in (1.0, 2.0):
        maps = _gaussians(points, size=32, sigma=sigma)
        np.testing.assert_allclose(np.asarray(dark_2d(maps, sigma=2.0))[0], points, atol=0.02)
    # An elongated, rotated Gaussian: the full Hessian finds its centre (a fit along x
    # and y alone is off where the axes are not the Gaussian's).
    ys, xs = np.mgrid[0:32, 0:32]
    dx, dy = xs - 15.3, ys - 16.7
    u, v = (dx + dy) / np.sqrt(2), (dx - dy) / np.sqrt(2)
    tilted = np.exp(-(u**2 / (2 * 4.0**2) + v**2 / (2 * 1.2**2)))[None, :, :, None]
    tilted = tilted.astype("float32")
    np.testing.assert_allclose(
        np.asarray(dark_2d(tilted, sigma=2.0))[0, 0], [15.3, 16.7], atol=0.02
    )
    assert np.abs(np.asarray(peak_2d(tilted))[0, 0] - [15.3, 16.7]).max() > 0.2


def test_dark_pulls_peaks_near_a_border_inwards_by_a_bounded_amount():
    # The blur's zero padding (documented): for Gaussians of sigma 2 (the training
    # heat-maps') the pull is < 0.3 px from 2 px in, and < 1.5 px on the border.
    centres = np.array([0.0, 0.5, 1.0, 2.0, 3.0, 4.0, 6.0])
    maps = _gaussians([(x, 16.0) for x in centres], size=32, sigma=2.0)
    error = np.asarray(dark_2d(maps, sigma=2.0))[0, :, 0] - centres
    assert (error >= -1e-3).all() and (error < 1.5).all(), error  # inwards, bounded
    assert (error[centres >= 2.0] < 0.3).all(), error
    assert error[0] > 1.0, error  # the pull is real (this documents it)
    np.testing.assert_allclose(np.asarray(peak_2d(maps))[0, :, 0], centres, atol=2e-3)


def test_dark_is_steadier_than_peak_on_a_noisy_plateau():
    # A flat-topped peak 5 pixels wide, as a briefly trained model gives, plus small
    # errors (an int8 trunk's): "peak" follows the arg max from end to end of the
    # plateau, "dark" stays near its centre.
    ys, xs = np.mgrid[0:32, 0:32]
    distance = np.maximum(np.hypot(xs - 16.0, ys - 14.0) - 2.5, 0.0)
    plateau = np.exp(-(distance**2) / (2 * 1.5**2))
    rng = np.random.default_rng(6)
    maps = plateau[None, :, :, None] + rng.normal(0.0, 0.02, (64, 32, 32, 1))
    maps = maps.astype("float32")
    dark = np.asarray(dark_2d(maps, sigma=2.0))[:, 0]
    peak = np.asarray(peak_2d(maps))[:, 0]
    assert np.abs(dark - [16.0, 14.0]).max() < 0.5
    assert np.abs(peak - [16.0, 14.0]).max() > 1.5


def test_dark_gradient_matches_finite_differences():
    def decode(maps):
        return dark_2d(maps, sigma=1.0)

    grad, numeric = _gradient_and_finite_differences(
        decode, [(5.3, 6.6), (9.8, 3.2)], 14, 7, every=7
    )
    assert np.count_nonzero(grad) > 20  # the blur spreads it over the neighbourhood
    for index, value in numeric.items():
        np.testing.assert_allclose(grad[index], value, rtol=5e-2, atol=2e-3)


def test_layer_modes():
    maps = _gaussians([(3.2, 6.9)]) - 0.2
    peak = np.asarray(SoftArgmax(scale=4.0, offset=2.0, mode="peak")(maps))
    np.testing.assert_allclose(peak[0, 0], [3.2 * 4 + 2, 6.9 * 4 + 2], atol=0.05)
    assert SoftArgmax(mode="peak").get_config()["mode"] == "peak"
    dark = np.asarray(SoftArgmax(scale=4.0, offset=2.0, mode="dark", sigma=1.0)(maps))
    np.testing.assert_allclose(dark[0, 0], [3.2 * 4 + 2, 6.9 * 4 + 2], atol=0.1)
    config = SoftArgmax(mode="dark", sigma=1.5).get_config()
    assert (config["mode"], config["sigma"]) == ("dark", 1.5)
    with pytest.raises(ValueError, match="Received: sigma=-1"):
        SoftArgmax(mode="dark", sigma=-1)
    assert SoftArgmax().mode == "mean"  # the layer's own default: Eq. 1
    with pytest.raises(ValueError, match="Received: mode='max'"):
        SoftArgmax(mode="max")
