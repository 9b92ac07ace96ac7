"""Test-side modules loaded by path, once per process, under one name each.

pytest's importlib mode puts no test folder on ``sys.path``, and several folders share another
folder's helpers (the export tests' trained model, the serving tests' live client, the
registry's PostgreSQL helpers). Loading each file once under a fixed name means every user gets
the same module object, and so its caches: the Wide & Deep model is trained once per session.
This file itself is importable because ``pyproject.toml`` puts ``tests`` on pytest's path.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

TESTS = Path(__file__).resolve().parent
WIDE_DEEP_PY = TESTS.parent / "examples" / "census" / "wide_deep.py"


def load_module(name: str, path: Path) -> ModuleType:
    """The module at ``path``, executed the first time and kept in ``sys.modules[name]``."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def helpers(folder: str) -> ModuleType:
    """``tests/<folder>/helpers.py``."""
    return load_module(f"mlengine_tests_{folder}_helpers", TESTS / folder / "helpers.py")


def census_example() -> ModuleType:
    """``examples/census/wide_deep.py`` (the tutorial's and the demo's feature columns)."""
    return load_module("mlengine_example_wide_deep", WIDE_DEEP_PY)
