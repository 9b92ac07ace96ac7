"""The model manager over HTTP: defaults switched while requests flow (none lost, picked up
within 2 s), versions that fail to load, the LRU limit, deleted versions, last-use times."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

from mlengine.export import load
from mlengine.registry import Registry
from mlengine.serving import ServeSettings
from tests.serving import helpers as h

PREDICT = "/v1/projects/local/models/census:predict"
PICKUP_LIMIT = 2.0  # seconds, as the issue promises
SLACK = 5.0  # generous: a loaded 2-core machine can stall a process for seconds


def _corrupt(registry: Registry, version: str) -> None:
    """Overwrite a registered version's weights with garbage (it no longer loads)."""
    path = Path(registry.export_dir("census", version)) / "variables" / "variables.safetensors"
    path.write_bytes(b"not a safetensors file")


def test_default_switch_loses_no_request(
    make_client: Any,
    registry: Registry,
    exports: dict[str, Path],
    instances: list[dict[str, Any]],
    tmp_path: Path,
) -> None:
    """Request loops in 4 threads while the default flips between v1 and v2 through the
    registry (as ``mlengine versions set-default`` does, from another connection)."""
    expected = {name: h.expected(exports[name], instances) for name in ("v1", "v2")}
    client = make_client(poll_interval=ServeSettings().poll_interval)
    answers: list[tuple[float, str]] = []
    failures: list[str] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            response = client.post(PREDICT, json={"instances": instances})
            if response.status_code != 200:
                failures.append(f"{response.status_code} {response.text}")
                continue
            got = response.json()["predictions"]
            which = next((name for name, want in expected.items() if want.matches(got)), None)
            if which is None:
                failures.append(f"unexpected answer {got}")
            else:
                answers.append((time.monotonic(), which))

    threads = [threading.Thread(target=loop) for _ in range(4)]
    for thread in threads:
        thread.start()
    flips: list[tuple[float, str]] = []
    try:
        with Registry(registry.database_url, registry.artifact_root) as cli_registry:
            for target in ("v2", "v1", "v2", "v1"):
                cli_registry.set_default_version("census", target)
                flips.append((time.monotonic(), target))
                deadline = time.monotonic() + PICKUP_LIMIT + SLACK
                while not any(t > flips[-1][0] and n == target for t, n in answers[-50:]):
                    assert time.monotonic() < deadline, f"{target} not served in time"
                    time.sleep(0.01)
                time.sleep(0.2)
    finally:
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    assert failures == []
    assert {name for _, name in answers} == {"v1", "v2"}
    for (flipped, target), (following, _) in zip(
        flips, [*flips[1:], (float("inf"), "")], strict=True
    ):
        first = min(t for t, name in answers if flipped < t < following and name == target)
        assert first - flipped <= PICKUP_LIMIT + SLACK


def test_failed_default_keeps_the_previous_one_serving(
    fresh: Any, registry: Registry, instances: list[dict[str, Any]]
) -> None:
    before = fresh.post(PREDICT, json={"instances": instances}).json()
    _corrupt(registry, "v2")
    registry.set_default_version("census", "v2")

    def reported() -> Any:
        status = fresh.get("/v1/models/census").json()["model_version_status"]
        return status[1]["state"] == "END" and status[1]

    failed = h.wait_until(reported, timeout=10)
    assert failed["status"]["error_code"] == "UNAVAILABLE"
    message = failed["status"]["error_message"]
    assert "failed to load" in message and "version=v2" in message
    assert str(registry.artifact_root) not in message and "<path>: variables/" in message
    # v1 still serves the model; v2 itself answers 503, and its readiness is false.
    assert fresh.post(PREDICT, json={"instances": instances}).json() == before
    response = fresh.post(
        "/v1/projects/local/models/census/versions/v2:predict", json={"instances": instances}
    )
    assert response.status_code == 503 and "failed to load" in response.json()["error"]
    assert fresh.get("/v2/models/census/versions/2/ready").status_code == 503
    assert fresh.get("/v2/health/live").status_code == 200
    assert (
        'mlengine_version_load_failures_total{model="census",version="v2"}'
        in fresh.get("/metrics").text
    )


