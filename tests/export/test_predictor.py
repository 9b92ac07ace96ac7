"""The Predictor: inputs (instances, DataFrame, columns), outputs per head, bad instances."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census
from mlengine.errors import FeatureError
from mlengine.export import Predictor, load
from tests import tolerance
from tests.export import helpers as h


def _assert_same(a: dict[str, np.ndarray], b: dict[str, np.ndarray], bound: Any, rows: Any) -> None:
    """Equal outputs up to float32 rounding (``bound``'s tolerance of ``rows``): a few rows
    take the row path, a DataFrame the vectorised transform, and the two sum in different
    orders (the row path adds the folded embeddings after the dense features' product)."""
    tolerance.assert_predictions_close(a, b, bound.logits(rows))


def _estimator_predictions(trained: Any, rows: pd.DataFrame) -> dict[str, np.ndarray]:
    """``estimator.predict`` on ``rows``, stacked into columns."""
    per_row = list(
        trained.estimator.predict(
            input_fn=estimator.inputs.pandas_input_fn(rows, batch_size=128, shuffle=False)
        )
    )
    return {key: np.stack([np.asarray(p[key]) for p in per_row]) for key in per_row[0]}


def test_a_network_numpy_cannot_run_predicts_on_torch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """gelu has no numpy version: such a Predictor builds the torch network, chunked as well."""
    x, y = census.load("train")
    x, y = x.head(300).reset_index(drop=True), y[:300]
    model = estimator.DNNClassifier(
        hidden_units=[6],
        feature_columns=[fc.numeric_column("age"), fc.numeric_column("hours_per_week")],
        activation_fn="gelu",
        model_dir=str(tmp_path / "model"),
        config=estimator.RunConfig(tf_random_seed=1, quiet=True),
    )
    model.train(
        input_fn=estimator.inputs.pandas_input_fn(x, y, batch_size=50, shuffle=True), steps=3
    )
    trained = SimpleNamespace(estimator=model)
    predictor = load(model.export_saved_model(str(tmp_path / "exports")))
    assert predictor.numpy_network is None
    monkeypatch.setattr("mlengine.export.predictor.FORWARD_CHUNK_ROWS", 128)  # 300 rows: 3 chunks
    expected = _estimator_predictions(trained, x)
    out = predictor.predict(x)
    tolerance.assert_predictions_close(out, expected, tolerance.Bound.of_estimator(model).logits(x))


def test_list_dataframe_and_columns_give_equal_results(
    predictor: Predictor, bound: tolerance.Bound, instances: list[dict[str, Any]]
) -> None:
    from_list = predictor.predict(instances)
    from_frame = predictor.predict(pd.DataFrame(instances))
    from_columns = predictor.predict({k: [i[k] for i in instances] for k in instances[0]})
    _assert_same(from_list, from_frame, bound, instances)
    _assert_same(from_list, from_columns, bound, instances)


def test_predict_returns_columns_of_the_binary_keys(
    predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    out = predictor.predict(instances)
    assert sorted(out) == h.BINARY_KEYS
    assert all(isinstance(v, np.ndarray) and len(v) == 2 for v in out.values())
    assert out["probabilities"].shape == (2, 2)
    p = out["logistic"][:, 0]
    np.testing.assert_allclose(out["probabilities"][:, 1], p, atol=1e-7)
    np.testing.assert_allclose(out["probabilities"][:, 0], 1 - p, atol=1e-7)
    np.testing.assert_allclose(p, 1 / (1 + np.exp(-out["logits"][:, 0])), atol=1e-6)
    assert out["class_ids"][:, 0].tolist() == (p > 0.5).astype(int).tolist()
    assert out["classes"][:, 0].tolist() == [str(c) for c in out["class_ids"][:, 0]]


@pytest.mark.parametrize("kind", ["binary", "multiclass", "regression"])
def test_keys_per_head_and_equality_with_estimator_predict(
    kind: str, head_models: dict[str, Any]
) -> None:
    model = head_models[kind]
    predictor = load(model.export_dir)
    rows = model.x.head(100)
    out = predictor.predict(rows)
    keys = {"binary": h.BINARY_KEYS, "multiclass": h.MULTICLASS_KEYS}.get(kind, h.REGRESSION_KEYS)
    assert sorted(out) == keys
    expected = _estimator_predictions(model, rows)
    assert sorted(expected) == keys
    # numpy's float32 sums run in another order than torch's
    rounding = tolerance.Bound.of_export(model.export_dir).logits(rows)
    tolerance.assert_predictions_close(out, expected, rounding)
    if kind == "multiclass":
        assert out["probabilities"].shape == (100, 3)
        assert set(out["classes"][:, 0]) <= {"low", "mid", "high"}
        np.testing.assert_allclose(out["probabilities"].sum(axis=1), 1.0, atol=1e-12)  # float64
    if kind == "regression":
        assert out["predictions"].shape == (100, 1)
    # A few instances as dicts take the row path (Python lookups, numpy forward): the same.
    few = rows.head(3).to_dict("records")
    taken: list[Any] = []
    row_path = predictor._predict_few

    def spy(instances: Any) -> Any:
        taken.append(row_path(instances))
        return taken[-1]

    with mock.patch.object(predictor, "_predict_few", spy):
        out = predictor.predict(few)
    assert len(taken) == 1 and taken[0] is not None
    first_three = {key: values[:3] for key, values in expected.items()}
    tolerance.assert_predictions_close(out, first_three, rounding[:3])


def test_predictions_equal_estimator_predict_on_the_same_rows(
    trained: Any, predictor: Predictor, bound: tolerance.Bound
) -> None:
    """The Predictor's numpy forward and the estimator's torch forward agree to float32
    rounding. The tutorial's DNN reads capital_gain raw (up to 99,999): its first layer sums
    terms of 1e5 whose last bits differ with the order of the sum, so those rows' logits may
    differ by 1e-3 (their tolerance, from tests/tolerance.py, is larger still)."""
    rows = trained.x.head(500)
    expected = _estimator_predictions(trained, rows)
    rounding = bound.logits(rows)
    tolerance.assert_predictions_close(predictor.predict(rows), expected, rounding)
    as_instances = predictor.predict_instances(rows.to_dict("records"))
    columns = {
        key: np.array([p[key] for p in as_instances], dtype=expected[key].dtype) for key in expected
    }
    tolerance.assert_predictions_close(columns, expected, rounding)


def test_predict_instances_is_json_ready_and_per_instance(
    predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    result = predictor.predict_instances(instances)
    assert isinstance(result, list) and len(result) == 2
    json.loads(json.dumps(result))  # plain Python values only
    columns = predictor.predict(instances)
    for i, prediction in enumerate(result):
        assert sorted(prediction) == h.BINARY_KEYS
        assert isinstance(prediction["class_ids"][0], int)
        assert isinstance(prediction["classes"][0], str)
        assert isinstance(prediction["logistic"][0], float)
        assert len(prediction["probabilities"]) == 2
        np.testing.assert_allclose(prediction["logits"], columns["logits"][i], atol=1e-12)


@pytest.mark.parametrize("kind", ["multiclass", "regression"])
def test_predict_instances_of_other_heads_is_json_ready(
    kind: str, head_models: dict[str, Any]
) -> None:
    model = head_models[kind]
    rows = model.x.head(3).to_dict("records")
    result = load(model.export_dir).predict_instances(rows)
    assert len(result) == 3
    json.dumps(result)


def test_leading_spaces_give_the_same_prediction_as_stripped_values(
    predictor: Predictor, bound: tolerance.Bound, instances: list[dict[str, Any]]
) -> None:
    assert any(isinstance(v, str) and v.startswith(" ") for v in instances[0].values())
    stripped = [
        {k: v.strip() if isinstance(v, str) else v for k, v in i.items()} for i in instances
    ]
    _assert_same(predictor.predict(instances), predictor.predict(stripped), bound, stripped)
    frame = predictor.predict(pd.DataFrame(instances))
    _assert_same(frame, predictor.predict(stripped), bound, stripped)


def test_unknown_keys_are_ignored_with_one_warning_listing_them(
    predictor: Predictor,
    bound: tolerance.Bound,
    instances: list[dict[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    known = set(predictor.input_names)
    extra = [dict(i, zzz_extra=1) for i in instances]
    with caplog.at_level(logging.WARNING, logger="mlengine"):
        out = predictor.predict(extra)
    warnings = [r for r in caplog.records if r.name == "mlengine" and r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    unknown = sorted(set(instances[0]) - known) + ["zzz_extra"]
    assert unknown == ["gender", "native_country", "race", "zzz_extra"]
    for name in unknown:
        assert name in message
    for name in known:
        assert repr(name) not in message
    clean = [{k: v for k, v in i.items() if k in known} for i in instances]
    _assert_same(out, predictor.predict(clean), bound, clean)


def test_no_warning_without_unknown_keys(
    predictor: Predictor, instances: list[dict[str, Any]], caplog: pytest.LogCaptureFixture
) -> None:
    clean = [{k: v for k, v in i.items() if k in set(predictor.input_names)} for i in instances]
    with caplog.at_level(logging.WARNING, logger="mlengine"):
        predictor.predict(clean)
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_missing_categorical_features_are_not_required(
    predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    numeric_only = [
        {k: v for k, v in i.items() if not isinstance(v, str)} | {"workclass": None}
        for i in instances
    ]
    out = predictor.predict_instances(numeric_only)
    assert len(out) == 2


@pytest.mark.parametrize("state", ["missing", "null"])
def test_missing_or_null_required_feature_names_feature_and_instance(
    predictor: Predictor, instances: list[dict[str, Any]], state: str
) -> None:
    second = dict(instances[1])
    if state == "missing":
        del second["education_num"]
    else:
        second["education_num"] = None
    with pytest.raises(FeatureError) as info:
        predictor.predict_instances([instances[0], second])
    message = str(info.value)
    assert "education_num" in message
    assert "Instance 1" in message
    assert state in message


def test_wrong_type_names_the_feature(
    predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    with pytest.raises(FeatureError, match="'age'") as info:
        predictor.predict([dict(instances[0], age="abc")])
    assert "abc" in str(info.value)
    with pytest.raises(FeatureError, match="'age'") as info:
        predictor.predict([instances[0], dict(instances[1], age="abc")])
    assert "Instance 1" in str(info.value)
    with pytest.raises(FeatureError, match="'age'"):
        predictor.predict(pd.DataFrame([dict(instances[0], age="abc")]))


def test_one_bad_instance_refuses_the_whole_request(
    predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    """ML Engine's rule: the first error refuses the request; no partial result comes back."""
    bad = {k: v for k, v in instances[1].items() if k != "age"}
    for call in (predictor.predict, predictor.predict_instances):
        with pytest.raises(FeatureError, match="Instance 1"):
            call([instances[0], bad, instances[0]])


@pytest.mark.parametrize(
    "value", ["not a list", 42, [1, 2], [], None], ids=["str", "int", "scalars", "empty", "none"]
)
def test_inputs_of_the_wrong_shape_are_refused(predictor: Predictor, value: Any) -> None:
    with pytest.raises(FeatureError):
        predictor.predict(value)


def test_dataframe_missing_a_required_column_is_refused(
    predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    with pytest.raises(FeatureError, match="age"):
        predictor.predict(pd.DataFrame(instances).drop(columns=["age"]))


def test_numeric_default_fills_a_missing_value(vocab_file_model: Any) -> None:
    predictor = load(vocab_file_model.export_dir)
    filled = predictor.predict([{"age": 30, "education": "Masters"}])
    row = {"age": 30, "education": "Masters", "hours_per_week": 40}
    explicit = predictor.predict([row])
    _assert_same(filled, explicit, tolerance.Bound.of_export(vocab_file_model.export_dir), [row])


def test_predictor_exposes_signature_and_manifest(predictor: Predictor, export_dir: Path) -> None:
    assert predictor.global_step == 300
    assert predictor.input_names == sorted(predictor.input_names)
    assert set(predictor.required) == {
        "age", "capital_gain", "capital_loss", "education_num", "hours_per_week",
    }  # fmt: skip
    assert predictor.output_keys == ["class_ids", "classes", "logistic", "logits", "probabilities"]
    assert Path(predictor.path) == export_dir


@pytest.mark.slow
def test_loading_needs_no_training_code_and_no_model_dir(
    trained: Any, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    """A fresh interpreter loads a copy of the export (the model_dir gone from its view) and
    predicts without importing mlengine.training or mlengine.estimator."""
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained.export_dir, copy)
    script = (
        "import json, sys\n"
        "from mlengine.export import load\n"
        f"p = load({str(copy)!r})\n"
        f"out = p.predict_instances(json.loads({json.dumps(json.dumps(instances))}))\n"
        "bad = sorted(m for m in sys.modules if m.startswith(('mlengine.training', "
        "'mlengine.estimator')))\n"
        "print(json.dumps({'out': out, 'bad': bad}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["bad"] == []
    expected = load(trained.export_dir).predict_instances(instances)
    np.testing.assert_allclose(
        [p["logistic"][0] for p in result["out"]],
        [p["logistic"][0] for p in expected],
        atol=1e-12,
    )


def test_a_predictor_never_imports_torch(export_dir: Path, instances: list[dict[str, Any]]) -> None:
    """What lets ``mlengine serve`` start without torch's second and a half of imports."""
    script = f"""
import sys
from mlengine.export import load
import mlengine.serving.server, mlengine.serving.workers, mlengine.cli.serve
predictor = load({str(export_dir)!r})
row = {instances[0]!r}
assert predictor.predict([row])["logistic"].shape == (1, 1)
assert predictor.predict([row] * 500)["logistic"].shape == (500, 1)
assert "torch" not in sys.modules, "torch was imported"
"""
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
