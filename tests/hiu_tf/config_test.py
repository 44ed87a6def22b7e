import dataclasses

import pytest
import yaml

from hiu_tf.config import (
    ConfigError,
    DataConfig,
    ExperimentConfig,
    ModelConfig,
    SourceConfig,
    apply_overrides,
    config_from_dict,
    config_to_dict,
    load_config,
    save_config,
)
from hiu_tf.errors import UserError


def test_yaml_round_trip(tmp_path):
    cfg = apply_overrides(
        ExperimentConfig(name="x"),
        [
            "model.tasks=[mask, heatmap]",
            "data.sources=[{name: rhd, path: /data/rhd, weight: 2}, {name: folder, weight: 0.5}]",
            "train.clipnorm=null",
        ],
    )
    path = tmp_path / "cfg.yaml"
    save_config(cfg, path, header="a header")
    assert path.read_text().startswith("# a header\n")
    assert load_config(path) == cfg
    assert yaml.safe_load(path.read_text()) == config_to_dict(cfg)


def test_partial_yaml_over_a_base(tmp_path):
    path = tmp_path / "partial.yaml"
    path.write_text("model:\n  num_stacks: 2\ntrain:\n  learning_rate: 3.0e-4\n")
    base = ExperimentConfig(name="base", model=ModelConfig(width=64))
    cfg = load_config(path, base=base)
    assert (cfg.name, cfg.model.num_stacks, cfg.model.width) == ("base", 2, 64)
    assert cfg.train.learning_rate == 3e-4


def test_overrides_parse_yaml_values():
    cfg = apply_overrides(
        ExperimentConfig(),
        [
            "model.num_stacks=2",
            "model.use_tam=false",
            "train.learning_rate=1e-4",  # YAML 1.1 reads this as a string; floats accept it
            "loss.ssl_mask=0",
            "model.tasks=[pof, heatmap]",
            "data.input_size=256",
            "name=my run",
        ],
    )
    assert cfg.model.num_stacks == 2 and cfg.model.use_tam is False
    assert cfg.train.learning_rate == pytest.approx(1e-4)
    assert cfg.loss.ssl_mask == 0.0 and isinstance(cfg.loss.ssl_mask, float)
    assert cfg.model.tasks == ("heatmap", "pof")  # canonical order
    assert cfg.name == "my run"
    assert cfg.data.sources == (SourceConfig(),)


@pytest.mark.parametrize(
    "override, message",
    [
        (
            "model.num_stacks=3",
            "model.num_stacks must be one of (1, 2, 4, 8). Received: model.num_stacks=3",
        ),
        ("model.width=abc", "model.width must be an integer. Received: model.width='abc'"),
        ("model.tasks=[]", "Received: model.tasks=[]"),
        ("model.tasks=[heatmap, depth]", "Received: model.tasks=['heatmap', 'depth']"),
        ("model.rotation=quat", "Received: model.rotation='quat'"),
        ("model.input_size=100", "divisible by 4 * 2**encoder_levels = 32"),
        (
            "model.stem_kernel=4",
            "model.stem_kernel must be odd and >= 3. Received: model.stem_kernel=4",
        ),
        ("loss.heatmap=-1", "loss.heatmap must be >= 0. Received: loss.heatmap=-1.0"),
        ("train.distribute=tpu", "Received: train.distribute='tpu'"),
        ("export.quantization=int4", "Received: export.quantization='int4'"),
        ("data.input_size=128", "must be null or equal model.input_size=256"),
        ("data.sources=[{name: rhd, weight: -1}]", "data.sources[].weight must be >= 0"),
        ("model.use_tam=maybe", "model.use_tam must be true or false"),
    ],
)
def test_validation_names_field_and_value(override, message):
    with pytest.raises(ConfigError) as info:
        apply_overrides(ExperimentConfig(), [override])
    assert message in str(info.value)


def test_unknown_keys_list_valid_ones(tmp_path):
    with pytest.raises(
        ConfigError, match="unknown config key 'model.widht'; valid keys: num_stacks, width"
    ):
        apply_overrides(ExperimentConfig(), ["model.widht=3"])
    with pytest.raises(ConfigError, match="valid keys: name, description, model, data"):
        config_from_dict({"modle": {}})
    path = tmp_path / "bad.yaml"
    path.write_text("train:\n  lr: 0.1\n")
    with pytest.raises(ConfigError, match="bad.yaml: unknown config key 'train.lr'"):
        load_config(path)


def test_malformed_overrides():
    for bad in ["model.width", "=3", "model..width=3"]:
        with pytest.raises(ConfigError, match="section.field=value"):
            apply_overrides(ExperimentConfig(), [bad])


def test_errors_are_user_errors_and_value_errors():
    assert issubclass(ConfigError, UserError) and issubclass(ConfigError, ValueError)


def test_sections_validate_on_construction_and_are_frozen():
    with pytest.raises(ConfigError, match="model.norm_groups=8"):
        ModelConfig(norm="group", width=12)
    with pytest.raises(ConfigError, match="data.batch_size"):
        DataConfig(batch_size=0)
    with pytest.raises(dataclasses.FrozenInstanceError):
        ModelConfig().width = 3
    with pytest.raises(ConfigError, match="model.mask_refine_width"):
        ModelConfig(mask_refine_width=-1)
    with pytest.raises(ConfigError, match="model.mask_refine_levels"):
        ModelConfig(mask_refine_width=8, mask_refine_levels=3)
    with pytest.raises(ConfigError, match="needs the 'mask' task"):
        ModelConfig(mask_refine_width=8, tasks=("heatmap",))


def test_resolved_sizes():
    cfg = apply_overrides(ExperimentConfig(), ["model.input_size=128"])
    assert (cfg.input_size, cfg.heatmap_size, cfg.data.input_size) == (128, 32, None)


def test_parse_assignments_is_the_one_key_value_parser():
    from hiu_tf.config import parse_assignments

    pairs = parse_assignments([" a = 3", "b=[x, 2]", "c=", "d=null", "e=a=b"])
    assert pairs == [("a", 3), ("b", ["x", 2]), ("c", ""), ("d", None), ("e", "a=b")]
    for bad in ["a", "=3", " =3"]:
        with pytest.raises(ConfigError, match=r"--x must look like K=V\. Received: "):
            parse_assignments([bad], "K=V", "--x")
    with pytest.raises(ConfigError, match="must look like"):
        parse_assignments(["a.b=1"], valid_key=lambda key: "." not in key)
    with pytest.raises(ConfigError, match="cannot parse the value of 'a' as YAML"):
        parse_assignments(["a=[1, 2"])


def test_key_value_options_of_the_data_cli_and_the_demo():
    from hiu_tf.cli.data import _parse_sets
    from training.kit import ExperimentError
    from training.kit.datasets import synth_options

    assert _parse_sets(["min-visible=5", "root_joint=palm"]) == {
        "min_visible": 5,
        "root_joint": "palm",
    }
    with pytest.raises(ConfigError, match="--set must look like key=value"):
        _parse_sets(["min_visible"])
    assert synth_options(["occluder-rate=0.5"]) == {"occluder_rate": 0.5}
    with pytest.raises(ExperimentError, match="--synth must look like KEY=VALUE with KEY one of"):
        synth_options(["nope=1"])
    with pytest.raises(ConfigError, match="--synth must look like KEY=VALUE"):
        synth_options(["occluder_rate"])
    with pytest.raises(ConfigError, match="cannot parse"):
        synth_options(["occluder_rate=[0.5"])
