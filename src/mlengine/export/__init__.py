"""Export format: write a trained model, and load it back as a Predictor.

This package uses :mod:`mlengine.model` only, never the training code, so serving never
imports it.

Modules:

* ``format``: the export format (version 1): names, the signature, manifest I/O
* ``predictor``: load an export and predict: :class:`Predictor`, from the directory alone
* ``probe``: whether a loaded export can serve: a prediction on an instance from its signature
* ``validate``: every size a manifest asks for checked before use; a version's memory budget
* ``writer``: write a trained model as a versioned export directory, atomically
"""

from mlengine.export.format import FORMAT_NAME, FORMAT_VERSION
from mlengine.export.predictor import Predictor, load, read_manifest

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Predictor", "load", "read_manifest"]