def test_broken_default_at_start_does_not_take_the_server_down(
    make_client: Any, registry: Registry, instances: list[dict[str, Any]]
) -> None:
    _corrupt(registry, "v1")
    client = make_client()
    assert client.get("/v2/health/ready").status_code == 200
    response = client.post(PREDICT, json={"instances": instances})
    assert response.status_code == 503
    assert set(response.json()) == {"error"}
    status = client.get("/v1/models/census/versions/1").json()["model_version_status"][0]
    assert status["state"] == "END"
    other = client.post("/v1/projects/local/models/multi:predict", json={"instances": instances})
    assert other.status_code == 200
    assert (
        client.post(
            "/v1/projects/local/models/census/versions/v2:predict", json={"instances": instances}
        ).status_code
        == 200
    )


def test_at_most_n_versions_stay_loaded(
    make_client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    client = make_client(max_loaded_versions=2)
    manager = client.app.state.manager
    base = "/v1/projects/local/models"
    assert len(manager.loaded_keys()) == 2  # defaults loaded at start, up to the limit
    for path in (
        f"{base}/census/versions/v2:predict",
        f"{base}/reg:predict",
        f"{base}/multi:predict",
    ):
        assert client.post(path, json={"instances": instances}).status_code == 200
        assert len(manager.loaded_keys()) <= 2
    assert manager.loaded_keys() == [("reg", 1), ("multi", 1)]
    # An evicted version loads again on demand.
    expected = load(exports["v2"]).predict_instances(instances)
    answer = client.post(f"{base}/census/versions/v2:predict", json={"instances": instances})
    assert answer.json()["predictions"] == expected
    assert manager.loaded_keys() == [("multi", 1), ("census", 2)]
    assert "mlengine_loaded_versions 2.0" in client.get("/metrics").text


def test_deleted_version_is_dropped(
    fresh: Any, registry: Registry, instances: list[dict[str, Any]]
) -> None:
    url = "/v1/projects/local/models/census/versions/v2:predict"
    assert fresh.post(url, json={"instances": instances}).status_code == 200
    manager = fresh.app.state.manager
    assert ("census", 2) in manager.loaded_keys()
    registry.delete_version("census", "v2")
    h.wait_until(lambda: ("census", 2) not in manager.loaded_keys(), timeout=5)
    assert fresh.post(url, json={"instances": instances}).status_code == 404


def test_new_models_are_served_without_restart(
    fresh: Any, registry: Registry, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    registry.create_model("late")
    registry.create_version("late", "first", str(exports["v2"]))
    answer = fresh.post("/v1/projects/local/models/late:predict", json={"instances": instances})
    assert answer.json()["predictions"] == load(exports["v2"]).predict_instances(instances)


def test_last_use_times_are_written_in_batches(
    make_client: Any, registry: Registry, instances: list[dict[str, Any]], monkeypatch: Any
) -> None:
    calls: list[int] = []
    touch_many = registry.touch_many

    def counting(uses: Any) -> int:
        uses = list(uses)
        calls.append(len(uses))
        return touch_many(uses)

    monkeypatch.setattr(registry, "touch_many", counting)
    assert registry.get_version("census", "v1").last_use_time is None
    client = make_client(touch_interval=60.0)
    for _ in range(30):
        assert client.post(PREDICT, json={"instances": instances}).status_code == 200
    client.post(
        "/v1/projects/local/models/census/versions/v2:predict", json={"instances": instances}
    )
    assert calls == []  # no database write per request
    client.close()  # shutdown writes what was collected, in one transaction
    assert calls == [2]
    assert registry.get_version("census", "v1").last_use_time is not None
    assert registry.get_version("census", "v2").last_use_time is not None
