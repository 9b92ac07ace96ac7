"""The server's HTTP connections: uvicorn's httptools protocol with timeouts for idle and slow
clients, and a shutdown that answers kept-alive connections instead of cutting them.

uvicorn closes a kept-alive connection that stays idle ``timeout_keep_alive`` seconds after a
response, but it waits forever for the first byte of a new connection, for the rest of a
request's headers and for its body, so a client that connects and sends nothing (or one byte a
minute) holds a connection, a file descriptor and memory for as long as it likes. And on
SIGTERM it closes every idle kept-alive connection at once, so a client whose next request was
already on its way gets its connection reset. :class:`ServingProtocol` changes both:

* **idle**: a new connection that sends nothing for ``idle_timeout`` seconds is closed, as a
  kept-alive one already was (``--timeout-keep-alive``);
* **slow**: a request must arrive whole (request line, headers and body) within
  ``request_timeout`` seconds of its first byte (``--timeout-request``); otherwise it is answered
  ``408`` with ``Connection: close`` and the connection is closed;
* **shutdown**: an idle kept-alive connection is not cut: it stays open until its keep-alive time
  runs out, and a request that arrives meanwhile is answered, with ``Connection: close``, so the
  client learns to reconnect (to another replica) instead of seeing a reset.

The timeouts come from :class:`~mlengine.serving.settings.ServeSettings` through
:func:`protocol_for`.
"""

from __future__ import annotations

import asyncio
import functools
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from mlengine.serving.errors import JSON_TYPE, error_body


class ServingProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the idle, slow and shutdown rules of the module
    docstring."""

    def __init__(self, *args: Any, request_timeout: float, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.request_timeout = request_timeout
        self._request_timer: asyncio.TimerHandle | None = None
        self.draining = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        # Idle from the start: the same timer uvicorn arms after each response.
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_request_timer()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._stop_request_timer()
        self._request_timer = self.loop.call_later(self.request_timeout, self._too_slow)

    def on_headers_complete(self) -> None:
        super().on_headers_complete()
        if self.draining and self.cycle is not None:
            self.cycle.keep_alive = False  # answered, then closed: the server is stopping

    def on_message_complete(self) -> None:
        self._stop_request_timer()
        super().on_message_complete()

    def _stop_request_timer(self) -> None:
        if self._request_timer is not None:
            self._request_timer.cancel()
            self._request_timer = None

    def _too_slow(self) -> None:
        """The request did not arrive whole in time: 408 (unless an answer has begun), close."""
        self._request_timer = None
        if self.transport.is_closing():
            return
        cycle = self.cycle
        if cycle is None or not cycle.response_started:
            body = error_body(
                f"The request did not arrive within {self.request_timeout:g} seconds of its "
                "first byte (--timeout-request)."
            )
            self.transport.write(
                b"".join(
                    [
                        b"HTTP/1.1 408 Request Timeout\r\n",
                        b"content-type: " + JSON_TYPE.encode() + b"\r\n",
                        b"content-length: " + str(len(body)).encode() + b"\r\n",
                        b"connection: close\r\n\r\n",
                        body,
                    ]
                )
            )
        self.transport.close()

    def shutdown(self) -> None:
        """Graceful shutdown: requests in flight finish (and close their connection); an idle
        connection stays until its keep-alive time runs out, answering what arrives with
        ``Connection: close``."""
        self.draining = True
        if self.cycle is None or self.cycle.response_complete:
            if self.timeout_keep_alive_task is None:
                self.timeout_keep_alive_task = self.loop.call_later(
                    self.timeout_keep_alive, self.timeout_keep_alive_handler
                )
        else:
            self.cycle.keep_alive = False


def protocol_for(request_timeout: float) -> Any:
    """The protocol class uvicorn's ``http`` setting takes, with ``request_timeout`` bound."""
    return functools.partial(ServingProtocol, request_timeout=request_timeout)


__all__ = ["ServingProtocol", "protocol_for"]
