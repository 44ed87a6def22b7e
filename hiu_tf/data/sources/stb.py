"""Stereo Hand Pose Tracking Benchmark (STB, Zhang et al. 2017) reader, Intel RealSense (SK) images.

Layout under the root (as released; images may also sit in `images/<seq>/`):

    labels/B1Counting_SK.mat     handPara [3, 21, 1500]: joints, millimetres, in the
                                 frame of the SK *depth* camera (MAT v5, read with
                                 `scipy.io.loadmat`)
    B1Counting/SK_color_0.png    640 x 480 colour images, one per frame
    ...                          sequences B1..B6 x {Counting, Random}

Splits follow the common protocol: "train" = B2-B6, "eval" = B1 (hand3d,
Zimmermann & Brox), "all" = everything.

Conversions:

* depth camera -> colour camera: `X_color = (X_depth - t) R` with the SK
  extrinsics `rotvec = (0.00531, -0.01196, 0.00301)`, `t = (-24.0381,
  -0.4563, -1.2326)` mm (the values every public STB loader uses), then metres;
* 2D keypoints: projections with the SK colour intrinsics
  `fx = 607.92271, fy = 607.88192, cx = 314.78337, cy = 236.42484`;
* joint order: STB is palm, then pinky, ring, middle, index, thumb, each
  `01` (base) -> `04` (tip); mapped to the canonical order by
  `hiu_tf.keypoints.STB_TO_CANONICAL`;
* root: STB annotates the *palm centre*, not the wrist. With `root="wrist"`
  (default) keypoint 0 becomes `palm + (palm - middle MCP)`, i.e. the palm
  centre extrapolated once more along the middle finger's metacarpal (public
  loaders use the same idea with factors 2.0-2.2 from the ring or middle MCP);
  `root="palm"` keeps the palm centre as keypoint 0 (then bones 0 -> k are
  palm -> base bones and differ from other datasets).
* side: the annotations are of the subject's left hand (joint names
  `*_L`), so samples are mirrored into right hands (`is_left = 1`); pass
  `side="right"` to keep them as they are.

No masks and no MANO labels.
"""

from __future__ import annotations

import logging
import math
import os
import zlib

import numpy as np

from hiu_tf.data.sources.base import Reader, ReaderError, crop_sample, read_image, require_dir
from hiu_tf.keypoints import STB_TO_CANONICAL

logger = logging.getLogger(__name__)

SEQUENCES = tuple(f"B{b}{kind}" for b in range(1, 7) for kind in ("Counting", "Random"))
SPLIT_SEQUENCES = {
    "train": SEQUENCES[2:],
    "eval": SEQUENCES[:2],
    "all": SEQUENCES,
}
SK_INTRINSICS = np.array(
    [[607.92271, 0.0, 314.78337], [0.0, 607.88192, 236.42484], [0.0, 0.0, 1.0]]
)
SK_ROTVEC = (0.00531, -0.01196, 0.00301)
SK_TRANSLATION_MM = np.array([-24.0381, -0.4563, -1.2326])
_MIDDLE_MCP = 9  # canonical


def _sk_rotation() -> np.ndarray:
    """The depth -> colour rotation of the public STB loaders (rows act on row vectors)."""
    theta = float(np.linalg.norm(SK_ROTVEC))
    v = np.asarray(SK_ROTVEC) * math.sin(theta / 2.0) / theta
    a, b, c, d = math.cos(theta / 2.0), -v[0], -v[1], -v[2]
    return np.array(
        [
            [a * a + b * b - c * c - d * d, 2 * (b * c + a * d), 2 * (b * d - a * c)],
            [2 * (b * c - a * d), a * a + c * c - b * b - d * d, 2 * (c * d + a * b)],
            [2 * (b * d + a * c), 2 * (c * d - a * b), a * a + d * d - b * b - c * c],
        ]
    )


