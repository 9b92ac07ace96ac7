"""Each head's evaluation metrics, under tf.estimator's keys: one table, keyed by head kind.

:func:`metrics_for_head` gives the accumulator every evaluation uses (canned and custom
estimators alike). Beyond :mod:`mlengine.training.metrics`' three, this module holds the
multi-label head's (``auc``, ``auc_precision_recall``, ``average_loss`` over every
example-and-class pair, as TF computes them), the per-threshold metrics of heads given
``thresholds`` (``accuracy/positive_threshold_%g``, ``precision/...``, ``recall/...``), and the
regression metrics of heads with an inverse link (Poisson, logistic), which average the
predictions rather than the logits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import Tensor

from mlengine.errors import InvalidParameterError
from mlengine.model.heads import Head
from mlengine.training.metrics import (
    BinaryMetrics,
    MetricKeys,
    MulticlassMetrics,
    RegressionMetrics,
    _Accumulator,
    _divide,
    _to_floats,
    auc_tensors,
)


class HeadMetrics(Protocol):
    """What evaluation needs of an accumulator."""

    def update(
        self, logits: Tensor, labels: Tensor, weights: Tensor | None, losses: Tensor | None
    ) -> None: ...

    def state(self) -> dict[str, Tensor]: ...

    def result(self) -> dict[str, float]: ...

    def result_from_state(self, state: Mapping[str, Tensor]) -> dict[str, float]: ...


def threshold_key(metric: str, threshold: float) -> str:
    """TF's ``MetricKeys.ACCURACY_AT_THRESHOLD`` etc.: ``accuracy/positive_threshold_%g``."""
    return f"{metric}/positive_threshold_{threshold:g}"


class ThresholdMetrics(_Accumulator):
    """Accuracy, precision and recall of probabilities ``> t`` for each threshold ``t``.

    Probabilities and 0/1 labels are flattened (each example's weight broadcast over its
    columns), so one class is a binary head and several a multi-label head, as in TF.
    """

    def __init__(self, thresholds: tuple[float, ...]):
        super().__init__()
        self.thresholds = thresholds
        self.sum_keys = ("weight",) + tuple(
            f"{name}_{i}" for i in range(len(thresholds)) for name in ("correct", "tp", "fp", "fn")
        )

    def _sum_state(self) -> dict[str, Tensor]:
        zero = torch.zeros((), dtype=torch.float64)
        return {key: self._sums.get(key, zero).clone() for key in self.sum_keys}

    def add(self, probabilities: Tensor, labels: Tensor, weights: Tensor) -> None:
        p = probabilities.detach().to(torch.float64).reshape(len(weights), -1)
        positive = labels.detach().reshape(p.shape) > 0.5
        w = weights.to(p.device, torch.float64)[:, None].expand_as(p)
        sums: dict[str, Tensor] = {"weight": w.sum()}
        for i, t in enumerate(self.thresholds):
            predicted = p > t
            sums[f"correct_{i}"] = (w * (predicted == positive)).sum()
            sums[f"tp_{i}"] = (w * (predicted & positive)).sum()
            sums[f"fp_{i}"] = (w * (predicted & ~positive)).sum()
            sums[f"fn_{i}"] = (w * (~predicted & positive)).sum()
        self._add(**sums)

    def results(self, state: Mapping[str, Tensor]) -> dict[str, Tensor]:
        out: dict[str, Tensor] = {}
        for i, t in enumerate(self.thresholds):
            tp, fp, fn = state[f"tp_{i}"], state[f"fp_{i}"], state[f"fn_{i}"]
            out[threshold_key("accuracy", t)] = _divide(state[f"correct_{i}"], state["weight"])
            out[threshold_key("precision", t)] = _divide(tp, tp + fp)
            out[threshold_key("recall", t)] = _divide(tp, tp + fn)
        return out


