"""``mlengine predict``: predictions for JSON or text instances, printed as gcloud prints them.

The model comes from an export directory (``--export-dir``) or from the registry
(``--model`` and optionally ``--version``; the default version otherwise).
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from typing import Annotated, Any

import typer

from mlengine.cli.instances import read_json_instances, read_text_instances
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
        typer.Option("--text-instances", help="File of CSV lines in the signature's input order."),
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
        raise fail(
            COMMAND,
            "--endpoint is not supported yet: predict locally with --model or --export-dir.",
        )
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
            instances = read_text_instances(text_instances, predictor.input_names)
        source = json_instances if json_instances is not None else text_instances
        try:
            predictions = predictor.predict_instances(instances)
        except FeatureError as error:
            raise FeatureError(_with_line_number(str(error), source)) from None
    if fmt is OutputFormat.JSON:
        typer.echo(json.dumps({"predictions": predictions}, indent=2))
    else:
        typer.echo(format_table(predictions))
