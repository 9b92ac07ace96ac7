"""``mlengine jobs submit training|prediction | list | describe | stream-logs | cancel``.

gcloud ml-engine's job commands over :class:`mlengine.jobs.JobManager`: a submitted job runs
in the background (the command returns at once, unless ``--stream-logs``), and its state,
times and error live in the registry database.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

import typer

from mlengine.cli.output import (
    FormatOption,
    LabelsOption,
    OutputFormat,
    fail,
    open_registry,
    parse_labels,
    print_json,
    print_table,
    print_yaml,
    status,
)
from mlengine.jobs import Job, JobManager, JobState

app = typer.Typer(
    help="Submit training and batch prediction jobs; list, describe, cancel them and stream "
    "their logs.",
    no_args_is_help=True,
)
submit_app = typer.Typer(help="Submit a training or batch prediction job.", no_args_is_help=True)
app.add_typer(submit_app, name="submit")

JobId = Annotated[
    str, typer.Argument(help="The job's id: a letter, then letters, digits, _.", show_default=False)
]
StreamLogsOption = Annotated[
    bool,
    typer.Option("--stream-logs", help="Wait for the job, printing its logs as they come."),
]
MaxRunningOption = Annotated[
    float | None,
    typer.Option("--max-running-time", help="Stop and fail the job after this many seconds."),
]
JOB_COLUMNS = ("JOB_ID", "STATUS", "CREATED")


@contextmanager
def open_jobs(command: str) -> Iterator[JobManager]:
    """A JobManager over the environment's registry, errors handled as the other commands."""
    with open_registry(command) as registry:
        yield JobManager(registry)


def show_job(job: Job, fmt: OutputFormat | None) -> None:
    """One job: YAML unless ``--format`` says otherwise (as gcloud's describe)."""
    if fmt is OutputFormat.JSON:
        print_json(job.to_json())
    elif fmt is OutputFormat.TABLE:
        print_table(JOB_COLUMNS, [_row(job)])
    else:
        print_yaml(job.to_json())


def _row(job: Job) -> list[str]:
    return [job.job_id, job.state.value, job.create_time.strftime("%Y-%m-%dT%H:%M:%S")]


def _submitted(jobs: JobManager, job: Job, stream: bool, fmt: OutputFormat | None) -> None:
    command = "mlengine.jobs.submit"
    status(f"Job [{job.job_id}] submitted successfully.")
    if not stream:
        status(
            "Your job is still active. You may view the status of your job with the command\n\n"
            f"  $ mlengine jobs describe {job.job_id}\n\n"
            "or continue streaming the logs with the command\n\n"
            f"  $ mlengine jobs stream-logs {job.job_id}"
        )
        if fmt is None:
            print_yaml({"jobId": job.job_id, "state": job.state.value})
        else:
            show_job(job, fmt)
        return
    _stream(jobs, job.job_id, command)


def _stream(jobs: JobManager, job_id: str, command: str) -> None:
    """Print the job's logs until it is over; exit 1 unless it SUCCEEDED."""
    for text in jobs.follow_logs(job_id):
        typer.echo(text, nl=False)
    job = jobs.get_job(job_id)
    if job.state is not JobState.SUCCEEDED:
        # The logs were just printed: the summary, without its copy of their last lines.
        summary = (job.error_message or "").split(" Last log lines:")[0].strip()
        reason = f": {summary}" if summary else "."
        raise fail(command, f"Job [{job_id}] {job.state.value}{reason}")
    status(f"Job [{job_id}] SUCCEEDED.")


@submit_app.command("training")
def submit_training(
    name: JobId,
    module_name: Annotated[
        str,
        typer.Option(
            "--module-name",
            help="The trainer module, run as `python -m MODULE --job-dir DIR ARGS...`.",
            show_default=False,
        ),
    ],
    user_args: Annotated[
        list[str] | None,
        typer.Argument(help="Arguments for the trainer, after `--`.", show_default=False),
    ] = None,
    package_path: Annotated[
        str | None,
        typer.Option(
            "--package-path",
            help="The folder of the trainer's package (or one holding it): put on PYTHONPATH.",
        ),
    ] = None,
    job_dir: Annotated[
        str | None,
        typer.Option(
            "--job-dir", help="Passed as --job-dir (default: $MLENGINE_HOME/jobs/JOB/output)."
        ),
    ] = None,
    workers: Annotated[
        int, typer.Option("--workers", min=1, help="Processes; > 1 runs them under torchrun.")
    ] = 1,
    nnodes: Annotated[
        int, typer.Option("--nnodes", min=1, help="Machines taking part (torchrun).")
    ] = 1,
    rdzv_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rdzv-endpoint", help="torchrun rendezvous HOST:PORT (default: a free local port)."
        ),
    ] = None,
    rdzv_timeout: Annotated[
        float,
        typer.Option("--rdzv-timeout", help="Seconds for all workers to join the rendezvous."),
    ] = 60.0,
    max_running_time: MaxRunningOption = None,
    labels: LabelsOption = None,
    stream_logs: StreamLogsOption = False,
    fmt: FormatOption = None,
) -> None:
    """Run a trainer module in the background (through torchrun when --workers > 1)."""
    parsed = parse_labels(labels)
    with open_jobs("mlengine.jobs.submit.training") as jobs:
        job = jobs.submit_training(
            name,
            module_name,
            package_path=package_path,
            job_dir=job_dir,
            args=user_args or [],
            workers=workers,
            nnodes=nnodes,
            rdzv_endpoint=rdzv_endpoint,
            rdzv_timeout=rdzv_timeout,
            max_running_time=max_running_time,
            labels=parsed,
        )
        _submitted(jobs, job, stream_logs, fmt)


