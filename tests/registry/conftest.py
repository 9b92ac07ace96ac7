"""Fixtures of the registry tests: an export, and a registry on SQLite and on PostgreSQL.

Every test that takes ``registry`` (or ``database_url``) runs twice: on a SQLite file and on a
real PostgreSQL server (``MLENGINE_TEST_DATABASE_URL``, one fresh schema per test). Without
that variable the PostgreSQL runs are skipped, except under ``CI=true``, where they fail: CI
must not go green without having tested PostgreSQL.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlengine.registry import Registry
from tests.registry.helpers import build_export, pg_base_url, postgres_schema


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's ~/.mlengine or registry settings."""
    for name in ("MLENGINE_DATABASE_URL", "MLENGINE_ARTIFACT_ROOT", "MLENGINE_ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLENGINE_HOME", str(tmp_path / "home"))


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export of a tiny census model, shared by the session (tests never change it)."""
    return build_export(tmp_path_factory.mktemp("census"))


@pytest.fixture
def make_export(export_dir: Path, tmp_path: Path) -> Callable[[str], Path]:
    """A fresh copy of the export at ``tmp_path/<name>``, for tests that change it."""

    def make(name: str = "export") -> Path:
        return Path(shutil.copytree(export_dir, tmp_path / name))

    return make


def postgres_url_or_skip() -> str:
    base = pg_base_url()
    if base is None:
        if os.environ.get("CI") == "true":
            pytest.fail("MLENGINE_TEST_DATABASE_URL is not set: CI must test PostgreSQL")
        pytest.skip("MLENGINE_TEST_DATABASE_URL is not set (PostgreSQL tests skipped)")
    return base


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty registry database of each kind."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'registry.db'}"
        return
    with postgres_schema(postgres_url_or_skip()) as url:
        yield url


@pytest.fixture
def artifact_root(tmp_path: Path) -> Path:
    return tmp_path / "artifacts"


@pytest.fixture
def registry(database_url: str, artifact_root: Path) -> Iterator[Registry]:
    """A registry on a fresh database of each kind, with a local artifact root."""
    with Registry(database_url, artifact_root) as opened:
        yield opened
