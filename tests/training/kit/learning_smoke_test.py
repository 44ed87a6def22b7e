"""A few hundred steps of the demo's training must turn the mesh towards the truth.

The learning benchmark (`benchmarks/bench_learning.py`) in miniature: the demo's
model and generator options, a small synthetic training set and a held-out set
with other backgrounds, evaluated before and after a thousand steps (about a
minute on 2 cores). Before the mesh fixes, the regressed hand drifted away from
the camera within these steps (depth ratio 1.2 -> 7.8 after 1,000) and its
global rotation did not move (132 degrees off); this test fails if either
comes back, or if the 3D error rises above the untrained model's.
"""

import math

import pytest

from training import demo
from training.kit import datasets, learning

STEPS = 1000


@pytest.fixture(scope="module")
def curve(tmp_path_factory):
    root = tmp_path_factory.mktemp("learning")
    config = demo.demo_config(demo.DemoOptions(seed=0))
    data = datasets.make_datasets(
        str(root / "data"),
        size=config.model.input_size,
        seed=0,
        train_samples=512,
        heldout_samples=64,
        hand_model=config.model.hand_model,
        synth=datasets.synth_options(datasets.DEMO_SYNTH),
        family_samples=32,
        echo=lambda _: None,
    )
    config = datasets.with_training_set(config, data["train"])
    return learning.learning_curve(
        config, data["heldout"], (STEPS,), str(root / "run"), final_sets={"family": data["family"]}
    )


def test_the_mesh_turns_the_right_way_and_stays_at_its_depth(curve):
    untrained, trained = curve
    assert [untrained["step"], trained["step"]] == [0, STEPS]
    # The global rotation error falls; the depth stays near the truth (ratio 1).
    assert trained["rotation_error_deg"] < untrained["rotation_error_deg"] - 10.0, curve
    assert abs(math.log(trained["depth_ratio"])) < math.log(1.3), curve
    assert trained["pa_mpjpe_mm"] < untrained["pa_mpjpe_mm"], curve


def test_the_heatmaps_and_the_projected_mesh_learn(curve):
    untrained, trained = curve
    assert trained["median_2d_heatmap_px"] < 0.7 * untrained["median_2d_heatmap_px"], curve
    assert trained["median_2d_mesh_px"] < untrained["median_2d_mesh_px"], curve
    assert trained["mask_mean_iou"] > untrained["mask_mean_iou"] + 0.1, curve


def test_the_trained_model_is_also_checked_on_new_crops_of_the_training_kind(curve):
    untrained, trained = curve
    assert "sets" not in untrained
    family = trained["sets"]["family"]
    assert set(family) == set(trained) - {"step", "wall_s", "sets"}
    assert family["median_2d_heatmap_px"] < 0.7 * untrained["median_2d_heatmap_px"], family
    assert family["mask_mean_iou"] > untrained["mask_mean_iou"] + 0.1, family
