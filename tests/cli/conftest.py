"""Fixtures of the CLI tests: a private MLENGINE_HOME, an export, a trainer package, and a
typer CliRunner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.helpers import Cli
from tests.jobs import helpers as job_helpers
from tests.registry import helpers

# A trainer that shows what it was given: arguments, folder, TF_CONFIG, torchrun's rank.
ENV_TRAINER = r"""
import json, os, sys
config = json.loads(os.environ["TF_CONFIG"])
shown = {"args": sys.argv[1:], "cwd": os.getcwd(), "job": config["job"],
         "environment": config["environment"], "rank": os.environ.get("RANK"),
         "world": os.environ.get("WORLD_SIZE")}
sys.stdout.write(json.dumps(shown) + "\n")  # one write: the ranks share one output
sys.stdout.flush()
sys.exit(int(os.environ.get("TRAINER_EXIT", "0")))
"""


@pytest.fixture(autouse=True)
def home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Every CLI test gets its own MLENGINE_HOME and no registry settings from outside."""
    for name in ("MLENGINE_DATABASE_URL", "MLENGINE_ARTIFACT_ROOT", "MLENGINE_ALLOWED_ORIGINS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MLENGINE_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture(params=["sqlite", "postgresql"])
def any_database(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Runs a test on the default SQLite registry and on PostgreSQL (MLENGINE_DATABASE_URL)."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    base = helpers.pg_base_url()
    if base is None:
        if os.environ.get("CI") == "true":
            pytest.fail("MLENGINE_TEST_DATABASE_URL is not set: CI must test PostgreSQL")
        pytest.skip("MLENGINE_TEST_DATABASE_URL is not set (PostgreSQL tests skipped)")
    with helpers.postgres_schema(base) as url:
        monkeypatch.setenv("MLENGINE_DATABASE_URL", url)
        yield "postgresql"


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A real export of a tiny census model (read only)."""
    return helpers.build_export(tmp_path_factory.mktemp("census"))


@pytest.fixture
def trainer_package(tmp_path: Path) -> Path:
    """``tmp_path/src/trainer``: the job tests' trainer modules, plus ``trainer.env``."""
    package = Path(job_helpers.write_trainers(tmp_path))
    (package / "env.py").write_text(ENV_TRAINER.lstrip())
    return package


@pytest.fixture
def cli() -> Cli:
    return Cli()