def read_hand_para(path: str) -> np.ndarray:
    """`handPara` of an STB label file (MAT v5, read by `scipy.io.loadmat`), float64.

    Raises:
        ReaderError: the file is not a MAT-file scipy can read (v7.3 / HDF5,
            truncated, not a MAT-file at all), has no `handPara`, or one that is
            not `[3, 21, N]`.
    """
    from scipy.io import loadmat, whosmat
    from scipy.io.matlab import MatReadError

    try:
        data = loadmat(path, variable_names=["handPara"])
    # scipy reports a damaged file through several exception types: a bad
    # header is a ValueError, v7.3 a NotImplementedError, a cut-off file an
    # OSError, MatReadError or IndexError, a corrupt compressed block a zlib.error.
    except (MatReadError, ValueError, NotImplementedError, OSError, IndexError, zlib.error) as e:
        raise ReaderError(f"STB label file {path} is unreadable: {e}") from e
    if "handPara" not in data:
        found = sorted(name for name, _, _ in whosmat(path))
        raise ReaderError(f"STB label file {path} has no variable 'handPara'. Found: {found}")
    hand_para = np.asarray(data["handPara"], np.float64)
    if hand_para.ndim != 3 or hand_para.shape[:2] != (3, 21):
        raise ReaderError(f"{path}: handPara must be [3, 21, N]. Received: {list(hand_para.shape)}")
    return hand_para


def stb_to_camera(hand_para: np.ndarray, root: str = "wrist") -> np.ndarray:
    """`handPara [3, 21, N]` (mm, depth camera, STB order) -> `[N, 21, 3]` m, colour camera, canonical."""
    joints = np.transpose(np.asarray(hand_para, np.float64), (2, 1, 0))  # [N, 21, 3]
    joints = (joints - SK_TRANSLATION_MM) @ _sk_rotation()
    joints = joints[:, list(STB_TO_CANONICAL)] / 1000.0
    if root == "wrist":
        palm = joints[:, 0].copy()
        joints[:, 0] = palm + (palm - joints[:, _MIDDLE_MCP])
    return joints


class STBReader(Reader):
    """STB samples (2D and 3D labels) from the SK colour camera.

    Args:
        root: the STB root (holding `labels/` and the sequence folders).
        split: "train" (B2-B6), "eval" (B1) or "all".
        root_joint: "wrist" (extrapolated, default) or "palm" (see the module docstring).
        side: "left" (default: mirrored into right hands) or "right".
        **kwargs: `Reader` options.
    """

    name = "stb"
    splits = ("train", "eval", "all")

    def __init__(
        self, root, split: str = "train", *, root_joint: str = "wrist", side: str = "left", **kwargs
    ):
        super().__init__(root, split, **kwargs)
        if root_joint not in ("wrist", "palm"):
            raise ReaderError(f"root_joint must be 'wrist' or 'palm'. Received: {root_joint!r}")
        if side not in ("left", "right"):
            raise ReaderError(f"side must be 'left' or 'right'. Received: {side!r}")
        self.is_left = side == "left"
        labels = require_dir(os.path.join(self.root, "labels"), "STB labels folder")
        self.items: list[tuple[str, int]] = []
        self.joints: dict[str, np.ndarray] = {}
        self.image_dirs: dict[str, str] = {}
        found = []
        for seq in SPLIT_SEQUENCES[split]:
            path = os.path.join(labels, f"{seq}_SK.mat")
            if not os.path.isfile(path):
                continue
            hand_para = read_hand_para(path)
            candidates = [os.path.join(self.root, seq), os.path.join(self.root, "images", seq)]
            image_dir = next((d for d in candidates if os.path.isdir(d)), None)
            if image_dir is None:
                raise ReaderError(f"STB image folder of {seq} not found: tried {candidates}")
            self.joints[seq] = stb_to_camera(hand_para, root_joint)
            self.image_dirs[seq] = image_dir
            self.items.extend((seq, i) for i in range(hand_para.shape[2]))
            found.append(seq)
        if not found:
            raise ReaderError(
                f"STB label files not found: none of {[f'{s}_SK.mat' for s in SPLIT_SEQUENCES[split]]} "
                f"in {labels}"
            )

    def __len__(self) -> int:
        return len(self.items)

    def load(self, index: int):
        from mano_tf import camera

        seq, frame = self.items[index]
        image = read_image(os.path.join(self.image_dirs[seq], f"SK_color_{frame}.png"))
        joints = self.joints[seq][frame]
        uv = camera.project_points(joints, SK_INTRINSICS).numpy()
        box = self.crop_around(index, image, uv)
        sample = crop_sample(
            image,
            box,
            self.crop.image_size,
            keypoints_px=uv,
            joints_cam=joints,
            intrinsics=SK_INTRINSICS,
            is_left=self.is_left,
        )
        return [(f"{seq}/{frame}", sample)]
