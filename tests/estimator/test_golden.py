"""TF-style golden tests: one step of plain gradient descent from zero weights, worked by hand.

A linear model starts at zero (TensorFlow's initialisation), so its first gradient depends on the
labels alone and the weights after one ``GradientDescentOptimizer`` step can be written down:
``w <- w - learning_rate * dL/dw``, with the loss averaged over the batch
(``SUM_OVER_BATCH_SIZE``, TF2's default).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import CheckpointError
from tests import tolerance
from tests.estimator.helpers import quiet_config, read_scalars

ROUNDINGS = 12
"""Float32 roundings in any value below, at most: a gradient over three rows, one step, a sum
of three or four terms for a prediction."""


def assert_golden(got: Any, want: Any, magnitude: Any = None) -> None:
    """``got`` is the value worked by hand, up to its float32 roundings: a few ulps of the
    magnitude of the terms it adds up (``want``'s own where they all have one sign)."""
    magnitude = np.abs(want) if magnitude is None else magnitude
    tolerance.assert_close(got, want, tolerance.sum_tolerance(magnitude, ROUNDINGS))


X = fc.numeric_column("x")
C = fc.categorical_column_with_vocabulary_list("c", ["a", "b"])
FEATURES = {"x": np.array([1.0, 2.0, 3.0]), "c": np.array(["a", "b", "a"], dtype=object)}


def one_batch(features: dict[str, Any], labels: Any) -> Any:
    return lambda: [(features, labels)]


def weights(model: estimator.Estimator) -> dict[str, np.ndarray]:
    return {name: model.get_variable_value(name) for name in model.get_variable_names()}


def test_linear_regressor_one_gradient_descent_step(tmp_path: Path) -> None:
    # Rows (x, c, y): (1, a, 1), (2, b, 2), (3, a, 3); n = 3, learning rate 0.1.
    # Loss L = 1/n * sum_i (p_i - y_i)^2 with p_i = 0 at zero weights, so
    #   dL/dw   = 2/n * sum_i (p_i - y_i) * feature_i = -2/3 * sum_i y_i * feature_i
    #   dL/dw_x = -2/3 * (1*1 + 2*2 + 3*3) = -28/3   -> w_x = 0.1 * 28/3 = 0.933333
    #   dL/dw_a = -2/3 * (1 + 3)           = -8/3    -> w_a = 0.1 * 8/3  = 0.266667
    #   dL/dw_b = -2/3 * 2                 = -4/3    -> w_b = 0.1 * 4/3  = 0.133333
    #   dL/db   = -2/3 * (1 + 2 + 3)       = -4      -> b   = 0.4
    model = estimator.LinearRegressor(
        [X, C],
        model_dir=str(tmp_path),
        optimizer=estimator.GradientDescentOptimizer(learning_rate=0.1),
        config=quiet_config(),
    )
    model.train(one_batch(FEATURES, np.array([1.0, 2.0, 3.0])), steps=1)

    w = weights(model)
    assert set(w) == {"linear.bias", "linear.dense_weights", "linear.sparse_weights"}
    assert_golden(w["linear.dense_weights"], [[28 / 30]])  # every term positive
    assert_golden(w["linear.sparse_weights"], [[8 / 30], [4 / 30]])
    assert_golden(w["linear.bias"], [0.4])

    # Predictions p = b + w_x * x + w_c:  row 1: 0.4 + 0.933333 + 0.266667 = 1.6
    predictions = [p["predictions"][0] for p in model.predict(lambda: [FEATURES])]
    assert_golden(predictions, [1.6, 0.4 + 2 * 28 / 30 + 4 / 30, 0.4 + 3 * 28 / 30 + 8 / 30])


def test_linear_classifier_one_gradient_descent_step(tmp_path: Path) -> None:
    # Rows (x, c, y): (1, a, 1), (2, b, 0), (3, a, 1); n = 3, learning rate 0.3.
    # Sigmoid cross-entropy: dL/dz_i = (sigmoid(z_i) - y_i) / n = (0.5 - y_i) / 3 at z = 0.
    #   dL/dw_x = (-0.5*1 + 0.5*2 - 0.5*3) / 3 = -1/3   -> w_x =  0.3 / 3 =  0.1
    #   dL/dw_a = (-0.5 - 0.5) / 3             = -1/3   -> w_a =  0.1
    #   dL/dw_b = 0.5 / 3                      =  1/6   -> w_b = -0.05
    #   dL/db   = (-0.5 + 0.5 - 0.5) / 3       = -1/6   -> b   =  0.05
    model = estimator.LinearClassifier(
        [X, C],
        model_dir=str(tmp_path),
        optimizer=estimator.GradientDescentOptimizer(learning_rate=0.3),
        config=quiet_config(),
    )
    model.train(one_batch(FEATURES, np.array([1, 0, 1])), steps=1)

    w = weights(model)
    # Terms of both signs: w_x adds 0.3 * (0.5 + 1 + 1.5) / 3 = 0.3 of them, b 0.15.
    assert_golden(w["linear.dense_weights"], [[0.1]], magnitude=0.3)
    assert_golden(w["linear.sparse_weights"], [[0.1], [-0.05]])
    assert_golden(w["linear.bias"], [0.05], magnitude=0.15)

    # Row 2 (x=2, b): z = 0.05 + 0.2 - 0.05 = 0.2, logistic = 1 / (1 + e^-0.2) = 0.549834
    # (its terms, with those of the weights: 0.15 + 2 * 0.3 + 0.05 = 0.8; the logistic moves
    # by at most a quarter of the logit, and 0.549834 is rounded to 6 digits).
    second = list(model.predict(lambda: [FEATURES]))[1]
    assert_golden(second["logits"], [0.2], magnitude=0.8)
    assert_golden(second["logistic"], [1 / (1 + np.exp(-0.2))], magnitude=0.8 / 4)
    assert round(float(second["logistic"][0]), 6) == 0.549834
    assert second["class_ids"][0] == 1 and second["classes"][0] == "1"


# Three rows of a list-valued feature (a pyarrow list array), labels 3, 1, 2.
TAGS = {"tags": pa.array([["a", "b"], ["a"], ["c"]])}
TAG_LABELS = np.array([3.0, 1.0, 2.0])


@pytest.mark.parametrize(
    ("combiner", "expected_weights", "expected_logits"),
    [
        # sum: each id of a row has weight 1.  dL/dw = -2/3 * sum_i y_i * count_i(id), lr 0.1:
        #   w_a = 0.2/3 * (3 + 1) = 0.266667, w_b = 0.2/3 * 3 = 0.2, w_c = 0.2/3 * 2 = 0.133333,
        #   b = 0.2/3 * (3 + 1 + 2) = 0.4.
        # logits: row 0 = b + w_a + w_b = 0.866667, row 1 = b + w_a = 0.666667,
        #         row 2 = b + w_c = 0.533333.
        ("sum", [4 / 15, 0.2, 2 / 15], [13 / 15, 10 / 15, 8 / 15]),
        # mean: each id of a row has weight 1/len(row); row 0's two ids get 1/2 each:
        #   w_a = 0.2/3 * (3/2 + 1) = 0.166667, w_b = 0.2/3 * 3/2 = 0.1, w_c = 0.133333, b = 0.4.
        # logits: row 0 = b + (w_a + w_b) / 2 = 0.533333, row 1 = b + w_a = 0.566667,
        #         row 2 = b + w_c = 0.533333.
        ("mean", [1 / 6, 0.1, 2 / 15], [8 / 15, 17 / 30, 8 / 15]),
    ],
)
def test_sparse_combiner_on_a_list_valued_feature(
    combiner: str, expected_weights: list[float], expected_logits: list[float], tmp_path: Path
) -> None:
    tags = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c"])
    model = estimator.LinearRegressor(
        [tags],
        model_dir=str(tmp_path),
        optimizer=estimator.GradientDescentOptimizer(learning_rate=0.1),
        sparse_combiner=combiner,
        config=quiet_config(),
    )
    model.train(one_batch(TAGS, TAG_LABELS), steps=1)

    assert_golden(model.get_variable_value("linear.sparse_weights")[:, 0], expected_weights)
    assert_golden(model.get_variable_value("linear.bias"), [0.4])  # (every term positive)
    logits = [p["predictions"][0] for p in model.predict(lambda: [TAGS])]
    assert_golden(logits, expected_logits)


def test_a_changed_learning_rate_applies_when_training_resumes(tmp_path: Path) -> None:
    # One row x = 1, y = 1.  Step 1 at lr 0.1: dL/dw = dL/db = 2 * (0 - 1) = -2 -> w = b = 0.2.
    # Step 2 at lr 0.5 (as TensorFlow, the estimator's learning rate, not the checkpoint's):
    #   p = 0.4, dL/dw = 2 * (0.4 - 1) = -1.2 -> w = b = 0.2 + 0.5 * 1.2 = 0.8
    #   (with the old rate it would be 0.2 + 0.1 * 1.2 = 0.32).
    data = one_batch({"x": np.array([1.0])}, np.array([1.0]))

    def regressor(learning_rate: float) -> estimator.Estimator:
        return estimator.LinearRegressor(
            [X],
            model_dir=str(tmp_path),
            optimizer=estimator.GradientDescentOptimizer(learning_rate=learning_rate),
            config=quiet_config(save_summary_steps=1),
        )

    regressor(0.1).train(data, steps=1)
    model = regressor(0.5).train(data, steps=1)

    # Step 2's gradient subtracts 1 from 0.4: terms of 0.2 + 0.5 * 2 * (0.4 + 1) = 1.6.
    assert_golden(model.get_variable_value("linear.dense_weights"), [[0.8]], magnitude=1.6)
    assert_golden(model.get_variable_value("linear.bias"), [0.8], magnitude=1.6)
    rates = read_scalars(tmp_path)["learning_rate"]
    assert [step for step, _ in rates] == [1, 2]
    assert [round(value, 6) for _, value in rates] == [0.1, 0.5]


def test_resuming_with_another_optimizer_is_a_clear_error(tmp_path: Path) -> None:
    data = one_batch({"x": np.array([1.0])}, np.array([1.0]))
    estimator.LinearRegressor([X], model_dir=str(tmp_path), config=quiet_config()).train(data)
    sgd = estimator.LinearRegressor(
        [X],
        model_dir=str(tmp_path),
        optimizer=estimator.GradientDescentOptimizer(learning_rate=0.1),
        config=quiet_config(),
    )
    with pytest.raises(CheckpointError, match=r"Ftrl state .*'linear'.* SGD"):
        sgd.train(data)


def test_gradient_clip_norm_bounds_the_global_gradient_norm(tmp_path: Path) -> None:
    # Zero initial weights and one step of gradient descent at lr 1: the weights after the
    # step are -clip(g), whose global norm is min(|g|, gradient_clip_norm). Here |g| is large
    # (labels near 40 and a zero prediction), so the norm is exactly the clip, 0.1.
    features = {"x": np.array([1.0, 2.0, 3.0]), "c": np.array(["a", "b", "a"], dtype=object)}
    labels = np.array([40.0, 35.0, 45.0])
    norms = {}
    for clip in (None, 0.1):
        model = estimator.DNNLinearCombinedRegressor(
            model_dir=str(tmp_path / str(clip)),
            linear_feature_columns=[X, C],
            linear_optimizer=estimator.GradientDescentOptimizer(learning_rate=1.0),
            gradient_clip_norm=clip,
            config=quiet_config(),
        )
        model.train(one_batch(features, labels), steps=1)
        flat = np.concatenate([v.ravel() for v in weights(model).values()])
        norms[clip] = float(np.linalg.norm(flat))
    # torch's clip scales by clip / (norm + 1e-6): short of the clip by 1e-6 / norm of it.
    assert_golden(norms[0.1], 0.1 * norms[None] / (norms[None] + 1e-6))
    assert norms[None] > 100  # unclipped: 2/3 * |sum_i y_i * features_i| is in the hundreds


def test_loss_reduction_sum_trains_and_evaluates_on_batch_sums(tmp_path: Path) -> None:
    # TF1's SUM reduction: the loss is the batch's sum, so the first gradient is n = 3 times
    # the mean's: w_x = 0.1 * 2 * (1*1 + 2*2 + 3*3) = 2.8 (0.933333 with the mean).
    model = estimator.LinearRegressor(
        [X, C],
        model_dir=str(tmp_path),
        optimizer=estimator.GradientDescentOptimizer(learning_rate=0.1),
        loss_reduction=estimator.LossReduction.SUM,
        config=quiet_config(),
    )
    labels = np.array([1.0, 2.0, 3.0])
    model.train(one_batch(FEATURES, labels), steps=1)
    assert_golden(model.get_variable_value("linear.dense_weights"), [[2.8]])

    # evaluate: average_loss is the mean per example, loss the mean of the batch sums (here 3
    # batches of 2 rows), whether or not ``steps`` is given.
    features = {k: np.concatenate([v, v]) for k, v in FEATURES.items()}
    rows = estimator.inputs.numpy_input_fn(
        features, np.concatenate([labels, labels]), batch_size=2, shuffle=False
    )
    metrics = model.evaluate(rows)
    assert_golden(metrics["loss"], 2 * metrics["average_loss"])  # sums of squares: positive
    assert_golden(model.evaluate(rows, steps=3)["loss"], metrics["loss"])


def test_weight_column_weights_the_gradient_and_the_metrics(tmp_path: Path) -> None:
    # Rows (x, y, weight): (1, 1, 1), (2, 2, 0), (3, 3, 2). TF's SUM_OVER_BATCH_SIZE divides
    # the weighted sum by the batch size n = 3, not by the sum of the weights:
    #   dL/dw_x = 2/3 * sum_i w_i * (0 - y_i) * x_i = -2/3 * (1 + 0 + 18) = -38/3 -> w_x = 1.266667
    #   dL/db   = 2/3 * sum_i w_i * (0 - y_i)       = -2/3 * (1 + 0 + 6)  = -14/3 -> b   = 0.466667
    model = estimator.LinearRegressor(
        [X],
        model_dir=str(tmp_path),
        weight_column="w",
        optimizer=estimator.GradientDescentOptimizer(learning_rate=0.1),
        config=quiet_config(),
    )
    weighted = {"x": np.array([1.0, 2.0, 3.0]), "w": np.array([1.0, 0.0, 2.0])}
    labels = np.array([1.0, 2.0, 3.0])
    model.train(one_batch(weighted, labels), steps=1)
    assert_golden(model.get_variable_value("linear.dense_weights"), [[3.8 / 3]])
    assert_golden(model.get_variable_value("linear.bias"), [1.4 / 3])

    # Metrics are weighted means: label/mean = (1*1 + 0*2 + 2*3) / 3 = 7/3.
    metrics = model.evaluate(one_batch(weighted, labels))
    assert metrics["label/mean"] == pytest.approx(7 / 3)
    # predict needs no weights (as in TensorFlow).
    predictions = list(model.predict(lambda: [{"x": np.array([1.0])}]))
    assert_golden(predictions[0]["predictions"], [(1.4 + 3.8) / 3])
