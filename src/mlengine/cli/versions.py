"""``mlengine versions create|list|describe|update|set-default|delete``: gcloud's version
commands.

``create`` copies an export into the registry and waits until it is READY (mlengine has no
long-running operations yet: with ``--async`` it still waits, says so, and prints the finished
operation gcloud would print). ``--config`` takes ML Engine's Version body: ``deploymentUri``,
``description``, ``labels`` and ``framework`` are used, flags override them, and the
Cloud-only fields are reported as ignored.
"""

from __future__ import annotations

import time
from typing import Annotated, Any

import typer

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
from mlengine.errors import NotSupportedError
from mlengine.registry import ModelVersion

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


def _operation(version: ModelVersion, started: str) -> dict[str, Any]:
    """The finished Operation gcloud prints for ``versions create --async``."""
    body = version.to_json("local")
    return {
        "name": f"projects/local/operations/create_{version.model}_{version.name}-{started}",
        "done": True,
        "metadata": {
            "@type": "type.googleapis.com/google.cloud.ml.v1.OperationMetadata",
            "createTime": body.get("createTime"),
            "endTime": body.get("createTime"),
            "modelName": f"projects/local/models/{version.model}",
            "operationType": "CREATE_VERSION",
            "version": {"name": body["name"]},
        },
        "response": {"@type": "type.googleapis.com/google.cloud.ml.v1.Version", **body},
    }


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
            help="Return at once in gcloud; here the version is created before the command "
            "returns, and the finished operation is printed.",
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
    started = time.strftime("%Y%m%d%H%M%S")
    with open_registry(command) as registry:
        status("Creating version (this might take a few minutes)...")
        version = registry.create_version(
            model, name, str(origin), description=description, labels=parsed
        )
    status(f"Created version [{version.name}] (number {version.number}) of model [{model}].")
    if version.is_default:
        status("It is the model's default version.")
    if run_async:
        status("mlengine created the version before returning (--async has nothing to wait for).")
        show(_operation(version, started), "yaml", single=True)
    else:
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
        registry.delete_version(model, name)
    status(f"Deleted version [{name}] of model [{model}].")
