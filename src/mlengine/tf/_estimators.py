"""``tf.estimator`` (TF 2) and ``tf.compat.v1.estimator`` (TF 1): mlengine's canned estimators
under TensorFlow's names, with each era's defaults, and the optimizers of both eras.

The TF 2 classes are mlengine's (``loss_reduction=SUM_OVER_BATCH_SIZE``: the loss is the batch
mean). The TF 1 classes take TF 1's constructor signatures, partitioners included (accepted,
ignored: there are no parameter servers), and default to ``loss_reduction=SUM``: the training
loss, the ``loss`` of ``evaluate`` and anything compared with them (``BestExporter``) are batch
sums, as TF 1 reported them. Both accept ``tf.nn`` activations and return export paths that
also ``decode()``, as TensorFlow's bytes did.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Sequence
from typing import Any

from mlengine import estimator as _mle
from mlengine.errors import NotSupportedError
from mlengine.estimator.custom import CustomEstimator
from mlengine.model.heads import SUM, SUM_OVER_BATCH_SIZE
from mlengine.tf import dtypes
from mlengine.tf._namespace import stub
from mlengine.tf.nn import activation_name
from mlengine.training import optimizers as _opt

logger = logging.getLogger("mlengine")


class ExportPath(str):
    """An export's path: a ``str`` that also ``decode()``s, as TF's bytes did."""

    def decode(self, encoding: str = "utf-8", errors: str = "strict") -> str:
        return str(self)


class TruncatedNormal:
    """``tf.compat.v1.truncated_normal_initializer`` / ``tf.keras.initializers.TruncatedNormal``
    for ``embedding_column(initializer=...)``: mlengine's tables take the stddev (mean 0)."""

    def __init__(
        self, mean: float = 0.0, stddev: float = 1.0, seed: Any = None, dtype: Any = None
    ) -> None:
        if mean != 0.0:
            raise NotSupportedError("truncated_normal_initializer(mean != 0) is not supported.")
        self.stddev = float(stddev)


def _translate(value: Any) -> Any:
    """A TF object as mlengine takes it: tf.nn activations and dtypes by name, a truncated
    normal initializer by its stddev."""
    value = activation_name(value)
    if isinstance(value, dtypes.DType):
        return value.name
    if isinstance(value, TruncatedNormal):
        return value.stddev
    return value


