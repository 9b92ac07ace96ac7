"""The TensorFlow tutorial's census columns (``examples/census/wide_deep.py``) in all three
model types, on a slice of census: train, evaluate, export, serve the same predictions."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine import estimator, export
from tests import tolerance
from tests.estimator.helpers import BINARY_KEYS, census_rows, quiet_config
from tests.helpers import census_example


@pytest.fixture(scope="module")
def tutorial() -> Any:
    return census_example()


@pytest.mark.parametrize("model_type", ["wide", "deep", "wide_deep"])
def test_the_tutorials_columns_train_evaluate_and_serve(
    model_type: str, tutorial: Any, tmp_path: Path
) -> None:
    wide, deep = tutorial.build_model_columns()
    config = quiet_config(tf_random_seed=1)
    model: estimator.Estimator
    if model_type == "wide":
        model = estimator.LinearClassifier(wide, model_dir=str(tmp_path), config=config)
    elif model_type == "deep":
        model = estimator.DNNClassifier(
            hidden_units=[100, 75, 50, 25], feature_columns=deep, model_dir=str(tmp_path),
            config=config,
        )  # fmt: skip
    else:
        model = estimator.DNNLinearCombinedClassifier(
            model_dir=str(tmp_path), linear_feature_columns=wide, dnn_feature_columns=deep,
            dnn_hidden_units=[100, 75, 50, 25], config=config,
        )  # fmt: skip
    x, y = census_rows(2000)
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=40, shuffle=True, seed=1))
    x_test, y_test = census_rows(1000, offset=5000)
    metrics = model.evaluate(estimator.inputs.pandas_input_fn(x_test, y_test, shuffle=False))

    assert set(metrics) == BINARY_KEYS
    assert metrics["global_step"] == 50  # one epoch of 2,000 rows at batch 40
    assert metrics["accuracy_baseline"] == pytest.approx(max(y_test.mean(), 1 - y_test.mean()))

    path = model.export_saved_model(tmp_path / "exports")
    served = export.load(path).predict(x_test[:50])
    ours = list(model.predict(estimator.inputs.pandas_input_fn(x_test[:50], shuffle=False)))
    expected = {key: np.stack([p[key] for p in ours]) for key in ours[0]}
    rounding = tolerance.Bound.of_export(path).logits(x_test[:50])
    tolerance.assert_predictions_close(served, expected, rounding)
