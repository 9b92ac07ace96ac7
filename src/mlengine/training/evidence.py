"""Write an export's evidence: what evaluation saw, the run's history, and importances.

Evaluation fills an :class:`EvidenceCollector` as it goes (a confusion matrix, or a
regressor's predictions; a binary head's curves come from the scores its AUC already keeps)
and leaves the result in ``model_dir/last_evaluation.json``; export reads that record (or the
estimator's own in memory), the training history from the run's TensorBoard event files, and
the model's importances where it has them, and writes ``evidence.json``
(:mod:`mlengine.export.evidence` holds its layout and its reader).

Under torchrun a binary head's curves cover every rank's examples (its scores are gathered
for the AUC); a multi-class confusion matrix and a regressor's deciles cover the chief's share.

The cost is kept small: one extra sort of the scores per evaluation (the AUC sorts them too),
a few kilobytes of JSON per evaluation and per export, and one read of the event files per
export.
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import Tensor

from mlengine.errors import ExportFormatError
from mlengine.export.evidence import (
    CALIBRATION_BINS,
    DECILES,
    EVIDENCE_FILE,
    EVIDENCE_FORMAT,
    MAX_BYTES,
    MAX_CLASSES,
    MAX_IMPORTANCES,
    MAX_INSTANCES,
    MAX_KEYS,
    MAX_POINTS,
    MAX_TEXT,
    MEMBER,
    check_evidence,
)
from mlengine.model.heads import Head
from mlengine.training.metrics import curve_points
from mlengine.training.summaries import eval_dir

logger = logging.getLogger("mlengine")

#: The last evaluation of a run, kept in its model_dir for a later export.
LAST_EVALUATION_FILE = "last_evaluation.json"
#: The threshold of a binary head's confusion matrix: its ``class_ids`` (logit > 0).
BINARY_THRESHOLD = 0.5
#: Regression residuals are recorded for one label dimension; rows kept for the deciles.
_NEVER_EVALUATED = (
    "The model was not evaluated before it was exported: call evaluate() (or "
    "train_and_evaluate) before export_saved_model to record its curves."
)


def _round(value: float) -> float:
    """Six significant digits: what a chart needs, at a third of the JSON."""
    return float(f"{value:.6g}")


def _rounded(values: Iterable[float]) -> list[float]:
    return [_round(float(v)) for v in values]


def downsample(n: int, limit: int = MAX_POINTS) -> np.ndarray:
    """Indices of at most ``limit`` of ``n`` points, evenly spread, both ends kept."""
    if n <= limit:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, limit).round().astype(np.int64))


# -- curves --------------------------------------------------------------------------------


def binary_curves(
    logits: Tensor, positive: Tensor, weights: Tensor, labels: Sequence[str]
) -> dict[str, Any]:
    """ROC, precision-recall, calibration and the confusion matrix of a binary head.

    The ROC and PR points are the exact curve behind ``auc`` and ``auc_precision_recall``
    (every distinct score), downsampled; the thresholds are probabilities.
    """
    z = logits.detach().reshape(-1).to("cpu", torch.float64)
    pos = positive.detach().reshape(-1).to("cpu").bool()
    w = weights.detach().reshape(-1).to("cpu", torch.float64)
    if z.numel() == 0:
        return {}
    tp, fp, scores = curve_points(z, pos, w)
    n_pos, n_neg = float(tp[-1]), float(fp[-1])
    p_at = torch.sigmoid(scores)
    # The curve starts at (0, 0) above every score: threshold 1.
    thresholds = torch.cat([torch.ones(1, dtype=torch.float64), p_at]).numpy()
    tp_np, fp_np = tp.numpy(), fp.numpy()
    keep = downsample(len(tp_np))
    tpr = tp_np / n_pos if n_pos > 0 else np.zeros_like(tp_np)
    fpr = fp_np / n_neg if n_neg > 0 else np.zeros_like(fp_np)
    auc = float(np.sum((fpr[1:] - fpr[:-1]) * (tpr[1:] + tpr[:-1])) / 2)
    curves: dict[str, Any] = {
        "roc": {
            "fpr": _rounded(fpr[keep]),
            "tpr": _rounded(tpr[keep]),
            "thresholds": _rounded(thresholds[keep]),
            "auc": _round(auc),
        }
    }
    # Precision is undefined at the origin (nothing predicted positive): the curve starts at
    # the first threshold.
    pr_keep = downsample(len(tp_np) - 1) + 1
    predicted = tp_np[pr_keep] + fp_np[pr_keep]
    precision = np.where(predicted > 0, tp_np[pr_keep] / np.maximum(predicted, 1e-300), 1.0)
    curves["pr"] = {
        "recall": _rounded(tpr[pr_keep]),
        "precision": _rounded(precision),
        "thresholds": _rounded(thresholds[pr_keep]),
    }
    p = torch.sigmoid(z).numpy()
    y = pos.numpy()
    wn = w.numpy()
    bins = np.minimum((p * CALIBRATION_BINS).astype(np.int64), CALIBRATION_BINS - 1)
    counts = np.bincount(bins, minlength=CALIBRATION_BINS)
    weight = np.bincount(bins, weights=wn, minlength=CALIBRATION_BINS)
    predicted_sum = np.bincount(bins, weights=wn * p, minlength=CALIBRATION_BINS)
    positive_sum = np.bincount(bins, weights=wn * y, minlength=CALIBRATION_BINS)
    curves["calibration"] = [
        {
            "lower": _round(b / CALIBRATION_BINS),
            "upper": _round((b + 1) / CALIBRATION_BINS),
            "count": int(counts[b]),
            "mean_predicted": _round(predicted_sum[b] / weight[b]),
            "fraction_positive": _round(positive_sum[b] / weight[b]),
        }
        for b in range(CALIBRATION_BINS)
        if counts[b] > 0 and weight[b] > 0
    ]
    predicted_class = (z > 0).numpy().astype(np.int64)
    matrix = np.bincount(y.astype(np.int64) * 2 + predicted_class, minlength=4).reshape(2, 2)
    curves["confusion"] = {
        "threshold": BINARY_THRESHOLD,
        "labels": [str(v)[:MAX_TEXT] for v in labels],
        "matrix": matrix.tolist(),
    }
    return curves


def _head_labels(head: Head) -> list[str]:
    """A classifier's class names: its label_vocabulary, else "0", "1", ..."""
    return [str(name) for name in getattr(head, "class_names", [])]


