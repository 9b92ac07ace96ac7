"""Canned estimators with ``tf.estimator``'s names, arguments and defaults.

Example:
    >>> from mlengine import estimator, feature_column as fc
    >>> model = estimator.LinearClassifier([fc.numeric_column("x")])

Modules:

* ``canned``: the canned estimators: Linear, DNN, Wide & Deep and Baseline
* ``estimator``: the Estimator base: train / evaluate / predict / export over a model_dir
* ``exporters``: Latest, Best and Final exporters for ``EvalSpec(exporters=...)``
* ``inputs``: ``tf.estimator.inputs``: the input functions of :mod:`mlengine.data`
* ``training``: ``TrainSpec``, ``EvalSpec`` and ``train_and_evaluate``
* ``warm_start``: ``warm_start_from``: start from a checkpoint's, model_dir's or export's weights
"""

from mlengine.estimator import inputs
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
from mlengine.estimator.training import EvalSpec, TrainSpec, train_and_evaluate
from mlengine.model import heads as _heads
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

    SUM = _heads.SUM
    SUM_OVER_BATCH_SIZE = _heads.SUM_OVER_BATCH_SIZE


__all__ = [
    "AdagradOptimizer",
    "AdamOptimizer",
    "BaselineClassifier",
    "BaselineRegressor",
    "BestExporter",
    "DNNClassifier",
    "DNNLinearCombinedClassifier",
    "DNNLinearCombinedRegressor",
    "DNNRegressor",
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
    "TrainSpec",
    "inputs",
    "train_and_evaluate",
]
