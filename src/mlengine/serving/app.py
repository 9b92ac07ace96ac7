"""``create_app(registry, settings)``: the Starlette app of ``mlengine serve``.

One app serves three protocols over one registry (see :mod:`~mlengine.serving.mlengine_v1`,
:mod:`~mlengine.serving.tfserving`, :mod:`~mlengine.serving.v2`) plus ``GET /metrics``, and,
with ``settings.grpc_port``, the gRPC port in the same event loop
(:mod:`~mlengine.serving.grpc_server`). Its lifespan loads and warms the default versions before
the server accepts connections (HTTP and gRPC), and on shutdown writes the pending last-use
times. Each protocol module declares its routes once, as
:class:`~mlengine.serving.routes.ApiRoute` objects that carry their access; the app's routing,
the prediction fast path and, with an API token, the rules of
:class:`~mlengine.serving.auth.BearerAuth` all derive from that one list. Anything else is a
JSON 404 or 405. Ahead of everything, :class:`~mlengine.serving.guard.SiteGuard` refuses
management calls from another site and, on a loopback address, requests naming another host.

Run it with uvicorn (``mlengine serve`` does, see :func:`mlengine.serving.server.serve`)::

    app = create_app(Registry(allowed_origins=...), ServeSettings.from_env())
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match
from starlette.types import Message, Receive, Scope, Send

from mlengine.registry import Registry
from mlengine.serving import openapi
from mlengine.serving.auth import BearerAuth
from mlengine.serving.balance import ConnectionBalancer
from mlengine.serving.console import Console
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import EXCEPTION_HANDLERS
from mlengine.serving.evidence import Evidence
from mlengine.serving.explain import Explain
from mlengine.serving.guard import SiteGuard
from mlengine.serving.http import json_response
from mlengine.serving.jobs import Jobs
from mlengine.serving.mlengine_v1 import MLEngineV1
from mlengine.serving.model_manager import ModelManager
from mlengine.serving.operations import Operations
from mlengine.serving.prediction_log import PredictionLogger
from mlengine.serving.prometheus import Metrics
from mlengine.serving.routes import Access, AccessRules, ApiRoute
from mlengine.serving.settings import ServeSettings
from mlengine.serving.tfserving import TFServing
from mlengine.serving.v2 import V2

if TYPE_CHECKING:
    from mlengine.serving.grpc_server import GrpcServer


class PredictionFastPath:
    """A prediction POST straight to its route's endpoint, ahead of everything else: the
    routes declared with :attr:`~mlengine.serving.routes.Access.PREDICT`.

    Predictions are the hot path: this skips Starlette's middleware stack, the scan of every
    route and Starlette's per-request wrappers, calling the route's endpoint itself (a large
    part of what the server spends on a one-instance prediction besides the model). Nothing
    skipped applies to these routes: their endpoints answer every error themselves (see
    :func:`~mlengine.serving.context.endpoint`), the console only serves GETs, and when
    predictions need a token (``MLENGINE_PROTECT_PREDICT=1``) the shortcut is not installed.
    """

    def __init__(self, routes: list[BaseRoute]) -> None:
        self.routes = [
            route
            for route in routes
            if isinstance(route, ApiRoute) and route.access is Access.PREDICT
        ]

    async def handle(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        balancer: ConnectionBalancer | None = None,
    ) -> bool:
        """Answer ``scope`` if it is a prediction; False (nothing sent) otherwise. The
        ``balancer`` of a worker may ask the client to reconnect (``Connection: close``)."""
        if scope["type"] != "http" or scope["method"] != "POST":
            return False
        for route in self.routes:
            match, child = route.matches(scope)
            if match is Match.FULL:
                response = await route.endpoint(Request({**scope, **child}, receive))
                if balancer is not None and balancer.close_this_one():
                    response.headers["connection"] = "close"
                await response(scope, receive, send)
                return True
        return False


# The protocol label of a refused request, from its path (a fixed, small set of values).
_PROTOCOLS = [
    (re.compile(r"^/v1/projects/[^/]+/jobs"), "jobs"),
    (re.compile(r"^/v1/projects/[^/]+/operations"), "operations"),
    (re.compile(r":explain$"), "explain"),
    (re.compile(r"^/v1/projects/"), "mlengine_v1"),
    (re.compile(r"^/v1/models"), "tfserving"),
    (re.compile(r"^/v2(/|$)"), "v2"),
]


def protocol_of(path: str) -> str:
    """Which protocol a request path belongs to (``other``: the console, unknown paths)."""
    for pattern, protocol in _PROTOCOLS:
        if pattern.search(path):
            return protocol
    return "other"


class ServingApp(Starlette):
    """Starlette, with the :class:`~mlengine.serving.guard.SiteGuard` ahead of everything and
    predictions answered before its middleware (see PredictionFastPath); in a worker of
    several, with the :class:`~mlengine.serving.balance.ConnectionBalancer` that spreads
    connections over the workers. Every HTTP answer with an error status passes through its
    door, guard, fast path or not, and is counted there (``mlengine_refused_requests_total``)."""

    guard: SiteGuard | None = None
    fast_path: PredictionFastPath | None = None
    balancer: ConnectionBalancer | None = None
    metrics: Metrics | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.metrics is not None:
            send = _counting(self.metrics, scope["path"], send)
        if self.guard is not None and scope["type"] == "http":
            refused = self.guard.refusal(scope)
            if refused is not None:
                await refused(scope, receive, send)
                return
        if self.fast_path is not None:
            scope["app"] = self
            if await self.fast_path.handle(scope, receive, send, self.balancer):
                return
        await super().__call__(scope, receive, send)


def _counting(metrics: Metrics, path: str, send: Send) -> Send:
    """``send``, counting the answer if its status is an error."""

    async def counted(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] >= 400:
            metrics.refuse(protocol_of(path), str(message["status"]))
        await send(message)

    return counted


def _grpc_server(ctx: ServingContext) -> GrpcServer:
    """The gRPC port's server over the app's shared state (imported only when it is on)."""
    from mlengine import protos
    from mlengine.serving.grpc_server import GrpcServer
    from mlengine.serving.grpc_tfserving import GrpcTFServing
    from mlengine.serving.grpc_v2 import GrpcV2

    tfserving = GrpcTFServing(ctx)
    services = {
        protos.OIP_SERVICE: GrpcV2(ctx).methods(),
        protos.PREDICTION_SERVICE: tfserving.prediction_methods(),
        protos.MODEL_SERVICE: tfserving.model_methods(),
    }
    return GrpcServer(ctx, services)


def create_app(registry: Registry, settings: ServeSettings | None = None) -> ServingApp:
    """The server's ASGI app over ``registry`` (which the caller opens and closes).

    Args:
        registry: models and versions; versions created through the API are also checked
            against ``settings.allowed_origins``.
        settings: defaults to :meth:`ServeSettings.from_env`.
    """
    settings = settings or ServeSettings.from_env()
    metrics = Metrics()
    manager = ModelManager(registry, settings, metrics)
    logger = PredictionLogger(metrics.count_prediction_log)
    ctx = ServingContext(registry, settings, manager, metrics, logger)

    async def metrics_endpoint(_request: Request) -> Response:
        """Prometheus metrics (text exposition format)."""
        body, content_type = metrics.exposition()
        return Response(body, headers={"content-type": content_type})

    async def openapi_endpoint(request: Request) -> Response:
        """The OpenAPI document of this REST API, derived from its routes."""
        return json_response(openapi.document(request.app.routes))

    routes: list[BaseRoute] = [
        *MLEngineV1(ctx).routes(),
        *TFServing(ctx).routes(),
        *V2(ctx).routes(),
        *Explain(ctx).routes(),
        *Evidence(ctx).routes(),
        *Jobs(ctx).routes(),
        *Operations(ctx).routes(),
        ApiRoute("GET", "/metrics", metrics_endpoint, Access.OPEN),
        ApiRoute("GET", openapi.PATH, openapi_endpoint, Access.OPEN),
    ]

    grpc_server = None if settings.grpc_port is None else _grpc_server(ctx)

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        logger.start()
        await manager.start()
        try:
            if grpc_server is not None:  # after the defaults are loaded, as HTTP
                app.state.grpc_port = await grpc_server.start()
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop()
            await manager.stop()
            logger.stop()
            metrics.close()

    rules = AccessRules(routes)
    middleware = [Middleware(Console, ctx=ctx)]  # the console's pages: outside the token guard
    if settings.api_token:
        middleware.append(
            Middleware(
                BearerAuth,
                token=settings.api_token,
                rules=rules,
                protect_predict=settings.protect_predict,
            )
        )
    app = ServingApp(
        routes=routes,
        middleware=middleware,
        exception_handlers=EXCEPTION_HANDLERS,
        lifespan=lifespan,
    )
    app.guard = SiteGuard(rules, settings.host, settings.allowed_hosts)
    if not (settings.api_token and settings.protect_predict):
        app.fast_path = PredictionFastPath(routes)
    app.metrics = metrics
    app.state.ctx = ctx
    app.state.manager = manager
    app.state.rules = rules
    return app


__all__ = ["create_app", "protocol_of"]
