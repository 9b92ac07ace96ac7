"""The schema version, migrations, database URLs and defaults from the environment."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from mlengine.errors import FailedPreconditionError, InvalidParameterError, UnavailableError
from mlengine.registry import Registry, migrations
from tests.registry.helpers import refusing_port


def _engine(database_url: str) -> sa.Engine:
    return sa.create_engine(database_url, poolclass=sa.pool.NullPool)


def test_fresh_database_records_its_migrations(database_url: str, tmp_path: Path) -> None:
    Registry(database_url, tmp_path / "a").close()
    engine = _engine(database_url)
    with engine.connect() as conn:
        recorded = conn.execute(sa.select(migrations.schema_table)).all()
    engine.dispose()
    assert [(r.version, r.description) for r in recorded] == [
        (1, "models and versions"),
        (2, "training and prediction jobs"),
        (3, "long-running operations, prediction logging, version labels"),
    ]
    Registry(database_url, tmp_path / "a").close()  # opening again changes nothing


def test_newer_schema_is_a_clear_error(database_url: str, tmp_path: Path) -> None:
    Registry(database_url, tmp_path / "a").close()
    engine = _engine(database_url)
    with engine.begin() as conn:
        conn.execute(
            migrations.schema_table.insert().values(
                version=99, description="from the future", applied_at=datetime.now(UTC)
            )
        )
    engine.dispose()
    latest = migrations.schema_version()
    with pytest.raises(
        FailedPreconditionError, match=f"schema version 99.*up to {latest}.*upgrade"
    ):
        Registry(database_url, tmp_path / "a")


def test_older_schema_is_migrated_in_order(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Registry(database_url, tmp_path / "a") as registry:
        registry.create_model("census")
    applied: list[int] = []
    following = migrations.schema_version() + 1

    def add_column(conn: Connection) -> None:
        applied.append(following)
        conn.execute(sa.text("ALTER TABLE mlengine_models ADD COLUMN etag VARCHAR(64)"))

    extended = (*migrations.MIGRATIONS, migrations.Migration(following, "model etags", add_column))
    monkeypatch.setattr(migrations, "MIGRATIONS", extended)
    with Registry(database_url, tmp_path / "a") as registry:
        assert registry.get_model("census").name == "census"  # data kept
    with Registry(database_url, tmp_path / "a"):
        pass
    assert applied == [following]  # once
    engine = _engine(database_url)
    with engine.connect() as conn:
        versions = conn.execute(sa.select(migrations.schema_table.c.version)).scalars().all()
    engine.dispose()
    assert sorted(versions) == list(range(1, following + 1))


def test_foreign_tables_are_left_alone(database_url: str, tmp_path: Path) -> None:
    engine = _engine(database_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE mlengine_models (id INTEGER PRIMARY KEY)"))
    engine.dispose()
    with pytest.raises(FailedPreconditionError, match="not created by mlengine"):
        Registry(database_url, tmp_path / "a")


@pytest.mark.timeout(30)
def test_unreachable_postgresql_fails_fast(tmp_path: Path) -> None:
    started = time.monotonic()
    with (
        refusing_port() as port,
        pytest.raises(UnavailableError, match=r"Cannot reach the registry database") as info,
    ):
        Registry(f"postgresql://user:secret@127.0.0.1:{port}/registry", tmp_path / "a")
    assert time.monotonic() - started < 15
    assert "secret" not in str(info.value)
    assert "\n" not in str(info.value)
    assert info.value.code == "UNAVAILABLE"


def test_unsupported_database_url(tmp_path: Path) -> None:
    with pytest.raises(InvalidParameterError, match="Unsupported registry database"):
        Registry("mysql://u:p@localhost/db", tmp_path / "a")
    with pytest.raises(InvalidParameterError, match="Invalid registry database URL"):
        Registry("not a url", tmp_path / "a")


def test_defaults_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, export_dir: Path
) -> None:
    home = tmp_path / "home"
    with Registry() as registry:
        assert registry.database_url == f"sqlite:///{home / 'registry.db'}"
        assert registry.artifact_root == str(home / "artifacts")
        registry.create_model("census")
        registry.create_version("census", "v1", str(export_dir))
    assert (home / "registry.db").is_file()
    assert (home / "artifacts" / "census" / "1" / "saved_model.json").is_file()

    monkeypatch.setenv("MLENGINE_DATABASE_URL", f"sqlite:///{tmp_path / 'other.db'}")
    monkeypatch.setenv("MLENGINE_ARTIFACT_ROOT", str(tmp_path / "elsewhere"))
    with Registry() as registry:
        assert registry.list_models() == []
        assert registry.artifact_root == str(tmp_path / "elsewhere")
