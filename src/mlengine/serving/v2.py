"""The Open Inference Protocol v2 (KServe, Triton) over REST: health, metadata, ``/infer``, and
Triton's extensions that clients call (binary tensor data, classification, model configuration,
the repository index, statistics).

``/infer`` takes one input tensor per feature: ``{"name": "age", "shape": [n] or [n, 1],
"datatype": "FP32", "data": [...]}`` (nested or flat), ``BYTES`` for string features; all share
the batch size ``n``. It answers every output (or those listed in ``outputs``) as a tensor of
shape ``[n, k]``.

Binary tensor data (what tritonclient sends by default): the body is a JSON header of
``Inference-Header-Content-Length`` bytes followed by the binary inputs' bytes, in the order of
``inputs``, each input saying its size in ``parameters.binary_data_size`` instead of giving
``data`` (see :mod:`mlengine.serving.tensors`). Outputs come back binary when the request asks:
``parameters.binary_data_output`` for all, ``parameters.binary_data`` per output; the answer is
then its JSON header, the outputs' bytes, and the header's length in
``Inference-Header-Content-Length``. An output requested with ``parameters.classification: k``
answers its top ``k`` classes as BYTES ``"score:index:label"``, as Triton does.
"""

from __future__ import annotations

import functools
import math
from typing import Any

import numpy as np
from starlette.requests import Request
from starlette.responses import Response

from mlengine import __version__
from mlengine.errors import MLEngineError
from mlengine.registry import VersionState
from mlengine.serving import tensors
from mlengine.serving.batching import Outputs
from mlengine.serving.context import BINARY_HEADER, Framed, ServingContext, json_object
from mlengine.serving.errors import invalid
from mlengine.serving.http import json_response, json_type
from mlengine.serving.model_manager import LoadedVersion
from mlengine.serving.routes import Access, ApiRoute
from mlengine.serving.schema import FLOAT, INT, STRING, Columns

PROTOCOL = "v2"
PLATFORM = "mlengine_pytorch"
V2_DATATYPES = {FLOAT: "FP32", INT: "INT64", STRING: "BYTES"}
TRITON_TYPES = {FLOAT: "TYPE_FP32", INT: "TYPE_INT64", STRING: "TYPE_STRING"}
_INTEGER_TYPES = {f"{sign}INT{bits}" for sign in ("", "U") for bits in (8, 16, 32, 64)}
ACCEPTED = {
    FLOAT: _INTEGER_TYPES | {"FP16", "FP32", "FP64"},
    INT: _INTEGER_TYPES,
    STRING: {"BYTES"},
}
EXTENSIONS = ["binary_tensor_data", "classification", "model_configuration", "statistics"]
# Triton's repository states for the registry's version states.
_REPOSITORY_STATES = {
    VersionState.READY: "READY",
    VersionState.CREATING: "LOADING",
    VersionState.DELETING: "UNLOADING",
    VersionState.FAILED: "UNAVAILABLE",
}


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


class _Binary:
    """The bytes after a request's JSON header, handed out to the binary inputs in order."""

    def __init__(self, data: memoryview) -> None:
        self.data = data
        self.offset = 0

    def take(self, size: Any, name: str) -> memoryview:
        if type(size) is not int or size < 0:
            raise invalid(
                f"Input tensor {name!r}: 'binary_data_size' must be a whole number of bytes; "
                f"got {size!r}."
            )
        left = len(self.data) - self.offset
        if size > left:
            raise invalid(
                f"Input tensor {name!r} has binary_data_size {size}, but only {left} bytes of "
                "binary data are left in the body (Inference-Header-Content-Length and the "
                "sizes disagree with the body)."
            )
        chunk = self.data[self.offset : self.offset + size]
        self.offset += size
        return chunk

    def check_used(self) -> None:
        left = len(self.data) - self.offset
        if left:
            raise invalid(
                f"The body has {left} bytes of binary data that no input's binary_data_size "
                f"accounts for ({self.offset} of {len(self.data)} used): the sizes disagree "
                "with the body."
            )


def check_input(loaded: LoadedVersion, name: Any, datatype: Any, shape: Any) -> None:
    """An input tensor's name, datatype and shape, checked against the version's inputs (REST
    and gRPC alike): a known input, a datatype its dtype takes, shape [n] or [n, 1]."""
    dtype = loaded.schema.dtypes.get(name)
    if dtype is None:
        raise invalid(
            f"Unknown input tensor {name!r}; the model's inputs are {loaded.schema.names[:30]}."
        )
    if not isinstance(datatype, str) or datatype not in ACCEPTED[dtype]:
        raise invalid(
            f"Input tensor {name!r} has datatype {datatype!r}; expected "
            f"{V2_DATATYPES[dtype]} (one of {sorted(ACCEPTED[dtype])})."
        )
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


