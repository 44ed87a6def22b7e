import keras
import numpy as np
import pytest
import tensorflow as tf

from hiu_tf.layers.mask_refiner import MaskRefiner
from tests.helpers import run_layer_test


def _inputs(seed=0, b=2, h=8, c=12, cs=6, levels=1):
    rng = np.random.default_rng(seed)
    skips = [
        rng.normal(0, 1, (b, 2**i * h, 2**i * h, cs + i)).astype("float32")
        for i in range(1, levels + 1)
    ]
    return [
        rng.normal(0, 2, (b, h, h, 1)).astype("float32"),
        rng.normal(0, 1, (b, h, h, c)).astype("float32"),
        *skips,
    ]


@pytest.mark.parametrize("norm, levels", [("batch", 1), ("group", 1), ("batch", 2)])
def test_mask_refiner_layer(norm, levels):
    side = 8 * 2**levels
    run_layer_test(
        MaskRefiner,
        {"filters": 8, "norm": norm, "norm_groups": 4},
        _inputs(levels=levels),
        expected_output_shape=(2, side, side, 1),
        call_style="single",
        expected_num_trainable_weights=3 + 5 * levels,
    )


def _upsample_x2(x):
    """NumPy bilinear x2 with half-pixel centres (edges clamped): output pixel i
    samples input coordinate (i + 0.5) / 2 - 0.5."""
    h = x.shape[1]
    pos = np.clip((np.arange(2 * h) + 0.5) / 2 - 0.5, 0, h - 1)
    lo = np.floor(pos).astype(int)
    hi = np.minimum(lo + 1, h - 1)
    w = pos - lo
    rows = x[:, lo] * (1 - w)[None, :, None, None] + x[:, hi] * w[None, :, None, None]
    return rows[:, :, lo] * (1 - w)[None, None, :, None] + rows[:, :, hi] * w[None, None, :, None]


@pytest.mark.parametrize("levels", [1, 2])
def test_untrained_refiner_returns_the_bilinearly_upsampled_coarse_logits(levels):
    inputs = _inputs(1, levels=levels)
    out = MaskRefiner(8)(inputs).numpy()
    want = inputs[0]
    for _ in range(levels):
        want = _upsample_x2(want)
    np.testing.assert_allclose(out, want, atol=1e-5)


def test_refiner_learns_detail_finer_than_the_coarse_logits():
    # A checkerboard at the fine resolution averages to 0.5 on every coarse pixel: only
    # the skip (which carries it) lets the refiner fit it.
    rng = np.random.default_rng(2)
    b, h = 4, 4
    fine = (np.indices((2 * h, 2 * h)).sum(0) % 2).astype("float32")
    target = np.broadcast_to(fine, (b, 2 * h, 2 * h))[..., None]
    coarse = np.zeros((b, h, h, 1), "float32")
    features = rng.normal(0, 1, (b, h, h, 4)).astype("float32")
    skip = np.broadcast_to(fine[None, ..., None] * 2 - 1, (b, 2 * h, 2 * h, 1)).astype("float32")
    layer = MaskRefiner(8)
    opt = keras.optimizers.Adam(0.05)

    def loss():
        logits = layer([coarse, features, skip], training=True)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(target, logits))

    start = float(loss())
    for _ in range(60):
        with tf.GradientTape() as tape:
            value = loss()
        opt.apply(tape.gradient(value, layer.trainable_weights), layer.trainable_weights)
    assert start == pytest.approx(np.log(2.0), rel=1e-5)  # zero residual: p = 0.5
    assert float(loss()) < 0.2 * start


@pytest.mark.parametrize(
    "shapes",
    [
        [(2, 8, 8, 2), (2, 8, 8, 4), (2, 16, 16, 3)],  # coarse with 2 channels
        [(2, 8, 8, 1), (2, 4, 4, 4), (2, 16, 16, 3)],  # features at another size
        [(2, 8, 8, 1), (2, 8, 8, 4), (2, 8, 8, 3)],  # skip not at 2h
        [(2, 8, 8, 1), (2, 8, 8, 4)],  # no skip
        [(2, 8, 8, 1), (2, 8, 8, 4), (2, 16, 16, 3), (2, 16, 16, 3)],  # 2nd skip not at 4h
    ],
)
def test_mask_refiner_rejects_bad_shapes(shapes):
    with pytest.raises(ValueError, match="MaskRefiner expects"):
        MaskRefiner(8).build(shapes)


def test_mask_refiner_rejects_bad_arguments():
    with pytest.raises(ValueError, match="filters"):
        MaskRefiner(0)
    with pytest.raises(ValueError, match="norm"):
        MaskRefiner(8, norm="layer")
