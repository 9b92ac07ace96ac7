"""The gRPC port of ``mlengine serve`` (``--grpc-port``): OIP v2's ``GRPCInferenceService``
(:mod:`~mlengine.serving.grpc_v2`) and TF Serving's ``PredictionService`` and ``ModelService``
(:mod:`~mlengine.serving.grpc_tfserving`) on one ``grpc.aio`` server, in the event loop of the
HTTP server, over the same model manager, batcher, metrics and logs.

It follows the REST side's rules:

* the token: with ``MLENGINE_API_TOKEN``, gRPC metadata ``authorization: Bearer <token>`` on
  the calls REST guards (every prediction and metadata call with
  ``MLENGINE_PROTECT_PREDICT=1``; health and readiness stay open);
* the size limit: ``--max-body-bytes`` is the largest message received (gRPC answers
  RESOURCE_EXHAUSTED above it);
* the checks and their wording, each error's canonical code being the gRPC status
  (INVALID_ARGUMENT, NOT_FOUND, FAILED_PRECONDITION, UNAVAILABLE, ...); a request that is not
  the method's message is INVALID_ARGUMENT; unexpected errors are INTERNAL with a generic
  message, logged with their traceback. Every refused call is counted in
  ``mlengine_refused_requests_total{protocol, status}``.

Under ``--workers N`` each worker starts its own server after the fork, in its lifespan, and
they share the port with SO_REUSEPORT (the supervisor checks the port is free and keeps it
reserved: :func:`reserve_port`); one process binds it alone, so a port in use is an error at
start, not two servers splitting the traffic.
"""

from __future__ import annotations

import hmac
import logging
import socket
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from mlengine import protos
from mlengine.errors import UnavailableError
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import code_of, error_message
from mlengine.serving.routes import Access

log = logging.getLogger("mlengine.serving")
# The line saying where gRPC listens goes where uvicorn says where HTTP listens (its
# "uvicorn.error" logger, which `mlengine serve` prints at --log-level info).
announce = logging.getLogger("uvicorn.error")

Method = Callable[[Any, grpc.aio.ServicerContext], Awaitable[Any]]
STOP_GRACE_SECONDS = 5.0  # calls in flight may finish this long at shutdown


def status_code(error: BaseException) -> grpc.StatusCode:
    """The gRPC status of an error: its canonical code (INTERNAL when unexpected)."""
    status: grpc.StatusCode = getattr(grpc.StatusCode, code_of(error), grpc.StatusCode.UNKNOWN)
    return status


class GrpcServer:
    """The gRPC server of one process (see the module docstring).

    Args:
        ctx: the server's shared state (settings: ``grpc_port``, ``host``,
            ``max_body_bytes``, ``grpc_reuse_port``, the token).
        services: each service's full name → its methods (name → (access, handler)).
    """

    def __init__(
        self, ctx: ServingContext, services: dict[str, dict[str, tuple[Access, Method]]]
    ) -> None:
        self.ctx = ctx
        self.services = services
        settings = ctx.settings
        token = settings.api_token
        self._expected = None if token is None else f"Bearer {token}".encode()
        self._open = (
            {Access.OPEN}
            if settings.protect_predict
            else {Access.OPEN, Access.READ, Access.PREDICT}
        )
        self._server: grpc.aio.Server | None = None
        self.port: int | None = None

    async def start(self) -> int:
        """Bind and start; returns the port (``--grpc-port 0``: the one chosen).

        Raises:
            UnavailableError: the port cannot be bound (in use, or a bad host).
        """
        settings = self.ctx.settings
        assert settings.grpc_port is not None
        options = [
            ("grpc.max_receive_message_length", settings.max_body_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 1 if settings.grpc_reuse_port else 0),
        ]
        server = grpc.aio.server(options=options)
        for service, methods in self.services.items():
            handlers = {
                name: grpc.unary_unary_rpc_method_handler(self._wrap(service, name, access, fn))
                for name, (access, fn) in methods.items()
            }
            server.add_generic_rpc_handlers(
                (grpc.method_handlers_generic_handler(service, handlers),)
            )
        address = f"{settings.host}:{settings.grpc_port}"
        try:
            port = server.add_insecure_port(address)
        except RuntimeError as error:
            raise UnavailableError(
                f"Cannot listen for gRPC on {address}: {error} (--grpc-port takes a free "
                "port, 0 for any; --no-grpc turns gRPC off)."
            ) from None
        await server.start()
        self._server, self.port = server, port
        announce.info("gRPC listening on %s:%d", settings.host, port)
        return port

    async def stop(self) -> None:
        """Stop accepting calls; let those in flight finish (up to STOP_GRACE_SECONDS)."""
        if self._server is not None:
            await self._server.stop(STOP_GRACE_SECONDS)
            self._server = None

    def _wrap(self, service: str, name: str, access: Access, fn: Method) -> Method:
        """The handler of one method: token check, request parsing, errors as statuses."""
        request_type, _ = protos.methods(service)[name]
        parse = protos.message(request_type).FromString
        protocol = "v2_grpc" if service == protos.OIP_SERVICE else "tfserving_grpc"

        async def handle(raw: bytes, context: grpc.aio.ServicerContext) -> bytes:
            try:
                self._check_token(access, context)
                try:
                    request = parse(raw)
                except DecodeError as error:
                    raise _Refusal(
                        grpc.StatusCode.INVALID_ARGUMENT,
                        f"The request is not a valid {request_type}: {error}",
                    ) from None
                answer = await fn(request, context)
                data: bytes = answer.SerializeToString()
                return data
            except _Refusal as refusal:
                code, message = refusal.code, refusal.message
            except Exception as error:
                code, message = status_code(error), error_message(error)
            self.ctx.metrics.refuse(protocol, code.name)
            await context.abort(code, message)
            raise AssertionError("unreachable: abort raises")

        return handle

    def _check_token(self, access: Access, context: grpc.aio.ServicerContext) -> None:
        if self._expected is None or access in self._open:
            return
        given = None
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                given = value.encode() if isinstance(value, str) else value
        if given is None:
            raise _Refusal(
                grpc.StatusCode.UNAUTHENTICATED,
                "This call needs an API token: send metadata 'authorization: Bearer <token>'.",
            )
        if not hmac.compare_digest(given, self._expected):
            raise _Refusal(grpc.StatusCode.UNAUTHENTICATED, "The API token is not valid.")


class _Refusal(Exception):
    """A call refused before its handler ran (token, unparsable request)."""

    def __init__(self, code: grpc.StatusCode, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def reserve_port(host: str, port: int) -> socket.socket:
    """For ``--workers N``: check that nothing listens on ``port`` (bound alone, without
    SO_REUSEPORT), then hold it bound with SO_REUSEPORT (not listening: it takes no calls) so
    the workers' servers can join it and nobody else takes it meanwhile; ``port`` 0 picks a
    free one. The caller closes the socket when the workers are done.

    Raises:
        UnavailableError: the port is in use (or the host cannot be bound); the message names
            the address.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    held = socket.socket(family, socket.SOCK_STREAM)
    try:
        if port:
            with socket.socket(family, socket.SOCK_STREAM) as probe:
                probe.bind((host, port))
        held.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        held.bind((host, port))
    except OSError as error:
        held.close()
        raise UnavailableError(
            f"Cannot listen for gRPC on {host}:{port}: {error.strerror or error} (--grpc-port "
            "takes a free port, 0 for any; --no-grpc turns gRPC off)."
        ) from None
    return held


__all__ = ["STOP_GRACE_SECONDS", "GrpcServer", "reserve_port", "status_code"]
