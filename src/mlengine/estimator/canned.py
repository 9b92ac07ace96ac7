"""The canned estimators: Linear, DNN, Wide & Deep (DNNLinearCombined) and Baseline.

Each class only validates TensorFlow's constructor arguments and describes its model (a JSON
spec and one optimizer per part); :class:`~mlengine.estimator.estimator.Estimator` does the rest.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from mlengine.errors import InvalidParameterError
from mlengine.estimator.estimator import Estimator
from mlengine.feature_column import FeatureColumn, NumericColumn
from mlengine.feature_column.columns import check_unique_names
from mlengine.model.build import columns_config, dnn_input_columns, linear_input_columns
from mlengine.model.heads import (
    SUM_OVER_BATCH_SIZE,
    Head,
    RegressionHead,
    classification_head,
)
from mlengine.model.networks import activation_name
from mlengine.training.config import RunConfig
from mlengine.training.optimizers import (
    BASELINE_LEARNING_RATE,
    COMBINED_DNN_LEARNING_RATE,
    DNN_LEARNING_RATE,
    LINEAR_LEARNING_RATE,
    OptimizerSpec,
    combined_linear_learning_rate,
    get_optimizer,
)

PathLike = str | os.PathLike[str]


def _columns(owner: str, param: str, columns: Any, *, required: bool) -> list[FeatureColumn] | None:
    if columns is None or (not required and isinstance(columns, Sequence) and not columns):
        if required:
            raise InvalidParameterError(
                f"The {param!r} parameter of {owner} must be a non-empty list of feature "
                "columns. Got None instead."
            )
        return None
    if isinstance(columns, FeatureColumn):
        columns = [columns]
    items = list(columns)
    if not items:
        raise InvalidParameterError(
            f"The {param!r} parameter of {owner} must be a non-empty list of feature columns. "
            "Got [] instead."
        )
    check_unique_names(items, owner)
    return items


def _hidden_units(owner: str, param: str, units: Any) -> list[int]:
    ok = isinstance(units, Sequence) and len(units) > 0
    ok = ok and all(isinstance(u, int) and not isinstance(u, bool) and u > 0 for u in units)
    if not ok:
        raise InvalidParameterError(
            f"The {param!r} parameter of {owner} must be a non-empty list of positive ints. "
            f"Got {units!r} instead."
        )
    return list(units)


def _dropout(owner: str, param: str, dropout: Any) -> float | None:
    if dropout is None:
        return None
    if isinstance(dropout, bool) or not isinstance(dropout, int | float) or not 0 <= dropout < 1:
        raise InvalidParameterError(
            f"The {param!r} parameter of {owner} must be None or a float in [0, 1). "
            f"Got {dropout!r} instead."
        )
    return float(dropout) or None


def _weight_column(owner: str, weight_column: Any) -> str | None:
    if weight_column is None:
        return None
    if isinstance(weight_column, NumericColumn):
        return weight_column.key
    if isinstance(weight_column, str) and weight_column:
        return weight_column
    raise InvalidParameterError(
        f"The 'weight_column' parameter of {owner} must be None, a feature key or a "
        f"numeric_column. Got {weight_column!r} instead."
    )


def _clip(owner: str, value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
        raise InvalidParameterError(
            f"The 'gradient_clip_norm' parameter of {owner} must be None or a positive float. "
            f"Got {value!r} instead."
        )
    return float(value)


def _optimizer(owner: str, param: str, spec: Any, default_learning_rate: float) -> OptimizerSpec:
    return get_optimizer(
        spec, default_learning_rate=default_learning_rate, owner=owner, param=param
    )


class _Canned(Estimator):
    """What every canned estimator stores: a head, its parts' columns and optimizers."""

    _head: Head
    _spec: dict[str, Any]
    _optimizers: dict[str, OptimizerSpec]

    def _setup(
        self,
        *,
        head: Head,
        spec: dict[str, Any],
        optimizers: dict[str, OptimizerSpec],
        model_dir: PathLike | None,
        config: RunConfig | None,
        warm_start_from: str | None,
        weight_column: Any,
        gradient_clip_norm: Any = None,
    ) -> None:
        owner = type(self).__name__
        self._head = head
        self._weight_column = _weight_column(owner, weight_column)
        self._gradient_clip_norm = _clip(owner, gradient_clip_norm)
        self._spec = {
            "estimator": owner,
            "head": head.config(),
            **spec,
            "weight_column": self._weight_column,
        }
        self._optimizers = optimizers
        self._init_run(model_dir, config, warm_start_from)

    def _linear(
        self, head: Head, feature_columns: Any, optimizer: Any, sparse_combiner: str, **run: Any
    ) -> None:
        """Set up a linear model (Linear*): FTRL at TF's LinearClassifier rate by default."""
        owner = type(self).__name__
        columns = _columns(owner, "feature_columns", feature_columns, required=True)
        assert columns is not None
        optimizers = {"linear": _optimizer(owner, "optimizer", optimizer, LINEAR_LEARNING_RATE)}
        self._setup(
            head=head,
            spec=_linear_spec(owner, columns, sparse_combiner),
            optimizers=optimizers,
            **run,
        )

    def _dnn(
        self,
        head: Head,
        hidden_units: Any,
        feature_columns: Any,
        optimizer: Any,
        activation_fn: Any,
        dropout: Any,
        batch_norm: bool,
        **run: Any,
    ) -> None:
        """Set up a feed-forward network (DNN*): Adagrad at TF's DNN rate by default."""
        owner = type(self).__name__
        columns = _columns(owner, "feature_columns", feature_columns, required=True)
        assert columns is not None
        spec = _dnn_spec(owner, columns, hidden_units, activation_fn, dropout, batch_norm)
        optimizers = {"dnn": _optimizer(owner, "optimizer", optimizer, DNN_LEARNING_RATE)}
        self._setup(head=head, spec=spec, optimizers=optimizers, **run)

    def _baseline(self, head: Head, optimizer: Any, **run: Any) -> None:
        """Set up a bias-only model (Baseline*): FTRL at TF's baseline rate by default."""
        owner = type(self).__name__
        optimizers = {"linear": _optimizer(owner, "optimizer", optimizer, BASELINE_LEARNING_RATE)}
        self._setup(head=head, spec={}, optimizers=optimizers, warm_start_from=None, **run)

    def _model_spec(self) -> dict[str, Any]:
        return self._spec

    def _optimizer_specs(self) -> dict[str, OptimizerSpec]:
        return self._optimizers


