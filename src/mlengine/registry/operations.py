"""ML Engine's long-running operations, kept in the registry's database.

Every replica and worker sharing a registry sees the same operations, whichever process
started them. An operation that acts on a version (CREATE_VERSION, DELETE_VERSION) does not
report its own progress: the version's row is the truth, and the operation *settles* when it is
read: a version READY (created) or gone (deleted) ends it with a response, a version FAILED ends
it with an error (``CANCELLED`` when a client asked to cancel it), and the outcome is written
then, once. Model deletions and updates finish before their call returns and are recorded done.

Cancelling a creation marks the version FAILED while it is still CREATING (the process copying
it stops at its next heartbeat, and can no longer mark it READY); one that finished first stays
finished, as Google's operations do. A deletion cannot be cancelled: it finishes.

Operation ids follow ML Engine's (``create_<model>_<version>-<ms since the epoch>``), made
unique with a suffix when two start in the same millisecond.
"""

from __future__ import annotations

import base64
import binascii
import re
import time
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from mlengine.errors import InvalidParameterError, MLEngineError, NotFoundError
from mlengine.limits import whole_number
from mlengine.registry.db import Database
from mlengine.registry.entities import (
    ModelVersion,
    Operation,
    OperationType,
    VersionState,
)
from mlengine.registry.lifecycle import Lifecycle, now
from mlengine.registry.migrations import operations_table as operations

# google.rpc.Code values of the errors an operation can end with.
CANCELLED, INVALID_ARGUMENT, ABORTED = 1, 3, 10
MAX_PAGE_SIZE = 100
# Row ids are SQL INTEGER (32-bit in PostgreSQL): a token naming a bigger one names no row, and
# is refused before it reaches the database.
MAX_ROW_ID = 2**31 - 1
DEFAULT_PAGE_SIZE = 20  # ML Engine's list default
OPERATION_ID = re.compile(r"^[A-Za-z0-9_.-]{1,300}$")


def _prefix(kind: OperationType) -> str:
    return {
        OperationType.CREATE_VERSION: "create",
        OperationType.DELETE_VERSION: "delete",
        OperationType.DELETE_MODEL: "delete",
        OperationType.UPDATE_MODEL: "update",
        OperationType.UPDATE_VERSION: "update",
    }[kind]


def to_operation(row: Row[Any]) -> Operation:
    m = row._mapping
    return Operation(
        id=m["op_id"],
        operation_type=OperationType(m["op_type"]),
        model=m["model_name"],
        version=m["version_name"],
        create_time=m["create_time"],
        end_time=m["end_time"],
        done=bool(m["done"]),
        cancel_requested=bool(m["cancel_requested"]),
        error_code=m["error_code"],
        error_message=m["error_message"],
        response=m["response"],
    )


def not_found(op_id: str) -> NotFoundError:
    return NotFoundError(f"Operation (name={op_id}) not found.")