def translating(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` with TF objects (dtypes, tf.nn activations, initializers) given as
    mlengine takes them."""

    @functools.wraps(function)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return function(*map(_translate, args), **{k: _translate(v) for k, v in kwargs.items()})

    return wrapped


def _partitioned(owner: str, **partitioners: Any) -> None:
    for name, value in partitioners.items():
        if value is not None:
            logger.warning(
                "%s(%s=...) is accepted and ignored: variables are not partitioned.", owner, name
            )


class _Facade:
    """What every façade estimator adds: TF 1's export name and keyword arguments."""

    def export_saved_model(
        self,
        export_dir_base: Any,
        serving_input_receiver_fn: Any = None,
        assets_extra: Any = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        experimental_mode: Any = None,
        export_onnx: bool | None = None,
        strip_default_attrs: bool = False,
        **kwargs: Any,
    ) -> ExportPath:
        """TF's ``export_saved_model`` / ``export_savedmodel`` (``strip_default_attrs``, a
        graph option, is accepted and ignored); the path as TF's bytes-like string."""
        options: dict[str, Any] = {} if export_onnx is None else {"export_onnx": export_onnx}
        path = super().export_saved_model(  # type: ignore[misc]
            export_dir_base,
            serving_input_receiver_fn,
            assets_extra=assets_extra,
            as_text=as_text,
            checkpoint_path=checkpoint_path,
            **options,
        )
        return ExportPath(path)

    export_savedmodel = export_saved_model


def _facade(base: type, *, v1: bool) -> type:
    """A class of ``base`` whose constructor translates TF objects (and, for TF 1, defaults
    ``loss_reduction`` to SUM)."""

    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        args = tuple(_translate(a) for a in args)
        kwargs = {k: _translate(v) for k, v in kwargs.items()}
        if v1:
            kwargs.setdefault("loss_reduction", SUM)
        initialise: Any = vars(base)["__init__"]
        initialise(self, *args, **kwargs)

    name = base.__name__
    cls = type(
        name,
        (_Facade, base),
        {"__init__": __init__, "__doc__": base.__doc__, "__module__": __name__},
    )
    return cls


class Estimator(_Facade, CustomEstimator):
    """``tf.estimator.Estimator(model_fn=..., model_dir, config, params, warm_start_from)``:
    mlengine's custom estimator (:class:`~mlengine.estimator.custom.CustomEstimator`: the
    model_fn runs eagerly on torch, with :mod:`mlengine.estimator.layers`, ``losses`` and
    ``metrics`` as ``tf.layers``, ``tf.losses`` and ``tf.metrics``), with TF 1's export name
    and path."""


# -- TF 2 -----------------------------------------------------------------------------------

LinearClassifier = _facade(_mle.LinearClassifier, v1=False)
LinearRegressor = _facade(_mle.LinearRegressor, v1=False)
DNNClassifier = _facade(_mle.DNNClassifier, v1=False)
DNNRegressor = _facade(_mle.DNNRegressor, v1=False)
DNNLinearCombinedClassifier = _facade(_mle.DNNLinearCombinedClassifier, v1=False)
DNNLinearCombinedRegressor = _facade(_mle.DNNLinearCombinedRegressor, v1=False)
BaselineClassifier = _facade(_mle.BaselineClassifier, v1=False)
BaselineRegressor = _facade(_mle.BaselineRegressor, v1=False)
#: TF 1's boosted trees take TF 2's arguments (they had no loss_reduction): one class for both.
BoostedTreesClassifier = _facade(_mle.BoostedTreesClassifier, v1=False)
BoostedTreesRegressor = _facade(_mle.BoostedTreesRegressor, v1=False)

V2 = {
    cls.__name__: cls
    for cls in (
        LinearClassifier,
        LinearRegressor,
        DNNClassifier,
        DNNRegressor,
        DNNLinearCombinedClassifier,
        DNNLinearCombinedRegressor,
        BaselineClassifier,
        BaselineRegressor,
        BoostedTreesClassifier,
        BoostedTreesRegressor,
    )
}


# -- TF 1 (tf.compat.v1.estimator): TF 1's signatures, loss_reduction=SUM --------------------


class _V1Linear:
    def __init__(
        self,
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        optimizer: Any = "Ftrl",
        config: Any = None,
        partitioner: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = SUM,
        sparse_combiner: str = "sum",
    ) -> None:
        _partitioned(type(self).__name__, partitioner=partitioner)
        _mle.LinearClassifier.__init__(
            self,  # type: ignore[arg-type]
            feature_columns, model_dir, n_classes, weight_column, label_vocabulary, optimizer,
            config, warm_start_from, loss_reduction, sparse_combiner,
        )  # fmt: skip


class V1LinearClassifier(_Facade, _V1Linear, _mle.LinearClassifier):
    """``tf.compat.v1.estimator.LinearClassifier``."""


class V1LinearRegressor(_Facade, _mle.LinearRegressor):
    """``tf.compat.v1.estimator.LinearRegressor``."""

    def __init__(
        self,
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: Any = None,
        partitioner: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = SUM,
        sparse_combiner: str = "sum",
    ) -> None:
        _partitioned(type(self).__name__, partitioner=partitioner)
        super().__init__(
            feature_columns, model_dir, label_dimension, weight_column, optimizer, config,
            warm_start_from, loss_reduction, sparse_combiner,
        )  # fmt: skip


class V1DNNClassifier(_Facade, _mle.DNNClassifier):
    """``tf.compat.v1.estimator.DNNClassifier``."""

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = "relu",
        dropout: float | None = None,
        input_layer_partitioner: Any = None,
        config: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = SUM,
        batch_norm: bool = False,
    ) -> None:
        _partitioned(type(self).__name__, input_layer_partitioner=input_layer_partitioner)
        super().__init__(
            hidden_units, feature_columns, model_dir, n_classes, weight_column, label_vocabulary,
            optimizer, activation_name(activation_fn), dropout, config, warm_start_from,
            loss_reduction, batch_norm,
        )  # fmt: skip


class V1DNNRegressor(_Facade, _mle.DNNRegressor):
    """``tf.compat.v1.estimator.DNNRegressor``."""

    def __init__(
        self,
        hidden_units: Sequence[int],
        feature_columns: Sequence[Any],
        model_dir: Any = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Adagrad",
        activation_fn: Any = "relu",
        dropout: float | None = None,
        input_layer_partitioner: Any = None,
        config: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = SUM,
        batch_norm: bool = False,
    ) -> None:
        _partitioned(type(self).__name__, input_layer_partitioner=input_layer_partitioner)
        super().__init__(
            hidden_units, feature_columns, model_dir, label_dimension, weight_column, optimizer,
            activation_name(activation_fn), dropout, config, warm_start_from, loss_reduction,
            batch_norm,
        )  # fmt: skip


class V1DNNLinearCombinedClassifier(_Facade, _mle.DNNLinearCombinedClassifier):
    """``tf.compat.v1.estimator.DNNLinearCombinedClassifier``."""

    def __init__(
        self,
        model_dir: Any = None,
        linear_feature_columns: Any = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Any = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Any = None,
        dnn_activation_fn: Any = "relu",
        dnn_dropout: float | None = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        input_layer_partitioner: Any = None,
        config: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = SUM,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        _partitioned(type(self).__name__, input_layer_partitioner=input_layer_partitioner)
        super().__init__(
            model_dir, linear_feature_columns, linear_optimizer, dnn_feature_columns,
            dnn_optimizer, dnn_hidden_units, activation_name(dnn_activation_fn), dnn_dropout,
            n_classes, weight_column, label_vocabulary, config, warm_start_from, loss_reduction,
            batch_norm, linear_sparse_combiner,
        )  # fmt: skip


class V1DNNLinearCombinedRegressor(_Facade, _mle.DNNLinearCombinedRegressor):
    """``tf.compat.v1.estimator.DNNLinearCombinedRegressor``."""

    def __init__(
        self,
        model_dir: Any = None,
        linear_feature_columns: Any = None,
        linear_optimizer: Any = "Ftrl",
        dnn_feature_columns: Any = None,
        dnn_optimizer: Any = "Adagrad",
        dnn_hidden_units: Any = None,
        dnn_activation_fn: Any = "relu",
        dnn_dropout: float | None = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        input_layer_partitioner: Any = None,
        config: Any = None,
        warm_start_from: Any = None,
        loss_reduction: str = SUM,
        batch_norm: bool = False,
        linear_sparse_combiner: str = "sum",
    ) -> None:
        _partitioned(type(self).__name__, input_layer_partitioner=input_layer_partitioner)
        super().__init__(
            model_dir, linear_feature_columns, linear_optimizer, dnn_feature_columns,
            dnn_optimizer, dnn_hidden_units, activation_name(dnn_activation_fn), dnn_dropout,
            label_dimension, weight_column, config, warm_start_from, loss_reduction, batch_norm,
            linear_sparse_combiner,
        )  # fmt: skip


class V1BaselineClassifier(_Facade, _mle.BaselineClassifier):
    """``tf.compat.v1.estimator.BaselineClassifier``."""

    def __init__(
        self,
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column: Any = None,
        label_vocabulary: Any = None,
        optimizer: Any = "Ftrl",
        config: Any = None,
        loss_reduction: str = SUM,
    ) -> None:
        super().__init__(
            model_dir, n_classes, weight_column, label_vocabulary, optimizer, config, loss_reduction
        )


class V1BaselineRegressor(_Facade, _mle.BaselineRegressor):
    """``tf.compat.v1.estimator.BaselineRegressor``."""

    def __init__(
        self,
        model_dir: Any = None,
        label_dimension: int = 1,
        weight_column: Any = None,
        optimizer: Any = "Ftrl",
        config: Any = None,
        loss_reduction: str = SUM,
    ) -> None:
        super().__init__(
            model_dir, label_dimension, weight_column, optimizer, config, loss_reduction
        )


V1: dict[str, type] = {
    cls.__name__.removeprefix("V1"): cls
    for cls in (
        V1LinearClassifier,
        V1LinearRegressor,
        V1DNNClassifier,
        V1DNNRegressor,
        V1DNNLinearCombinedClassifier,
        V1DNNLinearCombinedRegressor,
        V1BaselineClassifier,
        V1BaselineRegressor,
    )
}
for _name, _cls in V1.items():
    _cls.__name__ = _cls.__qualname__ = _name  # exports name the estimator as TF does
V1.update(
    BoostedTreesClassifier=BoostedTreesClassifier, BoostedTreesRegressor=BoostedTreesRegressor
)


# -- optimizers ---------------------------------------------------------------------------------


#: tf.compat.v1.train's optimizers: mlengine's specs, whose ``minimize(loss, global_step)``
#: is a model_fn's train_op (:meth:`~mlengine.training.optimizers.OptimizerSpec.minimize`).
V1_OPTIMIZERS: dict[str, Any] = {
    cls.__name__: cls
    for cls in (
        _opt.AdagradOptimizer,
        _opt.AdamOptimizer,
        _opt.FtrlOptimizer,
        _opt.GradientDescentOptimizer,
        _opt.RMSPropOptimizer,
    )
}


def ProximalAdagradOptimizer(  # noqa: N802  (TF's class name)
    learning_rate: float,
    initial_accumulator_value: float = 0.1,
    l1_regularization_strength: float = 0.0,
    l2_regularization_strength: float = 0.0,
    use_locking: bool = False,
    name: str = "ProximalAdagrad",
) -> _opt.AdagradOptimizer:
    """``tf.compat.v1.train.ProximalAdagradOptimizer`` (TF 1's DNN examples' optimizer):
    without l1/l2 strengths it is Adagrad without an epsilon (``var -= lr * g /
    sqrt(accum)``), which it builds; the proximal step of a strength is not supported."""
    for key, value in (
        ("l1_regularization_strength", l1_regularization_strength),
        ("l2_regularization_strength", l2_regularization_strength),
    ):
        if value:
            raise NotSupportedError(
                f"tf.compat.v1.train.ProximalAdagradOptimizer({key}={value!r}) is not "
                "supported (its proximal step); use FtrlOptimizer's l1/l2 strengths, or "
                "leave them at 0 (Adagrad). See the 'TensorFlow coverage' table of mlengine's "
                "README."
            )
    return _opt.AdagradOptimizer(learning_rate, initial_accumulator_value, epsilon=0.0)


V1_OPTIMIZERS["ProximalAdagradOptimizer"] = ProximalAdagradOptimizer


class keras_optimizers:  # noqa: N801  (a namespace of constructors)
    """``tf.keras.optimizers`` (the legacy classes TF 2's estimators used), as specs with
    Keras' defaults."""

    @staticmethod
    def Adagrad(
        learning_rate: float = 0.001,
        initial_accumulator_value: float = 0.1,
        epsilon: float = 1e-7,
        name: str = "Adagrad",
        **kwargs: Any,
    ) -> Any:  # noqa: N802
        return V1_OPTIMIZERS["AdagradOptimizer"](
            learning_rate, initial_accumulator_value, epsilon=epsilon
        )

    @staticmethod
    def Adam(
        learning_rate: float = 0.001,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-7,
        amsgrad: bool = False,
        name: str = "Adam",
        **kwargs: Any,
    ) -> Any:  # noqa: N802
        if amsgrad:
            stub("tf.keras.optimizers.Adam(amsgrad=True)")()
        return V1_OPTIMIZERS["AdamOptimizer"](learning_rate, beta_1, beta_2, epsilon)

    @staticmethod
    def Ftrl(
        learning_rate: float = 0.001,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1_regularization_strength: float = 0.0,
        l2_regularization_strength: float = 0.0,
        name: str = "Ftrl",
        l2_shrinkage_regularization_strength: float = 0.0,
        beta: float = 0.0,
        **kwargs: Any,
    ) -> Any:  # noqa: N802
        return V1_OPTIMIZERS["FtrlOptimizer"](
            learning_rate, learning_rate_power, initial_accumulator_value,
            l1_regularization_strength, l2_regularization_strength,
            l2_shrinkage_regularization_strength=l2_shrinkage_regularization_strength, beta=beta,
        )  # fmt: skip

    @staticmethod
    def RMSprop(
        learning_rate: float = 0.001,
        rho: float = 0.9,
        momentum: float = 0.0,
        epsilon: float = 1e-7,
        centered: bool = False,
        name: str = "RMSprop",
        **kwargs: Any,
    ) -> Any:  # noqa: N802
        return V1_OPTIMIZERS["RMSPropOptimizer"](
            learning_rate, rho, momentum, epsilon, centered=centered
        )

    @staticmethod
    def SGD(
        learning_rate: float = 0.01,
        momentum: float = 0.0,
        nesterov: bool = False,
        name: str = "SGD",
        **kwargs: Any,
    ) -> Any:  # noqa: N802
        if momentum or nesterov:
            stub("tf.keras.optimizers.SGD(momentum=...)")()
        return V1_OPTIMIZERS["GradientDescentOptimizer"](learning_rate)


#: The loss reduction names of tf.losses.Reduction / tf.keras.losses.Reduction.
class Reduction:
    SUM = SUM
    SUM_OVER_BATCH_SIZE = SUM_OVER_BATCH_SIZE
    MEAN = SUM_OVER_BATCH_SIZE  # TF 1's MEAN: sum / weights, the mean here (no weights)
    NONE = "none"


__all__ = [
    "V1",
    "V1_OPTIMIZERS",
    "V2",
    "Estimator",
    "ExportPath",
    "ProximalAdagradOptimizer",
    "Reduction",
    "TruncatedNormal",
    "keras_optimizers",
    "translating",
]
