"""Export format: write a trained model, and load it back as a Predictor.

This package uses :mod:`mlengine.model` only, never the training code, so serving never
imports it.
"""

from mlengine.export.format import FORMAT_NAME, FORMAT_VERSION
from mlengine.export.predictor import Predictor, load, read_manifest

__all__ = ["FORMAT_NAME", "FORMAT_VERSION", "Predictor", "load", "read_manifest"]
