"""ML Engine v1: models and versions (``/v1/projects/{p}/models/...``) and ``:predict``.

=======  ==============================================================  =====================
GET      ``/v1/projects/{p}/models``                                      ``{"models": [...]}``
POST     ``/v1/projects/{p}/models``  ``{"name", "description"?, ...}``   the Model
GET      ``/v1/projects/{p}/models/{m}``                                  the Model
PATCH    ``/v1/projects/{p}/models/{m}?updateMask=...``                   an Operation (done)
DELETE   ``/v1/projects/{p}/models/{m}`` (only once it has no versions)   an Operation (done)
GET      ``/v1/projects/{p}/models/{m}/versions``                         ``{"versions": [...]}``
POST     ``.../versions``  ``{"name", "deploymentUri", ...}``             an Operation
GET      ``.../versions/{v}``                                             the Version
PATCH    ``.../versions/{v}?updateMask=...``                              an Operation (done)
DELETE   ``.../versions/{v}`` (not the default, unless it is the last)   an Operation
POST     ``.../versions/{v}:setDefault``                                  the Version
POST     ``.../models/{m}:predict``, ``.../versions/{v}:predict``         ``{"predictions"}``
=======  ==============================================================  =====================

One registry is one project: any ``{p}`` addresses it. Lists with nothing to list answer ``{}``,
as ML Engine does. Creating and deleting a version are long-running operations (see
:mod:`mlengine.serving.operations`): the call checks what it can at once (an error is its
answer), then answers the Operation, which the client polls at ``projects/{p}/operations/{id}``
until ``done``. A version's ``deploymentUri`` must be under one of ``MLENGINE_ALLOWED_ORIGINS``.

``PATCH`` takes the fields its ``updateMask`` names (comma-separated, camelCase or snake_case):
a model's ``description``, ``labels``, ``defaultVersion.name``, ``onlinePredictionLogging``,
``requestLoggingConfig`` and ``versionLabels`` (TF Serving's labels: ``{"stable": "v1"}``); a
version's ``description``, ``labels`` and ``requestLoggingConfig``. Errors on these routes are
Google's JSON errors; ``:predict`` answers ``{"error": "..."}`` as every prediction route.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mlengine.registry import OperationType, RequestLoggingConfig
from mlengine.registry.origins import check_allowed, normalize_origin
from mlengine.serving import signatures
from mlengine.serving.batching import Outputs
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import invalid
from mlengine.serving.http import json_response, json_type
from mlengine.serving.model_manager import LoadedVersion
from mlengine.serving.routes import Access, ApiRoute
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


def _flag(body: dict[str, Any], key: str) -> bool | None:
    value = body.get(key)
    if value is not None and not isinstance(value, bool):
        raise invalid(f"{key!r} must be true or false; got {json_type(value)}.")
    return value


def _logging_config(body: dict[str, Any], owner: str) -> RequestLoggingConfig | None:
    data = body.get("requestLoggingConfig")
    return None if data is None else RequestLoggingConfig.from_json(data, owner)


MODEL_MASKS = (
    "description",
    "labels",
    "defaultVersion.name",
    "onlinePredictionLogging",
    "requestLoggingConfig",
    "versionLabels",
)
VERSION_MASKS = ("description", "labels", "requestLoggingConfig")


def update_mask(request: Request, allowed: tuple[str, ...], what: str) -> list[str]:
    """The fields ``updateMask`` names (snake_case read as camelCase), each one ``allowed``."""
    raw = request.query_params.get("updateMask") or request.query_params.get("update_mask")
    if not raw:
        raise invalid(
            f"Updating a {what} needs an updateMask naming the fields to change; the fields "
            f"are {list(allowed)}."
        )
    fields = []
    for item in raw.split(","):
        field = re.sub(r"_([a-z])", lambda m: m.group(1).upper(), item.strip())
        if field not in allowed:
            raise invalid(
                f"updateMask names {item.strip()!r}, which a {what} update cannot change; "
                f"the fields are {list(allowed)}."
            )
        fields.append(field)
    return fields


def _basename(name: str) -> str:
    """``projects/p/models/m`` → ``m`` (ML Engine accepts full resource names)."""
    return name.rstrip("/").rsplit("/", 1)[-1]


def parse_predict(loaded: LoadedVersion, body: dict[str, Any]) -> tuple[Columns, Any]:
    """``{"instances": [...], "signature_name"?}`` → columns and the output pairs."""
    if "instances" not in body:
        raise invalid("The request body needs an 'instances' list: {\"instances\": [...]}.")
    if "inputs" in body:
        raise invalid(
            "Send 'instances' only: ML Engine's :predict takes no 'inputs' (the columnar "
            "format is TF Serving's, at /v1/models/{model}:predict)."
        )
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

    def routes(self) -> list[ApiRoute]:
        model = PREFIX + "/{model:name}"
        version = model + "/versions/{version:version}"

        def manage(method: str, path: str, handler: Any) -> ApiRoute:
            return ApiRoute(method, path, handler, Access.MANAGE, google_errors=True)

        return [
            manage("GET", PREFIX, self.list_models),
            manage("POST", PREFIX, self.create_model),
            manage("GET", model, self.get_model),
            manage("PATCH", model, self.patch_model),
            manage("DELETE", model, self.delete_model),
            ApiRoute("POST", model + ":predict", self.predict, Access.PREDICT),
            manage("GET", model + "/versions", self.list_versions),
            manage("POST", model + "/versions", self.create_version),
            manage("GET", version, self.get_version),
            manage("PATCH", version, self.patch_version),
            manage("DELETE", version, self.delete_version),
            manage("POST", version + ":setDefault", self.set_default),
            ApiRoute("POST", version + ":predict", self.predict, Access.PREDICT),
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
        logging = _flag(body, "onlinePredictionLogging")
        config = _logging_config(body, f"model {name}")
        if config is not None:
            await self.ctx.check_log_destination(config)

        def create() -> Any:
            created = self.registry.create_model(name, description, labels)
            if logging is None and config is None:
                return created
            return self.registry.update_model(
                name, online_prediction_logging=logging, request_logging=config
            )

        created = await self.ctx.manager.call(create)
        return json_response(created.to_json(request.path_params["project"]))

    async def patch_model(self, request: Request) -> Response:
        """ML Engine's ``models.patch``: the fields the updateMask names; an Operation."""
        params = request.path_params
        model = params["model"]
        fields = update_mask(request, MODEL_MASKS, "model")
        body = await self.ctx.body(request)
        config = None
        if "requestLoggingConfig" in fields:
            config = _logging_config(body, f"model {model}") or RequestLoggingConfig()
            await self.ctx.check_log_destination(config)
        labels = _labels(body) if "labels" in fields else None
        description = (_text(body, "description") or "") if "description" in fields else None
        default = None
        if "defaultVersion.name" in fields:
            found = body.get("defaultVersion")
            default = _text(found if isinstance(found, dict) else {}, "name", required=True)
        version_labels = body.get("versionLabels") if "versionLabels" in fields else None
        if "versionLabels" in fields and not isinstance(version_labels, dict):
            raise invalid(
                "'versionLabels' must be an object of label → version (name or number); got "
                f"{json_type(version_labels)}."
            )

        def patch() -> Any:
            registry = self.registry
            if default is not None:
                registry.set_default_version(model, _basename(default))
            if version_labels is not None:
                for label, version in version_labels.items():
                    registry.set_version_label(model, label, version)
                for label in set(registry.get_model(model).version_labels) - set(version_labels):
                    registry.remove_version_label(model, label)
            updated = registry.update_model(
                model,
                description=description,
                labels={} if labels is None and "labels" in fields else labels,
                online_prediction_logging=(
                    bool(_flag(body, "onlinePredictionLogging"))
                    if "onlinePredictionLogging" in fields
                    else None
                ),
                request_logging=config,
            )
            return registry.record_operation(
                OperationType.UPDATE_MODEL, model, response=updated.to_json()
            )

        operation = await self.ctx.manager.call(patch)
        self.ctx.manager.poke()
        return json_response(operation.to_json(params["project"]))

    async def get_model(self, request: Request) -> Response:
        found = await self.ctx.manager.call(self.registry.get_model, request.path_params["model"])
        return json_response(found.to_json(request.path_params["project"]))

    async def delete_model(self, request: Request) -> Response:
        model = request.path_params["model"]

        def delete() -> Any:
            self.registry.delete_model(model)
            return self.registry.record_operation(OperationType.DELETE_MODEL, model)

        operation = await self.ctx.manager.call(delete)
        self.ctx.manager.poke()
        return json_response(operation.to_json(request.path_params["project"]))

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
            return self.registry.begin_create_version(model, name, origin, description, labels)

        operation = await self.ctx.manager.call(create)
        return json_response(operation.to_json(request.path_params["project"]))

    async def get_version(self, request: Request) -> Response:
        params = request.path_params
        found = await self.ctx.manager.call(
            self.registry.get_version, params["model"], params["version"]
        )
        return json_response(found.to_json(params["project"]))

    async def patch_version(self, request: Request) -> Response:
        """ML Engine's ``versions.patch``: the fields the updateMask names; an Operation."""
        params = request.path_params
        model, version = params["model"], params["version"]
        fields = update_mask(request, VERSION_MASKS, "version")
        body = await self.ctx.body(request)
        config = None
        if "requestLoggingConfig" in fields:
            owner = f"version {version} of model {model}"
            config = _logging_config(body, owner) or RequestLoggingConfig()
            await self.ctx.check_log_destination(config)
        labels = _labels(body) if "labels" in fields else None
        description = (_text(body, "description") or "") if "description" in fields else None

        def patch() -> Any:
            updated = self.registry.update_version(
                model,
                version,
                description=description,
                labels={} if labels is None and "labels" in fields else labels,
                request_logging=config,
            )
            return self.registry.record_operation(
                OperationType.UPDATE_VERSION, model, updated, response=updated.to_json()
            )

        operation = await self.ctx.manager.call(patch)
        self.ctx.manager.poke()
        return json_response(operation.to_json(params["project"]))

    async def delete_version(self, request: Request) -> Response:
        params = request.path_params
        operation = await self.ctx.manager.call(
            self.registry.begin_delete_version, params["model"], params["version"]
        )
        self.ctx.manager.poke()
        return json_response(operation.to_json(params["project"]))

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
