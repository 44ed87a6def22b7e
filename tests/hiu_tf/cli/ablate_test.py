"""`python -m hiu_tf ablate`: listing variants and rejecting bad options (the runs: tests/training/ablate_test.py)."""

import os

from hiu_tf.__main__ import main


def test_ablate_lists_the_variants_of_a_study(capsys):
    assert main(["ablate", "--study", "tam", "--list"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert [line.split()[1] for line in lines] == [
        "4-stack",
        "4-stack-notam",
        "1-stack",
        "1-stack-notam",
    ]


def test_ablate_rejects_unknown_variants_and_bad_numbers(tmp_path, capsys):
    out = str(tmp_path / "a")
    assert main(["ablate", "--study", "tam", "--out", out, "--only", "3-stack"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --only must name variants of the tam study")
    assert err.endswith("Received: '3-stack'")
    assert main(["ablate", "--study", "tam", "--out", out, "--seeds", "0"]) == 2
    assert capsys.readouterr().err.strip() == (
        "error: --seeds must be a positive int. Received: --seeds=0"
    )
    assert main(["ablate", "--study", "ssl", "--out", out, "--train-samples", "0"]) == 2
    assert "--train-samples must be >= 1" in capsys.readouterr().err


def test_ablate_all_lists_every_study_and_refuses_only(tmp_path, capsys):
    assert main(["ablate", "--study", "all", "--list"]) == 0
    studies = {line.split()[0] for line in capsys.readouterr().out.strip().splitlines()}
    assert studies == {"stacks", "tam", "tasks", "mobile", "ssl"}
    out = str(tmp_path / "a")
    assert main(["ablate", "--study", "all", "--out", out, "--only", "1-stack"]) == 2
    assert "--only names variants of one study" in capsys.readouterr().err
    assert main(["ablate", "--study", "tam", "--out", out, "--scale", "0"]) == 2
    assert "--scale" in capsys.readouterr().err


def test_ablate_fractions_are_the_ssl_studys(tmp_path, capsys):
    assert main(["ablate", "--study", "ssl", "--fractions", "0.02,1", "--list"]) == 0
    slugs = [line.split()[1] for line in capsys.readouterr().out.strip().splitlines()]
    assert slugs == ["labelled0", "labelled2", "labelled2-ssl", "labelled100", "labelled100-ssl"]
    out = str(tmp_path / "a")
    assert main(["ablate", "--study", "tam", "--out", out, "--fractions", "0.1"]) == 2
    assert "--fractions is an option of the ssl study" in capsys.readouterr().err
    assert main(["ablate", "--study", "ssl", "--out", out, "--fractions", "0.1,ten"]) == 2
    assert "comma-separated numbers" in capsys.readouterr().err
    assert main(["ablate", "--study", "ssl", "--out", out, "--fractions", "0.1,2"]) == 2
    assert "Received: 2.0" in capsys.readouterr().err
    assert not os.path.exists(out)  # refused before anything is written
