"""ML Engine's Job resource (the body of ``POST /v1/projects/{p}/jobs``) → submit arguments.

Fields are ML Engine's (``jobId``, ``labels``, ``trainingInput {pythonModule, args, jobDir,
packageUris, workerCount, scheduling.maxRunningTime, hyperparameters}``, ``predictionInput
{dataFormat, inputPaths, outputPath, modelName, versionName, uri, batchSize}``) plus mlengine's
local ones (``packagePath``, ``nnodes``, ``rdzvEndpoint``, ``rendezvousTimeout``, and
``studyName``: the Optuna study a tuning job's trials join). Cloud-only fields that do not
change what runs here (``region``, ``runtimeVersion``, ``scaleTier``, ...) are accepted and
ignored; an unknown field, or one that asks for something mlengine does not do (TFRecord input,
CSV output), is an error naming it rather than a silent surprise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.jobs import specs
from mlengine.jobs.entities import JobKind
from mlengine.jobs.table import validate_job_id

_CLOUD = {"region", "runtimeVersion", "pythonVersion", "scaleTier", "masterType", "network"}
# ML Engine's TrainingInput fields that choose Cloud machines, images, encryption or tuning.
TRAINING_CLOUD_ONLY = frozenset(
    _CLOUD
    | {"masterConfig", "workerType", "workerConfig", "parameterServerType"}
    | {"parameterServerConfig", "parameterServerCount", "evaluatorType", "evaluatorConfig"}
    | {"evaluatorCount", "encryptionConfig", "serviceAccount"}
    | {"useChiefInTfConfig", "enableWebAccess"}
)
PREDICTION_CLOUD_ONLY = frozenset(_CLOUD | {"maxWorkerCount", "accelerator"})
_TRAINING = {"pythonModule", "packagePath", "packageUris", "args", "jobDir", "workerCount"}
_TRAINING |= {"nnodes", "rdzvEndpoint", "rendezvousTimeout", "scheduling", "hyperparameters"}
_TRAINING |= {"studyName"}
_PREDICTION = {"dataFormat", "inputPaths", "outputPath", "modelName", "versionName", "uri"}
_PREDICTION |= {"batchSize", "scheduling", "signatureName", "outputDataFormat"}


def _check_keys(data: Mapping[str, Any], known: set[str] | frozenset[str], where: str) -> None:
    unknown = sorted(set(data) - known)
    if unknown:
        name = unknown[0] if where == "the job" else f"{where}.{unknown[0]}"
        listed = ", ".join(sorted(known))
        raise InvalidParameterError(f"Unknown field {name!r} in {where}; known: {listed}.")


def cloud_only_fields(body: Mapping[str, Any]) -> list[str]:
    """The paths (``trainingInput.scaleTier``, ...) of a Job resource's fields that only mean
    something on Google Cloud, which :func:`parse_job` accepts and ignores."""
    found = []
    for section, fields in (
        ("trainingInput", TRAINING_CLOUD_ONLY),
        ("predictionInput", PREDICTION_CLOUD_ONLY),
    ):
        data = body.get(section)
        if isinstance(data, Mapping):
            found += [f"{section}.{key}" for key in sorted(data) if key in fields]
    return found


def _text(value: Any, what: str) -> str:
    if not isinstance(value, str) or not value:
        raise InvalidParameterError(f"Invalid {what} {value!r}: expected a non-empty string.")
    return value


def _texts(value: Any, what: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list):
        raise InvalidParameterError(f"Invalid {what} {value!r}: expected a list of strings.")
    return [_text(item, what) for item in value]


def _max_running_time(data: Mapping[str, Any], where: str) -> float | None:
    scheduling = data.get("scheduling")
    if scheduling is None:
        return None
    if not isinstance(scheduling, Mapping):
        raise InvalidParameterError(f"Invalid scheduling {scheduling!r}: expected an object.")
    # maxWaitTime and priority order a Cloud queue: accepted, nothing waits here.
    _check_keys(scheduling, {"maxRunningTime", "maxWaitTime", "priority"}, f"{where}.scheduling")
    value = scheduling.get("maxRunningTime")
    return None if value is None else specs.parse_duration(value, "scheduling.maxRunningTime")


def _training(data: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(data, _TRAINING | TRAINING_CLOUD_ONLY, "trainingInput")
    kwargs: dict[str, Any] = {"module_name": _text(data.get("pythonModule"), "pythonModule")}
    package = data.get("packagePath")
    uris = data.get("packageUris")
    if uris is not None:
        listed = _texts(uris, "packageUris")
        if len(listed) != 1 or package is not None:
            raise InvalidParameterError(
                "packageUris: mlengine takes one local package folder (or use packagePath)."
            )
        package = listed[0]
    if package is not None:
        kwargs["package_path"] = _text(package, "packagePath")
    if data.get("jobDir") is not None:
        kwargs["job_dir"] = _text(data["jobDir"], "jobDir")
    kwargs["args"] = _texts(data.get("args", []), "args")
    kwargs["workers"] = specs.positive_int(data.get("workerCount", 1), "workerCount")
    kwargs["nnodes"] = specs.positive_int(data.get("nnodes", 1), "nnodes")
    if data.get("rdzvEndpoint") is not None:
        kwargs["rdzv_endpoint"] = _text(data["rdzvEndpoint"], "rdzvEndpoint")
    if data.get("rendezvousTimeout") is not None:
        timeout = data["rendezvousTimeout"]
        kwargs["rdzv_timeout"] = specs.parse_duration(timeout, "rendezvousTimeout")
    kwargs["max_running_time"] = _max_running_time(data, "trainingInput")
    if data.get("hyperparameters") is not None:
        kwargs["hyperparameters"] = data["hyperparameters"]  # checked by specs.training_input
    if data.get("studyName") is not None:
        kwargs["study_name"] = _text(data["studyName"], "studyName")
    return kwargs


def _resource_tail(value: str, marker: str) -> str:
    """``m`` from ``projects/p/models/m`` (or ``v`` from ``.../versions/v``), else ``value``."""
    head, sep, tail = value.rpartition(f"/{marker}/")
    return tail if sep and head else value


def _prediction(data: Mapping[str, Any]) -> dict[str, Any]:
    _check_keys(data, _PREDICTION | PREDICTION_CLOUD_ONLY, "predictionInput")
    fmt = _text(data.get("dataFormat", "JSON"), "dataFormat")
    if fmt.upper() in ("TF_RECORD", "TF_RECORD_GZIP"):
        raise NotSupportedError(f"dataFormat {fmt}: mlengine reads JSON, CSV and PARQUET.")
    if str(data.get("outputDataFormat", "JSON")).upper() != "JSON":
        raise NotSupportedError("outputDataFormat: mlengine writes JSON lines only.")
    if str(data.get("signatureName", "serving_default")) not in ("serving_default", "predict"):
        raise NotSupportedError(f"signatureName {data['signatureName']!r}: use serving_default.")
    kwargs: dict[str, Any] = {
        "data_format": fmt,
        "input_paths": _texts(data.get("inputPaths"), "inputPaths"),
        "output_path": _text(data.get("outputPath"), "outputPath"),
        "batch_size": specs.positive_int(
            data.get("batchSize", specs.DEFAULT_BATCH_SIZE), "batchSize"
        ),
        "max_running_time": _max_running_time(data, "predictionInput"),
    }
    model, version = data.get("modelName"), data.get("versionName")
    if version is not None:
        text = _text(version, "versionName")
        if "/versions/" in text and model is None:
            model = text.rpartition("/versions/")[0]
        kwargs["version"] = _resource_tail(text, "versions")
    if model is not None:
        kwargs["model"] = _resource_tail(_text(model, "modelName"), "models")
    if data.get("uri") is not None:
        kwargs["model_dir"] = _text(data["uri"], "uri")
    return kwargs


def parse_job(body: Any) -> tuple[JobKind, str, dict[str, Any]]:
    """``(kind, job id, keyword arguments of submit_training / submit_prediction)``.

    Raises:
        InvalidParameterError: not a Job object, a bad or unknown field, or not exactly one of
            ``trainingInput`` and ``predictionInput``.
        NotSupportedError: a field value mlengine does not implement.
    """
    if not isinstance(body, Mapping):
        raise InvalidParameterError("The request body must be a Job object (JSON).")
    _check_keys(body, {"jobId", "labels", "trainingInput", "predictionInput"}, "the job")
    job_id = validate_job_id(body.get("jobId"))
    training, prediction = body.get("trainingInput"), body.get("predictionInput")
    if (training is None) == (prediction is None):
        raise InvalidParameterError("A job needs exactly one of trainingInput and predictionInput.")
    given = training if training is not None else prediction
    if not isinstance(given, Mapping):
        raise InvalidParameterError("trainingInput / predictionInput must be an object.")
    labels = body.get("labels")
    if training is not None:
        kwargs, kind = _training(training), JobKind.TRAINING
    else:
        kwargs, kind = _prediction(given), JobKind.PREDICTION
    if labels is not None:
        kwargs["labels"] = labels
    return kind, job_id, kwargs


__all__ = ["PREDICTION_CLOUD_ONLY", "TRAINING_CLOUD_ONLY", "cloud_only_fields", "parse_job"]
