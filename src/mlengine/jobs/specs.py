"""What a job runs: checked ``trainingInput`` / ``predictionInput`` and the command lines.

A job's input is stored as ML Engine's camelCase resource (``pythonModule``, ``args``,
``jobDir``, ``workerCount``; ``dataFormat``, ``inputPaths``, ``outputPath``, ``modelName``,
``versionName``), plus a few local fields (``packagePath``, ``nnodes``, ``rdzvEndpoint``,
``rendezvousTimeout``). Everything a user can get wrong is checked here, at submit time, so a
mistake (a module name with a slash, a package path that is not a folder, input paths that
match nothing) is a clear error and never a job that fails later.
"""

from __future__ import annotations

import json
import os
import re
import sys
from collections.abc import Mapping, Sequence
from typing import Any

from mlengine.errors import InvalidParameterError
from mlengine.jobs.processes import free_port
from mlengine.registry.origins import check_location, is_url
from mlengine.tuning import BATCH_PREDICTION_ROWS

_STUDY_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")
_MODULE_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$")
DATA_FORMATS = {"json": "JSON", "text": "JSON", "csv": "CSV", "parquet": "PARQUET"}
DEFAULT_BATCH_SIZE = BATCH_PREDICTION_ROWS  # a prediction job's batchSize when it names none
DEFAULT_RDZV_TIMEOUT = 60.0
RESULTS_PREFIX = "prediction.results-"


def local_path(value: str, what: str) -> str:
    """An absolute local path (relative paths mean the submitter's working directory); a URL
    as it is. Refused as :func:`~mlengine.registry.origins.check_location` refuses: empty, or
    with NUL or another control character."""
    check_location(value, what)
    return value if is_url(value) else os.path.abspath(os.path.expanduser(value))


def duration(seconds: float) -> str:
    """A protobuf Duration as Google's JSON prints it (``"600s"``, ``"0.5s"``)."""
    return f"{seconds:g}s"


def parse_duration(value: Any, what: str) -> float:
    """Seconds from ``"600s"`` or a number.

    Raises:
        InvalidParameterError: not a positive duration.
    """
    text = str(value).strip()
    number = text[:-1] if text.endswith("s") else text
    try:
        seconds = float(number)
    except ValueError:
        seconds = -1.0
    if not seconds > 0:
        raise InvalidParameterError(f"Invalid {what} {value!r}: expected seconds, like '600s'.")
    return seconds


