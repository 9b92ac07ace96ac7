"""``mlengine jobs submit training|prediction | list | describe | stream-logs | cancel |
register-best``.

gcloud ml-engine's job commands over :class:`mlengine.jobs.JobManager`: a submitted job runs
in the background (the command returns at once, unless ``--stream-logs``), and its state,
times and error live in the registry database. The flags and a ``--config`` file make ML
Engine's Job resource, which :meth:`JobManager.submit` takes as the REST API does (flags
override the file; Cloud-only fields are reported as ignored). A ``trainingInput.hyperparameters``
makes it a tuning job; ``register-best`` registers its best trial's export as a version.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer

from mlengine.cli.config import read_config
from mlengine.cli.gcloud import flush_ignored, ignore, invocation
from mlengine.cli.metadata import LabelsOption, parse_labels
from mlengine.cli.output import fail, open_registry, show, show_if_asked, status
from mlengine.cli.progress import activity
from mlengine.errors import InvalidParameterError
from mlengine.jobs import Job, JobManager, JobState
from mlengine.jobs.requests import cloud_only_fields

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
UserArgs = Annotated[
    list[str] | None,
    typer.Argument(help="Arguments for the trainer, after `--`.", show_default=False),
]
ConfigOption = Annotated[
    str | None,
    typer.Option(
        "--config",
        help="YAML or JSON file holding ML Engine's Job resource (flags override it).",
    ),
]
LIST_FORMAT = "table(jobId.basename(), state:label=STATUS, createTime.date(tz=LOCAL):label=CREATED)"
SUBMITTED_FORMAT = "yaml(jobId, state, startTime.date(tz=LOCAL), endTime.date(tz=LOCAL))"
SUMMARY_FORMATS = {
    "trainingInput": 'table[title="Training Input Summary"](trainingInput.pythonModule, '
    "trainingInput.packagePath, trainingInput.jobDir, trainingInput.workerCount, "
    "trainingInput.scaleTier)",
    "predictionInput": 'table[title="Predict Input Summary"](predictionInput.modelName, '
    "predictionInput.versionName, predictionInput.uri, predictionInput.dataFormat, "
    "predictionInput.outputPath, predictionInput.batchSize)",
    "predictionOutput": 'table[title="Predict Output Summary"](predictionOutput.errorCount, '
    "predictionOutput.outputPath, predictionOutput.predictionCount)",
}
PREDICTED_ROWS = re.compile(r"^Predicted (\d+) rows", re.M)
OVERVIEW_FORMAT = 'table[title="Job Overview"](jobId, createTime, startTime, endTime, state)'
# A tuning job's --summarize tables, as gcloud printed them (its trials best first).
TUNING_SUMMARY_FORMAT = (
    'table[title="Training Output Summary"](trainingOutput.completedTrialCount:label=TRIALS, '
    "trainingOutput.hyperparameterMetricTag:label=METRIC_TAG)"
)
TRIALS_FORMAT = (
    'table[title="Training Output Trials"](trialId:label=TRIAL, '
    "finalMetric.objectiveValue:label=OBJECTIVE_VALUE, finalMetric.trainingStep:label=STEP, "
    "state, hyperparameters.list():label=HYPERPARAMETERS)"
)


@contextmanager
def open_jobs(command: str) -> Iterator[JobManager]:
    """A JobManager over the environment's registry, errors handled as the other commands."""
    with open_registry(command) as registry:
        yield JobManager(registry)


def check_scheme(value: str | None, flag: str) -> None:
    """Refuse at once a URL whose filesystem package is missing (``gs://`` without gcsfs),
    rather than let the job fail later.

    Raises:
        InvalidParameterError: the protocol is unknown or its package is not installed.
    """
    if value is None or "://" not in value:
        return
    import fsspec

    protocol = value.split("://", 1)[0]
    try:
        fsspec.get_filesystem_class(protocol)
    except ImportError as error:
        raise InvalidParameterError(
            f"{flag} {value}: reading {protocol}:// needs a package that is not installed "
            f"({' '.join(str(error).split())}); use a local path."
        ) from None
    except ValueError:
        raise InvalidParameterError(f"{flag} {value}: unknown protocol {protocol}://.") from None


