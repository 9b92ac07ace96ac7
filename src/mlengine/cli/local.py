"""``mlengine local train|predict``: gcloud ml-engine's local commands.

``local train`` runs a trainer package in the foreground, as a training job would run it
(:mod:`mlengine.jobs.specs` builds the command line and the environment for both): ``python -m
MODULE [--job-dir DIR] ARGS...`` in the folder holding the package, with the package on
``PYTHONPATH`` and gcloud's ``TF_CONFIG``; with ``--distributed``, a master and
``--worker-count`` workers (2 by default, as gcloud) under torchrun, whose ``RANK`` and
``WORLD_SIZE`` are PyTorch's cluster description. The command exits with the trainer's status.

``local predict`` predicts from an export directory without the registry.
"""

from __future__ import annotations

import contextlib
import io
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Sequence
from types import FrameType
from typing import Annotated

import typer

from mlengine.cli.gcloud import flush_ignored, ignore
from mlengine.cli.instances import instance_file
from mlengine.cli.jobs import UserArgs, check_scheme
from mlengine.cli.output import fail, handle_errors
from mlengine.cli.predict import (
    JsonInstancesOption,
    JsonRequestOption,
    SignatureOption,
    TextInstancesOption,
    predict_export,
    show_predictions,
)
from mlengine.cli.versions import FrameworkOption, check_framework
from mlengine.errors import MLEngineError
from mlengine.jobs import processes, specs

app = typer.Typer(
    help="Run a trainer package, or predict from an export, on this machine.",
    no_args_is_help=True,
)

DEFAULT_WORKERS = 2  # gcloud's --worker-count default with --distributed
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL when the command is interrupted


class _Stop(Exception):
    """SIGTERM reached this command while the trainer runs."""


def _on_sigterm(_signum: int, _frame: FrameType | None) -> None:
    raise _Stop()


@contextlib.contextmanager
def _sigterm_stops() -> Iterator[None]:
    try:
        previous = signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _output_fd() -> bool:
    """Whether standard output is a real file descriptor the trainer can inherit."""
    try:
        sys.stdout.flush()
        sys.stdout.fileno()
    except (AttributeError, ValueError, io.UnsupportedOperation):
        return False
    return True


def run_foreground(
    argv: Sequence[str], env: dict[str, str], cwd: str, timeout: float | None
) -> int:
    """Run ``argv`` until it exits (or ``timeout`` seconds pass) and return its status.

    It runs in its own session; Ctrl-C, SIGTERM or the timeout stop its whole process tree
    (SIGTERM, then SIGKILL after a grace period), so no worker outlives the command. Its
    output goes straight to this command's (copied through where that is no file).

    Raises:
        MLEngineError: it ran longer than ``timeout``.
    """
    inherit = _output_fd()
    pipe = None if inherit else subprocess.PIPE
    proc = subprocess.Popen(
        list(argv), env=env, cwd=cwd, start_new_session=True, stdout=pipe, stderr=pipe
    )
    try:
        with _sigterm_stops():
            if inherit:
                return proc.wait(timeout=timeout)
            out, err = proc.communicate(timeout=timeout)
            typer.echo(out.decode(errors="replace"), nl=False)
            typer.echo(err.decode(errors="replace"), nl=False, err=True)
            return proc.returncode
    except subprocess.TimeoutExpired:
        _stop(proc)
        raise MLEngineError(
            f"The trainer ran longer than --max-running-time ({timeout:g}s) and was stopped."
        ) from None
    except (KeyboardInterrupt, _Stop):
        _stop(proc)
        raise typer.Exit(130) from None


def _stop(proc: subprocess.Popen[bytes]) -> None:
    processes.stop_tree(proc.pid, STOP_GRACE, root=os.getpid(), keep=proc.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.communicate(timeout=10)


@app.command("train")
def train(
    module_name: Annotated[
        str,
        typer.Option(
            "--module-name", help="The trainer module (trainer.task).", show_default=False
        ),
    ],
    user_args: UserArgs = None,
    package_path: Annotated[
        str | None,
        typer.Option(
            "--package-path",
            help="The trainer's package folder (default: the current folder); the trainer runs "
            "in the folder holding it, so relative paths in ARGS mean that folder.",
        ),
    ] = None,
    job_dir: Annotated[
        str | None,
        typer.Option("--job-dir", help="Passed to the trainer as --job-dir DIR."),
    ] = None,
    distributed: Annotated[
        bool,
        typer.Option(
            "--distributed", help="Run a master and --worker-count workers under torchrun."
        ),
    ] = False,
    worker_count: Annotated[
        int | None,
        typer.Option(
            "--worker-count",
            min=1,
            help=f"Workers besides the master with --distributed (default {DEFAULT_WORKERS}).",
        ),
    ] = None,
    start_port: Annotated[
        int | None,
        typer.Option(
            "--start-port",
            min=1,
            max=65535,
            help="The torchrun rendezvous port with --distributed (default: a free port).",
        ),
    ] = None,
    max_running_time: Annotated[
        float | None,
        typer.Option("--max-running-time", help="Stop the trainer after this many seconds."),
    ] = None,
) -> None:
    """Run a trainer package in the foreground, as a training job runs it."""
    command = "mlengine.local.train"
    if not distributed:
        ignore(*(f"{flag} (without --distributed)" for flag, given in (
            ("--worker-count", worker_count), ("--start-port", start_port)) if given))  # fmt: skip
    with handle_errors(command):
        workers = 1 + (worker_count or DEFAULT_WORKERS) if distributed else 1
        spec = specs.training_input(
            module_name,
            package_path=package_path if package_path is not None else os.getcwd(),
            job_dir=None,
            args=user_args or [],
            workers=workers,
            rdzv_endpoint=f"127.0.0.1:{start_port}" if distributed and start_port else None,
        )
        cwd = specs.package_root(spec) or os.getcwd()
        check_scheme(job_dir, "--job-dir")
        if job_dir is not None:  # relative to the folder the trainer runs in, as gcloud's
            where = job_dir if "://" in job_dir else os.path.join(cwd, job_dir)
            spec["jobDir"] = specs.local_path(where, "job dir")
        argv = specs.training_command(spec, "local")
        env = specs.training_environment(spec, os.environ)
        flush_ignored()
        code = run_foreground(argv, env, cwd, max_running_time)
    if code != 0:
        fail(command, f"The trainer (python -m {module_name}) {processes.describe_exit(code)}.")
        raise typer.Exit(code if code > 0 else 128 - code)  # the trainer's status, as gcloud's


@app.command("predict")
def predict(
    model_dir: Annotated[
        str,
        typer.Option(
            "--model-dir", help="The export directory to predict with.", show_default=False
        ),
    ],
    json_instances: JsonInstancesOption = None,
    json_request: JsonRequestOption = None,
    text_instances: TextInstancesOption = None,
    signature_name: SignatureOption = None,
    framework: FrameworkOption = None,
) -> None:
    """Predict from an export directory, without the registry, and print gcloud's table."""
    command = "mlengine.local.predict"
    with handle_errors(command):
        check_framework(framework)
        file = instance_file(json_instances, json_request, text_instances)
        predictions = predict_export(model_dir, file, signature_name)
    show_predictions(predictions)
