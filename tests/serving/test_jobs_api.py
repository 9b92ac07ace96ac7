"""The jobs routes: prediction jobs through the API, logs, cancel, and training jobs refused
unless the server allows them."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest

JOBS = "/v1/projects/local/jobs"
pytestmark = pytest.mark.timeout(180)


def _wait_final(client: Any, job_id: str, timeout: float = 120) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        job = client.get(f"{JOBS}/{job_id}").json()
        if job["state"] in ("SUCCEEDED", "FAILED", "CANCELLED"):
            return job
        assert time.monotonic() < deadline, job
        time.sleep(0.2)


def test_prediction_job_through_the_api(
    make_client: Any, exports_root: Path, instances: list[dict[str, Any]]
) -> None:
    client = make_client()
    folder = exports_root / f"job_{uuid.uuid4().hex[:8]}"
    folder.mkdir()
    (folder / "in.json").write_text("".join(json.dumps(i) + "\n" for i in instances))
    body = {
        "jobId": "predict_census",
        "predictionInput": {
            "dataFormat": "JSON",
            "inputPaths": [str(folder / "*.json")],
            "outputPath": str(folder / "out"),
            "modelName": "projects/local/models/census",
        },
    }
    submitted = client.post(JOBS, json=body)
    assert submitted.status_code == 200, submitted.text
    assert submitted.json()["jobId"] == "predict_census"
    assert submitted.json()["state"] in ("QUEUED", "RUNNING", "SUCCEEDED")
    job = _wait_final(client, "predict_census")
    assert job["state"] == "SUCCEEDED", job
    assert job["predictionOutput"]["predictionCount"] == str(len(instances))
    listed = client.get(JOBS).json()["jobs"]
    assert [j["jobId"] for j in listed] == ["predict_census"]
    logs = client.get(f"{JOBS}/predict_census/logs", params={"tail": "5"})
    assert logs.status_code == 200 and logs.json()["jobId"] == "predict_census"
    again = {
        **body,
        "predictionInput": {**body["predictionInput"], "outputPath": str(folder / "b")},
    }
    duplicate = client.post(JOBS, json=again)
    assert duplicate.status_code == 409, duplicate.text
    assert "predict_census" in duplicate.json()["error"]["message"]
    reused = client.post(JOBS, json={**body, "jobId": "predict_again"})
    assert reused.status_code == 400 and "already holds prediction results" in reused.text


def test_training_jobs_need_the_servers_permission(make_client: Any, exports_root: Path) -> None:
    body = {
        "jobId": "train_it",
        "trainingInput": {"pythonModule": "trainer.task", "packageUris": [str(exports_root)]},
    }
    refused = make_client().post(JOBS, json=body)
    assert refused.status_code == 403
    assert "MLENGINE_ALLOW_TRAINING_JOBS" in refused.json()["error"]["message"]


def test_unknown_job_and_bad_tail(make_client: Any) -> None:
    client = make_client()
    missing = client.get(f"{JOBS}/no_such_job")
    assert missing.status_code == 404 and "no_such_job" in missing.json()["error"]["message"]
    assert client.get(JOBS).json() == {}
    assert client.get(f"{JOBS}/no_such_job/logs", params={"tail": "x"}).status_code == 400
    assert client.post(f"{JOBS}/no_such_job:cancel").status_code == 404


def test_a_tuning_job_through_the_api_shows_its_trials(
    make_client: Any,
    registry: Any,
    exports_root: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from mlengine.jobs import JobManager
    from tests.jobs.helpers import cleanup, write_trainers

    monkeypatch.setenv("MLENGINE_HOME", str(tmp_path / "home"))
    base = exports_root / f"tuning_{uuid.uuid4().hex[:8]}"
    package = write_trainers(base)
    client = make_client(allow_training_jobs=True)
    body = {
        "jobId": "tune_api",
        "trainingInput": {
            "pythonModule": "trainer.tune",
            "packagePath": str(package),
            "jobDir": str(base / "out"),
            "args": ["--how", "report"],
            "hyperparameters": {
                "goal": "MINIMIZE",
                "hyperparameterMetricTag": "score",
                "maxTrials": 3,
                "maxParallelTrials": 2,
                "params": [
                    {"parameterName": "x", "type": "DOUBLE", "minValue": 0.0, "maxValue": 1.0},
                    {"parameterName": "units", "type": "CATEGORICAL",
                     "categoricalValues": ["a", "b"]},
                ],
            },
        },
    }  # fmt: skip
    try:
        bad = json.loads(json.dumps(body))
        bad["jobId"] = "tune_bad"
        bad["trainingInput"]["hyperparameters"]["params"][0]["minValue"] = 2.0
        refused = client.post(JOBS, json=bad)
        assert refused.status_code == 400
        assert "trainingInput.hyperparameters.params[0].minValue" in refused.text
        submitted = client.post(JOBS, json=body)
        assert submitted.status_code == 200, submitted.text
        job = _wait_final(client, "tune_api")
        assert job["state"] == "SUCCEEDED", job
        output = job["trainingOutput"]
        assert output["isHyperparameterTuningJob"] is True
        assert output["completedTrialCount"] == "3"
        # What the console's job page plots: each trial's id, parameters, final metric, state.
        trials = output["trials"]
        assert sorted(t["trialId"] for t in trials) == ["1", "2", "3"]
        for trial in trials:
            assert trial["state"] == "SUCCEEDED"
            assert set(trial["hyperparameters"]) == {"x", "units"}
            assert set(trial["finalMetric"]) == {"trainingStep", "objectiveValue"}
            assert trial["finalMetric"]["trainingStep"] == "300"
        values = [t["finalMetric"]["objectiveValue"] for t in trials]
        assert values == sorted(values)  # MINIMIZE: best first
        assert job["trainingInput"]["hyperparameters"]["maxTrials"] == 3
    finally:
        cleanup(JobManager(registry, home=tmp_path / "home"))
