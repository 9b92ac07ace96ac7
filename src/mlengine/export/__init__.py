"""Export format: write a trained model, and load it back as a Predictor.

This package uses :mod:`mlengine.model` only, never the training code, so serving never
imports it.

Modules:

* ``ensemble``: several exports served as one version (their average)
* ``evidence``: ``evidence.json``: an export's curves, history, instances, importances; checked
* ``format``: the export format (versions 1 and 2): names, the signature, manifest I/O
* ``lightgbm_model``: a LightGBM text model in an export: written, checked, read
* ``members``: format 2's optional members (ONNX graphs, ...): kinds, checks, reading
* ``onnx_runtime``: an ONNX member run by onnxruntime, after checking its graph
* ``portable``: a canned model as one ONNX graph from raw features (``export_onnx=True``)
* ``predictor``: load an export and predict: :class:`Predictor`, from the directory alone
* ``probe``: whether a loaded export can serve: a prediction on an instance from its signature
* ``receivers``: the serialized inputs (tf.Example, CSV) a serving input receiver declares
* ``scorers``: what turns features into logits when the model is not a network
* ``validate``: every size a manifest asks for checked before use; a version's memory budget
* ``writer``: write a trained model as a versioned export directory, atomically
"""

from mlengine.export.format import FORMAT_NAME, FORMAT_VERSION
from mlengine.export.predictor import Predictor, load, read_manifest

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Predictor", "load", "read_manifest"]
