"""The documentation that is generated from the code is up to date."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, ROOT / "docs" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_cli_pages_match_the_parsers(capsys):
    # docs/cli/<command>.md embed each command's --help; regenerate them with
    # `python docs/make_cli_docs.py` after changing a command's options.
    assert _load("make_cli_docs").main(["--check"]) == 0, capsys.readouterr().out


def test_cli_pages_fail_the_check_when_stale(tmp_path):
    (tmp_path / "demo.md").write_text("stale", encoding="utf-8")
    assert _load("make_cli_docs").main(["--check", "--out", str(tmp_path)]) == 1
