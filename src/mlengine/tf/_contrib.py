"""``tf.contrib.learn`` and ``tf.contrib.layers`` (TF 1.0–1.x) on mlengine's one machinery.

The contrib estimators keep contrib's constructors, defaults and methods:

* learning rates: DNN parts Adagrad at 0.05, linear parts FTRL at ``min(0.2, 1/sqrt(number of
  linear columns))`` (tf.estimator's are 0.001/0.005 in Wide & Deep);
* the training loss is the batch mean, and ``evaluate`` returns contrib's metric keys
  (``accuracy/threshold_0.500000_mean``, ``labels/actual_label_mean``, ...);
* ``fit(x=, y=, input_fn=, steps=, batch_size=, monitors=, max_steps=)``; ``evaluate(x=, y=,
  ...)``; ``predict`` gives classes (scores for regressors), ``predict_proba``
  probabilities, ``as_iterable=False`` an array; ``export_savedmodel`` takes ``InputFnOps``;
* ``DNNLinearCombined*`` with contrib's default ``fix_global_step_increment_bug=False``:
  each training step advances ``global_step`` by 2, as TF's did, so ``fit(steps=200)`` trains
  100 batches; ``global_step`` in results counts as TF's.

``tf.contrib.layers`` columns follow contrib's rules: ``crossed_column`` crosses hashed sparse
columns by their raw values (contrib allowed it; core refuses).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from mlengine import estimator as _mle
from mlengine import feature_column as fc
from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.feature_column import HashBucketColumn, NumericColumn
from mlengine.tf import dtypes
from mlengine.tf._estimators import V1_OPTIMIZERS, ExportPath, _translate, translating
from mlengine.tf.nn import activation_name
from mlengine.training.optimizers import OPTIMIZER_NAMES, OptimizerSpec

CONTRIB_DNN_LEARNING_RATE = 0.05  # contrib/learn/.../dnn.py _LEARNING_RATE
CONTRIB_LINEAR_LEARNING_RATE = 0.2  # contrib/learn/.../linear.py _LEARNING_RATE

BINARY_KEYS = {
    "accuracy": "accuracy",
    "accuracy/baseline_label_mean": "label/mean",
    "accuracy/threshold_0.500000_mean": "accuracy",
    "auc": "auc",
    "auc_precision_recall": "auc_precision_recall",
    "labels/actual_label_mean": "label/mean",
    "labels/prediction_mean": "prediction/mean",
    "loss": "average_loss",
    "precision/positive_threshold_0.500000_mean": "precision",
    "recall/positive_threshold_0.500000_mean": "recall",
}
MULTICLASS_KEYS = {"accuracy": "accuracy", "loss": "average_loss"}
REGRESSION_KEYS = {"loss": "average_loss"}


def _linear_rate(columns: Any) -> float:
    count = len(columns) if isinstance(columns, Sequence) else 1
    return min(CONTRIB_LINEAR_LEARNING_RATE, 1.0 / math.sqrt(max(count, 1)))


def _optimizer(spec: Any, learning_rate: float) -> Any:
    """contrib's rule: None or a name gets contrib's learning rate; an instance is used."""
    if spec is None:
        return None
    if isinstance(spec, str):
        if spec not in OPTIMIZER_NAMES:
            return spec  # mlengine names the bad value
        return OPTIMIZER_NAMES[spec](learning_rate)  # type: ignore[call-arg]
    return spec


def _refuse(owner: str, **unsupported: Any) -> None:
    for name, value in unsupported.items():
        if value not in (None, False):
            raise NotSupportedError(
                f"tf.contrib.learn.{owner}({name}=...) is not supported by mlengine.tf."
            )


class _Contrib:
    """contrib's methods over an mlengine canned estimator."""

    _metric_keys: dict[str, str] = {}
    _step_scale = 1

    def _metric_names(self, result: dict[str, Any]) -> dict[str, Any]:
        out = {key: result[source] for key, source in self._metric_keys.items() if source in result}
        out["global_step"] = int(result["global_step"]) * self._step_scale
        return out

    def _input(self, x: Any, y: Any, input_fn: Any, batch_size: int | None, train: bool) -> Any:
        if x is None:
            if input_fn is None:
                raise InvalidParameterError("Give either x (and y) or input_fn.")
            return input_fn
        if input_fn is not None:
            raise InvalidParameterError("Give either x (and y) or input_fn, not both.")
        features = dict(x) if isinstance(x, Mapping) else {"": np.asarray(x)}
        return _mle.inputs.numpy_input_fn(
            features,
            None if y is None else np.asarray(y),
            batch_size=batch_size or (32 if train else 128),
            num_epochs=None if train else 1,
            shuffle=train,
        )

    def fit(
        self,
        x: Any = None,
        y: Any = None,
        input_fn: Any = None,
        steps: int | None = None,
        batch_size: int | None = None,
        monitors: Sequence[Any] | None = None,
        max_steps: int | None = None,
    ) -> Any:
        """contrib's ``fit``: arrays (``x``, ``y``) or an ``input_fn``; ``monitors`` are hooks."""
        return self._fit(x, y, input_fn, steps, batch_size, monitors, max_steps, None)

    def _fit(
        self,
        x: Any,
        y: Any,
        input_fn: Any,
        steps: int | None,
        batch_size: int | None,
        monitors: Sequence[Any] | None,
        max_steps: int | None,
        saving_listeners: Sequence[Any] | None,
    ) -> Any:
        scale = self._step_scale
        steps = None if steps is None else math.ceil(steps / scale)
        max_steps = None if max_steps is None else math.ceil(max_steps / scale)
        source = self._input(x, y, input_fn, batch_size, train=True)
        train: Any = _mle.Estimator.train
        train(
            self,
            source,
            hooks=monitors,
            steps=steps,
            max_steps=max_steps,
            saving_listeners=saving_listeners,
        )
        return self

    def evaluate(
        self,
        x: Any = None,
        y: Any = None,
        input_fn: Any = None,
        feed_fn: Any = None,
        batch_size: int | None = None,
        steps: int | None = None,
        metrics: Any = None,
        name: str | None = None,
        checkpoint_path: str | None = None,
        hooks: Sequence[Any] | None = None,
        log_progress: bool = True,
    ) -> dict[str, Any]:
        """contrib's ``evaluate`` (contrib's metric keys)."""
        _refuse("evaluate", feed_fn=feed_fn, metrics=metrics)
        source = self._input(x, y, input_fn, batch_size, train=False)
        return _mle.Estimator.evaluate(self, source, steps, hooks, checkpoint_path, name)  # type: ignore[arg-type]

    def _outputs(self, x: Any, input_fn: Any, batch_size: int | None) -> Iterator[dict[str, Any]]:
        source = self._input(x, None, input_fn, batch_size, train=False)
        return _mle.Estimator.predict(self, source)  # type: ignore[arg-type]

    def export_savedmodel(
        self,
        export_dir_base: Any,
        serving_input_fn: Any = None,
        default_output_alternative_key: Any = None,
        assets_extra: Any = None,
        as_text: bool = False,
        checkpoint_path: str | None = None,
        graph_rewrite_specs: Any = None,
        strip_default_attrs: bool = False,
        export_onnx: bool | None = None,
    ) -> ExportPath:
        export: Any = _mle.Estimator.export_saved_model
        options = {} if export_onnx is None else {"export_onnx": export_onnx}
        path = export(
            self, export_dir_base, serving_input_fn, checkpoint_path=checkpoint_path, **options
        )
        return ExportPath(path)

    export_saved_model = export_savedmodel

    def train(
        self,
        input_fn: Any,
        hooks: Any = None,
        steps: int | None = None,
        max_steps: int | None = None,
        saving_listeners: Any = None,
    ) -> Any:
        return self._fit(None, None, input_fn, steps, None, hooks, max_steps, saving_listeners)


