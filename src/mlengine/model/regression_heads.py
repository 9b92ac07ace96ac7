"""Regression heads with an inverse link: Poisson (counts) and logistic (values in [0, 1]).

As tf.estimator's ``PoissonRegressionHead`` and ``LogisticRegressionHead``: the network's
output is a logit (``log(rate)``, or ``log(p / (1 - p))``), the prediction is the inverse link
of it, and the metrics are the regression head's (``average_loss``, ``label/mean``,
``prediction/mean``, the means taken over the predictions, not the logits).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.errors import DataError, located
from mlengine.model.heads import (
    LABEL,
    SUM_OVER_BATCH_SIZE,
    OnnxOutputs,
    PredictionKeys,
    RegressionHead,
    as_float64,
    functional,
    onnx_logits_and,
    stable_sigmoid,
)

if TYPE_CHECKING:
    import torch

    from mlengine.feature_column.onnx_graph import OnnxGraph

_HALF_LOG_2PI = 0.5 * math.log(2 * math.pi)


class PoissonRegressionHead(RegressionHead):
    """``tf.estimator.PoissonRegressionHead``: loss ``tf.nn.log_poisson_loss``, prediction
    ``exp(logits)``.

    The loss of a label ``y`` and logit ``z`` is ``exp(z) - y * z``; with
    ``compute_full_loss`` (TF's default) Stirling's term ``y log y - y + 0.5 log(2 pi y)`` is
    added where ``y > 1``, so the loss is the negative log-likelihood up to rounding.
    """

    kind = "poisson_regression"
    prediction_keys: tuple[str, ...] = (PredictionKeys.LOGITS, PredictionKeys.PREDICTIONS)

    def __init__(
        self,
        label_dimension: int = 1,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        weight_column: Any = None,
        compute_full_loss: bool = True,
        name: str | None = None,
    ):
        super().__init__(label_dimension, loss_reduction, weight_column, name)
        self.compute_full_loss = bool(compute_full_loss)

    def config(self) -> dict[str, Any]:
        return {**super().config(), "compute_full_loss": self.compute_full_loss}

    def encode_labels(self, labels: Any) -> np.ndarray:
        values = super().encode_labels(labels)
        if (values < 0).any():
            row = int(np.flatnonzero((values < 0).any(axis=1))[0])
            error = DataError(
                f"Label of example {row} is negative ({values[row].tolist()}): a Poisson "
                "regression needs counts >= 0."
            )
            reason = "negative: a Poisson regression needs counts >= 0"
            raise located(error, row, LABEL, values[row].tolist(), reason)
        return values

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        import torch

        labels = labels.to(logits.dtype).reshape(logits.shape)
        loss = torch.exp(logits) - labels * logits
        if self.compute_full_loss:
            safe = torch.where(labels > 1, labels, torch.ones_like(labels))
            stirling = safe * torch.log(safe) - safe + 0.5 * torch.log(safe) + _HALF_LOG_2PI
            loss = loss + torch.where(labels > 1, stirling, torch.zeros_like(labels))
        return loss.mean(dim=1)

    def inverse_link(self, logits: torch.Tensor) -> torch.Tensor:
        """``exp(logits)``: the prediction the metrics average."""
        import torch

        return torch.exp(logits)

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        z = as_float64(logits).reshape(-1, self.logits_dimension)
        return {PredictionKeys.LOGITS: z, PredictionKeys.PREDICTIONS: np.exp(z)}

    def onnx_predictions(self, graph: OnnxGraph, logits: str) -> OnnxOutputs:
        return onnx_logits_and(
            graph, logits, self.logits_dimension, PredictionKeys.PREDICTIONS, "Exp"
        )


class LogisticRegressionHead(RegressionHead):
    """``tf.estimator.LogisticRegressionHead``: labels in [0, 1], loss sigmoid cross-entropy,
    prediction ``sigmoid(logits)``; one output (TF's ``label_dimension`` is 1 here too)."""

    kind = "logistic_regression"
    prediction_keys: tuple[str, ...] = (PredictionKeys.LOGITS, PredictionKeys.PREDICTIONS)

    def __init__(
        self,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        weight_column: Any = None,
        name: str | None = None,
    ):
        super().__init__(1, loss_reduction, weight_column, name)

    def config(self) -> dict[str, Any]:
        config = super().config()
        del config["label_dimension"]
        return config

    def encode_labels(self, labels: Any) -> np.ndarray:
        values = super().encode_labels(labels)
        bad = (values < 0) | (values > 1)
        if bad.any():
            row = int(np.flatnonzero(bad.any(axis=1))[0])
            reason = "a logistic regression needs labels in [0, 1]"
            error = DataError(f"Label of example {row} is {values[row, 0]}: {reason}.")
            raise located(error, row, LABEL, float(values[row, 0]), reason)
        return values

    def unreduced_loss(self, logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        labels = labels.to(logits.dtype).reshape(logits.shape)
        return (
            functional()
            .binary_cross_entropy_with_logits(logits, labels, reduction="none")
            .mean(dim=1)
        )

    def inverse_link(self, logits: torch.Tensor) -> torch.Tensor:
        """``sigmoid(logits)``: the prediction the metrics average."""
        import torch

        return torch.sigmoid(logits)

    def predictions(self, logits: torch.Tensor | np.ndarray) -> dict[str, np.ndarray]:
        z = as_float64(logits).reshape(-1, 1)
        return {PredictionKeys.LOGITS: z, PredictionKeys.PREDICTIONS: stable_sigmoid(z)}

    def onnx_predictions(self, graph: OnnxGraph, logits: str) -> OnnxOutputs:
        return onnx_logits_and(graph, logits, 1, PredictionKeys.PREDICTIONS, "Sigmoid")


__all__ = ["LogisticRegressionHead", "PoissonRegressionHead"]
