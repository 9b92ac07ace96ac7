"""``versions create --async``: the version is created by a process of its own, after the
command has returned with the operation's name.

:func:`start_create_version` runs ``python -m mlengine.cli.background`` with the request on its
standard input. That process forks once and exits (so the command has no child left to wait
for); the grandchild, in a session of its own, opens the registry, starts the creation
(:meth:`~mlengine.registry.Registry.begin_create_version`: the origin is checked first, and an
error there is the command's error), writes one JSON line (the operation's id, or the error) on
the pipe the command reads, then keeps copying until the version is READY or FAILED. The
version's row names that process as its creator, so if it dies the registry takes the row for
dead and fails it, as it does any creator's. ``mlengine operations describe|wait|cancel`` then
find the operation in the registry.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from typing import Any

from mlengine.errors import MLEngineError

HANDSHAKE_SECONDS = 120.0  # checking a remote origin before the first answer may take a while


def start_create_version(request: dict[str, Any]) -> str:
    """Start creating a version in the background; returns its operation's id.

    Args:
        request: ``model``, ``name``, ``origin`` and optionally ``description`` and ``labels``.

    Raises:
        MLEngineError: the creation could not start (the registry's own message).
    """
    process = subprocess.Popen(
        [sys.executable, "-m", "mlengine.cli.background"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        env=os.environ.copy(),
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        process.stdin.write(json.dumps(request).encode())
        process.stdin.close()
        process.wait(timeout=60)  # the first child exits at once, after its fork
        line = _read_line(process.stdout.fileno(), HANDSHAKE_SECONDS)
    finally:
        process.stdout.close()
    if not line:
        raise MLEngineError(
            "The background creation of the version stopped before it started (no answer in "
            f"{HANDSHAKE_SECONDS:.0f} s); run the command without --async to see why."
        )
    answer = json.loads(line)
    if "error" in answer:
        raise MLEngineError(str(answer["error"]))
    return str(answer["operation"])


def _read_line(fd: int, timeout: float) -> bytes:
    deadline = time.monotonic() + timeout
    data = b""
    while b"\n" not in data:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([fd], [], [], left)[0]:
            return b""
        chunk = os.read(fd, 4096)
        if not chunk:
            return data
        data += chunk
    return data.split(b"\n", 1)[0]


def _serve_request() -> None:
    """The grandchild: start the creation, answer on stdout, then finish it."""
    request = json.loads(sys.stdin.read())
    from mlengine.registry import Registry

    try:
        registry = Registry()
        operation = registry.begin_create_version(
            request["model"],
            request["name"],
            request["origin"],
            request.get("description"),
            request.get("labels"),
        )
    except Exception as error:
        sys.stdout.write(json.dumps({"error": str(error)}) + "\n")
        sys.stdout.flush()
        return
    sys.stdout.write(json.dumps({"operation": operation.id}) + "\n")
    sys.stdout.flush()
    devnull = os.open(os.devnull, os.O_RDWR)
    for fd in (0, 1, 2):
        os.dup2(devnull, fd)
    registry.close()  # waits until the version is READY or FAILED


def main() -> None:
    """Fork once (the command waits only for this first process), then create."""
    if os.fork() != 0:
        os._exit(0)
    os.setsid()
    _serve_request()


if __name__ == "__main__":
    main()


__all__ = ["HANDSHAKE_SECONDS", "start_create_version"]