def _collect(rows: Iterator[Any], as_iterable: bool) -> Any:
    return rows if as_iterable else np.asarray(list(rows))


class _Classifier(_Contrib):
    def predict(
        self,
        x: Any = None,
        input_fn: Any = None,
        batch_size: int | None = None,
        outputs: Sequence[str] | None = None,
        as_iterable: bool = True,
    ) -> Any:
        """Class ids per example, or dicts of ``outputs`` (``classes``, ``probabilities``,
        ``logits``)."""
        if outputs is not None:
            keys = {
                "classes": "class_ids",
                "probabilities": "probabilities",
                "logits": "logits",
                "logistic": "logistic",
            }
            rows = (
                {k: r[keys[k]][0] if k == "classes" else r[keys[k]] for k in outputs}
                for r in self._outputs(x, input_fn, batch_size)
            )
            return _collect(rows, as_iterable)
        return self.predict_classes(x, input_fn, batch_size, as_iterable)

    def predict_classes(
        self,
        x: Any = None,
        input_fn: Any = None,
        batch_size: int | None = None,
        as_iterable: bool = True,
    ) -> Any:
        rows = (int(r["class_ids"][0]) for r in self._outputs(x, input_fn, batch_size))
        return _collect(rows, as_iterable)

    def predict_proba(
        self,
        x: Any = None,
        input_fn: Any = None,
        batch_size: int | None = None,
        as_iterable: bool = True,
    ) -> Any:
        rows = (np.asarray(r["probabilities"]) for r in self._outputs(x, input_fn, batch_size))
        return _collect(rows, as_iterable)


