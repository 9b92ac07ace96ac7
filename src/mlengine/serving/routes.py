"""The server's API routes, each declared once: path, method, handler and who may call it.

A protocol module declares its routes as :class:`ApiRoute` objects (its ``routes()``), and
everything else is derived from those declarations:

* the app routes requests by them (:func:`~mlengine.serving.app.create_app`);
* the prediction fast path answers the routes whose access is :attr:`Access.PREDICT`
  (:class:`~mlengine.serving.app.PredictionFastPath`);
* the bearer-token guard asks :class:`AccessRules` which access a path has
  (:class:`~mlengine.serving.auth.BearerAuth`): a path that no route declares is a management
  call.

Path parameters only match valid names (:class:`NameConvertor` and the others below), so
``census:predict`` never reads as a model called that.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Awaitable, Callable, Iterable

from starlette.convertors import Convertor, register_url_convertor
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mlengine.serving.context import endpoint


class _Pattern(Convertor[str]):
    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


class NameConvertor(_Pattern):
    """A model name: a letter, then letters, digits and underscores (the registry's rule)."""

    regex = "[A-Za-z][A-Za-z0-9_]*"


class VersionConvertor(_Pattern):
    """A version reference: a number or a name."""

    regex = "[A-Za-z0-9_]+"


class ProjectConvertor(_Pattern):
    """Any project id (one registry is one project)."""

    regex = "[^/:]+"


class OperationConvertor(_Pattern):
    """An operation id (``create_census_v1-1764130000123``)."""

    regex = "[A-Za-z0-9_.-]+"


class LabelConvertor(_Pattern):
    """A TF Serving version label (``stable``)."""

    regex = "[A-Za-z][A-Za-z0-9_-]*"


register_url_convertor("name", NameConvertor())
register_url_convertor("version", VersionConvertor())
register_url_convertor("project", ProjectConvertor())
register_url_convertor("operation", OperationConvertor())
register_url_convertor("label", LabelConvertor())


class Access(enum.Enum):
    """Who may call a route when the server has an API token (``MLENGINE_API_TOKEN``)."""

    OPEN = "open"
    """Anyone, always: health, readiness and ``/metrics`` (probes and scrapers need no secret)."""

    READ = "read"
    """The prediction protocols' status and metadata: anyone, unless
    ``MLENGINE_PROTECT_PREDICT=1``."""

    PREDICT = "predict"
    """Predictions: as READ; the fast path answers them."""

    MANAGE = "manage"
    """Management (models, versions, jobs): the token's holder only."""


Handler = Callable[[Request], Awaitable[Response]]


class ApiRoute(Route):
    """One route of the API: ``method path`` answered by ``handler`` (wrapped so that any
    error is answered as JSON: Google's form when ``google_errors``, as on ML Engine's
    management routes), callable by ``access``."""

    def __init__(
        self,
        method: str,
        path: str,
        handler: Handler,
        access: Access,
        google_errors: bool = False,
    ) -> None:
        super().__init__(path, endpoint(handler, google_errors), methods=[method])
        self.method = method
        self.handler = handler
        self.access = access
        self.google_errors = google_errors


def _without_names(pattern: str) -> str:
    """A route's path regex with its named groups unnamed, so that several combine into one."""
    return re.sub(r"\(\?P<[^>]+>", "(?:", pattern)


class AccessRules:
    """Which access a request path has, from the routes declared for it.

    A path takes the access of the routes whose path matches it, whatever their method (a
    request with the wrong one is answered 405 by the route, once let through), and of several
    the most restrictive; a path no route declares is :attr:`Access.MANAGE`. Each access is
    one regular expression: its routes' paths combined.
    """

    def __init__(self, routes: Iterable[BaseRoute]) -> None:
        restrictive_first = (Access.MANAGE, Access.PREDICT, Access.READ, Access.OPEN)
        patterns: dict[Access, list[str]] = {access: [] for access in restrictive_first}
        google: list[str] = []
        for route in routes:
            if isinstance(route, ApiRoute):
                pattern = _without_names(route.path_regex.pattern)
                patterns[route.access].append(pattern)
                if route.google_errors:
                    google.append(pattern)
        self._regexes = [
            (access, re.compile("|".join(f"(?:{p})" for p in found)))
            for access, found in patterns.items()
            if found
        ]
        self._google = re.compile("|".join(f"(?:{p})" for p in google)) if google else None

    def google_errors(self, path: str) -> bool:
        """Whether errors on ``path`` take Google's form (a route there says so)."""
        return self._google is not None and self._google.match(path) is not None

    def access(self, path: str) -> Access:
        for access, regex in self._regexes:
            if regex.match(path):
                return access
        return Access.MANAGE


__all__ = [
    "Access",
    "AccessRules",
    "ApiRoute",
    "Handler",
    "LabelConvertor",
    "NameConvertor",
    "OperationConvertor",
    "ProjectConvertor",
    "VersionConvertor",
]
