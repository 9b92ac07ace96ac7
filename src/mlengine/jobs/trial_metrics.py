"""A tuning trial's metric: from its evaluation summaries or its cloudml-hypertune reports.

ML Engine read a trial's objective from the TensorBoard summaries its trainer wrote under the
job dir (the tag ``hyperparameterMetricTag``), or from what it reported with
``hypertune.HyperTune().report_hyperparameter_tuning_metric``. Both are read here, reports
first (a trainer that reports chose that value). Summaries come from ``eval`` folders (where
``evaluate`` writes, as tf.estimator), else ``eval_<name>`` ones (named evaluations), else any
event file under the trial's job dir: the first of these that holds the tag. The history
(``[(step, value)]``, in step order) feeds the pruner; its last entry is the trial's final
metric.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator

EVENT_PREFIX = "events.out.tfevents."


def read_reports(path: str, tag: str) -> list[tuple[int, float]]:
    """``(global_step, value)`` of every report of ``tag`` in a hypertune metrics file."""
    try:
        with open(path, encoding="utf-8") as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        try:
            entry = json.loads(line)
            value = float(entry[tag])
            step = int(float(entry.get("global_step") or 0))
        except (ValueError, KeyError, TypeError):
            continue
        found.append((step, value))
    return found


def _event_files(root: str) -> Iterator[str]:
    for folder, _dirs, files in os.walk(root):
        for name in sorted(files):
            if name.startswith(EVENT_PREFIX):
                yield os.path.join(folder, name)


def _scalars(path: str) -> Iterator[tuple[str, int, float]]:
    from tensorboard.backend.event_processing.event_file_loader import LegacyEventFileLoader
    from tensorboard.util import tensor_util

    try:
        for event in LegacyEventFileLoader(path).Load():
            if not event.HasField("summary"):
                continue
            for value in event.summary.value:
                if value.HasField("simple_value"):
                    number = float(value.simple_value)
                elif value.HasField("tensor"):
                    array = tensor_util.make_ndarray(value.tensor)
                    if array.size != 1:
                        continue
                    number = float(array.reshape(()))
                else:
                    continue
                yield value.tag, int(event.step), number
    except (OSError, ValueError):  # a file being written: what was whole so far
        return


def read_summaries(job_dir: str, tag: str) -> tuple[list[tuple[int, float]], set[str]]:
    """``(step, value)`` of ``tag`` in the event files under ``job_dir`` (``eval`` folders
    first), and every scalar tag seen (to name them when the tag is missing)."""
    by_rank: list[list[tuple[int, float]]] = [[], [], []]
    seen: set[str] = set()
    for path in _event_files(job_dir):
        folder = os.path.basename(os.path.dirname(path))
        rank = 0 if folder == "eval" else 1 if folder.startswith("eval_") else 2
        for name, step, value in _scalars(path):
            seen.add(name)
            if name == tag:
                by_rank[rank].append((step, value))
    found = next((values for values in by_rank if values), [])
    # One value per step (the last written), in step order.
    return sorted(dict(found).items()), seen


def metric_history(
    job_dir: str, metrics_file: str, tag: str
) -> tuple[list[tuple[int, float]], set[str]]:
    """The trial's ``(step, value)`` history of ``tag`` (reports, else summaries) and the tags
    its summaries hold."""
    reports = read_reports(metrics_file, tag)
    if reports:
        return sorted(dict(reports).items()), set()
    history, seen = read_summaries(job_dir, tag)
    return history, seen


def final_metric(history: list[tuple[int, float]]) -> tuple[int, float] | None:
    """The last ``(step, value)`` (ML Engine's ``finalMetric``), or ``None``."""
    return history[-1] if history else None


__all__ = ["EVENT_PREFIX", "final_metric", "metric_history", "read_reports", "read_summaries"]
