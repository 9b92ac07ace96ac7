"""Fixtures of the CLI tests: a private MLENGINE_HOME, an export, a trainer package, and a
typer CliRunner."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

import helper_modules
from mlengine.cli.main import app

helpers = helper_modules.helpers("registry")
job_helpers = helper_modules.helpers("jobs")

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


class Cli:
    """Runs ``mlengine ARGS...`` in-process and checks the exit code."""

    def __init__(self) -> None:
        self.runner = CliRunner()

    def __call__(self, *args: str, code: int = 0, stdin: str | None = None) -> Result:
        result = self.runner.invoke(app, list(args), input=stdin, catch_exceptions=False)
        assert result.exit_code == code, (result.stdout, result.stderr)
        return result

    def fails(self, *args: str, match: str) -> str:
        """Run a command that must fail with one line on stderr containing ``match``."""
        result = self(*args, code=1)
        lines = result.stderr.strip().splitlines()
        assert len(lines) >= 1 and lines[-1].startswith("ERROR: (mlengine."), result.stderr
        assert match in lines[-1], lines[-1]
        assert "Traceback" not in result.output
        assert result.stdout == ""
        return lines[-1]

    def usage(self, *args: str, match: str) -> str:
        """Run a command that must be refused as a usage error: exit 2, one ERROR line."""
        result = self(*args, code=2)
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("ERROR: (mlengine"), result.stderr
        assert match in lines[0], lines[0]
        assert result.stdout == ""
        return lines[0]


@pytest.fixture
def cli() -> Cli:
    return Cli()
