"""Small census slices and tiny canned estimators shared by the estimator tests.

Imported as ``from tests.estimator.helpers import ...`` (see ``tests/helpers.py``).
Every model here is deliberately small (a few columns, hidden units of 8 and 4) and every data
set a slice of a few hundred census rows, so a train + evaluate takes well under a second on a
2-core CI machine.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census

EDUCATION = [
    "Bachelors", "HS-grad", "11th", "Masters", "9th", "Some-college", "Assoc-acdm", "Assoc-voc",
    "7th-8th", "Doctorate", "Prof-school", "5th-6th", "10th", "1st-4th", "Preschool", "12th",
]  # fmt: skip
RACES = ["White", "Black", "Asian-Pac-Islander", "Amer-Indian-Eskimo", "Other"]
INCOME = ["<=50K", ">50K"]

BINARY_KEYS = {
    "accuracy", "accuracy_baseline", "auc", "auc_precision_recall", "average_loss",
    "label/mean", "loss", "precision", "prediction/mean", "recall", "global_step",
}  # fmt: skip
MULTICLASS_KEYS = {"accuracy", "average_loss", "loss", "global_step"}
REGRESSION_KEYS = {"average_loss", "loss", "label/mean", "prediction/mean", "global_step"}
EVAL_KEYS = {"binary": BINARY_KEYS, "multiclass": MULTICLASS_KEYS, "regression": REGRESSION_KEYS}
PREDICT_KEYS = {
    "binary": {"class_ids", "classes", "logistic", "logits", "probabilities"},
    "multiclass": {"class_ids", "classes", "logits", "probabilities"},
    "regression": {"predictions"},
}


@functools.cache
def _census_train() -> tuple[pd.DataFrame, np.ndarray]:
    return census.load("train")


def census_rows(n: int = 600, offset: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    """``n`` rows of census' training split from ``offset``: features and 0/1 income labels."""
    x, y = _census_train()
    return x.iloc[offset : offset + n].reset_index(drop=True), y[offset : offset + n].copy()


def quiet_config(**kwargs: Any) -> estimator.RunConfig:
    """A RunConfig without progress lines, seeded unless told otherwise."""
    kwargs.setdefault("tf_random_seed", 7)
    return estimator.RunConfig(quiet=True, **kwargs)


def linear_columns() -> list[fc.FeatureColumn]:
    age_buckets = fc.bucketized_column(fc.numeric_column("age"), [25, 35, 45, 55, 65])
    return [
        fc.numeric_column("education_num"),
        fc.categorical_column_with_vocabulary_list("education", EDUCATION),
        fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=64),
        age_buckets,
    ]


def dnn_columns() -> list[fc.FeatureColumn]:
    return [
        fc.numeric_column("age", normalizer_fn=fc.ZScore(38.6, 13.6)),
        fc.numeric_column("education_num", normalizer_fn=fc.ZScore(10.1, 2.6)),
        fc.indicator_column(fc.categorical_column_with_vocabulary_list("education", EDUCATION)),
        fc.embedding_column(
            fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=64), dimension=4
        ),
    ]


# -- labels for the three heads, from one census slice ---------------------------------------


