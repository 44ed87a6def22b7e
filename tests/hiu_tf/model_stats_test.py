import dataclasses

import keras
import pytest

from hiu_tf.model import build_model
from hiu_tf.model_stats import count_flops, count_params, describe, flops_by_layer
from hiu_tf.presets import preset


def test_count_flops_counts_a_multiply_add_as_two():
    model = keras.Sequential(
        [
            keras.Input((16, 16, 3)),
            keras.layers.Conv2D(8, 3, padding="same", use_bias=False),
            keras.layers.DepthwiseConv2D(3, padding="same", use_bias=False),
            keras.layers.Flatten(),
            keras.layers.Dense(10, use_bias=False),
        ]
    )
    conv = 2 * 16 * 16 * 9 * 3 * 8
    depthwise = 2 * 16 * 16 * 9 * 8
    dense = 2 * 16 * 16 * 8 * 10
    assert count_flops(model, (1, 16, 16, 3)) == conv + depthwise + dense
    assert count_flops(model, (2, 16, 16, 3)) == 2 * (conv + depthwise + dense)


def test_describe_tiny(hand_model):
    cfg = dataclasses.replace(preset("tiny").model, hand_model=hand_model)
    model = build_model(cfg, batch_size=1)
    info = describe(model, (1, 64, 64, 3))
    assert info["outputs"]["stack2_heatmaps"] == (1, 16, 16, 21)
    assert info["flops"] == sum(info["flops_by_layer"].values()) > 0
    assert {"stem", "stack1", "stack2", "regressor_head"} <= set(info["flops_by_layer"])
    params = count_params(model)
    assert params["trainable"] == sum(int(w.numpy().size) for w in model.trainable_weights)
    assert params["hand_model"] > 0


def _flops(name: str, hand_model: str) -> int:
    cfg = dataclasses.replace(preset(name).model, hand_model=hand_model)
    return count_flops(build_model(cfg, batch_size=1), (1, cfg.input_size, cfg.input_size, 3))


def test_paper_presets_have_similar_flops(hand_model):
    """Table 2: the 1-, 2- and 4-stack models are designed to have similar FLOPs (+-10 %)."""
    flops = {n: _flops(f"paper-{n}stack", hand_model) for n in (1, 2, 4)}
    for n in (1, 2):
        assert abs(flops[n] / flops[4] - 1) < 0.10, flops
    assert 8e9 < flops[4] < 16e9, flops


@pytest.mark.slow
def test_eight_stacks_and_notam_flops(hand_model):
    four = _flops("paper-4stack", hand_model)
    assert abs(_flops("paper-8stack", hand_model) / four - 1) < 0.10
    assert (
        _flops("paper-4stack-notam", hand_model) > four
    )  # the 3x3 conv over 3C channels costs more


@pytest.mark.parametrize(
    "name, gflops", [("mobile-lite", 0.2), ("mobile-mid", 0.5), ("mobile", 1.0)]
)
def test_mobile_budget(hand_model, name, gflops):
    """Phone-class, at 224 x 224 with the renderer: <= 2.5 M parameters (MediaPipe's
    hand_landmark_full has 2.7 M) and the family's compute, from `mobile-lite`'s 0.17
    GFLOPs to `mobile`'s 0.93 (hand_landmark_full's convolutions: 0.66)."""
    cfg = dataclasses.replace(preset(name).model, hand_model=hand_model)
    model = build_model(cfg, batch_size=1)
    assert cfg.input_size == 224
    assert count_params(model)["total"] <= 2.5e6
    by_layer = flops_by_layer(model, (1, 224, 224, 3))
    assert sum(by_layer.values()) <= gflops * 1e9, by_layer
