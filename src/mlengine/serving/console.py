"""The web console at ``/``: models, versions, predictions and jobs in a browser.

=======  ====================================  ===========================================
GET      ``/``                                  Models: list, create, delete
GET      ``/models/{m}``                        a model: versions, set default, delete, metrics
GET      ``/models/{m}/new-version``            Create version, with progress until READY
GET      ``/models/{m}/versions/{v}``           a version, and a "try a prediction" form
GET      ``/jobs``                              Jobs: list, live log tail, cancel
GET      ``/static/console.js``, ``.css``      the one script and the one stylesheet
=======  ====================================  ===========================================

The pages are HTML shells rendered by Jinja2 (``console/templates``) that hold no registry
data: ``console/static/console.js`` fills them by calling the same REST API as any client
(``/v1/projects/local/...``), so no rule is implemented twice and every refusal the API makes
is shown as the API words it. Hence :class:`Console` serves the shells and the two static files
to anyone, token or not, in front of :class:`~mlengine.serving.auth.BearerAuth`; the script
asks for the token when an API call answers 401, keeps it in ``sessionStorage`` and sends it as
``Authorization: Bearer``. Nothing is loaded from outside the server (no CDN, no build step),
and the pages' Content-Security-Policy forbids it.

Only GET and HEAD of these paths are answered here; anything else goes on to the API.
"""

from __future__ import annotations

import functools
from importlib import resources
from typing import TYPE_CHECKING, Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

FILES = resources.files("mlengine.serving") / "console"
STATIC_TYPES = {
    "console.js": "text/javascript; charset=utf-8",
    "console.css": "text/css; charset=utf-8",
}
HEADERS = {
    "content-security-policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-cache",
}

if TYPE_CHECKING:
    import jinja2


@functools.cache
def _templates() -> jinja2.Environment:
    """Built on the first page view: a server that only predicts never imports Jinja2."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("mlengine.serving", "console/templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def render(template: str, **context: Any) -> HTMLResponse:
    """A page shell; values from the URL are escaped by Jinja2's autoescape."""
    html = _templates().get_template(template).render(**context)
    return HTMLResponse(html, headers=HEADERS)


async def models_page(_request: Request) -> Response:
    return render("models.html", page="models", title="Models")


async def model_page(request: Request) -> Response:
    model = request.path_params["model"]
    return render("model.html", page="model", title=f"Model {model}", model=model)


async def new_version_page(request: Request) -> Response:
    model = request.path_params["model"]
    return render("new_version.html", page="new-version", title="Create version", model=model)


async def version_page(request: Request) -> Response:
    model, version = request.path_params["model"], request.path_params["version"]
    return render(
        "version.html",
        page="version",
        title=f"Version {version} of {model}",
        model=model,
        version=version,
    )


async def jobs_page(_request: Request) -> Response:
    return render("jobs.html", page="jobs", title="Jobs")


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        return PlainTextResponse("Not Found", 404)
    body = (FILES / "static" / name).read_bytes()
    return Response(body, media_type=media_type, headers=HEADERS)


ROUTES = [
    Route("/", models_page, methods=["GET"]),
    Route("/models/{model}", model_page, methods=["GET"]),
    Route("/models/{model}/new-version", new_version_page, methods=["GET"]),
    Route("/models/{model}/versions/{version}", version_page, methods=["GET"]),
    Route("/jobs", jobs_page, methods=["GET"]),
    Route("/static/{name}", static_file, methods=["GET"]),
]


class Console:
    """ASGI middleware serving the console's GET/HEAD routes (:data:`ROUTES`) without a token,
    and passing every other request on to ``app``. Put it outermost (before the token guard)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            for route in ROUTES:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    await route.handle({**scope, **child}, receive, send)
                    return
        await self.app(scope, receive, send)


__all__ = ["ROUTES", "Console"]
