"""``mlengine predict``: predictions for instances in a file, printed as gcloud prints them.

The model comes from the registry (``--model`` and optionally ``--version``; the default
version otherwise) or from an export directory (``--export-dir``; ``mlengine local predict
--model-dir`` is gcloud's spelling). With ``--endpoint URL`` the instances go to an ``mlengine
serve`` server's ML Engine ``:predict`` instead, and the answer prints the same way. The
outputs are those of the signature ``--signature-name`` names (``serving_default`` unless the
request body says otherwise), chosen by the server's own signature code.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mlengine.cli.gcloud import invocation
from mlengine.cli.instances import (
    InstanceFile,
    Instances,
    csv_order,
    instance_file,
    read_instances,
)
from mlengine.cli.output import fail, handle_errors, show
from mlengine.cli.projection import Column, Format
from mlengine.errors import DataError, FeatureError, MLEngineError

if TYPE_CHECKING:  # loading an export needs numpy and pyarrow: imported when it happens
    from mlengine.export import Predictor

COMMAND = "mlengine.predict"

JsonInstancesOption = Annotated[
    str | None,
    typer.Option("--json-instances", help="File of JSON instances, one per line (- = stdin)."),
]
JsonRequestOption = Annotated[
    str | None,
    typer.Option(
        "--json-request", help='File holding one request body {"instances": [...]} (- = stdin).'
    ),
]
TextInstancesOption = Annotated[
    str | None,
    typer.Option(
        "--text-instances",
        help="File of CSV lines, one instance each: in the field order of the export's CSV "
        "input (as gcloud sends them), or after a header line naming the columns (- = stdin).",
    ),
]
SignatureOption = Annotated[
    str | None,
    typer.Option(
        "--signature-name",
        help="The export's signature whose outputs to print (serving_default, predict, ...).",
    ),
]


def _with_line_number(message: str, path: str, read: Instances) -> str:
    """Name the file (and line) of "Instance N: ..." messages."""
    match = re.match(r"Instance (\d+): ", message)
    if match is None:
        return message
    line = read.line(int(match.group(1)))
    return f"{path}: line {line}: {message}" if line is not None else f"{path}: {message}"


def predict_with(predictor: Predictor, file: InstanceFile, signature_name: str | None) -> list[Any]:
    """Predict the file's instances with a loaded export; outputs of the named signature."""
    import msgspec

    from mlengine.serving import signatures
    from mlengine.serving.model_manager import LoadedVersion
    from mlengine.serving.schema import InputSchema

    declared = [d.to_json() for d in predictor.serving_inputs]
    order = csv_order(declared, signature_name)
    read = read_instances(file, predictor.input_names, predictor.required, order)
    loaded = LoadedVersion(
        model="", name="", number=0, predictor=predictor, schema=InputSchema(predictor.inputs)
    )
    chosen = signature_name or read.signature_name
    pairs = signatures.predict_outputs(loaded, chosen)
    try:
        outputs = predictor.predict(read.items, chosen)
    except FeatureError as error:
        raise FeatureError(_with_line_number(str(error), file.path, read)) from None
    rows: list[Any] = msgspec.to_builtins(signatures.rows(loaded, outputs, pairs))
    return rows


def predict_export(export_dir: str, file: InstanceFile, signature_name: str | None) -> list[Any]:
    """Predict with the export in ``export_dir`` (no registry)."""
    from mlengine.export import load

    return predict_with(load(export_dir), file, signature_name)


def show_predictions(predictions: list[Any]) -> None:
    """gcloud's table (one column per output, sorted, upper-cased), or ``{"predictions":
    [...]}`` in the ``--format`` given."""
    if invocation().format is not None:
        show({"predictions": predictions}, "json", single=True)
    elif predictions and isinstance(predictions[0], dict):
        columns = tuple(Column((key,)) for key in sorted(predictions[0]))
        show(predictions, Format("table", {}, columns))
    else:
        rows = [{"prediction": value} for value in predictions]
        show(rows, Format("table", {"no-heading": True}, (Column(("prediction",)),)))


