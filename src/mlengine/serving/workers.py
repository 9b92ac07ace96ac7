"""``mlengine serve --workers N``: N server processes on one listening socket.

The GIL keeps one process to about one core; each worker is a whole server (it loads its
versions and polls the registry) and the kernel spreads connections over them. By default
``mlengine serve`` runs one worker per usable core (:func:`default_workers`), as TF Serving
uses every core.

The supervisor imports the app before it forks the workers, so a worker starts with
everything imported (sooner than a fresh interpreter would: start-up with several workers
takes what one process takes) and shares those pages with its siblings. Nothing it
imports starts a thread or opens the registry: each worker opens its own. The Prometheus
metrics are kept in files under a private directory (set before ``prometheus_client`` is
imported, which picks its value class then) and ``GET /metrics`` sums them over the workers.

Workers share their connection counts (shared memory) so that one holding more than its share
asks some clients to reconnect (:mod:`mlengine.serving.balance`). With a gRPC port each worker
starts its own gRPC server after the fork, and they share that port with SO_REUSEPORT (the
kernel spreads gRPC connections over them); the supervisor checks the port is free first and
holds it for them (:func:`~mlengine.serving.grpc_server.reserve_port`).

The supervisor replaces a worker that dies (and drops its live gauges from the metrics); a
worker that fails to start stops the server with exit code 3, since every replacement would
fail the same way. On SIGTERM or SIGINT it passes SIGTERM on to each worker, which finishes
its requests in flight (up to ``graceful_timeout``) and exits; then the supervisor exits 0.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import multiprocessing
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
from multiprocessing.connection import wait
from multiprocessing.process import BaseProcess
from pathlib import Path

from mlengine.serving import server
from mlengine.serving.balance import ConnectionBalancer
from mlengine.serving.settings import METRICS_DIR_ENV, ServeSettings

MAX_DEFAULT_WORKERS = 8  # each worker holds its own copy of the loaded versions
_STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
_KILL_MARGIN = 10.0  # seconds past graceful_timeout before a worker that will not stop is killed

log = logging.getLogger("mlengine.serving")


def usable_cores(cgroup_root: Path = Path("/sys/fs/cgroup")) -> int:
    """The cores this process may use: its CPU affinity, bounded by a cgroup CPU quota (a
    container's CPU limit, which the affinity does not show), rounded up."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    quota = _cgroup_quota(cgroup_root)
    if quota is not None:
        cores = min(cores, max(1, math.ceil(quota)))
    return max(1, cores)


def _cgroup_quota(root: Path) -> float | None:
    """CPUs allowed by cgroup v2's ``cpu.max`` or v1's CFS quota; None when unlimited."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
    except (OSError, ValueError):
        try:
            quota = (root / "cpu" / "cpu.cfs_quota_us").read_text().strip()
            period = (root / "cpu" / "cpu.cfs_period_us").read_text().strip()
        except OSError:
            return None
    if quota in ("max", "-1"):
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def default_workers() -> int:
    """``mlengine serve``'s worker count: one per usable core, at most
    :data:`MAX_DEFAULT_WORKERS`."""
    return min(usable_cores(), MAX_DEFAULT_WORKERS)


def serve_workers(settings: ServeSettings) -> int:
    """Serve with ``settings.workers`` processes on one socket until SIGTERM/SIGINT; returns
    the exit code (0, or 3 if a worker could not start). Each worker opens the registry from
    the environment, as ``mlengine serve`` does."""
    metrics_dir = tempfile.mkdtemp(prefix="mlengine-metrics-")
    os.environ[METRICS_DIR_ENV] = metrics_dir
    try:
        # Imported after the variable is set, and before the fork: the workers inherit them.
        from mlengine.serving import app, deferred  # noqa: F401

        sock = server.uvicorn_config(None, settings).bind_socket()
        held = None
        try:
            if settings.grpc_port is not None:
                # Each worker starts a gRPC server on the same port (SO_REUSEPORT), after the
                # fork; the supervisor checks the port is free and keeps it for them.
                from mlengine.serving.grpc_server import reserve_port

                held = reserve_port(settings.host, settings.grpc_port)
                port = held.getsockname()[1]
                settings = dataclasses.replace(settings, grpc_port=port, grpc_reuse_port=True)
            server.freeze_imports()
            return _Supervisor(settings, sock).run()
        finally:
            sock.close()
            if held is not None:
                held.close()
    finally:
        del os.environ[METRICS_DIR_ENV]
        shutil.rmtree(metrics_dir, ignore_errors=True)


class _Supervisor:
    """Starts the workers, replaces those that die, and stops them on SIGTERM/SIGINT."""

    def __init__(self, settings: ServeSettings, sock: socket.socket) -> None:
        self.settings = settings
        self.sock = sock
        self.stopping = threading.Event()
        self.workers: list[BaseProcess] = []
        self._fork = multiprocessing.get_context("fork")
        # Each worker's connections (shared memory, inherited): see mlengine.serving.balance.
        self.connections = self._fork.RawArray("i", settings.workers)

    def run(self) -> int:
        previous = {sig: signal.signal(sig, self._stop) for sig in _STOP_SIGNALS}
        try:
            for index in range(self.settings.workers):
                self.workers.append(self._start(index))  # (each one started is stopped below)
            code = self._watch()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            self._stop_all()
        return code

    def _stop(self, _signum: int, _frame: object) -> None:
        self.stopping.set()

    def _start(self, index: int) -> BaseProcess:
        self.connections[index] = 0
        worker = self._fork.Process(
            target=_run_worker,
            args=(self.settings, self.sock, ConnectionBalancer(self.connections, index)),
            name=f"mlengine-serve-worker-{index}",
        )
        worker.start()
        return worker

    def _watch(self) -> int:
        """Replace workers that die until told to stop; 3 if one could not start."""
        from mlengine.serving.prometheus import forget_process  # (multiprocess mode: see above)

        while not self.stopping.is_set():
            wait([worker.sentinel for worker in self.workers], timeout=0.5)
            for index, worker in enumerate(self.workers):
                if worker.is_alive() or self.stopping.is_set():
                    continue
                worker.join()
                if worker.exitcode == server.STARTUP_FAILURE:
                    log.error("Worker %s failed to start; stopping the server.", worker.pid)
                    return server.STARTUP_FAILURE
                code = worker.exitcode
                log.warning("Worker %s died (exit code %s); starting another.", worker.pid, code)
                if worker.pid is not None:
                    forget_process(worker.pid)
                self.workers[index] = self._start(index)
        return 0

    def _stop_all(self) -> None:
        for worker in self.workers:
            if worker.is_alive() and worker.pid is not None:
                os.kill(worker.pid, signal.SIGTERM)
        for worker in self.workers:
            worker.join(self.settings.graceful_timeout + _KILL_MARGIN)
            if worker.is_alive():
                log.error("Worker %s did not stop in time; killing it.", worker.pid)
                worker.kill()
                worker.join()


def _run_worker(settings: ServeSettings, sock: socket.socket, balancer: ConnectionBalancer) -> None:
    """A worker process (forked): serve on the supervisor's socket until SIGTERM."""
    for sig in _STOP_SIGNALS:  # the supervisor's handlers; uvicorn installs its own
        signal.signal(sig, signal.SIG_DFL)
    try:
        code = server.serve_from_env(settings, [sock], balancer)
    except Exception as error:  # the registry could not be opened: every worker would fail alike
        log.error("Worker %s could not start: %s", os.getpid(), error)
        code = server.STARTUP_FAILURE
    sys.exit(code)


__all__ = ["MAX_DEFAULT_WORKERS", "default_workers", "serve_workers", "usable_cores"]