def _tensor(
    loaded: LoadedVersion, tensor: Any, index: int, binary: _Binary | None
) -> tuple[str, int, Any, bool]:
    """One input tensor checked: its name, batch size, values, and whether they came raw (a
    numpy array of numbers or a list of text; else a flat list of JSON values)."""
    if not isinstance(tensor, dict):
        raise invalid(f"Input {index} must be an object; got {json_type(tensor)}.")
    name = tensor.get("name")
    if not isinstance(name, str):
        raise invalid(f"Input {index} needs a 'name' string.")
    datatype: Any = tensor.get("datatype")
    shape: Any = tensor.get("shape")
    check_input(loaded, name, datatype, shape)
    parameters = tensor.get("parameters")
    if isinstance(parameters, dict) and "binary_data_size" in parameters:
        if binary is None:
            raise invalid(
                f"Input tensor {name!r} has 'binary_data_size' but the request has no "
                "Inference-Header-Content-Length header saying where its JSON ends."
            )
        if "data" in tensor:
            raise invalid(f"Input tensor {name!r} has both 'data' and 'binary_data_size'.")
        raw = binary.take(parameters["binary_data_size"], name)
        values = tensors.decode_raw(datatype, raw, shape, name)
        if datatype == tensors.BYTES:
            values = tensors.utf8(values, name)
        return name, shape[0], values, True
    values = _flatten(tensor.get("data"), len(shape), name)
    if len(values) != math.prod(shape):
        raise invalid(
            f"Input tensor {name!r} has {len(values)} values for shape {shape} "
            f"({math.prod(shape)} expected)."
        )
    return name, shape[0], values, False


def _parse(loaded: LoadedVersion, body: dict[str, Any], binary: _Binary | None) -> Any:
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise invalid(f"'id' must be a string; got {json_type(request_id)}.")
    inputs = body.get("inputs")
    if not isinstance(inputs, list) or not inputs:
        raise invalid("'inputs' must be a non-empty array of input tensors.")
    lists: dict[str, list[Any]] = {}
    arrays: dict[str, Any] = {}
    count: int | None = None
    for index, tensor in enumerate(inputs):
        name, batch, values, raw = _tensor(loaded, tensor, index, binary)
        if name in lists or name in arrays:
            raise invalid(f"Input tensor {name!r} is given twice.")
        if count is not None and batch != count:
            raise invalid(f"Input tensor {name!r} has batch size {batch}; the others have {count}.")
        count = batch
        (arrays if raw else lists)[name] = values
    if binary is not None:
        binary.check_used()
    assert count is not None
    columns = loaded.schema.from_lists(lists, count, what="input tensor", arrays=arrays)
    return columns, (request_id, _requested(loaded, body))


def parse_infer(loaded: LoadedVersion, body: dict[str, Any]) -> tuple[Columns, Any]:
    """A JSON inference request → columns, (id, requested outputs)."""
    result: tuple[Columns, Any] = _parse(loaded, body, None)
    return result


def decode_binary_infer(header: str, loaded: LoadedVersion, raw: bytes) -> tuple[Columns, Any]:
    """An inference request with binary tensor data (``header``: the value of its
    Inference-Header-Content-Length) → columns, (id, requested outputs)."""
    try:
        length = int(header.strip())
    except ValueError:
        raise invalid(
            f"Inference-Header-Content-Length must be a whole number of bytes; got {header[:40]!r}."
        ) from None
    if not 0 < length <= len(raw):
        if length == 0:
            raise invalid(
                "Inference-Header-Content-Length is 0 (a raw binary request without a JSON "
                "header): this server needs the JSON header naming the inputs."
            )
        raise invalid(
            f"Inference-Header-Content-Length is {length}, but the body has {len(raw)} bytes."
        )
    body = json_object(raw[:length])
    result: tuple[Columns, Any] = _parse(loaded, body, _Binary(memoryview(raw)[length:]))
    return result


def _flag(parameters: Any, key: str, where: str) -> bool:
    value = parameters.get(key, False) if isinstance(parameters, dict) else False
    if not isinstance(value, bool):
        raise invalid(f"{where}: '{key}' must be true or false; got {json_type(value)}.")
    return value


