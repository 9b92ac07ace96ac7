"""``tf.losses`` / ``tf.compat.v1.losses`` for a ``model_fn``, eager on torch.

Same names, arguments and default reduction as TF 1.x: ``weights`` scale each example's loss
(a scalar or one weight per example), and ``reduction`` is one of :class:`Reduction`, by
default ``SUM_BY_NONZERO_WEIGHTS`` (the weighted sum divided by the number of non-zero
weights; with no weights, the mean).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from mlengine.errors import InvalidParameterError


class Reduction:
    """``tf.losses.Reduction``."""

    NONE = "none"
    SUM = "weighted_sum"
    MEAN = "weighted_mean"
    SUM_OVER_BATCH_SIZE = "weighted_sum_over_batch_size"
    SUM_OVER_NONZERO_WEIGHTS = "weighted_sum_by_nonzero_weights"
    SUM_BY_NONZERO_WEIGHTS = SUM_OVER_NONZERO_WEIGHTS

    @classmethod
    def all(cls) -> tuple[str, ...]:
        return (cls.NONE, cls.SUM, cls.MEAN, cls.SUM_OVER_BATCH_SIZE, cls.SUM_BY_NONZERO_WEIGHTS)


def compute_weighted_loss(
    losses: torch.Tensor, weights: Any = 1.0, reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS
) -> torch.Tensor:
    """``tf.losses.compute_weighted_loss``: ``losses * weights`` reduced by ``reduction``."""
    if reduction not in Reduction.all():
        raise InvalidParameterError(
            f"The 'reduction' parameter must be one of {Reduction.all()}. Got {reduction!r}."
        )
    w = torch.as_tensor(weights, dtype=losses.dtype, device=losses.device)
    if w.dim() == 1 and losses.dim() > 1:
        w = w.reshape(-1, *([1] * (losses.dim() - 1)))
    weighted = losses * w
    if reduction == Reduction.NONE:
        return weighted
    total = weighted.sum()
    if reduction == Reduction.SUM:
        return total
    broadcast = w.expand_as(losses)
    if reduction == Reduction.MEAN:
        return total / broadcast.sum().clamp_min(torch.finfo(losses.dtype).tiny)
    if reduction == Reduction.SUM_OVER_BATCH_SIZE:
        return total / losses.numel()
    nonzero = (broadcast != 0).sum()
    return total / nonzero.clamp_min(1)


def sparse_softmax_cross_entropy(
    labels: Any,
    logits: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Softmax cross-entropy of integer class ``labels`` ``[n]`` and ``logits`` ``[n, k]``."""
    ids = torch.as_tensor(labels, device=logits.device).reshape(-1).long()
    losses = F.cross_entropy(logits, ids, reduction="none")
    return compute_weighted_loss(losses, weights, reduction)


def softmax_cross_entropy(
    onehot_labels: Any,
    logits: torch.Tensor,
    weights: Any = 1.0,
    label_smoothing: float = 0.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Softmax cross-entropy of one-hot (or soft) labels ``[n, k]``."""
    target = torch.as_tensor(onehot_labels, dtype=logits.dtype, device=logits.device)
    if label_smoothing:
        k = logits.shape[-1]
        target = target * (1 - label_smoothing) + label_smoothing / k
    losses = -(target * F.log_softmax(logits, dim=-1)).sum(dim=-1)
    return compute_weighted_loss(losses, weights, reduction)


def sigmoid_cross_entropy(
    multi_class_labels: Any,
    logits: torch.Tensor,
    weights: Any = 1.0,
    label_smoothing: float = 0.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Element-wise sigmoid cross-entropy of 0/1 labels and logits of the same shape."""
    target = torch.as_tensor(multi_class_labels, dtype=logits.dtype, device=logits.device)
    target = target.reshape(logits.shape)
    if label_smoothing:
        target = target * (1 - label_smoothing) + 0.5 * label_smoothing
    losses = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
    return compute_weighted_loss(losses, weights, reduction)


def mean_squared_error(
    labels: Any,
    predictions: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Squared error, element-wise."""
    target = torch.as_tensor(labels, dtype=predictions.dtype, device=predictions.device)
    losses = (predictions - target.reshape(predictions.shape)) ** 2
    return compute_weighted_loss(losses, weights, reduction)


def absolute_difference(
    labels: Any,
    predictions: torch.Tensor,
    weights: Any = 1.0,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """Absolute error, element-wise."""
    target = torch.as_tensor(labels, dtype=predictions.dtype, device=predictions.device)
    losses = (predictions - target.reshape(predictions.shape)).abs()
    return compute_weighted_loss(losses, weights, reduction)


def log_loss(
    labels: Any,
    predictions: torch.Tensor,
    weights: Any = 1.0,
    epsilon: float = 1e-7,
    scope: Any = None,
    loss_collection: Any = None,
    reduction: str = Reduction.SUM_BY_NONZERO_WEIGHTS,
) -> torch.Tensor:
    """``-y log(p + eps) - (1 - y) log(1 - p + eps)`` of probabilities ``predictions``."""
    y = torch.as_tensor(labels, dtype=predictions.dtype, device=predictions.device)
    y = y.reshape(predictions.shape)
    losses = -y * torch.log(predictions + epsilon) - (1 - y) * torch.log(1 - predictions + epsilon)
    return compute_weighted_loss(losses, weights, reduction)


__all__ = [
    "Reduction",
    "absolute_difference",
    "compute_weighted_loss",
    "log_loss",
    "mean_squared_error",
    "sigmoid_cross_entropy",
    "softmax_cross_entropy",
    "sparse_softmax_cross_entropy",
]
