"""Tests for mano_tf.render.silhouette: exactness, convergence, gradients, XLA, the layer."""

import cv2
import keras
import numpy as np
import pytest
import tensorflow as tf

from mano_tf import camera
from mano_tf.render import silhouette as sil
from mano_tf.render.silhouette import SilhouetteRenderer, render_silhouette, sigma_from_pixels
from tests.helpers import run_layer_test
from tests.mano_tf.render.meshes import (
    hand_batch,
    icosphere,
    iou,
    project_np,
    reference_coverage,
)
from tests.reference.silhouette_dense import render_silhouette_dense

# --------------------------------------------------------------------------------------
# Exactness of the hard mode, and the NumPy reference against cv2.fillPoly.
# --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hands():
    """8 open-hand meshes in random poses, framed for a 64 x 64 crop."""
    return hand_batch(batch=8, size=64, seed=0)


@pytest.mark.parametrize("size", [(64, 64), (48, 80)])
def test_hard_mode_matches_exact_reference_on_hand(hands, size):
    vertices, faces, _ = hands
    height, width = size
    focal = np.full(len(vertices), 0.9 * min(height, width) / 64 * 120.0, np.float32)
    K = camera.intrinsics_from_focal(focal, height, width).numpy()
    masks = render_silhouette(vertices, faces, K, height, width, mode="hard").numpy()
    assert set(np.unique(masks)) <= {0.0, 1.0}
    for b in range(len(vertices)):
        reference = reference_coverage(project_np(vertices[b], K[b])[faces], height, width)
        assert 0.03 < reference.mean() < 0.8
        assert iou(masks[b] > 0.5, reference) >= 0.99
        # Only pixel centres within float32 rounding of an edge may differ.
        assert np.count_nonzero((masks[b] > 0.5) != reference) <= 3


