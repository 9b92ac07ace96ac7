"""TF Serving's gRPC API over the model manager: ``PredictionService`` (Predict, Classify,
Regress, GetModelMetadata) and ``ModelService.GetModelStatus`` (served by
:class:`~mlengine.serving.grpc_server.GrpcServer`).

``ModelSpec`` addresses a version as TF Serving does: ``version`` (a number), ``version_label``
(set with ``mlengine versions set-label``), or neither (the default version);
``signature_name`` (empty: ``serving_default``) picks the outputs, as over REST.

Predict takes one ``TensorProto`` per feature, shape ``[n]`` or ``[n, 1]``: numbers as
``tensor_content`` (little-endian, row-major) or typed values (``float_val``, ``int64_val``,
...; fewer values than elements repeat the last one, as TensorFlow fills them), strings as
``string_val`` (UTF-8). A float32 input takes any numeric dtype, an int64 input the integer
ones, a string input ``DT_STRING``. Outputs come back as TF Serving writes them: numbers in
``tensor_content``, strings in ``string_val``, shape ``[n, k]``.

Classify and Regress take TF Serving's ``Input``: ``example_list`` (one ``tensorflow.Example``
per instance) or ``example_list_with_context`` (the context's features in every example; as TF
Serving serializes the context before each example, an example's own feature wins over the
context's of the same name). An export whose serving input receiver parses tf.Examples
(``build_parsing_serving_input_receiver_fn``: see :mod:`mlengine.export.receivers`) reads them
with its recorded parse spec (defaults, required features, the feature kinds); any other
export reads each example's features by name, as REST's ``:classify`` reads JSON examples.
Errors name the example and the feature (INVALID_ARGUMENT). Classify answers each example's
``(label, score)`` classes, Regress its value. GetModelMetadata answers the signatures as a
``SignatureDefMap`` packed in an ``Any`` whose type URL is
``type.googleapis.com/tensorflow.serving.SignatureDefMap``, as TF Serving's.
"""

from __future__ import annotations

from typing import Any

import grpc
import numpy as np

from mlengine import protos
from mlengine.data.examples import example_features
from mlengine.export.format import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD
from mlengine.export.receivers import TF_EXAMPLE
from mlengine.serving import signatures, tensors
from mlengine.serving.batching import Outputs
from mlengine.serving.context import ServingContext
from mlengine.serving.errors import invalid
from mlengine.serving.grpc_server import Method
from mlengine.serving.model_manager import LoadedVersion
from mlengine.serving.routes import Access
from mlengine.serving.schema import FLOAT, INT, STRING, Columns
from mlengine.serving.tfserving import TF_DTYPES, metadata, version_statuses

PROTOCOL = "tfserving_grpc"
SIGNATURE_DEF_MAP_URL = "type.googleapis.com/tensorflow.serving.SignatureDefMap"
# DataType name → (the OIP datatype of the same bytes, the typed field holding its values).
_NUMERIC = {
    "DT_FLOAT": ("FP32", "float_val"),
    "DT_DOUBLE": ("FP64", "double_val"),
    "DT_HALF": ("FP16", "half_val"),
    "DT_INT8": ("INT8", "int_val"),
    "DT_INT16": ("INT16", "int_val"),
    "DT_INT32": ("INT32", "int_val"),
    "DT_INT64": ("INT64", "int64_val"),
    "DT_UINT8": ("UINT8", "int_val"),
    "DT_UINT16": ("UINT16", "int_val"),
    "DT_UINT32": ("UINT32", "uint32_val"),
    "DT_UINT64": ("UINT64", "uint64_val"),
}
_INTEGERS = {name for name in _NUMERIC if "INT" in name}
ACCEPTED = {FLOAT: set(_NUMERIC), INT: _INTEGERS, STRING: {"DT_STRING"}}


def _message(name: str) -> Any:
    return protos.message(f"tensorflow.serving.{name}")


def _dtype_name(number: int) -> str:
    found = protos.pool().FindEnumTypeByName("tensorflow.DataType").values_by_number.get(number)
    return "DT_INVALID" if found is None else str(found.name)


