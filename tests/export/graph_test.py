import numpy as np
import pytest
import tensorflow as tf

from export import graph
from tests.export import fixtures


def test_forward_matches_the_keras_model():
    _, model = fixtures.loaded_run()
    images = fixtures.hand_images().astype(np.float32)
    out = {k: np.asarray(v) for k, v in graph.forward(model, images).items()}
    ref = {k: np.asarray(v) for k, v in model(images / 255.0, training=False).items()}
    assert tuple(out) == graph.output_keys(model)
    np.testing.assert_allclose(out["keypoints_px"], ref["keypoints_px_heatmap"], atol=1e-3)
    np.testing.assert_allclose(out["keypoints_px_mesh"], ref["keypoints_px"], atol=1e-3)
    for key in ("vertices", "joints_cam", "mano_pose", "mano_betas", "camera"):
        np.testing.assert_allclose(out[key], ref[key], atol=1e-5, err_msg=key)
    heatmaps = ref["stack2_heatmaps"]
    np.testing.assert_allclose(out["keypoints_score"], heatmaps.max(axis=(1, 2)), atol=1e-4)
    # The mask is the upsampled logits through a sigmoid: same sign pattern as the logits.
    assert out["mask"].shape == images.shape[:3]
    small = tf.image.resize(out["mask"][..., None], heatmaps.shape[1:3], "area").numpy()[..., 0]
    logits = ref["stack2_mask_logits"][..., 0]
    assert np.mean((small > 0.5) == (logits > 0)) > 0.9
    # The trained test model's outputs follow the image (so parity tests compare something).
    assert out["keypoints_px"].std(axis=0).mean() > 2.0
    assert out["keypoints_px_mesh"].std(axis=0).mean() > 2.0


def test_no_mesh_gives_the_same_parameters():
    _, model = fixtures.loaded_run()
    images = fixtures.hand_images()[:2]
    full = graph.forward(model, images)
    params = graph.forward(model, images, mesh=False)
    assert set(params) == set(full) - set(graph.MESH_KEYS)
    for key in params:
        np.testing.assert_allclose(np.asarray(params[key]), np.asarray(full[key]), atol=1e-5)


def test_no_mesh_needs_a_pose_without_the_hand_model(monkeypatch):
    import dataclasses

    _, model = fixtures.loaded_run()
    monkeypatch.setattr(
        model, "model_config", dataclasses.replace(model.model_config, flat_hand_mean=False)
    )
    with pytest.raises(graph.ExportError, match="flat_hand_mean"):
        graph.check_exportable(model, mesh=False)
    graph.check_exportable(model, mesh=True)


@pytest.mark.parametrize("levels", [1, 2])
def test_forward_exports_the_refined_mask(hand_model, levels):
    import dataclasses

    from hiu_tf.model import HIUModel
    from hiu_tf.presets import preset

    cfg = dataclasses.replace(
        preset("tiny").model,
        hand_model=hand_model,
        mask_refine_width=8,
        mask_refine_levels=levels,
        render_mask=False,
    )
    model = HIUModel(cfg)
    images = np.random.default_rng(0).uniform(0, 255, (2, 64, 64, 3)).astype(np.float32)
    ref = model(images / 255.0, training=False)["mask_logits"]  # [2, 32 * levels, ..., 1]
    out = graph.forward(model, images)["mask"]
    want = tf.sigmoid(tf.image.resize(ref, (64, 64), "bilinear"))[..., 0]
    np.testing.assert_allclose(np.asarray(out), want.numpy(), atol=1e-5)


def test_forward_leaves_the_mask_at_its_maps_resolution_when_asked(hand_model):
    """`model.mask_output: maps`: the sigmoid of the mask logits at their own resolution,
    the same function as "input" before its upsampling; the Predictor's full-image mask,
    upsampled by the caller, covers the same hand."""
    import dataclasses

    from export.inference import Predictor
    from hiu_tf.model import HIUModel
    from hiu_tf.presets import preset

    cfg = dataclasses.replace(preset("tiny").model, hand_model=hand_model, render_mask=False)
    model = HIUModel(cfg)
    images = np.stack(fixtures.hand_images()[:2]).astype(np.float32)
    logits = model(images / 255.0, training=False)["stack2_mask_logits"]  # [2, 16, 16, 1]
    full = graph.forward(model, images)
    model.model_config = dataclasses.replace(cfg, mask_output="maps")
    small = graph.forward(model, images)
    assert small["mask"].shape == (2, 16, 16) and full["mask"].shape == (2, 64, 64)
    np.testing.assert_allclose(np.asarray(small["mask"]), tf.sigmoid(logits)[..., 0], atol=1e-6)
    for key in set(full) - {"mask"}:  # nothing else changes
        np.testing.assert_allclose(np.asarray(small[key]), np.asarray(full[key]), atol=1e-5)
    image = fixtures.hand_images()[2]
    got = Predictor.from_keras(model).predict(image)["mask"]
    model.model_config = cfg
    ref = Predictor.from_keras(model).predict(image)["mask"]
    assert got.shape == ref.shape == image.shape[:2]
    # the same maps, upsampled before or after the sigmoid: edges move by a fraction of a pixel
    assert np.mean(np.abs(got - ref)) < 0.02 and fixtures.mask_iou(got, ref) > 0.9
