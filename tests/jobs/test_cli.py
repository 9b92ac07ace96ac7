"""``mlengine jobs ...`` through typer's CliRunner, with MLENGINE_HOME in tmp_path."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from mlengine.jobs import JobManager, JobState
from tests.cli.helpers import Cli
from tests.jobs.helpers import cleanup, wait_for_log


@pytest.fixture
def cli(home: Path) -> Iterator[Cli]:
    yield Cli()
    with JobManager() as jobs:  # the environment's registry, as the CLI's
        cleanup(jobs)


@pytest.mark.timeout(120)
def test_submit_training_streams_logs_and_lists(cli: Cli, trainer_package: Path) -> None:
    package = str(trainer_package)
    result = cli(
        "jobs", "submit", "training", "hello", "--module-name", "trainer.ok",
        "--package-path", package, "--stream-logs", "--", "--steps", "3",
    )  # fmt: skip
    assert "hello from the trainer ['--job-dir'" in result.stdout
    assert "'--steps', '3']" in result.stdout
    assert "Job [hello] submitted successfully." in result.stderr
    assert "Job [hello] SUCCEEDED." in result.stderr
    listed = cli("jobs", "list").stdout.splitlines()
    assert listed[0].split() == ["JOB_ID", "STATUS", "CREATED"]
    assert listed[1].split()[:2] == ["hello", "SUCCEEDED"]
    described = json.loads(cli("jobs", "describe", "hello", "--format", "json").stdout)
    assert described["state"] == "SUCCEEDED"
    assert described["trainingInput"]["pythonModule"] == "trainer.ok"
    yaml = cli("jobs", "describe", "hello").stdout
    assert "jobId: hello" in yaml and "state: SUCCEEDED" in yaml
    failed = cli("jobs", "cancel", "hello", code=1)
    assert "ERROR: (mlengine.jobs.cancel) Job (id=hello) is already SUCCEEDED" in failed.stderr


@pytest.mark.timeout(120)
def test_failed_job_exits_1_with_its_error(cli: Cli, trainer_package: Path) -> None:
    result = cli(
        "jobs", "submit", "training", "boom", "--module-name", "trainer.fail",
        "--package-path", str(trainer_package),
    )  # fmt: skip
    assert result.stdout.splitlines() == ["jobId: boom", "state: QUEUED"]
    assert "mlengine jobs stream-logs boom" in result.stderr
    streamed = cli("jobs", "stream-logs", "boom", code=1)
    assert "about to fail" in streamed.stdout
    assert streamed.stderr.strip().splitlines()[-1] == (
        "ERROR: (mlengine.jobs.stream-logs) Job [boom] FAILED: The trainer (python -m "
        "trainer.fail) exited with code 1: RuntimeError: boom in the trainer."
    )
    assert "FAILED" in cli("jobs", "list", "--state", "failed").stdout
    assert cli("jobs", "list", "--state", "running").stdout == ""
    bad = cli("jobs", "list", "--state", "sleeping", code=1)
    assert "Invalid job state 'sleeping'" in bad.stderr


@pytest.mark.timeout(120)
def test_cancel_through_the_cli(cli: Cli, trainer_package: Path) -> None:
    cli(
        "jobs", "submit", "training", "sleepy", "--module-name", "trainer.sleepy",
        "--package-path", str(trainer_package),
    )  # fmt: skip
    with JobManager() as jobs:
        wait_for_log(jobs, "sleepy", r"ready \d+")
    result = cli("jobs", "cancel", "sleepy")
    assert "Cancelled job [sleepy]." in result.stderr
    with JobManager() as jobs:
        assert jobs.get_job("sleepy").state is JobState.CANCELLED


@pytest.mark.timeout(180)
def test_submit_prediction_through_the_cli(cli: Cli, export_dir: Path, tmp_path: Path) -> None:
    cli("models", "create", "census")
    cli("versions", "create", "v1", "--model", "census", "--origin", str(export_dir))
    data = tmp_path / "data.json"
    data.write_text('{"age": 25, "occupation": "Sales"}\n{"age": 52, "occupation": "x"}\n')
    out = tmp_path / "out"
    result = cli(
        "jobs", "submit", "prediction", "batch1", "--model", "census", "--input-paths",
        str(data), "--output-path", str(out), "--data-format", "json", "--stream-logs",
    )  # fmt: skip
    assert "Wrote 2 predictions in 1 shard(s)" in result.stdout
    described = json.loads(cli("jobs", "describe", "batch1", "--format", "json").stdout)
    assert described["predictionOutput"] == {
        "outputPath": str(out),
        "predictionCount": "2",
        "errorCount": "0",
    }
    lines = (out / "prediction.results-00000-of-00001").read_text().splitlines()
    assert [sorted(json.loads(line)) for line in lines] == [
        ["class_ids", "classes", "logistic", "logits", "probabilities"]
    ] * 2
    missing = cli(
        "jobs", "submit", "prediction", "batch2", "--model", "census", "--input-paths",
        str(tmp_path / "none*.json"), "--output-path", str(out), "--data-format", "json",
        code=1,
    )  # fmt: skip
    assert missing.stderr.startswith("ERROR: (mlengine.jobs.submit.prediction) No file matches")
    assert missing.stdout == ""


@pytest.mark.timeout(240)
def test_a_tuning_job_from_a_config_described_and_its_best_trial_registered(
    cli: Cli, trainer_package: Path, tmp_path: Path
) -> None:
    config = tmp_path / "hptuning.yaml"
    config.write_text(
        "trainingInput:\n"
        "  hyperparameters:\n"
        "    goal: MINIMIZE\n"
        "    hyperparameterMetricTag: loss\n"
        "    maxTrials: 2\n"
        "    algorithm: GRID_SEARCH\n"
        "    params:\n"
        "      - parameterName: learning-rate\n"
        "        type: DISCRETE\n"
        "        discreteValues: [0.001, 0.5]\n"
    )
    result = cli(
        "jobs", "submit", "training", "tune", "--config", str(config), "--module-name",
        "trainer.tune_export", "--package-path", str(trainer_package), "--stream-logs",
    )  # fmt: skip
    assert "Job [tune] SUCCEEDED." in result.stderr
    assert "mlengine: trial 1 started: --learning-rate=" in result.stdout
    summary = cli("jobs", "describe", "tune", "--summarize").stdout
    assert "Training Output Summary\nTRIALS  METRIC_TAG\n2       loss\n" in summary
    rows = summary.split("Training Output Trials\n")[1].splitlines()
    assert rows[0].split() == ["TRIAL", "OBJECTIVE_VALUE", "STEP", "STATE", "HYPERPARAMETERS"]
    described = json.loads(cli("jobs", "describe", "tune", "--format", "json").stdout)
    best, worst = described["trainingOutput"]["trials"]
    assert best["finalMetric"]["objectiveValue"] < worst["finalMetric"]["objectiveValue"]
    assert {
        best["hyperparameters"]["learning-rate"],
        worst["hyperparameters"]["learning-rate"],
    } == {
        "0.001",
        "0.5",
    }  # the grid's two points, once each
    assert best["finalMetric"]["trainingStep"] == "3"
    assert rows[1].split()[0] == best["trialId"]

    cli("models", "create", "census")
    created = cli("jobs", "register-best", "tune", "--model", "census", "--version", "v1")
    assert f"Trial {best['trialId']} of job [tune]: creating version [v1] from " in created.stderr
    assert "Created version [v1] (number 1) of model [census]." in created.stderr
    version = json.loads(
        cli("versions", "describe", "v1", "--model", "census", "--format", "json").stdout
    )
    assert version["state"] == "READY"
    assert version["description"] == f"Trial {best['trialId']} of tuning job tune"
    missing = cli("jobs", "register-best", "tune", "--model", "census", "--version", "v2",
                  "--trial", "9", code=1)  # fmt: skip
    assert "Trial 9 of job (id=tune) not found." in missing.stderr
    plain = cli("jobs", "submit", "training", "plain", "--module-name", "trainer.ok",
                "--package-path", str(trainer_package), "--stream-logs")  # fmt: skip
    assert "SUCCEEDED" in plain.stderr
    refused = cli("jobs", "register-best", "plain", "--model", "census", "--version", "v3", code=1)
    assert "Job (id=plain) is not a hyperparameter tuning job" in refused.stderr
