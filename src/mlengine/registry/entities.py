"""The registry's plain values: RegisteredModel, ModelVersion, VersionState and Operation.

Database rows become these frozen dataclasses before the connection closes (as mlflow's
``to_mlflow_entity``), so nothing outside :mod:`mlengine.registry.store` sees SQLAlchemy.
``to_json()`` gives ML Engine's camelCase fields, which the REST server and the CLI's
``--format json`` both print; like ML Engine's JSON it leaves out fields that have no value.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from mlengine.registry.prediction_logging import RequestLoggingConfig


class VersionState(enum.StrEnum):
    """The life cycle of a version, with ML Engine's state names.

    ``CREATING`` while its export is copied and checked, ``READY`` once it can serve, ``FAILED``
    when the copy or the check failed (``error_message`` says why), ``DELETING`` while its files
    are removed.
    """

    CREATING = "CREATING"
    READY = "READY"
    FAILED = "FAILED"
    DELETING = "DELETING"


def format_time(value: datetime | None) -> str | None:
    """RFC 3339 in UTC with a ``Z``, as Google APIs print timestamps; ``None`` stays ``None``."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _prune(data: dict[str, Any]) -> dict[str, Any]:
    """Drop fields without a value (``None``, empty text or mapping), as ML Engine's JSON does."""
    return {key: value for key, value in data.items() if value not in (None, "", {})}


@dataclass(frozen=True)
class ModelVersion:
    """One version of a model: an immutable copy of an export plus its bookkeeping.

    Attributes:
        model: the model's name.
        name: the version's name (``v1``, ``vCMD2``).
        number: 1, 2, ... per model, never reused.
        origin: where the export was copied from (ML Engine's ``deploymentUri``).
        path: the copy's location relative to the artifact root (``census/3``).
        state: see :class:`VersionState`.
        is_default: whether it serves requests that name only the model.
        create_time, last_use_time: UTC times; ``last_use_time`` is ``None`` until a prediction.
        error_message: why it FAILED.
        signature, metrics: copied from the export's ``saved_model.json`` once READY.
    """

    model: str
    name: str
    number: int
    origin: str
    path: str
    state: VersionState
    is_default: bool
    create_time: datetime
    last_use_time: datetime | None = None
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    error_message: str | None = None
    signature: dict[str, Any] | None = None
    metrics: dict[str, Any] | None = None
    request_logging: RequestLoggingConfig | None = None

    def to_json(self, project: str | None = None) -> dict[str, Any]:
        """ML Engine's Version resource; with ``project``, ``name`` is the full resource name."""
        name = self.name
        if project is not None:
            name = f"projects/{project}/models/{self.model}/versions/{self.name}"
        logging = None if self.request_logging is None else self.request_logging.to_json()
        return _prune(
            {
                "name": name,
                "number": self.number,
                "description": self.description,
                "labels": self.labels,
                "deploymentUri": self.origin,
                "storagePath": self.path,
                "state": self.state.value,
                "isDefault": self.is_default,
                "createTime": format_time(self.create_time),
                "lastUseTime": format_time(self.last_use_time),
                "errorMessage": self.error_message,
                "signature": self.signature,
                "metrics": self.metrics,
                "requestLoggingConfig": logging,
            }
        )


@dataclass(frozen=True)
class RegisteredModel:
    """A named container of versions, one of which (once READY) is the default.

    Attributes:
        name: the model's name.
        create_time: UTC time of creation.
        default_version: the version that serves requests naming only the model, or ``None``
            before the first version is READY.
        description, labels: free text and ML Engine labels.
        online_prediction_logging: ML Engine's switch of request logging.
        request_logging: the request logging of its versions (a version's own wins).
        version_labels: TF Serving's version labels: label → version number.
    """

    name: str
    create_time: datetime
    default_version: ModelVersion | None = None
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    online_prediction_logging: bool = False
    request_logging: RequestLoggingConfig | None = None
    version_labels: dict[str, int] = field(default_factory=dict)

    def to_json(self, project: str | None = None) -> dict[str, Any]:
        """ML Engine's Model resource; ``defaultVersion`` is a full Version, as ML Engine's.
        ``requestLoggingConfig`` and ``versionLabels`` are mlengine's."""
        name = self.name if project is None else f"projects/{project}/models/{self.name}"
        default = None if self.default_version is None else self.default_version.to_json(project)
        logging = None if self.request_logging is None else self.request_logging.to_json()
        return _prune(
            {
                "name": name,
                "description": self.description,
                "labels": self.labels,
                "createTime": format_time(self.create_time),
                "defaultVersion": default,
                "onlinePredictionLogging": self.online_prediction_logging or None,
                "requestLoggingConfig": logging,
                "versionLabels": {k: str(v) for k, v in self.version_labels.items()},
            }
        )

    def logging_for(self, version: ModelVersion) -> RequestLoggingConfig | None:
        """The request logging in force for one of its versions (None: off)."""
        if not self.online_prediction_logging:
            return None
        config = version.request_logging or self.request_logging
        return config if config is not None and config.active else None


