"""Errors as the server answers them: one code → HTTP status table, and ``{"error": "..."}``.

Every error carries a canonical code (:class:`mlengine.errors.MLEngineError` subclasses have
one, :class:`ApiError` names its own), and :data:`STATUS_BY_CODE` is the only place that turns
a code into an HTTP status (TF Serving's mapping). Messages reach the client scrubbed: file
paths become ``<path>`` and nothing but the message is sent, never a traceback; unexpected
exceptions are logged and answered with a generic 500.
"""

from __future__ import annotations

import logging
from typing import Any

import orjson
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from mlengine.errors import MLEngineError, scrub

log = logging.getLogger("mlengine.serving")

# Canonical codes (google.rpc.Code names, as TF Serving and ML Engine use them) → HTTP status.
STATUS_BY_CODE: dict[str, int] = {
    "OK": 200,
    "INVALID_ARGUMENT": 400,
    "FAILED_PRECONDITION": 400,
    "OUT_OF_RANGE": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "METHOD_NOT_ALLOWED": 405,
    "ALREADY_EXISTS": 409,
    "ABORTED": 409,
    "PAYLOAD_TOO_LARGE": 413,
    "RESOURCE_EXHAUSTED": 429,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INTERNAL": 500,
    "UNIMPLEMENTED": 501,
    "UNAVAILABLE": 503,
    "DEADLINE_EXCEEDED": 504,
}
INTERNAL_MESSAGE = "Internal server error; the server log has the details."
JSON_TYPE = "application/json"


class ApiError(MLEngineError):
    """An error the server answers with, by canonical code (see :data:`STATUS_BY_CODE`)."""

    def __init__(self, code: str, message: str, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.code = code
        self.headers = headers or {}


def invalid(message: str) -> ApiError:
    """An INVALID_ARGUMENT error (HTTP 400)."""
    return ApiError("INVALID_ARGUMENT", message)


def status_of(error: BaseException) -> int:
    """The HTTP status of an error (500 for anything unexpected)."""
    if isinstance(error, HTTPException):
        return error.status_code
    if isinstance(error, MLEngineError):
        return STATUS_BY_CODE.get(error.code, 500)
    return 500


def error_body(message: str) -> bytes:
    return orjson.dumps({"error": message})


def error_response(error: BaseException) -> Response:
    """The JSON response of an error; unexpected ones are logged with their traceback."""
    status = status_of(error)
    headers: dict[str, str] = {}
    if isinstance(error, HTTPException):
        message = str(error.detail)
        headers = dict(error.headers or {})
    elif isinstance(error, MLEngineError):
        # Expected errors: no log line per request (a version that failed to load was logged
        # once, when it failed), except INTERNAL ones, which point at a bug.
        if status == 500:
            log.warning("%s: %s", type(error).__name__, error)
        message = scrub(str(error))
        headers = getattr(error, "headers", {})
    else:
        log.error("unexpected error", exc_info=error)
        message = INTERNAL_MESSAGE
    return Response(error_body(message), status, headers=headers, media_type=JSON_TYPE)


async def _handle(_request: Request, error: Exception) -> Response:
    return error_response(error)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: _handle,
    MLEngineError: _handle,
    Exception: _handle,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "STATUS_BY_CODE",
    "ApiError",
    "error_response",
    "invalid",
    "scrub",
    "status_of",
]
