"""The ``cloudml-hypertune`` reporter: a trainer's way to give a tuning trial its metric.

Same class, method and arguments as Google's ``hypertune`` package, and the same file: each
call rewrites ``$CLOUD_ML_HP_METRIC_FILE`` (default ``/tmp/hypertune/output.metrics``) with the
last 100 reports, one JSON object a line (``{"global_step": "1000", "<tag>": "0.87",
"timestamp": ..., "trial": "3"}``). A tuning job gives every trial its own file and reads it, so
a trainer written for ML Engine works unchanged, with either package::

    from mlengine.hypertune import HyperTune      # or: import hypertune; hypertune.HyperTune()

    HyperTune().report_hyperparameter_tuning_metric(
        hyperparameter_metric_tag="auc", metric_value=0.91, global_step=1000)

Standard library only: a trainer imports it at no cost.
"""

from __future__ import annotations

import collections
import json
import os
import time
from typing import Any

DEFAULT_METRIC_TAG = "training/hptuning/metric"
DEFAULT_METRIC_PATH = "/tmp/hypertune/output.metrics"
METRIC_FILE_ENV = "CLOUD_ML_HP_METRIC_FILE"
TRIAL_ID_ENV = "CLOUD_ML_TRIAL_ID"
MAX_ENTRIES = 100  # the reports each rewrite keeps, as cloudml-hypertune


class HyperTune:
    """Reports a trial's hyperparameter tuning metric (cloudml-hypertune's ``HyperTune``)."""

    def __init__(self) -> None:
        self.metric_path = os.environ.get(METRIC_FILE_ENV, DEFAULT_METRIC_PATH)
        folder = os.path.dirname(self.metric_path)
        if folder:
            os.makedirs(folder, exist_ok=True)
        self.trial_id = os.environ.get(TRIAL_ID_ENV, "0")
        self.metrics_queue: collections.deque[dict[str, Any]] = collections.deque(
            maxlen=MAX_ENTRIES
        )

    def report_hyperparameter_tuning_metric(
        self,
        hyperparameter_metric_tag: str | None,
        metric_value: float,
        global_step: int | None = None,
    ) -> None:
        """Record ``metric_value`` under the tag (the spec's ``hyperparameterMetricTag``) at
        ``global_step``; an empty tag means ``training/hptuning/metric``."""
        body = {
            "timestamp": time.time(),
            "trial": str(self.trial_id),
            hyperparameter_metric_tag or DEFAULT_METRIC_TAG: str(float(metric_value)),
            "global_step": str(int(global_step) if global_step else 0),
        }
        self.metrics_queue.append(body)
        # Written whole to a temporary name and renamed, so a reader never sees half a line.
        temporary = f"{self.metric_path}.{os.getpid()}.tmp"
        with open(temporary, "w", encoding="utf-8") as handle:
            for metric in self.metrics_queue:
                handle.write(json.dumps(metric, sort_keys=True) + "\n")
        os.replace(temporary, self.metric_path)


__all__ = [
    "DEFAULT_METRIC_PATH",
    "DEFAULT_METRIC_TAG",
    "MAX_ENTRIES",
    "METRIC_FILE_ENV",
    "TRIAL_ID_ENV",
    "HyperTune",
]
