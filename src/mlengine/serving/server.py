"""Run the app under uvicorn: uvloop and httptools when installed, no access log.

One process by default. ``workers > 1`` starts that many server processes on one listening
socket (uvicorn's supervisor; the kernel spreads connections over them): the GIL keeps one
process to about one core, and a second core doubles what the model and the JSON work can do.
Each worker loads its own versions and polls the registry; the Prometheus metrics are kept in
files under a private directory and ``GET /metrics`` sums them over the workers.

uvicorn handles SIGTERM and SIGINT: it stops accepting connections, lets the requests in flight
finish (up to ``graceful_timeout`` seconds), then runs the app's shutdown (last-use times are
written) and exits 0. Rolling updates depend on that. With workers, the supervisor passes
SIGTERM on to each of them and waits.
"""

from __future__ import annotations

import atexit
import ctypes
import dataclasses
import gc
import json
import logging
import os
import shutil
import tempfile
from typing import TYPE_CHECKING

import uvicorn
from uvicorn.supervisors import Multiprocess

from mlengine.serving.metrics import MULTIPROCESS_ENV, forget_process
from mlengine.serving.settings import ENV_SETTINGS, ServeSettings

if TYPE_CHECKING:  # the app's imports wait for the process that serves (see serve_workers)
    from starlette.applications import Starlette

    from mlengine.registry import Registry

STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot start
WORKER_SETTINGS_ENV = "MLENGINE_SERVE_WORKER_SETTINGS"  # the flags, for worker processes

log = logging.getLogger("mlengine.serving")


def serve(registry: Registry, settings: ServeSettings) -> int:
    """Serve in this process until SIGTERM/SIGINT; returns the exit code (0, or 3 if start-up
    failed)."""
    from mlengine.serving.app import create_app

    prepare_process()
    config = _config(create_app(registry, settings), settings)
    _freeze()
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILURE


def worker_app() -> Starlette:
    """The app of one worker process (uvicorn's factory): settings from the supervisor."""
    from mlengine.registry import allowed_origins_from_env
    from mlengine.serving.app import create_app
    from mlengine.serving.deferred import DeferredRegistry

    overrides = json.loads(os.environ[WORKER_SETTINGS_ENV])
    settings = ServeSettings.from_env(**overrides)
    registry = DeferredRegistry(allowed_origins=allowed_origins_from_env())
    atexit.register(registry.close)
    prepare_process()
    app = create_app(registry, settings)
    _freeze()
    return app


def serve_workers(settings: ServeSettings) -> int:
    """Serve with ``settings.workers`` processes on one socket until SIGTERM/SIGINT; returns
    the exit code (0, or 3 if a worker could not start). Each worker opens the registry from
    the environment, as ``mlengine serve`` does."""
    metrics_dir = tempfile.mkdtemp(prefix="mlengine-metrics-")
    flags = {
        f.name: getattr(settings, f.name)
        for f in dataclasses.fields(settings)
        if f.name not in ENV_SETTINGS
    }
    os.environ[WORKER_SETTINGS_ENV] = json.dumps(flags)
    os.environ[MULTIPROCESS_ENV] = metrics_dir  # read by the workers' prometheus_client
    try:
        config = _config("mlengine.serving.server:worker_app", settings)
        supervisor = _Supervisor(config, sockets=[config.bind_socket()])
        _freeze()
        supervisor.run()
        failed = any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes)
        return STARTUP_FAILURE if failed else 0
    finally:
        del os.environ[MULTIPROCESS_ENV], os.environ[WORKER_SETTINGS_ENV]
        shutil.rmtree(metrics_dir, ignore_errors=True)


class _Supervisor(Multiprocess):
    """uvicorn's supervisor (restarts a worker that died), which also drops a dead worker's
    live gauges from the metrics."""

    def keep_subprocess_alive(self) -> None:
        before = {process.pid for process in self.processes}
        super().keep_subprocess_alive()
        for pid in before - {process.pid for process in self.processes}:
            if pid is not None:
                forget_process(pid)


def _config(app: Starlette | str, settings: ServeSettings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        factory=isinstance(app, str),
        workers=settings.workers,
        host=settings.host,
        port=settings.port,
        lifespan="on",
        ws="none",
        access_log=settings.access_log,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        server_header=False,
    )


def prepare_process() -> None:
    """What a serving process changes in its defaults: BLAS on one thread, and freed memory
    kept for the next batch."""
    _quiet_blas()
    _keep_freed_memory()


def _quiet_blas() -> None:
    from threadpoolctl import threadpool_limits

    # The server parallelises model calls itself (on the event loop, or one worker thread per
    # core): BLAS's own thread pool would only compete. (numpy's OpenBLAS splits a 32-row
    # product over every core: on a busy machine its threads wait for each other, and the
    # product takes 7x longer than on one thread.) Torch is not imported by the server.
    threadpool_limits(1)


_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # glibc's mallopt parameters
KEPT_FREE_BYTES = 64 << 20


def _keep_freed_memory() -> None:
    # glibc hands a freed block of over 128 KiB back to the kernel, and a worker thread's heap
    # gives back its free top: each batch's arrays (800 rows x 129 float32 units: 400 KiB)
    # were then fresh pages, faulted in one at a time (about 25 page faults per 100-instance
    # request, and a model call up to 1.3 times as long). Blocks up to half this size now come
    # from the heap, and up to this much free memory stays there. Not glibc: nothing changes.
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, KEPT_FREE_BYTES // 2)
    mallopt(_M_TRIM_THRESHOLD, KEPT_FREE_BYTES)


def _freeze() -> None:
    # Move everything imported so far (numpy, sqlalchemy, starlette: ~10^5 objects) out of the
    # collector's reach: a full collection would otherwise walk them all under load (a pause of
    # ~100 ms every few seconds). No collection first: it would cost 0.15 s of start-up to
    # free a few megabytes of import-time garbage.
    gc.freeze()
    gc.enable()


__all__ = ["STARTUP_FAILURE", "prepare_process", "serve", "serve_workers", "worker_app"]
