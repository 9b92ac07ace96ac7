"""Per-version inference statistics, as Triton's statistics extension reports them
(``GET /v2/models[/{m}[/versions/{v}]]/stats``, gRPC ``ModelStatistics``).

Kept in memory by each server process, beside the Prometheus metrics that sum every worker
(:mod:`mlengine.serving.prometheus`): under ``--workers N`` an answer counts the requests of
the worker that gives it. Durations are nanoseconds, as Triton's are; ``success`` and ``fail``
time whole requests (read, check, queue, model, answer), ``compute_infer`` the model calls.
"""

from __future__ import annotations

import copy
import threading
import time
from dataclasses import dataclass, field
from typing import Any

Key = tuple[str, int]  # (model name, version number)


@dataclass
class _Duration:
    count: int = 0
    ns: int = 0

    def add(self, seconds: float, count: int = 1) -> None:
        self.count += count
        self.ns += int(seconds * 1e9)

    def to_json(self) -> dict[str, int]:
        return {"count": self.count, "ns": self.ns}


@dataclass
class _Counts:
    last_inference: int = 0  # milliseconds since the epoch
    inference_count: int = 0  # instances predicted
    execution_count: int = 0  # model calls (a micro-batch is one)
    success: _Duration = field(default_factory=_Duration)
    fail: _Duration = field(default_factory=_Duration)
    compute_infer: _Duration = field(default_factory=_Duration)
    batches: dict[int, _Duration] = field(default_factory=dict)


class InferenceStatistics:
    """Counts per (model, version number). Requests are recorded on the event loop, model calls
    on the threads that make them: every update takes one lock (uncontended, it costs less
    than a microsecond)."""

    def __init__(self) -> None:
        self._counts: dict[Key, _Counts] = {}
        self._lock = threading.Lock()

    def _of(self, model: str, number: int) -> _Counts:
        counts = self._counts.get((model, number))
        if counts is None:
            counts = self._counts[(model, number)] = _Counts()
        return counts

    def request(self, model: str, number: int, seconds: float, ok: bool, instances: int) -> None:
        """One prediction request answered (``ok``: without an error)."""
        with self._lock:
            counts = self._of(model, number)
            if ok:
                counts.success.add(seconds)
                counts.inference_count += instances
                counts.last_inference = int(time.time() * 1000)
            else:
                counts.fail.add(seconds)

    def execution(self, model: str, number: int, rows: int, seconds: float) -> None:
        """One model call of ``rows`` instances that took ``seconds``."""
        with self._lock:
            counts = self._of(model, number)
            counts.execution_count += 1
            counts.compute_infer.add(seconds)
            counts.batches.setdefault(rows, _Duration()).add(seconds)

    def to_v2(self, versions: list[Key]) -> dict[str, Any]:
        """Triton's statistics answer for these versions (zeros for one never used)."""
        stats = []
        for model, number in versions:
            with self._lock:
                counts = copy.deepcopy(self._counts.get((model, number)) or _Counts())
            zero = _Duration().to_json()
            stats.append(
                {
                    "name": model,
                    "version": str(number),
                    "last_inference": counts.last_inference,
                    "inference_count": counts.inference_count,
                    "execution_count": counts.execution_count,
                    "inference_stats": {
                        "success": counts.success.to_json(),
                        "fail": counts.fail.to_json(),
                        "queue": zero,
                        "compute_input": zero,
                        "compute_infer": counts.compute_infer.to_json(),
                        "compute_output": zero,
                        "cache_hit": zero,
                        "cache_miss": zero,
                    },
                    "batch_stats": [
                        {
                            "batch_size": size,
                            "compute_input": zero,
                            "compute_infer": duration.to_json(),
                            "compute_output": zero,
                        }
                        for size, duration in sorted(counts.batches.items())
                    ],
                }
            )
        return {"model_stats": stats}


__all__ = ["InferenceStatistics"]
