"""What a ``model_fn`` returns, with tf.estimator's names: ModeKeys, EstimatorSpec, TrainOp and
the export outputs (``PredictOutput``, ``ClassificationOutput``, ``RegressionOutput``).

Everything runs eagerly: a ``model_fn`` is called once per batch, and ``optimizer.minimize(loss)``
returns a :class:`TrainOp` that the estimator runs after the call (backward, the update, the
global step), as a TF session ran the op the graph held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import torch

from mlengine.errors import InvalidParameterError
from mlengine.training.optimizers import TrainOp


class ModeKeys:
    """tf.estimator.ModeKeys."""

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


MODES = (ModeKeys.TRAIN, ModeKeys.EVAL, ModeKeys.PREDICT)


@dataclass(frozen=True)
class PredictOutput:
    """``tf.estimator.export.PredictOutput``: named tensors of the predict signature."""

    outputs: Mapping[str, torch.Tensor]


@dataclass(frozen=True)
class ClassificationOutput:
    """``tf.estimator.export.ClassificationOutput``: ``scores`` (and ``classes``, strings)."""

    scores: torch.Tensor | None = None
    classes: Any = None


@dataclass(frozen=True)
class RegressionOutput:
    """``tf.estimator.export.RegressionOutput``: one ``value`` per example."""

    value: torch.Tensor


ExportOutput = PredictOutput | ClassificationOutput | RegressionOutput


@dataclass(frozen=True)
class EstimatorSpec:
    """``tf.estimator.EstimatorSpec(mode, predictions, loss, train_op, eval_metric_ops,
    export_outputs)``, checked by the estimator when the ``model_fn`` returns it.

    ``predictions``: a tensor or a dict of tensors, one row per example. ``loss``: a scalar
    tensor (required in TRAIN and EVAL). ``train_op``: what ``optimizer.minimize`` returns
    (required in TRAIN). ``eval_metric_ops``: ``{name: (value, update_op)}`` as the functions
    of :mod:`mlengine.estimator.metrics` return. ``export_outputs``: ``{signature name:
    PredictOutput | ClassificationOutput | RegressionOutput}``.
    """

    mode: str
    predictions: Any = None
    loss: Any = None
    train_op: Any = None
    eval_metric_ops: Mapping[str, Any] | None = None
    export_outputs: Mapping[str, Any] | None = None
    training_chief_hooks: Any = ()
    training_hooks: Any = ()
    scaffold: Any = None
    evaluation_hooks: Any = ()
    prediction_hooks: Any = ()
    # Set by Head.create_estimator_spec: the head and logits the predictions derive from.
    head: Any = field(default=None, repr=False)
    logits: Any = field(default=None, repr=False)
    unreduced_loss: Any = field(default=None, repr=False)
    labels: Any = field(default=None, repr=False)
    weights: Any = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InvalidParameterError(
                f"EstimatorSpec: 'mode' must be one of {MODES} (ModeKeys). Got {self.mode!r}."
            )


__all__ = [
    "ClassificationOutput",
    "EstimatorSpec",
    "ExportOutput",
    "ModeKeys",
    "PredictOutput",
    "RegressionOutput",
    "TrainOp",
]
