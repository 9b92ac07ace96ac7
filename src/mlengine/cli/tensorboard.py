"""``mlengine tensorboard``: TensorBoard over a run's folder, a training job's, or a version's.

The folder is found by :mod:`mlengine.jobs.tensorboard`; TensorBoard itself is the
``tensorboard`` package's server, run in the foreground until Ctrl-C.
"""

from __future__ import annotations

import shlex
import subprocess
from typing import Annotated

import typer

from mlengine.cli.output import fail, handle_errors, open_registry

COMMAND = "mlengine.tensorboard"


def tensorboard(
    logdir: Annotated[
        str | None,
        typer.Argument(
            help="The folder to show (a model_dir, or a folder of them).", show_default=False
        ),
    ] = None,
    job: Annotated[
        str | None, typer.Option("--job", help="Show this training job's folder (its jobDir).")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option(
            "--model", help="Show the training run behind this model's version (from its evidence)."
        ),
    ] = None,
    version: Annotated[
        str | None,
        typer.Option("--version", help="The version of --model (default: its default version)."),
    ] = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (127.0.0.1: this machine only).")
    ] = "127.0.0.1",
    port: Annotated[
        int, typer.Option("--port", help="Port to listen on (0: any free port).")
    ] = 6006,
    print_command: Annotated[
        bool,
        typer.Option(
            "--print-command", help="Print the TensorBoard command instead of running it."
        ),
    ] = False,
) -> None:
    """Run TensorBoard over a training run: LOGDIR, a job's folder (--job), or the run a
    version was exported from (--model, --version)."""
    from mlengine.jobs.tensorboard import job_logdir, tensorboard_argv, version_logdir

    chosen = [
        name for name, value in (("LOGDIR", logdir), ("--job", job), ("--model", model)) if value
    ]
    if len(chosen) != 1:
        raise fail(COMMAND, f"Name one of LOGDIR, --job or --model; got {chosen or 'none'}.")
    if version is not None and model is None:
        raise fail(COMMAND, "--version needs --model.")
    folder = logdir
    if job is not None:
        from mlengine.jobs import JobManager

        with open_registry(COMMAND) as registry:
            found = JobManager(registry).get_job(job)
            folder = job_logdir(found)
        if folder is None:
            raise fail(
                COMMAND,
                f"Job {job!r} has no jobDir (or is not a training job); pass its trainer's "
                "model_dir as LOGDIR.",
            )
    elif model is not None:
        with open_registry(COMMAND) as registry:
            folder = version_logdir(registry, model, version)
        if folder is None:
            which = f"version {version!r}" if version else "the default version"
            raise fail(
                COMMAND,
                f"The training folder of {which} of model {model!r} is not known here: its "
                "export has no evidence naming it, or the folder is gone. Pass the model_dir as "
                "LOGDIR.",
            )
    assert folder is not None
    argv = tensorboard_argv(folder, host, port)
    if print_command:
        typer.echo(shlex.join(["tensorboard", *argv[3:]]))
        return
    with handle_errors(COMMAND):
        code = subprocess.call(argv)  # noqa: S603 - our own interpreter and package
    if code:
        raise typer.Exit(code)
