"""Helpers shared by the tests of several folders (each folder's own are in its helpers.py).

Every folder under ``tests/`` is a package and the repository root is on pytest's path, so a
test imports a helper module by its full name: ``from tests.serving import helpers`` or
``from tests.registry.helpers import build_export``. Each helper module is then one module
object however many folders use it, with its caches (the export tests' Wide & Deep is trained
once a session). ``conftest.py`` files hold fixtures only, and are never imported.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent
WIDE_DEEP_PY = REPO_ROOT / "examples" / "census" / "wide_deep.py"


def load_module(name: str, path: Path) -> ModuleType:
    """The module at ``path`` (a program, not part of a package), executed the first time and
    kept in ``sys.modules[name]``."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def census_example() -> ModuleType:
    """``examples/census/wide_deep.py`` (the tutorial's and the demo's feature columns)."""
    return load_module("mlengine_example_wide_deep", WIDE_DEEP_PY)
