import numpy as np
import pytest

from hiu_tf.layers.task_decoder import TaskDecoder
from tests.helpers import run_layer_test


def test_task_decoder_layer():
    rng = np.random.default_rng(0)
    pyramid = [rng.normal(size=(2, 16 // 2**i, 16 // 2**i, 8)).astype("float32") for i in range(3)]
    run_layer_test(
        TaskDecoder,
        {"filters": 8, "out_channels": 21, "block_type": "inverted"},
        pyramid,
        expected_output_shape=[(2, 16, 16, 8), (2, 16, 16, 21)],
    )


def test_single_level_pyramid():
    x = np.random.default_rng(0).normal(size=(2, 8, 8, 4)).astype("float32")
    features, prediction = TaskDecoder(8, 1)([x])
    assert features.shape == (2, 8, 8, 8) and prediction.shape == (2, 8, 8, 1)


def test_channel_mismatch():
    with pytest.raises(ValueError, match="filters=8"):
        TaskDecoder(8, 1).build([(2, 8, 8, 8), (2, 4, 4, 6)])


def test_prediction_starts_near_zero():
    # Heat-map targets have a mean square of ~0.03: a first prediction of Glorot size
    # (RMS ~0.8 here) costs a briefly trained model hundreds of steps (see TaskDecoder).
    rng = np.random.default_rng(0)
    pyramid = [rng.normal(size=(4, 16 // 2**i, 16 // 2**i, 16)).astype("float32") for i in range(3)]
    layer = TaskDecoder(16, 21, block_type="inverted")
    features, prediction = layer(pyramid)
    features, prediction = np.asarray(features), np.asarray(prediction)
    kernel = np.asarray(layer.predict.kernel)
    assert 0.5e-3 < kernel.std() < 2e-3 and np.all(np.asarray(layer.predict.bias) == 0)
    assert np.sqrt(np.mean(prediction**2)) < 0.01 * np.sqrt(np.mean(features**2)) + 1e-6


def test_without_full_res_block():
    """`full_res_block=False`: the finest level is the upsampled coarser features plus
    the skip, with no block there; the coarser levels are the same as with it."""
    rng = np.random.default_rng(0)
    pyramid = [rng.normal(size=(2, 16 // 2**i, 16 // 2**i, 8)).astype("float32") for i in range(3)]
    run_layer_test(
        TaskDecoder,
        {"filters": 8, "out_channels": 3, "block_type": "inverted", "full_res_block": False},
        pyramid,
        expected_output_shape=[(2, 16, 16, 8), (2, 16, 16, 3)],
    )
    full = TaskDecoder(8, 3, block_type="inverted", expansion=1)
    light = TaskDecoder(8, 3, block_type="inverted", expansion=1, full_res_block=False)
    full(pyramid), light(pyramid)
    assert [b.name for b in full.blocks] == ["block0", "block1"]
    assert [b.name for b in light.blocks] == ["block1"]
    light.blocks[0].set_weights(full.blocks[1].get_weights())
    light.predict.set_weights(full.predict.get_weights())
    features, prediction = (np.asarray(t) for t in light(pyramid))
    # NumPy reference of the finest level from the shared block1 output.
    coarse = np.asarray(full.blocks[1](np.repeat(np.repeat(pyramid[2], 2, 1), 2, 2) + pyramid[1]))
    expected = np.repeat(np.repeat(coarse, 2, 1), 2, 2) + pyramid[0]
    np.testing.assert_allclose(features, expected, atol=1e-5)
    kernel, bias = (np.asarray(w) for w in full.predict.weights)
    np.testing.assert_allclose(prediction, expected @ kernel[0, 0] + bias, atol=1e-5)
    # A one-level pyramid keeps its block: there is nothing coarser to decode from.
    assert len(TaskDecoder(8, 1, full_res_block=False)([pyramid[0]])[0].shape) == 4


@pytest.mark.parametrize("dtype", ["float32", "float16"])
def test_upsample_nearest_and_its_gradient(dtype):
    """Each pixel fills a 2 x 2 block (NumPy's repeat); the gradient sums each block,
    also compiled with XLA (which has no kernel for the resize's own gradient)."""
    import tensorflow as tf

    from hiu_tf.layers.task_decoder import upsample_nearest

    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 3, 5, 4)).astype(dtype)
    weights = rng.normal(size=(2, 6, 10, 4)).astype(dtype)
    y = np.asarray(upsample_nearest(tf.constant(x)))
    assert y.dtype == dtype
    np.testing.assert_array_equal(y, np.repeat(np.repeat(x, 2, 1), 2, 2))
    expected = weights.astype(np.float64).reshape(2, 3, 2, 5, 2, 4).sum(axis=(2, 4))

    def gradient(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(upsample_nearest(x) * weights)
        return tape.gradient(loss, x)

    tolerance = 1e-6 if dtype == "float32" else 1e-2
    for fn in (gradient, tf.function(gradient, jit_compile=True)):
        got = np.asarray(fn(tf.constant(x)), np.float64)
        np.testing.assert_allclose(got, expected, rtol=tolerance, atol=tolerance)
