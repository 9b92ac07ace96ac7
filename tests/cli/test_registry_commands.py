"""`mlengine models ...` and `mlengine versions ...` end to end through typer's CliRunner."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlengine.registry import Registry
from tests.cli.helpers import Cli
from tests.registry.helpers import refusing_port


def test_models_commands(cli: Cli, any_database: str) -> None:
    created = cli(
        "models", "create", "census", "--description", "Census income", "--labels", "team=ml"
    )
    assert "Created model [census]." in created.stderr
    listed = cli("models", "list").stdout.splitlines()
    assert listed[0].split() == ["NAME", "DEFAULT_VERSION_NAME", "CREATE_TIME"]
    assert listed[1].split()[:2] == ["census", "-"]
    described = cli("models", "describe", "census").stdout
    assert "name: census" in described and "description: Census income" in described
    assert "createTime:" in described
    data = json.loads(cli("models", "describe", "census", "--format", "json").stdout)
    assert data["name"] == "census" and data["labels"] == {"team": "ml"}
    assert data["createTime"].endswith("Z")
    assert [m["name"] for m in json.loads(cli("models", "list", "--format", "json").stdout)] == [
        "census"
    ]
    cli("models", "delete", "census")
    assert cli("models", "list").stderr.strip() == "Listed 0 items."
    assert json.loads(cli("models", "list", "--format", "json").stdout) == []


def test_versions_commands(cli: Cli, any_database: str, export_dir: Path) -> None:
    cli("models", "create", "census")
    created = cli("versions", "create", "v1", "--model", "census", "--origin", str(export_dir))
    assert "Created version [v1] (number 1) of model [census]." in created.stderr
    assert "default version" in created.stderr
    out = cli(
        "versions",
        "create",
        "v2",
        "--model",
        "census",
        "--origin",
        str(export_dir),
        "--description",
        "second",
        "--format",
        "json",
    ).stdout
    v2 = json.loads(out)
    assert (v2["name"], v2["number"], v2["state"], v2["isDefault"]) == ("v2", 2, "READY", False)
    assert v2["description"] == "second" and v2["deploymentUri"] == str(export_dir)

    table = cli("versions", "list", "--model", "census").stdout.splitlines()
    assert table[0].split() == [
        "NAME",
        "NUMBER",
        "STATE",
        "DEFAULT",
        "CREATE_TIME",
        "LAST_USE_TIME",
        "DEPLOYMENT_URI",
    ]
    assert table[1].split()[:4] == ["v1", "1", "READY", "yes"]
    assert table[2].split()[:3] == ["v2", "2", "READY"]

    with Registry() as registry:  # what a prediction does
        registry.touch("census", "v1")
    v1 = json.loads(
        cli("versions", "describe", "v1", "--model", "census", "--format", "json").stdout
    )
    assert set(v1) >= {"name", "createTime", "lastUseTime", "isDefault", "state", "deploymentUri"}
    assert v1["isDefault"] is True and "accuracy" in v1["metrics"]
    described = cli("versions", "describe", "1", "--model", "census").stdout
    assert "name: v1" in described and "state: READY" in described
    assert "lastUseTime:" in described

    model = json.loads(cli("models", "describe", "census", "--format", "json").stdout)
    assert model["defaultVersion"]["name"] == "v1"
    assert cli("models", "list").stdout.splitlines()[1].split()[:2] == ["census", "v1"]

    moved = cli("versions", "set-default", "v2", "--model", "census", "--format", "json").stdout
    assert json.loads(moved)["isDefault"] is True
    deleted = cli("versions", "delete", "v1", "--model", "census")
    assert "Deleted version [v1] of model [census]." in deleted.stderr
    cli("versions", "delete", "v2", "--model", "census")
    cli("models", "delete", "census")


def test_errors_are_one_line(cli: Cli, export_dir: Path, tmp_path: Path) -> None:
    cli.fails("models", "describe", "nope", match="Model (name=nope) not found.")
    cli.fails("versions", "list", "--model", "nope", match="Model (name=nope) not found.")
    cli("models", "create", "census")
    cli.fails("models", "create", "census", match="Model (name=census) already exists.")
    cli.fails("models", "create", "bad-name", match="Invalid model name 'bad-name'")
    cli.fails("models", "create", "ok", "--labels", "Team=x", match="Invalid label key 'Team'")
    origin = ["--model", "census", "--origin"]
    cli.fails("versions", "create", "v1", *origin, str(tmp_path / "no"), match="does not exist")
    cli.fails("versions", "create", "v1", *origin, str(tmp_path), match="not an mlengine export")
    cli.fails(
        "versions",
        "create",
        "v1",
        *origin,
        str(export_dir.parent),
        match="looks like an export base",
    )
    cli.fails("versions", "create", "v-1", *origin, str(export_dir), match="Invalid version name")
    cli.fails("versions", "describe", "v1", "--model", "census", match="version=v1) not found")
    assert cli("versions", "list", "--model", "census").stderr.strip() == "Listed 0 items."

    cli("versions", "create", "v1", *origin, str(export_dir))
    cli("versions", "create", "v2", *origin, str(export_dir))
    cli.fails("models", "delete", "census", match="delete them first")
    cli.fails("versions", "delete", "v1", "--model", "census", match="is the default version")
    cli.fails("versions", "set-default", "v9", "--model", "census", match="version=v9) not found")


def test_failed_load_is_reported_and_recorded(cli: Cli, export_dir: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(export_dir, broken)
    (broken / "variables" / "variables.safetensors").write_bytes(b"")
    cli("models", "create", "census")
    create = ["versions", "create", "v1", "--model", "census", "--origin", str(broken)]
    line = cli.fails(*create, match="Model version (name=census, version=v1) FAILED")
    assert str(broken) in line and ".staging" not in line
    listed = cli("versions", "list", "--model", "census").stdout.splitlines()
    assert listed[1].split()[:3] == ["v1", "1", "FAILED"]
    data = json.loads(
        cli("versions", "describe", "v1", "--model", "census", "--format", "json").stdout
    )
    assert "safetensors" in data["errorMessage"]


@pytest.mark.timeout(30)
def test_unreachable_database_fails_fast(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    with refusing_port() as port:
        url = f"postgresql://user:secret@127.0.0.1:{port}/registry"
        monkeypatch.setenv("MLENGINE_DATABASE_URL", url)
        started = time.monotonic()
        line = cli.fails("models", "list", match="Cannot reach the registry database")
    assert "secret" not in line
    assert time.monotonic() - started < 15


def test_usage_errors_exit_2(cli: Cli) -> None:
    assert "--model" in cli("versions", "list", code=2).stderr
    cli("models", "list", "--format", "xml", code=2)


def test_version_and_help(cli: Cli) -> None:
    assert cli("--version").stdout.startswith("mlengine ")
    assert "versions" in cli("--help").stdout


@pytest.mark.timeout(120)
def test_console_script_in_a_real_process(home: Path) -> None:
    env = dict(os.environ, MLENGINE_HOME=str(home))
    command = [sys.executable, "-c", "from mlengine.cli.main import main; main()"]
    ok = subprocess.run(
        [*command, "models", "create", "census"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert ok.returncode == 0, ok.stderr
    failed = subprocess.run(
        [*command, "models", "create", "census"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert failed.returncode == 1
    assert failed.stderr.strip().splitlines() == [
        "ERROR: (mlengine.models.create) Model (name=census) already exists."
    ]
