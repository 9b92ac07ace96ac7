"""Reading request bodies (size limit, strict JSON) and writing JSON responses with orjson.

Bodies are read against the configured limit: a ``Content-Length`` over it is refused before a
byte is read, and a chunked body is counted as it arrives, so neither costs more than the limit
in memory. JSON is strict (orjson, through :func:`mlengine.limits.load_json`):
``NaN``/``Infinity`` tokens, numbers that overflow a double, invalid UTF-8, lone surrogates and
nesting deeper than :data:`~mlengine.limits.MAX_JSON_DEPTH` are refused with a 400 that says
why. Bodies over :data:`~mlengine.tuning.OFF_LOOP_BYTES` are parsed on a worker thread by the
caller (:class:`mlengine.serving.context.ServingContext`), so they never hold up the event loop.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from mlengine.limits import JSONLimitError, load_json
from mlengine.serving.errors import JSON_TYPE, ApiError, invalid

_NON_FINITE = (b"NaN", b"Infinity")


def json_response(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    """``data`` as a JSON response (orjson: numpy scalars and arrays too)."""
    body = orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY)
    return Response(body, status, headers=headers, media_type=JSON_TYPE)


def too_large(limit: int) -> ApiError:
    return ApiError(
        "PAYLOAD_TOO_LARGE",
        f"The request body is larger than the server's limit of {limit} bytes; "
        "send fewer instances per request.",
    )


async def read_body(request: Request, limit: int) -> bytes:
    """The raw body, refused with 413 once it is over ``limit`` bytes.

    Reads the ASGI messages itself: Starlette's header parsing and body stream cost more than
    the rest of reading a one-instance request.
    """
    header = next((v for k, v in request.scope["headers"] if k == b"content-length"), None)
    if header is not None:
        declared = header.decode("latin-1")
        try:
            size = int(declared)
        except ValueError:
            raise invalid(f"Invalid Content-Length header {declared[:40]!r}.") from None
        if size > limit:
            raise too_large(limit)
    chunks: list[bytes] = []
    total = 0
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            raise ClientDisconnect()
        chunk = message.get("body", b"")
        total += len(chunk)
        if total > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def parse_json(body: bytes) -> Any:
    """Strict JSON; a 400 naming the problem otherwise."""
    if not body.strip():
        raise invalid("The request body is empty; send a JSON object.")
    try:
        return load_json(body)
    except JSONLimitError as error:
        raise invalid(f"The request body is not accepted: {error}") from None
    except orjson.JSONDecodeError as error:
        if any(token in body for token in _NON_FINITE):
            raise invalid(
                "The request body is not valid JSON: NaN and Infinity are not JSON numbers; "
                "send finite numbers (or null for a missing value)."
            ) from None
        raise invalid(f"The request body is not valid JSON: {error}.") from None


def json_type(value: Any) -> str:
    """The JSON name of a value's type, for messages."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


__all__ = [
    "json_response",
    "json_type",
    "parse_json",
    "read_body",
    "too_large",
]
