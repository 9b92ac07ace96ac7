"""Errors as the server answers them: one code → HTTP status table, and two bodies.

Every error carries a canonical code (:class:`mlengine.errors.MLEngineError` subclasses have
one, :class:`ApiError` names its own), and :data:`STATUS_BY_CODE` is the only place that turns
a code into an HTTP status (TF Serving's mapping). The body is ``{"error": "..."}`` on every
prediction route (TF Serving's, KServe's and ML Engine's ``:predict`` alike), and Google's JSON
error ``{"error": {"code": <HTTP status>, "message": "...", "status": "NOT_FOUND"}}`` on ML
Engine's management routes (models, versions, operations, jobs), whose clients
(google-api-python-client, gcloud) read that form. Messages reach the client scrubbed: file
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
# google.rpc.Code names for the codes that have none of their own.
_GOOGLE_STATUS = {"PAYLOAD_TOO_LARGE": "INVALID_ARGUMENT", "METHOD_NOT_ALLOWED": "UNIMPLEMENTED"}
_CODE_BY_STATUS = {
    400: "INVALID_ARGUMENT",
    401: "UNAUTHENTICATED",
    403: "PERMISSION_DENIED",
    404: "NOT_FOUND",
    405: "UNIMPLEMENTED",
    409: "ALREADY_EXISTS",
    413: "INVALID_ARGUMENT",
    429: "RESOURCE_EXHAUSTED",
    499: "CANCELLED",
    501: "UNIMPLEMENTED",
    503: "UNAVAILABLE",
    504: "DEADLINE_EXCEEDED",
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


def code_of(error: BaseException) -> str:
    """The canonical (google.rpc) code name of an error."""
    if isinstance(error, MLEngineError):
        return _GOOGLE_STATUS.get(error.code, error.code)
    if isinstance(error, HTTPException):
        return _CODE_BY_STATUS.get(error.status_code, "UNKNOWN")
    return "INTERNAL"


def error_body(message: str, status: int = 400, code: str | None = None) -> bytes:
    """``{"error": message}``; with ``code`` (a google.rpc code name), Google's form
    ``{"error": {"code": status, "message": message, "status": code}}``."""
    if code is None:
        return orjson.dumps({"error": message})
    return orjson.dumps({"error": {"code": status, "message": message, "status": code}})


def error_message(error: BaseException) -> str:
    """What the client is told: the scrubbed message (a generic one for unexpected errors,
    which are logged with their traceback)."""
    if isinstance(error, HTTPException):
        return str(error.detail)
    if isinstance(error, MLEngineError):
        # Expected errors: no log line per request (a version that failed to load was logged
        # once, when it failed), except INTERNAL ones, which point at a bug.
        if status_of(error) == 500:
            log.warning("%s: %s", type(error).__name__, error)
        return scrub(str(error))
    log.error("unexpected error", exc_info=error)
    return INTERNAL_MESSAGE


def error_response(error: BaseException, google: bool = False) -> Response:
    """The JSON response of an error (``google``: in Google's form, see the module
    docstring)."""
    status = status_of(error)
    headers: dict[str, str] = {}
    if isinstance(error, HTTPException):
        headers = dict(error.headers or {})
    elif isinstance(error, MLEngineError):
        headers = getattr(error, "headers", {})
    message = error_message(error)
    body = error_body(message, status, code_of(error) if google else None)
    return Response(body, status, headers=headers, media_type=JSON_TYPE)


async def _handle(request: Request, error: Exception) -> Response:
    # A 405 (or any error raised outside a route's own handler) on an ML Engine management
    # path is answered in Google's form too: the app keeps the paths' rules in its state.
    rules = getattr(request.app.state, "rules", None)
    google = rules is not None and rules.google_errors(request.url.path)
    return error_response(error, google)


EXCEPTION_HANDLERS: dict[Any, Any] = {
    HTTPException: _handle,
    MLEngineError: _handle,
    Exception: _handle,
}

__all__ = [
    "EXCEPTION_HANDLERS",
    "STATUS_BY_CODE",
    "ApiError",
    "code_of",
    "error_body",
    "error_message",
    "error_response",
    "invalid",
    "scrub",
    "status_of",
]
