"""OIP v2's ``inference.GRPCInferenceService`` over the model manager: ServerLive, ServerReady,
ModelReady, ServerMetadata, ModelMetadata and ModelInfer, and Triton's extensions ModelConfig,
ModelStatistics and RepositoryIndex (served by :class:`~mlengine.serving.grpc_server.GrpcServer`).
The extensions answer what REST's answer (:mod:`mlengine.serving.v2` computes the content once),
as the messages Triton's REST JSON is the JSON form of.

ModelInfer takes the same tensors as REST ``/infer`` (one per feature, ``[n]`` or ``[n, 1]``,
checked by the same code with the same words): in ``raw_input_contents`` (one entry per input,
in the order of ``inputs``: what tritonclient.grpc sends) or in typed ``contents``. It answers
every output (or those requested) in ``raw_output_contents``, the only form
tritonclient.grpc's ``as_numpy`` reads; ``parameters.classification`` (int64) asks for
Triton's top-k classes, as over REST.
"""

from __future__ import annotations

import math
from typing import Any

import grpc
import numpy as np
from google.protobuf import json_format

from mlengine import __version__, protos
from mlengine.errors import MLEngineError
from mlengine.registry import VersionState
from mlengine.serving import tensors
from mlengine.serving.batching import Outputs
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import invalid
from mlengine.serving.grpc_server import Method
from mlengine.serving.model_manager import LoadedVersion
from mlengine.serving.routes import Access
from mlengine.serving.schema import Columns
from mlengine.serving.v2 import (
    PLATFORM,
    V2_DATATYPES,
    check_input,
    classification,
    model_config,
    repository_index,
    statistics,
)

PROTOCOL = "v2_grpc"
# Triton's extensions this service has (binary tensors are gRPC's raw contents, always there).
GRPC_EXTENSIONS = ["classification", "model_configuration", "statistics"]  # as REST
# Which typed field of InferTensorContents holds each datatype.
CONTENTS = {
    "BOOL": "bool_contents",
    "INT8": "int_contents",
    "INT16": "int_contents",
    "INT32": "int_contents",
    "INT64": "int64_contents",
    "UINT8": "uint_contents",
    "UINT16": "uint_contents",
    "UINT32": "uint_contents",
    "UINT64": "uint64_contents",
    "FP32": "fp32_contents",
    "FP64": "fp64_contents",
    "BYTES": "bytes_contents",
}


def _message(name: str) -> Any:
    return protos.message(f"inference.{name}")


def _parsed(name: str, content: Any) -> Any:
    """The message ``name`` of REST's JSON answer (Triton's JSON is these messages' JSON form)."""
    return json_format.ParseDict(content, _message(name)())


def _contents(tensor: Any, name: str, datatype: str, count: int) -> Any:
    """A tensor's typed ``contents`` as a numpy array (numbers) or a list of text."""
    field = CONTENTS.get(datatype)
    if field is None:
        raise invalid(
            f"Input tensor {name!r} has datatype {datatype}, which only raw_input_contents "
            "can carry."
        )
    values = list(getattr(tensor.contents, field))
    if len(values) != count:
        raise invalid(
            f"Input tensor {name!r} has {len(values)} values in contents.{field} for shape "
            f"{list(tensor.shape)} ({count} expected)."
        )
    if datatype == tensors.BYTES:
        return tensors.utf8(values, name)
    return np.array(values, dtype=tensors.NUMPY_DTYPES[datatype])


def decode_infer(request: Any, loaded: LoadedVersion) -> tuple[Columns, Any]:
    """A ModelInferRequest → columns, (id, requested outputs)."""
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise invalid(
            f"raw_input_contents has {len(raw)} entries for {len(request.inputs)} inputs: one "
            "per input, in the order of inputs."
        )
    if not request.inputs:
        raise invalid("'inputs' must be a non-empty list of input tensors.")
    arrays: dict[str, Any] = {}
    count: int | None = None
    for index, tensor in enumerate(request.inputs):
        name, datatype, shape = tensor.name, tensor.datatype, list(tensor.shape)
        check_input(loaded, name, datatype, shape)
        if name in arrays:
            raise invalid(f"Input tensor {name!r} is given twice.")
        if raw:
            if tensor.HasField("contents"):
                raise invalid(
                    f"Input tensor {name!r} has contents, and the request raw_input_contents: "
                    "give one or the other."
                )
            values = tensors.decode_raw(datatype, raw[index], shape, name)
            if datatype == tensors.BYTES:
                values = tensors.utf8(values, name)
        else:
            values = _contents(tensor, name, datatype, math.prod(shape))
        if count is not None and shape[0] != count:
            raise invalid(
                f"Input tensor {name!r} has batch size {shape[0]}; the others have {count}."
            )
        count = shape[0]
        arrays[name] = values
    assert count is not None
    columns = loaded.schema.from_lists({}, count, what="input tensor", arrays=arrays)
    known = [spec["name"] for spec in loaded.outputs]
    requested: list[tuple[str, int]] = []
    for output in request.outputs:
        if output.name not in known:
            raise invalid(f"Unknown output {output.name!r}; the model's outputs are {known}.")
        top = 0
        if "classification" in output.parameters:
            top = output.parameters["classification"].int64_param
            if top < 0:
                raise invalid(f"Output {output.name!r}: 'classification' must be a count >= 0.")
        requested.append((output.name, top))
    return columns, (request.id, requested or [(name, 0) for name in known])


