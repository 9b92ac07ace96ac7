"""``mlengine operations list|describe|wait|cancel``: accepted, with nothing to act on yet.

ML Engine answers version creation and model or version deletion with a long-running
Operation; mlengine finishes each of them before its command returns and keeps no operations
(the server's operations are another issue's work). ``list`` therefore lists none, and naming
an operation is an error that says why.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlengine.cli.output import fail, show

app = typer.Typer(
    help="ML Engine's long-running operations (mlengine finishes every operation before its "
    "command returns, so there are none).",
    no_args_is_help=True,
)

OperationName = Annotated[str, typer.Argument(help="The operation's name.", show_default=False)]
LIST_FORMAT = "table(name.basename(), metadata.operationType, done)"
NONE_KEPT = (
    "mlengine keeps no long-running operations: versions create and models/versions delete "
    "finish before their command returns (describe the version or model instead)."
)


def _no_operation(command: str, name: str) -> typer.Exit:
    return fail(f"mlengine.operations.{command}", f"Operation [{name}] not found: {NONE_KEPT}")


@app.command("list")
def list_() -> None:
    """List operations: none, as every operation has finished when its command returns."""
    show([], LIST_FORMAT)


@app.command("describe")
def describe(name: OperationName) -> None:
    """Describe an operation (there are none to describe)."""
    raise _no_operation("describe", name)


@app.command("wait")
def wait(name: OperationName) -> None:
    """Wait for an operation (there are none to wait for)."""
    raise _no_operation("wait", name)


@app.command("cancel")
def cancel(name: OperationName) -> None:
    """Cancel an operation (there are none to cancel)."""
    raise _no_operation("cancel", name)
