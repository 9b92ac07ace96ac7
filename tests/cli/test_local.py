"""``mlengine local train`` (a trainer package in the foreground, as a training job runs it) and
``mlengine local predict`` (an export directory, no registry)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from mlengine.export import load
from tests.export import helpers as export_helpers

from .conftest import Cli


def shown(stdout: str) -> list[dict[str, Any]]:
    """What ``trainer.env`` printed, one JSON object per process."""
    return [json.loads(line) for line in stdout.splitlines() if line.startswith("{")]


def test_local_train_runs_the_trainer_as_a_job_would(
    cli: Cli, trainer_package: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = cli(
        "local", "train", "--module-name", "trainer.env", "--package-path", "src/trainer/",
        "--job-dir", "output", "--", "--train-files", "data/adult.data.csv",
    )  # fmt: skip
    [run] = shown(result.stdout)
    root = str(trainer_package.parent)  # gcloud runs the trainer beside its package
    assert run["cwd"] == root
    assert run["args"] == [
        "--job-dir", os.path.join(root, "output"), "--train-files", "data/adult.data.csv"
    ]  # fmt: skip
    assert run["job"] == {
        "job_name": "trainer.env",
        "args": ["--train-files", "data/adult.data.csv"],
    }
    assert run["environment"] == "cloud" and run["rank"] is None
    without = cli("local", "train", "--module-name", "trainer.env", "--package-path",
                  str(trainer_package), "--worker-count", "3")  # fmt: skip
    assert shown(without.stdout)[0]["args"] == []  # no --job-dir unless given, as gcloud
    assert "--worker-count (without --distributed)" in without.stderr


def test_local_train_exits_with_the_trainers_status(
    cli: Cli, trainer_package: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TRAINER_EXIT", "3")
    result = cli("local", "train", "--module-name", "trainer.env", "--package-path",
                 str(trainer_package), code=3)  # fmt: skip
    assert result.stderr.strip().splitlines()[-1] == (
        "ERROR: (mlengine.local.train) The trainer (python -m trainer.env) exited with code 3."
    )
    cli.fails("local", "train", "--module-name", "trainer/env", "--package-path",
              str(trainer_package), match="Invalid module name 'trainer/env'")  # fmt: skip
    cli.usage("local", "train", "--package-path", str(trainer_package), match="--module-name")


@pytest.mark.timeout(120)
def test_local_train_distributed_runs_a_master_and_workers(cli: Cli, trainer_package: Path) -> None:
    result = cli(
        "local", "train", "--module-name", "trainer.env", "--package-path", str(trainer_package),
        "--distributed", "--worker-count", "1", "--parameter-server-count", "2", "--", "--x",
    )  # fmt: skip
    runs = shown(result.stdout)
    assert sorted(run["rank"] for run in runs) == ["0", "1"]
    assert {run["world"] for run in runs} == {"2"}
    assert "--parameter-server-count=2" in result.stderr


@pytest.mark.timeout(60)
def test_local_train_stops_the_trainer_after_max_running_time(
    cli: Cli, trainer_package: Path
) -> None:
    started = time.monotonic()
    message = cli.fails("local", "train", "--module-name", "trainer.sleepy", "--package-path",
                        str(trainer_package), "--max-running-time", "1",
                        match="ran longer than --max-running-time (1s)")  # fmt: skip
    assert time.monotonic() - started < 20
    assert message.startswith("ERROR: (mlengine.local.train)")


@pytest.mark.timeout(120)
def test_local_train_passes_the_terminal_through(trainer_package: Path, tmp_path: Path) -> None:
    """The real command: the trainer writes straight to the terminal's output."""
    result = subprocess.run(
        [sys.executable, "-m", "mlengine.cli.main", "local", "train", "--module-name",
         "trainer.ok", "--package-path", str(trainer_package), "--", "--steps", "3"],
        capture_output=True, text=True, timeout=60, check=False,
        env={**os.environ, "MLENGINE_HOME": str(tmp_path / "home")},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert result.stdout == "hello from the trainer ['--steps', '3']\n"
    assert result.stderr == "a line on stderr\n"


def test_local_predict_reads_an_export_directory(
    cli: Cli, export_dir: Path, tmp_path: Path
) -> None:
    export = export_dir
    instances = export_helpers.census_instances()
    census_json = str(export_helpers.CENSUS_JSON)
    table = cli("local", "predict", "--model-dir", str(export), "--json-instances", census_json)
    header = table.stdout.splitlines()[0].split()
    assert header == ["CLASS_IDS", "CLASSES", "LOGISTIC", "LOGITS", "PROBABILITIES"]
    request = tmp_path / "request.json"
    request.write_text(json.dumps({"instances": instances}))
    as_json = cli("local", "predict", "--model-dir", str(export), "--json-request",
                  str(request), "--framework", "tensorflow", "--format", "json")  # fmt: skip
    expected = load(export).predict_instances(instances)
    assert json.loads(as_json.stdout) == {"predictions": expected}
    cli.fails("local", "predict", "--model-dir", str(export), "--json-instances", census_json,
              "--framework", "xgboost", match="not scikit-learn or XGBoost")  # fmt: skip
    cli.fails("local", "predict", "--model-dir", str(tmp_path), "--json-instances", census_json,
              match="not an mlengine export")  # fmt: skip