def test_reference_agrees_with_cv2_fillpoly(hands):
    # cv2.fillPoly (pixel centres at integers, hence the -0.5; 8 subpixel bits), one
    # triangle at a time (one call with many polygons does not fill their union),
    # also fills pixels that an edge crosses without covering the centre: the exact
    # coverage must lie inside it, and it must lie inside the exact coverage dilated
    # by one pixel.
    vertices, faces, K = hands
    shift = 8
    for b in range(3):
        tri = project_np(vertices[b], K[b])[faces]
        reference = reference_coverage(tri, 64, 64)
        filled = np.zeros((64, 64), np.uint8)
        points = np.round((tri - 0.5) * (1 << shift)).astype(np.int32)
        for triangle in points:
            cv2.fillPoly(filled, [triangle], 1, lineType=cv2.LINE_8, shift=shift)
        filled = filled.astype(bool)
        assert np.count_nonzero(reference & ~filled) <= 2
        dilated = cv2.dilate(reference.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
        assert np.count_nonzero(filled & ~dilated) == 0
        assert iou(reference, filled) > 0.8


def test_hard_mode_pixel_convention_on_a_square():
    # A square covering x in [2, 6), y in [1, 4) px covers exactly columns 2..5 and
    # rows 1..3: pixel (i, j) is sampled at (j + 0.5, i + 0.5).
    corners_px = np.array([[2.0, 1.0], [6.0, 1.0], [6.0, 4.0], [2.0, 4.0]])
    K = camera.intrinsics_from_focal([10.0], 8, 8).numpy()
    z = 2.0
    vertices = np.concatenate([(corners_px - 4.0) * z / 10.0, np.full((4, 1), z)], -1)
    faces = np.array([[0, 1, 2], [0, 2, 3]])
    mask = render_silhouette(vertices[None], faces, K, 8, 8, mode="hard").numpy()[0]
    expected = np.zeros((8, 8))
    expected[1:4, 2:6] = 1.0
    np.testing.assert_array_equal(mask, expected)


def test_degenerate_and_near_faces_cover_nothing():
    K = camera.intrinsics_from_focal([20.0], 16, 16).numpy()
    line = np.array([[[-0.2, -0.2, 1.0], [0.2, 0.2, 1.0], [0.0, 0.0, 1.0]]])
    mask = render_silhouette(line, [[0, 1, 2]], K, 16, 16, mode="hard").numpy()
    assert mask.sum() == 0
    behind = np.array([[[-0.5, -0.5, 1.0], [0.5, -0.5, 1.0], [0.0, 0.5, -1.0]]])
    for mode in ("hard", "soft"):
        assert render_silhouette(behind, [[0, 1, 2]], K, 16, 16, mode=mode).numpy().max() == 0.0


# --------------------------------------------------------------------------------------
# Tiled = dense; overflow policy; soft -> hard.
# --------------------------------------------------------------------------------------


def _ellipsoids(batch=2, subdiv=2, seed=0):
    v, f = icosphere(subdiv)
    rng = np.random.default_rng(seed)
    vertices = v[None] * np.array([0.09, 0.05, 0.03]) + np.array([0.0, 0.0, 0.6])
    vertices = vertices + rng.normal(0.0, 0.01, (batch, 1, 3)) * [1.0, 1.0, 0.0]
    return vertices.astype(np.float32), f


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_tiled_matches_dense(mode):
    vertices, faces = _ellipsoids()
    K = camera.intrinsics_from_focal(np.full(2, 60.0, np.float32), 30, 44).numpy()
    sigma = sigma_from_pixels(0.7, 30, 44)
    kwargs = {"sigma": sigma, "mode": mode}
    tiled = render_silhouette(vertices, faces, K, 30, 44, tile_size=8, faces_per_chunk=16, **kwargs)
    dense = render_silhouette_dense(vertices, faces, K, 30, 44, **kwargs)
    assert tiled.shape == (2, 30, 44)
    np.testing.assert_allclose(tiled.numpy(), dense.numpy(), atol=1e-5)


def test_analytic_gradient_matches_autodiff_of_dense():
    vertices, faces = _ellipsoids(seed=1)
    K = camera.intrinsics_from_focal(np.full(2, 60.0, np.float32), 32, 32)
    weights = tf.random.stateless_uniform([2, 32, 32], seed=[1, 2])
    sigma = sigma_from_pixels(1.0, 32, 32)

    def grads(render):
        v = tf.constant(vertices)
        k = tf.constant(K)
        with tf.GradientTape() as tape:
            tape.watch([v, k])
            loss = tf.reduce_sum(weights * render(v, faces, k, 32, 32, sigma=sigma))
        return [g.numpy() for g in tape.gradient(loss, [v, k])]

    tiled = grads(lambda *a, **kw: render_silhouette(*a, faces_per_chunk=16, **kw))
    dense = grads(render_silhouette_dense)
    for t, d in zip(tiled, dense, strict=True):
        assert np.abs(d).max() > 0
        np.testing.assert_allclose(t, d, atol=1e-4 * np.abs(d).max())


def test_overflowing_tiles_keep_front_faces():
    # With room for fewer faces than overlap a tile, back faces are dropped first:
    # the hard silhouette of a closed mesh stays exact.
    vertices, faces = _ellipsoids(batch=1, subdiv=3)
    K = camera.intrinsics_from_focal([90.0], 32, 32).numpy()
    counts = sil.tile_face_counts(vertices, faces, K, 32, 32, mode="hard").numpy()
    front_counts = _front_counts(vertices[0], faces, K[0], 32, 32, 8)
    k = int(front_counts.max())
    assert counts.max() > k + 8  # really overflowing
    full = render_silhouette(vertices, faces, K, 32, 32, mode="hard").numpy()
    capped = render_silhouette(vertices, faces, K, 32, 32, mode="hard", max_faces_per_tile=k)
    np.testing.assert_array_equal(capped.numpy(), full)


def _front_counts(vertices, faces, K, height, width, tile):
    tri = project_np(vertices, K)[faces]
    area2 = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    counts = np.zeros((height // tile, width // tile), int)
    for t, a in zip(tri, area2, strict=True):
        if a >= 0:
            continue
        lo = np.clip(np.floor((t.min(0) - 0.5) / tile).astype(int), 0, None)
        hi = np.floor((t.max(0) - 0.5) / tile).astype(int)
        counts[lo[1] : hi[1] + 1, lo[0] : hi[0] + 1] += 1
    return counts


def test_soft_converges_to_hard_as_sigma_shrinks(hands):
    vertices, faces, K = hands
    vertices, K = vertices[:4], K[:4]
    hard = render_silhouette(vertices, faces, K, 64, 64, mode="hard").numpy()
    l1, ious = [], []
    # Outside pixels near many faces (fingertips, gaps between fingers) aggregate
    # 1 - prod(1 - p_f) above 0.5 until sigma is tiny: at 64 x 64 the open hand
    # differs from hard mode in 231 / 48 / 16 / 4 pixels at sigma 1e-4 / 1e-5 / 1e-6 / 1e-7.
    for sigma in (3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6, 1e-7):
        soft = render_silhouette(vertices, faces, K, 64, 64, sigma=sigma).numpy()
        assert soft.min() >= 0.0 and soft.max() <= 1.0
        l1.append(np.abs(soft - hard).mean())
        ious.append(iou(soft > 0.5, hard > 0.5))
    assert all(a > b for a, b in zip(l1, l1[1:], strict=False)), l1
    assert all(a <= b + 1e-9 for a, b in zip(ious, ious[1:], strict=False)), ious
    assert l1[-1] < 1e-3 and ious[-1] > 0.99


def test_soft_edge_width_follows_sigma_units():
    # A half-plane edge (a huge triangle) at x = 16 px: the soft value at distance d
    # outside is sigmoid(-d^2 / sigma) with d in units where the longer side spans 2.
    height, width = 8, 32
    K = camera.intrinsics_from_focal([100.0], height, width).numpy()
    corners_px = np.array([[16.0, -500.0], [16.0, 500.0], [-500.0, 0.0]])
    vertices = np.concatenate([(corners_px - [16.0, 4.0]) / 100.0, np.ones((3, 1))], -1)
    sigma = sigma_from_pixels(1.0, height, width)
    assert sigma == pytest.approx((2.0 / 32) ** 2)
    mask = render_silhouette(vertices[None], [[0, 1, 2]], K, height, width, sigma=sigma)
    row = mask.numpy()[0, 4]
    d_px = np.arange(width) + 0.5 - 16.0
    expected = 1.0 / (1.0 + np.exp(-np.sign(-d_px) * d_px**2))  # 1 blurred pixel = sqrt(sigma)
    np.testing.assert_allclose(row, expected, atol=1e-5)


# --------------------------------------------------------------------------------------
# Gradients.
# --------------------------------------------------------------------------------------


def _triangle(offset_px=(0.0, 0.0), size=16):
    """One triangle at z = 1 m, f = size px: 1 px = 1 / size m."""
    corners_px = np.array([[4.0, 4.0], [4.0, 12.0], [12.0, 8.0]]) * size / 16 + offset_px
    K = camera.intrinsics_from_focal([float(size)], size, size).numpy()
    vertices = np.concatenate([(corners_px - size / 2) / size, np.ones((3, 1))], -1)
    return vertices[None].astype(np.float32), np.array([[0, 1, 2]]), K


def test_gradient_matches_finite_differences():
    vertices, faces, K = _triangle()
    weights = np.random.default_rng(0).uniform(0, 1, (1, 16, 16)).astype(np.float32)
    sigma = sigma_from_pixels(1.5, 16, 16)

    def loss(v):
        return tf.reduce_sum(weights * render_silhouette(v, faces, K, 16, 16, sigma=sigma))

    v = tf.constant(vertices)
    with tf.GradientTape() as tape:
        tape.watch(v)
        value = loss(v)
    analytic = tape.gradient(value, v).numpy()
    eps = 2e-3  # metres = 0.03 px
    numeric = np.zeros_like(analytic)
    for i in range(3):
        for c in range(3):
            step = np.zeros_like(vertices)
            step[0, i, c] = eps
            numeric[0, i, c] = (loss(vertices + step) - loss(vertices - step)).numpy() / (2 * eps)
    assert np.abs(analytic).max() > 10.0
    np.testing.assert_allclose(analytic, numeric, rtol=2e-3, atol=0.02)


def test_gradient_is_local_to_the_edge_and_points_outward():
    vertices, faces, K = _triangle(size=32)
    sigma = sigma_from_pixels(1.0, 32, 32)
    v = tf.constant(vertices)
    with tf.GradientTape() as tape:
        tape.watch(v)
        area = tf.reduce_sum(render_silhouette(v, faces, K, 32, 32, sigma=sigma))
    grad = tape.gradient(area, v).numpy()[0]
    centroid = vertices[0].mean(0)
    # Moving any vertex away from the centroid grows the silhouette.
    outward = vertices[0, :, :2] - centroid[:2]
    assert np.all((grad[:, :2] * outward).sum(-1) > 0)
    # A far-away pixel gets no gradient; one just outside an edge does.
    for pixel, nonzero in (((2, 30), False), ((16, 7), True)):
        with tf.GradientTape() as tape:
            tape.watch(v)
            value = render_silhouette(v, faces, K, 32, 32, sigma=sigma)[0, pixel[0], pixel[1]]
        g = tape.gradient(value, v).numpy()
        assert (np.abs(g).max() > 1e-3) == nonzero


def test_hard_mode_has_no_gradient():
    vertices, faces, K = _triangle()
    v = tf.constant(vertices)
    with tf.GradientTape() as tape:
        tape.watch(v)
        value = tf.reduce_sum(render_silhouette(v, faces, K, 16, 16, mode="hard"))
    assert tape.gradient(value, v) is None


def test_gradient_descent_moves_a_shifted_triangle_back():
    target_vertices, faces, K = _triangle(size=32)
    target = render_silhouette(target_vertices, faces, K, 32, 32, mode="hard")
    shift_m = np.array([3.0, -2.0, 0.0], np.float32) / 32  # (3, -2) px
    offset = tf.Variable(tf.constant(shift_m))
    sigma = sigma_from_pixels(1.0, 32, 32)
    optimizer = keras.optimizers.Adam(learning_rate=0.01)

    @tf.function
    def step():
        with tf.GradientTape() as tape:
            mask = render_silhouette(target_vertices + offset, faces, K, 32, 32, sigma=sigma)
            loss = tf.reduce_sum(tf.square(mask - target))
        optimizer.apply_gradients([(tape.gradient(loss, offset), offset)])
        return loss

    for _ in range(150):
        step()
    np.testing.assert_allclose(offset.numpy()[:2] * 32, [0.0, 0.0], atol=0.2)


def test_fit_hand_rotation_and_translation_to_silhouette():
    # Gradient descent on an L2 mask loss recovers a perturbed global rotation and
    # translation of the open hand: IoU from < 0.5 to > 0.9. At 128 x 128 with a
    # coarse-to-fine soft edge (1 px, then 0.5 px). Measured with the open hand: at
    # 64 x 64 its fingers are 2-3 px wide, and a soft edge of 1-2 px makes the
    # soft mask's area larger than the hard one, so the fit pushes the hand away
    # from the camera (IoU stalls near 0.88); at 128 x 128 the bias is small.
    size = 128
    vertices, faces, K = hand_batch(batch=1, size=size, seed=5)
    vertices, K = tf.constant(vertices), tf.constant(K)
    centre = tf.reduce_mean(vertices, axis=1, keepdims=True)  # [1, 1, 3]
    target = render_silhouette(vertices, faces, K, size, size, mode="hard")

    from mano_tf.rotations import axis_angle_to_matrix

    rotation = tf.Variable([[0.2, -0.15, 0.15]])  # axis-angle about the hand centre
    translation = tf.Variable([[0.012, -0.01, 0.005]])  # metres

    def posed():
        R = axis_angle_to_matrix(rotation)  # [1, 3, 3]
        return tf.einsum("bij,bvj->bvi", R, vertices - centre) + centre + translation[:, None]

    start = render_silhouette(posed(), faces, K, size, size, mode="hard")
    assert iou(start.numpy() > 0.5, target.numpy() > 0.5) < 0.5
    optimizer = keras.optimizers.Adam(learning_rate=0.002)

    @tf.function(jit_compile=True)
    def step(sigma):
        with tf.GradientTape() as tape:
            mask = render_silhouette(posed(), faces, K, size, size, sigma=sigma)
            loss = tf.reduce_mean(tf.square(mask - target))
        grads = tape.gradient(loss, [rotation, translation])
        optimizer.apply_gradients(zip(grads, [rotation, translation], strict=True))
        return loss

    for blur_px in (1.0, 0.5):
        sigma = sigma_from_pixels(blur_px, size, size)  # a Python float: one trace each
        for _ in range(60):
            step(sigma)
    final = render_silhouette(posed(), faces, K, size, size, mode="hard")
    assert iou(final.numpy() > 0.5, target.numpy() > 0.5) > 0.9


# --------------------------------------------------------------------------------------
# Graph modes, precision, the layer, errors.
# --------------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", ["soft", "hard"])
def test_tf_function_and_xla_match_eager(hands, mode):
    vertices, faces, K = hands
    vertices, K = tf.constant(vertices[:3]), tf.constant(K[:3])

    def run(v, k):
        with tf.GradientTape() as tape:
            tape.watch(v)
            masks = render_silhouette(v, faces, k, 48, 48, sigma=3e-4, mode=mode)
            loss = tf.reduce_sum(masks * tf.linspace(0.0, 1.0, 48))
        grad = tape.gradient(loss, v)
        return masks, (tf.zeros_like(v) if grad is None else grad)

    K48 = camera.resize_intrinsics(K, 0.75, 0.75)
    eager = run(vertices, K48)
    for fn in (tf.function(run), tf.function(run, jit_compile=True)):
        out = fn(vertices, K48)
        np.testing.assert_allclose(out[0].numpy(), eager[0].numpy(), atol=1e-5)
        scale = max(np.abs(eager[1].numpy()).max(), 1e-6)
        np.testing.assert_allclose(out[1].numpy(), eager[1].numpy(), atol=1e-4 * scale)


def test_unknown_batch_under_tf_function():
    vertices, faces = _ellipsoids(batch=3)
    K = camera.intrinsics_from_focal(np.full(3, 60.0, np.float32), 24, 24)
    fn = tf.function(
        lambda v, k: render_silhouette(v, faces, k, 24, 24),
        input_signature=[
            tf.TensorSpec([None, None, 3], tf.float32),
            tf.TensorSpec([None, 3, 3], tf.float32),
        ],
    )
    np.testing.assert_allclose(
        fn(vertices, K).numpy(), render_silhouette(vertices, faces, K, 24, 24).numpy(), atol=1e-6
    )


def test_half_precision_inputs_give_float32():
    vertices, faces = _ellipsoids()
    K = camera.intrinsics_from_focal(np.full(2, 60.0, np.float32), 24, 24)
    out16 = render_silhouette(tf.cast(vertices, tf.float16), faces, tf.cast(K, tf.float16), 24, 24)
    out32 = render_silhouette(vertices, faces, K, 24, 24)
    assert out16.dtype == tf.float32
    np.testing.assert_allclose(out16.numpy(), out32.numpy(), atol=0.05)


def test_empty_view_gives_zeros_and_zero_gradient():
    vertices, faces = _ellipsoids()
    vertices = vertices + np.array([5.0, 0.0, 0.0], np.float32)  # far right, out of view
    K = camera.intrinsics_from_focal(np.full(2, 60.0, np.float32), 16, 16)
    v = tf.constant(vertices)
    with tf.GradientTape() as tape:
        tape.watch(v)
        masks = render_silhouette(v, faces, K, 16, 16)
        total = tf.reduce_sum(masks)
    assert masks.numpy().max() == 0.0
    assert np.abs(tape.gradient(total, v).numpy()).max() == 0.0


def test_layer_with_constructor_faces():
    vertices, faces = _ellipsoids()
    K = camera.intrinsics_from_focal(np.full(2, 60.0, np.float32), 20, 24).numpy()
    out = run_layer_test(
        SilhouetteRenderer,
        {"height": 20, "width": 24, "sigma": 3e-4, "faces": faces.tolist()},
        [vertices, K],
        expected_output_shape=(2, 20, 24),
        expected_output_dtype="float32",
        call_style="args",
        expected_num_trainable_weights=0,
        run_xla_check=True,
        atol=1e-5,
    )
    np.testing.assert_allclose(
        out.numpy(), render_silhouette(vertices, faces, K, 20, 24, sigma=3e-4).numpy(), atol=1e-6
    )


def test_layer_with_call_time_faces_and_config():
    vertices, faces = _ellipsoids()
    K = camera.intrinsics_from_focal(np.full(2, 60.0, np.float32), 16, 16)
    layer = SilhouetteRenderer(16, 16, mode="hard", dtype="float32")
    out = layer(vertices, K, faces=tf.constant(faces))
    np.testing.assert_array_equal(
        out.numpy(), render_silhouette(vertices, faces, K, 16, 16, mode="hard").numpy()
    )
    config = layer.get_config()
    assert config["faces"] is None and config["mode"] == "hard" and config["height"] == 16
    with pytest.raises(ValueError, match="needs faces"):
        layer(vertices, K)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"height": 0}, r"height must be a positive int\. Received: height=0"),
        ({"width": 2.5}, r"width must be a positive int\. Received: width=2.5"),
        ({"sigma": 0.0}, r"sigma must be a positive number\. Received: sigma=0.0"),
        ({"mode": "fuzzy"}, r"mode must be one of \('soft', 'hard'\)\. Received: mode='fuzzy'"),
        ({"tile_size": -1}, r"tile_size must be a positive int"),
        ({"max_faces_per_tile": 0}, r"max_faces_per_tile must be a positive int"),
        ({"faces_per_chunk": 0}, r"faces_per_chunk must be a positive int"),
        ({"faces": [[0, 1]]}, r"faces must be None or non-negative integer"),
    ],
)
def test_layer_rejects_bad_arguments(kwargs, message):
    args = {"height": 8, "width": 8, **kwargs}
    with pytest.raises(ValueError, match=message):
        SilhouetteRenderer(**args)


