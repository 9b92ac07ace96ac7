"""The web console at ``/``: models, versions, predictions, jobs and their pictures in a browser.

=======  ====================================  ===========================================
GET      ``/``                                  Models: list, create, delete
GET      ``/models/{m}``                        a model: versions, set default, delete, metrics
GET      ``/models/{m}/new-version``            Create version, with progress until READY
GET      ``/models/{m}/versions/{v}``           a version: its evidence drawn (ROC, PR,
                                                calibration, history, importances) and a
                                                prediction form with attributions
GET      ``/models/{m}/compare?a=v1&b=v2``      two versions' curves in the same charts
GET      ``/jobs``                              Jobs: list, live log tail, cancel
GET      ``/jobs/{j}``                          a job: state, times, arguments, failure
                                                reason, log, and a tuning job's trials
GET      ``/static/console.js``, ``.css``      the one script and the one stylesheet
=======  ====================================  ===========================================

The pages are HTML shells rendered by Jinja2 (``console/templates``) that hold no registry
data: ``console/static/console.js`` fills them by calling the same REST API as any client
(``/v1/projects/local/...``), so no rule is implemented twice and every refusal the API makes
is shown as the API words it. Hence :class:`Console` serves the shells and the two static files
to anyone, token or not, in front of :class:`~mlengine.serving.auth.BearerAuth`; the script
asks for the token when an API call answers 401, keeps it in ``sessionStorage`` and sends it as
``Authorization: Bearer``. Nothing is loaded from outside the server (no CDN, no build step),
and the pages' Content-Security-Policy forbids it; the charts are SVG drawn by the script.

**Missing things are 404 pages.** A model, version or job page whose subject does not exist (a
comparison's versions included) answers 404 with a page that says so (and offers nothing to act
on), when the server has no API token. With a token the page cannot look without revealing what
exists to whoever asks, so it answers its shell, and the script shows the same not-found page
once the API (with the token) answers 404.

**TensorBoard.** With ``MLENGINE_TENSORBOARD_URL`` set (say ``http://127.0.0.1:6006/``, a
``tensorboard --logdir`` over the model directories), a version whose evidence names its
model directory, and a training job with a ``jobDir``, link to it; a ``{logdir}`` in the URL is
replaced by that directory, URL-encoded (for a proxy that starts one TensorBoard per folder).

Only GET and HEAD of these paths are answered here; anything else goes on to the API.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from importlib import resources
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import HTMLResponse, PlainTextResponse, Response
from starlette.routing import Match, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from mlengine.errors import InvalidParameterError, MLEngineError, NotFoundError
from mlengine.jobs import JobManager

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

    from mlengine.registry import Registry
    from mlengine.serving.context import ServingContext


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


def render(template: str, status: int = 200, **context: Any) -> HTMLResponse:
    """A page shell; values from the URL are escaped by Jinja2's autoescape."""
    context.setdefault("tensorboard", "")
    html = _templates().get_template(template).render(**context)
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def not_found(what: str, back: str, back_text: str) -> HTMLResponse:
    """The 404 page: what does not exist, and a way back (nothing to create or act on)."""
    return render(
        "not_found.html",
        404,
        page="not-found",
        title="Not found",
        what=what,
        back=back,
        back_text=back_text,
    )