def _job_body(config: str | None, section: str, name: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ``--config`` Job resource (or an empty one) and its ``section`` to fill from flags."""
    body = read_config(config) if config else {}
    other = "predictionInput" if section == "trainingInput" else "trainingInput"
    if body.get(other) is not None:
        kind = "prediction" if other == "predictionInput" else "training"
        raise InvalidParameterError(
            f"--config file {config!r} describes a {kind} job ({other}): submit it with "
            f"`mlengine jobs submit {kind}`."
        )
    data = body.get(section) or {}
    if not isinstance(data, dict):
        raise InvalidParameterError(f"{section} in --config file {config!r} must be a mapping.")
    body["jobId"] = name
    body[section] = data
    return body, data


def _submit(jobs: JobManager, body: dict[str, Any], labels: list[str] | None) -> Job:
    if labels:
        body["labels"] = parse_labels(labels)
    ignore(*(f"{path} (--config)" for path in cloud_only_fields(body)))
    return jobs.submit(body)


def _submitted(jobs: JobManager, job: Job, stream: bool) -> None:
    status(f"Job [{job.job_id}] submitted successfully.")
    if not stream:
        status(
            "Your job is still active. You may view the status of your job with the command\n\n"
            f"  $ mlengine jobs describe {job.job_id}\n\n"
            "or continue streaming the logs with the command\n\n"
            f"  $ mlengine jobs stream-logs {job.job_id}"
        )
        show(job.to_json(), SUBMITTED_FORMAT, single=True)
        return
    _stream(jobs, job.job_id, "mlengine.jobs.submit", 0.5)


def _stream(jobs: JobManager, job_id: str, command: str, poll: float) -> None:
    """Print the job's logs until it is over; exit 1 unless it SUCCEEDED."""
    flush_ignored()
    predicted = 0
    with activity(f"Job [{job_id}] running...") as live:
        for text in jobs.follow_logs(job_id, poll=poll):
            if live.live:
                live.write(text)
                # A prediction job logs "Predicted N rows of <file>" as each file is done.
                predicted += sum(int(n) for n in PREDICTED_ROWS.findall(text))
                if predicted:
                    live.update(f"{predicted:,} predictions")
            else:
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
        str | None,
        typer.Option(
            "--module-name",
            help="The trainer module, run as `python -m MODULE --job-dir DIR ARGS...` "
            "(or the config's trainingInput.pythonModule).",
            show_default=False,
        ),
    ] = None,
    user_args: UserArgs = None,
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
    config: ConfigOption = None,
    worker_count: Annotated[
        int | None,
        typer.Option(
            "--worker-count", min=1, help="gcloud's name for --workers (trainingInput.workerCount)."
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option("--workers", min=1, help="Processes; > 1 runs them under torchrun."),
    ] = None,
    nnodes: Annotated[
        int | None, typer.Option("--nnodes", min=1, help="Machines taking part (torchrun).")
    ] = None,
    rdzv_endpoint: Annotated[
        str | None,
        typer.Option(
            "--rdzv-endpoint", help="torchrun rendezvous HOST:PORT (default: a free local port)."
        ),
    ] = None,
    rdzv_timeout: Annotated[
        float | None,
        typer.Option("--rdzv-timeout", help="Seconds for all workers to join the rendezvous (60)."),
    ] = None,
    max_running_time: MaxRunningOption = None,
    labels: LabelsOption = None,
    stream_logs: StreamLogsOption = False,
) -> None:
    """Run a trainer module in the background (through torchrun when --workers > 1)."""
    command = "mlengine.jobs.submit.training"
    if workers is not None and worker_count is not None and workers != worker_count:
        raise typer.BadParameter(
            "give --workers or --worker-count, not both", param_hint="'--workers'"
        )
    with open_jobs(command) as jobs:
        body, training = _job_body(config, "trainingInput", name)
        if module_name is not None:
            training["pythonModule"] = module_name
        if not training.get("pythonModule"):
            raise typer.BadParameter(
                "give the trainer module (or trainingInput.pythonModule in --config)",
                param_hint="'--module-name'",
            )
        if package_path is not None:
            training.pop("packageUris", None)
            training["packagePath"] = package_path
        given: dict[str, Any] = {
            "jobDir": job_dir,
            "args": user_args or None,
            "workerCount": workers if workers is not None else worker_count,
            "nnodes": nnodes,
            "rdzvEndpoint": rdzv_endpoint,
            "rendezvousTimeout": None if rdzv_timeout is None else f"{rdzv_timeout:g}s",
        }
        training.update({key: value for key, value in given.items() if value is not None})
        if max_running_time is not None:
            training["scheduling"] = {"maxRunningTime": f"{max_running_time:g}s"}
        check_scheme(training.get("jobDir"), "--job-dir")
        job = _submit(jobs, body, labels)
        _submitted(jobs, job, stream_logs)


