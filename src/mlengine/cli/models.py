"""``mlengine models create|list|describe|delete``: gcloud ml-engine's model commands."""

from __future__ import annotations

from typing import Annotated

import typer

from mlengine.cli.output import (
    DescriptionOption,
    FormatOption,
    LabelsOption,
    open_registry,
    parse_labels,
    show_models,
    show_resource,
    status,
)

app = typer.Typer(help="Create, list, describe and delete models.", no_args_is_help=True)

ModelName = Annotated[str, typer.Argument(help="The model's name.", show_default=False)]


@app.command("create")
def create(
    name: ModelName,
    description: DescriptionOption = None,
    labels: LabelsOption = None,
    fmt: FormatOption = None,
) -> None:
    """Create a model (then add versions with `mlengine versions create`)."""
    parsed = parse_labels(labels)
    with open_registry("mlengine.models.create") as registry:
        model = registry.create_model(name, description=description, labels=parsed)
    status(f"Created model [{model.name}].")
    if fmt is not None:
        show_resource(model, fmt)


@app.command("list")
def list_(fmt: FormatOption = None) -> None:
    """List the models and their default versions."""
    with open_registry("mlengine.models.list") as registry:
        models = registry.list_models()
    show_models(models, fmt)


@app.command("describe")
def describe(name: ModelName, fmt: FormatOption = None) -> None:
    """Show a model, with its default version."""
    with open_registry("mlengine.models.describe") as registry:
        model = registry.get_model(name)
    show_resource(model, fmt)


@app.command("delete")
def delete(name: ModelName) -> None:
    """Delete a model that has no versions left."""
    with open_registry("mlengine.models.delete") as registry:
        registry.delete_model(name)
    status(f"Deleted model [{name}].")