class _Regressor(_Contrib):
    _metric_keys = REGRESSION_KEYS

    def predict(
        self,
        x: Any = None,
        input_fn: Any = None,
        batch_size: int | None = None,
        outputs: Sequence[str] | None = None,
        as_iterable: bool = True,
    ) -> Any:
        """Scores per example (one float, or an array for ``label_dimension`` > 1)."""
        return self.predict_scores(x, input_fn, batch_size, as_iterable)

    def predict_scores(
        self,
        x: Any = None,
        input_fn: Any = None,
        batch_size: int | None = None,
        as_iterable: bool = True,
    ) -> Any:
        def score(r: dict[str, Any]) -> Any:
            value = np.asarray(r["predictions"])
            return float(value[0]) if value.size == 1 else value

        return _collect((score(r) for r in self._outputs(x, input_fn, batch_size)), as_iterable)


def _classifier_keys(n_classes: int) -> dict[str, str]:
    return BINARY_KEYS if n_classes == 2 else MULTICLASS_KEYS


class LinearClassifier(_Classifier, _mle.LinearClassifier):  # type: ignore[misc]  # contrib's methods
    """``tf.contrib.learn.LinearClassifier``."""

    def __init__(
        self,
        feature_columns: Any,
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column_name: Any = None,
        optimizer: Any = None,
        gradient_clip_norm: float | None = None,
        enable_centered_bias: bool = False,
        _joint_weight: bool = False,
        config: Any = None,
        feature_engineering_fn: Any = None,
        label_keys: Any = None,
    ) -> None:
        _refuse(
            "LinearClassifier",
            enable_centered_bias=enable_centered_bias,
            feature_engineering_fn=feature_engineering_fn,
        )
        spec = _optimizer(optimizer, CONTRIB_LINEAR_LEARNING_RATE) or V1_OPTIMIZERS[
            "FtrlOptimizer"
        ](_linear_rate(feature_columns))
        super().__init__(
            feature_columns, model_dir, n_classes, weight_column_name, label_keys, spec, config
        )
        self._gradient_clip_norm = gradient_clip_norm
        self._metric_keys = _classifier_keys(n_classes)


