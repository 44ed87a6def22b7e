import json

from hiu_tf.__main__ import main


def test_model_info_json(capsys, hand_model):
    argv = ["model-info", "--preset", "tiny", "--set", "model.num_stacks=1", "--json"]
    assert main(argv + ["--set", f"model.hand_model={hand_model}"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["name"] == "tiny" and info["input_shape"] == [1, 64, 64, 3]
    assert info["outputs"]["stack1_heatmaps"] == [1, 16, 16, 21]
    assert "stack2_heatmaps" not in info["outputs"]
    assert info["flops"] > 0 and info["params"]["trainable"] > 0


def test_model_info_text_without_flops(capsys, tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("model:\n  mesh_head: false\n")
    assert main(["model-info", "--preset", "tiny", "--config", str(path), "--no-flops"]) == 0
    out = capsys.readouterr().out
    assert "stack2_pof" in out and "FLOPs" not in out and "vertices" not in out


def test_model_info_user_errors(capsys):
    assert main(["model-info", "--preset", "nope"]) == 2
    assert "unknown preset" in capsys.readouterr().err
    assert main(["model-info", "--preset", "tiny", "--set", "model.num_stacks=3"]) == 2
    err = capsys.readouterr().err
    assert err.strip() == (
        "error: model.num_stacks must be one of (1, 2, 4, 8). Received: model.num_stacks=3"
    )
