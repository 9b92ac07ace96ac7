"""The names of ``tf`` (TF 2's shape) and ``tf.compat.v1`` (TF 1's), mapped onto mlengine.

Every entry points at the one implementation (mlengine's estimators, feature columns, input
functions, export and hooks; the façade's tensors, datasets and parsing). The tables here are
the coverage; README's "TensorFlow coverage" table says the same in words.
"""

from __future__ import annotations

import random as _random
from typing import Any

import numpy as np

from mlengine import estimator as _mle
from mlengine import feature_column as _fc
from mlengine import protos as _protos
from mlengine.data import tfrecord as _tfrecord
from mlengine.estimator import hooks as _hooks
from mlengine.estimator import layers as _layers
from mlengine.estimator import losses as _losses
from mlengine.estimator import metrics as _metrics
from mlengine.tf import (
    _contrib,
    _estimators,
    _experiment,
    _export,
    _keras_layers,
    _ops,
    _parsing,
    _torch_ops,
    app,
    data,
    dtypes,
    gfile,
    logging,
    lookup,
    nn,
)
from mlengine.tf._namespace import Namespace
from mlengine.tf._tensor import SparseTensor, Tensor, constant, convert
from mlengine.training import hooks as _session_hooks

VERSION = "2.15.0"  # the last TensorFlow with tf.estimator; programs compare against it


def _ns(module: str, tf_name: str, members: dict[str, Any]) -> Namespace:
    return Namespace(module, tf_name, members)


# -- pieces shared by both shapes ---------------------------------------------------------------

FEATURE_COLUMN_NAMES = (
    "numeric_column",
    "bucketized_column",
    "categorical_column_with_vocabulary_list",
    "categorical_column_with_vocabulary_file",
    "categorical_column_with_identity",
    "categorical_column_with_hash_bucket",
    "crossed_column",
    "embedding_column",
    "indicator_column",
    "weighted_categorical_column",
    "shared_embeddings",
    "shared_embedding_columns",
)


def _feature_column(module: str, tf_name: str, v1: bool = False) -> Namespace:
    members: dict[str, Any] = {
        name: _estimators.translating(getattr(_fc, name)) for name in FEATURE_COLUMN_NAMES
    }
    members["make_parse_example_spec"] = _export.make_parse_example_spec
    if v1:  # TF 1's functions for a model_fn (TF 2: tf.compat.v1.feature_column)
        members["input_layer"] = _layers.input_layer
        members["linear_model"] = _layers.linear_model
    return _ns(module, tf_name, members)


MATH = dict(_ops.MATH)
MATH.update(
    {
        "equal": _ops.equal,
        "not_equal": _ops.not_equal,
        "truediv": _ops.MATH["divide"],
        "floordiv": _ops.MATH["floordiv"],
        "greater": _ops.MATH["greater"],
        "clip_by_value": _ops.clip_by_value,
        "cast": _ops.cast,
    }
)
STRINGS = {
    "to_number": _ops.string_to_number,
    "strip": _ops.strip,
    "lower": _ops.lower,
    "upper": _ops.upper,
    "regex_replace": _ops.regex_replace,
    "length": _ops.length,
    "as_string": _ops.as_string,
}
OPS: dict[str, Any] = {
    "constant": constant,
    "convert_to_tensor": convert,
    "cast": _ops.cast,
    "equal": _ops.equal,
    "not_equal": _ops.not_equal,
    "expand_dims": _ops.expand_dims,
    "reshape": _ops.reshape,
    "squeeze": _ops.squeeze,
    "identity": _ops.identity,
    "stack": _ops.stack,
    "concat": _ops.concat,
    "where": _ops.where,
    "zeros_like": _ops.zeros_like,
    "ones_like": _ops.ones_like,
    "clip_by_value": _ops.clip_by_value,
    "as_string": _ops.as_string,
    "SparseTensor": SparseTensor,
    "Tensor": Tensor,
    "as_dtype": dtypes.as_dtype,
    "DType": dtypes.DType,
}
for _name in (
    "add", "subtract", "multiply", "divide", "maximum", "minimum", "abs", "log", "exp", "sqrt",
    "square", "sigmoid", "tanh", "pow", "round", "floor", "ceil", "sign", "negative",
    "logical_and", "logical_or", "logical_not", "less", "less_equal", "greater", "greater_equal",
):  # fmt: skip
    OPS[_name] = _ops.MATH[_name]
