"""A job's log file: its last lines (read from the end, so a huge log costs little) and a
follower that yields new text until the job is over."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

_BLOCK = 64 * 1024
MAX_TAIL_BYTES = 1 << 20
TAIL_LINES = 20


def tail_lines(path: str, lines: int, max_bytes: int = MAX_TAIL_BYTES) -> str:
    """The last ``lines`` lines of the file at ``path`` (at most ``max_bytes`` of them).

    A missing file reads as empty: a job that has not started has no log yet.
    """
    if lines <= 0:
        return ""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            end = handle.tell()
            start, data = end, b""
            while start > 0 and data.count(b"\n") <= lines and end - start < max_bytes:
                step = min(_BLOCK, start)
                start -= step
                handle.seek(start)
                data = handle.read(step) + data
    except FileNotFoundError:
        return ""
    text = data.decode("utf-8", errors="replace")
    kept = text.splitlines(keepends=True)[-lines:]
    return "".join(kept)


def read_all(path: str, max_bytes: int = 64 * MAX_TAIL_BYTES) -> str:
    """The whole log, or its last ``max_bytes`` when it is longer."""
    try:
        with open(path, "rb") as handle:
            handle.seek(0, os.SEEK_END)
            size = handle.tell()
            handle.seek(max(0, size - max_bytes))
            data = handle.read()
    except FileNotFoundError:
        return ""
    return data.decode("utf-8", errors="replace")


def follow(
    path: str,
    is_over: Callable[[], bool],
    poll: float = 0.5,
    timeout: float | None = None,
    start: int = 0,
) -> Iterator[str]:
    """Yield the log's text from byte ``start`` as it grows, until ``is_over()`` is true.

    Whatever was written before the job ended is yielded too: the file is read once more after
    ``is_over()`` turns true. Stops after ``timeout`` seconds if one is given.
    """
    deadline = None if timeout is None else time.monotonic() + timeout
    position = start
    pending = b""
    while True:
        over = is_over()
        try:
            with open(path, "rb") as handle:
                handle.seek(position)
                chunk = handle.read()
        except FileNotFoundError:
            chunk = b""
        position += len(chunk)
        data = pending + chunk
        # Yield whole lines only, so a multi-byte character is never split across reads.
        cut = data.rfind(b"\n") + 1 if not over else len(data)
        if cut:
            yield data[:cut].decode("utf-8", errors="replace")
        pending = data[cut:]
        if over or (deadline is not None and time.monotonic() > deadline):
            return
        time.sleep(poll)


def error_with_tail(summary: str, log_path: str) -> str:
    """``summary`` plus the job's last log lines (at most 4,000 characters of them)."""
    tail = tail_lines(log_path, TAIL_LINES).rstrip()
    if len(tail) > 4000:
        tail = "..." + tail[-3997:]
    return f"{summary} Last log lines:\n{tail}" if tail else summary


__all__ = ["MAX_TAIL_BYTES", "TAIL_LINES", "error_with_tail", "follow", "read_all", "tail_lines"]
