"""The ``mlengine`` command: a thin registration of one sub-app per command group.

Each group lives in its own module (``models``, ``versions``, ``jobs``, ``local``,
``operations``; ``predict`` and ``serve`` are single commands) and calls the Python API, so the
CLI holds no rules of its own. :class:`~mlengine.cli.gcloud.GcloudGroup` gives the whole tree
gcloud's conventions: flags anywhere, gcloud-wide and cloud-only flags, one-line errors.
"""

from __future__ import annotations

from typing import Annotated

import typer

from mlengine import __version__
from mlengine.cli import (
    cloud_commands,
    jobs,
    local,
    models,
    operations,
    predict,
    serve,
    tensorboard,
    versions,
)
from mlengine.cli.gcloud import GcloudGroup

app = typer.Typer(
    name="mlengine",
    cls=GcloudGroup,
    help="Train, register and serve tf.estimator-style models (mirrors gcloud ml-engine).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_show_locals=False,
)
app.add_typer(models.app, name="models")
app.add_typer(versions.app, name="versions")
app.add_typer(jobs.app, name="jobs")
app.add_typer(local.app, name="local")
app.add_typer(operations.app, name="operations")
app.add_typer(cloud_commands.locations_app, name="locations", hidden=True)
app.command("predict")(predict.predict)
app.command("serve")(serve.serve)
app.command("tensorboard")(tensorboard.tensorboard)
cloud_commands.register({"": app, "models": models.app, "locations": cloud_commands.locations_app})


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"mlengine {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Print the version."
        ),
    ] = False,
) -> None:
    """mlengine: tf.estimator-style models on PyTorch, a model registry and online prediction."""


def main() -> None:
    """Console-script entry point (``mlengine = "mlengine.cli.main:main"``)."""
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