def test_bad_shapes_name_the_argument():
    vertices, faces = _ellipsoids()
    K = camera.intrinsics_from_focal(np.full(2, 60.0, np.float32), 8, 8).numpy()
    cases = [
        ((vertices[0], faces, K), r"vertices must have shape \[B, V, 3\]\. Received: vertices"),
        ((vertices[..., :2], faces, K), r"vertices must have shape \[B, V, 3\]"),
        ((vertices, faces[:, :2], K), r"faces must be an integer array of shape \[F, 3\]"),
        ((vertices, faces.astype(np.float32), K), r"faces must be an integer array"),
        ((vertices, tf.constant(faces[None]), K), r"faces must have shape \[F, 3\]"),
        ((vertices, faces + 10_000, K), r"faces must index vertices in \[0, 162\)"),
        ((vertices, faces, K[0]), r"intrinsics must have shape \[B, 3, 3\]"),
        ((vertices, faces, K[:1]), r"vertices and intrinsics must have the same batch size"),
        ((vertices.astype(np.int32), faces, K), r"vertices must be floating point"),
    ]
    for args, message in cases:
        with pytest.raises(ValueError, match=message):
            render_silhouette(*args, 8, 8)


def test_sigma_from_pixels():
    assert sigma_from_pixels(1.0, 64, 64) == pytest.approx(1.0 / 32**2)
    assert sigma_from_pixels(0.64, 128, 100) == pytest.approx(1e-4)