def residual_deciles(
    predictions: np.ndarray, labels: np.ndarray, weights: np.ndarray
) -> list[dict[str, Any]]:
    """Mean prediction, label and residual (label - prediction) by decile of the prediction."""
    order = np.argsort(predictions, kind="stable")
    rows = []
    for decile, part in enumerate(np.array_split(order, DECILES), start=1):
        if len(part) == 0:
            continue
        w = weights[part]
        total = w.sum()
        if total <= 0:
            continue
        mean_prediction = float(np.dot(w, predictions[part]) / total)
        mean_label = float(np.dot(w, labels[part]) / total)
        rows.append(
            {
                "decile": decile,
                "count": len(part),
                "mean_prediction": _round(mean_prediction),
                "mean_label": _round(mean_label),
                "mean_residual": _round(mean_label - mean_prediction),
            }
        )
    return rows


class EvidenceCollector:
    """What one evaluation records for the evidence, fed batch by batch beside the metrics.

    A binary head keeps nothing here (its metric state already holds every score); a
    multi-class head a confusion matrix (``n_classes``² counts); a regressor of one label
    dimension its predictions and labels (16 bytes an example, for the deciles). The first
    features seen give the real instances.
    """

    def __init__(self, head: Head, input_names: Iterable[str]):
        self.head = head
        self.input_names = sorted(input_names)
        self.instances: list[dict[str, Any]] = []
        self._seen_features = False
        k = head.logits_dimension
        self._confusion = (
            np.zeros((k, k), dtype=np.int64)
            if head.kind == "multiclass" and k <= MAX_CLASSES
            else None
        )
        self._regression: list[tuple[np.ndarray, np.ndarray, np.ndarray]] | None = (
            [] if head.kind in _REGRESSION_KINDS and k == 1 else None
        )

    def see_features(self, features: Mapping[str, Any]) -> None:
        """Keep the first real instances (called with each raw batch; only the first counts)."""
        if self._seen_features:
            return
        self._seen_features = True
        try:
            self.instances = first_instances(features, self.input_names)
        except Exception as exc:  # noqa: BLE001 - instances are a nicety, never a failure
            logger.debug("No instances recorded for the evidence: %s", exc)

    def update(self, logits: Tensor, labels: Tensor, weights: Tensor | None) -> None:
        """Add one batch (the head's logits and encoded labels)."""
        if self._confusion is None and self._regression is None:
            return
        z = logits.detach().to("cpu", torch.float64)
        n = z.shape[0]
        w = (
            np.ones(n)
            if weights is None
            else weights.detach().reshape(n).to("cpu", torch.float64).numpy()
        )
        if self._confusion is not None:
            k = self._confusion.shape[0]
            y = labels.detach().reshape(n).to("cpu").long().numpy()
            predicted = z.reshape(n, k).argmax(1).numpy()
            valid = (y >= 0) & (y < k)
            self._confusion += np.bincount(
                y[valid] * k + predicted[valid], minlength=k * k
            ).reshape(k, k)
        if self._regression is not None:
            link: Callable[[Tensor], Tensor] | None = getattr(self.head, "inverse_link", None)
            predictions = (link(z) if link is not None else z).reshape(n).numpy()
            y_reg = labels.detach().reshape(n).to("cpu", torch.float64).numpy()
            self._regression.append((predictions, y_reg, w))

    def curves(self, metric_state: Mapping[str, Tensor] | None) -> dict[str, Any]:
        """The curves this evaluation allows (``metric_state``: the head's metric state,
        whose ``scores``/``labels``/``weights`` give a binary head's curves)."""
        if self.head.kind == "binary" and metric_state is not None and "scores" in metric_state:
            return binary_curves(
                metric_state["scores"],
                metric_state["labels"] > 0.5,
                metric_state["weights"],
                _head_labels(self.head),
            )
        if self._confusion is not None:
            return {
                "confusion": {
                    "threshold": None,
                    "labels": [str(v)[:MAX_TEXT] for v in _head_labels(self.head)],
                    "matrix": self._confusion.tolist(),
                }
            }
        if self._regression:
            predictions, labels, weights = (
                np.concatenate(p) for p in zip(*self._regression, strict=True)
            )
            return {"residuals": residual_deciles(predictions, labels, weights)}
        return {}

    def record(
        self,
        metrics: Mapping[str, Any],
        global_step: int,
        metric_state: Mapping[str, Tensor] | None,
    ) -> dict[str, Any]:
        """The evaluation's record: its step, metrics, curves and instances."""
        try:
            curves = self.curves(metric_state)
        except Exception as exc:  # noqa: BLE001 - a curve must never fail an evaluation
            logger.warning("No curves recorded for the evidence: %s", exc)
            curves = {}
        return {
            "global_step": int(global_step),
            "metrics": finite_metrics(metrics),
            "curves": curves,
            "instances": self.instances,
        }


