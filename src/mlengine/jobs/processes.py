"""Processes of a job: detached start, liveness, the process tree, and stopping all of it.

A job's main process runs in its own session (so its own process group); its supervisor is
detached from whoever submitted the job (a CLI that exits at once, or a server), and marks
itself a *child subreaper* on Linux, so processes that the job leaves behind (torchrun's
workers, which start their own sessions, or a trainer's children once the trainer is gone)
are re-parented to the supervisor and can still be found and stopped. Everything here reads
``/proc`` where it exists and falls back to plain signals elsewhere.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass

from mlengine.errors import MLEngineError

_PROC = "/proc"
_PR_SET_CHILD_SUBREAPER = 36

# Started with `python -c`: starts the command in a new session with its output in a file,
# prints its pid and exits, so the command is nobody's child (no zombie, no waiting parent).
_LAUNCHER = (
    "import os, subprocess, sys\n"
    "log = open(sys.argv[1], 'ab')\n"
    "proc = subprocess.Popen(sys.argv[2:], stdin=subprocess.DEVNULL, stdout=log, stderr=log,\n"
    "                        start_new_session=True, close_fds=True)\n"
    "sys.stdout.write(str(proc.pid))\n"
    "sys.stdout.flush()\n"
    "os._exit(0)\n"
)


@dataclass(frozen=True)
class ProcInfo:
    """One line of the process table: pid, parent, process group, and state (``Z``: zombie)."""

    pid: int
    ppid: int
    pgid: int
    state: str


def spawn_detached(
    argv: Sequence[str], log_path: str, env: Mapping[str, str], cwd: str, timeout: float = 60.0
) -> int:
    """Start ``argv`` detached (new session, stdin closed, output appended to ``log_path``).

    Returns its pid.

    Raises:
        MLEngineError: the launcher failed or did not answer within ``timeout`` seconds.
    """
    try:
        done = subprocess.run(
            [sys.executable, "-c", _LAUNCHER, log_path, *argv],
            env=dict(env),
            cwd=cwd,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        raise MLEngineError(f"Cannot start {argv[0]!r}: {error}") from error
    text = done.stdout.decode(errors="replace").strip()
    if done.returncode != 0 or not text.isdigit():
        detail = " ".join(done.stderr.decode(errors="replace").split())[-500:]
        raise MLEngineError(f"Cannot start {' '.join(argv[:3])}: {detail or 'no pid'}")
    return int(text)


def process_table() -> list[ProcInfo] | None:
    """Every process of this machine, or ``None`` where there is no ``/proc``."""
    if not os.path.isdir(_PROC):
        return None
    table = []
    for name in os.listdir(_PROC):
        if not name.isdigit():
            continue
        try:
            with open(f"{_PROC}/{name}/stat", "rb") as handle:
                text = handle.read().decode(errors="replace")
        except OSError:
            continue  # gone meanwhile
        # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
        fields = text[text.rfind(")") + 2 :].split()
        if len(fields) >= 3:
            table.append(ProcInfo(int(name), int(fields[1]), int(fields[2]), fields[0]))
    return table


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` names a running process (a zombie, which has exited, does not count)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    try:
        with open(f"{_PROC}/{pid}/stat", "rb") as handle:
            text = handle.read().decode(errors="replace")
    except OSError:
        return True  # no /proc: trust the signal
    return text[text.rfind(")") + 2 :].split()[:1] != ["Z"]


def group_alive(pgid: int) -> bool:
    """Whether any live (non-zombie) process remains in process group ``pgid``."""
    table = process_table()
    if table is None:
        try:
            os.killpg(pgid, 0)
        except (ProcessLookupError, PermissionError):
            return False
        return True
    return any(info.pgid == pgid and info.state != "Z" for info in table)


def descendants(root: int, table: Iterable[ProcInfo] | None = None) -> list[ProcInfo]:
    """The live processes below ``root`` in the process tree (children, grandchildren, ...)."""
    found = list(process_table() or []) if table is None else list(table)
    children: dict[int, list[ProcInfo]] = {}
    for info in found:
        children.setdefault(info.ppid, []).append(info)
    result: list[ProcInfo] = []
    stack = [root]
    while stack:
        for child in children.get(stack.pop(), []):
            if child.state != "Z":
                result.append(child)
            stack.append(child.pid)
    return result


def signal_group(pgid: int, signum: int) -> None:
    """Send ``signum`` to process group ``pgid``; a group already gone is not an error."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def signal_tree(pgid: int, signum: int, root: int | None = None) -> None:
    """Send ``signum`` to group ``pgid`` and to every process group found below ``root``."""
    signal_group(pgid, signum)
    if root is None:
        return
    own = os.getpgid(0)
    for pg in {info.pgid for info in descendants(root)} - {own, pgid}:
        signal_group(pg, signum)
    for info in descendants(root):
        if info.pgid == own:  # left in our own group (cannot be signalled as a group)
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(info.pid, signum)


def tree_alive(pgid: int, root: int | None = None) -> bool:
    """Whether group ``pgid`` or anything below ``root`` still runs."""
    return group_alive(pgid) or (root is not None and bool(descendants(root)))


def stop_tree(
    pgid: int,
    grace: float,
    root: int | None = None,
    keep: int | None = None,
    poll: float = 0.05,
) -> bool:
    """SIGTERM the group ``pgid`` (and the groups below ``root``), then SIGKILL after ``grace``.

    Returns whether SIGKILL was needed. Exited children are reaped meanwhile, except ``keep``
    (the main process, whose exit status its ``Popen`` still has to read).
    """
    signal_tree(pgid, signal.SIGTERM, root)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        reap_children(keep)
        if not tree_alive(pgid, root):
            return False
        time.sleep(poll)
    signal_tree(pgid, signal.SIGKILL, root)
    deadline = time.monotonic() + 10.0
    while tree_alive(pgid, root) and time.monotonic() < deadline:
        reap_children(keep)
        time.sleep(poll)
    return True


def reap_children(keep: int | Collection[int] | None = None) -> None:
    """Collect exited children (adopted orphans too), except ``keep`` (one pid or several),
    whose status is wanted."""
    kept = {keep} if isinstance(keep, int) else set(keep or ())
    for info in process_table() or []:
        if info.ppid == os.getpid() and info.state == "Z" and info.pid not in kept:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(info.pid, os.WNOHANG)


def become_subreaper() -> bool:
    """Make orphans below this process re-parent to it (Linux); returns whether it worked."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a torchrun rendezvous)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def describe_exit(code: int) -> str:
    """``exited with code 3`` or ``was killed by signal SIGKILL`` (Popen's negative codes)."""
    if code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = str(-code)
        return f"was killed by signal {name}"
    return f"exited with code {code}"


__all__ = [
    "ProcInfo",
    "become_subreaper",
    "describe_exit",
    "descendants",
    "free_port",
    "group_alive",
    "pid_alive",
    "process_table",
    "reap_children",
    "signal_group",
    "signal_tree",
    "spawn_detached",
    "stop_tree",
    "tree_alive",
]
