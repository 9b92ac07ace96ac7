"""A version's life between rows and files: numbering, building, failing, deleting, recovering.

:class:`Lifecycle` is the part of the registry that must stay right when processes die:

* :meth:`Lifecycle.insert` gives a new CREATING row the model's next number (the per-model
  counter only grows, so numbers are never reused) inside one write transaction;
* :meth:`Lifecycle.build` copies and loads the files outside any transaction, then marks the
  row READY (and the model's default if it has none) or FAILED with the reason;
* every CREATING/DELETING row names its worker and carries a heartbeat, and :meth:`reap`
  settles the rows of dead workers: CREATING → FAILED with its files removed, DELETING →
  finished;
* :meth:`collect_garbage` removes folders no row accounts for.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from mlengine.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    MLEngineError,
    RegistryError,
    scrub,
)
from mlengine.registry import queries
from mlengine.registry.artifacts import STAGING_PREFIX, ArtifactStore, relative_path
from mlengine.registry.db import Database, RetryableConflict
from mlengine.registry.entities import VersionState
from mlengine.registry.migrations import models_table as models
from mlengine.registry.migrations import versions_table as versions

log = logging.getLogger(__name__)

HEARTBEAT_INTERVAL = timedelta(seconds=30)
BUSY_STATES = (VersionState.CREATING.value, VersionState.DELETING.value)


def now() -> datetime:
    """The current time, in UTC (every registry timestamp is)."""
    return datetime.now(UTC)


def label(model: str, version: str | int) -> str:
    """How messages name a version (as mlflow's: ``Model version (name=m, version=v)``)."""
    return f"Model version (name={model}, version={version})"


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or type(error).__name__
    return text if len(text) <= 2000 else text[:1997] + "..."


def _where_version(model: str, number: int) -> sa.ColumnElement[bool]:
    return sa.and_(versions.c.model_id == queries.model_id(model), versions.c.number == number)


def quietly(action: Callable[..., object], *args: object) -> None:
    """Best-effort cleanup: log, never raise (the row's state already tells the truth)."""
    try:
        action(*args)
    except Exception:
        log.warning("registry cleanup %s%s failed", action, args, exc_info=True)


class Lifecycle:
    """Creation, failure, deletion and recovery of versions over one database and store."""

    def __init__(self, db: Database, artifacts: ArtifactStore, stale_after: timedelta) -> None:
        self.db = db
        self.artifacts = artifacts
        self.stale_after = stale_after

    def insert(
        self, model: str, name: str, origin: str, description: str | None, labels: dict[str, str]
    ) -> int:
        """Insert a CREATING row with the model's next number; returns the number."""

        def work(conn: Connection) -> int:
            row = queries.model_row(conn, model, for_update=True)
            taken = conn.execute(
                sa.select(versions.c.number).where(
                    versions.c.model_id == row.id, versions.c.name == name
                )
            ).first()
            if taken is not None:
                raise AlreadyExistsError(f"{label(model, name)} already exists.")
            highest = conn.execute(
                sa.select(sa.func.max(versions.c.number)).where(versions.c.model_id == row.id)
            ).scalar()
            number = max(row.next_version_number, (highest or 0) + 1)
            started = now()
            conn.execute(
                versions.insert().values(
                    model_id=row.id,
                    name=name,
                    number=number,
                    description=description,
                    labels=labels,
                    origin=origin,
                    path=relative_path(model, number),
                    state=VersionState.CREATING.value,
                    create_time=started,
                    worker=queries.worker_id(),
                    heartbeat_time=started,
                )
            )
            # Guarded bump: a writer that raced on the same counter fails the unique
            # (model, number) constraint or this guard, and its transaction is retried.
            counter = models.c.next_version_number
            bumped = conn.execute(
                models.update()
                .where(models.c.id == row.id, counter == row.next_version_number)
                .values(next_version_number=number + 1)
            )
            if bumped.rowcount != 1:
                raise RetryableConflict()
            return number

        return self.db.write(work)

    def build(self, model: str, name: str, number: int, origin: str) -> None:
        """Copy and check a CREATING version's files, then mark it READY, or FAILED and raise.

        Raises:
            MLEngineError: the copy or the load failed (same class as the cause, message
                naming the version), or the row was settled by someone else meanwhile.
        """
        heartbeat = _Heartbeat(self, model, number)
        try:
            info = self.artifacts.install(origin, model, number, heartbeat)
        except BaseException as error:
            reason = _one_line(error)
            quietly(self.fail, model, number, reason)
            if not isinstance(error, Exception):
                raise
            message = f"{label(model, name)} FAILED: {reason}"
            if isinstance(error, MLEngineError):
                raise type(error)(message) from error
            raise RegistryError(message) from error

        def ready(conn: Connection) -> bool:
            done = conn.execute(
                versions.update()
                .where(_where_version(model, number))
                .where(versions.c.state == VersionState.CREATING.value)
                .values(
                    state=VersionState.READY.value,
                    signature=info.signature,
                    metrics=info.metrics,
                    worker=None,
                    heartbeat_time=None,
                )
            )
            if done.rowcount != 1:
                return False
            conn.execute(
                models.update()
                .where(models.c.name == model, models.c.default_version_number.is_(None))
                .values(default_version_number=number)
            )
            return True

        if not self.db.write(ready):
            quietly(self.artifacts.remove, model, number)
            raise FailedPreconditionError(
                f"{label(model, name)} was marked FAILED or deleted while it was being created "
                "(its creator was taken for dead); create it again."
            )

    def build_quietly(self, model: str, name: str, number: int, origin: str) -> None:
        """:meth:`build` for a background thread: the row records the outcome, so only log."""
        try:
            self.build(model, name, number, origin)
        except MLEngineError as error:
            log.warning("%s", error)
        except Exception:
            log.exception("creating %s failed", label(model, name))

    def fail(self, model: str, number: int, reason: str) -> None:
        """Mark a CREATING version FAILED with ``reason`` and remove its files.

        The stored reason is scrubbed of local paths and URLs (:func:`mlengine.errors.scrub`):
        the server shows it to anyone who may read the model's status, token or not.
        """
        self.db.write(
            lambda conn: conn.execute(
                versions.update()
                .where(_where_version(model, number))
                .where(versions.c.state == VersionState.CREATING.value)
                .values(
                    state=VersionState.FAILED.value,
                    error_message=scrub(reason),
                    worker=None,
                    heartbeat_time=None,
                )
            )
        )
        self.artifacts.remove(model, number)

    def heartbeat(self, model: str, number: int) -> None:
        """Record that this process is still creating the version.

        Raises:
            FailedPreconditionError: the version is no longer CREATING (taken for dead, or
                deleted), so the copy must stop.
        """

        def work(conn: Connection) -> int:
            return conn.execute(
                versions.update()
                .where(_where_version(model, number))
                .where(versions.c.state == VersionState.CREATING.value)
                .values(heartbeat_time=now(), worker=queries.worker_id())
            ).rowcount

        if self.db.write(work) != 1:
            raise FailedPreconditionError(
                f"{label(model, number)} is no longer being created; stopping its copy."
            )

    def mark_deleting(self, model: str, ref: str | int) -> int:
        """Check the delete rules and mark the version DELETING; returns its number.

        Raises:
            NotFoundError: no such model or version.
            FailedPreconditionError: it is still being created, or it is the default version
                and the model has other versions.
        """

        def work(conn: Connection) -> int:
            model_row = queries.model_row(conn, model, for_update=True)
            row = queries.version_row(conn, model, ref)
            if row.state == VersionState.CREATING.value and not self.is_stale(row):
                raise FailedPreconditionError(
                    f"{label(model, ref)} is still being created: wait until it is READY or "
                    "FAILED, then delete it."
                )
            _, labels = queries.settings_of(conn, model_row.id)
            labelled = sorted(name for name, number in labels.items() if number == row.number)
            if labelled:
                raise FailedPreconditionError(
                    f"{label(model, ref)} is labelled {labelled}: move or remove the label "
                    f"first (`mlengine versions remove-label LABEL --model {model}`)."
                )
            if model_row.default_version_number == row.number:
                others = conn.execute(
                    sa.select(sa.func.count())
                    .select_from(versions)
                    .where(versions.c.model_id == model_row.id, versions.c.id != row.id)
                    .where(versions.c.state != VersionState.DELETING.value)
                ).scalar_one()
                if others:
                    raise FailedPreconditionError(
                        f"{label(model, ref)} is the default version of model {model}, which "
                        f"has {others} other version(s): make another one the default first "
                        f"(`mlengine versions set-default VERSION --model {model}`) or delete "
                        "the others."
                    )
                conn.execute(
                    models.update()
                    .where(models.c.id == model_row.id)
                    .values(default_version_number=None)
                )
            conn.execute(
                versions.update()
                .where(versions.c.id == row.id)
                .values(
                    state=VersionState.DELETING.value,
                    worker=queries.worker_id(),
                    heartbeat_time=now(),
                )
            )
            return int(row.number)

        return self.db.write(work)

    def finish_delete(self, model: str, number: int) -> None:
        """Remove a DELETING version's files, then its row (in that order: crash-safe)."""
        self.artifacts.remove(model, number)
        self.db.write(
            lambda conn: conn.execute(
                versions.delete()
                .where(_where_version(model, number))
                .where(versions.c.state == VersionState.DELETING.value)
            )
        )

    def is_stale(self, row: Row[Any]) -> bool:
        """Whether a CREATING/DELETING row's worker is gone (see :func:`queries.is_stale
        <mlengine.registry.queries.is_stale>`)."""
        return queries.is_stale(row.worker, row.heartbeat_time, self.stale_after, now())

    def reap(self, found: Iterable[Row[Any]] | None = None) -> list[str]:
        """Settle busy rows of dead workers (all, or those in ``found``); returns their names."""
        if found is None:
            with self.db.read() as conn:
                query = queries.version_select().where(versions.c.state.in_(BUSY_STATES))
                found = list(conn.execute(query))
        settled = []
        for row in found:
            if row.state not in BUSY_STATES or not self.is_stale(row):
                continue
            if row.state == VersionState.DELETING.value:
                self.finish_delete(row.model_name, row.number)
            else:
                beat = row.heartbeat_time
                reason = (
                    f"Creation did not finish: its process ({row.worker}) stopped without "
                    f"completing it (last heartbeat {beat:%Y-%m-%dT%H:%M:%SZ})."
                    if beat is not None
                    else "Creation did not finish: its process stopped without completing it."
                )
                self.fail(row.model_name, row.number, reason)
            settled.append(f"{row.model_name}/{row.name}")
            log.warning("settled %s, left %s by a dead process", settled[-1], row.state)
        return settled

    def collect_garbage(self) -> list[str]:
        """Remove artifact folders that no row accounts for; returns what was removed.

        Folders are listed *before* rows are read: a version's row is always written before
        its folder, so a version created meanwhile is never mistaken for garbage.
        """
        listed = self.artifacts.entries()
        with self.db.read() as conn:
            live = conn.execute(queries.version_select()).all()
            model_names = set(conn.execute(sa.select(models.c.name)).scalars())
        keep = {(r.model_name, str(r.number)) for r in live}
        creating = {(r.model_name, r.number) for r in live if r.state in BUSY_STATES}
        removed = []
        for model, entry in listed:
            if model in model_names and not entry:
                continue
            if model in model_names and (model, entry) in keep:
                continue
            if model in model_names and entry.startswith(STAGING_PREFIX):
                number = entry[len(STAGING_PREFIX) :].split("-", 1)[0]
                if number.isdigit() and (model, int(number)) in creating:
                    continue
            if entry and model not in model_names:
                continue  # removed with its model folder
            self.artifacts.remove_entry(model, entry)
            removed.append(f"{model}/{entry}" if entry else model)
        return removed


class _Heartbeat:
    """Called while copying; writes a heartbeat at most every :data:`HEARTBEAT_INTERVAL`."""

    def __init__(self, lifecycle: Lifecycle, model: str, number: int) -> None:
        self._lifecycle, self._model, self._number = lifecycle, model, number
        self._last = time.monotonic()

    def __call__(self) -> None:
        if time.monotonic() - self._last >= HEARTBEAT_INTERVAL.total_seconds():
            self._lifecycle.heartbeat(self._model, self._number)
            self._last = time.monotonic()


__all__ = ["BUSY_STATES", "HEARTBEAT_INTERVAL", "Lifecycle", "label", "now", "quietly"]
