"""ML Engine's operations routes over the registry's long-running operations
(:mod:`mlengine.registry.operations`).

=======  ====================================================  =================================
GET      ``/v1/projects/{p}/operations``                        ``{"operations": [...],
                                                                "nextPageToken"?}`` (or ``{}``)
GET      ``/v1/projects/{p}/operations/{id}``                   the Operation
POST     ``/v1/projects/{p}/operations/{id}:cancel``            ``{}`` (Google's Empty)
=======  ====================================================  =================================

``versions.create`` and ``versions.delete`` answer an Operation that is not yet ``done``; a
client polls it here (google-api-python-client: ``projects().operations().get(name=...)``;
``mlengine operations wait``). Any replica or worker answers for any operation: they live in the
registry's database. ``pageSize`` (default 20, at most 100) and ``pageToken`` page the list;
``filter`` is not supported (a 400 says so).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from mlengine.limits import whole_number
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import invalid
from mlengine.serving.http import json_response
from mlengine.serving.routes import Access, ApiRoute

PREFIX = "/v1/projects/{project:project}/operations"
#: The largest pageSize taken (Google's int32; the registry pages at most 100 anyway).
MAX_PAGE_SIZE = 2**31 - 1


class Operations:
    """The operations routes over one :class:`ServingContext` (and the registry it holds)."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[ApiRoute]:
        operation = PREFIX + "/{operation:operation}"
        return [
            ApiRoute("GET", PREFIX, self.list_operations, Access.MANAGE, google_errors=True),
            ApiRoute("GET", operation, self.get_operation, Access.MANAGE, google_errors=True),
            ApiRoute("POST", operation + ":cancel", self.cancel, Access.MANAGE, google_errors=True),
        ]

    async def list_operations(self, request: Request) -> Response:
        query = request.query_params
        if query.get("filter"):
            raise invalid(
                "filter is not supported by this server's operations.list; list them all "
                "(`mlengine operations list --filter` filters on the client)."
            )
        raw_size = query.get("pageSize")
        size = None if raw_size is None else whole_number(raw_size, MAX_PAGE_SIZE)
        if raw_size is not None and size is None:
            raise invalid(
                f"pageSize must be a whole number up to {MAX_PAGE_SIZE}; got {raw_size[:40]!r}."
            )
        found, token = await self.ctx.manager.call(
            self.ctx.registry.list_operations, size, query.get("pageToken")
        )
        project = request.path_params["project"]
        answer: dict[str, object] = {}
        if found:
            answer["operations"] = [operation.to_json(project) for operation in found]
        if token is not None:
            answer["nextPageToken"] = token
        return json_response(answer)

    async def get_operation(self, request: Request) -> Response:
        params = request.path_params
        found = await self.ctx.manager.call(self.ctx.registry.get_operation, params["operation"])
        return json_response(found.to_json(params["project"]))

    async def cancel(self, request: Request) -> Response:
        await self.ctx.body(request, allow_empty=True)
        params = request.path_params
        await self.ctx.manager.call(self.ctx.registry.cancel_operation, params["operation"])
        self.ctx.manager.poke()
        return json_response({})


__all__ = ["Operations"]
