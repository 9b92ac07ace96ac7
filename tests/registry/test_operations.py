"""ML Engine's long-running operations in the registry: creation and deletion settle from the
versions they follow, cancellation, listing a page at a time; version labels and request
logging settings."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from mlengine.errors import FailedPreconditionError, InvalidParameterError, NotFoundError
from mlengine.registry import OperationType, Registry, RequestLoggingConfig, VersionState
from tests.serving.helpers import gated_filesystem


@pytest.fixture
def gate() -> Iterator[object]:
    """``gatedfile://``: copies of weights wait until the gate is set (set again at the end)."""
    fs = gated_filesystem()
    fs.gate.clear()
    yield fs.gate
    fs.gate.set()


def test_create_version_operation_settles_when_ready(
    registry: Registry, export_dir: Path, gate: object
) -> None:
    registry.create_model("census")
    operation = registry.begin_create_version("census", "v1", f"gatedfile://{export_dir}")
    assert operation.id.startswith("create_census_v1-")
    assert operation.operation_type == OperationType.CREATE_VERSION
    assert not registry.get_operation(operation.id).done
    body = operation.to_json("p")
    assert body["name"] == f"projects/p/operations/{operation.id}"
    assert body["metadata"]["operationType"] == "CREATE_VERSION"
    assert body["metadata"]["version"] == {"name": "projects/p/models/census/versions/v1"}
    assert body["done"] is False and "response" not in body and "error" not in body
    gate.set()  # type: ignore[attr-defined]
    done = registry.wait_operation(operation.id, timeout=30, poll=0.05)
    assert done.done and done.error_code is None
    answer = done.to_json("p")
    assert answer["response"]["@type"] == "type.googleapis.com/google.cloud.ml.v1.Version"
    assert answer["response"]["name"] == "projects/p/models/census/versions/v1"
    assert answer["response"]["state"] == "READY"
    assert "endTime" in answer["metadata"]
    # Recorded once: a later read gives the same outcome, even after the version is gone.
    registry.delete_version("census", "v1")
    assert registry.get_operation(operation.id) == done


def test_cancel_a_creation(registry: Registry, export_dir: Path, gate: object) -> None:
    registry.create_model("census")
    operation = registry.begin_create_version("census", "v1", f"gatedfile://{export_dir}")
    cancelled = registry.cancel_operation(operation.id)
    assert cancelled.done and cancelled.cancel_requested
    assert cancelled.error_code == 1 and cancelled.to_json()["error"]["code"] == 1
    version = registry.get_version("census", "v1")
    assert version.state == VersionState.FAILED
    assert "cancelled" in (version.error_message or "")
    gate.set()  # type: ignore[attr-defined]
    registry.close()  # waits for the copy, which cannot mark the version READY any more
    assert registry.get_version("census", "v1").state == VersionState.FAILED
    # Cancelling a finished operation changes nothing.
    assert registry.cancel_operation(operation.id) == cancelled


def test_a_failed_creation_ends_with_its_reason(
    registry: Registry, make_export: Callable[[str], Path]
) -> None:
    registry.create_model("census")
    broken = make_export("broken")
    (broken / "variables" / "variables.safetensors").write_bytes(b"")  # fails when loaded
    operation = registry.begin_create_version("census", "v1", str(broken))
    done = registry.wait_operation(operation.id, timeout=30, poll=0.05)
    assert done.done and done.error_code == 3
    assert (done.error_message or "").startswith("Create Version failed:")
    assert "variables" in (done.error_message or "")
    assert done.to_json()["error"] == {"code": 3, "message": done.error_message}


def test_delete_version_operation(registry: Registry, export_dir: Path) -> None:
    registry.create_model("census")
    registry.create_version("census", "v1", str(export_dir))
    registry.create_version("census", "v2", str(export_dir))
    operation = registry.begin_delete_version("census", "v2")
    assert operation.operation_type == OperationType.DELETE_VERSION
    done = registry.wait_operation(operation.id, timeout=30, poll=0.05)
    assert done.done and done.to_json()["response"] == {
        "@type": "type.googleapis.com/google.protobuf.Empty"
    }
    assert [v.name for v in registry.list_versions("census")] == ["v1"]
    # The rules are checked before anything starts: the default cannot go while others
    # remain, and that is an error of the call, not a failed operation.
    registry.create_version("census", "v3", str(export_dir))
    with pytest.raises(FailedPreconditionError, match="default version"):
        registry.begin_delete_version("census", "v1")


