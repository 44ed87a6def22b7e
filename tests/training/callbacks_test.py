import keras
import numpy as np
import pytest

from training.callbacks import (
    FitScheduleToBudget,
    StepTimer,
    TerminateOnNaNTerms,
    TimeBudget,
    TrainingDivergedError,
    trim_history,
)
from training.schedules import WarmupCosineDecay


def test_trim_history_keeps_each_finished_epoch_once(tmp_path):
    path = tmp_path / "history.csv"
    path.write_text("epoch,loss\n0,3.0\n1,2.0\n2,1.5\n1,2.1\n")  # epoch 1 logged twice
    trim_history(str(path), 1)
    assert path.read_text() == "epoch,loss\n0,3.0\n"
    trim_history(str(path), 0)
    assert path.read_text() == ""
    trim_history(str(tmp_path / "missing.csv"), 3)  # no file: nothing to do


def test_nan_guard_names_epoch_step_and_terms():
    guard = TerminateOnNaNTerms()
    guard.on_epoch_begin(2)
    guard.on_batch_end(0, {"loss": 1.0, "loss_mask": 0.5})  # finite: nothing happens
    with pytest.raises(TrainingDivergedError) as info:
        guard.on_batch_end(4, {"loss": np.nan, "loss_heatmap": np.inf, "loss_mask": 0.25})
    message = str(info.value)
    assert message.startswith("training diverged at epoch 3, step 5: non-finite loss, loss_heatmap")
    assert "finite: loss_mask=0.25" in message and "\n" not in message


class FakeClock:
    """A clock that advances by `tick` seconds per reading."""

    def __init__(self, tick: float):
        self.now = 0.0
        self.tick = tick

    def __call__(self) -> float:
        self.now += self.tick
        return self.now


def _tiny_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def test_time_budget_stops_fit_after_the_step_that_crosses_the_deadline():
    clock = FakeClock(1.0)  # one reading per step: 1 s per step
    budget = TimeBudget(deadline=5.5, clock=clock)
    x, y = np.zeros((40, 3), np.float32), np.zeros((40, 1), np.float32)
    history = _tiny_model().fit(x, y, batch_size=4, epochs=3, callbacks=[budget], verbose=0)
    assert budget.stopped
    assert budget.steps == 6  # readings 1..6: the sixth step crosses 5.5
    assert len(history.history["loss"]) == 1  # the epoch ends, the next does not start


def test_time_budget_does_not_stop_a_run_within_the_budget():
    budget = TimeBudget(deadline=1e9, clock=FakeClock(1.0))
    x, y = np.zeros((8, 3), np.float32), np.zeros((8, 1), np.float32)
    history = _tiny_model().fit(x, y, batch_size=4, epochs=2, callbacks=[budget], verbose=0)
    assert not budget.stopped and budget.steps == 4
    assert len(history.history["loss"]) == 2


def test_step_timer_times_steps_and_epoch_ends():
    timer = StepTimer(clock=FakeClock(1.0))  # one reading per event: 1 s apart
    x, y = np.zeros((12, 3), np.float32), np.zeros((12, 1), np.float32)
    _tiny_model().fit(x, y, batch_size=4, epochs=2, callbacks=[timer], verbose=0)
    assert timer.durations == [1.0] * 6
    assert timer.epoch_overheads == [1.0, 1.0]
    timer.durations = [30.0, 2.0, 0.5, 0.4, 0.6]
    assert timer.step_time() == pytest.approx(0.5)  # the first two (tracing) left out
    assert StepTimer().step_time() is None
    assert StepTimer().epoch_overhead() == 0.0


def test_schedule_is_resized_to_end_with_the_budget():
    clock = FakeClock(1.0)
    schedule = WarmupCosineDecay(0.1, warmup_steps=2, decay_steps=1000, adjustable=True)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule), loss="mse")
    # Readings: the budget's and the resizer's clocks are the same fake clock, 1 s a read.
    budget = TimeBudget(deadline=60.0, clock=clock)
    resize = FitScheduleToBudget(schedule, budget, clock)
    x, y = np.zeros((16, 3), np.float32), np.zeros((16, 1), np.float32)
    model.fit(x, y, batch_size=4, epochs=50, callbacks=[budget, resize], verbose=0)
    assert budget.stopped and resize.horizons
    # Every horizon is the step count plus the time left over the measured time per step,
    # so the last one is close to where training stopped (not at the initial 1000).
    step = int(model.optimizer.iterations.numpy())
    assert schedule.decay_steps == resize.horizons[-1]
    assert step <= resize.horizons[-1] <= step + 8
    assert float(schedule(step)) < 0.02  # near the end of the decay