def positive_int(value: Any, what: str) -> int:
    """An int >= 1 from an int or its decimal string (int64 fields arrive as strings)."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidParameterError(f"Invalid {what} {value!r}: expected an integer >= 1.")
    text = str(value).strip()
    if not text.isdigit() or int(text) < 1:
        raise InvalidParameterError(f"Invalid {what} {value!r}: expected an integer >= 1.")
    return int(text)


def training_input(
    module_name: str,
    *,
    package_path: str | None = None,
    job_dir: str | None,
    args: Sequence[str] = (),
    workers: int = 1,
    nnodes: int = 1,
    rdzv_endpoint: str | None = None,
    rdzv_timeout: float = DEFAULT_RDZV_TIMEOUT,
    max_running_time: float | None = None,
    hyperparameters: Mapping[str, Any] | None = None,
    study_name: str | None = None,
) -> dict[str, Any]:
    """The checked ``trainingInput`` of a training job (``job_dir`` None: the trainer gets no
    ``--job-dir``, as with ``gcloud ml-engine local train`` without one).

    ``hyperparameters`` (ML Engine's HyperparameterSpec) makes it a tuning job, whose trials
    join the Optuna study ``study_name`` (default: the job's id).

    Raises:
        InvalidParameterError: a bad module name, package path, count, endpoint or timeout,
            or a bad hyperparameter spec (naming the key's path).
    """
    if not isinstance(module_name, str) or _MODULE_RE.fullmatch(module_name) is None:
        raise InvalidParameterError(
            f"Invalid module name {module_name!r}: expected a dotted Python module name such "
            "as trainer.task (run as `python -m trainer.task`)."
        )
    spec: dict[str, Any] = {"pythonModule": module_name}
    if package_path is not None:
        path = local_path(package_path, "package path")
        if is_url(path) or not os.path.isdir(path):
            raise InvalidParameterError(f"Package path {package_path!r} is not a local folder.")
        spec["packagePath"] = path
    if isinstance(args, str) or not all(isinstance(arg, str) for arg in args):
        raise InvalidParameterError(f"Invalid trainer args {list(args)!r}: expected strings.")
    workers = positive_int(workers, "worker count")
    nnodes = positive_int(nnodes, "node count")
    if rdzv_endpoint is not None and re.fullmatch(r"[^\s:/]+:\d{1,5}", rdzv_endpoint) is None:
        raise InvalidParameterError(
            f"Invalid rendezvous endpoint {rdzv_endpoint!r}: expected HOST:PORT."
        )
    if not rdzv_timeout > 0:
        raise InvalidParameterError(f"Invalid rendezvous timeout {rdzv_timeout!r}: must be > 0.")
    spec["args"] = list(args)
    if job_dir is not None:
        spec["jobDir"] = local_path(job_dir, "job dir")
    spec.update(scaleTier="CUSTOM" if workers * nnodes > 1 else "BASIC", workerCount=workers)
    if nnodes > 1:
        spec["nnodes"] = nnodes
    if rdzv_endpoint is not None:
        spec["rdzvEndpoint"] = rdzv_endpoint
    if workers * nnodes > 1:
        spec["rendezvousTimeout"] = duration(rdzv_timeout)
    if max_running_time is not None:
        spec["scheduling"] = {
            "maxRunningTime": duration(parse_duration(max_running_time, "maximum running time"))
        }
    if hyperparameters is not None:
        from mlengine.jobs.hyperparameters import check_spec

        spec["hyperparameters"] = check_spec(hyperparameters)
        if study_name is not None:
            if _STUDY_RE.fullmatch(study_name) is None:
                raise InvalidParameterError(
                    f"Invalid studyName {study_name!r}: letters, digits, '_', '-' and '.', "
                    "at most 128."
                )
            spec["studyName"] = study_name
    elif study_name is not None:
        raise InvalidParameterError("studyName needs trainingInput.hyperparameters.")
    return spec


def python_path(spec: Mapping[str, Any], environ: Mapping[str, str]) -> str | None:
    """``PYTHONPATH`` for the trainer: the package path's parent when it *is* the package
    (gcloud's ``--package-path trainer/ --module-name trainer.task``), else the path itself."""
    path = spec.get("packagePath")
    if not path:
        return environ.get("PYTHONPATH")
    top = str(spec["pythonModule"]).split(".", 1)[0]
    entry = os.path.dirname(path.rstrip("/")) if os.path.basename(path.rstrip("/")) == top else path
    return os.pathsep.join(filter(None, [entry, environ.get("PYTHONPATH")]))


def package_root(spec: Mapping[str, Any]) -> str | None:
    """The folder holding the trainer's top package (gcloud runs ``local train`` there, so
    relative paths in the trainer's arguments mean that folder); None without a package path."""
    path = python_path(spec, {})
    return path or None


def training_environment(spec: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, str]:
    """The environment a trainer runs in, as a background job and ``mlengine local train``
    give it: ``environ`` plus unbuffered output, the package on ``PYTHONPATH``, and gcloud's
    ``TF_CONFIG`` naming the job (``job_name``, ``args``; the cluster is torchrun's ``RANK``,
    ``WORLD_SIZE``, ... when there are several processes)."""
    env = dict(environ)
    env["PYTHONUNBUFFERED"] = "1"
    path = python_path(spec, environ)
    if path:
        env["PYTHONPATH"] = path
    env["TF_CONFIG"] = json.dumps(
        {
            "cluster": {},
            "task": {},
            "job": {"job_name": str(spec["pythonModule"]), "args": list(spec.get("args", []))},
            "environment": "cloud",
        }
    )
    return env


def training_command(spec: Mapping[str, Any], job_id: str) -> list[str]:
    """``python -m MODULE --job-dir DIR ARGS...``, through ``torchrun`` for several workers.

    torchrun gets an explicit c10d rendezvous on a free local port (or ``rdzvEndpoint``), no
    restarts, and short join/read timeouts, so a rendezvous that never completes fails the job
    within ``rendezvousTimeout`` instead of hanging.
    """
    target = ["-m", str(spec["pythonModule"])]
    if spec.get("jobDir"):
        target += ["--job-dir", str(spec["jobDir"])]
    target += [str(arg) for arg in spec.get("args", [])]
    workers = int(spec.get("workerCount", 1))
    nnodes = int(spec.get("nnodes", 1))
    if workers * nnodes == 1:
        return [sys.executable, *target]
    timeout = parse_duration(spec.get("rendezvousTimeout", DEFAULT_RDZV_TIMEOUT), "timeout")
    seconds = max(1, round(timeout))
    endpoint = spec.get("rdzvEndpoint") or f"127.0.0.1:{free_port()}"
    return [
        sys.executable,
        "-m",
        "torch.distributed.run",
        f"--nnodes={nnodes}",
        f"--nproc-per-node={workers}",
        "--rdzv-backend=c10d",
        f"--rdzv-endpoint={endpoint}",
        f"--rdzv-id={job_id}",
        f"--rdzv-conf=join_timeout={seconds},read_timeout={seconds},close_timeout={seconds}",
        "--max-restarts=0",
        "--monitor-interval=0.5",
        *target,
    ]


def prediction_input(
    *,
    input_paths: Sequence[str],
    output_path: str,
    data_format: str,
    model: str | None = None,
    version: str | None = None,
    model_dir: str | None = None,
    batch_size: int = DEFAULT_BATCH_SIZE,
    max_running_time: float | None = None,
) -> dict[str, Any]:
    """The checked ``predictionInput`` of a batch prediction job (model resolved later).

    Raises:
        InvalidParameterError: a bad format, batch size, output path, or no model named.
        DataError: an input path that matches no file.
    """
    from mlengine.data.readers import expand_patterns  # pyarrow: only for prediction jobs

    fmt = DATA_FORMATS.get(str(data_format).lower())
    if fmt is None:
        raise InvalidParameterError(
            f"Invalid data format {data_format!r}: expected one of json, csv, parquet."
        )
    if (model is None) == (model_dir is None):
        raise InvalidParameterError("Name exactly one of a model (with a version) or a model dir.")
    if version is not None and model is None:
        raise InvalidParameterError("A version needs its model: give the model too.")
    paths = [local_path(p, "input path") for p in input_paths]
    if not paths:
        raise InvalidParameterError("Give at least one input path (a file, a glob or a URL).")
    for pattern in paths:
        expand_patterns(pattern)  # raises DataError naming a pattern that matches nothing
    out = local_path(output_path, "output path")
    if not is_url(out) and os.path.isfile(out):
        raise InvalidParameterError(f"Output path {output_path!r} is a file, not a folder.")
    if not is_url(out) and os.path.isdir(out):
        taken = sorted(n for n in os.listdir(out) if n.startswith(RESULTS_PREFIX))
        if taken:
            raise InvalidParameterError(
                f"Output path {output_path!r} already holds prediction results ({taken[0]}, "
                "...): choose an empty folder."
            )
    spec: dict[str, Any] = {
        "dataFormat": fmt,
        "inputPaths": paths,
        "outputPath": out,
        "batchSize": positive_int(batch_size, "batch size"),
    }
    if model is not None:
        spec["modelName"] = model
        if version is not None:
            spec["versionName"] = version
    if model_dir is not None:
        spec["uri"] = local_path(model_dir, "model dir")
    if max_running_time is not None:
        spec["scheduling"] = {
            "maxRunningTime": duration(parse_duration(max_running_time, "maximum running time"))
        }
    return spec


def prediction_command(spec: Mapping[str, Any], export_dir: str, run_dir: str) -> list[str]:
    """``python -m mlengine.jobs.batch ...`` for one batch prediction job."""
    return [
        sys.executable,
        "-m",
        "mlengine.jobs.batch",
        f"--export-dir={export_dir}",
        f"--data-format={spec['dataFormat']}",
        f"--output-path={spec['outputPath']}",
        f"--batch-size={spec.get('batchSize', DEFAULT_BATCH_SIZE)}",
        f"--run-dir={run_dir}",
        "--",
        *[str(path) for path in spec["inputPaths"]],
    ]


def max_running_time(spec: Mapping[str, Any]) -> float | None:
    """``scheduling.maxRunningTime`` in seconds, if the job has one."""
    scheduling = spec.get("scheduling") or {}
    value = scheduling.get("maxRunningTime") if isinstance(scheduling, Mapping) else None
    return None if value is None else parse_duration(value, "maxRunningTime")


__all__ = [
    "DATA_FORMATS",
    "DEFAULT_BATCH_SIZE",
    "RESULTS_PREFIX",
    "duration",
    "local_path",
    "max_running_time",
    "package_root",
    "parse_duration",
    "positive_int",
    "prediction_command",
    "prediction_input",
    "python_path",
    "training_command",
    "training_environment",
    "training_input",
]
