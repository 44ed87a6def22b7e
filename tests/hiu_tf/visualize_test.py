"""Overlays and plots: files written, pixels changed where expected and nowhere else."""

import cv2
import matplotlib
import numpy as np
import pytest

from hiu_tf import visualize
from hiu_tf.image import to_uint8
from hiu_tf.keypoints import FINGER_COLORS_BGR

SIZE = 64


def _keypoints() -> np.ndarray:
    """A spread-out hand: wrist at the bottom centre, fingers fanning upwards."""
    kp = np.zeros((21, 2))
    kp[0] = (32.5, 60.5)
    for f in range(5):
        for k in range(4):
            kp[1 + 4 * f + k] = (8.5 + 12 * f, 48.5 - 10 * k)
    return kp


def test_draw_skeleton_uses_finger_colours_and_skips_invisible():
    image = np.zeros((SIZE, SIZE, 3), np.float32)
    kp = _keypoints()
    visible = np.ones(21)
    visible[20] = 0  # pinky tip hidden
    out = visualize.draw_skeleton(image, kp, visible, radius=2)
    assert out.dtype == np.uint8 and out.shape == (SIZE, SIZE, 3)
    assert not image.any()  # the input is untouched
    # The centre of the thumb tip dot has the thumb colour (BGR (0, 0, 255) -> RGB red).
    x, y = kp[4].astype(int)
    np.testing.assert_array_equal(out[y, x], FINGER_COLORS_BGR[0][::-1])
    x, y = kp[8].astype(int)
    np.testing.assert_array_equal(out[y, x], FINGER_COLORS_BGR[1][::-1])
    # The hidden pinky tip and its bone are not drawn; the pinky DIP is.
    x, y = kp[20].astype(int)
    assert not out[y - 1 : y + 2, x - 1 : x + 2].any()
    x, y = kp[19].astype(int)
    assert out[y, x].any()
    # Far from the hand nothing changes.
    assert not out[:5, :5].any()
    bgr = visualize.draw_skeleton(image, kp, channel_order="bgr")
    x, y = kp[4].astype(int)
    np.testing.assert_array_equal(bgr[y, x], FINGER_COLORS_BGR[0])
    single = visualize.draw_skeleton(np.zeros((SIZE, SIZE, 3), np.uint8), kp, color=(1, 2, 3))
    x, y = kp[12].astype(int)
    np.testing.assert_array_equal(single[y, x], (1, 2, 3))


def test_draw_skeleton_point_color_paints_the_dots_only():
    kp = _keypoints()
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    plain = visualize.draw_skeleton(image, kp, thickness=1, radius=2)
    white = visualize.draw_skeleton(image, kp, thickness=1, radius=2, point_color=(255, 255, 255))
    for k in (4, 8, 12):
        x, y = kp[k].astype(int)
        np.testing.assert_array_equal(white[y, x], (255, 255, 255))
        assert not np.array_equal(plain[y, x], (255, 255, 255))
    # Half-way along the middle finger's first bone, away from the dots: the bone colour.
    x, y = ((kp[9] + kp[10]) / 2).astype(int)
    np.testing.assert_array_equal(white[y, x], plain[y, x])


def test_draw_mesh_blends_the_shaded_mesh_where_it_covers():
    from mano_tf.render.shaded import render_shaded

    image = np.full((SIZE, SIZE, 3), 40, np.uint8)
    vertices = np.array([[-0.05, -0.05, 0.5], [0.05, -0.05, 0.5], [0.0, 0.05, 0.5]])
    faces = np.array([[0, 2, 1]])
    k = np.array([[200.0, 0.0, SIZE / 2], [0.0, 200.0, SIZE / 2], [0.0, 0.0, 1.0]])
    rendered = render_shaded(vertices, faces, k, SIZE, SIZE, background=image)
    covered = rendered["mask"]
    assert covered.any() and not covered.all()
    out = visualize.draw_mesh(image, vertices, faces, k, alpha=0.7)
    want = np.rint(image * 0.3 + rendered["image"] * 0.7)
    np.testing.assert_array_equal(out[covered], want[covered])
    np.testing.assert_array_equal(out[~covered], image[~covered])
    np.testing.assert_array_equal(visualize.draw_mesh(image, vertices, faces, k, alpha=0.0), image)
    bgr = visualize.draw_mesh(image, vertices, faces, k, channel_order="bgr")
    np.testing.assert_array_equal(bgr[covered], out[covered][:, ::-1])


def test_draw_mask_blends_inside_only():
    image = np.full((SIZE, SIZE, 3), 100, np.uint8)
    mask = np.zeros((16, 16))  # heat-map sized: resized to the image
    mask[4:12, 4:12] = 1
    out = visualize.draw_mask(image, mask, color=(0, 200, 0), alpha=0.5)
    np.testing.assert_array_equal(out[32, 32], (50, 150, 50))
    np.testing.assert_array_equal(out[2, 2], (100, 100, 100))
    np.testing.assert_array_equal(visualize.draw_mask(image, mask, alpha=0.0), image)
    outlined = visualize.draw_mask(image, mask[..., None], outline=True)
    assert outlined.shape == image.shape
    with pytest.raises(ValueError, match=r"alpha must be in \[0, 1\]. Received: alpha=2"):
        visualize.draw_mask(image, mask, alpha=2)
    with pytest.raises(ValueError, match=r"mask must have shape .*Received: mask.shape=\[4\]"):
        visualize.draw_mask(image, np.zeros(4))


