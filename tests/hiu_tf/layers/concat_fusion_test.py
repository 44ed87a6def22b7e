import keras
import numpy as np
import pytest

from hiu_tf.layers.concat_fusion import ConcatFusion
from tests.helpers import run_layer_test


def test_concat_fusion_layer():
    rng = np.random.default_rng(0)
    features = [rng.normal(size=(2, 6, 6, 4)).astype("float32") for _ in range(3)]
    run_layer_test(
        ConcatFusion,
        {"filters": 5},
        features,
        expected_output_shape=(2, 6, 6, 5),
        expected_num_trainable_weights=2,
    )


def test_is_a_3x3_convolution_of_the_concatenation():
    rng = np.random.default_rng(0)
    features = [rng.normal(size=(1, 6, 6, 4)).astype("float32") for _ in range(2)]
    layer = ConcatFusion()
    out = keras.ops.convert_to_numpy(layer(features))
    assert out.shape == (1, 6, 6, 4)
    assert tuple(layer.conv.kernel.shape) == (3, 3, 8, 4)
    conv = keras.layers.Conv2D(4, 3, padding="same")
    conv.build((None, 6, 6, 8))
    conv.set_weights(layer.conv.get_weights())
    expected = keras.ops.convert_to_numpy(conv(np.concatenate(features, axis=-1)))
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="Received: filters=0"):
        ConcatFusion(filters=0)
    with pytest.raises(ValueError, match="list of task feature maps"):
        ConcatFusion().build((2, 6, 6, 4))
