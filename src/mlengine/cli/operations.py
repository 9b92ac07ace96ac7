"""``mlengine operations list|describe|wait|cancel``: ML Engine's long-running operations, read
from the registry (:mod:`mlengine.registry.operations`).

Version creation and deletion, model deletion and updates each record an operation, whether
the CLI or the server (``versions.create``, ``versions.delete``, ...) made them; ``versions
create --async`` returns with a creation still running, which ``operations wait`` then waits
for. An operation is named ``projects/{p}/operations/{id}`` or by its id alone.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlengine.cli.output import fail, open_registry, show, status
from mlengine.registry import Operation

app = typer.Typer(
    help="List, describe, wait for and cancel long-running operations (version creation and "
    "deletion, model deletion, updates).",
    no_args_is_help=True,
)

OperationName = Annotated[
    str,
    typer.Argument(help="The operation: projects/PROJECT/operations/ID or ID.", show_default=False),
]
LIST_FORMAT = "table(name.basename(), metadata.operationType, done)"
WAIT_CHUNK_SECONDS = 60.0  # wait reads the registry this long at a time, for good


def operation_id(name: str) -> str:
    """``projects/p/operations/create_census_v1-1`` → ``create_census_v1-1``."""
    return name.rstrip("/").rsplit("/", 1)[-1]


@app.command("list")
def list_() -> None:
    """List every operation, oldest first."""
    found: list[Operation] = []
    with open_registry("mlengine.operations.list") as registry:
        token = None
        while True:
            page, token = registry.list_operations(100, token)
            found += page
            if token is None:
                break
    show([operation.to_json("local") for operation in found], LIST_FORMAT)


@app.command("describe")
def describe(name: OperationName) -> None:
    """Show an operation: its metadata and, once done, its response or error."""
    with open_registry("mlengine.operations.describe") as registry:
        found = registry.get_operation(operation_id(name))
    show(found.to_json("local"), "yaml", single=True)


@app.command("wait")
def wait(name: OperationName) -> None:
    """Wait until an operation is done, as long as it takes; print it (exit code 1 if it
    ended in an error)."""
    command = "mlengine.operations.wait"
    with open_registry(command) as registry:
        status(f"Waiting for [{name}] to finish...")
        found = registry.get_operation(operation_id(name))
        while not found.done:
            found = registry.wait_operation(found.id, timeout=WAIT_CHUNK_SECONDS)
    if found.error_code is not None:
        raise fail(command, f"Operation [{name}] failed: {found.error_message}")
    show(found.to_json("local"), "yaml", single=True)


@app.command("cancel")
def cancel(name: OperationName) -> None:
    """Cancel an operation: a version creation still running stops (the version is FAILED);
    anything else finishes as it would have."""
    with open_registry("mlengine.operations.cancel") as registry:
        found = registry.cancel_operation(operation_id(name))
    if found.cancel_requested and found.error_code == 1:
        status(f"Cancelled [{name}].")
    else:
        status(f"Operation [{name}] had finished; nothing to cancel.")
