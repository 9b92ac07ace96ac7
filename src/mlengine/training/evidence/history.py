"""The run's history for the evidence: its training and evaluation scalars, read from the
TensorBoard event files in ``model_dir`` and ``model_dir/eval``, each series downsampled."""

from __future__ import annotations

import logging
import math
import os

from mlengine.export.evidence import MAX_KEYS, MAX_TEXT
from mlengine.training.evidence.curves import downsample, round6
from mlengine.training.summaries import eval_dir

logger = logging.getLogger("mlengine")


def read_scalars(logdir: str) -> dict[str, list[list[float]]]:
    """Every scalar series of the event files directly in ``logdir``, ``[[step, value], ...]``
    by tag (finite values only), each downsampled to :data:`MAX_POINTS` points."""
    if not os.path.isdir(logdir) or not any(
        name.startswith("events.out.tfevents") for name in os.listdir(logdir)
    ):
        return {}
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(logdir, size_guidance={"scalars": 0})
    accumulator.Reload()
    series: dict[str, list[list[float]]] = {}
    for tag in sorted(accumulator.Tags().get("scalars", []))[:MAX_KEYS]:
        by_step: dict[int, float] = {}
        for event in accumulator.Scalars(tag):
            if math.isfinite(event.value) and event.step >= 0:
                by_step[int(event.step)] = float(event.value)  # a resumed run's last word
        points = sorted(by_step.items())
        series[tag[:MAX_TEXT]] = [
            [points[i][0], round6(points[i][1])] for i in downsample(len(points))
        ]
    return series


def read_history(model_dir: str) -> dict[str, dict[str, list[list[float]]]]:
    """The run's training and evaluation scalars (``model_dir`` and ``model_dir/eval``)."""
    try:
        return {"train": read_scalars(model_dir), "eval": read_scalars(eval_dir(model_dir))}
    except Exception as exc:  # noqa: BLE001 - damaged event files: no history, still an export
        logger.warning("No training history recorded for the evidence: %s", exc)
        return {"train": {}, "eval": {}}
