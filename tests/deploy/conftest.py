"""Fixtures of the deployment tests: their helpers, a clean environment, and a fresh PostgreSQL
schema per test (``MLENGINE_TEST_DATABASE_URL``; missing: skipped, or failed under CI=true,
as in tests/registry)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.deploy import helpers
from tests.registry import helpers as registry_helpers
from tests.serving import helpers as serving_helpers


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    serving_helpers.clean_env(monkeypatch, tmp_path / "home")


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