for _dtype in (
    "string", "float16", "half", "float32", "float64", "double", "int8", "int16", "int32",
    "int64", "uint8", "uint16",
):  # fmt: skip
    OPS[_dtype] = getattr(dtypes, _dtype)
OPS["bool"] = dtypes.bool_
# A model_fn's tensor ops (torch tensors: mlengine.tf._torch_ops).
for _name in (
    "argmax", "argmin", "reduce_mean", "reduce_sum", "reduce_prod", "reduce_max", "reduce_min",
    "one_hot",
):  # fmt: skip
    OPS[_name] = _torch_ops.model_fn_only(f"tf.{_name}", getattr(_torch_ops, _name))
OPS["newaxis"] = None

# -- custom estimators (Estimator(model_fn=...): mlengine.estimator's custom estimators) -------

#: tf.estimator's names for a model_fn's contract, in both shapes.
CUSTOM = {
    "Estimator": _estimators.Estimator,
    "EstimatorSpec": _mle.EstimatorSpec,
    "ModeKeys": _mle.ModeKeys,
}
#: TF 2's head classes (tf.estimator.*Head).
HEAD_CLASSES = {
    name: getattr(_mle, name)
    for name in (
        "Head",
        "BinaryClassHead",
        "MultiClassHead",
        "RegressionHead",
        "MultiLabelHead",
        "PoissonRegressionHead",
        "LogisticRegressionHead",
    )
}
#: tf.contrib.estimator's head functions (TF 1.x).
HEAD_FUNCTIONS = {
    name: getattr(_mle, name)
    for name in (
        "binary_classification_head",
        "multi_class_head",
        "regression_head",
        "multi_label_head",
        "poisson_regression_head",
        "logistic_regression_head",
    )
}
#: tf.layers (TF 1.x: tf.compat.v1.layers).
LAYERS = {name: getattr(_layers, name) for name in ("dense", "dropout", "batch_normalization")}
#: tf.losses (TF 1.x: tf.compat.v1.losses).
LOSSES = {name: getattr(_losses, name) for name in _losses.__all__}
#: tf.metrics (TF 1.x: tf.compat.v1.metrics).
METRICS = {
    name: getattr(_metrics, name)
    for name in (
        "accuracy",
        "auc",
        "precision",
        "recall",
        "mean",
        "mean_squared_error",
        "root_mean_squared_error",
        "mean_absolute_error",
    )
}
GLOBAL_STEP = {
    "get_global_step": _layers.get_global_step,
    "get_or_create_global_step": _layers.get_global_step,
}


def fully_connected(
    inputs: Any,
    num_outputs: int,
    activation_fn: Any = nn.relu,
    normalizer_fn: Any = None,
    weights_initializer: Any = None,
    biases_initializer: Any = None,
    scope: str | None = None,
    **kwargs: Any,
) -> Any:
    """``tf.contrib.layers.fully_connected``: ``tf.layers.dense`` with contrib's default
    activation (relu); variables ``<scope>/weights`` and ``<scope>/biases`` are named as
    dense's (``kernel``, ``bias``)."""
    if normalizer_fn is not None:
        raise _layers.not_supported("tf.contrib.layers.fully_connected(normalizer_fn=...)")
    return _layers.dense(
        inputs,
        num_outputs,
        activation=activation_fn,
        kernel_initializer=weights_initializer,
        bias_initializer=biases_initializer,
        name=scope,
    )


