"""Trained models and exports shared by the export tests and ``tests/cli/test_predict.py``.

Imported as ``tests.export.helpers``: one module however many folders use it, so the Wide & Deep
model is trained once per test session.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census
from tests.helpers import census_example

REPO_ROOT = Path(__file__).resolve().parents[2]
CENSUS_JSON = REPO_ROOT / "examples" / "census" / "census.json"

BINARY_KEYS = ["class_ids", "classes", "logistic", "logits", "probabilities"]
MULTICLASS_KEYS = ["class_ids", "classes", "logits", "probabilities"]
REGRESSION_KEYS = ["predictions"]


def census_instances() -> list[dict[str, Any]]:
    """The talk's two JSON instances (with their leading spaces)."""
    return [json.loads(line) for line in CENSUS_JSON.read_text().splitlines() if line.strip()]


def quiet(**kwargs: Any) -> estimator.RunConfig:
    kwargs.setdefault("tf_random_seed", 1)
    return estimator.RunConfig(quiet=True, **kwargs)


@dataclass
class Trained:
    """A trained estimator, the rows it saw and one export of it."""

    estimator: estimator.Estimator
    x: pd.DataFrame
    y: np.ndarray
    export_dir: Path


_CACHE: dict[str, Trained] = {}


def wide_deep(base: Path, rows: int = 2000, steps: int = 300) -> Trained:
    """The TF tutorial's Wide & Deep on ``rows`` census rows, evaluated and exported (cached)."""
    cached = _CACHE.get("wide_deep")
    if cached is not None:
        return cached
    x, y = census.load("train")
    x, y = x.head(rows).reset_index(drop=True), y[:rows].copy()
    wide, deep = census_example().build_model_columns()
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=str(base / "model"),
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[100, 75, 50, 25],
        config=quiet(),
    )
    model.train(
        input_fn=estimator.inputs.pandas_input_fn(
            x, y, batch_size=40, num_epochs=None, shuffle=True, seed=1
        ),
        steps=steps,
    )
    model.evaluate(input_fn=estimator.inputs.pandas_input_fn(x, y, batch_size=rows, shuffle=False))
    path = Path(model.export_saved_model(str(base / "exports")))
    _CACHE["wide_deep"] = Trained(model, x, y, path)
    return _CACHE["wide_deep"]


def small(base: Path, kind: str, columns: list[fc.FeatureColumn], rows: int = 200) -> Trained:
    """A LinearClassifier / LinearRegressor / 3-class DNN on a few census rows, exported."""
    x, y = census.load("train")
    x = x.head(rows).reset_index(drop=True)
    config = quiet()
    model: estimator.Estimator
    if kind == "binary":
        labels: np.ndarray = y[:rows].copy()
        model = estimator.LinearClassifier(
            feature_columns=columns, model_dir=str(base / "model"), config=config
        )
    elif kind == "multiclass":
        labels = np.digitize(x["education_num"].to_numpy(), [9, 12]).astype(np.int64)
        model = estimator.LinearClassifier(
            feature_columns=columns,
            n_classes=3,
            label_vocabulary=["low", "mid", "high"],
            model_dir=str(base / "model"),
            config=config,
        )
        labels = np.array(["low", "mid", "high"], dtype=object)[labels]
    else:
        labels = x["hours_per_week"].to_numpy(np.float32)
        model = estimator.LinearRegressor(
            feature_columns=columns, model_dir=str(base / "model"), config=config
        )
    model.train(
        input_fn=estimator.inputs.pandas_input_fn(x, labels, batch_size=50, shuffle=False),
        steps=4,
    )
    return Trained(model, x, labels, Path(model.export_saved_model(str(base / "exports"))))


def read_manifest(export_dir: Path) -> dict[str, Any]:
    return json.loads((export_dir / "saved_model.json").read_text())


# -- a custom estimator: your own module (two hidden layers) over DenseFeatures + LinearModel --


def custom_columns() -> tuple[list[fc.FeatureColumn], list[fc.FeatureColumn]]:
    """Wide (sparse) and deep (dense) columns of the talk's census features."""
    education = fc.categorical_column_with_vocabulary_list(
        "education", ["Bachelors", "HS-grad", "11th", "Masters", "Some-college", "Doctorate"]
    )
    occupation = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=64)
    age = fc.numeric_column("age", normalizer_fn=fc.ZScore(38.6, 13.6))
    wide = [education, occupation, fc.bucketized_column(age, [25, 35, 45, 55, 65])]
    deep = [
        age,
        fc.numeric_column("hours_per_week", normalizer_fn=fc.ZScore(40.4, 12.3)),
        fc.indicator_column(education),
        fc.embedding_column(occupation, dimension=4),
    ]
    return wide, deep


def custom_network() -> Any:
    """A Wide & Deep variant of one's own: LinearModel + DenseFeatures -> 16 -> 8 -> logit."""
    import torch

    class WideAndDeep(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            wide, deep = custom_columns()
            self.wide = estimator.LinearModel(wide)
            self.deep = estimator.DenseFeatures(deep)
            self.hidden = torch.nn.Sequential(
                torch.nn.Linear(self.deep.output_dim, 16),
                torch.nn.ReLU(),
                torch.nn.Linear(16, 8),
                torch.nn.ReLU(),
                torch.nn.Linear(8, 1),
            )

        def forward(self, features: Any) -> Any:
            return self.wide(features) + self.hidden(self.deep(features))

    return WideAndDeep()


def custom(base: Path, rows: int = 1000, steps: int = 60) -> Trained:
    """The custom Wide & Deep (ModuleEstimator) trained on census rows and exported (cached)."""
    cached = _CACHE.get("custom")
    if cached is not None:
        return cached
    x, y = census.load("train")
    x, y = x.head(rows).reset_index(drop=True), y[:rows].copy()
    model = estimator.ModuleEstimator(
        custom_network(),
        estimator.binary_classification_head(),
        estimator.AdagradOptimizer(learning_rate=0.1),
        model_dir=str(base / "model"),
        config=quiet(),
    )
    model.train(
        estimator.inputs.pandas_input_fn(
            x, y, batch_size=64, num_epochs=None, shuffle=True, seed=1
        ),
        steps=steps,
    )
    model.evaluate(estimator.inputs.pandas_input_fn(x, y, batch_size=rows, shuffle=False))
    path = Path(model.export_saved_model(str(base / "exports")))
    _CACHE["custom"] = Trained(model, x, y, path)
    return _CACHE["custom"]
