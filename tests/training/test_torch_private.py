"""Private torch APIs are named in one module, mlengine.training.torch_private, and nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import mlengine

SRC = Path(mlengine.__file__).resolve().parent
HOME = SRC / "training" / "torch_private.py"


def _private_torch_names(path: Path) -> list[str]:
    """``torch._x`` attributes, ``torch._x`` imports and "torch._x" strings in one module."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Attribute) and node.attr.startswith("_"):
            if isinstance(node.value, ast.Name) and node.value.id == "torch":
                found.append(f"torch.{node.attr}")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("torch._"):
            found.append(node.module or "")
        elif isinstance(node, ast.Import):
            found += [a.name for a in node.names if a.name.startswith("torch._")]
        elif isinstance(node, ast.Call) and node.args:
            first = node.args[0]
            if isinstance(first, ast.Constant) and str(first.value).startswith("torch._"):
                found.append(str(first.value))
    return found


def test_only_torch_private_names_private_torch_apis() -> None:
    offenders = {
        str(path.relative_to(SRC)): names
        for path in sorted(SRC.rglob("*.py"))
        if path != HOME and (names := _private_torch_names(path))
    }
    assert offenders == {}
    assert _private_torch_names(HOME)  # the check finds them where they are