class Pages:
    """The console's page handlers; with a serving context, pages of things that do not exist
    answer 404 (see the module docstring)."""

    def __init__(self, ctx: ServingContext | None = None) -> None:
        self.ctx = ctx
        self.tensorboard = "" if ctx is None else ctx.settings.tensorboard_url or ""

    async def _missing(self, lookup: Callable[[Registry], Any]) -> bool:
        """Whether ``lookup(registry)`` says the thing is missing; never looks when the API
        needs a token (that would tell anyone what exists)."""
        if self.ctx is None or self.ctx.settings.api_token:
            return False
        try:
            await self.ctx.manager.call(lookup, self.ctx.registry)
        except (NotFoundError, InvalidParameterError):
            return True  # a name that cannot be one does not exist either
        except MLEngineError:
            return False  # the registry cannot answer now: the page, whose script says why
        return False

    def page(self, template: str, **context: Any) -> HTMLResponse:
        return render(template, tensorboard=self.tensorboard, **context)

    async def models(self, _request: Request) -> Response:
        return self.page("models.html", page="models", title="Models")

    async def model(self, request: Request) -> Response:
        model = request.path_params["model"]
        if await self._model_missing(model):
            return not_found(f"Model {model} does not exist.", "/", "All models")
        return self.page("model.html", page="model", title=f"Model {model}", model=model)

    async def _model_missing(self, model: str) -> bool:
        return await self._missing(lambda registry: registry.get_model(model))

    async def new_version(self, request: Request) -> Response:
        model = request.path_params["model"]
        if await self._model_missing(model):
            return not_found(f"Model {model} does not exist.", "/", "All models")
        return self.page(
            "new_version.html", page="new-version", title="Create version", model=model
        )

    async def version(self, request: Request) -> Response:
        model, version = request.path_params["model"], request.path_params["version"]
        if await self._model_missing(model):
            return not_found(f"Model {model} does not exist.", "/", "All models")
        if await self._version_missing(model, version):
            return self._version_not_found(model, version)
        return self.page(
            "version.html",
            page="version",
            title=f"Version {version} of {model}",
            model=model,
            version=version,
        )

    async def _version_missing(self, model: str, version: str) -> bool:
        return await self._missing(lambda registry: registry.get_version(model, version))

    @staticmethod
    def _version_not_found(model: str, version: str) -> HTMLResponse:
        return not_found(
            f"Version {version} of model {model} does not exist.",
            f"/models/{quote(model, safe='')}",
            f"Model {model}",
        )

    async def compare(self, request: Request) -> Response:
        model = request.path_params["model"]
        if await self._model_missing(model):
            return not_found(f"Model {model} does not exist.", "/", "All models")
        for key in ("a", "b"):  # the versions asked for, when named
            version = request.query_params.get(key)
            if version and await self._version_missing(model, version):
                return self._version_not_found(model, version)
        return self.page(
            "compare.html", page="compare", title=f"Compare versions of {model}", model=model
        )

    async def jobs(self, _request: Request) -> Response:
        return self.page("jobs.html", page="jobs", title="Jobs")

    async def job(self, request: Request) -> Response:
        job = request.path_params["job"]
        if await self._missing(lambda registry: JobManager(registry).get_job(job)):
            return not_found(f"Job {job} does not exist.", "/jobs", "All jobs")
        return self.page("job.html", page="job", title=f"Job {job}", job=job)

    def routes(self) -> list[Route]:
        return [
            Route("/", self.models, methods=["GET"]),
            Route("/models/{model}", self.model, methods=["GET"]),
            Route("/models/{model}/new-version", self.new_version, methods=["GET"]),
            Route("/models/{model}/compare", self.compare, methods=["GET"]),
            Route("/models/{model}/versions/{version}", self.version, methods=["GET"]),
            Route("/jobs", self.jobs, methods=["GET"]),
            Route("/jobs/{job}", self.job, methods=["GET"]),
            Route("/static/{name}", static_file, methods=["GET"]),
        ]


async def static_file(request: Request) -> Response:
    name = request.path_params["name"]
    media_type = STATIC_TYPES.get(name)
    if media_type is None:
        return PlainTextResponse("Not Found", 404)
    body = (FILES / "static" / name).read_bytes()
    return Response(body, media_type=media_type, headers=HEADERS)


ROUTES = Pages().routes()


class Console:
    """ASGI middleware serving the console's GET/HEAD routes (:data:`ROUTES`) without a token,
    and passing every other request on to ``app``. Put it outermost (before the token guard).
    With ``ctx`` (the server's shared state), missing models, versions and jobs are 404 pages
    and the TensorBoard link is on."""

    def __init__(self, app: ASGIApp, ctx: ServingContext | None = None) -> None:
        self.app = app
        self.routes = ROUTES if ctx is None else Pages(ctx).routes()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("GET", "HEAD"):
            for route in self.routes:
                match, child = route.matches(scope)
                if match is Match.FULL:
                    await route.handle({**scope, **child}, receive, send)
                    return
        await self.app(scope, receive, send)


__all__ = ["ROUTES", "Console", "Pages", "not_found", "render"]
