"""Bad input gives a clear error from mlengine.errors that names the thing and the rule.

The examples use a tiny model over two features, ``x`` (numeric) and ``c`` (a vocabulary), fed by
plain input functions that return a list of ``(features, labels)`` batches, as a TF program's
``input_fn`` may.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import (
    CheckpointError,
    DataError,
    FeatureError,
    InvalidParameterError,
    MLEngineError,
)
from tests.estimator.helpers import quiet_config

X = fc.numeric_column("x")
C = fc.categorical_column_with_vocabulary_list("c", ["a", "b"])
FEATURES = {"x": np.array([1.0, 2.0, 3.0]), "c": np.array(["a", "b", "a"], dtype=object)}


def batches(*items: tuple[dict[str, Any], Any]) -> Any:
    """An input_fn returning the given ``(features, labels)`` batches."""
    return lambda: list(items)


def linear_classifier(model_dir: Path, **kwargs: Any) -> estimator.LinearClassifier:
    return estimator.LinearClassifier(
        [X, C], model_dir=str(model_dir), config=quiet_config(), **kwargs
    )


# -- labels ----------------------------------------------------------------------------------


def test_a_label_outside_the_classes_is_refused(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path)
    with pytest.raises(
        DataError, match=re.escape("Label 2 of example 2 is not a class id in [0, 2)")
    ):
        model.train(batches((FEATURES, np.array([0, 1, 2]))))
    with pytest.raises(DataError, match=re.escape("Label -1 of example 0")):
        model.train(batches((FEATURES, np.array([-1, 1, 0]))))
    three = linear_classifier(tmp_path / "three", n_classes=3)
    with pytest.raises(DataError, match=re.escape("not a class id in [0, 3)")):
        three.train(batches((FEATURES, np.array([0, 3, 1]))))
    with pytest.raises(DataError, match="1.5"):
        three.train(batches((FEATURES, np.array([0, 1.5, 1]))))
    assert model.latest_checkpoint() is None  # nothing was written


def test_a_label_not_in_the_label_vocabulary_is_refused(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path, label_vocabulary=["no", "yes"])
    with pytest.raises(DataError, match=r"Label 'maybe' of example 1 is not in label_vocabulary"):
        model.train(batches((FEATURES, np.array(["no", "maybe", "yes"], dtype=object))))
    with pytest.raises(DataError, match="must be strings from label_vocabulary"):
        model.train(batches((FEATURES, np.array([0, 1, 1]))))


def test_string_labels_without_a_label_vocabulary_are_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="label_vocabulary"):
        linear_classifier(tmp_path).train(batches((FEATURES, np.array(["no", "yes", "no"]))))


def test_a_nan_label_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="Label of example 1 is missing"):
        linear_classifier(tmp_path / "c").train(batches((FEATURES, np.array([0.0, np.nan, 1.0]))))
    regressor = estimator.LinearRegressor(
        [X, C], model_dir=str(tmp_path / "r"), config=quiet_config()
    )
    with pytest.raises(DataError, match=r"Label of example 1 is not a finite number: \[nan\]"):
        regressor.train(batches((FEATURES, np.array([0.5, np.nan, 1.0]))))
    with pytest.raises(DataError, match="example 2"):
        regressor.train(batches((FEATURES, np.array([0.5, 1.0, np.inf]))))


def test_evaluate_checks_labels_too(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path).train(batches((FEATURES, np.array([0, 1, 0]))))
    with pytest.raises(DataError, match=re.escape("[0, 2)")):
        model.evaluate(batches((FEATURES, np.array([0, 7, 0]))))


def test_training_without_labels_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="no labels"):
        linear_classifier(tmp_path).train(lambda: [FEATURES])


# -- features --------------------------------------------------------------------------------


def test_an_empty_batch_is_refused(tmp_path: Path) -> None:
    empty = {"x": np.array([], dtype=np.float64), "c": np.array([], dtype=object)}
    model = linear_classifier(tmp_path)
    with pytest.raises(DataError, match=r"empty batch \(input batch 1\)"):
        model.train(batches((FEATURES, np.array([0, 1, 0])), (empty, np.array([], dtype=np.int64))))
    assert model.latest_checkpoint() is None


def test_an_input_fn_yielding_nothing_fails_evaluate(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path).train(batches((FEATURES, np.array([0, 1, 0]))))
    with pytest.raises(InvalidParameterError, match="no batches"):
        model.evaluate(lambda: [])


def test_a_missing_column_is_named(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path)
    with pytest.raises(FeatureError, match=r"Feature 'c' is required by column 'c' but missing"):
        model.train(batches(({"x": FEATURES["x"]}, np.array([0, 1, 0]))))
    trained = linear_classifier(tmp_path / "t").train(batches((FEATURES, np.array([0, 1, 0]))))
    with pytest.raises(FeatureError, match="'x'"):
        list(trained.predict(lambda: [{"c": FEATURES["c"]}]))


def test_a_missing_weight_column_is_named(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path, weight_column="w")
    with pytest.raises(FeatureError, match="'w'"):
        model.train(batches((FEATURES, np.array([0, 1, 0]))))


def test_labels_and_features_of_different_lengths_are_refused(tmp_path: Path) -> None:
    with pytest.raises(FeatureError, match="3 rows of features but 2 labels"):
        linear_classifier(tmp_path).train(batches((FEATURES, np.array([0, 1]))))


def test_extra_columns_are_ignored_with_exactly_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    extra = {**FEATURES, "zip": np.array([1, 2, 3]), "note": np.array(["p", "q", "r"])}
    model = linear_classifier(tmp_path)
    with caplog.at_level(logging.WARNING, logger="mlengine"):
        model.train(batches(*[(extra, np.array([0, 1, 0]))] * 4))
    warnings = [r for r in caplog.records if r.name == "mlengine" and r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "['note', 'zip']" in warnings[0].getMessage()
    assert model.latest_checkpoint() is not None  # ... and training went on, 4 steps
    assert model.evaluate(batches((FEATURES, np.array([0, 1, 0]))))["global_step"] == 4


# -- parameters ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("build", "named"),
    [
        (lambda: estimator.DNNClassifier(hidden_units=[], feature_columns=[X]), "hidden_units"),
        (lambda: estimator.DNNRegressor(hidden_units=[4, 0], feature_columns=[X]), "hidden_units"),
        (
            lambda: estimator.DNNLinearCombinedClassifier(
                dnn_feature_columns=[X], dnn_hidden_units=[]
            ),
            "dnn_hidden_units",
        ),
        (lambda: estimator.LinearClassifier([X], n_classes=1), "n_classes"),
        (lambda: estimator.DNNClassifier([4], [X], n_classes=1), "n_classes"),
        (lambda: estimator.DNNClassifier([4], [X], dropout=1.5), "dropout"),
        (lambda: estimator.DNNClassifier([4], [X], dropout=-0.1), "dropout"),
        (
            lambda: estimator.DNNLinearCombinedRegressor(
                dnn_feature_columns=[X], dnn_hidden_units=[4], dnn_dropout=1.5
            ),
            "dnn_dropout",
        ),
        (lambda: estimator.DNNClassifier([4], [X], optimizer="Adadelta"), "Adadelta"),
        (lambda: estimator.LinearRegressor([X], optimizer="sgd"), "sgd"),
        (
            lambda: estimator.DNNLinearCombinedClassifier(
                linear_feature_columns=[C], linear_optimizer="Fancy"
            ),
            "linear_optimizer",
        ),
        (lambda: estimator.DNNClassifier([4], [C]), "indicator_column"),  # DNNs need dense columns
        (lambda: estimator.DNNLinearCombinedClassifier(), "linear_feature_columns"),
        (lambda: estimator.LinearClassifier([X], label_vocabulary=["a", "b", "c"]), "n_classes"),
        (lambda: estimator.LinearClassifier([X], loss_reduction="max"), "loss_reduction"),
        (lambda: estimator.RunConfig(save_checkpoints_steps=0), "save_checkpoints_steps"),
        (
            lambda: estimator.RunConfig(save_checkpoints_steps=5, save_checkpoints_secs=5),
            "mutually exclusive",
        ),
    ],
)
def test_invalid_parameters_name_the_parameter(build: Any, named: str) -> None:
    with pytest.raises(InvalidParameterError, match=re.escape(named)):
        build()


def test_invalid_parameter_errors_are_also_value_errors() -> None:
    with pytest.raises(ValueError, match="n_classes"):
        estimator.LinearClassifier([X], n_classes=1)


def test_steps_and_max_steps_together_are_refused(tmp_path: Path) -> None:
    model = linear_classifier(tmp_path)
    with pytest.raises(InvalidParameterError, match="both steps and max_steps"):
        model.train(batches((FEATURES, np.array([0, 1, 0]))), steps=1, max_steps=3)
    with pytest.raises(InvalidParameterError, match="'steps'"):
        model.train(batches((FEATURES, np.array([0, 1, 0]))), steps=0)


def test_an_estimator_without_a_model_fn_is_refused() -> None:
    with pytest.raises(InvalidParameterError, match="'model_fn' parameter of Estimator"):
        estimator.Estimator(model_dir=None)


# -- model_dir -------------------------------------------------------------------------------


def test_a_model_dir_of_another_model_is_refused_naming_what_differs(tmp_path: Path) -> None:
    labels = np.array([0, 1, 0])
    linear_classifier(tmp_path).train(batches((FEATURES, labels)))

    other_columns = estimator.LinearClassifier([X], model_dir=str(tmp_path), config=quiet_config())
    with pytest.raises(CheckpointError, match=r"another model .*\['linear_feature_columns'\]"):
        other_columns.train(batches((FEATURES, labels)))

    other_head = linear_classifier(tmp_path, n_classes=3)
    with pytest.raises(CheckpointError, match=r"\['head'\]"):
        other_head.evaluate(batches((FEATURES, labels)))
    with pytest.raises(CheckpointError, match=r"\['head'\]"):
        list(other_head.predict(lambda: [FEATURES]))

    dnn = estimator.DNNClassifier([4], [X], model_dir=str(tmp_path), config=quiet_config())
    with pytest.raises(CheckpointError, match="dnn_hidden_units"):
        dnn.train(batches((FEATURES, labels)))

    # The refused runs left the model_dir as it was: the original model still resumes.
    resumed = linear_classifier(tmp_path).train(batches((FEATURES, labels)))
    assert resumed.latest_checkpoint() == str(tmp_path / "ckpt-2")


def test_every_error_derives_from_mlengine_error() -> None:
    for error in (CheckpointError, DataError, FeatureError, InvalidParameterError):
        assert issubclass(error, MLEngineError)


def test_a_diverging_model_raises_and_is_never_checkpointed(tmp_path: Path) -> None:
    # A learning rate of 1,000 on features in the thousands: the loss is inf, then NaN, within
    # a few steps. As TF's NanTensorHook: an error, and no checkpoint of the diverged weights.
    model = estimator.LinearRegressor(
        [X],
        model_dir=str(tmp_path),
        optimizer=estimator.GradientDescentOptimizer(learning_rate=1e3),
        config=quiet_config(save_checkpoints_steps=50),
    )
    huge = {"x": np.array([1e3, 2e3, 3e3])}
    with pytest.raises(estimator.NanLossDuringTrainingError, match="diverged"):
        model.train(batches(*[(huge, np.array([1.0, 2.0, 3.0]))] * 20))
    assert model.latest_checkpoint() is None
    with pytest.raises(ArithmeticError):  # it is also an ArithmeticError (and a DataError)
        model.train(batches(*[(huge, np.array([1.0, 2.0, 3.0]))] * 20))
