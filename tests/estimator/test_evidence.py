"""An export's evidence from real trained models: curves, history, instances, importances."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.export import load, read_manifest
from mlengine.export.evidence import MAX_BYTES, MAX_INSTANCES, MAX_POINTS, read_evidence
from mlengine.training.evidence import LAST_EVALUATION_FILE
from tests.estimator.helpers import CASES, census_rows, linear_columns, quiet_config
from tests.export import helpers as export_helpers

# Curve values are rounded to six significant digits: a number below 1 moves by at most half a
# unit in its sixth digit.
ROUNDING = 5e-7
EVAL_ROWS = 300  # Case.eval_fn's default


def _case(case_id: str) -> Any:
    return next(case for case in CASES if case.id == case_id)


def _trained(tmp_path: Path, case_id: str, *, evaluate: bool = True) -> tuple[Any, Any, str]:
    case = _case(case_id)
    model = case.make(tmp_path / "m", config=quiet_config(save_summary_steps=10))
    model.train(case.train_fn(), steps=30)
    result = model.evaluate(case.eval_fn()) if evaluate else None
    path = model.export_saved_model(tmp_path / "export")
    return model, result, path


def test_binary_classifier_records_roc_pr_calibration_and_confusion(tmp_path: Path) -> None:
    model, result, path = _trained(tmp_path, "LinearClassifier")
    manifest = read_manifest(path)
    entry = manifest["members"]["evidence"]
    assert entry["path"] == "evidence.json" and entry["bytes"] <= MAX_BYTES
    evidence = read_evidence(path)
    assert evidence is not None and evidence.evaluated and evidence.reason is None
    assert evidence.evaluation == {
        "global_step": 30,
        "metrics": {k: v for k, v in result.items() if k != "global_step"},
    }
    curves = evidence.curves
    assert set(curves) == {"roc", "pr", "calibration", "confusion"}
    roc = curves["roc"]
    assert abs(roc["auc"] - result["auc"]) <= ROUNDING
    assert len(roc["fpr"]) <= MAX_POINTS
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (roc["fpr"][-1], roc["tpr"][-1]) == (1.0, 1.0)
    assert roc["fpr"] == sorted(roc["fpr"]) and roc["thresholds"] == sorted(roc["thresholds"])[::-1]
    assert curves["pr"]["recall"][-1] == 1.0
    # The last PR point predicts every example positive: precision is the positive rate.
    assert abs(curves["pr"]["precision"][-1] - result["label/mean"]) <= ROUNDING
    assert sum(row["count"] for row in curves["calibration"]) == EVAL_ROWS
    confusion = curves["confusion"]
    matrix = np.array(confusion["matrix"])
    assert confusion["threshold"] == 0.5 and confusion["labels"] == ["0", "1"]
    assert matrix.sum() == EVAL_ROWS
    assert abs(np.trace(matrix) / EVAL_ROWS - result["accuracy"]) <= 1e-9  # exact counts
    # The history: training loss by step, and the evaluation's metrics at its step.
    assert [step for step, _ in evidence.history["train"]["loss"]] == [10, 20, 30]
    assert evidence.history["eval"]["auc"][-1][0] == 30
    assert evidence.model_dir == os.path.abspath(model.model_dir)
    # A linear model's importances: each column's largest |weight|.
    assert evidence.importances is not None
    assert evidence.importances["method"] == "max_abs_weight"
    features = evidence.importances["features"]
    assert {f["name"] for f in features} == {c.name for c in linear_columns()}
    weights = [model.get_variable_value(n) for n in model.get_variable_names() if "weights" in n]
    largest = max(float(np.abs(w).max()) for w in weights)
    # Six significant digits: off by at most half a unit of the sixth, 5e-6 of the value.
    assert abs(features[0]["importance"] - largest) <= 5e-6 * largest


def test_instances_are_real_evaluation_rows_that_the_export_predicts(tmp_path: Path) -> None:
    _, _, path = _trained(tmp_path, "DNNLinearCombinedClassifier")
    evidence = read_evidence(path)
    assert evidence is not None and len(evidence.instances) == MAX_INSTANCES
    x, _ = census_rows(EVAL_ROWS, 1000)
    inputs = {spec["name"] for spec in read_manifest(path)["signature"]["inputs"]}
    first = evidence.instances[0]
    assert set(first) == inputs
    assert first["age"] == x["age"].iloc[0]
    assert first["education"] == x["education"].iloc[0].strip()
    json.dumps(evidence.instances)  # JSON instances, as a :predict request takes them
    assert evidence.importances is None  # a deep part's weights say nothing of importance
    predictions = load(path).predict_instances(evidence.instances)
    assert len(predictions) == MAX_INSTANCES


def test_multiclass_records_its_confusion_matrix(tmp_path: Path) -> None:
    _, result, path = _trained(tmp_path, "DNNLinearCombinedClassifier-race-vocabulary")
    evidence = read_evidence(path)
    assert evidence is not None and set(evidence.curves) == {"confusion"}
    confusion = evidence.curves["confusion"]
    assert confusion["labels"] == [
        "White",
        "Black",
        "Asian-Pac-Islander",
        "Amer-Indian-Eskimo",
        "Other",
    ]
    matrix = np.array(confusion["matrix"])
    assert matrix.shape == (5, 5) and matrix.sum() == EVAL_ROWS
    assert abs(np.trace(matrix) / EVAL_ROWS - result["accuracy"]) <= 1e-9


def test_regressor_records_residuals_by_decile(tmp_path: Path) -> None:
    _, result, path = _trained(tmp_path, "LinearRegressor")
    evidence = read_evidence(path)
    assert evidence is not None and set(evidence.curves) == {"residuals"}
    rows = evidence.curves["residuals"]
    assert [row["decile"] for row in rows] == list(range(1, 11))
    assert sum(row["count"] for row in rows) == EVAL_ROWS
    means = [row["mean_prediction"] for row in rows]
    assert means == sorted(means)
    mean_label = sum(row["mean_label"] * row["count"] for row in rows) / EVAL_ROWS
    assert abs(mean_label - result["label/mean"]) <= 1e-4 * abs(result["label/mean"])


def test_a_model_never_evaluated_says_so_and_keeps_its_history(tmp_path: Path) -> None:
    _, _, path = _trained(tmp_path, "LinearClassifier", evaluate=False)
    evidence = read_evidence(path)
    assert evidence is not None and not evidence.evaluated
    assert evidence.reason and "not evaluated" in evidence.reason
    assert evidence.evaluation is None and evidence.curves == {} and evidence.instances == []
    assert evidence.history["train"]["loss"]
    assert evidence.history["eval"] == {}


def test_a_later_process_exports_the_evaluation_kept_in_model_dir(tmp_path: Path) -> None:
    case = _case("LinearClassifier")
    model = case.make(tmp_path / "m")
    model.train(case.train_fn(), steps=20)
    result = model.evaluate(case.eval_fn())
    assert (tmp_path / "m" / LAST_EVALUATION_FILE).is_file()
    again = case.make(tmp_path / "m")  # a fresh estimator over the same model_dir
    evidence = read_evidence(again.export_saved_model(tmp_path / "export"))
    assert evidence is not None and evidence.evaluated
    assert evidence.evaluation is not None
    assert evidence.evaluation["metrics"]["auc"] == result["auc"]


def test_boosted_trees_record_gain_importances(tmp_path: Path) -> None:
    x, y = census_rows(600)
    columns = [
        fc.numeric_column("age"),
        fc.numeric_column("education_num"),
        fc.indicator_column(fc.vocabulary_column(x, "relationship")),
    ]

    def input_fn(xs: pd.DataFrame, ys: Any) -> Any:
        return estimator.inputs.pandas_input_fn(xs, pd.Series(ys), batch_size=128, shuffle=False)

    model = estimator.BoostedTreesClassifier(
        columns, n_batches_per_layer=1, n_trees=10, model_dir=tmp_path / "m", config=quiet_config()
    )
    model.train(input_fn(x, y))
    ex, ey = census_rows(200, 1000)
    result = model.evaluate(input_fn(ex, ey))
    evidence = read_evidence(model.export_saved_model(tmp_path / "export"))
    assert evidence is not None and evidence.importances is not None
    assert evidence.importances["method"] == "gain"
    features = evidence.importances["features"]
    shares = [f["importance"] for f in features]
    assert shares == sorted(shares, reverse=True) and abs(sum(shares) - 1) <= 1e-5
    assert {f["name"] for f in features} <= set(model._inputs.feature_names)
    assert abs(evidence.curves["roc"]["auc"] - result["auc"]) <= ROUNDING
    assert len(evidence.instances) == MAX_INSTANCES
    assert set(evidence.instances[0]) == {"age", "education_num", "relationship"}


def test_a_custom_estimator_with_a_head_records_its_curves(tmp_path: Path) -> None:
    trained = export_helpers.custom(tmp_path)
    evidence = read_evidence(trained.export_dir)
    assert evidence is not None and evidence.evaluated
    assert set(evidence.curves) == {"roc", "pr", "calibration", "confusion"}
    assert abs(evidence.curves["roc"]["auc"] - trained.estimator._last_eval["auc"]) <= ROUNDING
    assert sum(map(sum, evidence.curves["confusion"]["matrix"])) == len(trained.x)
    assert evidence.instances == []  # a model_fn's raw inputs are its own business
    assert set(read_manifest(trained.export_dir)["members"]) == {"onnx", "evidence"}
