"""normalizer_fn callables recorded once as Expression data: evaluated by numpy in training and
serving alike, refused (naming the column) when they cannot be recorded."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from mlengine import feature_column as fc
from mlengine.errors import ExportFormatError, NotSupportedError
from mlengine.feature_column.transform import FeatureTransformer


@pytest.mark.parametrize(
    ("function", "reference"),
    [
        (lambda x: (x - 38.6) / 13.6, lambda v: (v - 38.6) / 13.6),
        (lambda x: np.log1p(np.maximum(x, 0.0)), lambda v: np.log1p(np.maximum(v, 0.0))),
        (lambda x: np.clip(x, 0, 50) ** 2, lambda v: np.clip(v, 0, 50) ** 2),
        (lambda x: 1 / (1 + np.exp(-x / 10)), lambda v: 1 / (1 + np.exp(-v / 10))),
        (lambda x: abs(-x) // 7 + np.sqrt(np.abs(x)), lambda v: abs(-v) // 7 + np.sqrt(abs(v))),
    ],
)
def test_recorded_functions_compute_what_the_callable_does(function, reference) -> None:
    column = fc.numeric_column("v", normalizer_fn=function)
    assert isinstance(column.normalizer, fc.Expression)
    values = np.array([-3.0, 0.0, 1.5, 38.6, 52.2, 120.0])
    with np.errstate(all="ignore"):
        expected = reference(values).astype(np.float32)
    dense = FeatureTransformer([column]).transform({"v": values}).dense[:, 0]
    np.testing.assert_array_equal(dense, expected)  # float64 arithmetic, then float32
    # The one-value path of serving gives the same numbers.
    assert [np.float32(column.normalizer.one(v)) for v in values] == list(expected)


def test_an_expression_is_data_in_the_export_json() -> None:
    column = fc.numeric_column("age", normalizer_fn=lambda x: (x - 38.6) / 13.6)
    config = json.loads(json.dumps(fc.to_config(column)))
    assert config["config"]["normalizer"] == {
        "class_name": "Expression",
        "config": {"program": ["x", 38.6, "subtract", 13.6, "divide"]},
    }
    assert fc.from_config(config) == column
    config["config"]["normalizer"]["config"]["program"] = ["x", "__import__", "divide"]
    with pytest.raises(ExportFormatError, match="Unknown expression token '__import__'"):
        fc.from_config(config)


@pytest.mark.parametrize(
    ("function", "reason"),
    [
        (lambda x: math.log(x), "needs the value itself"),
        (lambda x: x if x > 0 else -x, "needs the value itself"),
        (lambda x: x + "a", "neither the value nor a number"),
        (lambda x: np.cumsum(x), "returned ndarray"),
        (lambda x: "constant", "returned str"),
    ],
)
def test_unrecordable_functions_are_refused_naming_the_column(function, reason) -> None:
    with pytest.raises(NotSupportedError, match=f"numeric_column 'hours'.*{reason}"):
        fc.numeric_column("hours", normalizer_fn=function)


def test_every_operation_has_a_row_path_and_an_onnx_graph_equal_to_numpy(tmp_path) -> None:
    pytest.importorskip("onnxruntime")
    from mlengine import estimator
    from mlengine.export import load

    # Every unary and binary token of the recorder, in one program per column.
    functions = {
        "a": lambda x: np.log1p(np.abs(x)) + np.expm1(x / 100) - np.log2(np.abs(x) + 1),
        "b": lambda x: np.sqrt(np.abs(x)) * np.square(x / 10) / (np.log10(np.abs(x) + 2) + 1),
        "c": lambda x: np.tanh(x / 50) + np.sin(x) - np.cos(x) + np.floor(x / 3) + np.ceil(x),
        "d": lambda x: np.rint(x / 7) + np.sign(x) + 1 / (1 + np.exp(-x / 10)) + abs(-x) // 7,
        "e": lambda x: np.maximum(x, 1.0) ** 0.5 + np.minimum(x, 30.0) + np.reciprocal(x + 1e3),
        "f": lambda x: x * 0 + 3.0,
    }
    columns = [fc.numeric_column(k, normalizer_fn=f) for k, f in functions.items()]
    rng = np.random.default_rng(0)
    x = {k: rng.uniform(-60, 60, 64) for k in functions}
    y = (x["a"] > 0).astype(np.int64)
    model = estimator.LinearClassifier(columns, model_dir=str(tmp_path / "m"))
    model.train(estimator.inputs.numpy_input_fn(x, y, batch_size=16, shuffle=False), steps=4)
    # The export checks its ONNX graph against the model with onnxruntime before writing it.
    predictor = load(model.export_saved_model(str(tmp_path / "e"), export_onnx=True))
    rows = [{k: float(v[i]) for k, v in x.items()} for i in range(3)]
    few = predictor.predict(rows)["logits"]  # the row path (each)
    many = predictor.predict({k: v[:3] for k, v in x.items()})["logits"]
    np.testing.assert_array_equal(few, many)
