import keras
import numpy as np
import pytest

from hiu_tf.layers.task_attention import TaskAttention
from tests.helpers import run_layer_test


def _features(n=3, shape=(2, 5, 6, 8), seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=shape).astype("float32") for _ in range(n)]


def _numpy_tam(features, w1, b1, w2, b2):
    """Fig. 3 in NumPy: GAP per task, concat, FC-ReLU-FC, softmax over tasks, weighted sum."""
    n, c = len(features), features[0].shape[-1]
    z = np.concatenate([f.mean(axis=(1, 2)) for f in features], axis=-1)  # [B, N*C]
    hidden = np.maximum(z @ w1 + b1, 0.0)
    logits = (hidden @ w2 + b2).reshape(-1, n, c)  # [B, N, C]
    e = np.exp(logits - logits.max(axis=1, keepdims=True))
    a = e / e.sum(axis=1, keepdims=True)
    return sum(a[:, None, None, i, :] * f for i, f in enumerate(features))


def test_task_attention_layer():
    run_layer_test(
        TaskAttention,
        {"reduction": 2},
        _features(),
        expected_output_shape=(2, 5, 6, 8),
        expected_num_trainable_weights=4,
    )


@pytest.mark.parametrize("n, reduction", [(2, 4), (3, 2)])
def test_matches_numpy_reference(n, reduction):
    features = _features(n)
    layer = TaskAttention(reduction=reduction)
    layer.build([f.shape for f in features])
    rng = np.random.default_rng(1)
    weights = [rng.normal(size=tuple(w.shape)).astype("float32") for w in layer.weights]
    layer.set_weights(weights)
    w1, b1, w2, b2 = (layer.fc1.kernel, layer.fc1.bias, layer.fc2.kernel, layer.fc2.bias)
    assert tuple(w1.shape) == (n * 8, n * 8 // reduction)
    assert tuple(w2.shape) == (n * 8 // reduction, n * 8)
    expected = _numpy_tam(features, *(keras.ops.convert_to_numpy(v) for v in (w1, b1, w2, b2)))
    actual = keras.ops.convert_to_numpy(layer(features))
    np.testing.assert_allclose(actual, expected, rtol=1e-4, atol=1e-5)


def test_weights_sum_to_one_across_tasks():
    # Equal task features -> the weighted sum equals the features, whatever the weights.
    f = _features(1)[0]
    layer = TaskAttention()
    out = keras.ops.convert_to_numpy(layer([f, f, f]))
    np.testing.assert_allclose(out, f, rtol=1e-5, atol=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match="Received: reduction=0"):
        TaskAttention(reduction=0)
    with pytest.raises(ValueError, match="list of task feature maps"):
        TaskAttention().build((2, 5, 6, 8))
    with pytest.raises(ValueError, match="one shape"):
        TaskAttention().build([(2, 5, 6, 8), (2, 5, 6, 4)])
