"""The registry's plain values: RegisteredModel, ModelVersion and VersionState.

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

    def to_json(self, project: str | None = None) -> dict[str, Any]:
        """ML Engine's Version resource; with ``project``, ``name`` is the full resource name."""
        name = self.name
        if project is not None:
            name = f"projects/{project}/models/{self.model}/versions/{self.name}"
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
    """

    name: str
    create_time: datetime
    default_version: ModelVersion | None = None
    description: str | None = None
    labels: dict[str, str] = field(default_factory=dict)

    def to_json(self, project: str | None = None) -> dict[str, Any]:
        """ML Engine's Model resource; ``defaultVersion`` is a full Version, as ML Engine's."""
        name = self.name if project is None else f"projects/{project}/models/{self.name}"
        default = None if self.default_version is None else self.default_version.to_json(project)
        return _prune(
            {
                "name": name,
                "description": self.description,
                "labels": self.labels,
                "createTime": format_time(self.create_time),
                "defaultVersion": default,
            }
        )


Model = RegisteredModel  # its name until issue 18 (``mlengine.registry.Model``), kept working

__all__ = ["Model", "ModelVersion", "RegisteredModel", "VersionState", "format_time"]