def tensor_values(
    tensor: Any, name: str, dtype: str, max_elements: int | None = None
) -> tuple[int, Any]:
    """A TensorProto of one input checked: (batch size, a numpy array or a list of text).

    ``max_elements`` bounds the batch size before anything is allocated: TensorFlow's rule
    lets one typed value fill a tensor of any shape, so a message of a few bytes could
    otherwise ask for billions of elements (the server passes ``--max-body-bytes``, the most
    values a REST body can carry)."""
    kind = _dtype_name(tensor.dtype)
    if kind not in ACCEPTED[dtype]:
        raise invalid(
            f"Input tensor {name!r} has dtype {kind}; expected {TF_DTYPES[dtype]} (one of "
            f"{sorted(ACCEPTED[dtype])})."
        )
    if tensor.tensor_shape.unknown_rank:
        raise invalid(f"Input tensor {name!r} has an unknown rank; give its shape.")
    shape = [int(dim.size) for dim in tensor.tensor_shape.dim]
    if not 1 <= len(shape) <= 2 or min(shape) < 0 or (len(shape) == 2 and shape[1] != 1):
        raise invalid(
            f"Input tensor {name!r} has shape {shape}; expected [n] or [n, 1] (one value per "
            "instance)."
        )
    count = shape[0]
    if max_elements is not None and count > max_elements:
        raise invalid(
            f"Input tensor {name!r} has shape {shape}: {count} elements, more than one request "
            f"may hold ({max_elements}, the server's --max-body-bytes)."
        )
    if kind == "DT_STRING":
        if tensor.tensor_content:
            raise invalid(f"Input tensor {name!r}: DT_STRING values go in string_val.")
        return count, tensors.utf8(_filled(list(tensor.string_val), count, name), name)
    datatype, field = _NUMERIC[kind]
    if tensor.tensor_content:
        return count, tensors.decode_raw(datatype, tensor.tensor_content, shape, name)
    typed = list(getattr(tensor, field))
    if kind == "DT_HALF":  # half_val holds the float16 bits in int32s
        array = np.array(typed, dtype=np.int32).astype(np.uint16).view(np.float16)
    else:
        array = np.array(typed, dtype=tensors.NUMPY_DTYPES[datatype])
    return count, np.asarray(_filled(array, count, name))


def _filled(values: Any, count: int, name: str) -> Any:
    """TensorFlow's rule for typed values: as many as elements, or fewer, the last one then
    repeated (a single value fills the tensor)."""
    given = len(values)
    if given == count:
        return values
    if given == 0:
        raise invalid(f"Input tensor {name!r} has no values for its {count} elements.")
    if given > count:
        raise invalid(f"Input tensor {name!r} has {given} values for {count} elements.")
    if isinstance(values, np.ndarray):
        return np.concatenate([values, np.repeat(values[-1:], count - given)])
    return values + [values[-1]] * (count - given)


def decode_predict(
    request: Any, loaded: LoadedVersion, max_elements: int | None = None
) -> tuple[Columns, Any]:
    """A PredictRequest → columns, (signature name, output pairs); each input's batch size at
    most ``max_elements`` (see :func:`tensor_values`)."""
    name, signature = signatures.find_signature(
        loaded, request.model_spec.signature_name or None, PREDICT_METHOD
    )
    pairs = signatures.output_pairs(signature)
    if request.output_filter:
        aliases = [alias for alias, _ in pairs]
        unknown = [key for key in request.output_filter if key not in aliases]
        if unknown:
            raise invalid(
                f"output_filter names {unknown}, which signature {name!r} does not have; its "
                f"outputs are {aliases}."
            )
        pairs = [pair for pair in pairs if pair[0] in set(request.output_filter)]
    if not request.inputs:
        raise invalid("The request has no inputs.")
    arrays: dict[str, Any] = {}
    count: int | None = None
    first = ""
    for key in sorted(request.inputs):
        dtype = loaded.schema.dtypes.get(key)
        if dtype is None:
            raise invalid(
                f"Unknown input tensor {key!r}; the model's inputs are {loaded.schema.names[:30]}."
            )
        batch, values = tensor_values(request.inputs[key], key, dtype, max_elements)
        if count is None:
            count, first = batch, key
        elif batch != count:
            raise invalid(
                f"Inputs {first!r} and {key!r} have different batch sizes ({count} and {batch})."
            )
        arrays[key] = values
    assert count is not None
    columns = loaded.schema.from_lists({}, count, what="input tensor", arrays=arrays)
    return columns, (name, pairs)


