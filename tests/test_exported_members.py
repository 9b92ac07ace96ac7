"""Every package's ``__all__`` is true (httpx's tests/test_exported_members.py habit).

For each package of mlengine (a package without ``__all__`` exports nothing): every name in
``__all__`` exists (lazy names included), no name
is listed twice, the list is sorted, and every public name the package binds is listed, so
that what ``from mlengine.x import *`` gives is what the package means to export. Names a
package binds by importing its own submodules (``mlengine.data.census`` once imported) count
only when listed; so do names of ``__future__`` and typing helpers used for annotations.
"""

from __future__ import annotations
import __future__

import importlib
import pkgutil
import types

import pytest

import mlengine

PACKAGES = sorted(
    ["mlengine"]
    + [info.name for info in pkgutil.walk_packages(mlengine.__path__, "mlengine.") if info.ispkg]
)


def _bound_by_the_package(package: types.ModuleType, name: str, value: object) -> bool:
    """Whether ``name`` is one of the package's own exports, not a by-product of imports."""
    if name.startswith("_"):
        return False
    if isinstance(value, types.ModuleType):
        # A submodule is an attribute once imported anywhere: an export only when listed.
        return not value.__name__.startswith(package.__name__ + ".")
    return not isinstance(value, __future__._Feature)


@pytest.mark.parametrize("name", PACKAGES)
def test_all_is_true(name: str) -> None:
    package = importlib.import_module(name)
    exported = getattr(package, "__all__", ())  # none: the package exports nothing
    assert len(exported) == len(set(exported)), f"{name}.__all__ lists a name twice"
    assert list(exported) == sorted(exported), f"{name}.__all__ is not sorted"
    for member in exported:
        assert getattr(package, member, None) is not None, f"{name}.{member} is listed, absent"
    bound = {k for k, v in vars(package).items() if _bound_by_the_package(package, k, v)}
    assert bound <= set(exported), f"{name} binds {sorted(bound - set(exported))} unlisted"


def test_every_package_is_checked() -> None:
    assert {"mlengine.feature_column", "mlengine.serving", "mlengine.cli"} <= set(PACKAGES)


# Public names renamed by issue 18: (package, old name, new name); the old one stays an alias.
RENAMED = [("mlengine.registry", "Model", "RegisteredModel")]


@pytest.mark.parametrize(("name", "old", "new"), RENAMED)
def test_a_renamed_public_name_stays_importable(name: str, old: str, new: str) -> None:
    package = importlib.import_module(name)
    assert getattr(package, old) is getattr(package, new)
