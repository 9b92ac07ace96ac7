"""Fixtures of the deployment tests: their helpers, a clean environment, and a fresh PostgreSQL
schema per test (``MLENGINE_TEST_DATABASE_URL``; missing: skipped, or failed under CI=true,
as in tests/registry)."""

from __future__ import annotations

import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

TESTS = Path(__file__).resolve().parent.parent


def _load(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


helpers = _load("mlengine_tests_deploy_helpers", Path(__file__).with_name("helpers.py"))
serving_helpers = _load("mlengine_tests_serving_helpers", TESTS / "serving" / "helpers.py")
registry_helpers = _load("mlengine_tests_registry_helpers", TESTS / "registry" / "helpers.py")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's registry, token or origins."""
    for name in serving_helpers.REGISTRY_ENV + serving_helpers.ACCESS_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLENGINE_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def h() -> ModuleType:
    return helpers


@pytest.fixture(scope="session")
def sh() -> ModuleType:
    """tests/serving/helpers.py: server processes, exports, instances."""
    return serving_helpers


@pytest.fixture
def pg_url() -> Iterator[str]:
    """A URL of a fresh, empty PostgreSQL schema of this test's own."""
    base = registry_helpers.pg_base_url()
    if base is None:
        message = f"{registry_helpers.PG_ENV} is not set"
        if helpers.IN_CI:
            pytest.fail(message + ": CI must test replicas against PostgreSQL")
        pytest.skip(message + " (PostgreSQL tests skipped)")
    with registry_helpers.postgres_schema(base) as url:
        yield url