@submit_app.command("prediction")
def submit_prediction(
    name: JobId,
    input_paths: Annotated[
        list[str],
        typer.Option(
            "--input-paths",
            help="Input files: paths, globs or URLs, comma-separated or repeated.",
            show_default=False,
        ),
    ],
    output_path: Annotated[
        str,
        typer.Option(
            "--output-path", help="Folder for the prediction.results-* shards.", show_default=False
        ),
    ],
    data_format: Annotated[
        str,
        typer.Option(
            "--data-format",
            help="json (one JSON object per line), csv (with a header row) or parquet.",
            show_default=False,
        ),
    ],
    model: Annotated[str | None, typer.Option("--model", help="A registered model.")] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Its version (default: the default version).")
    ] = None,
    model_dir: Annotated[
        str | None, typer.Option("--model-dir", help="An export folder, instead of --model.")
    ] = None,
    batch_size: Annotated[
        int, typer.Option("--batch-size", min=1, help="Rows predicted at once.")
    ] = 65536,
    max_running_time: MaxRunningOption = None,
    labels: LabelsOption = None,
    stream_logs: StreamLogsOption = False,
    fmt: FormatOption = None,
) -> None:
    """Predict every row of the input files into JSON-lines shards, in the background."""
    parsed = parse_labels(labels)
    paths = [part.strip() for value in input_paths for part in value.split(",") if part.strip()]
    with open_jobs("mlengine.jobs.submit.prediction") as jobs:
        job = jobs.submit_prediction(
            name,
            input_paths=paths,
            output_path=output_path,
            data_format=data_format,
            model=model,
            version=version,
            model_dir=model_dir,
            batch_size=batch_size,
            max_running_time=max_running_time,
            labels=parsed,
        )
        _submitted(jobs, job, stream_logs, fmt)


@app.command("list")
def list_(
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only jobs in this state (repeatable).")
    ] = None,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many.")] = None,
    fmt: FormatOption = None,
) -> None:
    """List jobs, newest first."""
    with open_jobs("mlengine.jobs.list") as jobs:
        found = jobs.list_jobs(state or None, limit)
    if fmt is OutputFormat.JSON:
        print_json([job.to_json() for job in found])
    elif fmt is OutputFormat.YAML:
        print_yaml([job.to_json() for job in found])
    else:
        print_table(JOB_COLUMNS, [_row(job) for job in found])


@app.command("describe")
def describe(name: JobId, fmt: FormatOption = None) -> None:
    """Show a job: its input, state, times, output and error."""
    with open_jobs("mlengine.jobs.describe") as jobs:
        job = jobs.get_job(name)
    show_job(job, fmt)
    if not job.state.is_final:
        status(f"\nView the job's logs with\n\n  $ mlengine jobs stream-logs {name}")


@app.command("stream-logs")
def stream_logs(name: JobId) -> None:
    """Print a job's logs, following them until the job is over (exit 1 unless SUCCEEDED)."""
    with open_jobs("mlengine.jobs.stream-logs") as jobs:
        _stream(jobs, name, "mlengine.jobs.stream-logs")


@app.command("cancel")
def cancel(
    name: JobId,
    wait: Annotated[
        bool, typer.Option("--wait/--no-wait", help="Wait until the job is CANCELLED.")
    ] = True,
) -> None:
    """Cancel a job: SIGTERM to its whole process group, SIGKILL after a grace period."""
    with open_jobs("mlengine.jobs.cancel") as jobs:
        timeout = jobs.cancel_grace + 20.0 if wait else None
        job = jobs.cancel_job(name, wait=timeout)
    if job.state is JobState.CANCELLED:
        status(f"Cancelled job [{name}].")
    else:
        status(f"Job [{name}] is {job.state.value}.")
