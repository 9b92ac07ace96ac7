"""piecewise_linear_column: a column type added in one home (its module, these tests, the
README), and the whole machinery (transform, signature, DNN, export, Predictor) takes it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import InvalidParameterError
from mlengine.export import load
from mlengine.export.format import signature_inputs

AGE = fc.numeric_column("age", default_value=40.0)
AGE_PLE = fc.piecewise_linear_column(AGE, [20, 30, 50, 80])


def test_each_bin_holds_how_far_the_value_has_come_through_it() -> None:
    values = [10.0, 20.0, 25.0, 30.0, 40.0, 80.0, 95.0, None]  # None takes the default, 40
    dense = fc.FeatureTransformer([AGE_PLE]).transform({"age": values}).dense
    expected = [
        [0, 0, 0],
        [0, 0, 0],
        [0.5, 0, 0],
        [1, 0, 0],
        [1, 0.5, 0],
        [1, 1, 1],
        [1, 1, 1],
        [1, 0.5, 0],
    ]
    np.testing.assert_array_equal(dense, np.array(expected, dtype=np.float32))


def test_the_source_columns_normaliser_and_shape_apply_first() -> None:
    scaled = fc.numeric_column("x", shape=2, normalizer_fn=fc.MinMax(0.0, 10.0))
    column = fc.piecewise_linear_column(scaled, [0.0, 0.5, 1.0])
    assert column.width == 4 and column.name == "x_piecewise_linear"
    dense = fc.FeatureTransformer([column]).transform({"x": [[2.5, 7.5]]}).dense
    np.testing.assert_array_equal(dense, [[0.5, 0.0, 1.0, 0.5]])


@pytest.mark.parametrize("boundaries", [[1.0], [2.0, 1.0], [1.0, 1.0], []])
def test_boundaries_must_be_two_or_more_and_increasing(boundaries: list[float]) -> None:
    with pytest.raises(InvalidParameterError, match="'boundaries' parameter of piecewise"):
        fc.piecewise_linear_column(AGE, boundaries)


def test_it_is_data_the_export_can_store_and_its_signature_is_the_source_input() -> None:
    assert fc.from_config(fc.to_config(AGE_PLE)) == AGE_PLE
    (spec,) = signature_inputs([AGE_PLE])
    assert spec == {"name": "age", "dtype": "float32", "shape": [-1], "required": False,
                    "default": 40.0}  # fmt: skip


def test_a_dnn_trains_on_it_and_the_export_predicts_as_the_estimator(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    age = rng.uniform(15, 90, 400)
    labels = ((age > 35) & (age < 60)).astype(np.int64)  # not monotone: bins must matter
    features = {"age": age}
    model = estimator.DNNClassifier(
        hidden_units=[8],
        feature_columns=[AGE_PLE],
        model_dir=str(tmp_path / "model"),
        optimizer="Adam",
        config=estimator.RunConfig(tf_random_seed=1, quiet=True),
    )
    model.train(
        estimator.inputs.numpy_input_fn(
            features, labels, batch_size=40, num_epochs=30, shuffle=True, seed=2
        )
    )
    metrics = model.evaluate(estimator.inputs.numpy_input_fn(features, labels, shuffle=False))
    assert metrics["accuracy"] > 0.9  # a linear function of raw age could not do this

    predicted = [
        p["probabilities"][1]
        for p in model.predict(estimator.inputs.numpy_input_fn(features, shuffle=False))
    ]
    predictor = load(model.export_saved_model(str(tmp_path / "export")))
    # One instance (the row path declines this column: the reference runs) and the batch.
    one = predictor.predict_instances([{"age": float(age[0])}])[0]["probabilities"][1]
    batch = predictor.predict({"age": age})["probabilities"][:, 1]
    # Probabilities of a one-layer network over inputs in [0, 1]: float32 rounding of sums
    # of a few terms, far below 1e-5.
    np.testing.assert_allclose(batch, predicted, rtol=0, atol=1e-5)
    assert one == pytest.approx(predicted[0], abs=1e-5)
