"""The export format (version 1): names, the signature derived from feature columns, and I/O.

::

    <export_base>/<unix-timestamp>/
      saved_model.json                 everything but the weights (see :func:`build_manifest`)
      variables/variables.safetensors  every weight, by name
      assets/                          vocabulary files of file-based vocabulary columns
"""

from __future__ import annotations

import os
from typing import Any

from mlengine.feature_column import (
    BucketizedColumn,
    CrossedColumn,
    EmbeddingColumn,
    FeatureColumn,
    HashBucketColumn,
    IdentityColumn,
    IndicatorColumn,
    NumericColumn,
    VocabularyColumn,
    WeightedCategoricalColumn,
)
from mlengine.model.heads import Head

FORMAT_NAME = "mlengine-export"
FORMAT_VERSION = 1
MANIFEST_FILE = "saved_model.json"
VARIABLES_FILE = os.path.join("variables", "variables.safetensors")
ASSETS_DIR = "assets"

# TF Serving's signature names and method names.
SERVING_DEFAULT = "serving_default"
PREDICT_METHOD = "tensorflow/serving/predict"
CLASSIFY_METHOD = "tensorflow/serving/classify"
REGRESS_METHOD = "tensorflow/serving/regress"


def _input_specs(column: FeatureColumn, out: dict[str, dict[str, Any]]) -> None:
    """Add the raw inputs one column reads (dtype, shape, required, default) to ``out``."""
    if isinstance(column, NumericColumn):
        shape = [-1, *column.shape] if column.shape != (1,) else [-1]
        required = column.default_value is None
        default = None
        if column.default_value is not None:
            default = (
                column.default_value[0] if column.shape == (1,) else list(column.default_value)
            )
        spec = {"dtype": "float32", "shape": shape, "required": required, "default": default}
        previous = out.get(column.key)
        if previous is None or (previous["dtype"] == "float32" and required):
            out[column.key] = {"name": column.key, **spec}
        return
    if isinstance(column, BucketizedColumn):
        _input_specs(column.source_column, out)
        return
    if isinstance(column, IndicatorColumn | EmbeddingColumn):
        _input_specs(column.categorical_column, out)
        return
    if isinstance(column, WeightedCategoricalColumn):
        _input_specs(column.categorical_column, out)
        key = column.weight_feature_key
        out.setdefault(
            key, {"name": key, "dtype": "float32", "shape": [-1], "required": False, "default": 0.0}
        )
        return
    if isinstance(column, CrossedColumn):
        for item in column.keys:
            if isinstance(item, str):
                out.setdefault(
                    item,
                    {
                        "name": item,
                        "dtype": "string",
                        "shape": [-1],
                        "required": False,
                        "default": None,
                    },
                )
            else:
                _input_specs(item, out)
        return
    if isinstance(column, IdentityColumn):
        dtype = "int64"
    elif isinstance(column, VocabularyColumn | HashBucketColumn):
        dtype = "string" if column.dtype == "string" else "int64"
    else:  # pragma: no cover - every column class is handled above
        raise TypeError(f"unknown column {column!r}")
    key = column.raw_keys[0]
    out.setdefault(
        key, {"name": key, "dtype": dtype, "shape": [-1], "required": False, "default": None}
    )


def signature_inputs(columns: list[FeatureColumn]) -> list[dict[str, Any]]:
    """The raw inputs the columns need, sorted by name (TF Serving's named JSON features)."""
    specs: dict[str, dict[str, Any]] = {}
    for column in columns:
        _input_specs(column, specs)
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
    else:
        defs["regression"] = {"method_name": REGRESS_METHOD, "outputs": {"outputs": "predictions"}}
        defs[SERVING_DEFAULT] = {"method_name": PREDICT_METHOD, "outputs": outputs}
    return defs
