"""``mlengine predict``: predictions for JSON or text instances, printed as gcloud prints them.

The model comes from an export directory (``--export-dir``) or from the registry
(``--model`` and optionally ``--version``; the default version otherwise). With ``--endpoint
URL`` the instances go to an ``mlengine serve`` server's ML Engine ``:predict`` instead, and the
answer prints the same way.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from mlengine.cli.instances import read_json_instances, read_text_instances, read_text_lines
from mlengine.cli.output import FormatOption, OutputFormat, fail, handle_errors
from mlengine.errors import FeatureError

COMMAND = "mlengine.predict"


def _cell(value: Any) -> str:
    """A table cell: lists as Python-style lists, numbers with full precision."""
    return str(value)


def format_table(predictions: Sequence[dict[str, Any]]) -> str:
    """gcloud's table: one column per key, sorted and upper-cased, one row per instance."""
    keys = sorted(predictions[0])
    header = [key.upper() for key in keys]
    rows = [[_cell(p.get(key)) for key in keys] for p in predictions]
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(header)]
    lines = [header, *rows]
    return "\n".join(
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    )


def _with_line_number(message: str, source: str | None) -> str:
    """Name the file line of "Instance N" (instance N is on line N + 1: one per line)."""
    match = re.match(r"Instance (\d+): ", message)
    if match is None or source is None:
        return message
    return f"{source}: line {int(match.group(1)) + 1}: {message}"


def predict(
    model: Annotated[str | None, typer.Option("--model", help="Registered model name.")] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Version name or number (default version).")
    ] = None,
    export_dir: Annotated[
        str | None, typer.Option("--export-dir", help="An export directory to predict with.")
    ] = None,
    json_instances: Annotated[
        str | None,
        typer.Option("--json-instances", help="File of JSON instances, one per line (- = stdin)."),
    ] = None,
    text_instances: Annotated[
        str | None,
        typer.Option(
            "--text-instances",
            help="File of CSV lines: in the CSV input's field order when the export declares "
            "one, else in the signature's input order.",
        ),
    ] = None,
    endpoint: Annotated[
        str | None, typer.Option("--endpoint", help="URL of an `mlengine serve` server.")
    ] = None,
    fmt: FormatOption = None,
) -> None:
    """Predict from instances in a file and print a table (or JSON with --format json)."""
    if (json_instances is None) == (text_instances is None):
        raise fail(COMMAND, "give exactly one of --json-instances and --text-instances.")
    if (model is None) == (export_dir is None):
        raise fail(COMMAND, "give exactly one of --model and --export-dir.")
    if version is not None and model is None:
        raise fail(COMMAND, "--version needs --model.")
    if endpoint is not None:
        if model is None:
            raise fail(
                COMMAND,
                "--endpoint takes --model M [--version V]: a server predicts with registered "
                "models, not with an export directory.",
            )
        with handle_errors(COMMAND):
            predictions = _predict_remote(endpoint, model, version, json_instances, text_instances)
        _show(predictions, fmt)
        return
    with handle_errors(COMMAND):
        from mlengine.export import load

        if export_dir is not None:
            predictor = load(export_dir)
        else:
            assert model is not None
            from mlengine.registry import Registry

            with Registry() as registry:
                predictor = load(registry.export_dir(model, version))
                chosen = (
                    version if version is not None else registry.get_default_version(model).name
                )
                registry.touch(model, chosen)
        if json_instances is not None:
            instances = read_json_instances(json_instances)
        else:
            assert text_instances is not None
            if any(declared.format == "csv" for declared in predictor.serving_inputs):
                instances = read_text_lines(text_instances)  # the export's CSV input decodes
            else:
                instances = read_text_instances(text_instances, predictor.input_names)
        source = json_instances if json_instances is not None else text_instances
        try:
            predictions = predictor.predict_instances(instances)
        except FeatureError as error:
            raise FeatureError(_with_line_number(str(error), source)) from None
    _show(predictions, fmt)


def _show(predictions: list[Any], fmt: OutputFormat | None) -> None:
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps({"predictions": predictions}, indent=2))
    elif predictions and not isinstance(predictions[0], dict):
        typer.echo("\n".join(str(p) for p in predictions))
    else:
        typer.echo(format_table(predictions))


def _predict_remote(
    endpoint: str,
    model: str,
    version: str | None,
    json_instances: str | None,
    text_instances: str | None,
) -> list[Any]:
    """POST the instances to a server's ML Engine ``:predict`` and return its predictions.

    ``MLENGINE_API_TOKEN``, when set, is sent as the bearer token. Text instances follow the
    signature's input order, which is read from the server first.
    """
    import os

    import httpx

    from mlengine.errors import DataError, MLEngineError

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
            raise MLEngineError(
                f"The server answered {response.status_code}: "
                f"{message or response.text[:200] or response.reason_phrase}"
            )
        return body

    with httpx.Client(timeout=60.0) as client:
        if json_instances is not None:
            instances = read_json_instances(json_instances)
        else:
            assert text_instances is not None
            described = call(client, "GET", resource)
            if version is None:
                described = (described or {}).get("defaultVersion") or {}
            signature = (described or {}).get("signature") or {}
            declared = signature.get("serving_inputs") or []
            if any(isinstance(d, dict) and d.get("format") == "csv" for d in declared):
                instances = read_text_lines(text_instances)  # the server decodes them
            else:
                names = [spec["name"] for spec in signature.get("inputs") or []]
                instances = read_text_instances(text_instances, names)
        source = json_instances if json_instances is not None else text_instances
        try:
            answer = call(client, "POST", f"{resource}:predict", json={"instances": instances})
        except MLEngineError as error:
            raise DataError(_with_line_number(_after_status(str(error)), source)) from None
    predictions = answer.get("predictions") if isinstance(answer, dict) else None
    if not isinstance(predictions, list):
        raise MLEngineError(f"The server's answer has no predictions: {str(answer)[:200]}")
    return predictions


def _after_status(message: str) -> str:
    """ "The server answered 400: Instance 1: ..." → "Instance 1: ..." (for line numbers)."""
    match = re.match(r"The server answered 400: (Instance \d+: .*)", message)
    return match.group(1) if match else message