_REGRESSION_KINDS = ("regression", "poisson_regression", "logistic_regression")


def finite_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """The finite numeric metrics (``global_step`` is recorded apart)."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if key == "global_step" or isinstance(value, bool) or len(out) >= MAX_KEYS:
            continue
        if isinstance(value, int | float | np.number) and math.isfinite(float(value)):
            out[str(key)[:MAX_TEXT]] = float(value)
    return out


# -- instances -----------------------------------------------------------------------------


class _Missing(Exception):
    pass


def _head_values(values: Any, n: int) -> list[Any]:
    if hasattr(values, "slice") and hasattr(values, "to_pylist"):  # pyarrow
        return list(values.slice(0, n).to_pylist())
    if hasattr(values, "iloc"):  # pandas
        return list(values.iloc[:n].tolist())
    if isinstance(values, Tensor):
        return list(values[:n].tolist())
    if isinstance(values, np.ndarray):
        return list(values[:n].tolist())
    if isinstance(values, list | tuple):
        return list(values[:n])
    return list(np.asarray(values)[:n].tolist())


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        value = value.strip()
        if len(value) > MAX_TEXT:
            raise _Missing
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _Missing  # None, NaN, or something not JSON: not a clean example


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        values = [_json_scalar(v) for v in value]
        if len(values) > MAX_KEYS:
            raise _Missing
        return values[0] if len(values) == 1 else values
    return _json_scalar(value)


def first_instances(
    features: Mapping[str, Any], input_names: Sequence[str], limit: int = MAX_INSTANCES
) -> list[dict[str, Any]]:
    """Up to ``limit`` complete rows of ``features`` as JSON instances of the model's inputs
    (strings stripped, as serving strips them; rows with a missing value are passed over)."""
    names = [name for name in input_names if name in features][:MAX_KEYS]
    if not names:
        return []
    candidates = limit * 20
    columns = {name: _head_values(features[name], candidates) for name in names}
    rows: list[dict[str, Any]] = []
    for i in range(min(len(values) for values in columns.values())):
        try:
            rows.append({name: _json_value(columns[name][i]) for name in names})
        except _Missing:
            continue
        if len(rows) == limit:
            break
    return rows


# -- the last evaluation, kept in model_dir ----------------------------------------------------


def _write_json_atomically(path: str, data: Any) -> None:
    temp = f"{path}.tmp-{os.getpid()}-{time.time_ns()}"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, allow_nan=False, separators=(",", ":"))
    os.replace(temp, path)


def save_last_evaluation(model_dir: str, record: Mapping[str, Any]) -> None:
    """Keep ``record`` as the run's last evaluation (``model_dir/last_evaluation.json``)."""
    try:
        _write_json_atomically(os.path.join(model_dir, LAST_EVALUATION_FILE), record)
    except (OSError, ValueError) as exc:  # the evaluation itself succeeded
        logger.warning("Could not keep the last evaluation for the evidence: %s", exc)


