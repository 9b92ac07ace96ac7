"""Hyperparameter tuning jobs: the spec's checks, its Optuna mapping, and whole jobs on SQLite
and PostgreSQL (trials, parallelism, metrics from reports and summaries, failures, cancel,
early stopping, a killed supervisor resumed without losing a finished trial)."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path
from typing import Any

import optuna
import pytest

from mlengine.errors import FailedPreconditionError, InvalidParameterError, NotFoundError
from mlengine.hypertune import HyperTune
from mlengine.jobs import JobManager, JobState, parse_job, specs
from mlengine.jobs import hyperparameters as hp
from mlengine.jobs.processes import group_alive
from mlengine.jobs.trial_metrics import metric_history, read_summaries
from tests.jobs.helpers import supervisor_pid, wait_for_log, wait_gone

SPEC: dict[str, Any] = {
    "goal": "MAXIMIZE",
    "hyperparameterMetricTag": "score",
    "maxTrials": 4,
    "maxParallelTrials": 2,
    "params": [
        {"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0},
        {"parameterName": "units", "type": "CATEGORICAL", "categoricalValues": ["a", "b"]},
        {
            "parameterName": "n",
            "type": "INTEGER",
            "minValue": 1,
            "maxValue": 64,
            "scaleType": "UNIT_LOG_SCALE",
        },
    ],
}


def spec(**changes: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(SPEC)), **changes}


def with_param(index: int, **changes: Any) -> dict[str, Any]:
    data = spec()
    data["params"][index] = {**data["params"][index], **changes}
    return data


# ------------------------------------------------------------------------------ the spec


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (spec(maxTrails=3), "Unknown key 'trainingInput.hyperparameters.maxTrails'"),
        (
            with_param(1, scale="x"),
            r"Unknown key 'trainingInput.hyperparameters.params\[1\].scale'",
        ),
        (
            with_param(0, minValue=2.0),
            r"Invalid trainingInput.hyperparameters.params\[0\].minValue: minValue 2.0 is "
            r"greater than maxValue 1.0",
        ),
        (
            with_param(0, scaleType="UNIT_LOG_SCALE"),
            r"params\[0\].scaleType: UNIT_LOG_SCALE needs values > 0, but minValue is 0.0",
        ),
        (
            with_param(2, minValue=-1),
            r"params\[2\].scaleType: UNIT_LOG_SCALE needs values > 0, but minValue is -1",
        ),
        (
            with_param(0, type="DISCRETE", discreteValues=[0, 1], scaleType="UNIT_LOG_SCALE"),
            r"params\[0\].minValue: a DISCRETE parameter takes discreteValues",
        ),
        (
            with_param(0, type="DISCRETE", minValue=None, maxValue=None, discreteValues=[2, 1]),
            r"params\[0\].discreteValues: values must be in increasing order",
        ),
        (with_param(2, maxValue=6.5), r"params\[2\].maxValue: expected an integer, got 6.5"),
        (with_param(1, scaleType="UNIT_LOG_SCALE"), "a CATEGORICAL parameter has no scale"),
        (with_param(2, parameterName="x"), r"params\[2\].parameterName: 'x' is named twice"),
        (with_param(2, parameterName="--n"), r"params\[2\].parameterName: expected a flag"),
        (spec(goal="BEST"), "hyperparameters.goal: expected one of MAXIMIZE, MINIMIZE"),
        (spec(params=[]), "hyperparameters.params: expected a non-empty list"),
        (spec(maxTrials=0), "hyperparameters.maxTrials: must be >= 1, got 0"),
        (
            spec(algorithm="GRID_SEARCH"),
            r"params\[0\].type: GRID_SEARCH needs INTEGER, CATEGORICAL or DISCRETE",
        ),
    ],
)
def test_a_bad_spec_is_one_error_naming_the_key_path(data: dict[str, Any], message: str) -> None:
    body = {
        "jobId": "hp",
        "trainingInput": {"pythonModule": "trainer.tune", "hyperparameters": data},
    }
    _kind, _job_id, kwargs = parse_job(body)
    with pytest.raises(InvalidParameterError, match=message):
        specs.training_input(
            "trainer.tune", job_dir=None, hyperparameters=kwargs["hyperparameters"]
        )


def test_the_spec_gets_ml_engines_defaults() -> None:
    checked = hp.check_spec({"goal": "minimize", "params": [SPEC["params"][0]]})
    assert checked == {
        "goal": "MINIMIZE",
        "params": [SPEC["params"][0]],
        "algorithm": "ALGORITHM_UNSPECIFIED",
        "maxTrials": 1,
        "maxParallelTrials": 1,
        "maxFailedTrials": 0,
        "hyperparameterMetricTag": "training/hptuning/metric",
        "enableTrialEarlyStopping": False,
    }
    # int64 and double fields may arrive as JSON strings
    assert hp.check_spec(spec(maxTrials="7"))["maxTrials"] == 7


def test_the_spec_maps_onto_optunas_distributions_samplers_and_pruners() -> None:
    data = hp.check_spec(
        spec(
            params=[
                *SPEC["params"],
                {
                    "parameterName": "lr",
                    "type": "DOUBLE",
                    "minValue": 0.001,
                    "maxValue": 0.1,
                    "scaleType": "UNIT_REVERSE_LOG_SCALE",
                },
                {"parameterName": "width", "type": "DISCRETE", "discreteValues": [16, 32, 64]},
            ]
        )
    )
    found = hp.distributions(data)
    assert found["x"] == optuna.distributions.FloatDistribution(0.0, 1.0)
    assert found["units"] == optuna.distributions.CategoricalDistribution(["a", "b"])
    assert found["n"] == optuna.distributions.IntDistribution(1, 64, log=True)
    assert found["lr"] == optuna.distributions.FloatDistribution(0.001, 0.1, log=True)
    assert found["width"] == optuna.distributions.CategoricalDistribution([16, 32, 64])
    # A reverse log scale samples the mirrored value: values crowd near the top.
    assert hp.actual_values(data, {"lr": 0.001})["lr"] == pytest.approx(0.1)
    assert hp.actual_values(data, {"lr": 0.1})["lr"] == pytest.approx(0.001)
    assert hp.trial_args({"x": 0.25, "width": 32, "units": "b", "d": 64.0}) == [
        "--x=0.25",
        "--width=32",
        "--units=b",
        "--d=64",
    ]
    assert isinstance(hp.sampler(data), optuna.samplers.TPESampler)
    assert isinstance(
        hp.sampler({**data, "algorithm": "RANDOM_SEARCH"}), optuna.samplers.RandomSampler
    )
    grid = hp.check_spec(spec(algorithm="GRID_SEARCH", params=SPEC["params"][1:], maxTrials=500))
    assert isinstance(hp.sampler(grid), optuna.samplers.GridSampler)
    assert hp.trial_budget(grid) == 2 * 64  # each grid point once
    assert isinstance(hp.pruner(data), optuna.pruners.NopPruner)
    early = {**data, "enableTrialEarlyStopping": True}
    assert isinstance(hp.pruner(early), optuna.pruners.MedianPruner)


def test_the_reporter_writes_cloudml_hypertunes_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "hypertune" / "output.metrics"
    monkeypatch.setenv("CLOUD_ML_HP_METRIC_FILE", str(path))
    monkeypatch.setenv("CLOUD_ML_TRIAL_ID", "3")
    reporter = HyperTune()
    reporter.report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="auc", metric_value=0.5, global_step=100
    )
    reporter.report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="auc", metric_value=0.75, global_step=200
    )
    reporter.report_hyperparameter_tuning_metric(None, 1)
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [sorted(line) for line in lines[:2]] == [
        ["auc", "global_step", "timestamp", "trial"]
    ] * 2
    assert lines[1]["auc"] == "0.75" and lines[1]["global_step"] == "200"
    assert lines[1]["trial"] == "3"
    assert lines[2]["training/hptuning/metric"] == "1.0" and lines[2]["global_step"] == "0"
    assert metric_history(str(tmp_path), str(path), "auc") == ([(100, 0.5), (200, 0.75)], set())


def test_eval_summaries_come_from_the_eval_folder_first(tmp_path: Path) -> None:
    from mlengine.training.summaries import SummaryWriter, write_eval_summaries

    write_eval_summaries(tmp_path / "model", {"auc": 0.8, "loss": 0.4}, 100)
    write_eval_summaries(tmp_path / "model", {"auc": 0.85, "loss": 0.3}, 200)
    write_eval_summaries(tmp_path / "model", {"auc": 0.5}, 200, name="test")
    with SummaryWriter(tmp_path / "model") as writer:
        writer.scalars({"auc": 0.1, "loss": 0.7}, 300)
    history, seen = read_summaries(str(tmp_path), "auc")
    assert history == [(100, pytest.approx(0.8)), (200, pytest.approx(0.85))]
    assert seen == {"auc", "loss"}
    assert read_summaries(str(tmp_path), "loss")[0][-1] == (200, pytest.approx(0.3))
    assert read_summaries(str(tmp_path), "nothing")[0] == []


# ------------------------------------------------------------------------------ whole jobs


def submit(jobs: JobManager, job_id: str, package: Path, args: list[str], **changes: Any) -> Any:
    return jobs.submit(
        {
            "jobId": job_id,
            "trainingInput": {
                "pythonModule": "trainer.tune",
                "packagePath": str(package),
                "args": args,
                "hyperparameters": spec(**changes),
            },
        }
    )


def trials_of(jobs: JobManager, job_id: str) -> list[dict[str, Any]]:
    return list((jobs.get_job(job_id).output or {}).get("trials", []))


@pytest.mark.timeout(180)
def test_a_tuning_job_runs_its_trials_and_shows_them_best_first(
    jobs: JobManager, trainer_package: Path
) -> None:
    submit(jobs, "hp_1", trainer_package, ["--how", "report", "--pause", "0.3"])
    job = jobs.wait("hp_1", timeout=150)
    assert job.state is JobState.SUCCEEDED, (job, jobs.read_logs("hp_1"))
    resource = job.to_json("p")
    output = resource["trainingOutput"]
    assert output["isHyperparameterTuningJob"] is True
    assert output["completedTrialCount"] == "4"
    assert output["hyperparameterMetricTag"] == "score"
    trials = output["trials"]
    assert sorted(t["trialId"] for t in trials) == ["1", "2", "3", "4"]
    values = [t["finalMetric"]["objectiveValue"] for t in trials]
    assert values == sorted(values, reverse=True)  # MAXIMIZE: best first
    run_dir = Path(job.run_dir)
    job_dir = Path(job.input["jobDir"])
    for trial in trials:
        assert trial["state"] == "SUCCEEDED"
        assert trial["finalMetric"]["trainingStep"] == "300"
        assert set(trial["hyperparameters"]) == {"x", "units", "n"}
        params = trial["hyperparameters"]
        # The objective the trainer computed from its --name=value arguments.
        x, units = float(params["x"]), params["units"]
        expected = -((x - 0.3) ** 2) - (units != "b") / 10
        assert trial["finalMetric"]["objectiveValue"] == pytest.approx(expected)
        log = (run_dir / "trials" / f"{trial['trialId']}.log").read_text()
        # its own --job-dir, its arguments appended after the job's, ML Engine's trial id
        assert f"trial {trial['trialId']} job-dir {job_dir / trial['trialId']}" in log
        assert f"'--x={params['x']}', '--units={units}', '--n={params['n']}']" in log
        assert "'--how', 'report', '--pause', '0.3', '--x=" in log
    # never more than maxParallelTrials at once
    spans = sorted(
        (t["startTime"], t["endTime"]) for t in trials
    )  # RFC 3339 strings in one format sort as times
    for start, _end in spans:
        assert sum(1 for s, e in spans if s <= start < e) <= 2
    assert sum(1 for s, e in spans if s <= spans[1][0] < e) == 2  # and it does run 2


@pytest.mark.timeout(180)
def test_the_objective_comes_from_eval_summaries_and_a_missing_tag_fails_every_trial(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    jobs = sqlite_jobs
    submit(jobs, "hp_sum", trainer_package, ["--how", "summaries"], maxTrials=2)
    job = jobs.wait("hp_sum", timeout=150)
    assert job.state is JobState.SUCCEEDED, jobs.read_logs("hp_sum")
    assert all(t["finalMetric"]["trainingStep"] == "300" for t in trials_of(jobs, "hp_sum"))

    submit(jobs, "hp_tag", trainer_package, ["--how", "summaries"], maxTrials=2,
           hyperparameterMetricTag="accuracy")  # fmt: skip
    job = jobs.wait("hp_tag", timeout=150)
    assert job.state is JobState.FAILED
    assert job.error_message is not None
    assert job.error_message.startswith(
        "Every trial failed; the first: Trial 1 wrote no 'accuracy' metric "
        "(hyperparameterMetricTag): no evaluation summary under"
    )
    assert "(tags seen: loss, score)" in job.error_message
    trials = trials_of(jobs, "hp_tag")
    assert [t["state"] for t in trials] == ["FAILED", "FAILED"]
    assert all("wrote no 'accuracy' metric" in t["errorMessage"] for t in trials)
    assert trials[0]["errorMessage"].startswith(f"Trial {trials[0]['trialId']} wrote")


@pytest.mark.timeout(180)
def test_crashed_trials_count_against_max_failed_trials(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    jobs = sqlite_jobs
    submit(jobs, "hp_crash", trainer_package, ["--how", "crash"], maxTrials=6,
           maxParallelTrials=1, maxFailedTrials=2)  # fmt: skip
    job = jobs.wait("hp_crash", timeout=150)
    assert job.state is JobState.FAILED
    assert job.error_message == (
        "2 trial(s) failed, reaching maxFailedTrials (2); the first: Trial 1's trainer exited "
        "with code 1: RuntimeError: boom in trial."
    )
    assert [t["state"] for t in trials_of(jobs, "hp_crash")] == ["FAILED", "FAILED"]


@pytest.mark.timeout(180)
def test_cancel_stops_every_running_trial(sqlite_jobs: JobManager, trainer_package: Path) -> None:
    jobs = sqlite_jobs
    submit(jobs, "hp_cancel", trainer_package, ["--how", "sleep"], maxTrials=4)
    for n in (1, 2):
        wait_for_log(jobs, "hp_cancel", rf"trial {n} started")
    run_dir = Path(jobs.get_job("hp_cancel").run_dir)
    sleeping = []
    deadline = time.monotonic() + 60
    while len(sleeping) < 2 and time.monotonic() < deadline:
        sleeping = [
            int(line.split()[1])
            for n in (1, 2)
            if (run_dir / "trials" / f"{n}.log").exists()
            for line in (run_dir / "trials" / f"{n}.log").read_text().splitlines()
            if line.startswith("sleeping ")
        ]
        time.sleep(0.1)
    assert len(sleeping) == 2
    job = jobs.cancel_job("hp_cancel", wait=30)
    assert job.state is JobState.CANCELLED
    assert wait_gone(sleeping) == []
    trials = trials_of(jobs, "hp_cancel")
    assert [t["state"] for t in trials] == ["FAILED", "FAILED"]
    assert all(t["errorMessage"].endswith("was stopped with the job.") for t in trials)


@pytest.mark.timeout(180)
def test_early_stopping_prunes_a_trial_below_the_median(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    jobs = sqlite_jobs
    # Trial 1 scores 0 at every step; the others -1: the pruner stops them after a report.
    submit(jobs, "hp_prune", trainer_package,
           ["--how", "by-trial", "--steps", "40", "--pause", "0.25"], maxTrials=2,
           maxParallelTrials=1, enableTrialEarlyStopping=True)  # fmt: skip
    job = jobs.wait("hp_prune", timeout=150)
    assert job.state is JobState.SUCCEEDED, jobs.read_logs("hp_prune")
    first, second = trials_of(jobs, "hp_prune")
    assert first["trialId"] == "1" and "isTrialStoppedEarly" not in first
    assert first["finalMetric"] == {"trainingStep": "4000", "objectiveValue": 0.0}
    assert second["isTrialStoppedEarly"] is True and second["state"] == "SUCCEEDED"
    assert int(second["finalMetric"]["trainingStep"]) < 4000
    assert second["finalMetric"]["objectiveValue"] == -1.0
    assert "trial 2 stopped early at step" in jobs.read_logs("hp_prune")


@pytest.mark.timeout(240)
def test_a_killed_supervisor_resumed_loses_no_finished_trial(
    jobs: JobManager, trainer_package: Path
) -> None:
    args = ["--how", "report", "--pause", "0.5"]
    submit(jobs, "hp_kill", trainer_package, args, maxTrials=4, maxParallelTrials=1)
    wait_for_log(jobs, "hp_kill", r"trial 2 SUCCEEDED", timeout=120)
    wait_for_log(jobs, "hp_kill", r"trial 3 started", timeout=60)
    deadline = time.monotonic() + 30
    while True:  # trainingOutput is rewritten just after the log line
        trials = trials_of(jobs, "hp_kill")
        finished = {t["trialId"]: t for t in trials if t["state"] == "SUCCEEDED"}
        if len(trials) == 3 or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert sorted(finished) == ["1", "2"]
    assert trials[-1]["trialId"] == "3" and trials[-1]["state"] == "RUNNING"
    os.kill(supervisor_pid(jobs, "hp_kill"), signal.SIGKILL)
    time.sleep(0.5)
    dead = jobs.get_job("hp_kill")  # reading it settles it: FAILED, its trials stopped
    assert dead.state is JobState.FAILED
    assert not group_alive(jobs.table.row("hp_kill").process_id)

    with pytest.raises(NotFoundError, match="resumePreviousJobId: job \\(id=nope\\) not found"):
        submit(jobs, "hp_bad", trainer_package, args, resumePreviousJobId="nope")
    submit(jobs, "hp_resume", trainer_package, args, maxTrials=4, maxParallelTrials=1,
           resumePreviousJobId="hp_kill")  # fmt: skip
    job = jobs.wait("hp_resume", timeout=150)
    assert job.state is JobState.SUCCEEDED, jobs.read_logs("hp_resume")
    assert job.input["studyName"] == "hp_kill"
    trials = {t["trialId"]: t for t in trials_of(jobs, "hp_resume")}
    for trial_id, trial in finished.items():  # kept as they were, run by the first job
        assert trials[trial_id]["finalMetric"] == trial["finalMetric"]
        assert trials[trial_id]["jobId"] == "hp_kill"
    interrupted = trials["3"]
    assert interrupted["state"] == "FAILED"
    assert "was interrupted" in interrupted["errorMessage"]
    # ... and its parameters ran again, in the new job, which ran the rest of the budget.
    rerun = [t for t in trials.values() if t.get("jobId") == "hp_resume"]
    assert sorted(t["trialId"] for t in rerun) == ["4", "5"]
    assert interrupted["hyperparameters"] in [t["hyperparameters"] for t in rerun]
    assert job.output is not None and job.output["completedTrialCount"] == "4"


def test_resuming_a_job_that_is_not_a_finished_tuning_job_is_refused(
    sqlite_jobs: JobManager, trainer_package: Path
) -> None:
    jobs = sqlite_jobs
    jobs.submit_training("plain", "trainer.ok", package_path=str(trainer_package))
    jobs.wait("plain", timeout=60)
    with pytest.raises(FailedPreconditionError, match=r"job \(id=plain\) is not a hyperparam"):
        submit(jobs, "hp_r", trainer_package, [], resumePreviousJobId="plain")


def test_the_census_tuning_config_is_valid_and_the_readme_shows_it() -> None:
    import re

    import yaml

    repo = Path(__file__).resolve().parents[2]
    config = yaml.safe_load((repo / "examples" / "census" / "hptuning.yaml").read_text())
    readme = (repo / "README.md").read_text()
    [shown] = re.findall(r"^```yaml\n(trainingInput:.*?)^```", readme, re.M | re.S)
    assert yaml.safe_load(shown) == config
    checked = hp.check_spec(config["trainingInput"]["hyperparameters"])
    assert [p["parameterName"] for p in checked["params"]] == [
        "linear-learning-rate",
        "dnn-learning-rate",
        "embedding-dimension",
        "hidden-units",
    ]


def test_the_census_trainer_takes_the_tuned_flags_and_a_fixed_validation_split() -> None:
    from tests.helpers import census_example

    program = census_example()
    args = program.parse_args(
        ["--job-dir", "/tmp/j", "--hidden-units=256,128", "--embedding-dimension=12",
         "--linear-learning-rate=0.02", "--dnn-learning-rate=0.002", "--validation-fraction=0.2"]
    )  # fmt: skip
    assert (args.model_dir, args.export_dir) == ("/tmp/j/model", "/tmp/j/export")
    assert args.hidden_units == [256, 128] and args.embedding_dimension == 12
    import pandas as pd

    x = pd.DataFrame({"a": range(100)})
    y = pd.Series(range(100)) % 2
    train_x, train_y, valid_x, valid_y = program.split_validation(x, y, 0.2, seed=0)
    assert len(valid_x) == 20 and len(train_x) == 80
    assert sorted([*train_x["a"], *valid_x["a"]]) == list(range(100))
    assert list(valid_y) == [a % 2 for a in valid_x["a"]]  # labels stay with their rows
    again = program.split_validation(x, y, 0.2, seed=0)[2]
    assert list(again["a"]) == list(valid_x["a"])  # the same rows every time
