"""Run the app under uvicorn: one worker, uvloop and httptools when installed, no access log.

uvicorn handles SIGTERM and SIGINT: it stops accepting connections, lets the requests in flight
finish (up to ``graceful_timeout`` seconds), then runs the app's shutdown (last-use times are
written) and exits 0. Rolling updates depend on that.
"""

from __future__ import annotations

import gc
import logging

import uvicorn
from threadpoolctl import threadpool_limits

from mlengine.registry import Registry
from mlengine.serving.app import create_app
from mlengine.serving.settings import ServeSettings

STARTUP_FAILURE = 3  # uvicorn's exit code when the app cannot start

log = logging.getLogger("mlengine.serving")


def serve(registry: Registry, settings: ServeSettings) -> int:
    """Serve until SIGTERM/SIGINT; returns the exit code (0, or 3 if start-up failed)."""
    # The server parallelises model calls itself (on the event loop, or one worker thread per
    # core): BLAS's own thread pool would only compete. (numpy's OpenBLAS splits a 32-row
    # product over every core: on a busy machine its threads wait for each other, and the
    # product takes 7x longer than on one thread.) Torch is not imported by the server.
    threadpool_limits(1)
    config = uvicorn.Config(
        create_app(registry, settings),
        host=settings.host,
        port=settings.port,
        lifespan="on",
        ws="none",
        access_log=settings.access_log,
        log_level=settings.log_level,
        timeout_graceful_shutdown=int(settings.graceful_timeout),
        server_header=False,
    )
    # Move everything imported so far (numpy, sqlalchemy, starlette: ~10^5 objects) out of the
    # collector's reach: a full collection would otherwise walk them all under load (a pause of
    # ~100 ms every few seconds). No collection first: it would cost 0.15 s of start-up to
    # free a few megabytes of import-time garbage.
    gc.freeze()
    gc.enable()
    server = uvicorn.Server(config)
    server.run()
    return 0 if server.started else STARTUP_FAILURE


__all__ = ["STARTUP_FAILURE", "serve"]
