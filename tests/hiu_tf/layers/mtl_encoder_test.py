import numpy as np
import pytest

from hiu_tf.layers.mtl_encoder import MTLEncoder
from tests.helpers import run_layer_test


def test_mtl_encoder_first_stack():
    stem = np.random.default_rng(0).normal(size=(2, 16, 16, 6)).astype("float32")
    run_layer_test(
        MTLEncoder,
        {"filters": 8, "levels": 2, "block_type": "basic"},
        stem,
        expected_output_shape=[(2, 16, 16, 8), (2, 8, 8, 8), (2, 4, 4, 8)],
    )


def test_mtl_encoder_with_previous_features():
    rng = np.random.default_rng(0)
    inputs = [rng.normal(size=(2, 8, 8, 6)).astype("float32"), rng.normal(size=(2, 8, 8, 8))]
    run_layer_test(
        MTLEncoder,
        {"filters": 8, "levels": 1, "has_previous": True, "blocks_per_level": 2},
        [x.astype("float32") for x in inputs],
        expected_output_shape=[(2, 8, 8, 8), (2, 4, 4, 8)],
        run_mixed_precision_check=False,
    )


def test_first_stack_equals_zero_previous_features():
    """has_previous=False is the paper's first stack: previous features are zeros."""
    rng = np.random.default_rng(0)
    stem = rng.normal(size=(1, 8, 8, 6)).astype("float32")
    first = MTLEncoder(8, levels=1)
    with_prev = MTLEncoder(8, levels=1, has_previous=True)
    first.build(stem.shape)
    with_prev.build([stem.shape, (1, 8, 8, 8)])
    weights = with_prev.get_weights()
    weights[0] = np.concatenate([first.get_weights()[0], weights[0][:, :, 6:]], axis=2)
    with_prev.set_weights([weights[0]] + first.get_weights()[1:])
    zeros = np.zeros((1, 8, 8, 8), "float32")
    for a, b in zip(first(stem), with_prev([stem, zeros]), strict=True):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_wrong_number_of_inputs():
    with pytest.raises(ValueError, match="expects \\[stem, previous\\]"):
        MTLEncoder(8, has_previous=True).build((2, 8, 8, 6))
    with pytest.raises(ValueError, match="expects one stem feature map"):
        MTLEncoder(8).build([(2, 8, 8, 6), (2, 8, 8, 8)])
