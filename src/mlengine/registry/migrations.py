"""The registry's tables, its schema version and its ordered, recorded migrations.

The tables carry an ``mlengine_`` prefix so a shared PostgreSQL database can hold them beside
other applications'. ``mlengine_schema`` records every migration applied (version, description,
time); the schema version of a database is the highest one recorded. Opening a database:

* of the current version: nothing to do (one cheap read);
* older (or empty): the missing migrations run in order, in one transaction, each recorded;
* newer than this code knows: a clear error, never a guess.

Rule for the future: a migration, once released, never changes. Migration 1 creates the tables
as they were at schema version 1; a change to a table is a new migration appended to
:data:`MIGRATIONS`, and the table definitions below follow the latest one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Dialect

from mlengine.errors import FailedPreconditionError


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timestamp stored as naive UTC and read back as an aware UTC ``datetime``.

    SQLite keeps no time zone, PostgreSQL's ``timestamp`` neither; storing UTC everywhere makes
    both dialects agree and comparisons safe.
    """

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("registry timestamps must be timezone-aware")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        return None if value is None else value.replace(tzinfo=UTC)


metadata = sa.MetaData()

schema_table = sa.Table(
    "mlengine_schema",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("description", sa.Text, nullable=False),
    sa.Column("applied_at", UTCDateTime, nullable=False),
)

models_table = sa.Table(
    "mlengine_models",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(128), nullable=False, unique=True),
    # lower(name): model names map to folders, and two names differing only in case would
    # share one folder on a case-insensitive file system (macOS, Windows).
    sa.Column("name_key", sa.String(128), nullable=False, unique=True),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("create_time", UTCDateTime, nullable=False),
    # The number the next version gets: only ever grows, so numbers are never reused.
    sa.Column("next_version_number", sa.Integer, nullable=False),
    # A READY version's number, or NULL before the first version is READY.
    sa.Column("default_version_number", sa.Integer, nullable=True),
)

versions_table = sa.Table(
    "mlengine_versions",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("mlengine_models.id", ondelete="RESTRICT"),
        nullable=False,
    ),
    sa.Column("name", sa.String(128), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("description", sa.Text, nullable=True),
    sa.Column("labels", sa.JSON, nullable=False),
    sa.Column("origin", sa.Text, nullable=False),
    # Relative to the artifact root, so replicas sharing the database and the root agree.
    sa.Column("path", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("signature", sa.JSON, nullable=True),
    sa.Column("metrics", sa.JSON, nullable=True),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.Column("last_use_time", UTCDateTime, nullable=True),
    # "host:pid" of the process copying or deleting the files, and the last time it said it
    # was alive: how a CREATING/DELETING row left by a dead process is recognised.
    sa.Column("worker", sa.String(300), nullable=True),
    sa.Column("heartbeat_time", UTCDateTime, nullable=True),
    sa.UniqueConstraint("model_id", "name", name="uq_mlengine_versions_model_name"),
    sa.UniqueConstraint("model_id", "number", name="uq_mlengine_versions_model_number"),
    sa.Index("ix_mlengine_versions_state", "state"),
)

jobs_table = sa.Table(
    "mlengine_jobs",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    sa.Column("job_id", sa.String(128), nullable=False, unique=True),
    # lower(job_id): a job id names a folder, as a model name does.
    sa.Column("job_key", sa.String(128), nullable=False, unique=True),
    sa.Column("kind", sa.String(16), nullable=False),  # TRAINING | PREDICTION
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("labels", sa.JSON, nullable=False),
    # trainingInput or predictionInput as accepted (camelCase), and the job's output.
    sa.Column("input", sa.JSON, nullable=False),
    sa.Column("output", sa.JSON, nullable=True),
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.Column("start_time", UTCDateTime, nullable=True),
    sa.Column("end_time", UTCDateTime, nullable=True),
    # The host that runs the job and its local folder there (logs, results).
    sa.Column("host", sa.String(255), nullable=False),
    sa.Column("run_dir", sa.Text, nullable=False),
    # The job's main process: its pid is also the id of its process group.
    sa.Column("process_id", sa.Integer, nullable=True),
    sa.Column("exit_code", sa.Integer, nullable=True),
    # "host:pid[:token]" of the supervisor watching the job and its last sign of life: how a
    # QUEUED/RUNNING/CANCELLING job left by a dead supervisor is recognised.
    sa.Column("worker", sa.String(300), nullable=True),
    sa.Column("heartbeat_time", UTCDateTime, nullable=True),
    sa.Index("ix_mlengine_jobs_state", "state"),
    sa.Index("ix_mlengine_jobs_create_time", "create_time"),
)


model_settings_table = sa.Table(
    "mlengine_model_settings",
    metadata,
    # One row per model that has settings beyond those of mlengine_models (schema 3): kept in a
    # table of their own, so that the tables of schema 1 never change.
    sa.Column(
        "model_id",
        sa.Integer,
        sa.ForeignKey("mlengine_models.id", ondelete="CASCADE"),
        primary_key=True,
        autoincrement=False,
    ),
    # ML Engine's onlinePredictionLogging and requestLoggingConfig, the model's and each
    # version's own (see registry.prediction_logging); NULL: logging off.
    sa.Column("logging", sa.JSON, nullable=True),
    # TF Serving's version labels: {label: version number}; NULL: none.
    sa.Column("version_labels", sa.JSON, nullable=True),
)

operations_table = sa.Table(
    "mlengine_operations",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True),
    # ML Engine's operation id (projects/{p}/operations/<op_id>): create_census_v1-<ms>.
    sa.Column("op_id", sa.String(300), nullable=False, unique=True),
    # CREATE_VERSION | DELETE_VERSION | DELETE_MODEL | UPDATE_MODEL | UPDATE_VERSION
    sa.Column("op_type", sa.String(32), nullable=False),
    sa.Column("model_name", sa.String(128), nullable=False),
    sa.Column("version_name", sa.String(128), nullable=True),
    sa.Column("version_number", sa.Integer, nullable=True),
    sa.Column("create_time", UTCDateTime, nullable=False),
    sa.Column("end_time", UTCDateTime, nullable=True),
    # Whether the outcome is recorded. An operation that follows a version's state settles
    # when it is read (the version's row is the truth), and its outcome is written then.
    sa.Column("done", sa.Boolean, nullable=False),
    sa.Column("cancel_requested", sa.Boolean, nullable=False),
    sa.Column("error_code", sa.Integer, nullable=True),  # google.rpc.Code
    sa.Column("error_message", sa.Text, nullable=True),
    sa.Column("response", sa.JSON, nullable=True),
    sa.Index("ix_mlengine_operations_done", "done"),
)


