"""What every protocol module shares: the registry, the model manager, metrics, settings, and
the one request frame that all three protocols' predictions go through."""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from mlengine.registry import Registry, RequestLoggingConfig
from mlengine.serving.batching import Outputs
from mlengine.serving.errors import JSON_TYPE, error_response, invalid, status_of
from mlengine.serving.http import json_type, parse_json, read_body
from mlengine.serving.model_manager import LoadedVersion, ModelManager
from mlengine.serving.prediction_log import PredictionLogger, Record, check_destination
from mlengine.serving.prometheus import Metrics
from mlengine.serving.schema import Columns
from mlengine.serving.settings import ServeSettings
from mlengine.tuning import OFF_LOOP_BYTES

T = TypeVar("T")
BINARY_HEADER = "inference-header-content-length"  # OIP v2's binary tensor data extension
BINARY_TYPE = "application/octet-stream"
# parse(version, body) -> (columns, what render needs); render(version, outputs, that) -> JSON
Parse = Callable[[LoadedVersion, dict[str, Any]], tuple[Columns, Any]]
# decode(version, raw body) -> what parse gives, for the usual request only (else None)
Decode = Callable[[LoadedVersion, bytes], tuple[Columns, Any] | None]
Render = Callable[[LoadedVersion, Outputs, Any], Any]


@dataclass
class ServingContext:
    """The server's shared state, handed to each protocol module."""

    registry: Registry
    settings: ServeSettings
    manager: ModelManager
    metrics: Metrics
    logger: PredictionLogger | None = None

    async def check_log_destination(self, config: RequestLoggingConfig) -> None:
        """Refuse a request logging config whose destination the server may not or cannot
        write (see :func:`~mlengine.serving.prediction_log.check_destination`)."""
        if config.destination is not None:
            allowed = self.settings.allowed_log_destinations
            await self.manager.call(check_destination, config.destination, allowed)

    async def body(self, request: Request, allow_empty: bool = False) -> dict[str, Any]:
        """The request's JSON object body (size-limited, strict JSON)."""
        raw = await read_body(request, self.settings.max_body_bytes)
        if allow_empty and not raw.strip():
            return {}
        big = len(raw) > OFF_LOOP_BYTES
        return await self.maybe_off_loop(big, json_object, raw)

    async def maybe_off_loop(self, off: bool, function: Callable[..., T], *args: Any) -> T:
        """``function(*args)``, on an I/O thread when ``off`` (work big enough to stall)."""
        if not off:
            return function(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.manager.io, functools.partial(function, *args))

    async def predict(
        self,
        protocol: str,
        request: Request,
        model: str,
        version: str | None,
        parse: Parse,
        render: Render,
        decode: Decode | None = None,
        log: bool = True,
        render_off_loop: bool = False,
    ) -> Response:
        """The frame of every prediction: read, resolve, check, batch, render, count.

        ``decode`` reads the usual request straight from its bytes; when it gives None, the
        body is parsed as JSON and ``parse`` reads it (and says what is wrong). ``log``: whether
        the version's prediction log may record it; ``render_off_loop``: render on a thread
        whatever the size (a render that runs a model, as ``:explain``'s). JSON parsing,
        checking and rendering move to a thread for bodies over
        :data:`~mlengine.tuning.OFF_LOOP_BYTES`, so big requests never stall small ones.
        """
        started = time.perf_counter()
        loaded: LoadedVersion | None = None
        columns: Columns | None = None
        outputs: Outputs | None = None
        try:
            raw = await read_body(request, self.settings.max_body_bytes)
            off = len(raw) > OFF_LOOP_BYTES
            loaded = await self.manager.resolve(model, version)
            decoded = None
            if decode is not None:
                decoded = await self.maybe_off_loop(off, decode, loaded, raw)
            if decoded is None:
                body = await self.maybe_off_loop(off, json_object, raw)
                decoded = await self.maybe_off_loop(off, parse, loaded, body)
            columns, extra = decoded
            outputs = await loaded.predict(columns)
            content, headers = await self.maybe_off_loop(
                off or render_off_loop, _dumps, render, loaded, outputs, extra
            )
            if headers is None:
                response = Response(content, media_type=JSON_TYPE)
            else:
                response = Response(content, headers=headers, media_type=BINARY_TYPE)
            self.manager.record_use(loaded)
        except Exception as error:
            response = error_response(error)
        if not log:
            outputs = None  # (counted, never written to the prediction log)
        self.account(protocol, started, loaded, response.status_code, columns, outputs)
        return response

    async def infer(
        self,
        protocol: str,
        model: str,
        version: str | None,
        decode: Callable[[LoadedVersion], tuple[Columns, Any]],
        render: Callable[[LoadedVersion, Outputs, Any], T],
    ) -> T:
        """The frame of a prediction that is not HTTP (gRPC): resolve, check, batch, render,
        count and log as :meth:`predict` does; an error is counted, then raised for the caller
        to answer in its protocol."""
        started = time.perf_counter()
        loaded: LoadedVersion | None = None
        columns: Columns | None = None
        try:
            loaded = await self.manager.resolve(model, version)
            columns, extra = decode(loaded)
            outputs = await loaded.predict(columns)
            answer = render(loaded, outputs, extra)
            self.manager.record_use(loaded)
        except Exception as error:
            self.account(protocol, started, loaded, status_of(error), columns)
            raise
        self.account(protocol, started, loaded, 200, columns, outputs)
        return answer

    def account(
        self,
        protocol: str,
        started: float,
        loaded: LoadedVersion | None,
        status: int,
        columns: Columns | None,
        outputs: Outputs | None = None,
    ) -> None:
        """Count a prediction request (metrics, statistics) and log it if its version logs."""
        seconds = time.perf_counter() - started
        count = 0 if columns is None else columns.count
        if loaded is None:
            self.metrics.observe("", "", protocol, seconds, status, count)
            return
        self.metrics.observe(loaded.model, loaded.name, protocol, seconds, status, count)
        self.metrics.statistics.request(loaded.model, loaded.number, seconds, status < 400, count)
        if status >= 400 or columns is None or outputs is None or self.logger is None:
            return
        config = self.manager.logging_config(loaded.model, loaded.number)
        if config is not None:
            self.logger.offer(
                Record(
                    config,
                    loaded.model,
                    loaded.name,
                    loaded.number,
                    protocol,
                    seconds,
                    time.time(),
                    columns.values,
                    outputs,
                )
            )