def income_ids(x: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    return y


def income_strings(x: pd.DataFrame, y: np.ndarray) -> pa.Array:
    return pa.array(np.asarray(INCOME, dtype=object)[y].tolist())


def relationship_3(x: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    """Three classes: 0 Husband, 1 Not-in-family, 2 any other relationship."""
    rel = x["relationship"].to_numpy(dtype=object)
    return np.where(rel == "Husband", 0, np.where(rel == "Not-in-family", 1, 2)).astype(np.int64)


def race_strings(x: pd.DataFrame, y: np.ndarray) -> pa.Array:
    return pa.array(x["race"].astype(str).tolist())


def hours(x: pd.DataFrame, y: np.ndarray) -> np.ndarray:
    return x["hours_per_week"].to_numpy(dtype=np.float32)


@dataclass(frozen=True)
class Case:
    """One canned estimator configuration, its head, and how to label a census slice."""

    id: str
    head: str  # "binary", "multiclass" or "regression"
    build: Callable[..., estimator.Estimator]
    labels: Callable[[pd.DataFrame, np.ndarray], Any]

    def make(self, model_dir: Any, seed: int | None = 7, **kwargs: Any) -> estimator.Estimator:
        config = kwargs.pop("config", None) or quiet_config(tf_random_seed=seed)
        return self.build(model_dir=str(model_dir), config=config, **kwargs)

    def train_fn(self, n: int = 600, batch_size: int = 50, seed: int = 0) -> Any:
        x, y = census_rows(n)
        return estimator.inputs.pandas_input_fn(
            x, self.labels(x, y), batch_size=batch_size, num_epochs=None, shuffle=True, seed=seed
        )

    def eval_fn(self, n: int = 300, offset: int = 1000) -> Any:
        x, y = census_rows(n, offset)
        return estimator.inputs.pandas_input_fn(
            x, self.labels(x, y), batch_size=128, num_epochs=1, shuffle=False
        )

    def predict_fn(self, n: int = 40, offset: int = 2000) -> Any:
        x, _ = census_rows(n, offset)
        return estimator.inputs.pandas_input_fn(x, batch_size=16, num_epochs=1, shuffle=False)


def _linear_classifier(**kw: Any) -> estimator.Estimator:
    return estimator.LinearClassifier(feature_columns=linear_columns(), **kw)


def _linear_regressor(**kw: Any) -> estimator.Estimator:
    return estimator.LinearRegressor(feature_columns=linear_columns(), **kw)


def _dnn_classifier(**kw: Any) -> estimator.Estimator:
    kw.setdefault("dropout", 0.2)  # dropout makes the seed matter
    return estimator.DNNClassifier(hidden_units=[8, 4], feature_columns=dnn_columns(), **kw)


def _dnn_regressor(**kw: Any) -> estimator.Estimator:
    return estimator.DNNRegressor(hidden_units=[8, 4], feature_columns=dnn_columns(), **kw)


def _wide_deep_classifier(**kw: Any) -> estimator.Estimator:
    return estimator.DNNLinearCombinedClassifier(
        linear_feature_columns=linear_columns(),
        dnn_feature_columns=dnn_columns(),
        dnn_hidden_units=[8, 4],
        **kw,
    )


def _wide_deep_regressor(**kw: Any) -> estimator.Estimator:
    return estimator.DNNLinearCombinedRegressor(
        linear_feature_columns=linear_columns(),
        dnn_feature_columns=dnn_columns(),
        dnn_hidden_units=[8, 4],
        **kw,
    )


def _with(build: Callable[..., estimator.Estimator], **fixed: Any) -> Callable[..., Any]:
    return lambda **kw: build(**fixed, **kw)


CASES = [
    Case("LinearClassifier", "binary", _linear_classifier, income_ids),
    Case("LinearRegressor", "regression", _linear_regressor, hours),
    Case("DNNClassifier", "binary", _dnn_classifier, income_ids),
    Case("DNNRegressor", "regression", _dnn_regressor, hours),
    Case("DNNLinearCombinedClassifier", "binary", _wide_deep_classifier, income_ids),
    Case("DNNLinearCombinedRegressor", "regression", _wide_deep_regressor, hours),
    Case("BaselineClassifier", "binary", estimator.BaselineClassifier, income_ids),
    Case("BaselineRegressor", "regression", estimator.BaselineRegressor, hours),
    # Multiclass heads, and string labels through label_vocabulary.
    Case(
        "LinearClassifier-3-classes",
        "multiclass",
        _with(_linear_classifier, n_classes=3),
        relationship_3,
    ),
    Case(
        "DNNLinearCombinedClassifier-race-vocabulary",
        "multiclass",
        _with(_wide_deep_classifier, n_classes=5, label_vocabulary=RACES),
        race_strings,
    ),
    Case(
        "DNNClassifier-income-vocabulary",
        "binary",
        _with(_dnn_classifier, label_vocabulary=INCOME),
        income_strings,
    ),
    Case(
        "DNNRegressor-batch-norm",
        "regression",
        _with(_dnn_regressor, batch_norm=True, dropout=0.1),
        hours,
    ),
    Case(
        "BaselineClassifier-3-classes",
        "multiclass",
        _with(estimator.BaselineClassifier, n_classes=3),
        relationship_3,
    ),
]
CASE_IDS = [case.id for case in CASES]


def read_scalars(logdir: Any) -> dict[str, list[tuple[int, float]]]:
    """Every scalar TensorBoard's own reader sees in ``logdir``: tag -> [(step, value)]."""
    accumulator = EventAccumulator(str(logdir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return {
        tag: [(event.step, event.value) for event in accumulator.Scalars(tag)]
        for tag in accumulator.Tags()["scalars"]
    }


def global_step_of(checkpoint: str | None) -> int:
    """The step in a checkpoint prefix ``.../ckpt-<N>`` (0 for None)."""
    return 0 if checkpoint is None else int(checkpoint.rsplit("-", 1)[-1])