def load_last_evaluation(model_dir: str) -> dict[str, Any] | None:
    """The run's last evaluation record, or None (none, or unreadable)."""
    path = os.path.join(model_dir, LAST_EVALUATION_FILE)
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


# -- history ---------------------------------------------------------------------------------


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
            [points[i][0], _round(points[i][1])] for i in downsample(len(points))
        ]
    return series


def read_history(model_dir: str) -> dict[str, dict[str, list[list[float]]]]:
    """The run's training and evaluation scalars (``model_dir`` and ``model_dir/eval``)."""
    try:
        return {"train": read_scalars(model_dir), "eval": read_scalars(eval_dir(model_dir))}
    except Exception as exc:  # noqa: BLE001 - damaged event files: no history, still an export
        logger.warning("No training history recorded for the evidence: %s", exc)
        return {"train": {}, "eval": {}}


# -- the evidence ----------------------------------------------------------------------------


def importances_from(values: Mapping[str, float], method: str) -> dict[str, Any] | None:
    """``{"method", "features"}`` from name -> importance (largest first, finite only)."""
    ranked = sorted(
        ((str(name)[:MAX_TEXT], float(value)) for name, value in values.items()),
        key=lambda item: -item[1],
    )
    features = [
        {"name": name, "importance": _round(value)}
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


__all__ = [
    "BINARY_THRESHOLD",
    "LAST_EVALUATION_FILE",
    "MEMBER",
    "EvidenceCollector",
    "binary_curves",
    "build_evidence",
    "downsample",
    "encode_evidence",
    "evidence_member",
    "finite_metrics",
    "first_instances",
    "importances_from",
    "linear_importances",
    "load_last_evaluation",
    "read_history",
    "read_scalars",
    "residual_deciles",
    "save_last_evaluation",
]
