"""The distribution: `pip install .` ships the four packages, their data files and `hiu`."""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PACKAGES = ("hiu_tf", "mano_tf", "training", "export")


def _source_files() -> list[str]:
    """Repository-relative paths of every file a build reads (packages, metadata)."""
    files = ["pyproject.toml", "README.md", "requirements.txt"]
    for package in PACKAGES:
        for folder, dirs, names in os.walk(os.path.join(ROOT, package)):
            dirs[:] = [d for d in dirs if d != "__pycache__"]
            files += [os.path.relpath(os.path.join(folder, n), ROOT) for n in names]
    return [f for f in files if not f.endswith(".pyc")]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> zipfile.ZipFile:
    """A wheel built from a copy of the sources, without network or build isolation."""
    src = tmp_path_factory.mktemp("src")
    for rel in _source_files():
        os.makedirs(os.path.dirname(src / rel), exist_ok=True)
        shutil.copy2(os.path.join(ROOT, rel), src / rel)
    out = tmp_path_factory.mktemp("wheel")
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation"]
    done = subprocess.run(
        [*cmd, "--no-index", "-w", str(out), str(src)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (name,) = [n for n in os.listdir(out) if n.endswith(".whl")]
    with zipfile.ZipFile(out / name) as archive:
        yield archive


def test_wheel_holds_every_module_and_data_file(wheel):
    names = set(wheel.namelist())
    expected = {
        rel.replace(os.sep, "/") for rel in _source_files() if rel.split(os.sep)[0] in PACKAGES
    }
    assert expected <= names, sorted(expected - names)
    # The runtime data files that the code opens by path.
    assert "mano_tf/assets/open_hand_right.npz" in names
    assert "training/configs/demo.yaml" in names
    assert not any(n.startswith(("tests/", "benchmarks/", "runs/", "docs/")) for n in names)


def test_wheel_declares_the_console_script_and_the_pins(wheel):
    meta_dir = next(n.split("/")[0] for n in wheel.namelist() if ".dist-info/" in n)
    entry = configparser.ConfigParser()
    entry.read_string(wheel.read(f"{meta_dir}/entry_points.txt").decode())
    assert entry["console_scripts"]["hiu"] == "hiu_tf.__main__:cli"
    metadata = wheel.read(f"{meta_dir}/METADATA").decode()
    requires = {
        line.split(":", 1)[1].strip()
        for line in metadata.splitlines()
        if line.startswith("Requires-Dist:")
    }
    with open(os.path.join(ROOT, "requirements.txt"), encoding="utf-8") as f:
        pins = {line.strip() for line in f if line.strip() and not line.startswith("#")}
    assert requires == pins


def test_console_script_names_itself_in_its_usage(monkeypatch, capsys):
    from hiu_tf import __main__ as entry

    for argv0, prog in (("/venv/bin/hiu", "hiu"), ("/x/hiu_tf/__main__.py", "python -m hiu_tf")):
        monkeypatch.setattr(sys, "argv", [argv0, "--help"])
        monkeypatch.setattr("hiu_tf.cli.quiet.install", lambda argv: False)
        with pytest.raises(SystemExit) as done:
            entry.cli()
        assert done.value.code == 0
        assert capsys.readouterr().out.startswith(f"usage: {prog} ")
