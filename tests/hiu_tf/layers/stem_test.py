import numpy as np
import pytest

from hiu_tf.layers.stem import Stem
from tests.helpers import run_layer_test


@pytest.mark.parametrize("separable", [False, True])
def test_stem_layer(separable):
    x = np.random.default_rng(0).uniform(size=(2, 32, 32, 3)).astype("float32")
    run_layer_test(
        Stem,
        {"filters": 8, "separable": separable},
        x,
        expected_output_shape=(2, 8, 8, 8),
        run_mixed_precision_check=not separable,
    )


def test_stem_uses_two_7x7_stride_2_convolutions():
    stem = Stem(8, mid_filters=4)
    stem.build((None, 32, 32, 3))
    kernels = [w for w in stem.trainable_weights if "kernel" in w.path]
    assert [tuple(k.shape) for k in kernels] == [(7, 7, 3, 4), (7, 7, 4, 8)]


@pytest.mark.parametrize("separable", [False, True])
def test_stem_kernel_size(separable):
    stem = Stem(8, mid_filters=4, kernel_size=3, separable=separable)
    stem.build((None, 32, 32, 3))
    kernels = [tuple(w.shape) for w in stem.trainable_weights if "kernel" in w.path]
    expected = (
        [(3, 3, 3, 4), (3, 3, 4, 1), (1, 1, 4, 8)] if separable else [(3, 3, 3, 4), (3, 3, 4, 8)]
    )
    assert kernels == expected
    assert stem.compute_output_shape((None, 32, 32, 3)) == (None, 8, 8, 8)
    assert Stem.from_config(stem.get_config()).kernel_size == 3


@pytest.mark.parametrize("kernel_size", [1, 4, 0])
def test_stem_rejects_bad_kernel_size(kernel_size):
    with pytest.raises(ValueError, match="kernel_size"):
        Stem(8, kernel_size=kernel_size)


def test_stem_returns_the_first_convolution_as_a_skip():
    x = np.random.default_rng(1).uniform(size=(2, 32, 32, 3)).astype("float32")
    stem = Stem(8, mid_filters=4, return_skip=True)
    out, skip = stem(x)
    assert tuple(out.shape) == (2, 8, 8, 8) and tuple(skip.shape) == (2, 16, 16, 4)
    assert stem.compute_output_shape((None, 32, 32, 3)) == [(None, 8, 8, 8), (None, 16, 16, 4)]
    np.testing.assert_allclose(skip, stem.convs[0](x), atol=1e-6)
    np.testing.assert_allclose(out, stem.convs[1](skip), atol=1e-6)
    assert Stem.from_config(stem.get_config()).return_skip
