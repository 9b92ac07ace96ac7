"""Queries shared by the registry's operations, rows → entities, and dead-worker detection.

Kept apart from :mod:`mlengine.registry.store` so the store reads as the list of rules.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from mlengine.errors import AlreadyExistsError, NotFoundError
from mlengine.registry.entities import ModelVersion, RegisteredModel, VersionState
from mlengine.registry.migrations import model_settings_table as settings
from mlengine.registry.migrations import models_table as models
from mlengine.registry.migrations import versions_table as versions
from mlengine.registry.prediction_logging import RequestLoggingConfig

# This process's identity in the `worker` column: host, pid, and a token that tells this
# process from an earlier one that had the same pid (a restarted container keeps its hostname).
_HOST = socket.gethostname()
_TOKEN = uuid.uuid4().hex[:12]


def worker_id() -> str:
    """``host:pid:token`` of the current process (the pid is read now, so a fork differs)."""
    return f"{_HOST}:{os.getpid()}:{_TOKEN}"


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    except OSError:
        return False
    return True


def is_stale(
    worker: str | None, heartbeat: datetime | None, stale_after: timedelta, now: datetime
) -> bool:
    """Whether a CREATING/DELETING row's worker is gone.

    On the same host the answer is exact: the worker is this process, or its pid is alive, or
    it is dead. From another host only silence tells: no heartbeat for ``stale_after``.
    """
    if heartbeat is None or now - heartbeat > stale_after:
        return True
    if worker is None:
        return True
    host, _, rest = worker.partition(":")
    pid_text, _, token = rest.partition(":")
    if host != _HOST or not pid_text.isdigit():
        return False
    pid = int(pid_text)
    if pid == os.getpid():
        return token != _TOKEN
    return not _pid_alive(pid)


def version_select() -> sa.Select[Any]:
    """Versions joined with their model's name, default number and logging settings."""
    return (
        sa.select(
            versions,
            models.c.name.label("model_name"),
            models.c.default_version_number,
            settings.c.logging.label("model_logging"),
        )
        .join(models, models.c.id == versions.c.model_id)
        .outerjoin(settings, settings.c.model_id == versions.c.model_id)
    )


def version_filter(ref: str | int) -> sa.ColumnElement[bool]:
    """The WHERE clause for a version named or numbered ``ref``."""
    return versions.c.number == ref if isinstance(ref, int) else versions.c.name == ref


def to_version(row: Row[Any]) -> ModelVersion:
    """A joined version row (see :func:`version_select`) as a :class:`ModelVersion`."""
    m = row._mapping
    return ModelVersion(
        model=m["model_name"],
        name=m["name"],
        number=m["number"],
        origin=m["origin"],
        path=m["path"],
        state=VersionState(m["state"]),
        is_default=m["default_version_number"] == m["number"],
        create_time=m["create_time"],
        last_use_time=m["last_use_time"],
        description=m["description"],
        labels=dict(m["labels"] or {}),
        error_message=m["error_message"],
        signature=m["signature"],
        metrics=m["metrics"],
        request_logging=_logging_config(
            ((m["model_logging"] or {}).get("versions") or {}).get(str(m["number"])),
            f"version {m['name']} of model {m['model_name']}",
        ),
    )


def _logging_config(data: Any, owner: str) -> RequestLoggingConfig | None:
    return None if data is None else RequestLoggingConfig.from_json(data, owner)


def to_model(
    row: Row[Any], default: ModelVersion | None, extra: Row[Any] | None = None
) -> RegisteredModel:
    """A model row as a :class:`RegisteredModel` with its default version and its settings
    row (see :func:`model_settings`)."""
    m = row._mapping
    logging = (extra.logging if extra is not None else None) or {}
    labels = (extra.version_labels if extra is not None else None) or {}
    return RegisteredModel(
        name=m["name"],
        create_time=m["create_time"],
        default_version=default,
        description=m["description"],
        labels=dict(m["labels"] or {}),
        online_prediction_logging=bool(logging.get("onlinePredictionLogging")),
        request_logging=_logging_config(logging.get("requestLoggingConfig"), f"model {m['name']}"),
        version_labels={str(k): int(v) for k, v in labels.items()},
    )


