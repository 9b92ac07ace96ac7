"""Where TensorBoard should look: a training job's directory, or the run behind a version.

Training writes tf.estimator's event files into its ``model_dir`` (``loss``, ``global_step/sec``
there; every evaluation metric in ``model_dir/eval``), so ``tensorboard --logdir <model_dir>``
shows the run. This module finds that directory for what the user names:

* a training job: its ``jobDir`` (TensorBoard reads the folders under it, where trainers keep
  their model_dir), else the trainer's own ``--model-dir``/``--model_dir`` argument when it is
  an absolute path;
* a model version: the ``model_dir`` its export's evidence recorded at export time
  (:mod:`mlengine.export.evidence`), if the export has evidence and the folder still exists.

:func:`tensorboard_link` is what the console shows beside a version or a job: the folder, the
command that serves it, and a URL when ``MLENGINE_TENSORBOARD_URL`` names a running TensorBoard.
"""

from __future__ import annotations

import os
import shlex
import sys
from typing import Any

from mlengine.errors import ExportFormatError
from mlengine.export.evidence import read_evidence
from mlengine.jobs.entities import Job, JobKind
from mlengine.registry import Registry

#: A TensorBoard already serving the runs (``http://127.0.0.1:6006``), linked from the console.
TENSORBOARD_URL_ENV = "MLENGINE_TENSORBOARD_URL"
#: TensorBoard's own default port.
DEFAULT_PORT = 6006
_MODEL_DIR_FLAGS = ("--model-dir", "--model_dir")


def job_logdir(job: Job) -> str | None:
    """The folder holding a training job's event files, or None when it is not known."""
    if job.kind is not JobKind.TRAINING:
        return None
    job_dir = job.input.get("jobDir")
    if isinstance(job_dir, str) and job_dir:
        return job_dir
    args = [str(a) for a in job.input.get("args") or []]
    for i, arg in enumerate(args):
        for flag in _MODEL_DIR_FLAGS:
            value = None
            if arg == flag and i + 1 < len(args):
                value = args[i + 1]
            elif arg.startswith(f"{flag}="):
                value = arg.split("=", 1)[1]
            if value and os.path.isabs(value):
                return value
    return None


def export_logdir(export_dir: str | os.PathLike[str]) -> str | None:
    """The model_dir an export's evidence recorded, if it still exists here; None otherwise
    (no evidence, damaged evidence, a run from another machine)."""
    try:
        evidence = read_evidence(export_dir)
    except ExportFormatError:
        return None
    if evidence is None or evidence.model_dir is None:
        return None
    return evidence.model_dir if os.path.isdir(evidence.model_dir) else None


def version_logdir(registry: Registry, model: str, version: str | int | None = None) -> str | None:
    """The training run behind a READY version (the default when ``version`` is None)."""
    return export_logdir(registry.export_dir(model, version))


def tensorboard_argv(logdir: str, host: str = "127.0.0.1", port: int = DEFAULT_PORT) -> list[str]:
    """The command that serves ``logdir`` with the tensorboard package mlengine depends on."""
    return [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        logdir,
        "--host",
        host,
        "--port",
        str(port),
    ]


def tensorboard_link(logdir: str | None) -> dict[str, Any] | None:
    """``{"logdir", "command", "url"}`` for a console page (``url`` None unless
    ``MLENGINE_TENSORBOARD_URL`` is set); None when the folder is not known."""
    if logdir is None:
        return None
    url = os.environ.get(TENSORBOARD_URL_ENV) or None
    return {
        "logdir": logdir,
        "command": f"tensorboard --logdir {shlex.quote(logdir)}",
        "url": url,
    }


__all__ = [
    "DEFAULT_PORT",
    "TENSORBOARD_URL_ENV",
    "export_logdir",
    "job_logdir",
    "tensorboard_argv",
    "tensorboard_link",
    "version_logdir",
]
