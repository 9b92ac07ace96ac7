"""Heads as a public API, with tf.estimator's names and arguments.

The functions are TF 1.x's ``tf.contrib.estimator.*_head``; the classes TF 2.x's
``tf.estimator.*Head``. They return the very head objects the canned estimators use: a head
turns a network's logits into the loss, predictions, evaluation metrics and export signatures,
so a custom ``model_fn`` only builds logits and calls ``head.create_estimator_spec``.

``loss_fn`` (a custom loss callable) is not supported: a head's loss must be one the export
can describe by name.

Example:
    >>> from mlengine import estimator
    >>> head = estimator.binary_classification_head(weight_column="w", thresholds=[0.3])
    >>> head.logits_dimension
    1
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mlengine.errors import NotSupportedError
from mlengine.model.heads import (
    SUM_OVER_BATCH_SIZE,
    BinaryClassHead,
    Head,
    MultiClassHead,
    RegressionHead,
)
from mlengine.model.multi_label import MultiLabelHead
from mlengine.model.regression_heads import LogisticRegressionHead, PoissonRegressionHead


def _no_loss_fn(loss_fn: Any, owner: str) -> None:
    if loss_fn is not None:
        raise NotSupportedError(
            f"{owner}(loss_fn=...) is not supported: a head's loss must be one an export can "
            "name. Compute your own loss in the model_fn and return EstimatorSpec(loss=...)."
        )


def binary_classification_head(
    weight_column: Any = None,
    thresholds: Sequence[float] | None = None,
    label_vocabulary: list[str] | None = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    loss_fn: Any = None,
    name: str | None = None,
) -> BinaryClassHead:
    """Sigmoid cross-entropy over one logit (``tf.contrib.estimator.binary_classification_head``).

    Metrics: TF's binary keys, plus ``accuracy/positive_threshold_<t>``, ``precision/...`` and
    ``recall/...`` for each of ``thresholds``.
    """
    _no_loss_fn(loss_fn, "binary_classification_head")
    return BinaryClassHead(
        label_vocabulary,
        loss_reduction,
        weight_column=weight_column,
        thresholds=thresholds,
        name=name,
    )


def multi_class_head(
    n_classes: int,
    weight_column: Any = None,
    label_vocabulary: list[str] | None = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    loss_fn: Any = None,
    name: str | None = None,
) -> MultiClassHead:
    """Softmax cross-entropy over ``n_classes`` logits
    (``tf.contrib.estimator.multi_class_head``)."""
    _no_loss_fn(loss_fn, "multi_class_head")
    return MultiClassHead(
        n_classes, label_vocabulary, loss_reduction, weight_column=weight_column, name=name
    )


def regression_head(
    weight_column: Any = None,
    label_dimension: int = 1,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    loss_fn: Any = None,
    inverse_link_fn: Any = None,
    name: str | None = None,
) -> RegressionHead:
    """Mean squared error over ``label_dimension`` outputs
    (``tf.contrib.estimator.regression_head``).

    ``inverse_link_fn`` is not supported; use :func:`poisson_regression_head` or
    :func:`logistic_regression_head` for TF's two links.
    """
    _no_loss_fn(loss_fn, "regression_head")
    if inverse_link_fn is not None:
        raise NotSupportedError(
            "regression_head(inverse_link_fn=...) is not supported: use "
            "poisson_regression_head() (exp) or logistic_regression_head() (sigmoid)."
        )
    return RegressionHead(label_dimension, loss_reduction, weight_column=weight_column, name=name)


def multi_label_head(
    n_classes: int,
    weight_column: Any = None,
    thresholds: Sequence[float] | None = None,
    label_vocabulary: list[str] | None = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    loss_fn: Any = None,
    classes_for_class_based_metrics: Any = None,
    name: str | None = None,
) -> MultiLabelHead:
    """Sigmoid cross-entropy per class, any number of classes per example
    (``tf.contrib.estimator.multi_label_head``)."""
    _no_loss_fn(loss_fn, "multi_label_head")
    if classes_for_class_based_metrics:
        raise NotSupportedError(
            "multi_label_head(classes_for_class_based_metrics=...) is not supported."
        )
    return MultiLabelHead(
        n_classes,
        weight_column=weight_column,
        thresholds=thresholds,
        label_vocabulary=label_vocabulary,
        loss_reduction=loss_reduction,
        name=name,
    )


def poisson_regression_head(
    weight_column: Any = None,
    label_dimension: int = 1,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    compute_full_loss: bool = True,
    name: str | None = None,
) -> PoissonRegressionHead:
    """Poisson regression: ``log_poisson_loss``, predictions ``exp(logits)``
    (``tf.contrib.estimator.poisson_regression_head``)."""
    return PoissonRegressionHead(
        label_dimension,
        loss_reduction,
        weight_column=weight_column,
        compute_full_loss=compute_full_loss,
        name=name,
    )


def logistic_regression_head(
    weight_column: Any = None,
    loss_reduction: str = SUM_OVER_BATCH_SIZE,
    name: str | None = None,
) -> LogisticRegressionHead:
    """Regression of labels in [0, 1]: sigmoid cross-entropy, predictions ``sigmoid(logits)``
    (``tf.contrib.estimator.logistic_regression_head``)."""
    return LogisticRegressionHead(loss_reduction, weight_column=weight_column, name=name)


__all__ = [
    "BinaryClassHead",
    "Head",
    "LogisticRegressionHead",
    "MultiClassHead",
    "MultiLabelHead",
    "PoissonRegressionHead",
    "RegressionHead",
    "binary_classification_head",
    "logistic_regression_head",
    "multi_class_head",
    "multi_label_head",
    "poisson_regression_head",
    "regression_head",
]
