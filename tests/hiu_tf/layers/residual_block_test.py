import numpy as np
import pytest

from hiu_tf.layers.residual_block import ResidualBlock
from tests.helpers import run_layer_test


@pytest.mark.parametrize(
    "block_type, strides, filters, weights",
    [
        ("basic", 2, 8, 2 * 3 + 3),  # two conv-norm + projection shortcut
        ("bottleneck", 1, 4, 3 * 3),  # identity shortcut
        ("inverted", 1, 4, 3 * 3),  # expand, depthwise, project
    ],
)
def test_residual_block_layer(block_type, strides, filters, weights):
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    run_layer_test(
        ResidualBlock,
        {"filters": filters, "block_type": block_type, "strides": strides, "expansion": 2},
        x,
        expected_output_shape=(2, 8 // strides, 8 // strides, filters),
        expected_num_trainable_weights=weights,
        run_mixed_precision_check=block_type == "bottleneck",
    )


def test_inverted_without_shortcut_when_shape_changes():
    block = ResidualBlock(6, block_type="inverted", strides=2)
    block.build((None, 8, 8, 4))
    assert not block.use_residual


def test_bad_block_type():
    with pytest.raises(ValueError, match="Received: block_type='dense'"):
        ResidualBlock(4, block_type="dense")
