"""The networks and heads: what both training and prediction need, nothing more."""

from mlengine.model.build import Model, build_model
from mlengine.model.heads import (
    BinaryClassHead,
    Head,
    MultiClassHead,
    PredictionKeys,
    RegressionHead,
)
from mlengine.model.inputs import FeatureTensors
from mlengine.model.networks import NetworkInputs, WideDeepNetwork

__all__ = [
    "BinaryClassHead",
    "FeatureTensors",
    "Head",
    "Model",
    "MultiClassHead",
    "NetworkInputs",
    "PredictionKeys",
    "RegressionHead",
    "WideDeepNetwork",
    "build_model",
]
