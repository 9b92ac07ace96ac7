"""Bearer-token access control, as an ASGI middleware.

With ``MLENGINE_API_TOKEN`` set, every request needs ``Authorization: Bearer <token>`` except
those to a path whose routes are declared (:mod:`mlengine.serving.routes`):

* :attr:`~mlengine.serving.routes.Access.OPEN`: health, readiness and ``/metrics``, always
  open, so probes and scrapers need no secret;
* :attr:`~mlengine.serving.routes.Access.PREDICT` and ``READ``: predictions and the prediction
  protocols' status and metadata, open unless ``MLENGINE_PROTECT_PREDICT=1``.

Everything else (the management of models, versions and jobs, and paths no route declares) is
a management call. The scheme is case-insensitive (``bearer`` works, as RFC 7235 says); tokens
are compared in constant time; a refusal is a 401 with ``WWW-Authenticate``.
"""

from __future__ import annotations

import hmac

from starlette.types import ASGIApp, Receive, Scope, Send

from mlengine.serving.errors import JSON_TYPE, error_body
from mlengine.serving.routes import Access, AccessRules


class BearerAuth:
    """Refuses requests without the token (see the module docstring)."""

    def __init__(
        self, app: ASGIApp, token: str, rules: AccessRules, protect_predict: bool = False
    ) -> None:
        self.app = app
        self._expected = token.encode()
        self.rules = rules
        self.protect_predict = protect_predict
        self.open = {Access.OPEN} if protect_predict else {Access.OPEN, Access.READ, Access.PREDICT}

    def allowed(self, path: str, authorization: bytes | None) -> bool:
        if self.rules.access(path) in self.open:
            return True
        if authorization is None:
            return False
        scheme, _, token = authorization.strip().partition(b" ")
        return scheme.lower() == b"bearer" and hmac.compare_digest(token.strip(), self._expected)

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
        google = self.rules.google_errors(scope["path"])
        body = error_body(message, 401, "UNAUTHENTICATED" if google else None)
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


__all__ = ["BearerAuth"]
