"""The flags gcloud ml-engine accepts that only mean something on Google Cloud, per command.

``mlengine`` accepts each of them where gcloud does, so a script written for gcloud runs as
written, and reports the ones given in one ``WARNING:`` line on standard error. Flags that do
have a local meaning (``--framework``, ``--async``, ``--config``, ``--job-dir``,
``--worker-count``, ``--signature-name``, ...) are ordinary options of their commands instead.
The README's coverage table lists both kinds; ``tests/cli/test_docs.py`` keeps it true.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class CloudFlag:
    """A flag accepted and ignored: its name, whether it takes a value, and its help."""

    name: str
    help: str
    takes_value: bool = True


def _flags(*items: tuple[str, str] | tuple[str, str, bool]) -> tuple[CloudFlag, ...]:
    return tuple(CloudFlag(*item) for item in items)


_REGION = ("--region", "Google Cloud region of the regional endpoint.")
_RUNTIME = ("--runtime-version", "AI Platform runtime version (Cloud ML Engine's TF release).")
_PYTHON = ("--python-version", "Python version of the Cloud runtime.")
_STAGING = ("--staging-bucket", "Cloud Storage bucket to stage local files in.")
_SERVICE_ACCOUNT = ("--service-account", "Service account the Cloud job or version runs as.")
_KMS = tuple(
    (f"--kms-{part}", f"Cloud KMS {part} of the key that encrypts the job.")
    for part in ("key", "keyring", "location", "project")
)
_ROLES = ("master", "worker", "parameter-server")
_ROLE_FLAGS = tuple(
    (f"--{role}-{what}", f"{meaning} of the Cloud {role.replace('-', ' ')} machines.")
    for role in _ROLES
    for what, meaning in (
        ("machine-type", "Machine type"),
        ("accelerator", "Accelerator (type=...,count=...)"),
        ("image-uri", "Container image"),
    )
)

CLOUD_ONLY: Mapping[tuple[str, ...], tuple[CloudFlag, ...]] = {
    ("models", "create"): _flags(
        ("--regions", "Regions the model is deployed in (one; Cloud ML Engine)."),
        _REGION,
        ("--enable-logging", "Log online predictions to Stackdriver.", False),
        ("--enable-console-logging", "Log prediction nodes' stderr/stdout to Stackdriver.", False),
    ),
    ("models", "list"): _flags(_REGION),
    ("models", "describe"): _flags(_REGION),
    ("models", "delete"): _flags(_REGION),
    ("models", "update"): _flags(_REGION),
    ("versions", "create"): _flags(
        _RUNTIME,
        _PYTHON,
        _STAGING,
        ("--machine-type", "Machine type of the Cloud prediction nodes."),
        _SERVICE_ACCOUNT,
        ("--package-uris", "Cloud Storage URIs of custom prediction code packages."),
        ("--prediction-class", "Custom prediction class (Cloud custom prediction routines)."),
        ("--accelerator", "GPU of the Cloud prediction nodes (type=...,count=...)."),
        _REGION,
        ("--explanation-method", "AI Explanations method (integrated-gradients, ...)."),
        ("--num-integral-steps", "Integral steps of AI Explanations."),
        ("--num-paths", "Paths of AI Explanations' sampled Shapley."),
        ("--min-nodes", "Minimum Cloud prediction nodes (autoscaling)."),
        ("--max-nodes", "Maximum Cloud prediction nodes (autoscaling)."),
        ("--metric-targets", "Autoscaling metric targets."),
    ),
    ("versions", "update"): _flags(
        _REGION,
        ("--min-nodes", "Minimum Cloud prediction nodes (autoscaling)."),
        ("--max-nodes", "Maximum Cloud prediction nodes (autoscaling)."),
        ("--bigquery-table-name", "BigQuery table for request-response logging."),
        ("--sampling-percentage", "Share of requests logged to BigQuery."),
    ),
    ("versions", "list"): _flags(_REGION),
    ("versions", "describe"): _flags(_REGION),
    ("versions", "delete"): _flags(_REGION),
    ("versions", "set-default"): _flags(_REGION),
    ("predict",): _flags(_REGION),
    ("local", "train"): _flags(
        ("--parameter-server-count", "Parameter servers (none: PyTorch DDP all-reduces)."),
        ("--evaluator-count", "Evaluator tasks (evaluation runs in the trainer itself)."),
    ),
    ("jobs", "submit", "training"): _flags(
        _REGION,
        _STAGING,
        ("--scale-tier", "Cloud scale tier (basic, standard-1, premium-1, basic-gpu, custom)."),
        _RUNTIME,
        _PYTHON,
        ("--packages", "Extra Python archives to install on the Cloud machines."),
        *_ROLE_FLAGS,
        ("--parameter-server-count", "Parameter servers (none: PyTorch DDP all-reduces)."),
        ("--use-chief-in-tf-config", "Name the master 'chief' in TF_CONFIG."),
        ("--tpu-tf-version", "TensorFlow version of a Cloud TPU."),
        _SERVICE_ACCOUNT,
        ("--network", "VPC network the Cloud job is peered with."),
        *_KMS,
        ("--enable-web-access", "Interactive shell access to the Cloud machines.", False),
        ("--async", "Deprecated in gcloud: jobs are submitted without waiting anyway.", False),
    ),
    ("jobs", "submit", "prediction"): _flags(
        _REGION,
        _RUNTIME,
        ("--max-worker-count", "Maximum Cloud workers of the batch prediction."),
    ),
    ("jobs", "stream-logs"): _flags(
        ("--task-name", "Only this Cloud task's logs (a local job has one log)."),
        ("--allow-multiline-logs", "Multi-line log records (local logs are printed raw).", False),
    ),
}


__all__ = ["CLOUD_ONLY", "CloudFlag"]