class LinearRegressor(_Regressor, _mle.LinearRegressor):  # type: ignore[misc]  # contrib's methods
    """``tf.contrib.learn.LinearRegressor``."""

    def __init__(
        self,
        feature_columns: Any,
        model_dir: Any = None,
        weight_column_name: Any = None,
        optimizer: Any = None,
        gradient_clip_norm: float | None = None,
        enable_centered_bias: bool = False,
        label_dimension: int = 1,
        _joint_weights: bool = False,
        config: Any = None,
        feature_engineering_fn: Any = None,
    ) -> None:
        _refuse(
            "LinearRegressor",
            enable_centered_bias=enable_centered_bias,
            feature_engineering_fn=feature_engineering_fn,
        )
        spec = _optimizer(optimizer, CONTRIB_LINEAR_LEARNING_RATE) or V1_OPTIMIZERS[
            "FtrlOptimizer"
        ](_linear_rate(feature_columns))
        super().__init__(
            feature_columns, model_dir, label_dimension, weight_column_name, spec, config
        )
        self._gradient_clip_norm = gradient_clip_norm


class DNNClassifier(_Classifier, _mle.DNNClassifier):  # type: ignore[misc]  # contrib's methods
    """``tf.contrib.learn.DNNClassifier``."""

    def __init__(
        self,
        hidden_units: Any,
        feature_columns: Any,
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column_name: Any = None,
        optimizer: Any = None,
        activation_fn: Any = "relu",
        dropout: float | None = None,
        gradient_clip_norm: float | None = None,
        enable_centered_bias: bool = False,
        config: Any = None,
        feature_engineering_fn: Any = None,
        embedding_lr_multipliers: Any = None,
        input_layer_min_slice_size: Any = None,
        label_keys: Any = None,
    ) -> None:
        _refuse(
            "DNNClassifier",
            enable_centered_bias=enable_centered_bias,
            feature_engineering_fn=feature_engineering_fn,
            embedding_lr_multipliers=embedding_lr_multipliers,
        )
        spec = _optimizer(optimizer or "Adagrad", CONTRIB_DNN_LEARNING_RATE)
        super().__init__(
            hidden_units,
            feature_columns,
            model_dir,
            n_classes,
            weight_column_name,
            label_keys,
            spec,
            activation_name(activation_fn),
            dropout,
            config,
        )
        self._gradient_clip_norm = gradient_clip_norm
        self._metric_keys = _classifier_keys(n_classes)


class DNNRegressor(_Regressor, _mle.DNNRegressor):  # type: ignore[misc]  # contrib's methods
    """``tf.contrib.learn.DNNRegressor``."""

    def __init__(
        self,
        hidden_units: Any,
        feature_columns: Any,
        model_dir: Any = None,
        weight_column_name: Any = None,
        optimizer: Any = None,
        activation_fn: Any = "relu",
        dropout: float | None = None,
        gradient_clip_norm: float | None = None,
        enable_centered_bias: bool = False,
        config: Any = None,
        feature_engineering_fn: Any = None,
        label_dimension: int = 1,
        embedding_lr_multipliers: Any = None,
        input_layer_min_slice_size: Any = None,
    ) -> None:
        _refuse(
            "DNNRegressor",
            enable_centered_bias=enable_centered_bias,
            feature_engineering_fn=feature_engineering_fn,
            embedding_lr_multipliers=embedding_lr_multipliers,
        )
        spec = _optimizer(optimizer or "Adagrad", CONTRIB_DNN_LEARNING_RATE)
        super().__init__(
            hidden_units,
            feature_columns,
            model_dir,
            label_dimension,
            weight_column_name,
            spec,
            activation_name(activation_fn),
            dropout,
            config,
        )
        self._gradient_clip_norm = gradient_clip_norm


def _combined_args(
    owner: str,
    linear_feature_columns: Any,
    linear_optimizer: Any,
    dnn_optimizer: Any,
    extras: dict[str, Any],
) -> tuple[Any, Any]:
    _refuse(owner, **extras)
    linear = _optimizer(linear_optimizer or "Ftrl", _linear_rate(linear_feature_columns or []))
    dnn = _optimizer(dnn_optimizer or "Adagrad", CONTRIB_DNN_LEARNING_RATE)
    return linear, dnn