def example_list(request_input: Any, rpc: str) -> list[Any]:
    """The ``tensorflow.Example`` messages of an ``Input``, each with its context's features
    (see the module docstring)."""
    kind = request_input.WhichOneof("kind")
    if kind is None:
        raise invalid(f"{rpc}: the request's input is empty (no example_list).")
    if kind == "example_list":
        examples = list(request_input.example_list.examples)
    else:
        given = request_input.example_list_with_context
        context = given.context.SerializeToString()
        example = protos.message("tensorflow.Example")
        # TF Serving's own merge: the context's bytes, then the example's (whose map entries
        # are parsed last and so replace the context's of the same key).
        examples = [example.FromString(context + e.SerializeToString()) for e in given.examples]
    if not examples:
        raise invalid(f"{rpc}: the request's input holds no examples.")
    return examples


def decode_examples(request: Any, loaded: LoadedVersion, method: str, rpc: str) -> Any:
    """A ClassificationRequest / RegressionRequest → columns, (signature name, output keys)."""
    name, signature = signatures.find_signature(
        loaded, request.model_spec.signature_name or None, method
    )
    examples = example_list(request.input, rpc)
    declared = next(
        (
            d
            for d in loaded.predictor.serving_inputs
            if d.format == TF_EXAMPLE and name in d.signatures
        ),
        None,
    )
    if declared is not None:  # the receiver's parse spec
        instances = declared.decode(examples, label="Example")
    else:
        instances = [example_features(e, f"Example {i}") for i, e in enumerate(examples)]
    columns = loaded.schema.from_rows(instances, label="Example")
    return columns, (name, dict(signatures.output_pairs(signature)))


