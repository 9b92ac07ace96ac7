"""mlengine.tuning: the one home of the speed-tuning thresholds, importable from every layer."""

from __future__ import annotations

import ast
from pathlib import Path

from mlengine import tuning


def test_imports_nothing_from_mlengine() -> None:
    tree = ast.parse(Path(tuning.__file__).read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            assert not any(alias.name.startswith("mlengine") for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            assert node.module == "__future__", node.module


def test_every_threshold_is_a_positive_number_with_a_comment() -> None:
    source = Path(tuning.__file__).read_text().splitlines()
    for name in tuning.__all__:
        value = getattr(tuning, name)
        assert isinstance(value, int | float) and value > 0, name
        line = next(i for i, text in enumerate(source) if text.startswith(f"{name} = "))
        assert source[line - 1].startswith("#") or source[line - 2].startswith("#"), name


def test_no_other_module_keeps_its_own_copy_of_a_threshold() -> None:
    """A module reads a threshold from here; it never assigns one of these names itself."""
    names = set(tuning.__all__)
    package = Path(tuning.__file__).parent
    for path in package.rglob("*.py"):
        if path.name == "tuning.py":
            continue
        for node in ast.parse(path.read_text()).body:
            targets = node.targets if isinstance(node, ast.Assign) else []
            for target in targets:
                assert not (isinstance(target, ast.Name) and target.id in names), (
                    f"{path.relative_to(package)} assigns {target.id}: read mlengine.tuning's"
                )
