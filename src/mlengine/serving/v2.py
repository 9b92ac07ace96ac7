"""The Open Inference Protocol v2 (KServe, Triton), JSON only: health, metadata, ``/infer``.

``/infer`` takes one input tensor per feature: ``{"name": "age", "shape": [n] or [n, 1],
"datatype": "FP32", "data": [...]}`` (nested or flat), ``BYTES`` for string features; all share
the batch size ``n``. It answers every output (or those listed in ``outputs``) as a tensor of
shape ``[n, k]``. Triton's binary tensor extension is refused with a 400 that says what to do
(tritonclient: ``binary_data=False``); a request for binary outputs is answered in JSON, which
the clients read as well.
"""

from __future__ import annotations

import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mlengine import __version__
from mlengine.errors import MLEngineError
from mlengine.serving.batching import Outputs
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import invalid
from mlengine.serving.http import json_response, json_type
from mlengine.serving.model_manager import LoadedVersion
from mlengine.serving.routes import Access, ApiRoute
from mlengine.serving.schema import FLOAT, INT, STRING, Columns

PROTOCOL = "v2"
PLATFORM = "mlengine_pytorch"
V2_DATATYPES = {FLOAT: "FP32", INT: "INT64", STRING: "BYTES"}
_INTEGER_TYPES = {f"{sign}INT{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)}
ACCEPTED = {
    FLOAT: _INTEGER_TYPES | {"FP16", "FP32", "FP64"},
    INT: _INTEGER_TYPES,
    STRING: {"BYTES"},
}
BINARY_HEADER = "inference-header-content-length"
_BINARY_HINT = (
    "binary tensor data is not supported by this server; send JSON 'data' "
    "(tritonclient: binary_data=False)."
)


def _flatten(data: Any, depth: int, name: str) -> list[Any]:
    if not isinstance(data, list):
        raise invalid(f"Input tensor {name!r}: 'data' must be an array; got {json_type(data)}.")
    flat: list[Any] = []
    for item in data:
        if isinstance(item, list):
            if depth <= 1:
                raise invalid(f"Input tensor {name!r}: 'data' is nested deeper than its shape.")
            flat.extend(_flatten(item, depth - 1, name))
        else:
            flat.append(item)
    return flat


def _tensor(loaded: LoadedVersion, tensor: Any, index: int) -> tuple[str, int, list[Any]]:
    """One input tensor checked: its name, batch size and flat values."""
    if not isinstance(tensor, dict):
        raise invalid(f"Input {index} must be an object; got {json_type(tensor)}.")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise invalid(f"Input {index} needs a 'name' string.")
    dtype = loaded.schema.dtypes.get(name)
    if dtype is None:
        raise invalid(
            f"Unknown input tensor {name!r}; the model's inputs are {loaded.schema.names[:30]}."
        )
    parameters = tensor.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        raise invalid(f"Input tensor {name!r}: {_BINARY_HINT}")
    datatype = tensor.get("datatype")
    if not isinstance(datatype, str) or datatype not in ACCEPTED[dtype]:
        raise invalid(
            f"Input tensor {name!r} has datatype {datatype!r}; expected "
            f"{V2_DATATYPES[dtype]} (one of {sorted(ACCEPTED[dtype])})."
        )
    shape = tensor.get("shape")
    if (
        not isinstance(shape, list)
        or not 1 <= len(shape) <= 2
        or not all(type(size) is int and size >= 0 for size in shape)
        or (len(shape) == 2 and shape[1] != 1)
    ):
        raise invalid(
            f"Input tensor {name!r} has shape {shape!r}; expected [n] or [n, 1] "
            "(one value per instance)."
        )
    values = _flatten(tensor.get("data"), len(shape), name)
    if len(values) != math.prod(shape):
        raise invalid(
            f"Input tensor {name!r} has {len(values)} values for shape {shape} "
            f"({math.prod(shape)} expected)."
        )
    return name, shape[0], values


def parse_infer(loaded: LoadedVersion, body: dict[str, Any]) -> tuple[Columns, Any]:
    """An inference request → columns, (id, requested output names)."""
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise invalid(f"'id' must be a string; got {json_type(request_id)}.")
    tensors = body.get("inputs")
    if not isinstance(tensors, list) or not tensors:
        raise invalid("'inputs' must be a non-empty array of input tensors.")
    lists: dict[str, list[Any]] = {}
    count: int | None = None
    for index, tensor in enumerate(tensors):
        name, batch, values = _tensor(loaded, tensor, index)
        if name in lists:
            raise invalid(f"Input tensor {name!r} is given twice.")
        if count is not None and batch != count:
            raise invalid(f"Input tensor {name!r} has batch size {batch}; the others have {count}.")
        count = batch
        lists[name] = values
    assert count is not None
    columns = loaded.schema.from_lists(lists, count, what="input tensor")
    return columns, (request_id, _requested(loaded, body.get("outputs")))


def _requested(loaded: LoadedVersion, outputs: Any) -> list[str]:
    known = [spec["name"] for spec in loaded.outputs]
    if outputs is None:
        return known
    if not isinstance(outputs, list):
        raise invalid(f"'outputs' must be an array; got {json_type(outputs)}.")
    names: list[str] = []
    for item in outputs:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in known:
            raise invalid(f"Unknown output {name!r}; the model's outputs are {known}.")
        names.append(name)
    return names


def render_infer(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    request_id, names = extra
    dtypes = {spec["name"]: spec["dtype"] for spec in loaded.outputs}
    tensors = []
    for name in names:
        array = outputs[name]
        matrix = array.reshape(len(array), -1)
        tensors.append(
            {
                "name": name,
                "datatype": V2_DATATYPES.get(dtypes[name], "FP32"),
                "shape": list(matrix.shape),
                "data": matrix.reshape(-1).tolist(),
            }
        )
    answer: dict[str, Any] = {
        "model_name": loaded.model,
        "model_version": str(loaded.number),
        "outputs": tensors,
    }
    if request_id is not None:
        answer["id"] = request_id
    return answer


def _tensor_meta(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "datatype": V2_DATATYPES.get(dtype, "FP32"), "shape": shape}


class V2:
    """The Open Inference Protocol routes over one :class:`ServingContext`."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[ApiRoute]:
        routes = [
            ApiRoute("GET", "/v2", self.server_metadata, Access.READ),
            ApiRoute("GET", "/v2/health/live", self.live, Access.OPEN),
            ApiRoute("GET", "/v2/health/ready", self.ready, Access.OPEN),
        ]
        for base in (
            "/v2/models/{model:name}",
            "/v2/models/{model:name}/versions/{version:version}",
        ):
            routes += [
                ApiRoute("GET", base, self.model_metadata, Access.READ),
                ApiRoute("GET", base + "/ready", self.model_ready, Access.OPEN),
                ApiRoute("POST", base + "/infer", self.infer, Access.PREDICT),
            ]
        return routes

    async def server_metadata(self, request: Request) -> Response:
        return json_response({"name": "mlengine", "version": __version__, "extensions": []})

    async def live(self, request: Request) -> Response:
        return json_response({"live": True})

    async def ready(self, request: Request) -> Response:
        ready = self.ctx.manager.ready
        return json_response({"ready": ready}, 200 if ready else 503)

    async def model_metadata(self, request: Request) -> Response:
        params = request.path_params
        loaded = await self.ctx.manager.resolve(params["model"], params.get("version"))
        versions = await self.ctx.manager.call(self.ctx.registry.list_versions, loaded.model)
        return json_response(
            {
                "name": loaded.model,
                "versions": [str(v.number) for v in versions if v.state == "READY"],
                "platform": PLATFORM,
                "inputs": [
                    _tensor_meta(spec["name"], spec["dtype"], [-1, 1])
                    for spec in loaded.predictor.inputs
                ],
                "outputs": [
                    _tensor_meta(spec["name"], spec["dtype"], list(spec["shape"]))
                    for spec in loaded.outputs
                ],
            }
        )

    async def model_ready(self, request: Request) -> Response:
        params = request.path_params
        try:
            loaded = await self.ctx.manager.resolve(params["model"], params.get("version"))
        except MLEngineError as error:
            if error.code == "NOT_FOUND":
                raise
            return json_response({"name": params["model"], "ready": False}, 503)
        return json_response({"name": loaded.model, "ready": True})

    async def infer(self, request: Request) -> Response:
        if BINARY_HEADER in request.headers:
            raise invalid(_BINARY_HINT[0].upper() + _BINARY_HINT[1:])
        params = request.path_params
        return await self.ctx.predict(
            PROTOCOL, request, params["model"], params.get("version"), parse_infer, render_infer
        )


__all__ = ["PROTOCOL", "V2", "parse_infer", "render_infer"]