def model_settings(conn: Connection, model_ids: list[int] | None = None) -> dict[int, Row[Any]]:
    """The settings row of each model that has one (all models, or those listed), by id."""
    query = sa.select(settings)
    if model_ids is not None:
        query = query.where(settings.c.model_id.in_(model_ids))
    return {row.model_id: row for row in conn.execute(query)}


def settings_of(conn: Connection, model_id: int) -> tuple[dict[str, Any], dict[str, int]]:
    """Copies of a model's logging settings and version labels (empty when it has none), to
    read or to change and write back with :func:`write_settings`."""
    extra = model_settings(conn, [model_id]).get(model_id)
    if extra is None:
        return {}, {}
    labels = {str(k): int(v) for k, v in (extra.version_labels or {}).items()}
    return dict(extra.logging or {}), labels


def write_settings(conn: Connection, model_id: int, **values: Any) -> None:
    """Set columns of a model's settings row, creating it if it has none."""
    found = conn.execute(sa.select(settings.c.model_id).where(settings.c.model_id == model_id))
    if found.first() is None:
        conn.execute(settings.insert().values(model_id=model_id, **values))
    else:
        conn.execute(settings.update().where(settings.c.model_id == model_id).values(**values))


def model_not_found(name: str) -> NotFoundError:
    return NotFoundError(f"Model (name={name}) not found.")


def version_not_found(model: str, ref: str | int) -> NotFoundError:
    return NotFoundError(f"Model version (name={model}, version={ref}) not found.")


def model_row(conn: Connection, name: str, for_update: bool = False) -> Row[Any]:
    """The model's row (locked for the transaction on PostgreSQL when ``for_update``)."""
    query = sa.select(models).where(models.c.name == name)
    if for_update:
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise model_not_found(name)
    return row


def version_row(conn: Connection, model: str, ref: str | int) -> Row[Any]:
    """A version's joined row; the error says whether the model or the version is missing."""
    row = conn.execute(
        version_select().where(models.c.name == model).where(version_filter(ref))
    ).first()
    if row is None:
        model_row(conn, model)
        raise version_not_found(model, ref)
    return row


def model_id(model: str) -> sa.ScalarSelect[Any]:
    """A subquery for the id of the model named ``model``."""
    return sa.select(models.c.id).where(models.c.name == model).scalar_subquery()


def ensure_model_absent(conn: Connection, name: str) -> None:
    """Raise if a model of that name exists, or one differing only in case."""
    existing = conn.execute(
        sa.select(models.c.name).where(models.c.name_key == name.lower())
    ).scalar()
    if existing == name:
        raise AlreadyExistsError(f"Model (name={name}) already exists.")
    if existing is not None:
        raise AlreadyExistsError(
            f"Model (name={name}) conflicts with the existing model {existing}: model names are "
            "compared ignoring case, as they name folders."
        )


def touch(conn: Connection, model: str, ref: str | int, when: datetime) -> int:
    """Move a version's last-use time forward to ``when`` (never back); returns rows changed."""
    last = versions.c.last_use_time
    return conn.execute(
        versions.update()
        .where(versions.c.model_id == model_id(model), version_filter(ref))
        .where(sa.or_(last.is_(None), last < when))
        .values(last_use_time=when)
    ).rowcount


def default_versions(conn: Connection, model_ids: list[int] | None = None) -> dict[int, Row[Any]]:
    """The default version row of each model (all models, or those listed), by model id."""
    query = version_select().where(versions.c.number == models.c.default_version_number)
    if model_ids is not None:
        query = query.where(versions.c.model_id.in_(model_ids))
    return {row._mapping["model_id"]: row for row in conn.execute(query)}


__all__ = [
    "default_versions",
    "ensure_model_absent",
    "model_id",
    "touch",
    "is_stale",
    "model_not_found",
    "model_row",
    "model_settings",
    "settings_of",
    "to_model",
    "to_version",
    "version_filter",
    "version_not_found",
    "version_row",
    "version_select",
    "worker_id",
    "write_settings",
]
