"""TensorFlow Serving's REST API: ``/v1/models/{m}[/versions/{n}|/labels/{l}]`` status,
metadata, ``:predict`` (row ``instances`` or columnar ``inputs``), ``:classify`` and
``:regress``.

A path without a version serves the model's default version; ``{n}`` is a version number or
name, ``{l}`` one of the model's version labels (``stable``; set with ``mlengine versions
set-label`` or ``models.patch`` of ``versionLabels``). Status lists every version with TF's
states (AVAILABLE, LOADING, UNLOADING, END); a version that failed to load is END with the
reason; KServe v1's ``name`` and ``ready`` stand beside it. Answers have TF's shapes: row ⇒
``{"predictions": [...]}``, columnar ⇒ ``{"outputs": {...}}``, classify ⇒ ``{"results":
[[[label, score], ...], ...]}``, regress ⇒ ``{"results": [value, ...]}``.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from mlengine.export.format import CLASSIFY_METHOD, PREDICT_METHOD, REGRESS_METHOD
from mlengine.registry import ModelVersion, VersionState
from mlengine.serving import signatures
from mlengine.serving.batching import Outputs
from mlengine.serving.context import Decode, ServingContext
from mlengine.serving.errors import invalid, scrub
from mlengine.serving.http import json_response, json_type
from mlengine.serving.model_manager import LoadedVersion
from mlengine.serving.routes import Access, ApiRoute
from mlengine.serving.schema import Columns

PROTOCOL = "tfserving"
TF_DTYPES = {"float32": "DT_FLOAT", "int64": "DT_INT64", "string": "DT_STRING"}
_STATES = {
    VersionState.READY: "AVAILABLE",
    VersionState.CREATING: "LOADING",
    VersionState.DELETING: "UNLOADING",
    VersionState.FAILED: "END",
}


def _tensor_info(name: str, dtype: str, shape: list[int]) -> dict[str, Any]:
    return {
        "dtype": TF_DTYPES.get(dtype, "DT_INVALID"),
        "tensor_shape": {"dim": [{"size": str(size), "name": ""} for size in shape]},
        "name": name,
    }


def metadata(loaded: LoadedVersion) -> dict[str, Any]:
    """TF Serving's ``GetModelMetadata`` answer for a loaded version (a signature that also
    takes serialized tf.Examples or CSV lines lists that string input beside the features)."""
    named = {
        spec["name"]: _tensor_info(spec["name"], spec["dtype"], [-1, 1])
        for spec in loaded.predictor.inputs
    }
    specs = {spec["name"]: spec for spec in loaded.outputs}
    defs: dict[str, Any] = {}
    for key, signature in signatures.signature_defs(loaded).items():
        inputs = dict(named)
        for name in signatures.serialized_input_names(loaded, key):
            inputs[name] = _tensor_info(name, "string", [-1])
        outputs = {}
        for alias, output in signatures.output_pairs(signature):
            if output == signatures.CLASS_LABELS:
                info = _tensor_info(alias, "string", [-1, len(loaded.class_labels)])
            else:
                spec = specs.get(output, {"dtype": "float32", "shape": [-1]})
                info = _tensor_info(output, spec["dtype"], list(spec["shape"]))
            outputs[alias] = info
        defs[key] = {
            "inputs": inputs,
            "outputs": outputs,
            "method_name": signature.get("method_name", PREDICT_METHOD),
        }
    return {
        "model_spec": {"name": loaded.model, "signature_name": "", "version": str(loaded.number)},
        "metadata": {"signature_def": {"signature_def": defs}},
    }


def parse_predict(loaded: LoadedVersion, body: dict[str, Any]) -> tuple[Columns, Any]:
    """Row (``instances``) or columnar (``inputs``) request → columns, (format, pairs)."""
    pairs = signatures.predict_outputs(loaded, body.get("signature_name"))
    has_rows, has_columns = "instances" in body, "inputs" in body
    if has_rows and has_columns:
        raise invalid("Send either 'instances' (row format) or 'inputs' (columnar), not both.")
    name = body.get("signature_name")
    if has_rows:
        instances = signatures.named_instances(loaded, body["instances"], name)
        return loaded.schema.from_rows(instances), ("rows", pairs)
    if has_columns:
        records = _serialized_columns(loaded, body["inputs"], name)
        if records is not None:
            return loaded.schema.from_rows(records), ("columns", pairs)
        return loaded.schema.from_columns(body["inputs"]), ("columns", pairs)
    raise invalid("Missing 'instances' (row format) or 'inputs' (columnar format) in the request.")


def _serialized_columns(loaded: LoadedVersion, inputs: Any, signature_name: Any) -> Any:
    """Columnar ``inputs`` holding one serialized input (``{"examples": [{"b64": ...}]}``, or
    the bare list) as named-feature instances; None for named feature columns."""
    name = signature_name if isinstance(signature_name, str) and signature_name else None
    serialized = signatures.serialized_input_names(loaded, name or "serving_default")
    if not serialized:
        return None
    records = inputs
    if isinstance(inputs, dict) and len(inputs) == 1 and next(iter(inputs)) in serialized:
        records = next(iter(inputs.values()))
    if not isinstance(records, list):
        return None
    decoded = signatures.named_instances(loaded, records, name)
    return None if decoded is records else decoded


def decode_predict(loaded: LoadedVersion, raw: bytes) -> tuple[Columns, Any] | None:
    """:func:`parse_predict` of the usual row-format body, from its bytes (None: any other
    body)."""
    decoded = loaded.schema.decode_rows(raw)
    if decoded is None:
        return None
    columns, signature_name = decoded
    return columns, ("rows", signatures.predict_outputs(loaded, signature_name))


def render_predict(loaded: LoadedVersion, outputs: Outputs, extra: Any) -> Any:
    form, pairs = extra
    if form == "rows":
        return {"predictions": signatures.rows(loaded, outputs, pairs)}
    columns = {name: signatures.values(loaded, outputs, key) for name, key in pairs}
    if len(columns) == 1:
        return {"outputs": next(iter(columns.values()))}
    return {"outputs": columns}


def _examples(body: dict[str, Any]) -> list[dict[str, Any]]:
    """``examples`` with ``context`` merged into each (a feature may not be in both)."""
    examples = body.get("examples")
    if not isinstance(examples, list):
        raise invalid(f"'examples' must be a list of objects; got {json_type(examples)}.")
    context = body.get("context")
    if context is None:
        return examples
    if not isinstance(context, dict):
        raise invalid(f"'context' must be an object; got {json_type(context)}.")
    merged = []
    for index, example in enumerate(examples):
        if not isinstance(example, dict):
            raise invalid(f"Example {index} must be an object; got {json_type(example)}.")
        repeated = sorted(set(example) & set(context))
        if repeated:
            raise invalid(f"Example {index} repeats context feature(s) {repeated[:5]}.")
        merged.append({**context, **example})
    return merged


def _parse_examples(method: str) -> Any:
    def parse(loaded: LoadedVersion, body: dict[str, Any]) -> tuple[Columns, Any]:
        name, signature = signatures.find_signature(loaded, body.get("signature_name"), method)
        examples = body.get("examples")
        # Serialized tf.Examples ({"b64": ...}) where the export declares them; else JSON.
        decoded = signatures.named_instances(loaded, examples, name)
        if decoded is not examples:
            examples = decoded
            if body.get("context") is not None:
                raise invalid("'context' goes with JSON examples, not serialized ones.")
        else:
            examples = _examples(body)
        columns = loaded.schema.from_rows(examples, label="Example")
        return columns, dict(signatures.output_pairs(signature))

    return parse


def render_classify(loaded: LoadedVersion, outputs: Outputs, names: Any) -> Any:
    scores = signatures.values(loaded, outputs, names.get("scores", "probabilities"))
    labels = loaded.class_labels
    return {"results": [[list(pair) for pair in zip(labels, row, strict=False)] for row in scores]}


def render_regress(loaded: LoadedVersion, outputs: Outputs, names: Any) -> Any:
    values = outputs[names.get("outputs", "predictions")]
    return {"results": values.reshape(len(values), -1)[:, 0].tolist()}


def _status(version: ModelVersion, failure: str | None) -> dict[str, Any]:
    state = _STATES.get(version.state, "UNKNOWN")
    code, message = "OK", ""
    if version.state == VersionState.FAILED:
        # Stored scrubbed; scrubbed again for rows stored before the registry did it.
        code, message = "UNKNOWN", scrub(version.error_message or "creation failed")
    elif failure is not None:
        state, code, message = "END", "UNAVAILABLE", failure
    return {
        "version": str(version.number),
        "state": state,
        "status": {"error_code": code, "error_message": message},
    }


async def version_statuses(
    ctx: ServingContext, model: str, version: str | None
) -> list[dict[str, Any]]:
    """TF Serving's status of one version, or of every version of the model (REST and gRPC
    ``GetModelStatus``)."""
    manager, registry = ctx.manager, ctx.registry
    if version is None:
        found = await manager.call(registry.list_versions, model)
    else:
        found = [await manager.call(registry.get_version, model, version)]
    return [_status(v, manager.failure(model, v.number)) for v in found]


class TFServing:
    """The TF Serving REST routes over one :class:`ServingContext`."""

    def __init__(self, ctx: ServingContext) -> None:
        self.ctx = ctx

    def routes(self) -> list[ApiRoute]:
        routes = [ApiRoute("GET", "/v1/models", self.list_models, Access.READ)]
        for base in (
            "/v1/models/{model:name}",
            "/v1/models/{model:name}/versions/{version:version}",
            "/v1/models/{model:name}/labels/{label:label}",
        ):
            routes += [
                ApiRoute("GET", base, self.status, Access.READ),
                ApiRoute("GET", base + "/metadata", self.metadata, Access.READ),
                ApiRoute("POST", base + ":predict", self.predict, Access.PREDICT),
                ApiRoute("POST", base + ":classify", self.classify, Access.PREDICT),
                ApiRoute("POST", base + ":regress", self.regress, Access.PREDICT),
            ]
        return routes

    async def status(self, request: Request) -> Response:
        """TF Serving's status, with KServe v1's ``name`` and ``ready`` beside it (ready: the
        version addressed, or the model's default, can serve), so both clients read it."""
        model, version = request.path_params["model"], await self._version(request)
        manager, registry = self.ctx.manager, self.ctx.registry
        statuses = await version_statuses(self.ctx, model, version)
        if version is None:
            serving = (await manager.call(registry.get_model, model)).default_version
        else:
            serving = await manager.call(registry.get_version, model, version)
        ready = (
            serving is not None
            and serving.state == VersionState.READY
            and manager.failure(model, serving.number) is None
        )
        return json_response({"name": model, "ready": ready, "model_version_status": statuses})

    async def list_models(self, request: Request) -> Response:
        """KServe v1's model list: ``{"models": [name, ...]}``."""
        found = await self.ctx.manager.call(self.ctx.registry.list_models)
        return json_response({"models": [model.name for model in found]})

    async def metadata(self, request: Request) -> Response:
        version = await self._version(request)
        loaded = await self.ctx.manager.resolve(request.path_params["model"], version)
        return json_response(metadata(loaded))

    async def _version(self, request: Request) -> str | None:
        """The version a path names: its number or name, the one its label points at, or
        None (the default)."""
        params = request.path_params
        label = params.get("label")
        if label is None:
            version: str | None = params.get("version")
            return version
        return str(await self.ctx.manager.labelled(params["model"], label))

    async def predict(self, request: Request) -> Response:
        return await self._run(request, parse_predict, render_predict, decode_predict)

    async def classify(self, request: Request) -> Response:
        return await self._run(request, _parse_examples(CLASSIFY_METHOD), render_classify)

    async def regress(self, request: Request) -> Response:
        return await self._run(request, _parse_examples(REGRESS_METHOD), render_regress)

    async def _run(
        self, request: Request, parse: Any, render: Any, decode: Decode | None = None
    ) -> Response:
        version = await self._version(request)
        return await self.ctx.predict(
            PROTOCOL, request, request.path_params["model"], version, parse, render, decode
        )


__all__ = [
    "PROTOCOL",
    "TF_DTYPES",
    "TFServing",
    "decode_predict",
    "metadata",
    "parse_predict",
    "render_predict",
    "version_statuses",
]