def render_classify(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    """A ClassificationResponse: each example's classes with their scores."""
    signature_name, names = extra
    response = _message("ClassificationResponse")()
    _spec(response.model_spec, loaded, signature_name)
    scores = signatures.values(loaded, outputs, names.get("scores", "probabilities"))
    labels = loaded.class_labels
    for row in scores:
        classified = response.result.classifications.add()
        for label, score in zip(labels, row, strict=False):
            classified.classes.add(label=str(label), score=float(score))
    return response


def render_regress(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    """A RegressionResponse: one value per example."""
    signature_name, names = extra
    response = _message("RegressionResponse")()
    _spec(response.model_spec, loaded, signature_name)
    values = np.asarray(outputs[names.get("outputs", "predictions")])
    for value in values.reshape(len(values), -1)[:, 0].tolist():
        response.result.regressions.add(value=float(value))
    return response


def _tensor(values: Any, strings: bool) -> Any:
    """An output as TF Serving writes it: [n, k], tensor_content or string_val."""
    proto = protos.message("tensorflow.TensorProto")()
    array = np.asarray(values, dtype=object if strings else None)
    matrix = array.reshape(len(array), -1)
    for size in matrix.shape:
        proto.tensor_shape.dim.add(size=size)
    if strings:
        proto.dtype = protos.enum_value("tensorflow.DataType", "DT_STRING")
        proto.string_val.extend(str(value).encode() for value in matrix.reshape(-1))
    elif matrix.dtype.kind in "iub":
        proto.dtype = protos.enum_value("tensorflow.DataType", "DT_INT64")
        proto.tensor_content = np.ascontiguousarray(matrix, dtype="<i8").tobytes()
    else:
        proto.dtype = protos.enum_value("tensorflow.DataType", "DT_FLOAT")
        proto.tensor_content = np.ascontiguousarray(matrix, dtype="<f4").tobytes()
    return proto


def render_predict(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    signature_name, pairs = extra
    response = _message("PredictResponse")()
    _spec(response.model_spec, loaded, signature_name)
    for alias, key in pairs:
        if key == signatures.CLASS_LABELS:
            response.outputs[alias].CopyFrom(
                _tensor(signatures.values(loaded, outputs, key), strings=True)
            )
            continue
        array = outputs[key]
        response.outputs[alias].CopyFrom(_tensor(array, strings=array.dtype.kind in "OUS"))
    return response


def _spec(spec: Any, loaded: LoadedVersion, signature_name: str = "") -> None:
    spec.name = loaded.model
    spec.version.value = loaded.number
    spec.signature_name = signature_name


def signature_def_map(loaded: LoadedVersion) -> Any:
    """The version's signatures as a ``tensorflow.serving.SignatureDefMap``."""
    found = _message("SignatureDefMap")()
    defs = metadata(loaded)["metadata"]["signature_def"]["signature_def"]
    for key, signature in defs.items():
        target = found.signature_def[key]
        target.method_name = signature["method_name"]
        for side in ("inputs", "outputs"):
            for alias, info in signature[side].items():
                entry = getattr(target, side)[alias]
                entry.name = info["name"]
                entry.dtype = protos.enum_value("tensorflow.DataType", info["dtype"])
                for dim in info["tensor_shape"]["dim"]:
                    entry.tensor_shape.dim.add(size=int(dim["size"]))
    return found


class GrpcTFServing:
    """The PredictionService and ModelService methods over one :class:`ServingContext`."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def prediction_methods(self) -> dict[str, tuple[Access, Method]]:
        return {
            "Predict": (Access.PREDICT, self.predict),
            "Classify": (Access.PREDICT, self.classify),
            "Regress": (Access.PREDICT, self.regress),
            "GetModelMetadata": (Access.READ, self.get_model_metadata),
        }

    def model_methods(self) -> dict[str, tuple[Access, Method]]:
        return {"GetModelStatus": (Access.READ, self.get_model_status)}

    async def _version(self, spec: Any) -> str | None:
        """The version a ModelSpec names (None: the default)."""
        choice = spec.WhichOneof("version_choice")
        if choice == "version":
            return str(spec.version.value)
        if choice == "version_label":
            return str(await self.ctx.manager.labelled(spec.name, spec.version_label))
        return None

    async def predict(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        version = await self._version(request.model_spec)

        limit = self.ctx.settings.max_body_bytes

        def decode(loaded: LoadedVersion) -> tuple[Columns, Any]:
            return decode_predict(request, loaded, limit)

        return await self.ctx.infer(
            PROTOCOL, request.model_spec.name, version, decode, render_predict
        )

    async def classify(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._examples(request, CLASSIFY_METHOD, "Classify", render_classify)

    async def regress(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._examples(request, REGRESS_METHOD, "Regress", render_regress)

    async def _examples(self, request: Any, method: str, rpc: str, render: Any) -> Any:
        """Classify and Regress on tf.Example inputs (see the module docstring)."""
        version = await self._version(request.model_spec)

        def decode(loaded: LoadedVersion) -> tuple[Columns, Any]:
            return decode_examples(request, loaded, method, rpc)

        return await self.ctx.infer(PROTOCOL, request.model_spec.name, version, decode, render)

    async def get_model_metadata(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        fields = list(request.metadata_field)
        if fields != ["signature_def"]:
            raise invalid(
                f"metadata_field must be ['signature_def'] (the only metadata served); got "
                f"{fields}."
            )
        spec = request.model_spec
        loaded = await self.ctx.manager.resolve(spec.name, await self._version(spec))
        response = _message("GetModelMetadataResponse")()
        _spec(response.model_spec, loaded)
        packed = response.metadata["signature_def"]
        packed.type_url = SIGNATURE_DEF_MAP_URL
        packed.value = signature_def_map(loaded).SerializeToString()
        return response

    async def get_model_status(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        spec = request.model_spec
        version = await self._version(spec)
        response = _message("GetModelStatusResponse")()
        statuses = await version_statuses(self.ctx, spec.name, version)
        state_type = "tensorflow.serving.ModelVersionStatus.State"
        for status in statuses:
            entry = response.model_version_status.add(
                version=int(status["version"]), state=protos.enum_value(state_type, status["state"])
            )
            entry.status.error_code = protos.enum_value(
                "tensorflow.error.Code", status["status"]["error_code"]
            )
            entry.status.error_message = status["status"]["error_message"]
            entry.status.SetInParent()
        return response


__all__ = [
    "PROTOCOL",
    "SIGNATURE_DEF_MAP_URL",
    "GrpcTFServing",
    "decode_examples",
    "decode_predict",
    "example_list",
    "render_classify",
    "render_predict",
    "render_regress",
    "signature_def_map",
    "tensor_values",
]