def _linear_spec(owner: str, columns: list[FeatureColumn], sparse_combiner: str) -> dict[str, Any]:
    linear_input_columns(columns, owner)
    return {
        "linear_feature_columns": columns_config(columns),
        "linear_sparse_combiner": sparse_combiner,
    }


def _dnn_spec(
    owner: str,
    columns: list[FeatureColumn],
    hidden_units: Any,
    activation_fn: Any,
    dropout: Any,
    batch_norm: bool,
    prefix: str = "",
) -> dict[str, Any]:
    return {
        "dnn_feature_columns": columns_config(dnn_input_columns(columns, owner)),
        "dnn_hidden_units": _hidden_units(owner, f"{prefix}hidden_units", hidden_units),
        "dnn_activation_fn": activation_name(activation_fn),
        "dnn_dropout": _dropout(owner, f"{prefix}dropout", dropout),
        "batch_norm": bool(batch_norm),
    }


class LinearClassifier(_Canned):
    """Linear classifier (logistic regression over feature columns), trained with FTRL."""

    def __init__(
        self,
        feature_columns: Sequence[FeatureColumn],
        model_dir: PathLike | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: list[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        warm_start_from: str | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
    ):
        self._linear(
            classification_head(n_classes, label_vocabulary, loss_reduction),
            feature_columns,
            optimizer,
            sparse_combiner,
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
            weight_column=weight_column,
        )


class LinearRegressor(_Canned):
    """Linear regression over feature columns, trained with FTRL."""

    def __init__(
        self,
        feature_columns: Sequence[FeatureColumn],
        model_dir: PathLike | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        warm_start_from: str | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        sparse_combiner: str = "sum",
    ):
        self._linear(
            RegressionHead(label_dimension, loss_reduction),
            feature_columns,
            optimizer,
            sparse_combiner,
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
            weight_column=weight_column,
        )


class DNNClassifier(_Canned):
    """Feed-forward network classifier over dense feature columns, trained with Adagrad."""

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[FeatureColumn],
        model_dir: PathLike | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: list[str] | None = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = "relu",
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: str | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
    ):
        self._dnn(
            classification_head(n_classes, label_vocabulary, loss_reduction),
            hidden_units,
            feature_columns,
            optimizer,
            activation_fn,
            dropout,
            batch_norm,
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
            weight_column=weight_column,
        )


class DNNRegressor(_Canned):
    """Feed-forward network regressor over dense feature columns, trained with Adagrad."""

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[FeatureColumn],
        model_dir: PathLike | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = "relu",
        dropout: float | None = None,
        config: RunConfig | None = None,
        warm_start_from: str | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
    ):
        self._dnn(
            RegressionHead(label_dimension, loss_reduction),
            hidden_units,
            feature_columns,
            optimizer,
            activation_fn,
            dropout,
            batch_norm,
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
            weight_column=weight_column,
        )