def endpoint(
    handler: Callable[[Request], Awaitable[Response]], google: bool = False
) -> Callable[[Request], Any]:
    """Wrap a route handler so that any error is answered as JSON (never re-raised); in
    Google's form when ``google`` (see :mod:`mlengine.serving.errors`)."""

    @functools.wraps(handler)
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        except Exception as error:
            return error_response(error, google)

    return wrapped


def json_object(raw: bytes) -> dict[str, Any]:
    """A request body (or the JSON part of one) that must be a JSON object."""
    data = parse_json(raw)
    if not isinstance(data, dict):
        raise invalid(f"The request body must be a JSON object; got {json_type(data)}.")
    return data


def _numpy_as_json(value: Any) -> Any:
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    raise TypeError(f"Cannot write a {type(value).__name__} as JSON.")


encode_json = msgspec.json.Encoder(enc_hook=_numpy_as_json).encode
"""A rendered answer as JSON bytes: msgspec structs (prediction rows), numpy arrays too."""


@dataclass(frozen=True)
class Framed:
    """An answer that is a JSON header followed by raw bytes (OIP v2's binary tensor data):
    the frame sends ``header`` as JSON, then ``chunks``, and says the header's length in the
    ``Inference-Header-Content-Length`` HTTP header."""

    header: Any
    chunks: list[bytes]


def _dumps(
    render: Render, loaded: LoadedVersion, outputs: Outputs, extra: Any
) -> tuple[bytes, dict[str, str] | None]:
    answer = render(loaded, outputs, extra)
    if isinstance(answer, Framed):
        header = encode_json(answer.header)
        body = b"".join([header, *answer.chunks])
        return body, {BINARY_HEADER: str(len(header))}
    return encode_json(answer), None


__all__ = [
    "BINARY_HEADER",
    "BINARY_TYPE",
    "Decode",
    "Framed",
    "Parse",
    "Render",
    "ServingContext",
    "encode_json",
    "endpoint",
    "json_object",
]