def _io(module: str, tf_name: str) -> Namespace:
    return _ns(
        module,
        tf_name,
        {
            "decode_csv": _parsing.decode_csv,
            "parse_example": _parsing.parse_example,
            "parse_single_example": _parsing.parse_single_example,
            "FixedLenFeature": _parsing.FixedLenFeature,
            "VarLenFeature": _parsing.VarLenFeature,
            "TFRecordWriter": _tfrecord.TFRecordWriter,
            "gfile": gfile,
        },
    )


EXAMPLE_PROTOS = {
    name: _protos.message(f"tensorflow.{name}")
    for name in (
        "Example",
        "SequenceExample",
        "Features",
        "Feature",
        "FeatureList",
        "FeatureLists",
        "BytesList",
        "FloatList",
        "Int64List",
    )
}
HOOKS = {
    "SessionRunHook": _session_hooks.SessionRunHook,
    "SessionRunArgs": _session_hooks.SessionRunArgs,
    "SessionRunContext": _session_hooks.SessionRunContext,
    "SessionRunValues": _session_hooks.SessionRunValues,
    "CheckpointSaverListener": _session_hooks.CheckpointSaverListener,
    "LoggingTensorHook": _hooks.LoggingTensorHook,
    "StopAtStepHook": _hooks.StopAtStepHook,
}
EXPORT = {
    "ServingInputReceiver": _export.ServingInputReceiver,
    "build_raw_serving_input_receiver_fn": _export.build_raw_serving_input_receiver_fn,
    "build_parsing_serving_input_receiver_fn": _export.build_parsing_serving_input_receiver_fn,
    "PredictOutput": _mle.PredictOutput,
    "ClassificationOutput": _mle.ClassificationOutput,
    "RegressionOutput": _mle.RegressionOutput,
}
INPUTS = {
    "numpy_input_fn": _mle.inputs.numpy_input_fn,
    "pandas_input_fn": _mle.inputs.pandas_input_fn,
}
EXPERIMENTAL = {
    "stop_if_higher_hook": _hooks.stop_if_higher_hook,
    "stop_if_lower_hook": _hooks.stop_if_lower_hook,
    "stop_if_no_increase_hook": _hooks.stop_if_no_increase_hook,
    "stop_if_no_decrease_hook": _hooks.stop_if_no_decrease_hook,
    "make_early_stopping_hook": _hooks.make_early_stopping_hook,
    "read_eval_metrics": _hooks.read_eval_metrics,
}


def _estimator(module: str, tf_name: str, classes: dict[str, Any], v1: bool) -> Namespace:
    members: dict[str, Any] = dict(classes)
    members.update(CUSTOM)
    if not v1:
        members.update(HEAD_CLASSES)
    members.update(
        {
            "RunConfig": _mle.RunConfig,
            "TrainSpec": _mle.TrainSpec,
            "EvalSpec": _mle.EvalSpec,
            "train_and_evaluate": _mle.train_and_evaluate,
            "Exporter": _mle.Exporter,
            "LatestExporter": _mle.LatestExporter,
            "BestExporter": _mle.BestExporter,
            "FinalExporter": _mle.FinalExporter,
            **HOOKS,
            "export": _ns(
                f"{module}.export",
                f"{tf_name}.export",
                EXPORT,
            ),
            "experimental": _ns(f"{module}.experimental", f"{tf_name}.experimental", EXPERIMENTAL),
        }
    )
    if v1:
        members["inputs"] = _ns(
            f"{module}.inputs",
            f"{tf_name}.inputs",
            {
                "numpy_input_fn": _mle.inputs.numpy_input_fn,
                "pandas_input_fn": _mle.inputs.pandas_input_fn,
            },
        )
    return _ns(module, tf_name, members)


def _keras(module: str, tf_name: str) -> Namespace:
    optimizers = {
        name: getattr(_estimators.keras_optimizers, name)
        for name in ("Adagrad", "Adam", "Ftrl", "RMSprop", "SGD")
    }
    optimizers["legacy"] = _ns(
        f"{module}.optimizers.legacy", f"{tf_name}.optimizers.legacy", dict(optimizers)
    )
    initializers = _ns(
        f"{module}.initializers",
        f"{tf_name}.initializers",
        {"TruncatedNormal": _estimators.TruncatedNormal},
    )
    return _ns(
        module,
        tf_name,
        {
            "optimizers": _ns(f"{module}.optimizers", f"{tf_name}.optimizers", optimizers),
            "initializers": initializers,
            "layers": _ns(f"{module}.layers", f"{tf_name}.layers", _keras_layers.LAYERS),
        },
    )


