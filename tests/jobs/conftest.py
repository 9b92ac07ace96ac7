"""Fixtures of the job tests: a registry on SQLite and PostgreSQL, a JobManager with short
timings, trainer modules on disk, and a tiny census export registered as ``census/v1``.

PostgreSQL runs need ``MLENGINE_TEST_DATABASE_URL`` (one fresh schema per test), as in the
registry tests; without it they are skipped, except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlengine.jobs import JobManager
from mlengine.registry import Registry
from tests.jobs.helpers import cleanup, write_trainers
from tests.registry import helpers as registry_helpers


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every test gets its own MLENGINE_HOME and no registry settings from outside."""
    for name in ("MLENGINE_DATABASE_URL", "MLENGINE_ARTIFACT_ROOT", "MLENGINE_ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLENGINE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


def _postgres_base() -> str:
    base = registry_helpers.pg_base_url()
    if base is None:
        if os.environ.get("CI") == "true":
            pytest.fail("MLENGINE_TEST_DATABASE_URL is not set: CI must test PostgreSQL")
        pytest.skip("MLENGINE_TEST_DATABASE_URL is not set (PostgreSQL tests skipped)")
    return str(base)


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty registry database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    with registry_helpers.postgres_schema(_postgres_base()) as url:
        yield url


def _manager(database_url: str, tmp_path: Path) -> Iterator[JobManager]:
    registry = Registry(database_url, tmp_path / "artifacts")
    manager = JobManager(
        registry,
        home=tmp_path / "home",
        cancel_grace=2.0,
        poll_interval=0.1,
        heartbeat_interval=1.0,
    )
    try:
        yield manager
    finally:
        try:
            cleanup(manager)
        finally:
            registry.close()


@pytest.fixture
def jobs(database_url: str, tmp_path: Path) -> Iterator[JobManager]:
    """A JobManager on each kind of database, with short grace and poll periods."""
    yield from _manager(database_url, tmp_path)


@pytest.fixture
def sqlite_jobs(tmp_path: Path) -> Iterator[JobManager]:
    """A JobManager on SQLite only (tests about processes, not about the database)."""
    yield from _manager(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path)


@pytest.fixture
def trainer_package(tmp_path: Path) -> Path:
    """``tmp_path/src/trainer``: the trainer modules of :data:`helpers.TRAINERS`."""
    return write_trainers(tmp_path)


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export of a tiny census LinearClassifier (age, occupation); read only."""
    return Path(registry_helpers.build_export(tmp_path_factory.mktemp("census")))
