"""The OpenAPI document of the REST surface, derived from the routes as declared
(:mod:`mlengine.serving.routes`), served at ``GET /openapi.json``.

Each :class:`~mlengine.serving.routes.ApiRoute` becomes one operation: its path (path
parameters with their convertors' patterns), method, a summary (the first line of its handler's
docstring, else its handler's name in words), the module that declares it as its tag, who may
call it (``x-mlengine-access``; bearer security on management routes, and on the others with
``MLENGINE_PROTECT_PREDICT=1``), and its error form (``{"error": "..."}``, or Google's on ML
Engine's management routes). Request and answer bodies are described in prose by the README
and the protocol modules, not as schemas.

The repository keeps a copy, ``docs/openapi.json``; ``tests/serving/test_openapi.py`` fails
when a route is missing from it (regenerate: ``python -m mlengine.serving.openapi >
docs/openapi.json``).
"""

from __future__ import annotations

import json
import re
import sys
from collections.abc import Iterable
from typing import Any

from starlette.routing import BaseRoute

from mlengine import __version__
from mlengine.serving.routes import Access, ApiRoute

PATH = "/openapi.json"
_PARAMETER = re.compile(r"{(\w+)(?::(\w+))?}")
_PLAIN_ERROR = {
    "type": "object",
    "properties": {"error": {"type": "string"}},
    "required": ["error"],
}
_GOOGLE_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "code": {"type": "integer"},
                "message": {"type": "string"},
                "status": {"type": "string"},
            },
            "required": ["code", "message", "status"],
        }
    },
    "required": ["error"],
}


def _summary(route: ApiRoute) -> str:
    """The first sentence of the handler's docstring (without reST's backquotes), else its
    name in words."""
    paragraph = " ".join((route.handler.__doc__ or "").strip().split("\n\n")[0].split())
    if paragraph:
        return paragraph.replace("``", "").split(". ")[0].rstrip(".")
    return route.handler.__name__.replace("_", " ").capitalize()


def _parameters(route: ApiRoute) -> list[dict[str, Any]]:
    found = []
    for name, kind in _PARAMETER.findall(route.path):
        convertor = route.param_convertors[name]
        found.append(
            {
                "name": name,
                "in": "path",
                "required": True,
                "schema": {"type": "string", "pattern": f"^{convertor.regex}$"},
                **({"description": f"a {kind}"} if kind else {}),
            }
        )
    return found


def _operation(route: ApiRoute, path: str) -> dict[str, Any]:
    module = route.handler.__module__.rsplit(".", 1)[-1]
    error = _GOOGLE_ERROR if route.google_errors else _PLAIN_ERROR
    operation: dict[str, Any] = {
        "summary": _summary(route),
        "operationId": route.method.lower() + re.sub(r"[^A-Za-z0-9]+", "_", path).rstrip("_"),
        "tags": [module],
        "x-mlengine-access": route.access.value,
        "parameters": _parameters(route),
        "responses": {
            "200": {"description": "The answer (see the protocol's documentation)."},
            "default": {
                "description": "An error, with its message.",
                "content": {"application/json": {"schema": error}},
            },
        },
    }
    if route.access is Access.MANAGE:
        operation["security"] = [{"bearer": []}]
    elif route.access is not Access.OPEN:
        operation["security"] = [{}, {"bearer": []}]  # a token only with PROTECT_PREDICT
    if route.method in ("POST", "PATCH", "PUT"):
        types: dict[str, Any] = {"application/json": {}}
        if route.path.endswith("/infer"):
            types["application/octet-stream"] = {}  # binary tensor data after a JSON header
        operation["requestBody"] = {"required": False, "content": types}
    return operation


def document(routes: Iterable[BaseRoute]) -> dict[str, Any]:
    """The OpenAPI 3.1 document of ``routes`` (their ApiRoutes), paths in declared order."""
    paths: dict[str, dict[str, Any]] = {}
    for route in routes:
        if isinstance(route, ApiRoute):
            path = _PARAMETER.sub(r"{\1}", route.path)
            paths.setdefault(path, {})[route.method.lower()] = _operation(route, path)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "mlengine serve",
            "version": __version__,
            "description": "ML Engine v1, TensorFlow Serving REST, KServe v1 and the Open "
            "Inference Protocol v2 over one model registry (mlengine serve).",
        },
        "components": {"securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}}},
        "paths": paths,
    }


def render(routes: Iterable[BaseRoute]) -> str:
    """:func:`document` as the text kept in ``docs/openapi.json``."""
    return json.dumps(document(routes), indent=1, sort_keys=False) + "\n"


def main() -> None:
    """Print the document of the app's routes (over a registry that is never opened for
    writing: an empty SQLite database in a temporary folder)."""
    import tempfile

    from mlengine.registry import Registry
    from mlengine.serving import ServeSettings, create_app

    with (
        tempfile.TemporaryDirectory() as folder,
        Registry(f"sqlite:///{folder}/registry.db", f"{folder}/artifacts") as registry,
    ):
        sys.stdout.write(render(create_app(registry, ServeSettings()).routes))


if __name__ == "__main__":
    main()


__all__ = ["PATH", "document", "main", "render"]