class OperationLog:
    """The operations table over one database (see the module docstring).

    Args:
        db: the registry's database.
        lifecycle: the version lifecycle (cancelling a creation fails its version).
        find_version: looks a version up by number, settling a dead creator's row first;
            raises NotFoundError when it is gone.
    """

    def __init__(self, db: Database, lifecycle: Lifecycle, find_version: Any) -> None:
        self.db = db
        self.lifecycle = lifecycle
        self.find_version = find_version

    def record(
        self,
        kind: OperationType,
        model: str,
        version: ModelVersion | None = None,
        done: bool = True,
        response: dict[str, Any] | None = None,
    ) -> Operation:
        """Insert an operation (finished, unless ``done`` is False); returns it."""
        started = now()
        stamp = int(started.timestamp() * 1000)
        parts = [_prefix(kind), model] + ([version.name] if version is not None else [])
        base = f"{'_'.join(parts)}-{stamp}"

        def work(conn: Connection) -> str:
            taken = set(
                conn.execute(
                    sa.select(operations.c.op_id).where(operations.c.op_id.like(f"{base}%"))
                ).scalars()
            )
            op_id = base
            suffix = 1
            while op_id in taken:
                suffix += 1
                op_id = f"{base}-{suffix}"
            conn.execute(
                operations.insert().values(
                    op_id=op_id,
                    op_type=kind.value,
                    model_name=model,
                    version_name=None if version is None else version.name,
                    version_number=None if version is None else version.number,
                    create_time=started,
                    end_time=started if done else None,
                    done=done,
                    cancel_requested=False,
                    response=response,
                )
            )
            return op_id

        return self.get(self.db.write(work))

    def get(self, op_id: str) -> Operation:
        """An operation, settled first if it has finished since it was last read.

        Raises:
            NotFoundError: no such operation.  InvalidParameterError: a malformed id.
        """
        if not OPERATION_ID.match(op_id):
            raise InvalidParameterError(
                f"Invalid operation id {op_id[:80]!r}: ids contain letters, digits, '_', '-' "
                "and '.'."
            )
        with self.db.read() as conn:
            row = conn.execute(sa.select(operations).where(operations.c.op_id == op_id)).first()
        if row is None:
            raise not_found(op_id)
        found = to_operation(row)
        return found if found.done else self._settle(row)

    def list(
        self, page_size: int | None = None, page_token: str | None = None
    ) -> tuple[list[Operation], str | None]:
        """Operations in the order they began, a page at a time: (page, next page token)."""
        size = DEFAULT_PAGE_SIZE if page_size is None else page_size
        if not 1 <= size <= MAX_PAGE_SIZE:
            raise InvalidParameterError(
                f"pageSize must be from 1 to {MAX_PAGE_SIZE}; got {page_size}."
            )
        after = _decode_token(page_token)
        query = sa.select(operations).where(operations.c.id > after).order_by(operations.c.id)
        with self.db.read() as conn:
            rows = conn.execute(query.limit(size + 1)).all()
        page = [to_operation(r) if r.done else self._settle(r) for r in rows[:size]]
        token = _encode_token(rows[size - 1].id) if len(rows) > size else None
        return page, token

    def cancel(self, op_id: str) -> Operation:
        """Ask an operation to stop (see the module docstring); returns it as it is then."""
        found = self.get(op_id)
        if found.done:
            return found
        self.db.write(
            lambda conn: conn.execute(
                operations.update().where(operations.c.op_id == op_id).values(cancel_requested=True)
            )
        )
        if found.operation_type == OperationType.CREATE_VERSION:
            with self.db.read() as conn:
                number = conn.execute(
                    sa.select(operations.c.version_number).where(operations.c.op_id == op_id)
                ).scalar_one()
            self.lifecycle.fail(found.model, number, f"Creation was cancelled (operation {op_id}).")
        return self.get(op_id)

    def wait(self, op_id: str, timeout: float, poll: float = 0.2) -> Operation:
        """Poll until the operation is done or ``timeout`` seconds pass; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.get(op_id)
            if found.done or time.monotonic() >= deadline:
                return found
            time.sleep(poll)

    def _settle(self, row: Row[Any]) -> Operation:
        """Read the version an unfinished operation follows; record the outcome if it has
        one."""
        kind = OperationType(row.op_type)
        try:
            version = self.find_version(row.model_name, row.version_number)
        except NotFoundError:
            version = None
        except MLEngineError:
            return to_operation(row)  # the registry cannot say now: still running
        outcome = _outcome(kind, version, bool(row.cancel_requested), row.version_name)
        if outcome is None:
            return to_operation(row)
        code, message, response = outcome
        ended: datetime = now()

        def work(conn: Connection) -> None:
            conn.execute(
                operations.update()
                .where(operations.c.id == row.id, operations.c.done.is_(False))
                .values(
                    done=True,
                    end_time=ended,
                    error_code=code,
                    error_message=message,
                    response=response,
                )
            )

        self.db.write(work)
        with self.db.read() as conn:
            settled = conn.execute(sa.select(operations).where(operations.c.id == row.id)).one()
        return to_operation(settled)


def _outcome(
    kind: OperationType, version: ModelVersion | None, cancelled: bool, name: str
) -> tuple[int | None, str | None, dict[str, Any] | None] | None:
    """(error code, message, response) of a finished operation; None while it runs."""
    if kind == OperationType.DELETE_VERSION:
        return None if version is not None else (None, None, {})
    if version is None:
        return ABORTED, f"Version {name} was deleted before its creation finished.", None
    if version.state == VersionState.READY:
        return None, None, version.to_json()
    if version.state == VersionState.FAILED:
        if cancelled:
            return CANCELLED, "Operation cancelled.", None
        return INVALID_ARGUMENT, f"Create Version failed: {version.error_message}", None
    return None


def _encode_token(last_id: int) -> str:
    return base64.urlsafe_b64encode(f"after:{last_id}".encode()).decode()


def _decode_token(token: str | None) -> int:
    if not token:
        return 0
    try:
        text = base64.urlsafe_b64decode(token.encode()).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        text = ""
    kind, _, value = text.partition(":")
    after = whole_number(value, MAX_ROW_ID) if kind == "after" else None
    if after is None:
        raise InvalidParameterError(f"Invalid pageToken {token[:80]!r}: pass nextPageToken back.")
    return after


__all__ = ["CANCELLED", "DEFAULT_PAGE_SIZE", "MAX_PAGE_SIZE", "OperationLog", "to_operation"]
