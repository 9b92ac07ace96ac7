"""The ``mlengine_jobs`` table: every read and state change of a job, each one transaction.

State changes are *conditional* updates (``... WHERE state IN (expected)``), so two actors
racing on one job (the supervisor finishing it, a user cancelling it, a lister taking its
supervisor for dead) cannot both win: whoever changes the row first decides, and the other's
update touches nothing.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from mlengine.errors import AlreadyExistsError, InvalidParameterError, NotFoundError
from mlengine.jobs.entities import ACTIVE_STATES, Job, JobKind, JobState
from mlengine.registry.db import Database
from mlengine.registry.migrations import jobs_table as jobs
from mlengine.registry.names import NAME_PATTERN

# How a supervisor learns the registry it reports to (kept off its command line, which any
# local user can read, and not passed on to the job's own processes).
DATABASE_ENV = "MLENGINE_JOBS_DATABASE_URL"
ARTIFACT_ROOT_ENV = "MLENGINE_JOBS_ARTIFACT_ROOT"

_ID_RE = re.compile(NAME_PATTERN)
_ACTIVE = [state.value for state in ACTIVE_STATES]


def now() -> datetime:
    """The current time in UTC (every job timestamp is)."""
    return datetime.now(UTC)


def validate_job_id(job_id: object) -> str:
    """Return ``job_id`` if it follows the model-name rule (it names a folder), else raise.

    Raises:
        InvalidParameterError: the id breaks the rule; the message names it.
    """
    if not isinstance(job_id, str) or _ID_RE.fullmatch(job_id) is None:
        shown = repr(job_id) if len(repr(job_id)) <= 80 else repr(job_id)[:77] + "..."
        raise InvalidParameterError(
            f"Invalid job id {shown}: a job id must start with a letter and contain only "
            "letters, digits and underscores, at most 128 characters."
        )
    return job_id


def not_found(job_id: str) -> NotFoundError:
    return NotFoundError(f"Job (id={job_id}) not found.")


def to_job(row: Row[Any]) -> Job:
    """A row as a :class:`Job`."""
    m = row._mapping
    return Job(
        job_id=m["job_id"],
        kind=JobKind(m["kind"]),
        state=JobState(m["state"]),
        input=dict(m["input"] or {}),
        create_time=m["create_time"],
        host=m["host"],
        run_dir=m["run_dir"],
        start_time=m["start_time"],
        end_time=m["end_time"],
        error_message=m["error_message"],
        output=None if m["output"] is None else dict(m["output"]),
        labels=dict(m["labels"] or {}),
        exit_code=m["exit_code"],
    )


class JobTable:
    """Reads and conditional updates of job rows in one registry database."""

    def __init__(self, db: Database) -> None:
        self.db = db

    def insert(
        self,
        job_id: str,
        kind: JobKind,
        spec: Mapping[str, Any],
        labels: Mapping[str, str],
        host: str,
        run_dir: str,
        worker: str,
    ) -> None:
        """Insert a QUEUED job.

        Raises:
            AlreadyExistsError: a job of that id (ignoring case) exists.
        """

        def work(conn: Connection) -> None:
            existing = conn.execute(
                sa.select(jobs.c.job_id).where(jobs.c.job_key == job_id.lower())
            ).scalar()
            if existing is not None:
                same = "" if existing == job_id else f" (as {existing}; ids ignore case)"
                raise AlreadyExistsError(f"Job (id={job_id}) already exists{same}.")
            created = now()
            conn.execute(
                jobs.insert().values(
                    job_id=job_id,
                    job_key=job_id.lower(),
                    kind=kind.value,
                    state=JobState.QUEUED.value,
                    labels=dict(labels),
                    input=dict(spec),
                    create_time=created,
                    host=host,
                    run_dir=run_dir,
                    worker=worker,
                    heartbeat_time=created,
                )
            )

        self.db.write(work)

    def row(self, job_id: str) -> Row[Any]:
        """The job's row.

        Raises:
            NotFoundError: no such job.
        """
        with self.db.read() as conn:
            row = conn.execute(sa.select(jobs).where(jobs.c.job_id == job_id)).first()
        if row is None:
            raise not_found(job_id)
        return row

    def rows(
        self, states: Collection[JobState] | None = None, limit: int | None = None
    ) -> list[Row[Any]]:
        """Jobs, newest first (as ``gcloud ml-engine jobs list``), optionally by state."""
        query = sa.select(jobs).order_by(jobs.c.create_time.desc(), jobs.c.id.desc())
        if states:
            query = query.where(jobs.c.state.in_([state.value for state in states]))
        if limit is not None:
            query = query.limit(limit)
        with self.db.read() as conn:
            return list(conn.execute(query))

    def update(
        self,
        job_id: str,
        expected: Collection[JobState],
        owner: str | None = None,
        **values: Any,
    ) -> bool:
        """Set ``values`` if the job is in one of ``expected`` (and, if given, its ``worker``
        column still reads ``owner``); returns whether the row changed."""
        query = jobs.update().where(
            jobs.c.job_id == job_id, jobs.c.state.in_([state.value for state in expected])
        )
        if owner is not None:
            query = query.where(jobs.c.worker == owner)
        if "state" in values and isinstance(values["state"], JobState):
            values["state"] = values["state"].value
        return bool(self.db.write(lambda conn: conn.execute(query.values(**values)).rowcount))

    def start(self, job_id: str, worker: str) -> bool:
        """QUEUED → RUNNING with the start time, claimed by the supervisor ``worker``."""
        started = now()
        return self.update(
            job_id,
            [JobState.QUEUED],
            state=JobState.RUNNING,
            start_time=started,
            worker=worker,
            heartbeat_time=started,
        )

    def beat(self, job_id: str, worker: str) -> JobState | None:
        """Record that ``worker`` still watches the job; returns the job's state (``None``:
        the row is gone)."""

        def work(conn: Connection) -> str | None:
            conn.execute(
                jobs.update()
                .where(jobs.c.job_id == job_id, jobs.c.state.in_(_ACTIVE))
                .where(jobs.c.worker == worker)
                .values(heartbeat_time=now())
            )
            return conn.execute(sa.select(jobs.c.state).where(jobs.c.job_id == job_id)).scalar()

        state = self.db.write(work)
        return None if state is None else JobState(state)

    def state(self, job_id: str) -> JobState | None:
        """The job's state, or ``None`` if the row is gone (one cheap read)."""
        with self.db.read() as conn:
            value = conn.execute(sa.select(jobs.c.state).where(jobs.c.job_id == job_id)).scalar()
        return None if value is None else JobState(value)

    def finish(
        self,
        job_id: str,
        state: JobState,
        expected: Collection[JobState] = (JobState.RUNNING, JobState.CANCELLING),
        **values: Any,
    ) -> bool:
        """Move an active job to a final ``state`` with its end time; returns whether it did."""
        return self.update(
            job_id, expected, state=state, end_time=now(), heartbeat_time=None, **values
        )


__all__ = [
    "ARTIFACT_ROOT_ENV",
    "DATABASE_ENV",
    "JobTable",
    "not_found",
    "now",
    "to_job",
    "validate_job_id",
]
