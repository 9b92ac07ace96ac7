"""How the ``mlengine`` commands print: gcloud-like tables and YAML, or ``--format json``.

Resources print with ML Engine's camelCase fields (``defaultVersion``, ``createTime``,
``lastUseTime``, ``isDefault``), as gcloud prints them, so a script can switch between the CLI
and the REST API. Errors print as one line on standard error, ``ERROR: (mlengine.models.create)
...``, with exit code 1 and no traceback; usage errors exit with 2 (click's rule).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from mlengine.errors import MLEngineError
from mlengine.registry import Model, ModelVersion, Registry


class OutputFormat(enum.StrEnum):
    """``--format`` values: ``table`` (aligned columns), ``yaml`` (gcloud's describe), ``json``."""

    TABLE = "table"
    YAML = "yaml"
    JSON = "json"


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option("--format", help="Output format: table, yaml or json (camelCase fields)."),
]


def _one_line(text: str) -> str:
    return " ".join(text.split())


def fail(command: str, message: str) -> typer.Exit:
    """Print ``ERROR: (command) message`` on standard error; returns the Exit to raise."""
    typer.echo(f"ERROR: ({command}) {_one_line(message)}", err=True)
    return typer.Exit(code=1)


@contextmanager
def handle_errors(command: str) -> Iterator[None]:
    """Turn mlengine and OS errors into a one-line message and exit code 1."""
    try:
        yield
    except MLEngineError as error:
        raise fail(command, str(error)) from None
    except OSError as error:
        raise fail(command, f"{type(error).__name__}: {error}") from None


@contextmanager
def open_registry(command: str) -> Iterator[Registry]:
    """The registry named by the environment (``MLENGINE_HOME``, ``MLENGINE_DATABASE_URL``,
    ``MLENGINE_ARTIFACT_ROOT``), with errors handled as :func:`handle_errors` does."""
    with handle_errors(command):
        registry = Registry()
        try:
            yield registry
        finally:
            registry.close()


def status(message: str) -> None:
    """A progress or confirmation line, on standard error as gcloud prints it."""
    typer.echo(message, err=True)


def print_json(data: Any) -> None:
    """Indented JSON on standard output."""
    typer.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _yaml_scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    if isinstance(value, int | float):
        return repr(value)
    text = str(value)
    plain = text and text.strip() == text and not any(c in text for c in ":#{}[],&*!|>'\"%@`")
    return (
        text
        if plain and text.lower() not in ("true", "false", "null", "yes", "no")
        else (json.dumps(text, ensure_ascii=False))
    )


def _yaml_lines(data: Any, indent: int) -> Iterator[str]:
    pad = "  " * indent
    if isinstance(data, Mapping):
        for key, value in data.items():
            if isinstance(value, list) and not any(isinstance(v, Mapping | list) for v in value):
                yield f"{pad}{key}: [{', '.join(_yaml_scalar(v) for v in value)}]"
            elif isinstance(value, Mapping | list) and value:
                yield f"{pad}{key}:"
                yield from _yaml_lines(value, indent + 1)
            else:
                empty = "{}" if isinstance(value, Mapping) else "[]"
                shown = empty if isinstance(value, Mapping | list) else _yaml_scalar(value)
                yield f"{pad}{key}: {shown}"
    elif isinstance(data, list):
        for item in data:
            if isinstance(item, Mapping | list) and item:
                inner = list(_yaml_lines(item, indent + 1))
                yield f"{pad}- {inner[0].lstrip()}"
                yield from inner[1:]
            else:
                yield f"{pad}- {_yaml_scalar(item)}"
    else:
        yield f"{pad}{_yaml_scalar(data)}"


def print_yaml(data: Any) -> None:
    """A YAML rendering (block style), as gcloud's ``describe`` prints resources."""
    typer.echo("\n".join(_yaml_lines(data, 0)))


def print_table(columns: Sequence[str], rows: Sequence[Sequence[str]]) -> None:
    """Upper-case headers and left-aligned columns two spaces apart, as gcloud's tables."""
    if not rows:
        status("Listed 0 items.")
        return
    widths = [max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)]
    for line in [columns, *rows]:
        cells = [cell.ljust(width) for cell, width in zip(line, widths, strict=True)]
        typer.echo("  ".join(cells).rstrip())


def _time(value: Any) -> str:
    """A table cell for a time: to the second, in UTC."""
    return "-" if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


MODEL_COLUMNS = ("NAME", "DEFAULT_VERSION_NAME", "CREATE_TIME")
VERSION_COLUMNS = (
    "NAME",
    "NUMBER",
    "STATE",
    "DEFAULT",
    "CREATE_TIME",
    "LAST_USE_TIME",
    "DEPLOYMENT_URI",
)


def model_row(model: Model) -> list[str]:
    default = model.default_version
    return [model.name, "-" if default is None else default.name, _time(model.create_time)]


def version_row(version: ModelVersion) -> list[str]:
    return [
        version.name,
        str(version.number),
        version.state.value,
        "yes" if version.is_default else "",
        _time(version.create_time),
        _time(version.last_use_time),
        version.origin,
    ]


def show_models(models: Sequence[Model], fmt: OutputFormat | None) -> None:
    """Print models: a table unless ``--format`` says otherwise."""
    if fmt is OutputFormat.JSON:
        print_json([model.to_json() for model in models])
    elif fmt is OutputFormat.YAML:
        print_yaml([model.to_json() for model in models])
    else:
        print_table(MODEL_COLUMNS, [model_row(model) for model in models])


def show_versions(versions: Sequence[ModelVersion], fmt: OutputFormat | None) -> None:
    """Print versions: a table unless ``--format`` says otherwise."""
    if fmt is OutputFormat.JSON:
        print_json([version.to_json() for version in versions])
    elif fmt is OutputFormat.YAML:
        print_yaml([version.to_json() for version in versions])
    else:
        print_table(VERSION_COLUMNS, [version_row(version) for version in versions])


def show_resource(resource: Model | ModelVersion, fmt: OutputFormat | None) -> None:
    """Print one resource: YAML unless ``--format`` says otherwise (as gcloud's describe)."""
    if fmt is OutputFormat.JSON:
        print_json(resource.to_json())
    elif fmt is OutputFormat.TABLE:
        if isinstance(resource, Model):
            print_table(MODEL_COLUMNS, [model_row(resource)])
        else:
            print_table(VERSION_COLUMNS, [version_row(resource)])
    else:
        print_yaml(resource.to_json())


def parse_labels(values: Sequence[str] | None) -> dict[str, str]:
    """``--labels k=v,k2=v2`` (repeatable) as a mapping; the registry checks the rule.

    Raises:
        typer.BadParameter: an item without ``=``.
    """
    labels: dict[str, str] = {}
    for value in values or ():
        for item in value.split(","):
            if not item.strip():
                continue
            key, sep, text = item.partition("=")
            if not sep:
                raise typer.BadParameter(f"expected KEY=VALUE, got {item!r}", param_hint="--labels")
            labels[key.strip()] = text.strip()
    return labels


LabelsOption = Annotated[
    list[str] | None,
    typer.Option("--labels", help="Labels as KEY=VALUE[,KEY=VALUE...] (repeatable)."),
]
DescriptionOption = Annotated[str | None, typer.Option("--description", help="Free text.")]


__all__ = [
    "DescriptionOption",
    "FormatOption",
    "LabelsOption",
    "OutputFormat",
    "fail",
    "handle_errors",
    "open_registry",
    "parse_labels",
    "print_json",
    "print_table",
    "print_yaml",
    "show_models",
    "show_resource",
    "show_versions",
    "status",
]
