"""Canned estimators with ``tf.estimator``'s names, arguments and defaults.

Example:
    >>> from mlengine import estimator, feature_column as fc
    >>> model = estimator.LinearClassifier([fc.numeric_column("x")])

Modules:

* ``blend``: ``train_tabular``'s blend: trees averaged in where validation prefers it
* ``boosted_trees``: ``BoostedTreesClassifier`` / ``Regressor`` on LightGBM, with TF's arguments
* ``canned``: the canned estimators: Linear, DNN, Wide & Deep and Baseline
* ``custom``: custom estimators: ``ModuleEstimator`` and ``Estimator(model_fn=...)``'s loop
* ``estimator``: the Estimator base: train / evaluate / predict / export over a model_dir
* ``exporters``: Latest, Best and Final exporters for ``EvalSpec(exporters=...)``
* ``heads``: the public heads, with tf.estimator's names and arguments
* ``hooks``: ready-made hooks: ``LoggingTensorHook``, ``StopAtStepHook``, early stopping
* ``inputs``: ``tf.estimator.inputs``: the input functions of :mod:`mlengine.data`
* ``layers``: TF 1.x layer functions for a model_fn (parameters created by name, then reused)
* ``losses``: ``tf.losses`` for a model_fn
* ``metrics``: ``tf.metrics`` for a model_fn (value and update op, accumulated over batches)
* ``onnx_export``: a custom network exported as an ONNX graph, checked against onnxruntime
* ``spec``: ``EstimatorSpec``, ``ModeKeys`` and the export outputs
* ``tabular``: ``train_tabular``: columns chosen from data, presets, early stopping, a refit
  on every row
* ``training``: ``TrainSpec``, ``EvalSpec`` and ``train_and_evaluate``
* ``warm_start``: ``warm_start_from``: start from a checkpoint's, model_dir's or export's weights
"""

from mlengine.estimator import inputs, layers, losses, metrics
from mlengine.estimator.boosted_trees import BoostedTreesClassifier, BoostedTreesRegressor
from mlengine.estimator.canned import (
    BaselineClassifier,
    BaselineRegressor,
    DNNClassifier,
    DNNLinearCombinedClassifier,
    DNNLinearCombinedRegressor,
    DNNRegressor,
    LinearClassifier,
    LinearRegressor,
)
from mlengine.estimator.custom import ModuleEstimator
from mlengine.estimator.estimator import Estimator
from mlengine.estimator.exporters import BestExporter, Exporter, FinalExporter, LatestExporter
from mlengine.estimator.heads import (
    BinaryClassHead,
    Head,
    LogisticRegressionHead,
    MultiClassHead,
    MultiLabelHead,
    PoissonRegressionHead,
    RegressionHead,
    binary_classification_head,
    logistic_regression_head,
    multi_class_head,
    multi_label_head,
    poisson_regression_head,
    regression_head,
)
from mlengine.estimator.spec import (
    ClassificationOutput,
    EstimatorSpec,
    ModeKeys,
    PredictOutput,
    RegressionOutput,
)
from mlengine.estimator.tabular import TabularResult, train_tabular
from mlengine.estimator.training import EvalSpec, TrainSpec, train_and_evaluate
from mlengine.model import heads as _heads
from mlengine.model.dense_features import DenseFeatures, LinearModel, ModelFeatures
from mlengine.training.config import RunConfig
from mlengine.training.loop import NanLossDuringTrainingError
from mlengine.training.optimizers import (
    AdagradOptimizer,
    AdamOptimizer,
    FtrlOptimizer,
    GradientDescentOptimizer,
    LazyAdamOptimizer,
    RMSPropOptimizer,
)


class LossReduction:
    """tf.losses.Reduction values accepted by ``loss_reduction``."""

    SUM = _heads.SUM
    SUM_OVER_BATCH_SIZE = _heads.SUM_OVER_BATCH_SIZE


__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "BaselineClassifier",
    "BaselineRegressor",
    "BestExporter",
    "BinaryClassHead",
    "BoostedTreesClassifier",
    "BoostedTreesRegressor",
    "ClassificationOutput",
    "DNNClassifier",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
    "DenseFeatures",
    "Estimator",
    "EstimatorSpec",
    "EvalSpec",
    "Exporter",
    "FinalExporter",
    "FtrlOptimizer",
    "GradientDescentOptimizer",
    "Head",
    "LatestExporter",
    "LazyAdamOptimizer",
    "LinearClassifier",
    "LinearModel",
    "LinearRegressor",
    "LogisticRegressionHead",
    "LossReduction",
    "ModeKeys",
    "ModelFeatures",
    "ModuleEstimator",
    "MultiClassHead",
    "MultiLabelHead",
    "NanLossDuringTrainingError",
    "PoissonRegressionHead",
    "PredictOutput",
    "RMSPropOptimizer",
    "RegressionHead",
    "RegressionOutput",
    "RunConfig",
    "TabularResult",
    "TrainSpec",
    "binary_classification_head",
    "inputs",
    "layers",
    "logistic_regression_head",
    "losses",
    "metrics",
    "multi_class_head",
    "multi_label_head",
    "poisson_regression_head",
    "regression_head",
    "train_and_evaluate",
    "train_tabular",
]
