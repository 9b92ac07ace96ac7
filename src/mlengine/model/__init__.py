"""The networks and heads: what both training and prediction need, nothing more.

The heads (numpy) load at once; the torch networks on first use, so that a serving process,
which predicts with :mod:`mlengine.model.numpy_network`, never imports torch.

Modules:

* ``build``: a network, its feature transformers and its head from a JSON model spec
* ``dense_features``: ``DenseFeatures`` and ``LinearModel``: feature columns as torch modules
* ``encode``: raw feature batches to network inputs, labels and example weights on a device
* ``feature_tensors``: :class:`FeatureTensors`, the torch side of ``EncodedFeatures``
* ``heads``: heads: logits to a loss, predictions and label ids, apart from any network
* ``multi_label``: the multi-label head (sigmoid cross-entropy over classes)
* ``networks``: the torch networks: a linear part, a DNN part, and their sum
* ``numpy_network``: a trained network's inference forward in numpy (the Predictor's)
* ``onnx_network``: a canned network as ONNX nodes (for portable exports)
* ``regression_heads``: the Poisson and logistic regression heads
* ``spec``: a model spec's torch-free parts: transformers and the weights' names and shapes
* ``trees``: the matrix a LightGBM model reads, from the feature columns
"""

import importlib as _importlib
import typing as _typing

from mlengine.model.heads import (
    BinaryClassHead,
    Head,
    MultiClassHead,
    PredictionKeys,
    RegressionHead,
)

if _typing.TYPE_CHECKING:
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


def __getattr__(name: str) -> object:
    module = _TORCH_PARTS.get(name)
    if module is None:
        raise AttributeError(f"module 'mlengine.model' has no attribute {name!r}")
    return getattr(_importlib.import_module(module), name)


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
