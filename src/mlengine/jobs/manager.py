""":class:`JobManager`: the Python API of training and batch prediction jobs.

The CLI (``mlengine jobs``) and the server's routes are thin layers over it::

    GET  /v1/projects/{p}/jobs               manager.list_jobs()              [job.to_json(p)]
    POST /v1/projects/{p}/jobs               manager.submit(body)             job.to_json(p)
    GET  /v1/projects/{p}/jobs/{j}           manager.get_job(j)               job.to_json(p)
    POST /v1/projects/{p}/jobs/{j}:cancel    manager.cancel_job(j)            job.to_json(p)
    GET  /v1/projects/{p}/jobs/{j}/logs      manager.read_logs(j, tail=N)     text

Submitting records a QUEUED row and starts a detached supervisor
(:mod:`mlengine.jobs.supervisor`) that runs the job in the background; the call returns at
once. Jobs live in the registry's database (so the registry's SQLite file or PostgreSQL);
their logs and results in ``$MLENGINE_HOME/jobs/<job id>/`` on the host that runs them.

A job is never left RUNNING by a dead supervisor: reading a job (``get_job``,
``list_jobs``) checks the supervisor of every QUEUED/RUNNING/CANCELLING job (on this host: is
its pid alive; elsewhere: has it heartbeated within ``stale_after``) and marks the jobs of
dead supervisors FAILED, killing what they left running here.
"""

from __future__ import annotations

import os
import socket
import sys
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy.engine import Row

from mlengine.errors import (
    FailedPreconditionError,
    InvalidParameterError,
    MLEngineError,
    NotFoundError,
)
from mlengine.jobs import logs, processes, specs
from mlengine.jobs.entities import ACTIVE_STATES, Job, JobKind, JobState
from mlengine.jobs.hyperparameters import check_spec
from mlengine.jobs.logs import error_with_tail
from mlengine.jobs.requests import parse_job
from mlengine.jobs.table import (
    ARTIFACT_ROOT_ENV,
    DATABASE_ENV,
    JobTable,
    now,
    to_job,
    validate_job_id,
)
from mlengine.registry import Registry, VersionState
from mlengine.registry.db import Database
from mlengine.registry.names import validate_labels
from mlengine.registry.origins import check_allowed, precheck_export
from mlengine.registry.queries import worker_id

HOST = socket.gethostname()
DEFAULT_STALE_AFTER = timedelta(minutes=10)


def _database(registry: Registry) -> Database:
    """The registry's database: jobs share its connection pool and its schema migrations."""
    return registry._db


def _state(value: JobState | str) -> JobState:
    """A state from its name, in any case.

    Raises:
        InvalidParameterError: not a state's name.
    """
    try:
        return JobState(str(value).upper())
    except ValueError:
        known = ", ".join(state.value for state in JobState)
        raise InvalidParameterError(
            f"Invalid job state {value!r}: expected one of {known}."
        ) from None


