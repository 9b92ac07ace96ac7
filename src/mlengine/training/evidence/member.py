"""The export's ``evidence`` member: importances, the evidence assembled from the last
evaluation record and the run's history, trimmed to fit its size limit and encoded as checked
JSON (:mod:`mlengine.export.evidence` holds the layout and the reader)."""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import torch

from mlengine.errors import ExportFormatError
from mlengine.export.evidence import (
    EVIDENCE_FILE,
    EVIDENCE_FORMAT,
    MAX_BYTES,
    MAX_IMPORTANCES,
    MAX_TEXT,
    check_evidence,
)
from mlengine.training.evidence.curves import downsample, round6
from mlengine.training.evidence.history import read_history

logger = logging.getLogger("mlengine")

_NEVER_EVALUATED = (
    "The model was not evaluated before it was exported: call evaluate() (or "
    "train_and_evaluate) before export_saved_model to record its curves."
)


def importances_from(values: Mapping[str, float], method: str) -> dict[str, Any] | None:
    """``{"method", "features"}`` from name -> importance (largest first, finite only)."""
    ranked = sorted(
        ((str(name)[:MAX_TEXT], float(value)) for name, value in values.items()),
        key=lambda item: -item[1],
    )
    features = [
        {"name": name, "importance": round6(value)}
        for name, value in ranked
        if math.isfinite(value)
    ]
    return {"method": method, "features": features[:MAX_IMPORTANCES]} if features else None


def linear_importances(model: Any) -> dict[str, Any] | None:
    """A linear model's importances: each column's largest absolute weight (over its buckets
    and, for a multi-class head, its classes). Weights only, not data: a numeric column's
    weight is per unit of its value, so compare numeric columns only on like scales. None for
    a model with a DNN part (its weights say nothing about the deep part).
    """
    transformer, network = model.linear_transformer, model.network
    if transformer is None or model.dnn_transformer is not None or network.linear is None:
        return None
    sparse = network.linear.sparse_weights.detach().abs().to("cpu", torch.float64).numpy()
    dense = network.linear.dense_weights.detach().abs().to("cpu", torch.float64).numpy()
    values: dict[str, float] = {}
    for column, offset in zip(transformer.sparse_columns, transformer.sparse_offsets, strict=True):
        block = sparse[offset : offset + column.num_buckets]
        values[column.name] = float(block.max()) if block.size else 0.0
    start = 0
    for dense_column in transformer.dense_columns:
        block = dense[start : start + dense_column.width]
        values[dense_column.name] = float(block.max()) if block.size else 0.0
        start += dense_column.width
    return importances_from(values, "max_abs_weight")


def build_evidence(
    model_dir: str | None,
    record: Mapping[str, Any] | None,
    importances: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The evidence of an export: ``record`` (the last evaluation, or None), the run's history
    and ``importances``; trimmed to fit :data:`MAX_BYTES` (history first, then instances)."""
    history = read_history(model_dir) if model_dir else {"train": {}, "eval": {}}
    evidence: dict[str, Any] = {
        "format": EVIDENCE_FORMAT,
        "evaluated": record is not None,
        "reason": None if record is not None else _NEVER_EVALUATED,
        "evaluation": None
        if record is None
        else {"global_step": record["global_step"], "metrics": record["metrics"]},
        "curves": dict(record["curves"]) if record is not None else {},
        "history": history,
        "instances": list(record.get("instances", [])) if record is not None else [],
        "importances": importances,
        "model_dir": os.path.abspath(model_dir)[:MAX_TEXT] if model_dir else None,
    }
    return evidence


def encode_evidence(evidence: dict[str, Any]) -> bytes:
    """``evidence`` as checked JSON bytes within :data:`MAX_BYTES`, trimming the history (to
    fewer points, then to the loss alone, then none) and then the instances when it is over."""
    trims: list[Callable[[dict[str, Any]], None]] = [
        lambda e: _thin_history(e, 50),
        lambda e: _thin_history(e, 10),
        lambda e: e.update(history={"train": {}, "eval": {}}),
        lambda e: e.update(instances=[]),
        lambda e: e.update(importances=None),
        lambda e: e.update(curves={}),
    ]
    while True:
        data = json.dumps(evidence, allow_nan=False, separators=(",", ":")).encode("utf-8")
        if len(data) <= MAX_BYTES or not trims:
            break
        trims.pop(0)(evidence)
    check_evidence(json.loads(data))  # what is written is what the reader accepts
    return data


def _thin_history(evidence: dict[str, Any], points: int) -> None:
    for part in evidence["history"].values():
        for tag, series in part.items():
            part[tag] = [series[i] for i in downsample(len(series), points)]


def evidence_member(
    model_dir: str | None,
    record: Mapping[str, Any] | None,
    importances: Mapping[str, Any] | None = None,
) -> tuple[str, bytes, dict[str, Any]] | None:
    """The ``evidence`` member for :func:`mlengine.export.writer.write_export`'s ``members``
    (None, with a warning, if it cannot be made: the export itself goes ahead)."""
    try:
        data = encode_evidence(build_evidence(model_dir, record, importances))
    except (ExportFormatError, ValueError, KeyError, TypeError) as exc:
        logger.warning("The export carries no evidence: %s", exc)
        return None
    return EVIDENCE_FILE, data, {}
