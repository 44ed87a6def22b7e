"""training.demo: its options and its config.

The whole demo, end to end, runs in tests/hiu_tf/cli/demo_test.py; its pieces
are tested in tests/training/kit/.
"""

import pytest

from training import demo


def test_options_reject_bad_values():
    with pytest.raises(
        demo.DemoError, match=r"--minutes must be a positive number. Received: --minutes=0"
    ):
        demo.DemoOptions(minutes=0)
    with pytest.raises(demo.DemoError, match=r"--train-samples must be a positive int"):
        demo.DemoOptions(train_samples=0)
    with pytest.raises(demo.DemoError, match=r"--seed must be an int >= 0"):
        demo.DemoOptions(seed=-1)


def test_demo_config_file_resolves():
    config = demo.demo_config(demo.DemoOptions(seed=7), train_dir="/data/train")
    assert config.name == "demo"
    assert config.train.seed == 7
    assert config.model.hand_model == "open:right"
    assert [s.path for s in config.data.sources] == ["/data/train"]