class DNNLinearCombinedClassifier(_Classifier, _mle.DNNLinearCombinedClassifier):  # type: ignore[misc]  # contrib's methods
    """``tf.contrib.learn.DNNLinearCombinedClassifier``."""

    def __init__(
        self,
        model_dir: Any = None,
        n_classes: int = 2,
        weight_column_name: Any = None,
        linear_feature_columns: Any = None,
        linear_optimizer: Any = None,
        _joint_linear_weights: bool = False,
        dnn_feature_columns: Any = None,
        dnn_optimizer: Any = None,
        dnn_hidden_units: Any = None,
        dnn_activation_fn: Any = "relu",
        dnn_dropout: float | None = None,
        gradient_clip_norm: float | None = None,
        enable_centered_bias: bool = False,
        config: Any = None,
        feature_engineering_fn: Any = None,
        embedding_lr_multipliers: Any = None,
        input_layer_min_slice_size: Any = None,
        label_keys: Any = None,
        fix_global_step_increment_bug: bool = False,
    ) -> None:
        linear, dnn = _combined_args(
            "DNNLinearCombinedClassifier",
            linear_feature_columns,
            linear_optimizer,
            dnn_optimizer,
            {
                "enable_centered_bias": enable_centered_bias,
                "feature_engineering_fn": feature_engineering_fn,
                "embedding_lr_multipliers": embedding_lr_multipliers,
            },
        )
        super().__init__(
            model_dir,
            linear_feature_columns,
            linear,
            dnn_feature_columns,
            dnn,
            dnn_hidden_units,
            activation_name(dnn_activation_fn),
            dnn_dropout,
            n_classes,
            weight_column_name,
            label_keys,
            config,
            gradient_clip_norm=gradient_clip_norm,
        )
        self._metric_keys = _classifier_keys(n_classes)
        both = bool(linear_feature_columns) and bool(dnn_feature_columns)
        self._step_scale = 2 if both and not fix_global_step_increment_bug else 1


class DNNLinearCombinedRegressor(_Regressor, _mle.DNNLinearCombinedRegressor):  # type: ignore[misc]  # contrib's methods
    """``tf.contrib.learn.DNNLinearCombinedRegressor``."""

    def __init__(
        self,
        model_dir: Any = None,
        weight_column_name: Any = None,
        linear_feature_columns: Any = None,
        linear_optimizer: Any = None,
        _joint_linear_weights: bool = False,
        dnn_feature_columns: Any = None,
        dnn_optimizer: Any = None,
        dnn_hidden_units: Any = None,
        dnn_activation_fn: Any = "relu",
        dnn_dropout: float | None = None,
        gradient_clip_norm: float | None = None,
        enable_centered_bias: bool = False,
        label_dimension: int = 1,
        config: Any = None,
        feature_engineering_fn: Any = None,
        embedding_lr_multipliers: Any = None,
        input_layer_min_slice_size: Any = None,
        fix_global_step_increment_bug: bool = False,
    ) -> None:
        linear, dnn = _combined_args(
            "DNNLinearCombinedRegressor",
            linear_feature_columns,
            linear_optimizer,
            dnn_optimizer,
            {
                "enable_centered_bias": enable_centered_bias,
                "feature_engineering_fn": feature_engineering_fn,
                "embedding_lr_multipliers": embedding_lr_multipliers,
            },
        )
        super().__init__(
            model_dir,
            linear_feature_columns,
            linear,
            dnn_feature_columns,
            dnn,
            dnn_hidden_units,
            activation_name(dnn_activation_fn),
            dnn_dropout,
            label_dimension,
            weight_column_name,
            config,
            gradient_clip_norm=gradient_clip_norm,
        )
        both = bool(linear_feature_columns) and bool(dnn_feature_columns)
        self._step_scale = 2 if both and not fix_global_step_increment_bug else 1


LEARN_ESTIMATORS = {
    cls.__name__: cls
    for cls in (
        LinearClassifier,
        LinearRegressor,
        DNNClassifier,
        DNNRegressor,
        DNNLinearCombinedClassifier,
        DNNLinearCombinedRegressor,
    )
}

