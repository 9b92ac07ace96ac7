"""Serving input receivers: what each declares in the export, and what is refused."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import mlengine.tf.compat.v1 as tf
import numpy as np
import pytest

from mlengine.data.examples import make_example
from mlengine.errors import ExportFormatError, FeatureError, NotSupportedError
from mlengine.export import load
from mlengine.export.members import MEMBERS_KEY, check_members
from mlengine.export.receivers import MEMBER, ServingInput, read_serving_inputs

AGE = tf.feature_column.numeric_column("age", default_value=30.0)
HOURS = tf.feature_column.numeric_column("hours")
WORK = tf.feature_column.categorical_column_with_vocabulary_list("work", ["a", "b"])
COLUMNS = [AGE, HOURS, tf.feature_column.indicator_column(WORK)]


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Any:
    rng = np.random.default_rng(0)
    x = {
        "age": rng.uniform(20, 60, 100),
        "hours": rng.uniform(10, 60, 100),
        "work": np.array(["a", "b"] * 50, dtype=object),
    }
    y = (x["hours"] > 35).astype(np.int64)
    estimator = tf.estimator.DNNClassifier(
        [4], COLUMNS, model_dir=str(tmp_path_factory.mktemp("model")),
        config=tf.estimator.RunConfig(tf_random_seed=1),
    )  # fmt: skip
    estimator.train(tf.estimator.inputs.numpy_input_fn(x, y, shuffle=False), steps=3)
    return estimator


def test_make_parse_example_spec_follows_the_columns() -> None:
    spec = tf.feature_column.make_parse_example_spec(COLUMNS)
    assert spec == {
        "age": tf.FixedLenFeature([1], "float32", 30.0),
        "hours": tf.FixedLenFeature([1], "float32", None),
        "work": tf.VarLenFeature("string"),
    }


def test_a_parsing_receiver_declares_tf_examples(model: Any, tmp_path: Path) -> None:
    spec = tf.feature_column.make_parse_example_spec(COLUMNS)
    receiver = tf.estimator.export.build_parsing_serving_input_receiver_fn(spec)
    path = model.export_savedmodel(str(tmp_path), receiver)
    manifest = json.loads((Path(path) / "saved_model.json").read_text())
    (declared,) = read_serving_inputs(manifest[MEMBERS_KEY])
    assert (declared.name, declared.format) == ("examples", "tf_example")
    assert declared.signatures == {
        "classification": "inputs", "predict": "examples", "regression": "inputs",
        "serving_default": "inputs",
    }  # fmt: skip
    predictor = load(path)
    instance = {"hours": 50.0, "work": "b"}  # age left out: its default, 30
    serialized = base64.b64encode(make_example(instance).SerializeToString()).decode()
    by_example = predictor.predict_instances([{"b64": serialized}])
    by_json = predictor.predict_instances([{**instance, "age": 30.0}])
    assert by_example == by_json
    with pytest.raises(FeatureError, match="Instance 1: expected a serialized tf.Example"):
        predictor.predict_instances([{"b64": serialized}, {**instance, "age": 30.0}])
    wrong = base64.b64encode(make_example({"hours": "x"}).SerializeToString()).decode()
    with pytest.raises(FeatureError, match="Instance 0: feature 'hours' is a bytes_list"):
        predictor.predict_instances([{"b64": wrong}])


def test_a_csv_receiver_declares_its_field_order(model: Any, tmp_path: Path) -> None:
    def csv_serving_input_fn():
        rows = tf.placeholder(tf.string, [None])
        age, _, hours, work = tf.decode_csv(
            tf.expand_dims(rows, -1), record_defaults=[[0.0], [""], [0.0], ["a"]]
        )
        return tf.estimator.export.ServingInputReceiver(
            {"age": age, "hours": hours, "work": work}, {"csv_row": rows}
        )

    predictor = load(model.export_savedmodel(str(tmp_path), csv_serving_input_fn))
    (declared,) = predictor.serving_inputs
    assert declared.order == ["age", "field 1 (unused)", "hours", "work"]
    assert predictor.predict_instances(["40,zzz,50,b"]) == predictor.predict_instances(
        [{"age": 40.0, "hours": 50.0, "work": "b"}]
    )
    with pytest.raises(FeatureError, match=r"Instance 0: 3 field\(s\) where 4 are expected"):
        predictor.predict_instances(["40,zzz,50"])

    def selected_only():  # TF's select_cols form: the record's width is not declared
        rows = tf.placeholder(tf.string, [None])
        age, hours, work = tf.decode_csv(rows, [[0.0], [0.0], ["a"]], select_cols=[0, 2, 3])
        return tf.estimator.export.ServingInputReceiver(
            {"age": age, "hours": hours, "work": work}, rows
        )

    with pytest.raises(NotSupportedError, match="give a default for each"):
        model.export_savedmodel(str(tmp_path / "selected"), selected_only)


def test_raw_receivers_declare_nothing_and_computed_features_are_refused(
    model: Any, tmp_path: Path
) -> None:
    def raw():
        inputs = {
            "age": tf.placeholder(tf.float32, [None]),
            "hours": tf.placeholder(tf.float32, [None]),
            "work": tf.placeholder(tf.string, [None]),
        }
        return tf.estimator.export.ServingInputReceiver(inputs, inputs)

    path = model.export_savedmodel(str(tmp_path / "raw"), raw)
    assert MEMBER not in json.loads((Path(path) / "saved_model.json").read_text())[MEMBERS_KEY]

    def computed():
        hours = tf.placeholder(tf.float32, [None])
        age = tf.placeholder(tf.float32, [None])
        features = {"age": age, "hours": hours * 60.0, "work": tf.placeholder(tf.string, [None])}
        return tf.estimator.export.ServingInputReceiver(features, {"hours": hours, "age": age})

    with pytest.raises(NotSupportedError, match="feature 'hours' is computed by 'multiply'"):
        model.export_savedmodel(str(tmp_path / "computed"), computed)


def test_a_malformed_declaration_is_refused_on_load(tmp_path: Path) -> None:
    def members(inputs: Any) -> dict[str, Any]:
        return {"format_version": 2, MEMBERS_KEY: {MEMBER: {"inputs": inputs}}}

    with pytest.raises(ExportFormatError, match="member 'serving_inputs'.*pickle"):
        check_members(members([{"format": "pickle"}]), str(tmp_path), "export")
    bad = ServingInput("csv_row", "csv", {"predict": "csv_row"}, columns=("a",), fields=())
    with pytest.raises(ExportFormatError, match="column per field"):
        check_members(members([bad.to_json()]), str(tmp_path), "export")
    with pytest.raises(ExportFormatError, match="non-empty list"):
        check_members(members([]), str(tmp_path), "export")
    with pytest.raises(ExportFormatError, match="column per field"):
        read_serving_inputs({MEMBER: {"inputs": [bad.to_json()]}})
