"""mano_tf.open_hand.pictures: views of the named poses."""

import numpy as np
import pytest

from mano_tf.open_hand import NAMED_POSES, pictures


def test_every_named_pose_has_a_view_and_views_are_rotations():
    assert set(pictures.VIEWS) == set(NAMED_POSES)
    for name in NAMED_POSES:
        for side in ("right", "left"):
            r = pictures.view_rotation(name, side)
            np.testing.assert_allclose(r @ r.T, np.eye(3), atol=1e-12)
            assert np.linalg.det(r) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="name must be one of"):
        pictures.view_rotation("wave")


def test_rotation_matches_a_numpy_reference_on_random_axes():
    rng = np.random.default_rng(0)
    for _ in range(10):
        axis, angle = rng.normal(size=3), rng.uniform(-np.pi, np.pi)
        unit = axis / np.linalg.norm(axis)
        v = rng.normal(size=3)
        # Rodrigues' rotation of a vector, written out: v cos + (k x v) sin + k (k.v)(1 - cos).
        expected = (
            v * np.cos(angle)
            + np.cross(unit, v) * np.sin(angle)
            + unit * unit.dot(v) * (1 - np.cos(angle))
        )
        np.testing.assert_allclose(pictures._rotation(axis, angle) @ v, expected, atol=1e-12)


def test_left_pictures_mirror_the_right_ones():
    right = pictures.render_poses(["fist"], "right", 48)[0]
    left = pictures.render_poses(["fist"], "left", 48)[0]
    assert right.shape == (48, 48, 3) and right.dtype == np.uint8
    assert (right < 250).any()  # the hand is drawn
    # The left hand is the mirror image of the right one, seen in the mirrored view.
    assert np.abs(left.astype(int) - right[:, ::-1].astype(int)).mean() < 8.0
    with pytest.raises(ValueError, match="side must be"):
        pictures.render_poses(["fist"], "both", 48)