SESSION_ONLY_CONTRIB_RUN_CONFIG = (
    "master",
    "num_cores",
    "log_device_placement",
    "gpu_memory_fraction",
    "evaluation_master",
)


def RunConfig(**kwargs: Any) -> _mle.RunConfig:  # noqa: N802
    """``tf.contrib.learn.RunConfig``: its session-only arguments are ignored (with a notice)."""
    for name in SESSION_ONLY_CONTRIB_RUN_CONFIG:
        if kwargs.pop(name, None) is not None:
            kwargs.setdefault("session_config", {name: True})
    return _mle.RunConfig(**kwargs)


def infer_real_valued_columns_from_input(x: Any) -> list[NumericColumn]:
    """contrib: one ``real_valued_column("")`` of the input's width (``fit(x=...)`` names it)."""
    array = np.asarray(x)
    width = 1 if array.ndim == 1 else int(np.prod(array.shape[1:]))
    return [real_valued_column("", dimension=width)]


# -- tf.contrib.layers feature columns ---------------------------------------------------------


def real_valued_column(
    column_name: str,
    dimension: int = 1,
    default_value: Any = None,
    dtype: Any = dtypes.float32,
    normalizer: Any = None,
) -> NumericColumn:
    """``real_valued_column`` (the empty name ``""`` is contrib's lone-tensor feature)."""
    if column_name == "":
        column = fc.numeric_column("_", (dimension,), default_value, normalizer_fn=normalizer)
        return NumericColumn(
            "", column.shape, column.default_value, column.dtype, column.normalizer
        )
    return fc.real_valued_column(
        column_name, dimension, default_value, _translate(dtype), normalizer
    )


def sparse_column_with_keys(
    column_name: str,
    keys: Sequence[Any],
    default_value: int = -1,
    combiner: str = "sum",
    dtype: Any = dtypes.string,
) -> Any:
    if dtypes.as_dtype(dtype).is_integer:
        return fc.categorical_column_with_vocabulary_list(
            column_name, [int(k) for k in keys], None, default_value
        )
    return fc.sparse_column_with_keys(column_name, [str(k) for k in keys], default_value, combiner)


def sparse_column_with_hash_bucket(
    column_name: str,
    hash_bucket_size: int,
    combiner: str = "sum",
    dtype: Any = dtypes.string,
    hash_keys: Any = None,
) -> Any:
    if hash_keys is not None:
        raise NotSupportedError("sparse_column_with_hash_bucket(hash_keys=...) is not supported.")
    return fc.sparse_column_with_hash_bucket(
        column_name, hash_bucket_size, combiner, _translate(dtype)
    )


def sparse_column_with_integerized_feature(
    column_name: str, bucket_size: int, combiner: str = "sum", dtype: Any = dtypes.int64
) -> Any:
    return fc.sparse_column_with_integerized_feature(column_name, bucket_size, combiner)


def sparse_column_with_vocabulary_file(
    column_name: str,
    vocabulary_file: str,
    num_oov_buckets: int = 0,
    vocab_size: int | None = None,
    default_value: int = -1,
    combiner: str = "sum",
    dtype: Any = dtypes.string,
) -> Any:
    return fc.categorical_column_with_vocabulary_file(
        column_name, vocabulary_file, vocab_size, _translate(dtype), default_value, num_oov_buckets
    )


def crossed_column(
    columns: Sequence[Any],
    hash_bucket_size: int,
    combiner: str = "sum",
    ckpt_to_load_from: Any = None,
    tensor_name_in_ckpt: Any = None,
    hash_key: int | None = None,
) -> Any:
    """contrib's ``crossed_column``: hashed sparse columns are crossed by their raw values
    (contrib allowed crossing them; core TF and mlengine's core names take the key)."""
    if combiner != "sum" or ckpt_to_load_from is not None:
        raise NotSupportedError(
            "tf.contrib.layers.crossed_column(combiner/ckpt_to_load_from) is not supported."
        )
    keys = [c.key if isinstance(c, HashBucketColumn) else c for c in columns]
    return fc.crossed_column(keys, hash_bucket_size, hash_key)


