"""``mlengine models create|list|describe|update|delete``: gcloud ml-engine's model commands."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlengine.cli.metadata import (
    ClearLabelsOption,
    DescriptionOption,
    LabelsOption,
    RemoveLabelsOption,
    UpdateLabelsOption,
    parse_labels,
    updated_labels,
)
from mlengine.cli.output import confirm, open_registry, show, show_if_asked, status
from mlengine.registry import OperationType

app = typer.Typer(help="Create, list, describe, update and delete models.", no_args_is_help=True)

ModelName = Annotated[str, typer.Argument(help="The model's name.", show_default=False)]

# gcloud's `models list` table, with the creation time mlengine adds.
LIST_FORMAT = (
    'table(name.basename(), defaultVersion.name.basename().yesno(no="-"), '
    'createTime.date("%Y-%m-%dT%H:%M:%SZ"))'
)


def model_uri(resource: Any) -> str:
    """``projects/local/models/NAME``: the model's resource name in the REST API."""
    return f"projects/local/models/{resource['name']}"


@app.command("create")
def create(
    name: ModelName,
    description: DescriptionOption = None,
    labels: LabelsOption = None,
) -> None:
    """Create a model (then add versions with `mlengine versions create`)."""
    parsed = parse_labels(labels)
    with open_registry("mlengine.models.create") as registry:
        model = registry.create_model(name, description=description, labels=parsed)
    status(f"Created model [{model.name}].")
    show_if_asked(model.to_json())


@app.command("list")
def list_() -> None:
    """List the models and their default versions."""
    with open_registry("mlengine.models.list") as registry:
        models = registry.list_models()
    show([model.to_json() for model in models], LIST_FORMAT, uri=model_uri)


@app.command("describe")
def describe(name: ModelName) -> None:
    """Show a model, with its default version."""
    with open_registry("mlengine.models.describe") as registry:
        model = registry.get_model(name)
    show(model.to_json(), "yaml", single=True)


@app.command("update")
def update(
    name: ModelName,
    description: DescriptionOption = None,
    update_labels: UpdateLabelsOption = None,
    remove_labels: RemoveLabelsOption = None,
    clear_labels: ClearLabelsOption = False,
) -> None:
    """Change a model's description or labels."""
    with open_registry("mlengine.models.update") as registry:
        current = registry.get_model(name)
        labels = updated_labels(current.labels, update_labels, remove_labels, clear_labels)
        if description is None and labels is None:
            status("No update to perform.")
            return
        model = registry.update_model(name, description=description, labels=labels)
        registry.record_operation(OperationType.UPDATE_MODEL, name, response=model.to_json())
    status(f"Updated model [{name}].")
    show_if_asked(model.to_json())


@app.command("delete")
def delete(name: ModelName) -> None:
    """Delete a model that has no versions left (asks first, unless --quiet)."""
    confirm(f"This will delete model [{name}]...")
    with open_registry("mlengine.models.delete") as registry:
        registry.delete_model(name)
        registry.record_operation(OperationType.DELETE_MODEL, name)
    status(f"Deleted model [{name}].")
