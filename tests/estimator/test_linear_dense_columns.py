"""Dense columns in the linear part, as TF 2.15's linear model: numeric, indicator and
embedding columns; an embedding's table is trained by the linear part's optimizer."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.export import load

from .helpers import quiet_config


def houses(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    zip_code = rng.integers(0, 40, n)
    area = rng.uniform(50, 200, n)
    rooms = rng.integers(1, 6, n).astype(np.float64)
    price = area / 100 + rooms * 0.3 + (zip_code % 5) * 0.4 + rng.normal(0, 0.05, n)
    return pd.DataFrame({"zip_code": zip_code, "area": area, "rooms": rooms}), price


def test_the_talks_regressor_with_an_embedding_in_the_linear_part(tmp_path: Path) -> None:
    x, y = houses(1500, seed=0)
    area = fc.numeric_column("area")
    rooms = fc.numeric_column("rooms")
    zip_code = fc.categorical_column_with_identity("zip_code", 40)
    # ---- the talk's second snippet (mlengine's own API) -------------------------------------
    model = estimator.DNNLinearCombinedRegressor(
        linear_feature_columns=[area, rooms, fc.embedding_column(zip_code, 8)],
        dnn_feature_columns=[area, rooms, fc.indicator_column(zip_code)],
        dnn_hidden_units=[16],
        model_dir=str(tmp_path / "model"),
        config=quiet_config(),
    )
    # ------------------------------------------------------------------------------------------
    initial = None
    train = estimator.inputs.pandas_input_fn(x, y, batch_size=64, num_epochs=None, shuffle=True)
    evaluation = estimator.inputs.pandas_input_fn(x, y, batch_size=500, shuffle=False)
    model.train(train, steps=1)
    initial = model.get_variable_value("linear.tables.zip_code_embedding").copy()
    first = model.evaluate(evaluation)
    model.train(train, steps=300)
    later = model.evaluate(evaluation)
    assert later["average_loss"] < first["average_loss"] / 2
    table = model.get_variable_value("linear.tables.zip_code_embedding")
    assert table.shape == (40, 8) and not np.array_equal(table, initial)  # FTRL trains it
    assert model.get_variable_value("linear.dense_weights").shape == (2 + 8, 1)

    # The export predicts what the estimator does, on both of the Predictor's paths.
    predictor = load(model.export_saved_model(str(tmp_path / "export")))
    head = x.head(100)
    expected = np.array(
        [
            p["predictions"][0]
            for p in model.predict(estimator.inputs.pandas_input_fn(head, shuffle=False))
        ]
    )
    np.testing.assert_allclose(predictor.predict(head)["predictions"][:, 0], expected, rtol=1e-5)
    rows = predictor.predict_instances(head.head(3).to_dict("records"))
    np.testing.assert_allclose([r["predictions"][0] for r in rows], expected[:3], rtol=1e-5)


def test_a_linear_model_takes_indicator_and_embedding_columns(tmp_path: Path) -> None:
    x, y = houses(400, seed=1)
    zip_code = fc.categorical_column_with_identity("zip_code", 40)
    model = estimator.LinearRegressor(
        [
            fc.numeric_column("area"),
            fc.indicator_column(zip_code),
            fc.embedding_column(zip_code, 4),
        ],
        model_dir=str(tmp_path),
        config=quiet_config(),
    )
    data = estimator.inputs.pandas_input_fn(x, y, batch_size=50, num_epochs=None, shuffle=False)
    everything = estimator.inputs.pandas_input_fn(x, y, batch_size=400, shuffle=False)
    model.train(data, steps=1)
    first = model.evaluate(everything)["loss"]
    model.train(data, steps=40)
    assert model.get_variable_value("linear.dense_weights").shape == (1 + 40 + 4, 1)
    assert model.evaluate(everything)["loss"] < first
