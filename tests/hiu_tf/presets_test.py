import os

import pytest

from hiu_tf.config import ConfigError, load_config
from hiu_tf.presets import paper_width, preset, preset_names, write_preset_configs

CONFIG_DIR = os.path.join(os.path.dirname(__file__), "..", "..", "training", "configs")


def test_names():
    names = preset_names()
    for n in (1, 2, 4, 8):
        assert f"paper-{n}stack" in names and f"paper-{n}stack-notam" in names
    assert "mobile" in names and "tiny" in names


@pytest.mark.parametrize("name", preset_names())
def test_yaml_files_equal_the_preset_functions(name):
    path = os.path.join(CONFIG_DIR, f"{name}.yaml")
    assert os.path.exists(path), f"{path} missing: run hiu_tf.presets.write_preset_configs"
    assert load_config(path) == preset(name), (
        f"{path} is stale: regenerate with hiu_tf.presets.write_preset_configs('training/configs')"
    )


def test_yaml_files_are_exactly_what_write_preset_configs_writes(tmp_path):
    # Stricter than the equality of the loaded configs: a key missing from a file
    # loads with its default, so a new ModelConfig field would otherwise go unnoticed.
    write_preset_configs(str(tmp_path))
    for name in preset_names():
        with open(os.path.join(CONFIG_DIR, f"{name}.yaml"), encoding="utf-8") as f:
            ours = f.read()
        assert ours == (tmp_path / f"{name}.yaml").read_text(encoding="utf-8"), (
            f"training/configs/{name}.yaml is stale: regenerate with "
            "hiu_tf.presets.write_preset_configs('training/configs')"
        )


def test_paper_presets():
    assert [paper_width(n) for n in (1, 2, 4, 8)] == [256, 184, 128, 88]
    for n in (1, 2, 4, 8):
        cfg = preset(f"paper-{n}stack")
        assert (cfg.model.num_stacks, cfg.model.input_size, cfg.model.use_tam) == (n, 256, True)
        notam = preset(f"paper-{n}stack-notam")
        assert notam.model.use_tam is False and notam.model.width == cfg.model.width


def test_unknown_preset():
    with pytest.raises(ConfigError, match="known presets: paper-1stack.*Received: preset='x'"):
        preset("x")
