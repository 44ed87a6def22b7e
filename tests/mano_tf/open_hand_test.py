"""Tests for mano_tf.open_hand: the open hand model's mesh, rig, shapes, poses and mirror."""

import dataclasses
import os
import subprocess
import sys

import numpy as np
import pytest

from mano_tf import open_hand
from mano_tf.hand_model import (
    ARRAY_FIELDS,
    MANO_PARENTS,
    HandModel,
    load_hand_model,
    mirror_hand_model,
)
from mano_tf.open_hand import FINGER_JOINTS, FINGERS, default_hand_model, named_pose
from mano_tf.open_hand.design import hand_design
from tests.reference.lbs_numpy import rodrigues, skin

MIRROR = np.array([-1.0, 1.0, 1.0])
AA_MIRROR = np.tile([1.0, -1.0, -1.0], 16)


@pytest.fixture(scope="module")
def model() -> HandModel:
    return default_hand_model("right")


# ------------------------------------------------------------------ helpers


def _as_mano_dict(model: HandModel) -> dict:
    """The layout that the independent NumPy reference (`tests.reference.lbs_numpy`) reads."""
    return {
        "v_template": model.v_template,
        "shapedirs": model.shapedirs,
        "posedirs": model.posedirs,
        "J_regressor": model.J_regressor,
        "weights": model.weights,
        "kintree_table": np.stack([model.parents, np.arange(16)]),
    }


def _pose(model: HandModel, pose: np.ndarray, betas: np.ndarray | None = None):
    """Vertices `[B, V, 3]`, joints `[B, 16, 3]`, tips `[B, 5, 3]` (float64, NumPy reference)."""
    pose = np.asarray(pose, np.float64).reshape(-1, 48)
    betas = np.zeros((len(pose), 10)) if betas is None else np.asarray(betas).reshape(-1, 10)
    vertices, joints = skin(_as_mano_dict(model), betas, rodrigues(pose.reshape(-1, 16, 3)))
    return vertices, joints, vertices[:, model.tip_vertex_ids]


def _edges(faces: np.ndarray) -> np.ndarray:
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    return np.unique(np.sort(directed, axis=1), axis=0)


def _num_components(num_vertices: int, edges: np.ndarray) -> int:
    label = np.arange(num_vertices)
    while True:  # min-label propagation along edges until stable
        low = np.minimum(label[edges[:, 0]], label[edges[:, 1]])
        new = label.copy()
        np.minimum.at(new, edges[:, 0], low)
        np.minimum.at(new, edges[:, 1], low)
        new = new[new]
        if np.array_equal(new, label):
            return len(np.unique(label))
        label = new


def _signed_volumes(a, b, c, d) -> np.ndarray:
    return np.einsum("ij,ij->i", b - a, np.cross(c - a, d - a))


