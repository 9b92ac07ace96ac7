"""The registry's database connection: engine setup, transactions, retries, error translation.

SQLite (the embedded default) runs in WAL mode, so readers never wait for a writer, with a
busy timeout, so a writer waits its turn instead of failing. Write transactions start with
``BEGIN IMMEDIATE``: SQLite takes the write lock at the start, so two writers never both read
and then fail to upgrade ("database is locked"). PostgreSQL (psycopg 3) gets a connect timeout,
so an unreachable server fails in seconds, and writes lock the model row they change.

Every transaction that may lose a race (a version number taken by another process, a deadlock,
a serialisation failure, a SQLite lock held past the timeout) is retried a few times; whatever
still fails becomes an mlengine error with a one-line message.
"""

from __future__ import annotations

import logging
import random
import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Engine, make_url
from sqlalchemy.engine.url import URL

from mlengine.errors import InvalidParameterError, MLEngineError, RegistryError, UnavailableError

T = TypeVar("T")
log = logging.getLogger(__name__)

SQLITE_BUSY_TIMEOUT_S = 30.0
CONNECT_TIMEOUT_S = 5
WRITE_ATTEMPTS = 8


class RetryableConflict(Exception):
    """Raised inside a write transaction to ask :meth:`Database.write` to run it again."""


def parse_url(database_url: str) -> URL:
    """Parse and normalise a database URL; plain ``postgresql://`` means psycopg 3.

    Raises:
        InvalidParameterError: not a SQLite or PostgreSQL URL.
    """
    try:
        url = make_url(database_url)
    except exc.ArgumentError as error:
        raise InvalidParameterError(f"Invalid registry database URL {database_url!r}.") from error
    backend = url.get_backend_name()
    if backend in ("postgres", "postgresql"):
        url = url.set(drivername="postgresql+psycopg")
    elif backend != "sqlite":
        raise InvalidParameterError(
            f"Unsupported registry database {url.render_as_string(hide_password=True)!r}: "
            "use sqlite:///PATH or postgresql+psycopg://USER:PASSWORD@HOST:PORT/DATABASE."
        )
    return url


def _use_wal(cursor: Any) -> None:
    """Put the database in WAL mode (it stays so: later connections find it set). Switching
    needs an exclusive lock, and SQLite answers "database is locked" at once, without its busy
    handler, when processes opening a new database at the same moment race for it: retry then,
    within the busy timeout."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_S
    while True:
        try:
            if cursor.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.01)


def _sqlite_engine(url: URL) -> Engine:
    if url.database and url.database != ":memory:":
        Path(url.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = sa.create_engine(
        url, connect_args={"timeout": SQLITE_BUSY_TIMEOUT_S, "check_same_thread": False}
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below) instead of the driver's implicit one.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {int(SQLITE_BUSY_TIMEOUT_S * 1000)}")
        _use_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        mode = "IMMEDIATE" if conn.get_execution_options().get("mlengine_write") else "DEFERRED"
        conn.exec_driver_sql(f"BEGIN {mode}")

    return engine


def _postgres_engine(url: URL) -> Engine:
    connect_args: dict[str, Any] = {}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = CONNECT_TIMEOUT_S
    return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)


def _is_retryable(error: exc.DBAPIError) -> bool:
    """A lost race worth another try: a conflict, a deadlock, or SQLite's lock timeout."""
    if isinstance(error, exc.IntegrityError):
        return True
    sqlstate = getattr(error.orig, "sqlstate", None)
    if sqlstate in ("40001", "40P01"):  # serialization_failure, deadlock_detected
        return True
    return isinstance(error, exc.OperationalError) and "locked" in str(error.orig).lower()


class Database:
    """One registry database: a SQLAlchemy engine plus read and write transactions."""

    def __init__(self, database_url: str) -> None:
        self.url = parse_url(database_url)
        self.display_url = self.url.render_as_string(hide_password=True)
        self.dialect = self.url.get_backend_name()
        self.engine = (
            _sqlite_engine(self.url) if self.dialect == "sqlite" else _postgres_engine(self.url)
        )

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()

    @contextmanager
    def read(self) -> Iterator[Connection]:
        """A read transaction (SQLite: deferred, so it never waits for writers)."""
        with self.translate_errors(), self.engine.connect() as conn, conn.begin():
            yield conn

    def write(self, work: Callable[[Connection], T], attempts: int = WRITE_ATTEMPTS) -> T:
        """Run ``work`` in a write transaction, retrying it when it loses a race.

        ``work`` must be safe to run again from the start: it should read what it needs inside
        the transaction. It may raise :class:`RetryableConflict` to ask for another attempt;
        mlengine errors it raises roll the transaction back and propagate unchanged.
        """
        for attempt in range(1, attempts + 1):
            try:
                with self.translate_errors(retryable=attempt < attempts):
                    with self.engine.connect() as conn:
                        conn.execution_options(mlengine_write=True)
                        with conn.begin():
                            return work(conn)
            except RetryableConflict:
                if attempt == attempts:
                    raise RegistryError(
                        f"The registry database {self.display_url} stayed busy after "
                        f"{attempts} attempts; try again."
                    ) from None
            # Back off a little, with jitter, so racing processes spread out.
            time.sleep(random.uniform(0.005, 0.05) * attempt)
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def translate_errors(self, retryable: bool = False) -> Iterator[None]:
        """Turn driver errors into one-line mlengine errors (or a retry request)."""
        try:
            yield
        except MLEngineError:
            raise
        except exc.DBAPIError as error:
            if retryable and _is_retryable(error):
                log.debug("retrying a registry transaction after %s", error.orig)
                raise RetryableConflict() from error
            raise self._translate(error) from error

    def _translate(self, error: exc.DBAPIError) -> RegistryError:
        detail = " ".join(str(error.orig).split()) or type(error.orig).__name__
        if error.connection_invalidated or (
            isinstance(error, exc.OperationalError) and self.dialect == "postgresql"
        ):
            return UnavailableError(
                f"Cannot reach the registry database {self.display_url}: {detail}"
            )
        if isinstance(error, exc.OperationalError):
            return RegistryError(f"The registry database {self.display_url} failed: {detail}")
        return RegistryError(f"Registry database error ({self.display_url}): {detail}")


__all__ = ["Database", "RetryableConflict", "parse_url"]
