import numpy as np
import pytest

from hiu_tf.layers.conv_norm_act import ConvNormAct
from tests.helpers import run_layer_test


def test_conv_norm_act_layer():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    run_layer_test(
        ConvNormAct,
        {"filters": 6, "kernel_size": 3, "strides": 2, "norm": "group", "norm_groups": 4},
        x,
        expected_output_shape=(2, 4, 4, 6),
        expected_num_trainable_weights=3,
    )


def test_depthwise_batch_norm():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    run_layer_test(
        ConvNormAct,
        {"filters": None, "kernel_size": 3, "depthwise": True, "activation": "relu6"},
        x,
        expected_output_shape=(2, 8, 8, 4),
        run_mixed_precision_check=False,
    )


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"filters": 0}, "Received: filters=0"),
        ({"filters": 4, "norm": "layer"}, "Received: norm='layer'"),
        ({"filters": 4, "activation": "tanh"}, "Received: activation='tanh'"),
    ],
)
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        ConvNormAct(**kwargs)
