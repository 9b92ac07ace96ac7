"""The export format (version 2): names, the signature derived from feature columns, and I/O.

::

    <export_base>/<unix-timestamp>/
      saved_model.json                 everything but the weights, and the list of members
      variables/variables.safetensors  every weight, by name
      assets/                          vocabulary files of file-based vocabulary columns
      model.onnx                       a member (see :mod:`mlengine.export.members`), if any

Version 2 added ``members`` (:mod:`mlengine.export.members`): the optional parts of an export,
each listed once. Version 1 exports (no members) still load; a newer version is refused with
an error naming both versions.
"""

from __future__ import annotations

import os
from typing import Any

from mlengine.feature_column import FeatureColumn
from mlengine.model.heads import Head

FORMAT_NAME = "mlengine-export"
FORMAT_VERSION = 2
READABLE_VERSIONS = (1, 2)  # every version this mlengine loads
MANIFEST_FILE = "saved_model.json"
VARIABLES_FILE = os.path.join("variables", "variables.safetensors")
ASSETS_DIR = "assets"

# TF Serving's signature names and method names.
SERVING_DEFAULT = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def signature_inputs(columns: list[FeatureColumn]) -> list[dict[str, Any]]:
    """The raw inputs the columns need, sorted by name (TF Serving's named JSON features).

    An input read by several columns is listed once, as the first column declares it, except
    that a required number (a numeric column without default) makes an optional one required.
    """
    specs: dict[str, dict[str, Any]] = {}
    for column in columns:
        for spec in column.input_specs():
            previous = specs.get(spec["name"])
            if previous is None or (
                spec["required"] and spec["dtype"] == previous["dtype"] == "float32"
            ):
                specs[spec["name"]] = spec
    return [specs[name] for name in sorted(specs)]


def signature_outputs(head: Head) -> list[dict[str, Any]]:
    """The outputs of the head, with dtype and per-example shape."""
    n = head.logits_dimension
    shapes: dict[str, tuple[str, list[int]]] = {
        "class_ids": ("int64", [-1, 1]),
        "classes": ("string", [-1, 1]),
        "logistic": ("float32", [-1, 1]),
        "logits": ("float32", [-1, n]),
        "probabilities": ("float32", [-1, 2 if head.kind == "binary" else n]),
        "predictions": ("float32", [-1, n]),
    }
    return [
        {"name": key, "dtype": shapes[key][0], "shape": shapes[key][1]}
        for key in head.prediction_keys
    ]


def signature_defs(head: Head) -> dict[str, dict[str, Any]]:
    """TF's signature names, so ``signature_name``, ``:classify`` and ``:regress`` resolve."""
    outputs = list(head.prediction_keys)
    defs: dict[str, dict[str, Any]] = {
        "predict": {"method_name": PREDICT_METHOD, "outputs": outputs}
    }
    if head.kind in ("binary", "multiclass"):
        defs["classification"] = {
            "method_name": CLASSIFY_METHOD,
            "outputs": {"classes": "classes", "scores": "probabilities"},
        }
        defs[SERVING_DEFAULT] = {"method_name": PREDICT_METHOD, "outputs": outputs}
        if head.kind == "binary":
            defs["regression"] = {"method_name": REGRESS_METHOD, "outputs": {"outputs": "logistic"}}
    else:  # regression heads; a multi-label head has the predict signature only
        if "predictions" in outputs:
            defs["regression"] = {
                "method_name": REGRESS_METHOD,
                "outputs": {"outputs": "predictions"},
            }
        defs[SERVING_DEFAULT] = {"method_name": PREDICT_METHOD, "outputs": outputs}
    return defs
