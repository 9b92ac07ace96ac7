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
