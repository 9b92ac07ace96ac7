"""Canned estimators with ``tf.estimator``'s names, arguments and defaults.

Example:
    >>> from mlengine import estimator, feature_column as fc
    >>> model = estimator.LinearClassifier([fc.numeric_column("x")])
"""

from mlengine.estimator import inputs
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
from mlengine.estimator.estimator import Estimator
from mlengine.estimator.exporters import BestExporter, Exporter, FinalExporter, LatestExporter
from mlengine.estimator.tabular import TabularResult, train_tabular
from mlengine.estimator.training import EvalSpec, TrainSpec, train_and_evaluate
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


class ModeKeys:
    """tf.estimator.ModeKeys."""

    TRAIN = "train"
    EVAL = "eval"
    PREDICT = "infer"


class LossReduction:
    """tf.losses.Reduction values accepted by ``loss_reduction``."""

    SUM = SUM
    SUM_OVER_BATCH_SIZE = SUM_OVER_BATCH_SIZE


__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "BaselineClassifier",
    "BaselineRegressor",
    "BoostedTreesClassifier",
    "BoostedTreesRegressor",
    "DNNClassifier",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
    "BestExporter",
    "Estimator",
    "EvalSpec",
    "Exporter",
    "FinalExporter",
    "FtrlOptimizer",
    "GradientDescentOptimizer",
    "LatestExporter",
    "LinearClassifier",
    "LinearRegressor",
    "LossReduction",
    "ModeKeys",
    "NanLossDuringTrainingError",
    "RMSPropOptimizer",
    "RunConfig",
    "TabularResult",
    "TrainSpec",
    "inputs",
    "train_and_evaluate",
    "train_tabular",
]
