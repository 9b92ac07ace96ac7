"""``mlengine versions create|list|describe|update|set-default|delete``: gcloud's version
commands, and TF Serving's version labels (``set-label``, ``remove-label``).

``create`` copies an export into the registry and waits until it is READY; with ``--async`` it
returns at once with the long-running operation's name (the version is created by a process of
its own, see :mod:`mlengine.cli.background`), which ``mlengine operations describe|wait|cancel``
find. Creations, deletions and updates are recorded as operations, as the server's are.
``--config`` takes ML Engine's Version body: ``deploymentUri``, ``description``, ``labels`` and
``framework`` are used, flags override them, and the Cloud-only fields are reported as ignored.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from mlengine.cli.background import start_create_version
from mlengine.cli.config import VERSION_CREATE, VERSION_UPDATE, version_config
from mlengine.cli.gcloud import ignore
from mlengine.cli.metadata import (
    ClearLabelsOption,
    DescriptionOption,
    LabelsOption,
    RemoveLabelsOption,
    UpdateLabelsOption,
    config_labels,
    parse_labels,
    updated_labels,
)
from mlengine.cli.output import (
    confirm,
    fail,
    handle_errors,
    open_registry,
    show,
    show_if_asked,
    status,
)
from mlengine.cli.progress import activity
from mlengine.errors import NotSupportedError
from mlengine.registry import OperationType

app = typer.Typer(
    help="Create, list, describe, update, set the default of, and delete model versions.",
    no_args_is_help=True,
)

VersionName = Annotated[
    str, typer.Argument(help="The version's name (or, except for create, its number).")
]
ModelOption = Annotated[
    str, typer.Option("--model", help="The model the version belongs to.", show_default=False)
]
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="YAML or JSON file holding ML Engine's Version fields (flags override them).",
    ),
]
FrameworkOption = Annotated[
    str | None,
    typer.Option(
        "--framework",
        help="The framework that trained the model: tensorflow, as for every mlengine export "
        "(scikit-learn and xgboost are refused).",
    ),
]

# gcloud's `versions list` table, with the number, default flag and times mlengine adds.
LIST_FORMAT = (
    "table(name.basename(), number, state, "
    'isDefault.yesno(yes="yes", no=""):label=DEFAULT, '
    'createTime.date("%Y-%m-%dT%H:%M:%SZ"), '
    'lastUseTime.date("%Y-%m-%dT%H:%M:%SZ", undefined="-"), deploymentUri)'
)
FRAMEWORKS = {"tensorflow": "TENSORFLOW", "scikit-learn": "SCIKIT_LEARN", "xgboost": "XGBOOST"}


def check_framework(value: str | None) -> None:
    """``--framework`` (or a config's ``framework``) checked against what mlengine exports:
    tf.estimator-style models, which gcloud calls ``tensorflow``.

    Raises:
        typer.BadParameter: not one of gcloud's framework names.
        NotSupportedError: scikit-learn or xgboost.
    """
    if value is None:
        return
    names = {**{v: v for v in FRAMEWORKS.values()}, **FRAMEWORKS}
    found = names.get(value.strip()) or names.get(value.strip().lower())
    if found is None:
        raise typer.BadParameter(
            f"{value!r} is not one of {', '.join(FRAMEWORKS)}", param_hint="'--framework'"
        )
    if found != "TENSORFLOW":
        raise NotSupportedError(
            f"--framework {value}: mlengine serves its own exports of tf.estimator-style models "
            "(framework tensorflow), not scikit-learn or XGBoost models."
        )


@app.command("create")
def create(
    name: VersionName,
    model: ModelOption,
    origin: Annotated[
        str | None,
        typer.Option(
            "--origin",
            help="The export directory: a local path or an fsspec URL (gs:// needs gcsfs). "
            "Overrides the config's deploymentUri.",
            show_default=False,
        ),
    ] = None,
    description: DescriptionOption = None,
    labels: LabelsOption = None,
    config: ConfigOption = None,
    framework: FrameworkOption = None,
    run_async: Annotated[
        bool,
        typer.Option(
            "--async",
            help="Return at once with the operation's name; a process of its own creates the "
            "version (mlengine operations wait NAME waits for it).",
        ),
    ] = False,
) -> None:
    """Copy an export into the registry as a new version, and check that it loads."""
    command = "mlengine.versions.create"
    with handle_errors(command):
        body, ignored = version_config(config, VERSION_CREATE) if config else ({}, [])
        ignore(*(f"{key} (--config)" for key in ignored))
        check_framework(framework if framework is not None else body.get("framework"))
    origin = origin if origin is not None else body.get("deploymentUri")
    if not origin:
        raise fail(
            command,
            "Either --origin must be provided or deploymentUri must be provided in the file "
            "given by --config.",
        )
    if description is None:
        description = body.get("description")
    parsed = parse_labels(labels)
    if not labels and "labels" in body:
        parsed = config_labels(body["labels"], str(config))
    if run_async:
        request: dict[str, Any] = {"model": model, "name": name, "origin": str(origin)}
        request.update(description=description, labels=parsed)
        with handle_errors(command):
            operation = start_create_version(request)
        full = f"projects/local/operations/{operation}"
        status(
            f"Create request issued for: [{name}]\nCheck operation [{full}] for status "
            f"(mlengine operations wait {full})."
        )
        with open_registry(command) as registry:
            show(registry.get_operation(operation).to_json("local"), "yaml", single=True)
        return
    with open_registry(command) as registry:
        status("Creating version (this might take a few minutes)...")
        with activity(f"Creating version [{name}] of model [{model}]..."):
            version = registry.create_version(
                model, name, str(origin), description=description, labels=parsed
            )
        registry.record_operation(
            OperationType.CREATE_VERSION, model, version, response=version.to_json()
        )
    status(f"Created version [{version.name}] (number {version.number}) of model [{model}].")
    if version.is_default:
        status("It is the model's default version.")
    show_if_asked(version.to_json())


@app.command("list")
def list_(model: ModelOption) -> None:
    """List a model's versions, with their state and creation and last-use times."""
    with open_registry("mlengine.versions.list") as registry:
        versions = registry.list_versions(model)
    show(
        [version.to_json() for version in versions],
        LIST_FORMAT,
        uri=lambda resource: f"projects/local/models/{model}/versions/{resource['name']}",
    )


@app.command("describe")
def describe(name: VersionName, model: ModelOption) -> None:
    """Show a version: origin, state, times, signature and evaluation metrics."""
    with open_registry("mlengine.versions.describe") as registry:
        version = registry.get_version(model, name)
    show(version.to_json(), "yaml", single=True)


@app.command("update")
def update(
    name: VersionName,
    model: ModelOption,
    description: DescriptionOption = None,
    update_labels: UpdateLabelsOption = None,
    remove_labels: RemoveLabelsOption = None,
    clear_labels: ClearLabelsOption = False,
    config: ConfigOption = None,
) -> None:
    """Change a version's description or labels."""
    command = "mlengine.versions.update"
    with handle_errors(command):
        body, ignored = version_config(config, VERSION_UPDATE) if config else ({}, [])
        ignore(*(f"{key} (--config)" for key in ignored))
    if description is None:
        description = body.get("description")
    with open_registry(command) as registry:
        current = registry.get_version(model, name)
        labels = updated_labels(current.labels, update_labels, remove_labels, clear_labels)
        if description is None and labels is None:
            status("No update to perform.")
            return
        version = registry.update_version(model, name, description=description, labels=labels)
        registry.record_operation(
            OperationType.UPDATE_VERSION, model, version, response=version.to_json()
        )
    status(f"Updated version [{version.name}] of model [{model}].")
    show_if_asked(version.to_json())


@app.command("set-default")
def set_default(name: VersionName, model: ModelOption) -> None:
    """Make a READY version the one that serves requests naming only the model."""
    with open_registry("mlengine.versions.set-default") as registry:
        version = registry.set_default_version(model, name)
    show(version.to_json(), "yaml", single=True)


@app.command("delete")
def delete(name: VersionName, model: ModelOption) -> None:
    """Delete a version and its files (asks first, unless --quiet; the default version only
    when it is the last one)."""
    confirm(f"This will delete version [{name}]...")
    with open_registry("mlengine.versions.delete") as registry:
        found = registry.get_version(model, name)
        registry.delete_version(model, name)
        registry.record_operation(OperationType.DELETE_VERSION, model, found)
    status(f"Deleted version [{name}] of model [{model}].")


LabelArgument = Annotated[
    str, typer.Argument(help="TF Serving's version label (stable, canary).", show_default=False)
]


@app.command("set-label")
def set_label(name: VersionName, model: ModelOption, label: LabelArgument) -> None:
    """Point TF Serving's version label at a READY version (served at
    /v1/models/MODEL/labels/LABEL and by gRPC's ModelSpec.version_label)."""
    with open_registry("mlengine.versions.set-label") as registry:
        registry.set_version_label(model, label, name)
    status(f"Label [{label}] of model [{model}] now points at version [{name}].")


@app.command("remove-label")
def remove_label(label: LabelArgument, model: ModelOption) -> None:
    """Remove one of TF Serving's version labels from a model."""
    with open_registry("mlengine.versions.remove-label") as registry:
        registry.remove_version_label(model, label)
    status(f"Removed label [{label}] of model [{model}].")