class _Errors:
    """``tf.errors``: TensorFlow's exception classes, for programs that catch them."""

    class OpError(Exception):
        pass

    class OutOfRangeError(OpError):
        pass

    class InvalidArgumentError(OpError, ValueError):
        pass

    class NotFoundError(OpError, FileNotFoundError):
        pass


ERRORS = {k: v for k, v in vars(_Errors).items() if isinstance(v, type)}


class ConfigProto:
    """``tf.ConfigProto(...)``: accepted for ``RunConfig(session_config=...)`` (ignored)."""

    def __init__(self, **kwargs: Any) -> None:
        self.__dict__.update(kwargs)

    def __repr__(self) -> str:
        return f"ConfigProto({self.__dict__!r})"


def set_random_seed(seed: int | None) -> None:
    """TF's graph-level seed: estimators take theirs from ``RunConfig(tf_random_seed=...)`` (as
    TF's did); it seeds the datasets the program iterates itself, and numpy's and Python's
    generators for the program's own use."""
    data.GLOBAL_SEED[0] = None if seed is None else int(seed)
    if seed is not None:
        np.random.seed(seed % 2**32)
        _random.seed(seed)


def _print(*inputs: Any, **kwargs: Any) -> None:
    print(*(x.numpy() if isinstance(x, Tensor) and x.concrete else x for x in inputs))


def _noop(*args: Any, **kwargs: Any) -> None:
    return None


# -- TF 2 (``import mlengine.tf as tf``) ------------------------------------------------------


def tf2_members(root: str) -> dict[str, Any]:
    members: dict[str, Any] = dict(OPS)
    members.update(
        {
            "estimator": _estimator(f"{root}.estimator", "tf.estimator", _estimators.V2, v1=False),
            "feature_column": _feature_column(f"{root}.feature_column", "tf.feature_column"),
            "data": data,
            "io": _io(f"{root}.io", "tf.io"),
            "strings": _ns(f"{root}.strings", "tf.strings", STRINGS),
            "math": _ns(f"{root}.math", "tf.math", MATH),
            "nn": nn,
            "lookup": lookup,
            "dtypes": dtypes,
            "keras": _keras(f"{root}.keras", "tf.keras"),
            "train": _ns(f"{root}.train", "tf.train", {**EXAMPLE_PROTOS, **HOOKS}),
            "errors": _ns(f"{root}.errors", "tf.errors", ERRORS),
            "random": _ns(f"{root}.random", "tf.random", {"set_seed": set_random_seed}),
            "autograph": _ns(f"{root}.autograph", "tf.autograph", {"set_verbosity": _noop}),
            "get_logger": logging.get_logger,
            "print": _print,
            "executing_eagerly": lambda: True,
            "__version__": VERSION,
            "version": _ns(f"{root}.version", "tf.version", {"VERSION": VERSION}),
        }
    )
    return members


# -- TF 1 (``import mlengine.tf.compat.v1 as tf``) --------------------------------------------