def predict(
    model: Annotated[str | None, typer.Option("--model", help="Registered model name.")] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Version name or number (default version).")
    ] = None,
    export_dir: Annotated[
        str | None, typer.Option("--export-dir", help="An export directory to predict with.")
    ] = None,
    json_instances: JsonInstancesOption = None,
    json_request: JsonRequestOption = None,
    text_instances: TextInstancesOption = None,
    signature_name: SignatureOption = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="URL of an `mlengine serve` server.")
    ] = None,
) -> None:
    """Predict from instances in a file and print a table (or --format json, yaml, ...)."""
    with handle_errors(COMMAND):
        file = instance_file(json_instances, json_request, text_instances)
    if (model is None) == (export_dir is None):
        raise fail(COMMAND, "give exactly one of --model and --export-dir.")
    if version is not None and model is None:
        raise fail(COMMAND, "--version needs --model.")
    if endpoint is not None and model is None:
        raise fail(
            COMMAND,
            "--endpoint takes --model M [--version V]: a server predicts with registered "
            "models, not with an export directory.",
        )
    with handle_errors(COMMAND):
        if endpoint is not None:
            assert model is not None
            predictions = _predict_remote(endpoint, model, version, file, signature_name)
        elif export_dir is not None:
            predictions = predict_export(export_dir, file, signature_name)
        else:
            assert model is not None
            predictions = _predict_registered(model, version, file, signature_name)
    show_predictions(predictions)


def _predict_registered(
    model: str, version: str | None, file: InstanceFile, signature_name: str | None
) -> list[Any]:
    from mlengine.export import load
    from mlengine.registry import Registry

    with Registry() as registry:
        predictor = load(registry.export_dir(model, version))
        chosen = version if version is not None else registry.get_default_version(model).name
        predictions = predict_with(predictor, file, signature_name)
        registry.touch(model, chosen)
    return predictions


def _predict_remote(
    endpoint: str,
    model: str,
    version: str | None,
    file: InstanceFile,
    signature_name: str | None,
) -> list[Any]:
    """POST the instances to a server's ML Engine ``:predict`` and return its predictions.

    ``MLENGINE_API_TOKEN``, when set, is sent as the bearer token. Text instances need the
    signature's inputs and the export's CSV order (if it declares one), which are read from the
    server first.
    """
    import os

    import httpx

    base = endpoint.rstrip("/")
    if "://" not in base:
        base = f"http://{base}"
    resource = f"{base}/v1/projects/local/models/{model}"
    if version is not None:
        resource += f"/versions/{version}"
    token = os.environ.get("MLENGINE_API_TOKEN")
    headers = {"Authorization": f"Bearer {token}"} if token else {}

    def call(client: httpx.Client, method: str, url: str, **kwargs: Any) -> Any:
        try:
            response = client.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as error:
            raise MLEngineError(f"Cannot reach the server at {endpoint}: {error}") from None
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.status_code != 200:
            message = body.get("error") if isinstance(body, dict) else None
            if isinstance(message, dict):
                message = message.get("message")
            raise MLEngineError(
                f"The server answered {response.status_code}: "
                f"{message or response.text[:200] or response.reason_phrase}"
            )
        return body

    with httpx.Client(timeout=60.0) as client:
        inputs: list[dict[str, Any]] = []
        order: list[str] | None = None
        if file.flag == "--text-instances":
            described = call(client, "GET", resource)
            if version is None:
                described = (described or {}).get("defaultVersion") or {}
            signature = (described or {}).get("signature") or {}
            inputs = signature.get("inputs") or []
            order = csv_order(signature.get("serving_inputs") or [], signature_name)
        names = [spec["name"] for spec in inputs]
        required = [spec["name"] for spec in inputs if spec.get("required")]
        read = read_instances(file, names, required, order)
        body: dict[str, Any] = {"instances": read.items}
        if signature_name or read.signature_name:
            body["signature_name"] = signature_name or read.signature_name
        try:
            answer = call(client, "POST", f"{resource}:predict", json=body)
        except MLEngineError as error:
            message = _after_status(str(error))
            raise DataError(_with_line_number(message, file.path, read)) from None
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list):
        raise MLEngineError(f"The server's answer has no predictions: {str(answer)[:200]}")
    return predictions


def _after_status(message: str) -> str:
    """ "The server answered 400: Instance 1: ..." → "Instance 1: ..." (for line numbers)."""
    match = re.match(r"The server answered 400: (Instance \d+: .*)", message)
    return match.group(1) if match else message