def render_infer(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    """Outputs as a ModelInferResponse, each in ``raw_output_contents``."""
    request_id, requested = extra
    response = _message("ModelInferResponse")(
        model_name=loaded.model, model_version=str(loaded.number), id=request_id
    )
    dtypes = {spec["name"]: spec["dtype"] for spec in loaded.outputs}
    for name, top in requested:
        array = outputs[name]
        matrix = array.reshape(len(array), -1)
        datatype = V2_DATATYPES.get(dtypes[name], "FP32")
        if top:
            matrix, datatype = classification(loaded, matrix, top), tensors.BYTES
        response.outputs.add(name=name, datatype=datatype, shape=list(matrix.shape))
        response.raw_output_contents.append(tensors.encode_raw(datatype, matrix))
    return response


class GrpcV2:
    """The GRPCInferenceService's methods over one :class:`ServingContext`."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def methods(self) -> dict[str, tuple[Access, Method]]:
        """Each method with who may call it (as the REST routes they mirror)."""
        return {
            "ServerLive": (Access.OPEN, self.server_live),
            "ServerReady": (Access.OPEN, self.server_ready),
            "ModelReady": (Access.OPEN, self.model_ready),
            "ServerMetadata": (Access.READ, self.server_metadata),
            "ModelMetadata": (Access.READ, self.model_metadata),
            "ModelInfer": (Access.PREDICT, self.model_infer),
            "ModelConfig": (Access.READ, self.model_config),
            "ModelStatistics": (Access.READ, self.model_statistics),
            "RepositoryIndex": (Access.READ, self.repository_index),
        }

    async def server_live(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return _message("ServerLiveResponse")(live=True)

    async def server_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return _message("ServerReadyResponse")(ready=self.ctx.manager.ready)

    async def model_ready(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Ready: the version can serve (an unknown model or version is not ready, as
        Triton answers)."""
        try:
            await self.ctx.manager.resolve(request.name, request.version or None)
        except MLEngineError:
            return _message("ModelReadyResponse")(ready=False)
        return _message("ModelReadyResponse")(ready=True)

    async def server_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return _message("ServerMetadataResponse")(
            name="mlengine", version=__version__, extensions=GRPC_EXTENSIONS
        )

    async def model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        manager = self.ctx.manager
        loaded = await manager.resolve(request.name, request.version or None)
        versions = await manager.call(self.ctx.registry.list_versions, loaded.model)
        response = _message("ModelMetadataResponse")(
            name=loaded.model,
            versions=[str(v.number) for v in versions if v.state == VersionState.READY],
            platform=PLATFORM,
        )
        for spec in loaded.predictor.inputs:
            datatype = V2_DATATYPES.get(spec["dtype"], "FP32")
            response.inputs.add(name=spec["name"], datatype=datatype, shape=[-1, 1])
        for spec in loaded.outputs:
            datatype = V2_DATATYPES.get(spec["dtype"], "FP32")
            response.outputs.add(name=spec["name"], datatype=datatype, shape=list(spec["shape"]))
        return response

    async def model_config(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        loaded = await self.ctx.manager.resolve(request.name, request.version or None)
        config = model_config(loaded, self.ctx.settings.max_batch_size)
        return _parsed("ModelConfigResponse", {"config": config})

    async def model_statistics(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """Statistics of a version, a model's versions, or (no name) every model's."""
        found = await statistics(self.ctx, request.name or None, request.version or None)
        return _parsed("ModelStatisticsResponse", found)

    async def repository_index(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        """The one repository (``repository_name`` is not used: mlengine has one registry)."""
        index = await repository_index(self.ctx, request.ready)
        return _parsed("RepositoryIndexResponse", {"models": index})

    async def model_infer(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def decode(loaded: LoadedVersion) -> tuple[Columns, Any]:
            return decode_infer(request, loaded)

        return await self.ctx.infer(
            PROTOCOL, request.model_name, request.model_version or None, decode, render_infer
        )


__all__ = ["GRPC_EXTENSIONS", "PROTOCOL", "GrpcV2", "decode_infer", "render_infer"]