class OperationType(enum.StrEnum):
    """ML Engine's operation types (OperationMetadata.operationType)."""

    CREATE_VERSION = "CREATE_VERSION"
    DELETE_VERSION = "DELETE_VERSION"
    DELETE_MODEL = "DELETE_MODEL"
    UPDATE_MODEL = "UPDATE_MODEL"
    UPDATE_VERSION = "UPDATE_VERSION"


OPERATION_METADATA_TYPE = "type.googleapis.com/google.cloud.ml.v1.OperationMetadata"
_RESPONSE_TYPES = {
    OperationType.CREATE_VERSION: "type.googleapis.com/google.cloud.ml.v1.Version",
    OperationType.UPDATE_VERSION: "type.googleapis.com/google.cloud.ml.v1.Version",
    OperationType.UPDATE_MODEL: "type.googleapis.com/google.cloud.ml.v1.Model",
}
_EMPTY_TYPE = "type.googleapis.com/google.protobuf.Empty"


@dataclass(frozen=True)
class Operation:
    """One of ML Engine's long-running operations: a version's creation or deletion, a model's
    deletion, an update.

    Attributes:
        id: the id in ``projects/{p}/operations/{id}`` (``create_census_v1-1764130000123``).
        operation_type: what it does.
        model, version: what it acts on (``version``: the version's name, when one).
        create_time, end_time: when it began and, once done, ended (UTC).
        done: whether it has finished; then ``error_code`` and ``error_message`` say why it
            failed (google.rpc codes: 1 = CANCELLED), else ``response`` holds the result.
        cancel_requested: whether a client asked to cancel it.
    """

    id: str
    operation_type: OperationType
    model: str
    version: str | None
    create_time: datetime
    end_time: datetime | None
    done: bool
    cancel_requested: bool = False
    error_code: int | None = None
    error_message: str | None = None
    response: dict[str, Any] | None = None

    def to_json(self, project: str = "local") -> dict[str, Any]:
        """ML Engine's Operation (``name``, ``metadata``, ``done``, ``response`` or
        ``error``); names inside are full resource names under ``project``."""
        model_name = f"projects/{project}/models/{self.model}"
        metadata: dict[str, Any] = {
            "@type": OPERATION_METADATA_TYPE,
            "createTime": format_time(self.create_time),
            "startTime": format_time(self.create_time),
            "operationType": self.operation_type.value,
            "modelName": model_name,
            "isCancellationRequested": self.cancel_requested,
        }
        if self.end_time is not None:
            metadata["endTime"] = format_time(self.end_time)
        if self.version is not None:
            metadata["version"] = {"name": f"{model_name}/versions/{self.version}"}
        answer: dict[str, Any] = {
            "name": f"projects/{project}/operations/{self.id}",
            "metadata": metadata,
            "done": self.done,
        }
        if not self.done:
            return answer
        if self.error_code is not None:
            answer["error"] = {"code": self.error_code, "message": self.error_message or ""}
            return answer
        response = dict(self.response or {})
        kind = _RESPONSE_TYPES.get(self.operation_type)
        if kind is None:
            answer["response"] = {"@type": _EMPTY_TYPE}
            return answer
        if "name" in response:
            name = model_name
            if self.operation_type != OperationType.UPDATE_MODEL:
                name = f"{model_name}/versions/{response['name']}"
            response["name"] = name
        answer["response"] = {"@type": kind, **response}
        return answer


Model = RegisteredModel  # its name until issue 18 (``mlengine.registry.Model``), kept working

__all__ = [
    "OPERATION_METADATA_TYPE",
    "Model",
    "ModelVersion",
    "Operation",
    "OperationType",
    "RegisteredModel",
    "VersionState",
    "format_time",
]