def _requested(loaded: LoadedVersion, body: dict[str, Any]) -> list[tuple[str, bool, int]]:
    """Each output to answer: (name, binary, classification top-k or 0)."""
    known = [spec["name"] for spec in loaded.outputs]
    parameters = body.get("parameters")
    if parameters is not None and not isinstance(parameters, dict):
        raise invalid(f"'parameters' must be an object; got {json_type(parameters)}.")
    all_binary = _flag(parameters, "binary_data_output", "The request's parameters")
    outputs = body.get("outputs")
    if outputs is None:
        return [(name, all_binary, 0) for name in known]
    if not isinstance(outputs, list):
        raise invalid(f"'outputs' must be an array; got {json_type(outputs)}.")
    requested: list[tuple[str, bool, int]] = []
    for item in outputs:
        name = item.get("name") if isinstance(item, dict) else None
        if not isinstance(name, str) or name not in known:
            raise invalid(f"Unknown output {name!r}; the model's outputs are {known}.")
        assert isinstance(item, dict)
        options = item.get("parameters")
        if options is not None and not isinstance(options, dict):
            raise invalid(f"Output {name!r}: 'parameters' must be an object.")
        where = f"Output {name!r}"
        binary = (
            _flag(options, "binary_data", where)
            if options and "binary_data" in options
            else all_binary
        )
        top = (options or {}).get("classification", 0)
        if type(top) is not int or top < 0:
            raise invalid(f"{where}: 'classification' must be a count >= 0; got {top!r}.")
        requested.append((name, binary, top))
    return requested


def classification(loaded: LoadedVersion, matrix: np.ndarray, top: int) -> np.ndarray:
    """Triton's classification extension: each row's ``top`` largest values as
    ``"score:index"`` strings (``"score:index:label"`` when the row has one value per class),
    best first; shape [n, top]."""
    top = min(top, matrix.shape[1])
    order = np.argsort(-matrix, axis=1, kind="stable")[:, :top]
    labels = loaded.class_labels if matrix.shape[1] == len(loaded.class_labels) else None
    rows = []
    for row, indices in zip(matrix, order, strict=True):
        cells = []
        for index in indices.tolist():
            cell = f"{float(row[index]):f}:{index}"
            cells.append(cell if labels is None else f"{cell}:{labels[index]}")
        rows.append(cells)
    return np.array(rows, dtype=object).reshape(len(rows), top)


