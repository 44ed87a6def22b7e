"""`WarmupCosineDecay`: linear warm-up, then a cosine decay (or a constant) learning rate."""

from __future__ import annotations

import math

import keras
from keras import ops

from mano_tf.checks import check_int


@keras.saving.register_keras_serializable(package="training")
class WarmupCosineDecay(keras.optimizers.schedules.LearningRateSchedule):
    """Linear warm-up to `peak_learning_rate`, then a half cosine down to `final_learning_rate`.

    With `w = warmup_steps`, `T = decay_steps` and the optimizer step `s` (0 for
    the first update):

        s < w:       lr = peak * (s + 1) / w
        s >= w:      lr = final + (peak - final) * (1 + cos(pi * p)) / 2,
                     p = min((s - w) / max(T - w, 1), 1)

    so the first update already has a non-zero rate, the peak is reached at the
    last warm-up step, and the rate stays at `final` after `T` steps. With
    `decay_steps=None` the rate stays at the peak after the warm-up (the
    "constant" schedule of `TrainConfig.lr_schedule`).

    With `adjustable=True`, `T` lives in a variable that `set_decay_steps` changes
    during training without retracing the train step: `training.train` sizes the
    decay to a wall-clock budget that way (`training.callbacks.FitScheduleToBudget`).

    Args:
        peak_learning_rate: the rate at the end of the warm-up, > 0.
        warmup_steps: steps of linear warm-up, >= 0.
        decay_steps: total steps T (warm-up included) at which the decay ends;
            None = no decay.
        final_learning_rate: the rate after T steps, in [0, peak].
        name: name of the schedule.
        adjustable: keep T in a variable that `set_decay_steps` may change (needs
            `decay_steps`; create the schedule under the distribution strategy's scope).

    Raises:
        ValueError: a bad argument (named, with the value received).
    """

    def __init__(
        self,
        peak_learning_rate: float,
        warmup_steps: int,
        decay_steps: int | None = None,
        final_learning_rate: float = 0.0,
        name: str = "warmup_cosine_decay",
        adjustable: bool = False,
    ):
        super().__init__()
        if not peak_learning_rate > 0:
            raise ValueError(
                f"peak_learning_rate must be > 0. Received: peak_learning_rate={peak_learning_rate}"
            )
        warmup_steps = check_int(warmup_steps, "warmup_steps", minimum=0)
        if decay_steps is not None:
            decay_steps = check_int(decay_steps, "decay_steps")
        if not 0 <= final_learning_rate <= peak_learning_rate:
            raise ValueError(
                "final_learning_rate must be in [0, peak_learning_rate]. "
                f"Received: final_learning_rate={final_learning_rate}"
            )
        if adjustable and decay_steps is None:
            raise ValueError("an adjustable schedule needs decay_steps. Received: decay_steps=None")
        self.peak_learning_rate = float(peak_learning_rate)
        self.warmup_steps = warmup_steps
        self.decay_steps = decay_steps
        self.final_learning_rate = float(final_learning_rate)
        self.name = name
        self.adjustable = bool(adjustable)
        self._decay_steps_variable = None
        if self.adjustable:
            self._decay_steps_variable = keras.Variable(
                float(decay_steps), dtype="float32", trainable=False, name=f"{name}_decay_steps"
            )

    def set_decay_steps(self, decay_steps: int) -> None:
        """Moves the end of the decay to `decay_steps` (an adjustable schedule only).

        Raises:
            ValueError: the schedule is not adjustable, or `decay_steps < 1`.
        """
        if not self.adjustable:
            raise ValueError(
                "set_decay_steps needs a schedule made with adjustable=True. "
                f"Received: adjustable={self.adjustable}"
            )
        if isinstance(decay_steps, bool) or int(decay_steps) < 1:
            raise ValueError(f"decay_steps must be >= 1. Received: decay_steps={decay_steps}")
        self.decay_steps = int(decay_steps)
        self._decay_steps_variable.assign(float(self.decay_steps))

    def __call__(self, step):
        step = ops.cast(step, "float32")
        peak = self.peak_learning_rate
        warmup = float(self.warmup_steps)
        warm = peak * (step + 1.0) / max(warmup, 1.0)
        if self.decay_steps is None:
            after = ops.full_like(step, peak)
        else:
            total = self._decay_steps_variable if self.adjustable else float(self.decay_steps)
            span = ops.maximum(ops.cast(total, "float32") - warmup, 1.0)
            progress = ops.clip((step - warmup) / span, 0.0, 1.0)
            cosine = 0.5 * (1.0 + ops.cos(math.pi * progress))
            after = self.final_learning_rate + (peak - self.final_learning_rate) * cosine
        return ops.where(step < warmup, warm, after)

    def get_config(self) -> dict:
        return {
            "peak_learning_rate": self.peak_learning_rate,
            "warmup_steps": self.warmup_steps,
            "decay_steps": self.decay_steps,
            "final_learning_rate": self.final_learning_rate,
            "name": self.name,
            "adjustable": self.adjustable,
        }


__all__ = ["WarmupCosineDecay"]