class _WithThresholds:
    """A head's accumulator plus its per-threshold metrics (state keys ``threshold/...``)."""

    def __init__(self, inner: Any, thresholds: tuple[float, ...], sigmoid: bool):
        self.inner = inner
        self.thresholds = ThresholdMetrics(thresholds)
        self.sigmoid = sigmoid

    def update(
        self, logits: Tensor, labels: Tensor, weights: Tensor | None, losses: Tensor | None
    ) -> None:
        self.inner.update(logits, labels, weights, losses)
        n = logits.shape[0]
        w = torch.ones(n, dtype=torch.float64) if weights is None else weights.reshape(n)
        self.thresholds.add(torch.sigmoid(logits.detach().to(torch.float64)), labels, w)

    def state(self) -> dict[str, Tensor]:
        extra = {f"threshold/{k}": v for k, v in self.thresholds.state().items()}
        return {**self.inner.state(), **extra}

    def result_from_state(self, state: Mapping[str, Tensor]) -> dict[str, float]:
        own = {k: v for k, v in state.items() if not k.startswith("threshold/")}
        result = self.inner.result_from_state(own)
        ours = {k.removeprefix("threshold/"): v for k, v in state.items() if k not in own}
        return {**result, **_to_floats(self.thresholds.results(ours))}

    def result(self) -> dict[str, float]:
        return self.result_from_state(self.state())


class MultiLabelMetrics(_Accumulator):
    """``auc``, ``auc_precision_recall`` (every example-and-class pair, ranked by its
    probability) and ``average_loss`` of a multi-label head."""

    SUM_KEYS = ("loss", "loss_weight")

    def __init__(self, n_classes: int):
        super().__init__()
        self.n_classes = n_classes
        self._records: dict[str, list[Tensor]] = {"scores": [], "labels": [], "weights": []}

    def update(
        self, logits: Tensor, labels: Tensor, weights: Tensor | None, losses: Tensor | None
    ) -> None:
        z = logits.detach().reshape(-1, self.n_classes)
        n = z.shape[0]
        y = labels.detach().reshape(n, self.n_classes).to(z.device, torch.float64)
        w = self._weights(weights, n, z.device)
        if losses is None:
            losses = F.binary_cross_entropy_with_logits(
                z.to(torch.float64), y, reduction="none"
            ).mean(dim=1)
        self._add_loss(losses, w)
        self._records["scores"].append(z.reshape(-1).to(torch.float64))
        self._records["labels"].append((y > 0.5).reshape(-1).to(torch.float32))
        self._records["weights"].append(w[:, None].expand(n, self.n_classes).reshape(-1))

    def state(self) -> dict[str, Tensor]:
        state = self._sum_state()
        for key, parts in self._records.items():
            state[key] = torch.cat(parts) if parts else torch.zeros(0)
        return state

    @classmethod
    def result_from_state(cls, state: Mapping[str, Tensor]) -> dict[str, float]:
        roc, pr = auc_tensors(state["scores"], state["labels"] > 0.5, state["weights"])
        return _to_floats(
            {
                MetricKeys.AUC: roc,
                MetricKeys.AUC_PR: pr,
                MetricKeys.AVERAGE_LOSS: _divide(state["loss"], state["loss_weight"]),
            }
        )


class _LinkedRegressionMetrics(RegressionMetrics):
    """Regression metrics of ``inverse_link(logits)`` (Poisson: exp, logistic: sigmoid)."""

    def __init__(self, head: Any):
        super().__init__(head.logits_dimension)
        self.head = head

    def update(
        self,
        predictions: Tensor,
        labels: Tensor,
        weights: Tensor | None = None,
        losses: Tensor | None = None,
    ) -> None:
        super().update(self.head.inverse_link(predictions.detach()), labels, weights, losses)


def metrics_for_head(head: Head) -> HeadMetrics:
    """A fresh accumulator of ``head``'s metrics (fed logits, encoded labels, weights and the
    head's unreduced losses)."""
    thresholds: tuple[float, ...] = getattr(head, "thresholds", ())
    metrics: Any
    if head.kind == "binary":
        metrics = BinaryMetrics()
    elif head.kind == "multiclass":
        metrics = MulticlassMetrics(head.logits_dimension)
    elif head.kind == "multi_label":
        metrics = MultiLabelMetrics(head.logits_dimension)
    elif head.kind in ("poisson_regression", "logistic_regression"):
        metrics = _LinkedRegressionMetrics(head)
    elif head.kind == "regression":
        metrics = RegressionMetrics(head.logits_dimension)
    else:
        raise InvalidParameterError(f"No metrics are defined for a head of kind {head.kind!r}.")
    if thresholds:
        metrics = _WithThresholds(metrics, thresholds, sigmoid=True)
    return metrics


__all__ = ["HeadMetrics", "MultiLabelMetrics", "ThresholdMetrics", "metrics_for_head"]
