"""Synthetic sample dicts for the data tests."""

import numpy as np

from hiu_tf.data import schema


def full_sample(rng: np.random.Generator, size: int = 32, blobs: bool = False) -> dict:
    """A sample with every label; joints project onto the keypoints with its K.

    With `blobs`, the image is black with a white Gaussian blob on the wrist
    keypoint (for alignment tests) and the mask is a disc around it.
    """
    joints = rng.uniform([-0.03, -0.03, 0.45], [0.03, 0.03, 0.55], (21, 3))
    k = np.array([[1.6 * size, 0.0, size / 2 + 1], [0.0, 1.5 * size, size / 2 - 1], [0, 0, 1.0]])
    uv = joints @ k.T
    uv = uv[:, :2] / uv[:, 2:]
    if blobs:
        yy, xx = np.mgrid[0:size, 0:size] + 0.5
        d2 = (xx - uv[0, 0]) ** 2 + (yy - uv[0, 1]) ** 2
        image = np.repeat(np.exp(-d2 / (2 * 1.5**2))[..., None], 3, axis=-1)
        mask = d2 <= (size / 5) ** 2
    else:
        image = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
        mask = rng.random((size, size)) > 0.5
    return schema.make_sample(
        image,
        keypoints_px=uv,
        joints_cam=joints,
        intrinsics=k,
        mask=mask,
        mano_pose=rng.normal(0, 0.4, 48),
        mano_betas=rng.normal(0, 1, 10),
    )
