"""Canned estimators with ``tf.estimator``'s names, arguments and defaults.

Example:
    >>> from mlengine import estimator, feature_column as fc
    >>> model = estimator.LinearClassifier([fc.numeric_column("x")])
"""

from mlengine.estimator import inputs, layers, losses, metrics
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
from mlengine.estimator.training import EvalSpec, TrainSpec, train_and_evaluate
from mlengine.model.dense_features import DenseFeatures, LinearModel, ModelFeatures
from mlengine.model.heads import SUM, SUM_OVER_BATCH_SIZE
from mlengine.training.config import RunConfig
from mlengine.training.loop import NanLossDuringTrainingError
from mlengine.training.optimizers import (
    AdagradOptimizer,
    AdamOptimizer,
    FtrlOptimizer,
    GradientDescentOptimizer,
    RMSPropOptimizer,
)


class LossReduction:
    """tf.losses.Reduction values accepted by ``loss_reduction``."""

    SUM = SUM
    SUM_OVER_BATCH_SIZE = SUM_OVER_BATCH_SIZE


__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "BaselineClassifier",
    "BaselineRegressor",
    "BestExporter",
    "BinaryClassHead",
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
]
