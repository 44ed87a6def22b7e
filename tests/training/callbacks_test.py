import numpy as np
import pytest

from training.callbacks import TerminateOnNaNTerms, TrainingDivergedError, trim_history


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
