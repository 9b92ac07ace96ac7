"""ML Engine v1: models and versions (``/v1/projects/{p}/models/...``) and ``:predict``.

=======  ==============================================================  =====================
GET      ``/v1/projects/{p}/models``                                      ``{"models": [...]}``
POST     ``/v1/projects/{p}/models``  ``{"name", "description"?, ...}``   the Model
GET      ``/v1/projects/{p}/models/{m}``                                  the Model
DELETE   ``/v1/projects/{p}/models/{m}`` (only once it has no versions)   ``{}``
GET      ``/v1/projects/{p}/models/{m}/versions``                         ``{"versions": [...]}``
POST     ``.../versions``  ``{"name", "deploymentUri", ...}``             the Version, CREATING
GET      ``.../versions/{v}``                                             the Version
DELETE   ``.../versions/{v}`` (not the default, unless it is the last)   ``{}``
POST     ``.../versions/{v}:setDefault``                                  the Version
POST     ``.../models/{m}:predict``, ``.../versions/{v}:predict``         ``{"predictions"}``
=======  ==============================================================  =====================

One registry is one project: any ``{p}`` addresses it. Lists with nothing to list answer ``{}``,
as ML Engine does. A version is created in the background: the answer is the version in state
CREATING, and the client polls it until READY or FAILED. Its ``deploymentUri`` must be under one
of ``MLENGINE_ALLOWED_ORIGINS``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from mlengine.registry.origins import check_allowed, normalize_origin
from mlengine.serving import signatures
from mlengine.serving.batching import Outputs
from mlengine.serving.context import ServingContext, endpoint
from mlengine.serving.errors import invalid
from mlengine.serving.http import json_response, json_type
from mlengine.serving.models import LoadedVersion
from mlengine.serving.schema import Columns

PROTOCOL = "mlengine_v1"
PREFIX = "/v1/projects/{project:project}/models"


def _text(body: dict[str, Any], key: str, required: bool = False) -> str | None:
    value = body.get(key)
    if value is None:
        if required:
            raise invalid(f"The request body needs a {key!r} field.")
        return None
    if not isinstance(value, str):
        raise invalid(f"{key!r} must be a string; got {json_type(value)}.")
    return value


def _labels(body: dict[str, Any]) -> dict[str, str] | None:
    labels = body.get("labels")
    if labels is not None and not isinstance(labels, dict):
        raise invalid(f"'labels' must be an object; got {json_type(labels)}.")
    return labels


def _basename(name: str) -> str:
    """``projects/p/models/m`` → ``m`` (ML Engine accepts full resource names)."""
    return name.rstrip("/").rsplit("/", 1)[-1]


def parse_predict(loaded: LoadedVersion, body: dict[str, Any]) -> tuple[Columns, Any]:
    """``{"instances": [...], "signature_name"?}`` → columns and the output pairs."""
    if "instances" not in body:
        raise invalid("The request body needs an 'instances' list: {\"instances\": [...]}.")
    name = body.get("signature_name")
    pairs = signatures.predict_outputs(loaded, name)
    instances = signatures.named_instances(loaded, body["instances"], name)
    return loaded.schema.from_rows(instances), pairs


def decode_predict(loaded: LoadedVersion, raw: bytes) -> tuple[Columns, Any] | None:
    """:func:`parse_predict` of the usual body, from its bytes (None: any other body)."""
    decoded = loaded.schema.decode_rows(raw)
    if decoded is None:
        return None
    columns, signature_name = decoded
    return columns, signatures.predict_outputs(loaded, signature_name)


def render_predict(loaded: LoadedVersion, outputs: Outputs, pairs: Any) -> Any:
    return {"predictions": signatures.rows(loaded, outputs, pairs)}


class MLEngineV1:
    """The ML Engine v1 routes over one :class:`ServingContext`."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx
        self.registry = ctx.registry

    def routes(self) -> list[BaseRoute]:
        model = PREFIX + "/{model:name}"
        version = model + "/versions/{version:version}"
        return [
            Route(PREFIX, endpoint(self.list_models), methods=["GET"]),
            Route(PREFIX, endpoint(self.create_model), methods=["POST"]),
            Route(model, endpoint(self.get_model), methods=["GET"]),
            Route(model, endpoint(self.delete_model), methods=["DELETE"]),
            Route(model + ":predict", endpoint(self.predict), methods=["POST"]),
            Route(model + "/versions", endpoint(self.list_versions), methods=["GET"]),
            Route(model + "/versions", endpoint(self.create_version), methods=["POST"]),
            Route(version, endpoint(self.get_version), methods=["GET"]),
            Route(version, endpoint(self.delete_version), methods=["DELETE"]),
            Route(version + ":setDefault", endpoint(self.set_default), methods=["POST"]),
            Route(version + ":predict", endpoint(self.predict), methods=["POST"]),
        ]

    # ------------------------------------------------------------------ models

    async def list_models(self, request: Request) -> Response:
        found = await self.ctx.manager.call(self.registry.list_models)
        project = request.path_params["project"]
        return json_response({"models": [m.to_json(project) for m in found]} if found else {})

    async def create_model(self, request: Request) -> Response:
        body = await self.ctx.body(request)
        name = _basename(_text(body, "name", required=True) or "")
        description = _text(body, "description")
        labels = _labels(body)
        created = await self.ctx.manager.call(self.registry.create_model, name, description, labels)
        return json_response(created.to_json(request.path_params["project"]))

    async def get_model(self, request: Request) -> Response:
        found = await self.ctx.manager.call(self.registry.get_model, request.path_params["model"])
        return json_response(found.to_json(request.path_params["project"]))

    async def delete_model(self, request: Request) -> Response:
        await self.ctx.manager.call(self.registry.delete_model, request.path_params["model"])
        self.ctx.manager.poke()
        return json_response({})

    # ------------------------------------------------------------------ versions

    async def list_versions(self, request: Request) -> Response:
        model = request.path_params["model"]
        found = await self.ctx.manager.call(self.registry.list_versions, model)
        project = request.path_params["project"]
        return json_response({"versions": [v.to_json(project) for v in found]} if found else {})

    async def create_version(self, request: Request) -> Response:
        model = request.path_params["model"]
        body = await self.ctx.body(request)
        name = _basename(_text(body, "name", required=True) or "")
        origin = _text(body, "deploymentUri") or _text(body, "origin")
        if origin is None:
            raise invalid("The request body needs a 'deploymentUri': the export to serve.")
        description = _text(body, "description")
        labels = _labels(body)
        check_allowed(normalize_origin(origin), list(self.ctx.settings.allowed_origins))

        def create() -> Any:
            return self.registry.create_version(
                model, name, origin, description=description, labels=labels, wait=False
            )

        created = await self.ctx.manager.call(create)
        return json_response(created.to_json(request.path_params["project"]))

    async def get_version(self, request: Request) -> Response:
        params = request.path_params
        found = await self.ctx.manager.call(
            self.registry.get_version, params["model"], params["version"]
        )
        return json_response(found.to_json(params["project"]))

    async def delete_version(self, request: Request) -> Response:
        params = request.path_params
        await self.ctx.manager.call(
            self.registry.delete_version, params["model"], params["version"]
        )
        self.ctx.manager.poke()
        return json_response({})

    async def set_default(self, request: Request) -> Response:
        params = request.path_params
        await self.ctx.body(request, allow_empty=True)
        found = await self.ctx.manager.call(
            self.registry.set_default_version, params["model"], params["version"]
        )
        self.ctx.manager.poke()
        return json_response(found.to_json(params["project"]))

    # ------------------------------------------------------------------ predict

    async def predict(self, request: Request) -> Response:
        params = request.path_params
        return await self.ctx.predict(
            PROTOCOL,
            request,
            params["model"],
            params.get("version"),
            parse_predict,
            render_predict,
            decode_predict,
        )


__all__ = ["PROTOCOL", "MLEngineV1", "decode_predict", "parse_predict", "render_predict"]