def _self_intersections(vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """`[N, 2]` pairs of faces without a shared vertex whose triangles cross.

    Candidate pairs come from a sweep over x of the faces' bounding boxes (then
    y and z overlap); two triangles cross when an edge of one passes through the
    other (signs of tetrahedron volumes). Touching or coplanar contacts are not
    counted.
    """
    tri = vertices[faces]  # [F, 3, 3]
    lo, hi = tri.min(1), tri.max(1)
    order = np.argsort(lo[:, 0], kind="stable")
    end = np.searchsorted(lo[order, 0], hi[order, 0], side="right")
    start = np.arange(len(faces)) + 1
    count = np.maximum(end - start, 0)
    first = np.repeat(np.arange(len(faces)), count)
    second = np.arange(count.sum()) - np.repeat(np.cumsum(count) - count, count)
    second += np.repeat(start, count)
    a, b = order[first], order[second]
    overlap = np.all((lo[a] <= hi[b]) & (lo[b] <= hi[a]), axis=1)
    a, b = a[overlap], b[overlap]
    shared = (faces[a][:, :, None] == faces[b][:, None, :]).any(axis=(1, 2))
    a, b = a[~shared], b[~shared]
    hit = np.zeros(len(a), bool)
    for s, t in ((a, b), (b, a)):
        t0, t1, t2 = tri[t, 0], tri[t, 1], tri[t, 2]
        for e in range(3):
            p, q = tri[s, e], tri[s, (e + 1) % 3]
            crosses_plane = np.sign(_signed_volumes(t0, t1, t2, p)) * np.sign(
                _signed_volumes(t0, t1, t2, q)
            )
            c0 = np.sign(_signed_volumes(p, q, t0, t1))
            c1 = np.sign(_signed_volumes(p, q, t1, t2))
            c2 = np.sign(_signed_volumes(p, q, t2, t0))
            hit |= (crosses_plane < 0) & (c0 == c1) & (c1 == c2) & (c0 != 0)
    return np.stack([a[hit], b[hit]], axis=1)


def _winding_numbers(points: np.ndarray, vertices: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Generalised winding number of a closed mesh at `[P, 3]` points (1 inside, 0 outside)."""
    a, b, c = (vertices[faces[:, i]][None] - points[:, None] for i in range(3))  # [P, F, 3]
    la, lb, lc = (np.linalg.norm(x, axis=-1) for x in (a, b, c))
    det = np.einsum("pfi,pfi->pf", a, np.cross(b, c))
    dots = (
        la * lb * lc
        + np.einsum("pfi,pfi->pf", a, b) * lc
        + np.einsum("pfi,pfi->pf", a, c) * lb
        + np.einsum("pfi,pfi->pf", b, c) * la
    )
    return (2.0 * np.arctan2(det, dots)).sum(-1) / (4.0 * np.pi)


def _palm_vertices(model: HandModel) -> np.ndarray:
    """Vertices of the palm (moved mostly by the wrist joint, not the thumb) near the knuckles."""
    v, w = model.v_template, model.weights
    near_knuckles = (v[:, 0] > 0.005) & (v[:, 0] < 0.025)
    return np.flatnonzero(near_knuckles & (w[:, 0] > 0.5) & (w[:, 13:].sum(1) < 0.5))


def _finger_length(joints: np.ndarray, tips: np.ndarray, finger: str) -> float:
    """Base joint (MCP; CMC for the thumb) to fingertip, metres."""
    return float(np.linalg.norm(tips[FINGERS.index(finger)] - joints[FINGER_JOINTS[finger][0]]))


# ------------------------------------------------------------------ the mesh


def test_mesh_is_a_closed_oriented_manifold(model):
    faces = model.faces
    directed = np.concatenate([faces[:, [0, 1]], faces[:, [1, 2]], faces[:, [2, 0]]])
    # Each directed edge once, and its reverse once: every edge in exactly 2 faces,
    # with opposite orientations.
    assert len(np.unique(directed, axis=0)) == len(directed)
    assert len(np.unique(np.sort(directed, axis=1), axis=0)) * 2 == len(directed)
    reverse = {tuple(e) for e in directed[:, ::-1].tolist()}
    assert reverse == {tuple(e) for e in directed.tolist()}
    edges = _edges(faces)
    assert np.array_equal(np.unique(faces), np.arange(model.num_vertices))
    assert _num_components(model.num_vertices, edges) == 1
    assert model.num_vertices - len(edges) + model.num_faces == 2  # Euler: a sphere
    tri = model.v_template[faces]
    double_areas = np.linalg.norm(np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0]), axis=-1)
    assert double_areas.min() > 1e-7  # m^2: no degenerate triangle


def test_faces_point_outwards(model):
    v, f = model.v_template, model.faces
    volume = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum() / 6
    assert 200e-6 < volume < 600e-6  # m^3: positive (outward faces), a hand's volume
    # Rest joints are inside the surface (winding number 1), a point beyond the tip is not.
    joints = model.J_regressor @ v
    outside = v[model.tip_vertex_ids[2]] + [-0.01, 0.0, 0.0]
    winding = _winding_numbers(np.concatenate([joints, [outside]]), v, f)
    np.testing.assert_allclose(winding, [1.0] * 16 + [0.0], atol=1e-6)


def test_no_self_intersection_at_rest(model):
    assert _self_intersections(model.v_template, model.faces).shape == (0, 2)


def test_self_intersection_check_finds_crossing_triangles():
    vertices = np.array(
        [[0, 0, 0], [1, 0, 0], [0, 1, 0], [0.2, 0.2, -0.5], [0.3, 0.2, 0.5], [0.2, 0.3, 0.5]],
        np.float64,
    )
    faces = np.array([[0, 1, 2], [3, 4, 5]])
    assert sorted(_self_intersections(vertices, faces)[0].tolist()) == [0, 1]
    apart = vertices + np.array([[0.0, 0.0, 0.0]] * 3 + [[0.0, 0.0, 2.0]] * 3)
    assert len(_self_intersections(apart, faces)) == 0


def test_size_and_proportions(model):
    assert 700 <= model.num_vertices <= 2000
    v = model.v_template
    joints = model.J_regressor @ v
    tips = v[model.tip_vertex_ids]
    hand_length = np.linalg.norm(tips[2] - joints[0])
    assert 0.17 <= hand_length <= 0.19
    palm = v[_palm_vertices(model)]
    assert 0.075 <= np.ptp(palm[:, 2]) <= 0.095  # width across the palm
    assert 0.02 <= np.ptp(palm[:, 1]) <= 0.04  # thickness
    lengths = {f: _finger_length(joints, tips, f) for f in FINGERS}
    assert lengths["middle"] > lengths["index"] > lengths["pinky"]
    assert lengths["middle"] > lengths["ring"] > lengths["pinky"]
    assert 0.08 <= lengths["middle"] <= 0.10
    assert np.linalg.norm(joints[13] - joints[0]) < 0.035  # the thumb's CMC near the wrist


def test_mano_frame_and_names(model):
    joints = model.J_regressor @ model.v_template
    along = joints[4] - joints[0]
    assert along[0] < -0.95 * np.linalg.norm(along)  # fingers along -x
    assert joints[1, 2] > joints[4, 2] > joints[10, 2] > joints[7, 2]  # index .. pinky: +z .. -z
    tips = model.v_template[model.tip_vertex_ids]
    assert tips[0, 2] > tips[1, 2]  # the thumb on the index side
    assert joints[13, 1] < joints[0, 1]  # the thumb's base towards the palm side (-y)
    assert model.side == "right" and "not MANO" in model.name


# ------------------------------------------------------------------ the rig


def test_skeleton_and_regressor(model):
    assert model.parents.tolist() == list(MANO_PARENTS)
    regressor = model.J_regressor
    assert regressor.min() >= 0.0
    np.testing.assert_allclose(regressor.sum(1), 1.0, atol=1e-5)
    assert ((regressor > 0).sum(1) >= 8).all()  # each joint: a neighbourhood of vertices
    joints = regressor @ model.v_template
    for finger, ids in FINGER_JOINTS.items():  # bone lengths of a real hand (m)
        bones = np.linalg.norm(np.diff(joints[[*ids]], axis=0), axis=-1)
        assert np.all((bones > 0.015) & (bones < 0.045)), (finger, bones)


def test_weights_are_convex_and_smooth(model):
    w = model.weights
    assert w.min() >= 0.0
    np.testing.assert_allclose(w.sum(1), 1.0, atol=1e-5)
    edges = _edges(model.faces)
    jump = np.abs(w[edges[:, 0]] - w[edges[:, 1]]).sum(1)
    assert jump.max() < 0.9 and jump.mean() < 0.25
    # Blended across every joint: some vertices share each joint with its parent.
    for j in range(1, 16):
        both = (w[:, j] > 0.3) & (w[:, MANO_PARENTS[j]] > 0.3)
        assert both.sum() >= 3, j
    # The fingertips follow their last joint only; the wrist cap the root only.
    for f, finger in enumerate(FINGERS):
        assert w[model.tip_vertex_ids[f], FINGER_JOINTS[finger][2]] > 0.99
    assert w[np.argmax(model.v_template[:, 0]), 0] > 0.999


def test_fingertips_are_the_ends_of_the_fingers(model):
    v = model.v_template
    joints = model.J_regressor @ v
    for f, finger in enumerate(FINGERS):
        last = FINGER_JOINTS[finger][2]
        tip = v[model.tip_vertex_ids[f]]
        direction = (tip - joints[last]) / np.linalg.norm(tip - joints[last])
        mine = model.weights[:, last] > 0.5
        along = (v[mine] - joints[last]) @ direction
        assert along.max() <= (tip - joints[last]) @ direction + 1e-6, finger
        assert 0.015 < np.linalg.norm(tip - joints[last]) < 0.03


def test_pose_blend_shapes_bulge_the_knuckle(model):
    assert model.posedirs[:, :, 9 * 12 : 9 * 13].max() == 0.0  # none for the thumb's CMC
    # Flex the index PIP (joint 2) by 90 degrees about +z: the back of the knuckle bulges.
    feature = (np.asarray(rodrigues(np.array([0.0, 0.0, np.pi / 2]))) - np.eye(3)).reshape(-1)
    offsets = model.posedirs[:, :, 9:18] @ feature  # [V, 3]
    joints = model.J_regressor @ model.v_template
    moved = np.linalg.norm(offsets, axis=-1) > 3e-4
    assert moved.any()
    assert np.all(np.abs(model.v_template[moved, 0] - joints[2, 0]) < 0.01)
    back = moved & (model.v_template[:, 1] > joints[2, 1] + 0.004)
    assert back.any() and np.all(offsets[back, 1] > 0)
    assert np.linalg.norm(offsets, axis=-1).max() < 0.004


def test_pose_pca_and_mean(model):
    components = model.hands_components
    np.testing.assert_allclose(components @ components.T, np.eye(45), atol=1e-5)
    np.testing.assert_allclose(model.hands_mean, named_pose("relaxed")[3:], atol=1e-6)
    flexion = model.hands_mean.reshape(15, 3)[[0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11], 2]
    assert np.all(flexion > 0.1)  # a relaxed hand: every finger joint a little bent
    # The first component closes the hand: it moves every fingertip the same way.
    _, _, rest_tips = _pose(model, np.zeros(48))
    coeff = np.concatenate([np.zeros(3), named_pose("relaxed")[3:] + components[0]])
    _, _, tips_a = _pose(model, coeff)
    coeff[3:] -= 2 * components[0]
    _, _, tips_b = _pose(model, coeff)
    moves = (tips_a - tips_b)[0, 1:, 0]  # x of index..pinky tips
    assert np.all(moves > 0) or np.all(moves < 0)


# ------------------------------------------------------------------ shape coefficients


def _shaped(model, beta_index, value=1.0):
    betas = np.zeros(10)
    betas[beta_index] = value
    v = model.v_template + model.shapedirs @ betas
    return v, model.J_regressor @ v, v[model.tip_vertex_ids]


def _section_radius(model, v_shaped, joints, joint, child_point, rest_ids):
    axis = child_point - joints[joint]
    axis /= np.linalg.norm(axis)
    q = v_shaped[rest_ids] - joints[joint]
    return np.linalg.norm(q - (q @ axis)[:, None] * axis, axis=-1).mean()


def _measures(model, v):
    joints = model.J_regressor @ v
    tips = v[model.tip_vertex_ids]
    palm = v[_palm_vertices(model)]
    lengths = {f: _finger_length(joints, tips, f) for f in FINGERS}
    # Radius of the index at the middle of its proximal phalanx and of its distal phalanx.
    rest_joints = model.J_regressor @ model.v_template
    radii = {}
    for name, joint, child in (("base", 1, 2), ("tip", 3, None)):
        end = rest_joints[child] if child is not None else model.v_template[model.tip_vertex_ids[1]]
        mid = 0.5 * (rest_joints[joint] + end)
        axis = (end - rest_joints[joint]) / np.linalg.norm(end - rest_joints[joint])
        near = np.abs((model.v_template - mid) @ axis) < 0.003
        near &= model.weights[:, joint] > 0.9
        ids = np.flatnonzero(near)
        shaped_end = joints[child] if child is not None else tips[1]
        radii[name] = _section_radius(model, v, joints, joint, shaped_end, ids)
    return {
        "hand_length": np.linalg.norm(tips[2] - joints[0]),
        "palm_length": np.linalg.norm(joints[4] - joints[0]),
        "palm_width": np.ptp(palm[:, 2]),
        "palm_thickness": np.ptp(palm[:, 1]),
        "radius_base": radii["base"],
        "radius_tip": radii["tip"],
        **{f"{f}_length": length for f, length in lengths.items()},
    }


# beta: {measure: (min change, max change)} in metres; every other measure changes by
# less than 0.5 mm (beta 0 scales everything).
_BETA_EFFECTS = {
    1: {"palm_width": (0.003, 0.007)},
    2: {"palm_length": (0.003, 0.006), "hand_length": (0.003, 0.006)},
    3: {
        "index_length": (0.003, 0.007),
        "middle_length": (0.004, 0.008),
        "ring_length": (0.003, 0.007),
        "pinky_length": (0.002, 0.006),
        "hand_length": (0.004, 0.008),
    },
    4: {"thumb_length": (0.004, 0.008)},
    5: {"radius_base": (0.0003, 0.0012), "radius_tip": (0.0002, 0.0012), "palm_width": (0, 0.001)},
    6: {"palm_thickness": (0.0015, 0.004)},
    7: {"index_length": (0.0015, 0.004), "ring_length": (-0.004, -0.0015)},
    8: {"pinky_length": (0.003, 0.007)},
    9: {"radius_base": (0.0002, 0.001), "radius_tip": (-0.001, -0.0002)},
}


@pytest.mark.parametrize("beta", sorted(_BETA_EFFECTS))
def test_each_beta_does_what_its_docstring_says(model, beta):
    rest = _measures(model, model.v_template)
    shaped = _measures(model, _shaped(model, beta)[0])
    for key, value in rest.items():
        change = shaped[key] - value
        low, high = _BETA_EFFECTS[beta].get(key, (-0.0005, 0.0005))
        assert low <= change <= high, (beta, key, change)


def test_beta_0_scales_the_hand_about_the_wrist(model):
    wrist = (model.J_regressor @ model.v_template)[0]
    v, joints, _ = _shaped(model, 0)
    np.testing.assert_allclose(v - wrist, 1.05 * (model.v_template - wrist), atol=1e-7)
    np.testing.assert_allclose(joints[0], wrist, atol=1e-7)


def test_betas_are_about_one_standard_deviation(model):
    displacement = np.linalg.norm(model.shapedirs, axis=1).max(0)  # [10] metres
    assert np.all((displacement > 0.0005) & (displacement < 0.012)), displacement


# ------------------------------------------------------------------ named poses


def test_named_poses_look_right(model):
    poses = np.stack([named_pose(n) for n in ("rest", "fist", "pointing", "ok", "spread")])
    vertices, joints, tips = _pose(model, poses)
    rest, fist, pointing, ok, spread = range(5)
    np.testing.assert_array_equal(poses[rest], 0.0)
    palm = np.flatnonzero(model.weights[:, 0] + model.weights[:, 13] > 0.9)  # thenar included

    def to_palm(i, f):
        return np.linalg.norm(vertices[i, palm] - tips[i, f], axis=-1).min()

    # "ok": thumb tip on the index tip; the other fingers stay out.
    assert np.linalg.norm(tips[ok, 0] - tips[ok, 1]) < 0.015
    assert min(to_palm(ok, f) for f in (2, 3, 4)) > 0.05
    # "fist": every fingertip at the palm, the thumb over the curled fingers.
    assert max(to_palm(fist, f) for f in (1, 2, 3, 4)) < 0.015
    assert np.linalg.norm(tips[fist, 0] - joints[fist, 5]) < 0.03  # near the middle PIP
    # "pointing": the index straight out, the others curled.
    assert np.linalg.norm(tips[pointing, 1] - joints[pointing, 0]) > 0.16
    assert max(to_palm(pointing, f) for f in (2, 3, 4)) < 0.015
    # "spread": fingertips further apart than at rest.
    gaps = np.linalg.norm(np.diff(tips[[rest, spread]], axis=1), axis=-1)
    assert np.all(gaps[1] > gaps[0] + 0.01)


def test_named_pose_errors_and_left_side():
    left = named_pose("ok", side="left")
    np.testing.assert_allclose(left, named_pose("ok") * AA_MIRROR)
    with pytest.raises(ValueError, match=r"Received: name='wave'"):
        named_pose("wave")
    with pytest.raises(ValueError, match=r"Received: side='up'"):
        named_pose("fist", side="up")


# ------------------------------------------------------------------ mirror and left model


def test_mirrored_model_poses_as_the_mirror_image(model):
    left = mirror_hand_model(model)
    rng = np.random.default_rng(0)
    pose = rng.normal(0.0, 0.4, (3, 48))
    betas = rng.normal(0.0, 1.0, (3, 10))
    v_right, j_right, _ = _pose(model, pose, betas)
    v_left, j_left, _ = _pose(left, pose * AA_MIRROR, betas)
    np.testing.assert_allclose(v_left, v_right * MIRROR, atol=1e-9)
    np.testing.assert_allclose(j_left, j_right * MIRROR, atol=1e-9)
    # The PCA basis and the mean mirror the same way.
    coeffs = rng.normal(0.0, 1.0, (45,))
    np.testing.assert_allclose(
        coeffs @ left.hands_components, (coeffs @ model.hands_components) * AA_MIRROR[3:]
    )
    assert left.side == "left" and "mirrored to left" in left.name
    v, f = left.v_template, left.faces
    volume = np.einsum("ij,ij->i", v[f[:, 0]], np.cross(v[f[:, 1]], v[f[:, 2]])).sum()
    assert volume > 0  # faces still point outwards
    twice = mirror_hand_model(left)
    for field in ("v_template", "faces", "shapedirs", "posedirs", "hands_components"):
        np.testing.assert_array_equal(getattr(twice, field), getattr(model, field))
    assert twice.side == "right"


def test_default_left_model_is_the_mirror(model):
    left = default_hand_model("left")
    expected = mirror_hand_model(model)
    for field in ("v_template", "faces", "shapedirs", "posedirs", "hands_mean", "weights"):
        np.testing.assert_array_equal(getattr(left, field), getattr(expected, field))
    assert left.side == "left" and "not MANO" in left.name
    assert default_hand_model() is model  # cached


def test_bad_side():
    with pytest.raises(ValueError, match=r"side must be 'right' or 'left'\. Received: side='up'"):
        default_hand_model("up")


def test_mano_layer_runs_the_open_model(model):
    from mano_tf.mano_layer import ManoLayer

    layer = ManoLayer("open:right", flat_hand_mean=True)
    assert layer.side == "right" and layer.num_vertices == model.num_vertices
    pose = np.stack([named_pose("ok"), named_pose("fist")]).astype(np.float32)
    out = layer(pose, np.zeros((2, 10), np.float32))
    assert out["vertices"].shape == (2, model.num_vertices, 3)
    assert out["joints"].shape == (2, 21, 3) and out["joints_mano"].shape == (2, 16, 3)
    vertices, joints, tips = _pose(model, pose)
    np.testing.assert_allclose(np.asarray(out["vertices"]), vertices, atol=2e-5)
    np.testing.assert_allclose(np.asarray(out["joints"])[:, [4, 8, 12, 16, 20]], tips, atol=2e-5)
    pca = ManoLayer("open:left", use_pca=True, num_pca_comps=6)
    out = pca(np.zeros((1, 9), np.float32), np.zeros((1, 10), np.float32))
    assert out["vertices"].shape == (1, model.num_vertices, 3)


# ------------------------------------------------------------------ the committed asset


def test_asset_is_small_float32_and_loads():
    path = open_hand.asset_path()
    assert os.path.getsize(path) < 2 * 1024 * 1024
    with np.load(path) as npz:
        assert npz["v_template"].dtype == np.float32 and npz["faces"].dtype == np.int32
        assert str(npz["name"]) == open_hand.MODEL_NAME
    model = load_hand_model(path)
    assert (model.num_vertices, model.num_faces) == (
        model.v_template.shape[0],
        model.faces.shape[0],
    )
    assert model.num_faces == 2 * model.num_vertices - 4  # closed genus-0 mesh


def test_design_is_frozen():
    design = hand_design()
    with pytest.raises(dataclasses.FrozenInstanceError):
        design.y_mid = 0.0
    with pytest.raises(ValueError, match="read-only"):
        design.chains["index"].points[0, 0] = 0.0
    with pytest.raises(TypeError):
        design.chains["index"] = design.chains["ring"]


def test_python_dash_m_runs_the_command_line():
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    done = subprocess.run(
        [sys.executable, "-m", "mano_tf.open_hand", "--help"],
        capture_output=True,
        text=True,
        cwd=root,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("usage: python -m mano_tf.open_hand [-h] [--out OUT] [--check]")


@pytest.mark.slow
def test_regenerating_gives_the_committed_asset(tmp_path, capsys):
    out = tmp_path / "open_hand_right.npz"
    assert open_hand.main(["--out", str(out)]) == 0
    assert "open-hand-v1" in capsys.readouterr().out
    regenerated, committed = load_hand_model(out), default_hand_model("right")
    for field in ARRAY_FIELDS:
        np.testing.assert_array_equal(getattr(regenerated, field), getattr(committed, field))
    assert out.read_bytes() == open(open_hand.asset_path(), "rb").read()
