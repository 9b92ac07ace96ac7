"""``mlengine serve``: the prediction server over the registry, until SIGTERM or Ctrl-C."""

from __future__ import annotations

import gc
from typing import Annotated

import typer

from mlengine.cli.output import handle_errors

COMMAND = "mlengine.serve"

# ServeSettings' defaults, repeated here so that --help shows them without importing the
# server (torch); tests/cli/test_serve.py checks that they agree.
MAX_LOADED_VERSIONS = 4
POLL_INTERVAL = 0.5
MAX_BODY_BYTES = 1_572_864
MAX_BATCH_SIZE = 1024
MAX_BATCH_DELAY_MS = 1.0
# TF Serving's gRPC port: the port TF Serving's clients and examples (tensorflow-serving-api,
# `localhost:8500`) expect; Triton's clients take any port in their URL anyway.
GRPC_PORT = 8500
MAX_STRING_LENGTH = 4096
IDLE_TIMEOUT = 5.0
REQUEST_TIMEOUT = 30.0


def serve(
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free port).")
    ] = 8080,
    max_loaded_versions: Annotated[
        int, typer.Option("--max-loaded-versions", help="Versions kept in memory (LRU).")
    ] = MAX_LOADED_VERSIONS,
    poll_interval: Annotated[
        float,
        typer.Option("--poll-interval", help="Seconds between registry polls (new defaults)."),
    ] = POLL_INTERVAL,
    max_body_bytes: Annotated[
        int, typer.Option("--max-body-bytes", help="Request body limit (413 above; 1.5 MB).")
    ] = MAX_BODY_BYTES,
    max_string_length: Annotated[
        int,
        typer.Option(
            "--max-string-length",
            help="Longest string feature value, in characters (400 above).",
        ),
    ] = MAX_STRING_LENGTH,
    max_batch_size: Annotated[
        int, typer.Option("--max-batch-size", help="Instances per model call.")
    ] = MAX_BATCH_SIZE,
    max_batch_delay_ms: Annotated[
        float,
        typer.Option(
            "--max-batch-delay-ms", help="How long a batch may wait for more requests under load."
        ),
    ] = MAX_BATCH_DELAY_MS,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            help="Server processes sharing the port, each about one core and its own copy of "
            "the loaded versions (default: one per usable core, at most 8; 1: this process).",
            show_default=False,
        ),
    ] = None,
    grpc_port: Annotated[
        int,
        typer.Option(
            "--grpc-port",
            help="gRPC port: OIP v2's GRPCInferenceService and TF Serving's PredictionService "
            "and ModelService, on --host (0: any free port).",
        ),
    ] = GRPC_PORT,
    no_grpc: Annotated[bool, typer.Option("--no-grpc", help="Serve no gRPC at all.")] = False,
    timeout_keep_alive: Annotated[
        float,
        typer.Option(
            "--timeout-keep-alive",
            help="Seconds a connection may stay idle (before or between requests).",
        ),
    ] = IDLE_TIMEOUT,
    timeout_request: Annotated[
        float,
        typer.Option(
            "--timeout-request",
            help="Seconds a request may take to arrive from its first byte (408 after).",
        ),
    ] = REQUEST_TIMEOUT,
    access_log: Annotated[
        bool, typer.Option("--access-log", help="Log every request (costs throughput).")
    ] = False,
    log_level: Annotated[str, typer.Option("--log-level", help="uvicorn's log level.")] = "info",
) -> None:
    """Serve predictions (ML Engine v1, TF Serving REST, Open Inference Protocol v2; gRPC:
    OIP v2 and TF Serving's).

    MLENGINE_API_TOKEN protects management calls (and predictions with
    MLENGINE_PROTECT_PREDICT=1); MLENGINE_ALLOWED_ORIGINS lists where API-created versions may
    be read from.
    """
    with handle_errors(COMMAND):
        # Importing the server (torch, numpy, sqlalchemy) creates about a million objects;
        # without the collector running over them again and again it starts ~0.2 s sooner.
        # serve() freezes them and turns the collector back on.
        gc.disable()
        from mlengine.serving.settings import ServeSettings
        from mlengine.serving.workers import default_workers

        settings = ServeSettings.from_env(
            host=host,
            port=port,
            max_loaded_versions=max_loaded_versions,
            poll_interval=poll_interval,
            max_body_bytes=max_body_bytes,
            max_string_length=max_string_length,
            idle_timeout=timeout_keep_alive,
            request_timeout=timeout_request,
            max_batch_size=max_batch_size,
            max_batch_delay=max_batch_delay_ms / 1000,
            workers=default_workers() if workers is None else workers,
            grpc_port=None if no_grpc else grpc_port,
            access_log=access_log,
            log_level=log_level,
        )
        if settings.workers > 1:
            from mlengine.serving.workers import serve_workers

            code = serve_workers(settings)  # each worker opens the registry itself
        else:
            from mlengine.serving.server import serve_from_env

            code = serve_from_env(settings)
    if code:
        raise typer.Exit(code)
