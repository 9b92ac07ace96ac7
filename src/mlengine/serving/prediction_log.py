"""Online prediction logging: a sample of requests and their answers, written to files under an
fsspec URL (ML Engine's ``onlinePredictionLogging`` / ``requestLoggingConfig``; the settings are
:class:`~mlengine.registry.prediction_logging.RequestLoggingConfig`).

A record holds the time, model, version, protocol, latency, the request's instances (as the
server checked them, whatever the protocol: JSON, binary tensors or gRPC) and the predictions::

    {"time": "2026-12-07T12:00:00.123456Z", "model": "census", "version": "v1",
     "versionNumber": 1, "protocol": "mlengine_v1", "latencyMs": 1.9,
     "request": {"instances": [{"age": 25, ...}]},
     "response": {"predictions": [{"class_ids": [0], ...}]}}

Files: ``<destination>/<model>/<version>/<YYYY-MM-DD>/<HHMMSS>-<pid>-<n>.jsonl`` (or
``.parquet``, whose columns are the record's with ``request`` and ``response`` as JSON text),
closed and a new one begun every ``rollIntervalSeconds`` or ``rollBytes``.

Logging never holds a request up: the event loop only decides by sampling and hands the
record's references to a bounded queue (no copy, no encoding); one writer thread encodes and
writes. A full queue, or a destination that fails, drops records and counts them
(``mlengine_prediction_log_records_total{outcome=...}``), never fails a prediction; a failing
destination is retried after :data:`RETRY_SECONDS`, and logged at most that often.
"""

from __future__ import annotations

import contextlib
import logging
import os
import posixpath
import queue
import random
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import fsspec
import orjson

from mlengine.registry.origins import under_prefix
from mlengine.registry.prediction_logging import RequestLoggingConfig
from mlengine.serving.errors import ApiError
from mlengine.serving.settings import ALLOWED_LOG_DESTINATIONS_ENV

log = logging.getLogger("mlengine.serving")

QUEUE_RECORDS = 4096  # records waiting for the writer; more are dropped (and counted)
RETRY_SECONDS = 5.0  # a destination that failed is tried again after this long


def check_destination(destination: str, allowed: tuple[str, ...] | None) -> None:
    """Refuse a destination the server may not, or cannot, write to (before it is stored):
    outside ``allowed`` prefixes (None: any, for the CLI), an fsspec URL it cannot open, or a
    folder it cannot create a file in. Blocking: call it off the event loop.

    Raises:
        ApiError: INVALID_ARGUMENT (not allowed, not a usable URL) or FAILED_PRECONDITION
            (cannot be written), naming the destination and why.
    """
    if allowed is not None and not under_prefix(destination, allowed):
        listed = ", ".join(allowed) if allowed else "none"
        raise ApiError(
            "INVALID_ARGUMENT",
            f"Logging destination {destination!r} is not under an allowed prefix (allowed: "
            f"{listed}); {ALLOWED_LOG_DESTINATIONS_ENV} lists where the server may write "
            "request logs.",
        )
    try:
        fs, path = fsspec.core.url_to_fs(destination)
    except (ImportError, ValueError) as error:
        raise ApiError(
            "INVALID_ARGUMENT", f"Cannot use logging destination {destination!r}: {error}"
        ) from None
    probe = f"{path.rstrip('/')}/.mlengine-probe-{os.getpid()}-{uuid.uuid4().hex[:8]}"
    try:
        fs.makedirs(path, exist_ok=True)
        with fs.open(probe, "wb") as handle:
            handle.write(b"")
        fs.rm(probe)
    except Exception as error:
        detail = " ".join(str(error).split()) or type(error).__name__
        raise ApiError(
            "FAILED_PRECONDITION",
            f"Logging destination {destination!r} cannot be written: {detail}",
        ) from None


@dataclass
class Record:
    """What the event loop hands over: references, encoded by the writer thread."""

    config: RequestLoggingConfig
    model: str
    version: str
    number: int
    protocol: str
    seconds: float
    when: float
    instances: Mapping[str, list[Any]]
    outputs: Mapping[str, Any]


@dataclass
class _File:
    """One open log file (JSONL: written as records come; Parquet: rows kept until it rolls,
    ``handle`` None)."""

    path: str
    handle: Any
    opened: float
    roll_seconds: float
    size: int = 0
    rows: list[dict[str, Any]] = field(default_factory=list)


FileKey = tuple[str, str, str, int]  # (destination, model, version name, version number)


