import cv2
import numpy as np

from hiu_tf.__main__ import main
from hiu_tf.cli.demo import DEMO_POSES


def _hand_mask(image_bgr: np.ndarray) -> np.ndarray:
    """Skin-coloured pixels: warm (R > G > B), neither white background nor black."""
    b, g, r = (image_bgr[..., c].astype(int) for c in range(3))
    return (r > g + 10) & (g > b + 5) & (r > 60) & (b < 235)


def test_demo_renders_both_hands_in_every_pose(tmp_path, capsys):
    out = tmp_path / "demo"
    assert main(["demo", "--out", str(out), "--size", "96"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[-1] == str(out)  # the last line names the folder
    assert any("right" in line and "fist" in line for line in lines)
    masks = {}
    for side in ("right", "left"):
        for pose in DEMO_POSES:
            path = out / f"{side}_{pose}.png"
            assert path.stat().st_size > 0
            image = cv2.imread(str(path))
            assert image is not None and image.shape == (96, 96, 3)
            mask = _hand_mask(image)
            assert 0.05 < mask.mean() < 0.8, (side, pose, mask.mean())
            assert image[0, 0].tolist() == [255, 255, 255]  # white background
            masks[side, pose] = mask
    overview = cv2.imread(str(out / "overview.png"))
    assert overview.shape == (2 * 96, len(DEMO_POSES) * 96, 3)
    # The left hand is drawn as the mirror image of the right hand.
    for pose in DEMO_POSES:
        right, left = masks["right", pose], masks["left", pose][:, ::-1]
        assert (right & left).sum() / (right | left).sum() > 0.9, pose


def test_demo_rejects_a_bad_size(capsys, tmp_path):
    assert main(["demo", "--out", str(tmp_path), "--size", "10"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --size must be in [64, 2048]. Received: --size=10"
    )
