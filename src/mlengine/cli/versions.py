"""``mlengine versions create|list|describe|set-default|delete``: gcloud's version commands."""

from __future__ import annotations

from typing import Annotated

import typer

from mlengine.cli.output import (
    DescriptionOption,
    FormatOption,
    LabelsOption,
    open_registry,
    parse_labels,
    show_resource,
    show_versions,
    status,
)

app = typer.Typer(
    help="Create, list, describe, set the default of, and delete model versions.",
    no_args_is_help=True,
)

VersionName = Annotated[
    str, typer.Argument(help="The version's name (or, except for create, its number).")
]
ModelOption = Annotated[
    str, typer.Option("--model", help="The model the version belongs to.", show_default=False)
]


@app.command("create")
def create(
    name: VersionName,
    model: ModelOption,
    origin: Annotated[
        str,
        typer.Option(
            "--origin",
            help="The export directory: a local path or an fsspec URL (s3://, gs://, ...).",
            show_default=False,
        ),
    ],
    description: DescriptionOption = None,
    labels: LabelsOption = None,
    fmt: FormatOption = None,
) -> None:
    """Copy an export into the registry as a new version, and check that it loads."""
    parsed = parse_labels(labels)
    with open_registry("mlengine.versions.create") as registry:
        status("Creating version (this might take a few minutes)...")
        version = registry.create_version(
            model, name, origin, description=description, labels=parsed
        )
    status(f"Created version [{version.name}] (number {version.number}) of model [{model}].")
    if version.is_default:
        status("It is the model's default version.")
    if fmt is not None:
        show_resource(version, fmt)


@app.command("list")
def list_(model: ModelOption, fmt: FormatOption = None) -> None:
    """List a model's versions, with their state and creation and last-use times."""
    with open_registry("mlengine.versions.list") as registry:
        versions = registry.list_versions(model)
    show_versions(versions, fmt)


@app.command("describe")
def describe(name: VersionName, model: ModelOption, fmt: FormatOption = None) -> None:
    """Show a version: origin, state, times, signature and evaluation metrics."""
    with open_registry("mlengine.versions.describe") as registry:
        version = registry.get_version(model, name)
    show_resource(version, fmt)


@app.command("set-default")
def set_default(name: VersionName, model: ModelOption, fmt: FormatOption = None) -> None:
    """Make a READY version the one that serves requests naming only the model."""
    with open_registry("mlengine.versions.set-default") as registry:
        version = registry.set_default_version(model, name)
    show_resource(version, fmt)


@app.command("delete")
def delete(name: VersionName, model: ModelOption) -> None:
    """Delete a version and its files (the default version only when it is the last one)."""
    with open_registry("mlengine.versions.delete") as registry:
        registry.delete_version(model, name)
    status(f"Deleted version [{name}] of model [{model}].")
