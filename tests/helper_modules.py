"""The old way of sharing test helpers, kept only until tests/feature_column follows the new one.

Test helpers are now imported as packages: ``from tests.<folder> import helpers`` (see
``tests/helpers.py``). ``tests/feature_column`` still loads its helpers by path through
:func:`helpers`; when it imports ``tests.feature_column.helpers`` instead, delete this file and
``"tests"`` from ``pythonpath`` in pyproject.toml.
"""

from __future__ import annotations

from types import ModuleType

from tests.helpers import REPO_ROOT, load_module


def helpers(folder: str) -> ModuleType:
    """``tests/<folder>/helpers.py``."""
    return load_module(
        f"mlengine_tests_{folder}_helpers", REPO_ROOT / "tests" / folder / "helpers.py"
    )