def v1_namespace(root: str) -> Namespace:
    members: dict[str, Any] = dict(OPS)
    lookup_v1 = {
        "index_table_from_tensor": lookup.index_table_from_tensor,
        "string_to_index_table_from_tensor": lookup.index_table_from_tensor,
        "index_table_from_file": lookup.index_table_from_file,
        "index_to_string_table_from_tensor": lookup.index_to_string_table_from_tensor,
        "HashTable": lookup.StaticHashTable,
        "StaticHashTable": lookup.StaticHashTable,
        "StaticVocabularyTable": lookup.StaticVocabularyTable,
        "KeyValueTensorInitializer": lookup.KeyValueTensorInitializer,
    }

    def learn_modules(path: str) -> dict[str, Namespace]:
        """``learn_runner`` and ``utils.saved_model_export_utils`` under ``path`` (contrib's
        programs import them from ``contrib.learn`` and ``contrib.learn.python.learn``)."""
        export_utils = {"make_export_strategy": _experiment.make_export_strategy}
        utils = _ns(
            f"{root}.{path}.utils",
            f"tf.{path}.utils",
            {
                **export_utils,
                "saved_model_export_utils": _ns(
                    f"{root}.{path}.utils.saved_model_export_utils",
                    f"tf.{path}.utils.saved_model_export_utils",
                    export_utils,
                ),
            },
        )
        runner = _ns(
            f"{root}.{path}.learn_runner", f"tf.{path}.learn_runner", {"run": _experiment.run}
        )
        return {"learn_runner": runner, "utils": utils}

    learn: dict[str, Any] = dict(_contrib.LEARN_ESTIMATORS)
    learn.update(
        {
            "RunConfig": _contrib.RunConfig,
            "InputFnOps": _export.InputFnOps,
            "Experiment": _experiment.Experiment,
            **learn_modules("contrib.learn"),
            "python": _ns(
                f"{root}.contrib.learn.python",
                "tf.contrib.learn.python",
                {
                    "learn": _ns(
                        f"{root}.contrib.learn.python.learn",
                        "tf.contrib.learn.python.learn",
                        learn_modules("contrib.learn.python.learn"),
                    )
                },
            ),
            "infer_real_valued_columns_from_input": _contrib.infer_real_valued_columns_from_input,
            "datasets": _ns(
                f"{root}.contrib.learn.datasets",
                "tf.contrib.learn.datasets",
                {
                    "base": _ns(
                        f"{root}.contrib.learn.datasets.base",
                        "tf.contrib.learn.datasets.base",
                        {"load_csv_with_header": _contrib.load_csv_with_header},
                    )
                },
            ),
        }
    )
    layers = dict(_contrib.LAYERS)
    layers["create_feature_spec_for_parsing"] = _export.make_parse_example_spec
    layers["fully_connected"] = fully_connected
    contrib = _ns(
        f"{root}.contrib",
        "tf.contrib",
        {
            "learn": _ns(f"{root}.contrib.learn", "tf.contrib.learn", learn),
            "layers": _ns(f"{root}.contrib.layers", "tf.contrib.layers", layers),
            "lookup": _ns(f"{root}.contrib.lookup", "tf.contrib.lookup", lookup_v1),
            "estimator": _ns(f"{root}.contrib.estimator", "tf.contrib.estimator", HEAD_FUNCTIONS),
            "training": _ns(
                f"{root}.contrib.training",
                "tf.contrib.training",
                {
                    "HParams": _contrib.HParams,
                    "python": _ns(
                        f"{root}.contrib.training.python",
                        "tf.contrib.training.python",
                        {
                            "training": _ns(
                                f"{root}.contrib.training.python.training",
                                "tf.contrib.training.python.training",
                                {
                                    "hparam": _ns(
                                        f"{root}.contrib.training.python.training.hparam",
                                        "tf.contrib.training.python.training.hparam",
                                        {"HParams": _contrib.HParams},
                                    )
                                },
                            )
                        },
                    ),
                },
            ),
        },
    )
    members.update(
        {
            "estimator": _estimator(
                f"{root}.estimator", "tf.compat.v1.estimator", _estimators.V1, v1=True
            ),
            "feature_column": _feature_column(
                f"{root}.feature_column", "tf.compat.v1.feature_column", v1=True
            ),
            "layers": _ns(f"{root}.layers", "tf.compat.v1.layers", LAYERS),
            "losses": _ns(f"{root}.losses", "tf.compat.v1.losses", LOSSES),
            "metrics": _ns(f"{root}.metrics", "tf.compat.v1.metrics", METRICS),
            "summary": _ns(f"{root}.summary", "tf.compat.v1.summary", {"scalar": _layers.scalar}),
            "get_variable": _layers.get_variable,
            "variable_scope": _layers.variable_scope,
            "data": _ns(
                f"{root}.data",
                "tf.compat.v1.data",
                {
                    "Dataset": data.Dataset,
                    "TextLineDataset": data.TextLineDataset,
                    "TFRecordDataset": data.TFRecordDataset,
                    "Iterator": data.Iterator_,
                    "make_one_shot_iterator": data.make_one_shot_iterator,
                    "experimental": data.experimental,
                },
            ),
            "io": _io(f"{root}.io", "tf.compat.v1.io"),
            "python_io": _ns(
                f"{root}.python_io",
                "tf.compat.v1.python_io",
                {
                    "TFRecordWriter": _tfrecord.TFRecordWriter,
                    "tf_record_iterator": _tfrecord.read_records,
                },
            ),
            "strings": _ns(f"{root}.strings", "tf.compat.v1.strings", STRINGS),
            "math": _ns(f"{root}.math", "tf.compat.v1.math", MATH),
            "nn": nn,
            "lookup": _ns(f"{root}.lookup", "tf.compat.v1.lookup", lookup_v1),
            "dtypes": dtypes,
            "keras": _keras(f"{root}.keras", "tf.compat.v1.keras"),
            "train": _ns(
                f"{root}.train",
                "tf.compat.v1.train",
                {**EXAMPLE_PROTOS, **HOOKS, **_estimators.V1_OPTIMIZERS, **GLOBAL_STEP},
            ),
            "contrib": contrib,
            "logging": logging,
            "app": app,
            "flags": app.flags,
            "gfile": gfile,
            "errors": _ns(f"{root}.errors", "tf.compat.v1.errors", ERRORS),
            "decode_csv": _parsing.decode_csv,
            "parse_example": _parsing.parse_example,
            "parse_single_example": _parsing.parse_single_example,
            "FixedLenFeature": _parsing.FixedLenFeature,
            "VarLenFeature": _parsing.VarLenFeature,
            "string_to_number": _ops.string_to_number,
            "string_strip": _ops.strip,
            "regex_replace": _ops.regex_replace,
            "placeholder": _export.placeholder,
            "truncated_normal_initializer": _estimators.TruncatedNormal,
            "tables_initializer": lookup.tables_initializer,
            "to_float": lambda x, name=None: _ops.cast(x, dtypes.float32),
            "to_double": lambda x, name=None: _ops.cast(x, dtypes.float64),
            "to_int32": lambda x, name=None: _ops.cast(x, dtypes.int32),
            "to_int64": lambda x, name=None: _ops.cast(x, dtypes.int64),
            "ConfigProto": ConfigProto,
            "GPUOptions": ConfigProto,
            "set_random_seed": set_random_seed,
            "random": _ns(
                f"{root}.random", "tf.compat.v1.random", {"set_random_seed": set_random_seed}
            ),
            "disable_v2_behavior": _noop,
            "disable_eager_execution": _noop,
            "enable_eager_execution": _noop,
            "enable_v2_behavior": _noop,
            "executing_eagerly": lambda: False,
            "get_logger": logging.get_logger,
            "print": _print,
            "__version__": VERSION,
            "VERSION": VERSION,
        }
    )
    return _ns(root, "tf.compat.v1", members)


def compat_namespace(root: str, v2: Any) -> Namespace:
    def as_bytes(value: Any, encoding: str = "utf-8") -> bytes:
        return value if isinstance(value, bytes) else str(value).encode(encoding)

    def as_text(value: Any, encoding: str = "utf-8") -> str:
        return value.decode(encoding) if isinstance(value, bytes) else str(value)

    return _ns(
        f"{root}.compat",
        "tf.compat",
        {
            "v1": v1_namespace(f"{root}.compat.v1"),
            "v2": v2,
            "as_bytes": as_bytes,
            "as_text": as_text,
            "as_str": as_text,
            "as_str_any": as_text,
        },
    )


__all__ = ["VERSION", "compat_namespace", "tf2_members", "v1_namespace"]