def test_list_a_page_at_a_time_and_unknown_ids(registry: Registry) -> None:
    registry.create_model("census", description="a")
    ids = [
        registry.record_operation(OperationType.UPDATE_MODEL, "census", response={"name": "c"}).id
        for _ in range(3)
    ]
    assert len(set(ids)) == 3  # unique, even within one millisecond
    first, token = registry.list_operations(page_size=2)
    assert [o.id for o in first] == ids[:2] and token is not None
    second, last = registry.list_operations(page_size=2, page_token=token)
    assert [o.id for o in second] == ids[2:] and last is None
    with pytest.raises(NotFoundError, match="Operation \\(name=create_x-1\\) not found"):
        registry.get_operation("create_x-1")
    with pytest.raises(InvalidParameterError, match="Invalid operation id"):
        registry.get_operation("../etc")
    with pytest.raises(InvalidParameterError, match="pageToken"):
        registry.list_operations(page_token="garbage")
    with pytest.raises(InvalidParameterError, match="pageSize"):
        registry.list_operations(page_size=1000)


def test_version_labels(registry: Registry, export_dir: Path) -> None:
    registry.create_model("census")
    registry.create_version("census", "v1", str(export_dir))
    registry.create_version("census", "v2", str(export_dir))
    model = registry.set_version_label("census", "stable", "v1")
    registry.set_version_label("census", "canary", 2)
    assert registry.get_model("census").version_labels == {"stable": 1, "canary": 2}
    assert model.to_json()["versionLabels"] == {"stable": "1"}
    assert registry.labelled_version("census", "canary") == 2
    with pytest.raises(FailedPreconditionError, match="labelled \\['canary'\\]"):
        registry.delete_version("census", "v2")
    registry.remove_version_label("census", "canary")
    registry.delete_version("census", "v2")
    with pytest.raises(NotFoundError, match="no version label 'canary'"):
        registry.labelled_version("census", "canary")
    with pytest.raises(InvalidParameterError, match="Invalid version label"):
        registry.set_version_label("census", "../x", "v1")


def test_request_logging_settings(registry: Registry, export_dir: Path) -> None:
    registry.create_model("census")
    registry.create_version("census", "v1", str(export_dir))
    config = RequestLoggingConfig.from_json(
        {"samplingPercentage": 0.5, "destination": "memory://logs"}, "model census"
    )
    model = registry.update_model("census", online_prediction_logging=True, request_logging=config)
    version = registry.get_version("census", "v1")
    assert model.logging_for(version) == config
    assert model.to_json()["requestLoggingConfig"]["samplingPercentage"] == 0.5
    own = RequestLoggingConfig(1.0, "memory://v1", "PARQUET")
    version = registry.update_version("census", "v1", request_logging=own)
    assert version.to_json()["requestLoggingConfig"]["format"] == "PARQUET"
    assert registry.get_model("census").logging_for(version) == own
    model = registry.update_model("census", online_prediction_logging=False)
    assert model.logging_for(version) is None


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        ({"bigqueryTableName": "p.d.t"}, "BigQuery"),
        ({"samplingPercentage": 2}, "fraction from 0 to 1"),
        ({"samplingPercentage": "all"}, "a number"),
        ({"format": "CSV"}, "'format'"),
        ({"rollBytes": 10}, "'rollBytes'"),
        ({"destination": ""}, "'destination'"),
        ({"sampling": 1}, "Unknown field"),
    ],
)
def test_request_logging_config_errors_name_the_field(data: object, needle: str) -> None:
    with pytest.raises(InvalidParameterError, match=needle):
        RequestLoggingConfig.from_json(data, "model census")