def test_overlay_panel_tiles():
    rng = np.random.default_rng(0)
    image = rng.uniform(size=(SIZE, SIZE, 3)).astype(np.float32)
    kp = _keypoints()
    gt_mask = np.zeros((SIZE, SIZE))
    gt_mask[20:50, 20:50] = 1
    panel = visualize.overlay_panel(
        image,
        pred_keypoints_px=kp + 2.0,
        gt_keypoints_px=kp,
        pred_mask=np.full((16, 16), 0.9),
        gt_mask=gt_mask,
        tile_size=128,
        labels=False,
    )
    assert panel.shape == (128, 384, 3) and panel.dtype == np.uint8
    tile_in, tile_gt, tile_pred = panel[:, :128], panel[:, 128:256], panel[:, 256:]
    np.testing.assert_array_equal(
        tile_in, cv2.resize(to_uint8(image), (128, 128), interpolation=cv2.INTER_LINEAR)
    )
    # Keypoints scale with the tile: the thumb tip of the ground truth at 2x.
    x, y = (kp[4] * 2).astype(int)
    np.testing.assert_array_equal(tile_gt[y, x], FINGER_COLORS_BGR[0][::-1])
    assert np.abs(tile_gt[2, 2].astype(int) - tile_in[2, 2]).sum() == 0  # outside the gt mask
    assert np.abs(tile_pred[2, 2].astype(int) - tile_in[2, 2]).sum() > 0  # inside the pred mask
    only = visualize.overlay_panel(image, tile_size=None)
    assert only.shape == (SIZE, SIZE, 3)
    gt_only = visualize.overlay_panel(image, gt_keypoints_px=kp, tile_size=256)
    assert gt_only.shape == (256, 512, 3)


def test_plot_pck_curves_writes_a_png(tmp_path):
    backend = matplotlib.get_backend()
    t = np.linspace(0.0, 0.05, 20)
    curves = {"model": (t, np.clip(t / 0.03, 0, 1)), "perfect": (t, np.ones(20))}
    path = visualize.plot_pck_curves(
        curves, tmp_path / "sub" / "pck.png", title="3D PCK", xlabel="mm", x_scale=1000
    )
    image = cv2.imread(str(path))
    assert image is not None and image.shape[0] > 100 and image.std() > 0
    assert matplotlib.get_backend() == backend  # no global backend switch
    assert visualize.curve_label("perfect", t, np.ones(20)) == "perfect (AUC=1.000)"
    assert visualize.curve_label("step", [0, 1, 2, 3, 4], [0, 0, 1, 1, 1]) == "step (AUC=0.625)"
    with pytest.raises(ValueError, match="at least one curve"):
        visualize.plot_pck_curves({}, tmp_path / "x.png")
    with pytest.raises(ValueError, match=r"Received: thresholds.shape=\[20\], pck.shape=\[3\]"):
        visualize.plot_pck_curves({"bad": (t, [1, 2, 3])}, tmp_path / "x.png")


def test_bad_inputs():
    image = np.zeros((SIZE, SIZE, 3), np.uint8)
    with pytest.raises(ValueError, match=r"keypoints_px must have shape \[21, 2\]. Received"):
        visualize.draw_skeleton(image, np.zeros((20, 2)))
    with pytest.raises(ValueError, match=r"image must have shape \[H, W, 3\]. Received"):
        visualize.draw_skeleton(np.zeros((SIZE, SIZE)), _keypoints())
    with pytest.raises(ValueError, match=r"channel_order must be one of"):
        visualize.draw_skeleton(image, _keypoints(), channel_order="hsv")


def test_label_outline_stays_under_the_text():
    # A thick outline drawn with cv2's thickness drifts right letter by letter (its
    # advance grows with the thickness): the dark pixels must hug the white ones.
    tile = np.full((160, 160, 3), 128, np.uint8)
    visualize._label(tile, "ground truth", "rgb")
    white = np.argwhere(tile.min(-1) > 200)
    dark = np.argwhere(tile.max(-1) < 40)
    assert len(white) > 20 and len(dark) > 20
    assert dark[:, 1].max() <= white[:, 1].max() + 2
    assert dark[:, 1].min() >= white[:, 1].min() - 2


def test_titled_row_places_each_panel_under_its_header():
    panels = [np.full((10, 12, 3), v, np.uint8) for v in (0, 100, 200)]
    row = visualize.titled_row(
        panels, ["a", "b", "c"], gap=3, header=8, font_scale=0.3, text_at=(1, 7)
    )
    assert row.shape == (18, 3 * 12 + 2 * 3, 3)
    for i, v in enumerate((0, 100, 200)):
        x = i * 15
        assert (row[8:, x : x + 12] == v).all()
    assert (row[8:, 12:15] == 255).all()  # the gap stays white
    assert (row[:8] < 255).any()  # a title is drawn
    with pytest.raises(ValueError, match="one title per panel"):
        visualize.titled_row(panels, ["a"])
    with pytest.raises(ValueError, match="share one size"):
        visualize.titled_row([panels[0], np.zeros((5, 5, 3), np.uint8)], ["a", "b"])
