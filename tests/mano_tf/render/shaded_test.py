"""Tests for mano_tf.render.shaded: exact coverage, a true depth buffer, Lambert shading."""

import numpy as np
import pytest

from mano_tf import camera
from mano_tf.render.shaded import render_shaded
from mano_tf.render.silhouette import render_silhouette
from tests.mano_tf.render.meshes import hand_batch, icosphere, project_np, reference_coverage

K16 = camera.intrinsics_from_focal(16.0, 16, 16).numpy()


def _quad(z_left, z_right, half=0.5):
    """A square (two triangles) spanning x, y in [-half, half] with depth linear in x."""
    vertices = np.array(
        [
            [-half, -half, z_left],
            [half, -half, z_right],
            [half, half, z_right],
            [-half, half, z_left],
        ]
    )
    # Counter-clockwise seen from the camera (-z side), i.e. facing it.
    faces = np.array([[0, 2, 1], [0, 3, 2]])
    return vertices, faces


def test_mask_is_exact_coverage_on_hand():
    vertices, faces, K = hand_batch(batch=3, size=128, seed=3)
    for b in range(3):
        out = render_shaded(vertices[b], faces, K[b], 128, 128)
        reference = reference_coverage(project_np(vertices[b], K[b])[faces], 128, 128)
        assert out["mask"].dtype == bool and out["mask"].shape == (128, 128)
        assert reference.sum() > 1000
        assert np.count_nonzero(out["mask"] != reference) <= 3
        hard = render_silhouette(vertices[b : b + 1], faces, K[b : b + 1], 128, 128, mode="hard")
        assert np.count_nonzero(out["mask"] != (hard.numpy()[0] > 0.5)) <= 3
        np.testing.assert_array_equal(out["depth"] > 0, out["mask"])
        assert out["image"].dtype == np.uint8 and out["image"].shape == (128, 128, 3)
        assert np.all(out["image"][~out["mask"]] == 0) and np.all(out["image"][out["mask"]] > 0)


def test_depth_is_perspective_correct_on_a_tilted_plane():
    vertices, faces = _quad(1.0, 3.0)
    out = render_shaded(vertices, faces, K16, 16, 16)
    rows, cols = np.nonzero(out["mask"])
    # Ray through pixel centre (u, v): x = (u - 8) / 16 * z on the plane z = 2 + 2 x.
    xn = (cols + 0.5 - 8.0) / 16.0
    expected = 2.0 / (1.0 - 2.0 * xn)
    np.testing.assert_allclose(out["depth"][rows, cols], expected, rtol=1e-5)
    assert out["depth"][~out["mask"]].max() == 0.0


def test_depth_buffer_resolves_interpenetration():
    # Two planes crossing at x = 0: A is nearer on the left, B on the right. A painter's
    # sort by face depth would show one of them everywhere.
    a_vertices, quad_faces = _quad(1.5, 2.5)
    b_vertices, _ = _quad(2.5, 1.5)
    vertices = np.concatenate([a_vertices, b_vertices])
    faces = np.concatenate([quad_faces, quad_faces + 4])
    out = render_shaded(vertices, faces, K16, 16, 16, smooth=False)
    depths = [render_shaded(v, quad_faces, K16, 16, 16)["depth"] for v in (a_vertices, b_vertices)]
    nearest = np.minimum(*[np.where(d > 0, d, np.inf) for d in depths])
    np.testing.assert_allclose(out["depth"], np.where(np.isinf(nearest), 0.0, nearest), rtol=1e-6)
    assert np.all(out["depth"][:, :8][out["mask"][:, :8]] < 2.0)
    assert np.all(out["depth"][:, 8:][out["mask"][:, 8:]] < 2.0)