class JobManager:
    """Submit, list, describe, cancel jobs and read their logs.

    Args:
        registry: the registry whose database holds the jobs (and whose models prediction jobs
            use); ``None`` opens one from the environment and closes it with the manager.
        home: the folder holding ``jobs/<job id>/``; default ``$MLENGINE_HOME`` (``~/.mlengine``).
        cancel_grace: seconds between SIGTERM and SIGKILL when a job is cancelled or stopped.
        poll_interval: how often a supervisor checks for a cancel request, seconds.
        heartbeat_interval: how often a supervisor records that it is alive, seconds.
        stale_after: how long a supervisor on another host may stay silent before its jobs
            are taken for dead.
    """

    def __init__(
        self,
        registry: Registry | None = None,
        *,
        home: str | os.PathLike[str] | None = None,
        cancel_grace: float = 10.0,
        poll_interval: float = 0.5,
        heartbeat_interval: float = 30.0,
        stale_after: timedelta = DEFAULT_STALE_AFTER,
    ) -> None:
        self._owned = registry is None
        self.registry = Registry() if registry is None else registry
        self.table = JobTable(_database(self.registry))
        base = home or os.environ.get("MLENGINE_HOME") or "~/.mlengine"
        self.jobs_root = Path(base).expanduser().resolve() / "jobs"
        self.cancel_grace = cancel_grace
        self.poll_interval = poll_interval
        self.heartbeat_interval = heartbeat_interval
        self.stale_after = stale_after

    def close(self) -> None:
        """Close the registry if this manager opened it (running jobs go on)."""
        if self._owned:
            self.registry.close()

    def __enter__(self) -> JobManager:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ submit

    def submit_training(
        self,
        job_id: str,
        module_name: str,
        *,
        package_path: str | None = None,
        job_dir: str | None = None,
        args: Sequence[str] = (),
        workers: int = 1,
        nnodes: int = 1,
        rdzv_endpoint: str | None = None,
        rdzv_timeout: float = specs.DEFAULT_RDZV_TIMEOUT,
        max_running_time: float | None = None,
        labels: Mapping[str, str] | None = None,
        hyperparameters: Mapping[str, Any] | None = None,
        study_name: str | None = None,
    ) -> Job:
        """Run ``python -m MODULE --job-dir DIR ARGS...`` in the background (through torchrun
        when ``workers * nnodes > 1``); returns the QUEUED job.

        ``job_dir`` defaults to ``$MLENGINE_HOME/jobs/<job id>/output``. With
        ``hyperparameters`` (ML Engine's HyperparameterSpec) it is a tuning job: trials run
        with ``--job-dir <job_dir>/<trial id>`` and their ``--name=value`` arguments appended
        (:mod:`mlengine.jobs.hptuning`); ``resumePreviousJobId`` continues that job's study.

        Raises:
            InvalidParameterError: a bad id, module name, path, count, label or spec.
            AlreadyExistsError: a job of that id exists.
            NotFoundError, FailedPreconditionError: the job to resume does not exist, is not a
                tuning job, or still runs.
        """
        validate_job_id(job_id)
        if hyperparameters is not None:
            hyperparameters = check_spec(hyperparameters)  # its errors first
            if study_name is None:
                study_name = self._resumed_study(hyperparameters)
        spec = specs.training_input(
            module_name,
            package_path=package_path,
            job_dir=job_dir or str(self.jobs_root / job_id / "output"),
            args=args,
            workers=workers,
            nnodes=nnodes,
            rdzv_endpoint=rdzv_endpoint,
            rdzv_timeout=rdzv_timeout,
            max_running_time=max_running_time,
            hyperparameters=hyperparameters,
            study_name=study_name,
        )
        return self._submit(job_id, JobKind.TRAINING, spec, labels)

    def _resumed_study(self, spec: Mapping[str, Any]) -> str | None:
        """The study a ``resumePreviousJobId`` continues (None: a new one, the job's id)."""
        previous = spec.get("resumePreviousJobId")
        if previous is None:
            return None
        where = "trainingInput.hyperparameters.resumePreviousJobId"
        try:
            job = self.get_job(previous)
        except NotFoundError:
            raise NotFoundError(f"{where}: job (id={previous}) not found.") from None
        if job.kind is not JobKind.TRAINING or not job.input.get("hyperparameters"):
            raise FailedPreconditionError(
                f"{where}: job (id={previous}) is not a hyperparameter tuning job."
            )
        if not job.state.is_final:
            raise FailedPreconditionError(
                f"{where}: job (id={previous}) is {job.state.value}; cancel it or wait for it "
                "before resuming its study."
            )
        return str(job.input.get("studyName") or previous)

    def submit_prediction(
        self,
        job_id: str,
        *,
        input_paths: Sequence[str],
        output_path: str,
        data_format: str = "json",
        model: str | None = None,
        version: str | int | None = None,
        model_dir: str | None = None,
        batch_size: int = specs.DEFAULT_BATCH_SIZE,
        max_running_time: float | None = None,
        labels: Mapping[str, str] | None = None,
    ) -> Job:
        """Predict every row of ``input_paths`` (globs or URLs; JSON lines, CSV with a header
        row, or Parquet) into JSON-lines shards under ``output_path``; returns the QUEUED job.

        The model is a registered ``model`` (its ``version``, else its default version, pinned
        now) or an export folder ``model_dir``.

        Raises:
            InvalidParameterError: a bad id, format, path or label.
            DataError: an input path that matches no file.
            NotFoundError, FailedPreconditionError: no such model or version, or not READY.
        """
        validate_job_id(job_id)
        spec = specs.prediction_input(
            input_paths=input_paths,
            output_path=output_path,
            data_format=data_format,
            model=model,
            version=None if version is None else str(version),
            model_dir=model_dir,
            batch_size=batch_size,
            max_running_time=max_running_time,
        )
        if model is not None:
            found = (
                self.registry.get_default_version(model)
                if version is None
                else self.registry.get_version(model, version)
            )
            if found.state is not VersionState.READY:
                raise FailedPreconditionError(
                    f"Model version (name={model}, version={found.name}) is "
                    f"{found.state.value}: only a READY version can predict."
                )
            spec["versionName"] = found.name
        if "uri" in spec:
            precheck_export(spec["uri"])
        return self._submit(job_id, JobKind.PREDICTION, spec, labels)

    def submit(self, body: Mapping[str, Any]) -> Job:
        """Submit ML Engine's Job resource (``POST /v1/projects/{p}/jobs``): ``jobId``,
        ``labels`` and ``trainingInput`` or ``predictionInput`` (see
        :func:`mlengine.jobs.requests.parse_job`).

        Paths in it must lie under the registry's allowed origins when it has them (the
        server passes ``MLENGINE_ALLOWED_ORIGINS``).
        """
        kind, job_id, kwargs = parse_job(body)
        allowed = self.registry.allowed_origins
        if allowed is not None:
            for key in ("package_path", "job_dir", "output_path", "model_dir"):
                if kwargs.get(key):
                    check_allowed(specs.local_path(kwargs[key], key), allowed)
            for path in kwargs.get("input_paths", ()):
                check_allowed(specs.local_path(path, "input path"), allowed)
        if kind is JobKind.TRAINING:
            return self.submit_training(job_id, **kwargs)
        return self.submit_prediction(job_id, **kwargs)

    def _submit(
        self, job_id: str, kind: JobKind, spec: dict[str, Any], labels: Mapping[str, str] | None
    ) -> Job:
        clean_labels = validate_labels(labels, f"job {job_id}")
        run_dir = self.jobs_root / job_id
        if run_dir.exists() and any(run_dir.iterdir()):
            try:
                self.table.row(job_id)  # the job exists: the insert below says so
            except NotFoundError:
                raise FailedPreconditionError(
                    f"The folder {run_dir} exists but no job (id={job_id}) does (left by "
                    "another registry database?): remove it or choose another job id."
                ) from None
        me = worker_id()
        self.table.insert(job_id, kind, spec, clean_labels, HOST, str(run_dir), me)
        try:
            run_dir.mkdir(parents=True, exist_ok=True)
            env = dict(os.environ)
            env[DATABASE_ENV] = _database(self.registry).url.render_as_string(hide_password=False)
            env[ARTIFACT_ROOT_ENV] = self.registry.artifact_root
            argv = [sys.executable, "-m", "mlengine.jobs.supervisor", job_id]
            argv += [f"--grace={self.cancel_grace}", f"--poll={self.poll_interval}"]
            argv += [f"--heartbeat={self.heartbeat_interval}"]
            pid = processes.spawn_detached(
                argv, str(run_dir / "supervisor.log"), env, cwd=os.getcwd()
            )
        except (MLEngineError, OSError) as error:
            message = f"The job's supervisor could not start: {' '.join(str(error).split())}"
            self.table.finish(job_id, JobState.FAILED, [JobState.QUEUED], error_message=message)
            raise MLEngineError(f"Job (id={job_id}) FAILED: {message}") from error
        # The supervisor claims the job with its own identity when it starts; until then the
        # row names its pid, so a supervisor that dies before starting is noticed too.
        self.table.update(job_id, ACTIVE_STATES, owner=me, worker=f"{HOST}:{pid}")
        return self.get_job(job_id)

    # -------------------------------------------------------------------- read

    def get_job(self, job_id: str) -> Job:
        """The job, after settling it if its supervisor died.

        Raises:
            InvalidParameterError: a bad job id.  NotFoundError: no such job.
        """
        validate_job_id(job_id)
        row = self.table.row(job_id)
        if JobState(row.state) in ACTIVE_STATES and self._settle(row):
            row = self.table.row(job_id)
        return to_job(row)

    def list_jobs(
        self, states: Collection[JobState | str] | None = None, limit: int | None = None
    ) -> list[Job]:
        """Jobs, newest first, optionally only those in ``states`` (names or JobStates) and at
        most ``limit``; the jobs of dead supervisors are settled first.

        Raises:
            InvalidParameterError: an unknown state or a limit below 1.
        """
        wanted = None if states is None else [_state(state) for state in states]
        if limit is not None:
            limit = specs.positive_int(limit, "limit")
        found = self.table.rows(wanted, limit)
        active = [row for row in found if JobState(row.state) in ACTIVE_STATES]
        if any([self._settle(row) for row in active]):
            found = self.table.rows(wanted, limit)
        return [to_job(row) for row in found]

    def wait(self, job_id: str, timeout: float | None = None, poll: float = 0.2) -> Job:
        """Poll until the job is SUCCEEDED, FAILED or CANCELLED (or ``timeout`` passes)."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if job.state.is_final or (deadline is not None and time.monotonic() > deadline):
                return job
            time.sleep(poll)

    # ------------------------------------------------------------------ cancel

    def cancel_job(self, job_id: str, wait: float | None = None) -> Job:
        """Cancel a job: QUEUED → CANCELLED at once; RUNNING → CANCELLING, after which its
        supervisor sends SIGTERM to the whole process tree, SIGKILL after ``cancel_grace``,
        and records CANCELLED. With ``wait``, poll up to that many seconds for CANCELLED.

        Raises:
            NotFoundError: no such job.
            FailedPreconditionError: the job is already SUCCEEDED, FAILED or CANCELLED.
        """
        job = self.get_job(job_id)
        if job.state is JobState.QUEUED and self.table.finish(
            job_id, JobState.CANCELLED, [JobState.QUEUED]
        ):
            return self.get_job(job_id)
        if not self.table.update(
            job_id, [JobState.QUEUED, JobState.RUNNING], state=JobState.CANCELLING
        ):
            job = self.get_job(job_id)
            if job.state.is_final:
                raise FailedPreconditionError(
                    f"Job (id={job_id}) is already {job.state.value}: only a QUEUED or "
                    "RUNNING job can be cancelled."
                )
        return self.get_job(job_id) if not wait else self.wait(job_id, wait)

    # ------------------------------------------------------------------ tuning

    def trial_export(self, job_id: str, trial_id: str | None = None) -> tuple[str, str]:
        """``(trial id, export folder)`` of a tuning job's best trial (or of ``trial_id``):
        the newest ``<timestamp>/`` export under that trial's job dir.

        Raises:
            NotFoundError: no such job or trial.
            FailedPreconditionError: not a tuning job, no SUCCEEDED trial, or no export.
        """
        job = self.get_job(job_id)
        trials = (job.output or {}).get("trials")
        if not job.input.get("hyperparameters") or trials is None:
            raise FailedPreconditionError(
                f"Job (id={job_id}) is not a hyperparameter tuning job (or has no trials yet)."
            )
        done = [t for t in trials if t.get("state") == "SUCCEEDED" and "finalMetric" in t]
        if trial_id is None:
            if not done:
                raise FailedPreconditionError(f"Job (id={job_id}) has no SUCCEEDED trial.")
            chosen = done[0]  # trials are listed best first
        else:
            found = [t for t in trials if str(t.get("trialId")) == str(trial_id)]
            if not found:
                raise NotFoundError(f"Trial {trial_id} of job (id={job_id}) not found.")
            chosen = found[0]
            if chosen not in done:
                raise FailedPreconditionError(
                    f"Trial {trial_id} of job (id={job_id}) is {chosen.get('state')}, not "
                    "SUCCEEDED."
                )
        owner = job if chosen.get("jobId", job_id) == job_id else self.get_job(chosen["jobId"])
        base = owner.input.get("jobDir") or str(self.jobs_root / owner.job_id / "output")
        trial_dir = os.path.join(str(base), str(chosen["trialId"]))
        exports = [
            folder
            for folder, _dirs, files in os.walk(trial_dir)
            if "saved_model.json" in files and os.path.basename(folder).isdigit()
        ]
        if not exports:
            raise FailedPreconditionError(
                f"Trial {chosen['trialId']} of job (id={job_id}) left no export under "
                f"{trial_dir} (a <timestamp>/ folder holding saved_model.json)."
            )
        newest = max(exports, key=lambda folder: (int(os.path.basename(folder)), folder))
        return str(chosen["trialId"]), newest

    # -------------------------------------------------------------------- logs

    def read_logs(self, job_id: str, tail: int | None = None) -> str:
        """The job's output (stdout and stderr), or its last ``tail`` lines.

        Raises:
            NotFoundError: no such job.
            FailedPreconditionError: the job ran on another host, which holds its logs.
        """
        job = self._local(job_id)
        if tail is not None:
            return logs.tail_lines(job.log_path, max(0, int(tail)))
        return logs.read_all(job.log_path)

    def follow_logs(
        self, job_id: str, poll: float = 0.5, timeout: float | None = None
    ) -> Iterator[str]:
        """Yield the job's output as it is written, until the job is over."""
        job = self._local(job_id)
        return logs.follow(job.log_path, lambda: self.get_job(job_id).state.is_final, poll, timeout)

    def _local(self, job_id: str) -> Job:
        job = self.get_job(job_id)
        if job.host != HOST:
            raise FailedPreconditionError(
                f"Job (id={job_id}) runs on host {job.host}, which holds its logs "
                f"({job.log_path}); read them there."
            )
        return job

    # ---------------------------------------------------------------- recovery

    def _settle(self, row: Row[Any]) -> bool:
        """Mark an active job FAILED if its supervisor is dead; returns whether it did."""
        if not self._dead(row.worker, row.heartbeat_time):
            return False
        killed = ""
        if row.host == HOST and row.process_id and processes.group_alive(row.process_id):
            processes.stop_tree(row.process_id, grace=0.0)
            killed = " Its remaining processes were killed."
        summary = (
            f"The job's supervisor ({row.worker}) stopped without recording the job's "
            f"outcome.{killed}"
        )
        message = error_with_tail(summary, f"{row.run_dir}/output.log")
        return self.table.finish(
            row.job_id, JobState.FAILED, ACTIVE_STATES, owner=row.worker, error_message=message
        )

    def _dead(self, worker: str | None, heartbeat: Any) -> bool:
        """Whether a supervisor is gone: here, by its pid; elsewhere, by its silence."""
        if worker is None or heartbeat is None or now() - heartbeat > self.stale_after:
            return True
        host, _, rest = worker.partition(":")
        pid = rest.partition(":")[0]
        if host != HOST or not pid.isdigit():
            return False
        if int(pid) == os.getpid():
            return worker != worker_id()
        return not processes.pid_alive(int(pid))

    def reap_stale(self) -> list[str]:
        """Settle the active jobs of dead supervisors; returns their ids (a server may call
        this periodically; reads do it anyway)."""
        found = self.table.rows(list(ACTIVE_STATES))
        return [row.job_id for row in found if self._settle(row)]


__all__ = ["DEFAULT_STALE_AFTER", "HOST", "JobManager"]