@submit_app.command("prediction")
def submit_prediction(
    name: JobId,
    input_paths: Annotated[
        list[str] | None,
        typer.Option(
            "--input-paths",
            help="Input files: paths, globs or URLs, comma-separated or repeated.",
            show_default=False,
        ),
    ] = None,
    output_path: Annotated[
        str | None,
        typer.Option(
            "--output-path", help="Folder for the prediction.results-* shards.", show_default=False
        ),
    ] = None,
    data_format: Annotated[
        str | None,
        typer.Option(
            "--data-format",
            help="text or json (one JSON instance per line), csv (with a header row) or parquet.",
            show_default=False,
        ),
    ] = None,
    model: Annotated[str | None, typer.Option("--model", help="A registered model.")] = None,
    version: Annotated[
        str | None, typer.Option("--version", help="Its version (default: the default version).")
    ] = None,
    model_dir: Annotated[
        str | None, typer.Option("--model-dir", help="An export folder, instead of --model.")
    ] = None,
    batch_size: Annotated[
        int | None, typer.Option("--batch-size", min=1, help="Rows predicted at once (65536).")
    ] = None,
    signature_name: Annotated[
        str | None,
        typer.Option("--signature-name", help="serving_default (the default) or predict."),
    ] = None,
    config: ConfigOption = None,
    max_running_time: MaxRunningOption = None,
    labels: LabelsOption = None,
    stream_logs: StreamLogsOption = False,
) -> None:
    """Predict every row of the input files into JSON-lines shards, in the background."""
    command = "mlengine.jobs.submit.prediction"
    with open_jobs(command) as jobs:
        body, prediction = _job_body(config, "predictionInput", name)
        paths = [p.strip() for value in input_paths or () for p in value.split(",") if p.strip()]
        given: dict[str, Any] = {
            "inputPaths": paths or None,
            "outputPath": output_path,
            "dataFormat": None if data_format is None else data_format.replace("-", "_"),
            "modelName": model,
            "versionName": version,
            "uri": model_dir,
            "batchSize": batch_size,
            "signatureName": signature_name,
        }
        prediction.update({key: value for key, value in given.items() if value is not None})
        if max_running_time is not None:
            prediction["scheduling"] = {"maxRunningTime": f"{max_running_time:g}s"}
        for key, flag in (("inputPaths", "--input-paths"), ("outputPath", "--output-path")):
            if not prediction.get(key):
                raise typer.BadParameter("is required (or its field in --config)", param_hint=flag)
        inputs = prediction["inputPaths"] if isinstance(prediction["inputPaths"], list) else []
        for flag, path in [
            *(("--input-paths", path) for path in inputs),
            ("--output-path", prediction["outputPath"]),
            ("--model-dir", prediction.get("uri")),
        ]:
            check_scheme(path if isinstance(path, str) else None, flag)
        job = _submit(jobs, body, labels)
        _submitted(jobs, job, stream_logs)


@app.command("list")
def list_(
    state: Annotated[
        list[str] | None, typer.Option("--state", help="Only jobs in this state (repeatable).")
    ] = None,
) -> None:
    """List jobs, newest first."""
    with open_jobs("mlengine.jobs.list") as jobs:
        found = jobs.list_jobs(state or None)
    show(
        [job.to_json() for job in found],
        LIST_FORMAT,
        uri=lambda r: f"projects/local/jobs/{r['jobId']}",
    )


@app.command("describe")
def describe(
    name: JobId,
    summarize: Annotated[
        bool,
        typer.Option(
            "--summarize",
            help="Print summary tables instead of the whole job (overrides --format).",
        ),
    ] = False,
) -> None:
    """Show a job: its input, state, times, output and error."""
    with open_jobs("mlengine.jobs.describe") as jobs:
        job = jobs.get_job(name)
    resource = job.to_json()
    if summarize:
        invocation().format = None
        show(resource, OVERVIEW_FORMAT, single=True)
        for key, fmt in SUMMARY_FORMATS.items():
            if key in resource:
                typer.echo("")
                show(resource, fmt, single=True)
        output = resource.get("trainingOutput") or {}
        if output.get("isHyperparameterTuningJob"):
            typer.echo("")
            show(resource, TUNING_SUMMARY_FORMAT, single=True)
            if output.get("trials"):
                typer.echo("")
                show(output["trials"], TRIALS_FORMAT)
    else:
        show(resource, "yaml", single=True)
    if not job.state.is_final:
        status(f"\nView the job's logs with\n\n  $ mlengine jobs stream-logs {name}")


@app.command("register-best")
def register_best(
    name: JobId,
    model: Annotated[
        str, typer.Option("--model", help="The registered model to add the version to.")
    ],
    version: Annotated[str, typer.Option("--version", help="The new version's name (e.g. v2).")],
    trial: Annotated[
        str | None,
        typer.Option("--trial", help="This trial's export instead of the best trial's."),
    ] = None,
    description: Annotated[
        str | None, typer.Option("--description", help="The version's description.")
    ] = None,
) -> None:
    """Register a tuning job's best trial's export (its newest) as a new model version."""
    from mlengine.registry import OperationType

    command = "mlengine.jobs.register-best"
    with open_jobs(command) as jobs:
        trial_id, origin = jobs.trial_export(name, trial)
        status(f"Trial {trial_id} of job [{name}]: creating version [{version}] from {origin}")
        text = description or f"Trial {trial_id} of tuning job {name}"
        created = jobs.registry.create_version(model, version, origin, description=text)
        jobs.registry.record_operation(
            OperationType.CREATE_VERSION, model, created, response=created.to_json()
        )
    status(f"Created version [{created.name}] (number {created.number}) of model [{model}].")
    show_if_asked(created.to_json())


@app.command("stream-logs")
def stream_logs(
    name: JobId,
    polling_interval: Annotated[
        float,
        typer.Option("--polling-interval", min=0.05, help="Seconds between reads of the log."),
    ] = 0.5,
) -> None:
    """Print a job's logs, following them until the job is over (exit 1 unless SUCCEEDED)."""
    with open_jobs("mlengine.jobs.stream-logs") as jobs:
        _stream(jobs, name, "mlengine.jobs.stream-logs", polling_interval)


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


__all__ = ["UserArgs", "app", "check_scheme", "open_jobs"]
