"""Cross-site and DNS-rebinding guard: which site may call the server, checked before anything.

With no token (the default on 127.0.0.1), any page open in the operator's browser could call
the server: a form or a ``fetch`` with ``Content-Type: text/plain`` needs no CORS preflight, and
a name the attacker controls may resolve to 127.0.0.1 (DNS rebinding). Two rules close that:

* **Management calls refuse another site.** A request to a route of
  :attr:`~mlengine.serving.routes.Access.MANAGE` (or to a path no route declares) is refused
  ``403`` when its ``Origin`` is not the server's own (scheme, host and port of the ``Host`` it
  was sent to; ``Origin: null`` included) or its ``Sec-Fetch-Site`` is ``cross-site``, whatever
  its content type. Browsers send these headers; ``curl`` and the client libraries do not, so
  ``curl -d '{...}'`` keeps working as TF Serving's and ML Engine's documents show it, and the
  console (same origin) keeps working.
* **A loopback server answers only its own names.** When the server listens on a loopback
  address (``127.0.0.1``, ``::1``, ``localhost``) every request must name it in ``Host``:
  ``127.0.0.1``, ``localhost``, ``[::1]`` or a name listed in ``MLENGINE_ALLOWED_HOSTS``
  (comma-separated; ``.example.com`` also allows its subdomains), on any port. A server bound
  to another address (``0.0.0.0`` in the container image, where Kubernetes probes send the pod's
  IP) checks ``Host`` only when ``MLENGINE_ALLOWED_HOSTS`` is set. Health, readiness and
  ``/metrics`` (:attr:`~mlengine.serving.routes.Access.OPEN`) are exempt: probes send whatever
  ``Host`` their network gives them.

The server calls :meth:`SiteGuard.refusal` first for every request, before the prediction fast
path and the middleware (:class:`~mlengine.serving.app.ServingApp`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.responses import Response
from starlette.types import Scope

from mlengine.serving.errors import JSON_TYPE, error_body
from mlengine.serving.routes import Access, AccessRules
from mlengine.serving.settings import ALLOWED_HOSTS_ENV

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "::1")
_DEFAULT_PORTS = {"http": 80, "https": 443}


def is_loopback(host: str) -> bool:
    """Whether a listening address only accepts connections from this machine."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(value: str) -> tuple[str, int | None]:
    """``(name, port)`` of a ``Host`` header or an origin's authority (``[::1]:8080`` ->
    ``("::1", 8080)``); the name lowercase without a trailing dot."""
    value = value.strip().lower()
    port: int | None = None
    if value.startswith("["):
        name, _, rest = value[1:].partition("]")
        if rest.startswith(":") and rest[1:].isdigit():
            port = int(rest[1:])
    else:
        name, colon, tail = value.rpartition(":")
        if colon and tail.isdigit() and ":" not in name:
            port = int(tail)
        else:
            name = value
    return name.rstrip("."), port


class SiteGuard:
    """The rules of the module docstring, for one server.

    Args:
        rules: which access each path has (from the declared routes).
        listen_host: the address the server listens on.
        allowed_hosts: extra names ``Host`` may carry (``MLENGINE_ALLOWED_HOSTS``).
    """

    def __init__(self, rules: AccessRules, listen_host: str, allowed_hosts: Iterable[str]):
        self.rules = rules
        self.allowed_hosts = tuple(allowed_hosts)
        self.check_host = is_loopback(listen_host) or bool(self.allowed_hosts)
        self._names = frozenset(LOOPBACK_NAMES) | {h for h in self.allowed_hosts if h[:1] != "."}
        self._suffixes = tuple(h for h in self.allowed_hosts if h[:1] == ".")

    def host_allowed(self, host: str | None) -> bool:
        """Whether a ``Host`` header names this server (see the module docstring)."""
        if host is None:
            return False
        name, _ = split_host(host)
        return name in self._names or any(
            name.endswith(suffix) or name == suffix[1:] for suffix in self._suffixes
        )

    def refusal(self, scope: Scope) -> Response | None:
        """The ``403`` answer to an HTTP request the rules refuse; None to let it through."""
        headers = _headers(scope, (b"host", b"origin", b"sec-fetch-site"))
        host = headers.get(b"host")
        access = None
        if self.check_host and not self.host_allowed(host):
            access = self.rules.access(scope["path"])
            if access is not Access.OPEN:
                allowed = ", ".join([*LOOPBACK_NAMES, *self.allowed_hosts])
                return _forbidden(
                    f"Host {host!r} is not a name of this server (allowed: {allowed}; "
                    f"{ALLOWED_HOSTS_ENV} adds names)."
                )
        origin, site = headers.get(b"origin"), headers.get(b"sec-fetch-site")
        if origin is None and site != "cross-site":
            return None
        if (access or self.rules.access(scope["path"])) is not Access.MANAGE:
            return None
        if site == "cross-site" or not _same_origin(origin, host, scope):
            return _forbidden(
                "Management calls from another site are refused "
                f"(Origin {origin!r}, Sec-Fetch-Site {site!r}); call the server directly, or "
                "from its own console."
            )
        return None


def _headers(scope: Scope, names: tuple[bytes, ...]) -> dict[bytes, str]:
    found: dict[bytes, str] = {}
    for name, value in scope["headers"]:
        if name in names and name not in found:
            found[name] = value.decode("latin-1")
    return found


def _same_origin(origin: str | None, host: str | None, scope: Scope) -> bool:
    """Whether ``Origin`` is the scheme, name and port the request was sent to."""
    if origin is None:
        return True  # only Sec-Fetch-Site was sent, and it was not cross-site
    if host is None:
        return False
    try:
        parts = urlsplit(origin)
    except ValueError:
        return False
    scheme = scope.get("scheme", "http")
    if parts.scheme != scheme or not parts.netloc:
        return False
    origin_name, origin_port = split_host(parts.netloc)
    name, port = split_host(host)
    default = _DEFAULT_PORTS.get(scheme)
    return origin_name == name and (origin_port or default) == (port or default)


def _forbidden(message: str) -> Response:
    return Response(error_body(message), 403, media_type=JSON_TYPE)


__all__ = ["LOOPBACK_NAMES", "SiteGuard", "is_loopback", "split_host"]