def render_infer(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    request_id, requested = extra
    dtypes = {spec["name"]: spec["dtype"] for spec in loaded.outputs}
    described: list[dict[str, Any]] = []
    chunks: list[bytes] = []
    for name, binary, top in requested:
        array = outputs[name]
        matrix = array.reshape(len(array), -1)
        datatype = V2_DATATYPES.get(dtypes[name], "FP32")
        if top:
            matrix, datatype = classification(loaded, matrix, top), tensors.BYTES
        tensor: dict[str, Any] = {"name": name, "datatype": datatype, "shape": list(matrix.shape)}
        if binary:
            chunk = tensors.encode_raw(datatype, matrix)
            tensor["parameters"] = {"binary_data_size": len(chunk)}
            chunks.append(chunk)
        else:
            tensor["data"] = matrix.reshape(-1).tolist()
        described.append(tensor)
    answer: dict[str, Any] = {
        "model_name": loaded.model,
        "model_version": str(loaded.number),
        "outputs": described,
    }
    if request_id is not None:
        answer["id"] = request_id
    return Framed(answer, chunks) if chunks else answer


def _tensor_meta(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {"name": name, "datatype": V2_DATATYPES.get(dtype, "FP32"), "shape": shape}


def model_config(loaded: LoadedVersion, max_batch_size: int) -> dict[str, Any]:
    """Triton's model configuration of a version (the model configuration extension): its
    inputs and outputs without the batch dimension, which ``max_batch_size`` bounds."""
    return {
        "name": loaded.model,
        "platform": PLATFORM,
        "backend": "mlengine",
        "version_policy": {"specific": {"versions": [loaded.number]}},
        "max_batch_size": max_batch_size,
        "input": [
            {"name": spec["name"], "data_type": TRITON_TYPES.get(spec["dtype"]), "dims": [1]}
            for spec in loaded.predictor.inputs
        ],
        "output": [
            {
                "name": spec["name"],
                "data_type": TRITON_TYPES.get(spec["dtype"], "TYPE_FP32"),
                "dims": list(spec["shape"])[1:] or [1],
            }
            for spec in loaded.outputs
        ],
        "dynamic_batching": {},
    }


async def repository_index(ctx: ServingContext, only_ready: bool) -> list[dict[str, str]]:
    """Triton's repository index (REST and gRPC): every version with its state (``only_ready``:
    only those that can serve) and the reason of one that cannot."""
    registry, manager = ctx.registry, ctx.manager
    index = []
    for model in await manager.call(registry.list_models):
        for version in await manager.call(registry.list_versions, model.name):
            state = _REPOSITORY_STATES.get(version.state, "UNAVAILABLE")
            reason = version.error_message or ""
            failure = manager.failure(model.name, version.number)
            if failure is not None and state == "READY":
                state, reason = "UNAVAILABLE", failure
            if only_ready and state != "READY":
                continue
            entry = {"name": model.name, "version": str(version.number), "state": state}
            if reason:
                entry["reason"] = reason
            index.append(entry)
    return index


async def statistics(ctx: ServingContext, model: str | None, version: str | None) -> Any:
    """Triton's statistics (REST and gRPC) of one version, a model's ready versions, or every
    model's (``model`` None)."""
    registry, manager = ctx.registry, ctx.manager
    if model is None:
        names = [found.name for found in await manager.call(registry.list_models)]
    else:
        names = [model]
    keys: list[tuple[str, int]] = []
    for name in names:
        if version is not None:
            found = [await manager.call(registry.get_version, name, version)]
        else:
            found = await manager.call(registry.list_versions, name)
        keys += [(name, v.number) for v in found if v.state == VersionState.READY]
    return ctx.metrics.statistics.to_v2(keys)


class V2:
    """The Open Inference Protocol routes over one :class:`ServingContext`."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[ApiRoute]:
        routes = [
            ApiRoute("GET", "/v2", self.server_metadata, Access.READ),
            ApiRoute("GET", "/v2/health/live", self.live, Access.OPEN),
            ApiRoute("GET", "/v2/health/ready", self.ready, Access.OPEN),
            ApiRoute("POST", "/v2/repository/index", self.repository_index, Access.READ),
            ApiRoute("GET", "/v2/models/stats", self.statistics, Access.READ),
        ]
        for base in (
            "/v2/models/{model:name}",
            "/v2/models/{model:name}/versions/{version:version}",
        ):
            routes += [
                ApiRoute("GET", base, self.model_metadata, Access.READ),
                ApiRoute("GET", base + "/ready", self.model_ready, Access.OPEN),
                ApiRoute("GET", base + "/config", self.model_config, Access.READ),
                ApiRoute("GET", base + "/stats", self.statistics, Access.READ),
                ApiRoute("POST", base + "/infer", self.infer, Access.PREDICT),
            ]
        return routes

    async def server_metadata(self, request: Request) -> Response:
        return json_response({"name": "mlengine", "version": __version__, "extensions": EXTENSIONS})

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

    async def model_config(self, request: Request) -> Response:
        params = request.path_params
        loaded = await self.ctx.manager.resolve(params["model"], params.get("version"))
        return json_response(model_config(loaded, self.ctx.settings.max_batch_size))

    async def repository_index(self, request: Request) -> Response:
        """Triton's repository index: every version with its state (``{"ready": true}``:
        only those that can serve)."""
        body = await self.ctx.body(request, allow_empty=True)
        return json_response(await repository_index(self.ctx, _flag(body, "ready", "The request")))

    async def statistics(self, request: Request) -> Response:
        """Triton's statistics of one version, a model's versions, or every model's."""
        params = request.path_params
        return json_response(await statistics(self.ctx, params.get("model"), params.get("version")))

    async def infer(self, request: Request) -> Response:
        params = request.path_params
        header = request.headers.get(BINARY_HEADER)
        decode = None if header is None else functools.partial(decode_binary_infer, header)
        return await self.ctx.predict(
            PROTOCOL,
            request,
            params["model"],
            params.get("version"),
            parse_infer,
            render_infer,
            decode,
        )


__all__ = [
    "ACCEPTED",
    "EXTENSIONS",
    "V2_DATATYPES",
    "check_input",
    "PROTOCOL",
    "V2",
    "classification",
    "decode_binary_infer",
    "model_config",
    "parse_infer",
    "render_infer",
    "repository_index",
    "statistics",
]