class _Combined(_Canned):
    """Wide & Deep: linear logits + DNN logits, each part with its own optimizer."""

    def _combined(
        self,
        head: Head,
        model_dir: PathLike | None,
        linear_feature_columns: Any,
        linear_optimizer: Any,
        dnn_feature_columns: Any,
        dnn_optimizer: Any,
        dnn_hidden_units: Any,
        dnn_activation_fn: Any,
        dnn_dropout: Any,
        weight_column: Any,
        config: RunConfig | None,
        warm_start_from: str | None,
        batch_norm: bool,
        linear_sparse_combiner: str,
        gradient_clip_norm: Any,
    ) -> None:
        owner = type(self).__name__
        linear = _columns(owner, "linear_feature_columns", linear_feature_columns, required=False)
        dnn = _columns(owner, "dnn_feature_columns", dnn_feature_columns, required=False)
        if linear is None and dnn is None:
            raise InvalidParameterError(
                f"{owner}: either linear_feature_columns or dnn_feature_columns must be defined."
            )
        spec: dict[str, Any] = {}
        optimizers: dict[str, OptimizerSpec] = {}
        if linear is not None:
            spec.update(_linear_spec(owner, linear, linear_sparse_combiner))
            optimizers["linear"] = _optimizer(
                owner,
                "linear_optimizer",
                linear_optimizer,
                combined_linear_learning_rate(len(linear)),
            )
        if dnn is not None:
            if dnn_hidden_units is None:
                raise InvalidParameterError(
                    f"{owner}: dnn_hidden_units must be defined when dnn_feature_columns are."
                )
            spec.update(
                _dnn_spec(
                    owner, dnn, dnn_hidden_units, dnn_activation_fn, dnn_dropout, batch_norm, "dnn_"
                )
            )
            optimizers["dnn"] = _optimizer(
                owner, "dnn_optimizer", dnn_optimizer, COMBINED_DNN_LEARNING_RATE
            )
        self._setup(
            head=head,
            spec=spec,
            optimizers=optimizers,
            model_dir=model_dir,
            config=config,
            warm_start_from=warm_start_from,
            weight_column=weight_column,
            gradient_clip_norm=gradient_clip_norm,
        )


class DNNLinearCombinedClassifier(_Combined):
    """Wide & Deep classifier: FTRL on the linear part, Adagrad on the DNN (TF's defaults)."""

    def __init__(
        self,
        model_dir: PathLike | None = None,
        linear_feature_columns: Sequence[FeatureColumn] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[FeatureColumn] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Any = "relu",
        dnn_dropout: float | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: list[str] | None = None,
        config: RunConfig | None = None,
        warm_start_from: str | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
        gradient_clip_norm: float | None = None,
    ):
        self._combined(
            classification_head(n_classes, label_vocabulary, loss_reduction),
            model_dir,
            linear_feature_columns,
            linear_optimizer,
            dnn_feature_columns,
            dnn_optimizer,
            dnn_hidden_units,
            dnn_activation_fn,
            dnn_dropout,
            weight_column,
            config,
            warm_start_from,
            batch_norm,
            linear_sparse_combiner,
            gradient_clip_norm,
        )


class DNNLinearCombinedRegressor(_Combined):
    """Wide & Deep regressor: FTRL on the linear part, Adagrad on the DNN (TF's defaults)."""

    def __init__(
        self,
        model_dir: PathLike | None = None,
        linear_feature_columns: Sequence[FeatureColumn] | None = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Sequence[FeatureColumn] | None = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Sequence[int] | None = None,
        dnn_activation_fn: Any = "relu",
        dnn_dropout: float | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        config: RunConfig | None = None,
        warm_start_from: str | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
        gradient_clip_norm: float | None = None,
    ):
        self._combined(
            RegressionHead(label_dimension, loss_reduction),
            model_dir,
            linear_feature_columns,
            linear_optimizer,
            dnn_feature_columns,
            dnn_optimizer,
            dnn_hidden_units,
            dnn_activation_fn,
            dnn_dropout,
            weight_column,
            config,
            warm_start_from,
            batch_norm,
            linear_sparse_combiner,
            gradient_clip_norm,
        )


class BaselineClassifier(_Canned):
    """Predicts the class prior: a learned bias only (no features)."""

    def __init__(
        self,
        model_dir: PathLike | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: list[str] | None = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
    ):
        self._baseline(
            classification_head(n_classes, label_vocabulary, loss_reduction),
            optimizer,
            model_dir=model_dir,
            config=config,
            weight_column=weight_column,
        )


class BaselineRegressor(_Canned):
    """Predicts the label mean: a learned bias only (no features)."""

    def __init__(
        self,
        model_dir: PathLike | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: RunConfig | None = None,
        loss_reduction: str = SUM_OVER_BATCH_SIZE,
    ):
        self._baseline(
            RegressionHead(label_dimension, loss_reduction),
            optimizer,
            model_dir=model_dir,
            config=config,
            weight_column=weight_column,
        )
