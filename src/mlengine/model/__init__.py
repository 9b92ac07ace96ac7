"""The networks and heads: what both training and prediction need, nothing more.

The heads (numpy) load at once; the torch networks on first use, so that a serving process,
which predicts with :mod:`mlengine.model.numpy_network`, never imports torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from mlengine.model.heads import (
    BinaryClassHead,
    Head,
    MultiClassHead,
    PredictionKeys,
    RegressionHead,
)

if TYPE_CHECKING:
    from mlengine.model.build import Model, build_model
    from mlengine.model.feature_tensors import FeatureTensors
    from mlengine.model.networks import NetworkInputs, WideDeepNetwork

_TORCH_PARTS = {
    "Model": "mlengine.model.build",
    "build_model": "mlengine.model.build",
    "FeatureTensors": "mlengine.model.feature_tensors",
    "NetworkInputs": "mlengine.model.networks",
    "WideDeepNetwork": "mlengine.model.networks",
}


def __getattr__(name: str) -> Any:
    module = _TORCH_PARTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlengine.model' has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


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
