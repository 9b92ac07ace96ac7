"""``tf.metrics`` for a ``model_fn``: streaming metrics accumulated across evaluation batches.

Each function returns TF's pair ``(value, update_op)``. The ``model_fn`` runs eagerly once per
batch, so calling the function *is* the update: it adds the batch to an accumulator kept by
name for the whole ``evaluate`` (``name`` or the function's name, ``accuracy_1`` for a second
unnamed one in the same call), and ``value`` is read when the evaluation ends. Return the pair
in ``EstimatorSpec(eval_metric_ops={"accuracy": pair})``; ``evaluate`` reports the value under
that key. Sums are float64; ``auc`` is exact (every score kept), as the heads' AUC.
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import torch

from mlengine.errors import InvalidParameterError
from mlengine.estimator.layers import active
from mlengine.training.metrics import auc_tensors


class MetricValue:
    """The running state of one streaming metric; :meth:`result` is its value."""

    def __init__(self, kind: str, curve: str = "ROC"):
        self.kind = kind
        self.curve = curve
        self.total = 0.0
        self.count = 0.0
        self.records: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]] = []

    def add(self, total: torch.Tensor, count: torch.Tensor) -> None:
        self.total += float(total)
        self.count += float(count)

    def result(self) -> float:
        if self.kind == "auc":
            if not self.records:
                return 0.0
            scores, labels, weights = (torch.cat(part) for part in zip(*self.records, strict=True))
            roc, pr = auc_tensors(scores, labels > 0.5, weights)
            return float(pr if self.curve == "PR" else roc)
        value = self.total / self.count if self.count else 0.0
        return math.sqrt(value) if self.kind == "rmse" else value


class MetricOp(NamedTuple):
    """TF's ``(value, update_op)``; both are the accumulator."""

    value: MetricValue
    update_op: MetricValue


def _accumulator(name: str | None, default: str, kind: str, curve: str = "ROC") -> MetricOp:
    context = active(f"metrics.{default}")
    key = context.scoped(name) if name else context.unique(f"metrics/{default}")
    metric = context.metrics.get(key)
    if metric is None:
        metric = context.metrics[key] = MetricValue(kind, curve)
    return MetricOp(metric, metric)


def _weights(weights: Any, like: torch.Tensor) -> torch.Tensor:
    if weights is None:
        return torch.ones_like(like, dtype=torch.float64)
    w = torch.as_tensor(weights, dtype=torch.float64, device=like.device)
    return (
        w.reshape(-1, *([1] * (like.dim() - 1))).expand(like.shape)
        if w.dim()
        else w.expand(like.shape)
    )


def _pair(labels: Any, predictions: Any) -> tuple[torch.Tensor, torch.Tensor]:
    p = torch.as_tensor(predictions).detach().to(torch.float64)
    y = torch.as_tensor(labels, device=p.device).detach().to(torch.float64)
    if y.numel() != p.numel():
        raise InvalidParameterError(
            f"tf.metrics: labels have {y.numel()} values but predictions {p.numel()}."
        )
    return y.reshape(p.shape), p


def _mean_of(values: torch.Tensor, weights: Any, op: MetricOp) -> MetricOp:
    w = _weights(weights, values)
    op.value.add((values * w).sum(), w.sum())
    return op


def mean(values: Any, weights: Any = None, name: str | None = None, **_: Any) -> MetricOp:
    """``tf.metrics.mean``: the weighted mean of every value seen."""
    v = torch.as_tensor(values).detach().to(torch.float64)
    return _mean_of(v, weights, _accumulator(name, "mean", "mean"))


def accuracy(
    labels: Any, predictions: Any, weights: Any = None, name: str | None = None, **_: Any
) -> MetricOp:
    """``tf.metrics.accuracy``: the weighted fraction of ``predictions == labels``."""
    y, p = _pair(labels, predictions)
    return _mean_of((y == p).to(torch.float64), weights, _accumulator(name, "accuracy", "mean"))


def precision(
    labels: Any, predictions: Any, weights: Any = None, name: str | None = None, **_: Any
) -> MetricOp:
    """``tf.metrics.precision`` of boolean (0/1) predictions."""
    y, p = _pair(labels, predictions)
    w = _weights(weights, p)
    op = _accumulator(name, "precision", "mean")
    predicted = p > 0.5
    op.value.add((w * (predicted & (y > 0.5))).sum(), (w * predicted).sum())
    return op


def recall(
    labels: Any, predictions: Any, weights: Any = None, name: str | None = None, **_: Any
) -> MetricOp:
    """``tf.metrics.recall`` of boolean (0/1) predictions."""
    y, p = _pair(labels, predictions)
    w = _weights(weights, p)
    op = _accumulator(name, "recall", "mean")
    positive = y > 0.5
    op.value.add((w * ((p > 0.5) & positive)).sum(), (w * positive).sum())
    return op


def auc(
    labels: Any,
    predictions: Any,
    weights: Any = None,
    num_thresholds: int = 200,
    curve: str = "ROC",
    name: str | None = None,
    summation_method: str = "trapezoidal",
    **_: Any,
) -> MetricOp:
    """``tf.metrics.auc`` of scores in [0, 1]: exact (TF's 200-threshold approximation agrees to
    about 1e-4 on census); ``curve='PR'`` for the precision-recall AUC."""
    if curve not in ("ROC", "PR"):
        raise InvalidParameterError(
            f"tf.metrics.auc: 'curve' must be 'ROC' or 'PR'. Got {curve!r}."
        )
    y, p = _pair(labels, predictions)
    w = _weights(weights, p)
    op = _accumulator(name, "auc", "auc", curve)
    op.value.records.append((p.reshape(-1), y.reshape(-1), w.reshape(-1)))
    return op


def mean_squared_error(
    labels: Any, predictions: Any, weights: Any = None, name: str | None = None, **_: Any
) -> MetricOp:
    """``tf.metrics.mean_squared_error``."""
    y, p = _pair(labels, predictions)
    return _mean_of((p - y) ** 2, weights, _accumulator(name, "mean_squared_error", "mean"))


def root_mean_squared_error(
    labels: Any, predictions: Any, weights: Any = None, name: str | None = None, **_: Any
) -> MetricOp:
    """``tf.metrics.root_mean_squared_error``."""
    y, p = _pair(labels, predictions)
    return _mean_of((p - y) ** 2, weights, _accumulator(name, "root_mean_squared_error", "rmse"))


def mean_absolute_error(
    labels: Any, predictions: Any, weights: Any = None, name: str | None = None, **_: Any
) -> MetricOp:
    """``tf.metrics.mean_absolute_error``."""
    y, p = _pair(labels, predictions)
    return _mean_of((p - y).abs(), weights, _accumulator(name, "mean_absolute_error", "mean"))


def metric_result(op: Any, key: str) -> float:
    """The value of an ``eval_metric_ops`` entry at the end of an evaluation."""
    value = op[0] if isinstance(op, tuple) else op
    if not isinstance(value, MetricValue):
        raise InvalidParameterError(
            f"eval_metric_ops[{key!r}] must be a (value, update_op) pair returned by a "
            f"mlengine.estimator.metrics function. Got {type(value).__name__}."
        )
    return value.result()


__all__ = [
    "MetricOp",
    "MetricValue",
    "accuracy",
    "auc",
    "mean",
    "mean_absolute_error",
    "mean_squared_error",
    "metric_result",
    "precision",
    "recall",
    "root_mean_squared_error",
]
