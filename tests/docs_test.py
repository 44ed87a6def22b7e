"""The documentation is up to date: generated pages match the code, every pointer names a file."""

import importlib.util
import os
import re
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


# Pointers: a path in a docstring, comment or page that starts with one of the repository's
# top-level folders (`docs/export.md`, `training/configs/*.yaml`, `tests/export/fixtures._fit`)
# must name something that exists, and `docs/PAGE.md, "Heading"` a heading of that page.
# Users of the repository have nothing else, so a pointer to a missing file is a dead end.
_REPO_DIRS = (".ci", "benchmarks", "docs", "export", "hiu_tf", "mano_tf", "tests", "training")
# What runs, tools and builds create (ignored by git): not the repository's text.
_GENERATED = {
    ".cache",
    ".git",
    ".pytest_cache",
    ".ruff_cache",
    "__pycache__",
    "build",
    "dist",
    "exports",
    "models",
    "outputs",
    "runs",
}
_POINTER = re.compile(
    r"(?<![\w./<>-])((?:" + "|".join(map(re.escape, _REPO_DIRS)) + r")/[\w./*-]*)"
)
_SECTION = re.compile(r"(docs/[\w-]+\.md)`?\)?,? \(?\"([^\"]+)\"")
_MD_LINK = re.compile(r"\]\(([^)\s]+)\)")
# FreiHAND and RHD name their training split `training/`: their folders and sample ids.
_DATASET_PATH = re.compile(r"training/(rgb|mask|color|segmap|anno_training\.pickle|\d)")


def _text_files(root: Path):
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(
            d for d in dirnames if d not in _GENERATED and not d.endswith(".egg-info")
        )
        for name in sorted(filenames):
            if name.endswith((".py", ".md")):
                yield Path(dirpath, name)


def _names_something(root: Path, ref: str) -> bool:
    if "*" in ref:
        return any(root.glob(ref))
    if (root / ref).exists():
        return True
    # `tests/export/fixtures.INT8_KEYPOINT_GOAL`: a module's file, then a name in it.
    folder, _, name = ref.rpartition("/")
    return "." in name and (root / folder / (name.split(".")[0] + ".py")).is_file()


def _headings(page: Path) -> list[str]:
    lines = page.read_text(encoding="utf-8").splitlines()
    return [line.lstrip("#").strip() for line in lines if line.startswith("#")]


def broken_pointers(root: Path) -> list[str]:
    """`file:line: pointer` for every pointer under `root` that names nothing there."""
    broken = []
    for path in _text_files(root):
        if path == Path(__file__).resolve():  # this file's examples are meant to be broken
            continue
        rel = path.relative_to(root).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            refs = [m.group(1).rstrip(".") for m in _POINTER.finditer(line)]
            for ref in (r for r in refs if not _DATASET_PATH.match(r)):
                if "..." not in ref and not _names_something(root, ref):  # "...": a placeholder
                    broken.append(f"{rel}:{number}: {ref}")
            for page, heading in _SECTION.findall(line):
                if (root / page).is_file() and not any(
                    h.startswith(heading) for h in _headings(root / page)
                ):
                    broken.append(f'{rel}:{number}: {page}, "{heading}"')
            if path.suffix == ".md":
                for target in _MD_LINK.findall(line):
                    target = target.split("#")[0]
                    if target and ":" not in target and not (path.parent / target).exists():
                        broken.append(f"{rel}:{number}: {target}")
    return broken


def test_every_pointer_names_a_file_of_the_repository():
    assert broken_pointers(ROOT) == []


def test_broken_pointers_are_found(tmp_path):
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "page.md").write_text("# Page\n\n## Latency (2026)\n", encoding="utf-8")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "fixtures.py").write_text("GOAL = 1\n", encoding="utf-8")
    (tmp_path / "runs").mkdir()  # generated: not read
    (tmp_path / "runs" / "notes.md").write_text("docs/gone.md\n", encoding="utf-8")
    (tmp_path / "mod.py").write_text(
        '"""See docs/page.md, "Latency", docs/page.md ("Speed"), docs/gone.md and\n'
        "tests/fixtures.GOAL; tests/*.py; https://example.org/docs/x.md;\n"
        '<run>/docs/x.md; runs/NAME/config.yaml; tests/.../anything.py."""\n',
        encoding="utf-8",
    )
    (tmp_path / "docs" / "other.md").write_text(
        "![a](page.md) ![b](missing.png) [c](https://example.org/x.png)\n", encoding="utf-8"
    )
    assert broken_pointers(tmp_path) == [
        "mod.py:1: docs/gone.md",
        'mod.py:1: docs/page.md, "Speed"',
        "docs/other.md:1: missing.png",
    ]


def test_references_page_matches_the_keypoint_and_mano_code():
    # docs/references.md restates the orders and ids of the code; they must not drift apart.
    from hiu_tf import keypoints
    from hiu_tf.keypoints import STB_TO_CANONICAL
    from mano_tf.hand_model import MANO_PARENTS, MANO_TIP_VERTEX_IDS, MANO_TO_CANONICAL

    page = (ROOT / "docs" / "references.md").read_text(encoding="utf-8")
    row = re.compile(r"^\| (\d+) \| `(\w+)` \| (-?\d+) \| (\d+) \| (\d+) \| (\d+) \|$", re.M)
    rows = [(int(i), name, *map(int, rest)) for i, name, *rest in row.findall(page)]
    assert rows == [
        (i, name, keypoints.KEYPOINT_PARENTS[i], *maps)
        for i, (name, *maps) in enumerate(
            zip(
                keypoints.KEYPOINT_NAMES,
                keypoints.RHD_TO_CANONICAL,
                STB_TO_CANONICAL,
                MANO_TO_CANONICAL,
                strict=True,
            )
        )
    ]
    parents = re.search(r"^\| parent \|(.*)\|$", page, re.M).group(1)
    assert tuple(int(p) for p in parents.split("|")) == MANO_PARENTS
    tips = dict(zip(keypoints.FINGERS, MANO_TIP_VERTEX_IDS, strict=True))
    assert "**" + ", ".join(f"{finger} {i}" for finger, i in tips.items()) + "**" in page
    for name in ("FINGERTIPS", "REFERENCE_BONE", "ANCHOR_KEYPOINT"):
        value = getattr(keypoints, name)
        shown = ", ".join(map(str, value)) if name == "FINGERTIPS" else str(value)
        assert f"`{name}` = {shown}" in page, name
