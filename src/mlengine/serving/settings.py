"""The server's settings: one frozen dataclass, filled from flags and the environment.

Environment variables (read by :meth:`ServeSettings.from_env`):

* ``MLENGINE_API_TOKEN``: when set, management calls need ``Authorization: Bearer <token>``;
* ``MLENGINE_PROTECT_PREDICT=1``: predictions (and model status/metadata) need it too;
* ``MLENGINE_ALLOWED_ORIGINS``: comma-separated prefixes that versions created through the API
  may be read from (unset: none);
* ``MLENGINE_ALLOWED_HOSTS``: comma-separated names a request's ``Host`` may carry besides
  127.0.0.1, localhost and [::1] (see :mod:`mlengine.serving.guard`).
* ``MLENGINE_ALLOWED_LOG_DESTINATIONS``: comma-separated prefixes (fsspec URLs or folders) that
  request logs set through the API may be written under (unset: none);
* ``MLENGINE_TENSORBOARD_URL``: a TensorBoard the console links to from a version whose model
  directory is known and from a training job (a ``{logdir}`` in it becomes that directory).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from mlengine.errors import InvalidParameterError
from mlengine.jobs.tensorboard import TENSORBOARD_URL_ENV
from mlengine.registry import allowed_origins_from_env
from mlengine.tuning import MAX_BATCH_DELAY_S, MAX_BATCH_ROWS

API_TOKEN_ENV = "MLENGINE_API_TOKEN"
ALLOWED_HOSTS_ENV = "MLENGINE_ALLOWED_HOSTS"
ALLOWED_LOG_DESTINATIONS_ENV = "MLENGINE_ALLOWED_LOG_DESTINATIONS"
ALLOW_TRAINING_JOBS_ENV = "MLENGINE_ALLOW_TRAINING_JOBS"
PROTECT_PREDICT_ENV = "MLENGINE_PROTECT_PREDICT"
# Set by the supervisor of ``--workers``: prometheus_client's multiprocess mode, in which every
# worker writes its metrics to files there (see mlengine.serving.prometheus).
METRICS_DIR_ENV = "PROMETHEUS_MULTIPROC_DIR"

# The longest string feature value a request may carry, in characters (``--max-string-length``):
# a census value has tens, a free-text field a few hundred. Each distinct value may be
# remembered (the model's ValueMemory, bounded in bytes), and this keeps one request's worth of
# them small.
DEFAULT_MAX_STRING_LENGTH = 4096
# ML Engine's online prediction payload limit ("1.5 MB", gcloud's help).
DEFAULT_MAX_BODY_BYTES = 1_572_864
# Instances per model call (why this many: see MAX_BATCH_ROWS in mlengine.tuning).
DEFAULT_MAX_BATCH = MAX_BATCH_ROWS


def allowed_hosts_from_env(environ: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """The names listed in ``MLENGINE_ALLOWED_HOSTS`` (lowercase; empty when unset)."""
    raw = (os.environ if environ is None else environ).get(ALLOWED_HOSTS_ENV, "")
    return tuple(item.strip().lower().rstrip(".") for item in raw.split(",") if item.strip())


def _true(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ServeSettings:
    """How ``mlengine serve`` runs.

    Attributes:
        host, port: where uvicorn listens (127.0.0.1 by default: nothing outside the machine).
        max_loaded_versions: versions kept in memory; the least recently used goes first.
        poll_interval: seconds between registry polls (new defaults, deleted versions).
        max_body_bytes: larger request bodies get 413.
        max_string_length: the longest string feature value a request may carry, in
            characters (after b64 decoding); longer ones get 400 naming feature and instance.
            (Serialized inputs, a tf.Example or a CSV line, are bounded by max_body_bytes.)
        api_token: the bearer token of management calls (``None``: no authentication).
        allow_training_jobs: whether ``POST .../jobs`` accepts training jobs (they run the
            submitted module on this machine); off unless MLENGINE_ALLOW_TRAINING_JOBS=1.
        protect_predict: whether predictions need the token too.
        allowed_origins: prefixes that API-created versions may be read from.
        allowed_hosts: names ``Host`` may carry besides the loopback ones (checked when the
            server listens on a loopback address, or when any is given).
        allowed_log_destinations: prefixes that request logs set through the API may be
            written under.
        max_batch_size: instances per model call; concurrent small requests to one version are
            gathered up to this, larger requests are cut into calls of this size.
        max_batch_delay: seconds a batch may wait until it has as many instances as the
            previous call took (a lone client never waits; 0: gather only requests that arrived
            while the previous call ran). The default: ``MAX_BATCH_DELAY_S`` in
            :mod:`mlengine.tuning`.
        model_threads: threads running model calls in each process (default: one per core).
        workers: server processes sharing the port (each loads its versions; 1: this process).
        grpc_port: the gRPC port (OIP v2 and TF Serving's services; 0: any free port; None:
            no gRPC).
        grpc_reuse_port: whether the gRPC port is shared with SO_REUSEPORT (set for the
            workers of ``--workers N``, whose supervisor reserved it).
        touch_interval: seconds between writes of the versions' last-use times.
        load_retry_interval: seconds before a version that failed to load is tried again.
        graceful_timeout: seconds SIGTERM waits for requests in flight.
        idle_timeout: seconds a connection may stay idle (before its first request, or
            between requests) before it is closed (``--timeout-keep-alive``).
        request_timeout: seconds a request may take to arrive whole from its first byte;
            slower ones get 408 (``--timeout-request``; see
            :mod:`mlengine.serving.connections`).
        access_log: uvicorn's per-request log line (off: it costs throughput).
        log_level: uvicorn's log level.
        tensorboard_url: the TensorBoard the console links to (``None``: no link).
    """

    host: str = "127.0.0.1"
    port: int = 8080
    max_loaded_versions: int = 4
    poll_interval: float = 0.5
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH
    api_token: str | None = None
    protect_predict: bool = False
    allowed_origins: tuple[str, ...] = field(default_factory=tuple)
    allowed_hosts: tuple[str, ...] = field(default_factory=tuple)
    allowed_log_destinations: tuple[str, ...] = field(default_factory=tuple)
    max_batch_size: int = DEFAULT_MAX_BATCH
    max_batch_delay: float = MAX_BATCH_DELAY_S
    model_threads: int = field(default_factory=lambda: max(1, os.cpu_count() or 1))
    workers: int = 1
    grpc_port: int | None = None
    grpc_reuse_port: bool = False
    touch_interval: float = 5.0
    load_retry_interval: float = 30.0
    graceful_timeout: float = 30.0
    idle_timeout: float = 5.0
    request_timeout: float = 30.0
    access_log: bool = False
    log_level: str = "info"
    allow_training_jobs: bool = False
    tensorboard_url: str | None = None

    def __post_init__(self) -> None:
        positive = {
            "max_loaded_versions": self.max_loaded_versions,
            "max_body_bytes": self.max_body_bytes,
            "max_string_length": self.max_string_length,
            "max_batch_size": self.max_batch_size,
            "model_threads": self.model_threads,
            "workers": self.workers,
            "poll_interval": self.poll_interval,
            "touch_interval": self.touch_interval,
            "idle_timeout": self.idle_timeout,
            "request_timeout": self.request_timeout,
        }
        for name, value in positive.items():
            if not value > 0:
                raise InvalidParameterError(
                    f"The {name!r} setting of the server must be positive. Got {value!r} instead."
                )
        if self.max_batch_delay < 0 or self.max_batch_delay > 1:
            raise InvalidParameterError(
                "The 'max_batch_delay' setting must be between 0 and 1 second. "
                f"Got {self.max_batch_delay!r} instead."
            )
        if not 0 <= self.port <= 65535:
            raise InvalidParameterError(f"The 'port' setting must be 0-65535. Got {self.port}.")
        if self.grpc_port is not None and not 0 <= self.grpc_port <= 65535:
            raise InvalidParameterError(
                f"The 'grpc_port' setting must be 0-65535. Got {self.grpc_port}."
            )
        if self.api_token is not None and not self.api_token.strip():
            raise InvalidParameterError(f"{API_TOKEN_ENV} is set but empty.")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> ServeSettings:
        """Settings from ``MLENGINE_*`` variables, then ``overrides`` (flags) on top."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {
            "api_token": env.get(API_TOKEN_ENV) or None,
            "protect_predict": _true(env.get(PROTECT_PREDICT_ENV)),
            "allowed_origins": tuple(allowed_origins_from_env(env)),
            "allowed_hosts": allowed_hosts_from_env(env),
            "allowed_log_destinations": tuple(
                item.strip()
                for item in env.get(ALLOWED_LOG_DESTINATIONS_ENV, "").split(",")
                if item.strip()
            ),
            "allow_training_jobs": _true(env.get(ALLOW_TRAINING_JOBS_ENV)),
            "tensorboard_url": env.get(TENSORBOARD_URL_ENV, "").strip() or None,
        }
        known = {f.name for f in fields(cls)}
        for name, value in overrides.items():
            if name not in known:
                raise InvalidParameterError(f"Unknown server setting {name!r}.")
            if value is not None:
                values[name] = value
        return cls(**values)


__all__ = [
    "ALLOWED_HOSTS_ENV",
    "ALLOWED_LOG_DESTINATIONS_ENV",
    "API_TOKEN_ENV",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_STRING_LENGTH",
    "METRICS_DIR_ENV",
    "PROTECT_PREDICT_ENV",
    "ServeSettings",
    "allowed_hosts_from_env",
]
