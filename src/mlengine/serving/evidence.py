"""``GET .../versions/{v}/evidence``: what a version's export recorded about how well it does.

An mlengine extension of ML Engine's version resource (the console draws it): the export's
``evidence.json`` member (see :func:`mlengine.export.evidence.read_evidence`): the curves of its
last evaluation (ROC, precision–recall, calibration, confusion matrix; residuals by decile for a
regressor), its training history, a few real instances, its feature importances. An export
written without evidence (older formats) answers ``{}``, as ML Engine answers an empty list.
Management access (the evidence holds real instances of the evaluation data).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mlengine.serving.context import ServingContext
from mlengine.serving.http import json_response
from mlengine.serving.mlengine_v1 import PREFIX
from mlengine.serving.routes import Access, ApiRoute


class Evidence:
    """The evidence route over one ServingContext."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[ApiRoute]:
        path = PREFIX + "/{model:name}/versions/{version:version}/evidence"
        return [ApiRoute("GET", path, self.evidence, Access.MANAGE, google_errors=True)]

    def read(self, model: str, version: str) -> dict[str, Any]:
        from mlengine.export.evidence import read_evidence

        found = read_evidence(self.ctx.registry.export_dir(model, version))
        return {} if found is None else found.to_json()

    async def evidence(self, request: Request) -> Response:
        params = request.path_params
        found = await self.ctx.manager.call(self.read, params["model"], params["version"])
        return json_response(found)


__all__ = ["Evidence"]