class PredictionLogger:
    """Samples records on the event loop and writes them on one thread (see the module
    docstring).

    Args:
        count: called with an outcome (``written``, ``dropped_queue_full``,
            ``dropped_write_failed``) and a number of records, for the metrics.
        queue_records: how many records may wait for the writer.
    """

    def __init__(self, count: Callable[[str, int], None], queue_records: int = QUEUE_RECORDS):
        self._count = count
        self._queue: queue.Queue[Record | None] = queue.Queue(queue_records)
        self._thread: threading.Thread | None = None
        self._files: dict[FileKey, _File] = {}
        self._failed_until: dict[str, float] = {}
        self._sequence = 0
        self._random = random.Random()

    def start(self) -> None:
        """Start the writer thread (once)."""
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._run, name="mlengine-prediction-log", daemon=True
            )
            self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Write what is queued and close the files (Parquet ones are written then)."""
        if self._thread is None:
            return
        try:
            self._queue.put(None, timeout=timeout)
        except queue.Full:
            pass
        self._thread.join(timeout)
        self._thread = None

    def offer(self, record: Record) -> None:
        """Queue a record if the sample takes it (on the event loop: never blocks)."""
        if record.config.sampling < 1.0 and self._random.random() >= record.config.sampling:
            return
        try:
            self._queue.put_nowait(record)
        except queue.Full:
            self._count("dropped_queue_full", 1)

    # ------------------------------------------------------------------ writer thread

    def _run(self) -> None:
        while True:
            try:
                record = self._queue.get(timeout=1.0)
            except queue.Empty:
                self._roll_old()
                continue
            if record is None:
                break
            self._write(record)
            self._roll_old()
        for key in list(self._files):
            self._close(key)

    def _write(self, record: Record) -> None:
        config = record.config
        destination = config.destination or ""
        if time.monotonic() < self._failed_until.get(destination, 0.0):
            self._count("dropped_write_failed", 1)
            return
        key = (destination, record.model, record.version, record.number)
        try:
            row = _row(record)
            target = self._files.get(key) or self._open(key, config, record.when)
            if target.handle is None:  # Parquet: kept until the file rolls
                text = {
                    **row,
                    "request": orjson.dumps(row["request"]).decode(),
                    "response": orjson.dumps(row["response"]).decode(),
                }
                target.rows.append(text)
                target.size += len(text["request"]) + len(text["response"])
            else:
                line = orjson.dumps(row) + b"\n"
                target.handle.write(line)
                target.handle.flush()
                target.size += len(line)
                self._count("written", 1)
            if target.size >= config.roll_bytes:
                self._close(key)
        except Exception as error:
            self._count("dropped_write_failed", 1)
            self._fail(destination, error)
            self._discard(key)

    def _open(self, key: FileKey, config: RequestLoggingConfig, when: float) -> _File:
        destination, model, version, _ = key
        stamp = datetime.fromtimestamp(when, UTC)
        self._sequence += 1
        parquet = config.format == "PARQUET"
        name = f"{stamp:%H%M%S}-{os.getpid()}-{self._sequence}.{'parquet' if parquet else 'jsonl'}"
        path = f"{destination.rstrip('/')}/{model}/{version}/{stamp:%Y-%m-%d}/{name}"
        handle = None if parquet else fsspec.open(path, "wb", auto_mkdir=True).open()
        opened = _File(path, handle, time.monotonic(), config.roll_seconds)
        self._files[key] = opened
        return opened

    def _roll_old(self) -> None:
        now = time.monotonic()
        for key, opened in list(self._files.items()):
            if now - opened.opened >= opened.roll_seconds:
                self._close(key)

    def _close(self, key: FileKey) -> None:
        opened = self._files.pop(key, None)
        if opened is None:
            return
        try:
            if opened.handle is not None:
                opened.handle.close()
            elif opened.rows:
                _write_parquet(opened.path, opened.rows)
                self._count("written", len(opened.rows))
        except Exception as error:
            if opened.handle is None:
                self._count("dropped_write_failed", len(opened.rows))
            self._fail(key[0], error)

    def _discard(self, key: FileKey) -> None:
        """Forget a file that failed (its Parquet rows are dropped and counted)."""
        opened = self._files.pop(key, None)
        if opened is None:
            return
        if opened.handle is None:
            self._count("dropped_write_failed", len(opened.rows))
        else:
            with contextlib.suppress(Exception):
                opened.handle.close()

    def _fail(self, destination: str, error: BaseException) -> None:
        if time.monotonic() >= self._failed_until.get(destination, 0.0):
            detail = " ".join(str(error).split()) or type(error).__name__
            log.warning(
                "prediction log destination %s failed (%s); dropping records for %.0f s",
                destination,
                detail,
                RETRY_SECONDS,
            )
        self._failed_until[destination] = time.monotonic() + RETRY_SECONDS


def _rows(columns: Mapping[str, Any], count: int) -> list[dict[str, Any]]:
    """Columns (lists or arrays, ``count`` values each) as one object per instance."""
    lists = {name: list(values) for name, values in columns.items()}
    return [{name: values[index] for name, values in lists.items()} for index in range(count)]


def _row(record: Record) -> dict[str, Any]:
    count = len(next(iter(record.instances.values()), []))
    outputs = {name: array.tolist() for name, array in record.outputs.items()}
    return {
        "time": datetime.fromtimestamp(record.when, UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "model": record.model,
        "version": record.version,
        "versionNumber": record.number,
        "protocol": record.protocol,
        "latencyMs": round(record.seconds * 1000, 3),
        "request": {"instances": _rows(record.instances, count)},
        "response": {"predictions": _rows(outputs, count)},
    }


def _write_parquet(path: str, rows: list[dict[str, Any]]) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    # Written beside its final name, then renamed: a reader listing ``*.parquet`` never sees a
    # file half written (a Parquet file is readable only once its footer is there).
    table = pa.Table.from_pylist(rows)
    fs, final = fsspec.core.url_to_fs(path)
    folder, name = posixpath.split(final)
    partial = posixpath.join(folder, f".{name}.partial")
    fs.makedirs(folder, exist_ok=True)
    with fs.open(partial, "wb") as handle:
        pq.write_table(table, handle)
    fs.mv(partial, final)


__all__ = [
    "QUEUE_RECORDS",
    "RETRY_SECONDS",
    "PredictionLogger",
    "Record",
    "check_destination",
]
