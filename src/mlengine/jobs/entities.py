"""The jobs' plain values: :class:`Job`, :class:`JobState` and :class:`JobKind`.

Rows become these frozen dataclasses before the connection closes, as the registry's entities
do, so the CLI and the server never see SQLAlchemy. ``Job.to_json()`` gives ML Engine's Job
resource (``jobId``, ``state``, ``createTime``, ``trainingInput`` | ``predictionInput``,
``trainingOutput`` | ``predictionOutput``, ``errorMessage``), leaving out fields without a value.
As in ML Engine's JSON, int64 fields (``workerCount``, ``batchSize``, ``predictionCount``,
``errorCount``) print as strings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mlengine.registry.entities import format_time


class JobState(enum.StrEnum):
    """ML Engine's job states (``PREPARING`` is folded into ``QUEUED``).

    ``QUEUED`` from submission until the supervisor starts the job's process, ``RUNNING`` while
    it runs, then ``SUCCEEDED`` (exit code 0) or ``FAILED`` (``error_message`` says why);
    ``CANCELLING`` from a cancel request until the process group is gone, then ``CANCELLED``.
    """

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    SUCCEEDED = "SUCCEEDED"
    FAILED = "FAILED"
    CANCELLING = "CANCELLING"
    CANCELLED = "CANCELLED"

    @property
    def is_final(self) -> bool:
        """Whether the job is over (nothing of it runs any more)."""
        return self in FINAL_STATES


FINAL_STATES = frozenset({JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED})
ACTIVE_STATES = frozenset({JobState.QUEUED, JobState.RUNNING, JobState.CANCELLING})


class JobKind(enum.StrEnum):
    """What a job runs: a user's trainer module, or a batch prediction over files."""

    TRAINING = "TRAINING"
    PREDICTION = "PREDICTION"


# Fields that ML Engine's discovery document types as int64, printed as JSON strings.
_INT64_FIELDS = frozenset(
    {"workerCount", "batchSize", "maxWorkerCount", "predictionCount", "errorCount"}
)


def _wire(data: dict[str, Any] | None) -> dict[str, Any] | None:
    if data is None:
        return None
    return {
        key: str(value) if key in _INT64_FIELDS and isinstance(value, int) else value
        for key, value in data.items()
        if value not in (None, "", [], {})
    }


def _prune(data: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if value not in (None, "", {})}


@dataclass(frozen=True)
class Job:
    """One training or batch prediction job and its bookkeeping.

    Attributes:
        job_id: the job's id (ML Engine's ``jobId``): a letter, then letters, digits and ``_``.
        kind: :class:`JobKind`.
        state: :class:`JobState`.
        input: the accepted ``trainingInput`` or ``predictionInput`` (camelCase fields).
        output: ``trainingOutput`` or ``predictionOutput`` once known.
        create_time, start_time, end_time: UTC times; ``None`` until reached.
        error_message: why the job FAILED (the exit status and the last log lines).
        labels: ML Engine labels.
        host, run_dir: where the job runs and its folder there (``output.log``).
        exit_code: the main process's exit status (negative: killed by that signal).
    """

    job_id: str
    kind: JobKind
    state: JobState
    input: dict[str, Any]
    create_time: datetime
    host: str
    run_dir: str
    start_time: datetime | None = None
    end_time: datetime | None = None
    error_message: str | None = None
    output: dict[str, Any] | None = None
    labels: dict[str, str] = field(default_factory=dict)
    exit_code: int | None = None

    @property
    def log_path(self) -> str:
        """The file holding the job's standard output and standard error (on ``host``)."""
        return f"{self.run_dir}/output.log"

    def to_json(self, project: str | None = None) -> dict[str, Any]:
        """ML Engine's Job resource; with ``project``, model and version names are full
        resource names (``projects/p/models/m/versions/v``), as ML Engine prints them."""
        data = dict(self.input)
        if project is not None and self.kind is JobKind.PREDICTION:
            model = data.get("modelName")
            if model:
                data["modelName"] = f"projects/{project}/models/{model}"
                if data.get("versionName"):
                    data["versionName"] = (
                        f"projects/{project}/models/{model}/versions/{data['versionName']}"
                    )
        training = self.kind is JobKind.TRAINING
        return _prune(
            {
                "jobId": self.job_id,
                "labels": self.labels,
                "trainingInput": _wire(data) if training else None,
                "predictionInput": None if training else _wire(data),
                "createTime": format_time(self.create_time),
                "startTime": format_time(self.start_time),
                "endTime": format_time(self.end_time),
                "state": self.state.value,
                "errorMessage": self.error_message,
                "trainingOutput": _wire(self.output) if training else None,
                "predictionOutput": None if training else _wire(self.output),
            }
        )


__all__ = ["ACTIVE_STATES", "FINAL_STATES", "Job", "JobKind", "JobState"]
