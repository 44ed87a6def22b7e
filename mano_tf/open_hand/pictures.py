"""Pictures of the open hand model in its named poses, each from a viewpoint that shows it.

`render_poses` poses the hand model (`named_pose`) through `ManoLayer` and
renders every pose with `mano_tf.render.shaded.render_shaded` on white, at one
scale: a 20 cm hand at 0.6 m spans 86 % of a panel. The view starts upright
(camera x right, y down, z forward: the fingers up, the palm towards the
camera, the thumb on the right of a right hand) and then turns by the pose's
`VIEWS` entry; a left hand is seen in the mirror image of the right hand's
view. The documentation's figure and the demo's report draw their hands with it.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

# pose name -> rotations (axis, radians) applied, in order, after the upright view
VIEWS = {
    "rest": (((0.0, 1.0, 0.0), -0.35),),
    "relaxed": (((1.0, 0.0, 0.0), 0.3), ((0.0, 1.0, 0.0), -0.5)),
    "fist": (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6)),
    "pointing": (((1.0, 0.0, 0.0), 0.3), ((0.0, 1.0, 0.0), -0.5)),
    "ok": (((1.0, 0.0, 0.0), 0.5), ((0.0, 1.0, 0.0), -0.6)),
    "spread": (((0.0, 1.0, 0.0), -0.2),),
}
# Rest frame -> upright view: fingers (-x) up, the palm (-y) towards the camera, thumb (+z) right.
UPRIGHT = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
DEPTH = 0.6  # metres from the camera to the middle of the hand
SPAN = 0.86  # share of a panel that a 20 cm hand spans


def _rotation(axis: Sequence[float], angle: float) -> np.ndarray:
    """Rodrigues' formula: the 3 x 3 rotation by `angle` radians about `axis`."""
    axis = np.asarray(axis, np.float64) / np.linalg.norm(axis)
    k = np.array([[0.0, -axis[2], axis[1]], [axis[2], 0.0, -axis[0]], [-axis[1], axis[0], 0.0]])
    return np.eye(3) + np.sin(angle) * k + (1.0 - np.cos(angle)) * (k @ k)


def view_rotation(name: str, side: str = "right") -> np.ndarray:
    """The rotation from the rest frame to the camera frame of pose `name`'s picture."""
    if name not in VIEWS:
        raise ValueError(f"name must be one of {tuple(VIEWS)}. Received: name={name!r}")
    rotation = UPRIGHT
    for axis, angle in VIEWS[name]:
        rotation = _rotation(axis, angle) @ rotation
    if side == "left":
        mirror = np.diag([-1.0, 1.0, 1.0])
        rotation = mirror @ rotation @ mirror
    return rotation


def render_poses(names: Sequence[str], side: str = "right", size: int = 160) -> list[np.ndarray]:
    """One `[size, size, 3]` uint8 RGB picture of the open hand per named pose.

    Raises:
        ValueError: an unknown pose or side, or `size` < 16.
    """
    from mano_tf.checks import check_int
    from mano_tf.mano_layer import ManoLayer
    from mano_tf.open_hand.asset import default_hand_model
    from mano_tf.open_hand.poses import named_pose
    from mano_tf.render.shaded import render_shaded

    check_int(size, "size", 16)
    if side not in ("right", "left"):
        raise ValueError(f"side must be 'right' or 'left'. Received: side={side!r}")
    rotations = [view_rotation(name, side) for name in names]
    model = default_hand_model(side)
    pose = np.stack([named_pose(name, side) for name in names]).astype(np.float32)
    betas = np.zeros((len(names), model.num_betas), np.float32)
    vertices = np.asarray(ManoLayer(model, flat_hand_mean=True)(pose, betas)["vertices"])
    focal = SPAN * size * DEPTH / 0.2
    intrinsics = np.array([[focal, 0.0, size / 2], [0.0, focal, size / 2], [0.0, 0.0, 1.0]])
    pictures = []
    for posed, rotation in zip(vertices.astype(np.float64), rotations, strict=True):
        points = posed @ rotation.T
        points = points + [0.0, 0.0, DEPTH] - (points.max(0) + points.min(0)) / 2
        background = np.full((size, size, 3), 255, np.uint8)
        rendered = render_shaded(points, model.faces, intrinsics, size, size, background=background)
        pictures.append(np.ascontiguousarray(rendered["image"]))
    return pictures
