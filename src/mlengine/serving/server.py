"""Run the app under uvicorn: uvloop and httptools when installed, no access log.

:func:`serve_from_env` is one server process over the registry that the environment names;
``mlengine serve`` runs it in one process with ``--workers 1``, else in each worker of
:func:`mlengine.serving.workers.serve_workers`.

uvicorn handles SIGTERM and SIGINT: it stops accepting connections, lets the requests in flight
finish (up to ``graceful_timeout`` seconds), then runs the app's shutdown (last-use times are
written) and exits 0. Rolling updates depend on that. Connections are
:class:`~mlengine.serving.connections.ServingProtocol`'s: idle and slow clients time out, and
a kept-alive connection's request that arrives during shutdown is answered with
``Connection: close`` rather than reset.
"""

from __future__ import annotations

import ctypes
import gc
import socket
from typing import TYPE_CHECKING

import uvicorn

from mlengine.serving.settings import ServeSettings
from mlengine.tuning import KEPT_FREE_BYTES

if TYPE_CHECKING:  # the app's imports wait for the process that serves
    from starlette.applications import Starlette

    from mlengine.registry import Registry
    from mlengine.serving.balance import ConnectionBalancer

STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot start


def serve(
    registry: Registry,
    settings: ServeSettings,
    sockets: list[socket.socket] | None = None,
    balancer: ConnectionBalancer | None = None,
) -> int:
    """Serve in this process until SIGTERM/SIGINT (on ``sockets``, else on the settings' host
    and port; a worker of several with its ``balancer``); returns the exit code (0, or 3 if
    start-up failed)."""
    from mlengine.serving.app import create_app

    prepare_process()
    app = create_app(registry, settings)
    config = uvicorn_config(app, settings)
    freeze_imports()
    server = uvicorn.Server(config)
    if balancer is not None:
        balancer.connections = lambda: len(server.server_state.connections)
        app.balancer = balancer
        balancer.start()
    server.run(sockets)
    return 0 if server.started else STARTUP_FAILURE


def serve_from_env(
    settings: ServeSettings,
    sockets: list[socket.socket] | None = None,
    balancer: ConnectionBalancer | None = None,
) -> int:
    """:func:`serve` over the registry of ``MLENGINE_*`` (opened here, closed on exit). An
    unreachable database does not stop the server: it starts not ready and retries."""
    from mlengine.registry import allowed_origins_from_env
    from mlengine.serving.deferred import DeferredRegistry

    registry = DeferredRegistry(allowed_origins=allowed_origins_from_env())
    try:
        return serve(registry, settings, sockets, balancer)
    finally:
        registry.close()


def uvicorn_config(app: Starlette | None, settings: ServeSettings) -> uvicorn.Config:
    """uvicorn's configuration of one server process (``app`` None: only to bind the socket)."""
    from mlengine.serving.connections import protocol_for

    return uvicorn.Config(
        app,  # type: ignore[arg-type]
        workers=1,  # (not WEB_CONCURRENCY's): each process is one server
        host=settings.host,
        port=settings.port,
        lifespan="on",
        ws="none",
        access_log=settings.access_log,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        timeout_keep_alive=settings.idle_timeout,  # type: ignore[arg-type]
        http=protocol_for(settings.request_timeout),
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


def _keep_freed_memory() -> None:
    # glibc hands a freed block of over 128 KiB back to the kernel, and a worker thread's heap
    # gives back its free top: each batch's arrays were then fresh pages, faulted in one at a
    # time (see KEPT_FREE_BYTES in mlengine.tuning). Blocks up to half of KEPT_FREE_BYTES now
    # come from the heap, and up to that much free memory stays there. Not glibc: no change.
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt(_M_MMAP_THRESHOLD, KEPT_FREE_BYTES // 2)
    mallopt(_M_TRIM_THRESHOLD, KEPT_FREE_BYTES)


def freeze_imports() -> None:
    """Move everything imported so far (numpy, sqlalchemy, starlette: ~10^5 objects) out of
    the collector's reach, and turn it back on (``mlengine serve`` starts with it off).

    A full collection would otherwise walk them all under load (a pause every few seconds);
    forked workers also keep sharing those pages, which a collection would touch. No collection
    first: it would lengthen start-up only to free a few megabytes of import-time garbage.
    """
    gc.freeze()
    gc.enable()


__all__ = [
    "STARTUP_FAILURE",
    "freeze_imports",
    "prepare_process",
    "serve",
    "serve_from_env",
    "uvicorn_config",
]
