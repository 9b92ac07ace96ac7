"""Prometheus metrics of the server, in a registry of its own (``GET /metrics``).

Per model, version and protocol: requests, errors (by HTTP status), instances, and a latency
histogram; per model and version: the sizes of model calls (micro-batching at work, in
instances) and load times and failures; the number of versions in memory. Requests that never
reached a version (unknown model, malformed body) count under empty model and version labels, so
a client cannot grow the label set with made-up names. Every refused request, of any route or
protocol (a 401, a 404 of an unknown path, a gRPC status), counts in
``mlengine_refused_requests_total{protocol, status}``; prediction logging counts its records by
outcome. The process and Python collectors (``process_*``: CPU seconds, resident bytes, open
files; ``python_gc_*``, ``python_info``) describe the process that answers. Names carry their
unit (``_seconds``, ``_instances``, ``_versions``, ``_records``; counters ``_total``).

Under ``mlengine serve --workers N`` (``PROMETHEUS_MULTIPROC_DIR`` set) every worker process
writes its values to files in that directory and the exposition sums them over the workers
(prometheus_client's multiprocess mode): whichever worker answers ``GET /metrics``, it counts
every worker's requests (the process and Python collectors stay that worker's own). A worker
that exits removes its loaded-versions gauge (the supervisor does it for a worker that crashed:
:func:`forget_process`).
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    multiprocess,
)
from prometheus_client.exposition import generate_latest

from mlengine.serving.settings import METRICS_DIR_ENV
from mlengine.serving.statistics import InferenceStatistics

# The process's CPU, memory and file descriptors, Python's collector and version (the
# prometheus_client defaults, registered in the server's own registry too).
_PROCESS_COLLECTORS = (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR)
LATENCY_BUCKETS = (
    0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0,
)  # fmt: skip
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)


class Metrics:
    """The server's counters and histograms; label children are cached per key."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        for collector in _PROCESS_COLLECTORS:
            self.registry.register(collector)
        labels = ["model", "version", "protocol"]
        self.requests = Counter(
            "mlengine_requests", "Prediction requests.", labels, registry=self.registry
        )
        self.errors = Counter(
            "mlengine_request_errors",
            "Prediction requests answered with an error, by HTTP status.",
            [*labels, "status"],
            registry=self.registry,
        )
        self.instances = Counter(
            "mlengine_instances", "Instances predicted.", labels, registry=self.registry
        )
        self.latency = Histogram(
            "mlengine_request_latency_seconds",
            "Time from a prediction request's start to its answer.",
            labels,
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.batch_size = Histogram(
            "mlengine_batch_size_instances",
            "Instances per model call (micro-batches gather concurrent requests).",
            ["model", "version"],
            buckets=BATCH_BUCKETS,
            registry=self.registry,
        )
        self.load_seconds = Histogram(
            "mlengine_version_load_seconds",
            "Time to load and warm a version.",
            ["model", "version"],
            registry=self.registry,
        )
        self.load_failures = Counter(
            "mlengine_version_load_failures",
            "Versions that failed to load.",
            ["model", "version"],
            registry=self.registry,
        )
        self.loaded = Gauge(
            "mlengine_loaded_versions",
            "Versions held in memory (summed over the live workers).",
            registry=self.registry,
            multiprocess_mode="livesum",
        )
        self.refused = Counter(
            "mlengine_refused_requests",
            "Requests answered with an error, of every route and protocol (REST: by HTTP "
            "status; gRPC: by status code name), predictions included.",
            ["protocol", "status"],
            registry=self.registry,
        )
        self.prediction_log = Counter(
            "mlengine_prediction_log_records",
            "Prediction log records, by outcome: written, dropped_queue_full (the writer was "
            "behind), dropped_write_failed (the destination failed).",
            ["outcome"],
            registry=self.registry,
        )
        self._children: dict[tuple[str, str, str], tuple[Counter, Counter, Histogram]] = {}
        # Triton's per-version statistics (this process's own: see mlengine.serving.statistics)
        self.statistics = InferenceStatistics()

    def observe(
        self,
        model: str,
        version: str,
        protocol: str,
        seconds: float,
        status: int,
        instances: int = 0,
    ) -> None:
        """Record one prediction request (called once per request, on the event loop)."""
        key = (model, version, protocol)
        children = self._children.get(key)
        if children is None:
            children = (
                self.requests.labels(*key),
                self.instances.labels(*key),
                self.latency.labels(*key),
            )
            self._children[key] = children
        requests, instances_counter, latency = children
        requests.inc()
        latency.observe(seconds)
        if status >= 400:
            self.errors.labels(model, version, protocol, str(status)).inc()
        elif instances:
            instances_counter.inc(instances)

    def refuse(self, protocol: str, status: str) -> None:
        """Count one refused request (see ``mlengine_refused_requests_total``)."""
        self.refused.labels(protocol, status).inc()

    def count_prediction_log(self, outcome: str, records: int) -> None:
        """Count prediction log records by outcome (from the event loop or the writer)."""
        if records:
            self.prediction_log.labels(outcome).inc(records)

    def batch_observer(self, model: str, version: str) -> Histogram:
        """The batch-size histogram child of one version."""
        return self.batch_size.labels(model, version)

    def exposition(self) -> tuple[bytes, str]:
        """The text exposition format and its content type (every worker's values, summed,
        in multiprocess mode)."""
        directory = os.environ.get(METRICS_DIR_ENV)
        if not directory:
            return generate_latest(self.registry), CONTENT_TYPE_LATEST
        combined = CollectorRegistry()
        multiprocess.MultiProcessCollector(combined, path=directory)
        for collector in _PROCESS_COLLECTORS:
            combined.register(collector)
        return generate_latest(combined), CONTENT_TYPE_LATEST

    def close(self) -> None:
        """In multiprocess mode: this process's live gauges stop counting (it is exiting)."""
        forget_process(os.getpid())


def forget_process(pid: int) -> None:
    """In multiprocess mode: drop the live gauges of a worker that is gone (its counters and
    histograms still count: what it served was served)."""
    directory = os.environ.get(METRICS_DIR_ENV)
    if directory:
        multiprocess.mark_process_dead(pid, path=directory)


__all__ = ["BATCH_BUCKETS", "LATENCY_BUCKETS", "Metrics", "forget_process"]