def weighted_sparse_column(
    sparse_id_column: Any, weight_column_name: str, dtype: Any = dtypes.float32
) -> Any:
    return fc.weighted_categorical_column(sparse_id_column, weight_column_name)


LAYERS = {
    "real_valued_column": real_valued_column,
    "sparse_column_with_keys": sparse_column_with_keys,
    "sparse_column_with_hash_bucket": sparse_column_with_hash_bucket,
    "sparse_column_with_integerized_feature": sparse_column_with_integerized_feature,
    "sparse_column_with_vocabulary_file": sparse_column_with_vocabulary_file,
    "bucketized_column": fc.bucketized_column,
    "crossed_column": crossed_column,
    "embedding_column": translating(fc.embedding_column),
    "shared_embedding_columns": translating(fc.shared_embeddings),
    "one_hot_column": fc.one_hot_column,
    "weighted_sparse_column": weighted_sparse_column,
    "infer_real_valued_columns_from_input": infer_real_valued_columns_from_input,
}


def load_csv_with_header(
    filename: str, target_dtype: Any, features_dtype: Any, target_column: int = -1
) -> Any:
    """``tf.contrib.learn.datasets.base.load_csv_with_header``: a CSV whose first row holds
    the sample and feature counts; returns ``Dataset(data, target)``."""
    import csv as _csv
    from collections import namedtuple

    import fsspec

    with fsspec.open(filename, "rt", encoding="utf-8") as handle:
        reader = _csv.reader(handle)
        header = next(reader)
        n_samples, n_features = int(header[0]), int(header[1])
        data = np.zeros(
            (n_samples, n_features), dtype=dtypes.as_dtype(features_dtype).as_numpy_dtype
        )
        target = np.zeros((n_samples,), dtype=dtypes.as_dtype(target_dtype).as_numpy_dtype)
        for index, row in enumerate(reader):
            if index >= n_samples:
                break
            target[index] = np.asarray(row.pop(target_column), dtype=target.dtype)
            data[index] = np.asarray(row, dtype=data.dtype)
    dataset: Any = namedtuple("dataset", ["data", "target"])
    return dataset(data, target)


class HParams:
    """``tf.contrib.training.HParams(**values)``: hyperparameters as attributes (Cloud ML
    samples build one from their argparse namespace)."""

    def __init__(self, hparam_def: Any = None, model_structure: Any = None, **values: Any) -> None:
        if hparam_def is not None:
            raise NotSupportedError("HParams(hparam_def=...) (a protocol buffer) is not supported.")
        self.__dict__["_values"] = dict(values)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["_values"][name]
        except KeyError:
            raise AttributeError(name) from None

    def __setattr__(self, name: str, value: Any) -> None:
        self.__dict__["_values"][name] = value

    def add_hparam(self, name: str, value: Any) -> None:
        if name in self.__dict__["_values"]:
            raise InvalidParameterError(f"Hyperparameter {name!r} already exists.")
        self.__dict__["_values"][name] = value

    def set_hparam(self, name: str, value: Any) -> None:
        if name not in self.__dict__["_values"]:
            raise InvalidParameterError(f"Unknown hyperparameter {name!r}.")
        self.__dict__["_values"][name] = value

    def override_from_dict(self, values_dict: Mapping[str, Any]) -> HParams:
        for name, value in values_dict.items():
            self.set_hparam(name, value)
        return self

    def values(self) -> dict[str, Any]:
        return dict(self.__dict__["_values"])

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__["_values"].get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self.__dict__["_values"]

    def __repr__(self) -> str:
        return f"HParams({self.__dict__['_values']!r})"


OptimizerSpecType = OptimizerSpec

__all__ = [
    "BINARY_KEYS",
    "HParams",
    "LAYERS",
    "LEARN_ESTIMATORS",
    "RunConfig",
    "crossed_column",
    "load_csv_with_header",
    "real_valued_column",
]
