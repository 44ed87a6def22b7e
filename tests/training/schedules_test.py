import math

import keras
import numpy as np
import pytest

from hiu_tf.config import TrainConfig
from training.schedules import WarmupCosineDecay
from training.train import make_optimizer


def reference(step, peak, warmup, total, final=0.0):
    """The schedule in plain NumPy (see the class docstring)."""
    if step < warmup:
        return peak * (step + 1) / warmup
    if total is None:
        return peak
    p = min((step - warmup) / max(total - warmup, 1), 1.0)
    return final + (peak - final) * 0.5 * (1 + math.cos(math.pi * p))


@pytest.mark.parametrize(
    "warmup, total, final",
    [(10, 100, 0.0), (0, 50, 1e-5), (7, None, 0.0), (5, 5, 0.0), (20, 10, 0.0)],
)
def test_matches_the_numpy_formula(warmup, total, final):
    schedule = WarmupCosineDecay(3e-3, warmup, total, final)
    steps = np.arange(0, 130)
    got = keras.ops.convert_to_numpy(schedule(steps))
    want = [reference(s, 3e-3, warmup, total, final) for s in steps]
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-9)


def test_warmup_reaches_the_peak_and_decays_to_the_end():
    schedule = WarmupCosineDecay(1.0, 4, 12)
    values = [float(schedule(s)) for s in range(14)]
    assert values[:4] == pytest.approx([0.25, 0.5, 0.75, 1.0])
    assert values[4] == pytest.approx(1.0) and values[8] == pytest.approx(0.5)
    assert values[12] == pytest.approx(0.0, abs=1e-7) and values[13] == pytest.approx(0.0, abs=1e-7)
    assert all(a >= b for a, b in zip(values[3:], values[4:], strict=False))


def test_serialization_round_trip():
    schedule = WarmupCosineDecay(2e-3, 3, 40, 1e-4)
    config = keras.saving.serialize_keras_object(schedule)
    again = keras.saving.deserialize_keras_object(config)
    assert isinstance(again, WarmupCosineDecay) and again.get_config() == schedule.get_config()
    optimizer = keras.optimizers.AdamW(learning_rate=schedule)
    restored = keras.optimizers.AdamW.from_config(optimizer.get_config())
    assert restored._learning_rate.get_config() == schedule.get_config()


def test_bad_arguments_name_the_value():
    with pytest.raises(ValueError, match="Received: peak_learning_rate=0"):
        WarmupCosineDecay(0, 1, 10)
    with pytest.raises(ValueError, match="Received: warmup_steps=-1"):
        WarmupCosineDecay(1e-3, -1, 10)
    with pytest.raises(ValueError, match="Received: decay_steps=0"):
        WarmupCosineDecay(1e-3, 1, 0)
    with pytest.raises(ValueError, match="Received: final_learning_rate=0.1"):
        WarmupCosineDecay(1e-3, 1, 10, 0.1)


def test_make_optimizer_from_the_train_config():
    cfg = TrainConfig(learning_rate=2e-3, warmup_steps=5, weight_decay=1e-2, clipnorm=0.5)
    optimizer = make_optimizer(cfg, total_steps=100)
    assert isinstance(optimizer, keras.optimizers.AdamW)
    assert optimizer.global_clipnorm == 0.5 and optimizer.weight_decay == pytest.approx(1e-2)
    schedule = optimizer._learning_rate
    assert isinstance(schedule, WarmupCosineDecay) and schedule.decay_steps == 100
    constant = make_optimizer(TrainConfig(lr_schedule="constant", clipnorm=None), total_steps=100)
    assert constant._learning_rate.decay_steps is None and constant.global_clipnorm is None


def test_adjustable_schedule_moves_its_end_without_retracing():
    import tensorflow as tf

    schedule = WarmupCosineDecay(1.0, warmup_steps=10, decay_steps=110, adjustable=True)
    traced = []

    @tf.function
    def rate(step):
        traced.append(1)
        return schedule(step)

    assert float(rate(tf.constant(60))) == pytest.approx(0.5)  # half way through 100 steps
    schedule.set_decay_steps(210)
    assert float(rate(tf.constant(60))) == pytest.approx(0.5 * (1 + math.cos(math.pi * 0.25)))
    assert len(traced) == 1 and schedule.decay_steps == 210
    clone = WarmupCosineDecay.from_config(schedule.get_config())
    assert clone.adjustable and clone.decay_steps == 210
    assert float(clone(60)) == pytest.approx(float(schedule(60)))
    with pytest.raises(ValueError, match="adjustable=True"):
        WarmupCosineDecay(1.0, warmup_steps=10, decay_steps=100).set_decay_steps(50)
    with pytest.raises(ValueError, match="needs decay_steps"):
        WarmupCosineDecay(1.0, warmup_steps=10, adjustable=True)
    with pytest.raises(ValueError, match="decay_steps must be >= 1"):
        schedule.set_decay_steps(0)
