"""The packages' layering: who may import whom (docs/design.md, "Packages and who imports whom").

mano_tf imports none of the project's other packages; hiu_tf imports mano_tf and
reaches training and export only from its command-line modules (lazily, to run a
command); the demo and the ablation runners do not import each other, and the
experiment kit imports neither. Every import statement is read, including those
inside functions.
"""

import ast
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _imports(package: str) -> list[tuple[str, str]]:
    """`(file, imported module)` for every import in the package's .py files."""
    found = []
    for folder, dirs, names in os.walk(os.path.join(ROOT, package)):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        for name in names:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            rel = os.path.relpath(path, ROOT).replace(os.sep, "/")
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    found += [(rel, alias.name) for alias in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    # `from training import demo` imports training.demo: record both.
                    found += [(rel, node.module)]
                    found += [(rel, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _top(module: str) -> str:
    return module.split(".")[0]


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("mano_tf", {"hiu_tf", "training", "export"}), ("hiu_tf", {"training", "export"})],
)
def test_lower_packages_do_not_import_upper_ones(package, forbidden):
    wrong = [
        (path, module)
        for path, module in _imports(package)
        if _top(module) in forbidden and not path.startswith("hiu_tf/cli/")
    ]
    assert not wrong, wrong


def test_the_runners_and_the_kit_do_not_import_each_other():
    runners = {"training.demo", "training.ablate"}
    wrong = [
        (path, module)
        for path, module in _imports("training")
        if module in runners and path != f"{module.replace('.', '/')}.py"
    ]
    assert not wrong, wrong


def test_the_import_reader_sees_function_level_imports():
    # hiu_tf's CLI imports training lazily, inside functions: the reader must see it.
    assert any(
        path.startswith("hiu_tf/cli/") and _top(module) == "training"
        for path, module in _imports("hiu_tf")
    )
