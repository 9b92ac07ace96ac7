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


def test_has_hooks_sees_module_parameter_and_global_hooks() -> None:
    import torch

    from mlengine.training.torch_private import has_hooks

    module = torch.nn.Sequential(torch.nn.Linear(2, 2))
    assert not has_hooks(module)
    handle = module[0].register_forward_pre_hook(lambda *args: None)
    assert has_hooks(module)
    handle.remove()
    handle = module[0].bias.register_hook(lambda grad: grad)
    assert has_hooks(module)
    handle.remove()
    handle = torch.nn.modules.module.register_module_forward_hook(lambda *args: None)
    try:
        assert has_hooks(module)
    finally:
        handle.remove()
    assert not has_hooks(module)