def test_lambert_shading_and_two_sided_lighting():
    vertices, faces = _quad(2.0, 2.0)
    color = (1.0, 0.5, 0.25)
    lit = render_shaded(vertices, faces, K16, 16, 16, color=color, light_dir=(0, 0, -1))
    np.testing.assert_array_equal(lit["image"][lit["mask"]][0], [255, 128, 64])
    grazing = render_shaded(
        vertices, faces, K16, 16, 16, color=color, light_dir=(1, 0, 0), ambient=0.4
    )
    np.testing.assert_array_equal(grazing["image"][grazing["mask"]][0], [102, 51, 26])
    # The same plane seen from its back side is lit the same way (two-sided).
    back = render_shaded(vertices, faces[:, ::-1], K16, 16, 16, color=color, light_dir=(0, 0, -1))
    np.testing.assert_array_equal(back["image"], lit["image"])
    # Light at 60 degrees: cos = 0.5.
    angled = render_shaded(
        vertices, faces, K16, 16, 16, color=(1, 1, 1), light_dir=(np.sqrt(3), 0, -1), ambient=0.0
    )
    assert angled["image"][angled["mask"]][0, 0] == 128


def test_smooth_shading_varies_across_a_sphere_and_culling_keeps_the_mask():
    v, f = icosphere(3)
    vertices = v * 0.1 + [0.0, 0.0, 0.5]
    K = camera.intrinsics_from_focal(200.0, 64, 64).numpy()
    smooth = render_shaded(vertices, f, K, 64, 64, light_dir=(0, 0, -1), ambient=0.0)
    flat = render_shaded(vertices, f, K, 64, 64, light_dir=(0, 0, -1), ambient=0.0, smooth=False)
    culled = render_shaded(vertices, f, K, 64, 64, light_dir=(0, 0, -1), cull_back_faces=True)
    np.testing.assert_array_equal(culled["mask"], smooth["mask"])
    np.testing.assert_allclose(culled["depth"], smooth["depth"])
    centre, rim = smooth["image"][32, 32, 0], smooth["image"][32, 12, 0]
    assert centre > 200 and rim < centre
    # Flat shading is piecewise constant: fewer distinct values than smooth shading.
    assert len(np.unique(flat["image"][flat["mask"]])) < len(
        np.unique(smooth["image"][smooth["mask"]])
    )


def test_background_images():
    vertices, faces = _quad(2.0, 2.0, half=0.2)
    background = np.full((16, 16, 3), 7, np.uint8)
    out = render_shaded(vertices, faces, K16, 16, 16, background=background)
    assert out["image"].dtype == np.uint8
    assert np.all(out["image"][~out["mask"]] == 7) and np.all(background == 7)
    out = render_shaded(vertices, faces, K16, 16, 16, background=np.full((16, 16, 3), 0.5))
    assert out["image"].dtype == np.float32
    assert np.all(out["image"][~out["mask"]] == 0.5) and out["image"].max() <= 1.0


def test_empty_and_behind_camera():
    vertices, faces = _quad(2.0, 2.0)
    out = render_shaded(vertices + [10.0, 0.0, 0.0], faces, K16, 16, 16)
    assert not out["mask"].any() and out["depth"].max() == 0.0 and out["image"].max() == 0
    out = render_shaded(vertices * [1, 1, -1], faces, K16, 16, 16)
    assert not out["mask"].any()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (
            {"vertices": np.zeros((4, 2))},
            r"vertices must have shape \[V, 3\]\. Received: vertices.shape=\(4, 2\)",
        ),
        ({"faces": np.zeros((2, 4), int)}, r"faces must have shape \[F, 3\]"),
        ({"faces": np.zeros((2, 3))}, r"faces must be integer"),
        ({"faces": np.array([[0, 1, 9]])}, r"faces must index vertices in \[0, 4\)"),
        ({"intrinsics": np.eye(3)[None]}, r"intrinsics must have shape \[3, 3\]"),
        ({"height": 0}, r"height must be a positive int\. Received: height=0"),
        ({"background": np.zeros((8, 8, 3))}, r"background must have shape \[16, 16, 3\]"),
        ({"light_dir": (0, 0, 0)}, r"light_dir must be a non-zero vector"),
        ({"ambient": 1.5}, r"ambient must be in \[0, 1\]\. Received: ambient=1.5"),
    ],
)
def test_bad_arguments_name_the_argument(kwargs, message):
    vertices, faces = _quad(2.0, 2.0)
    args = {"vertices": vertices, "faces": faces, "intrinsics": K16, "height": 16, "width": 16}
    args.update(kwargs)
    with pytest.raises(ValueError, match=message):
        render_shaded(**args)
