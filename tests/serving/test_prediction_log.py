"""Online prediction logging: off by default; a model's onlinePredictionLogging and
requestLoggingConfig (set through models.patch) write sampled records to JSONL or Parquet files
under an fsspec URL; a destination the server may not or cannot write is a 400; one that fails
later drops records and counts them, never failing a prediction."""

from __future__ import annotations

import json
import shutil
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from mlengine.registry import RequestLoggingConfig
from mlengine.serving.prediction_log import PredictionLogger, Record
from tests.serving import helpers as h
from tests.serving.test_v2_binary import binary_body

BASE = "/v1/projects/local/models"


def enable(client: Any, destination: Path | str, **config: Any) -> Any:
    body = {
        "onlinePredictionLogging": True,
        "requestLoggingConfig": {"samplingPercentage": 1.0, "destination": str(destination)},
    }
    body["requestLoggingConfig"].update(config)
    return client.patch(
        f"{BASE}/census?updateMask=onlinePredictionLogging,requestLoggingConfig", json=body
    )


def records(folder: Path, pattern: str = "*.jsonl") -> list[dict[str, Any]]:
    return [
        json.loads(line)
        for path in sorted(folder.rglob(pattern))
        for line in path.read_text().splitlines()
    ]


def logged_count(client: Any, outcome: str) -> float:
    for line in client.get("/metrics").text.splitlines():
        if line.startswith(f'mlengine_prediction_log_records_total{{outcome="{outcome}"}}'):
            return float(line.split()[-1])
    return 0.0


def test_records_of_every_protocol_in_jsonl(
    make_client: Any, tmp_path: Path, instances: list[dict[str, Any]]
) -> None:
    logs = tmp_path / "logs"
    client = make_client(allowed_log_destinations=(str(tmp_path),))
    assert client.post(f"{BASE}/census:predict", json={"instances": instances}).status_code == 200
    assert not logs.exists()  # off by default
    patched = enable(client, logs)
    assert patched.status_code == 200, patched.text
    model = client.get(f"{BASE}/census").json()
    assert model["onlinePredictionLogging"] is True
    assert model["requestLoggingConfig"]["destination"] == str(logs)

    def logging_on() -> bool:  # the server reads the settings at its next poll
        client.post(f"{BASE}/census:predict", json={"instances": instances[:1]})
        return bool(records(logs))

    h.wait_until(logging_on, timeout=10)
    answer = client.post(f"{BASE}/census:predict", json={"instances": instances}).json()
    body, length = binary_body(instances)
    infer = client.post(
        "/v2/models/census/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(length)},
    )
    assert infer.status_code == 200

    def new_records() -> list[dict[str, Any]] | None:
        # (the probes above log one instance each; these two requests log three)
        found = [r for r in records(logs) if len(r["request"]["instances"]) == len(instances)]
        return found if len(found) == 2 else None

    v1, v2 = h.wait_until(new_records, timeout=10)
    assert (v1["model"], v1["version"], v1["versionNumber"]) == ("census", "v1", 1)
    assert v1["protocol"] == "mlengine_v1" and v2["protocol"] == "v2"
    assert v1["latencyMs"] > 0 and v1["time"].endswith("Z")
    assert v1["request"] == {"instances": instances}
    assert v1["response"] == {"predictions": answer["predictions"]}
    # Binary tensors are logged as the instances the server read from them.
    assert [row["education"] for row in v2["request"]["instances"]] == [
        i["education"] for i in instances
    ]
    assert logged_count(client, "written") >= 3
    [path] = {p.parent.parent.name for p in logs.rglob("*.jsonl")}
    assert path == "v1"  # <destination>/<model>/<version>/<day>/<file>


def test_parquet_files_roll(
    make_client: Any, tmp_path: Path, instances: list[dict[str, Any]]
) -> None:
    import pyarrow.parquet as pq

    logs = tmp_path / "logs"
    client = make_client(allowed_log_destinations=(str(tmp_path),))
    assert enable(client, logs, format="PARQUET", rollIntervalSeconds=1).status_code == 200

    def written() -> list[Path]:
        client.post(f"{BASE}/census:predict", json={"instances": instances})
        return sorted(logs.rglob("*.parquet"))

    files = h.wait_until(written, timeout=15, interval=0.2)
    table = pq.read_table(files[0])
    assert {"time", "model", "version", "protocol", "latencyMs", "request", "response"} <= set(
        table.column_names
    )
    row = table.to_pylist()[0]
    assert json.loads(row["request"]) == {"instances": instances}


def test_destinations_the_server_may_not_or_cannot_write(make_client: Any, tmp_path: Path) -> None:
    client = make_client(allowed_log_destinations=(str(tmp_path / "allowed"),))
    refused = enable(client, tmp_path / "elsewhere")
    assert refused.status_code == 400
    assert "not under an allowed prefix" in refused.json()["error"]["message"]
    blocker = tmp_path / "allowed"
    blocker.write_text("a file, not a folder")
    broken = enable(client, blocker / "logs")
    assert broken.status_code == 400, broken.text
    error = broken.json()["error"]
    assert error["status"] == "FAILED_PRECONDITION" and "cannot be written" in error["message"]
    assert str(tmp_path) not in error["message"]  # paths are scrubbed
    bad = enable(client, tmp_path / "allowed" / "x", samplingPercentage=3)
    assert bad.status_code == 400 and "samplingPercentage" in bad.json()["error"]["message"]
    assert client.get(f"{BASE}/census").json().get("onlinePredictionLogging") is None


def test_a_failing_destination_drops_and_counts(
    make_client: Any, tmp_path: Path, instances: list[dict[str, Any]]
) -> None:
    logs = tmp_path / "logs"
    client = make_client(allowed_log_destinations=(str(tmp_path),))
    assert enable(client, logs, rollIntervalSeconds=1).status_code == 200

    def logging_on() -> bool:
        client.post(f"{BASE}/census:predict", json={"instances": instances[:1]})
        return bool(records(logs))

    h.wait_until(logging_on, timeout=10)
    shutil.rmtree(logs)
    logs.write_text("the destination is now a file")  # the next file (after a roll) fails

    def dropped() -> bool:
        answer = client.post(f"{BASE}/census:predict", json={"instances": instances})
        assert answer.status_code == 200  # a prediction never fails for its log
        return logged_count(client, "dropped_write_failed") >= 1

    h.wait_until(dropped, timeout=15, interval=0.2)
    assert client.get("/v2/health/ready").status_code == 200


def test_a_full_queue_drops_and_counts() -> None:
    counted: Counter[str] = Counter()
    logger = PredictionLogger(lambda outcome, n: counted.update({outcome: n}), queue_records=2)
    config = RequestLoggingConfig(1.0, "memory://never-written")
    record = Record(config, "m", "v1", 1, "v2", 0.001, 0.0, {"a": [1]}, {})
    for _ in range(5):  # the writer is not started: nothing drains the queue
        logger.offer(record)
    assert counted == {"dropped_queue_full": 3}


@pytest.mark.parametrize("sampling", [0.0, 1.0])
def test_sampling_takes_none_or_all(sampling: float) -> None:
    counted: Counter[str] = Counter()
    logger = PredictionLogger(lambda outcome, n: counted.update({outcome: n}), queue_records=1)
    record = Record(
        RequestLoggingConfig(sampling, "memory://x"), "m", "v", 1, "p", 0.0, 0.0, {"a": [1]}, {}
    )
    for _ in range(3):
        logger.offer(record)
    assert counted["dropped_queue_full"] == (2 if sampling == 1.0 else 0)