@dataclass(frozen=True)
class Migration:
    """One step of the schema: applied in order, in a transaction, and recorded."""

    version: int
    description: str
    apply: Callable[[Connection], None]


def _v1_initial(conn: Connection) -> None:
    metadata.create_all(conn, tables=[models_table, versions_table])


def _v2_jobs(conn: Connection) -> None:
    metadata.create_all(conn, tables=[jobs_table])


def _v3_operations(conn: Connection) -> None:
    metadata.create_all(conn, tables=[model_settings_table, operations_table])


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "models and versions", _v1_initial),
    Migration(2, "training and prediction jobs", _v2_jobs),
    Migration(3, "long-running operations, prediction logging, version labels", _v3_operations),
)


def schema_version() -> int:
    """The schema version this code writes: that of the last migration."""
    return MIGRATIONS[-1].version


# PostgreSQL advisory lock key ("mlengine" in ASCII, truncated): serialises migrations of
# several processes opening a fresh database at once.
_PG_LOCK_KEY = 0x6D6C656E67696E65 & 0x7FFFFFFFFFFFFFFF


def current_version(conn: Connection) -> int | None:
    """The schema version recorded in the database, or ``None`` if it has no registry yet."""
    inspector = sa.inspect(conn)
    # Look for the data tables first: all tables appear in one commit, so if they exist now,
    # the schema table exists a moment later too (PostgreSQL reads each statement afresh).
    has_data = inspector.has_table(models_table.name) or inspector.has_table(versions_table.name)
    if not inspector.has_table(schema_table.name):
        if has_data:
            raise FailedPreconditionError(
                "The database has mlengine tables but no mlengine_schema table: it was not "
                "created by mlengine, so it is left untouched."
            )
        return None
    value = conn.execute(sa.select(sa.func.max(schema_table.c.version))).scalar()
    return None if value is None else int(value)


def check_supported(version: int | None, where: str) -> None:
    """Raise a clear error if the database's schema is newer than this code."""
    supported = schema_version()
    if version is not None and version > supported:
        raise FailedPreconditionError(
            f"The registry database {where} has schema version {version}, but this mlengine "
            f"supports schema versions up to {supported}: upgrade mlengine to use it."
        )


def migrate(conn: Connection, where: str) -> int:
    """Bring the schema up to :func:`schema_version` inside the caller's write transaction.

    Returns the version found before migrating (0 for an empty database).
    """
    if conn.dialect.name == "postgresql":
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})
    found = current_version(conn)
    check_supported(found, where)
    if found is None:
        metadata.create_all(conn, tables=[schema_table])
        found = 0
    for migration in MIGRATIONS:
        if migration.version > found:
            migration.apply(conn)
            conn.execute(
                schema_table.insert().values(
                    version=migration.version,
                    description=migration.description,
                    applied_at=datetime.now(UTC),
                )
            )
    return found


__all__ = [
    "MIGRATIONS",
    "Migration",
    "UTCDateTime",
    "check_supported",
    "current_version",
    "jobs_table",
    "metadata",
    "migrate",
    "schema_version",
    "model_settings_table",
    "models_table",
    "operations_table",
    "schema_table",
    "versions_table",
]
