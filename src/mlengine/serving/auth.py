"""Bearer-token access control, as an ASGI middleware.

With ``MLENGINE_API_TOKEN`` set, every request needs ``Authorization: Bearer <token>`` except:

* health, readiness and ``/metrics`` (``/v2/health/*``, ``/v2/models/.../ready``, ``/metrics``):
  always open, so probes and scrapers need no secret;
* predictions and the prediction protocols' read-only calls (ML Engine ``:predict``, TF
  Serving's ``/v1/models/...``, v2's ``/v2`` and ``/v2/models/...``): open unless
  ``MLENGINE_PROTECT_PREDICT=1``.

Everything else (ML Engine's management of models and versions, unknown paths) is a management
call. Tokens are compared in constant time; a refusal is a 401 with ``WWW-Authenticate``.
"""

from __future__ import annotations

import hmac
import re

from starlette.types import ASGIApp, Receive, Scope, Send

from mlengine.serving.errors import JSON_TYPE, error_body

OPEN = re.compile(
    r"^/(?:metrics|v2/health/(?:live|ready)|v2/models/[^/]+(?:/versions/[^/]+)?/ready)$"
)
PREDICTION = re.compile(
    r"^/(?:v1/projects/[^/]+/models/[^/]+(?:/versions/[^/]+)?:predict"
    r"|v1/models/.*|v2|v2/models/.*)$"
)


class BearerAuth:
    """Refuses requests without the token (see the module docstring)."""

    def __init__(self, app: ASGIApp, token: str, protect_predict: bool = False) -> None:
        self.app = app
        self._expected = f"Bearer {token}".encode()
        self.protect_predict = protect_predict

    def allowed(self, path: str, authorization: bytes | None) -> bool:
        if OPEN.match(path):
            return True
        if not self.protect_predict and PREDICTION.match(path):
            return True
        return authorization is not None and hmac.compare_digest(authorization, self._expected)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        authorization = None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
                break
        if self.allowed(scope["path"], authorization):
            await self.app(scope, receive, send)
            return
        message = (
            "This call needs an API token: send 'Authorization: Bearer <token>'."
            if authorization is None
            else "The API token is not valid."
        )
        body = error_body(message)
        await send(
            {
                "type": "http.response.start",
                "status": 401,
                "headers": [
                    (b"content-type", JSON_TYPE.encode()),
                    (b"content-length", str(len(body)).encode()),
                    (b"www-authenticate", b'Bearer realm="mlengine"'),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})


__all__ = ["OPEN", "PREDICTION", "BearerAuth"]
