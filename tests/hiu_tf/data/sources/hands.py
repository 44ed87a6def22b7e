"""Helpers for reader fixtures: random hands, projections and drawn images."""

import cv2
import numpy as np

WRIST_RGB = (255, 0, 0)
OTHER_RGB = (0, 255, 0)


def random_joints(rng: np.random.Generator, centre=(0.0, 0.0, 0.5), spread=0.03) -> np.ndarray:
    """`[21, 3]` metres: a random point cloud the size of a hand, canonical order."""
    joints = np.asarray(centre, np.float64) + rng.normal(0.0, spread, (21, 3))
    joints[:, 2] = np.abs(joints[:, 2] - centre[2]) * 0.3 + centre[2]
    return joints


def project(joints: np.ndarray, k: np.ndarray) -> np.ndarray:
    uv = joints @ np.asarray(k).T
    return uv[:, :2] / uv[:, 2:]


def draw(image: np.ndarray, uv: np.ndarray, radius: int = 3) -> np.ndarray:
    """Draws (RGB image, in place) green dots on the keypoints and a red one on the wrist."""
    for i in range(len(uv) - 1, -1, -1):
        colour = WRIST_RGB if i == 0 else OTHER_RGB
        centre = tuple(int(round(v)) for v in uv[i])  # OpenCV convention, as datasets
        cv2.circle(image, centre, radius if i else radius + 1, colour, -1)
    return image


def write_rgb(path, image: np.ndarray) -> None:
    cv2.imwrite(str(path), cv2.cvtColor(image, cv2.COLOR_RGB2BGR))


def wrist_is_red(sample: dict) -> bool:
    """The crop's pixel under keypoint 0 is red: the crop, resize and mirror kept image and labels aligned."""
    u, v = sample["keypoints_px"][0]
    size = sample["image"].shape[0]
    j, i = min(max(int(u), 0), size - 1), min(max(int(v), 0), size - 1)
    r, g, b = sample["image"][i, j]
    return bool(r > 0.5 and g < 0.35)
