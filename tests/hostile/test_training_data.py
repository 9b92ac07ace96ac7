"""Training data errors name the file (or input), the row as the user counts it, the column and
the value; infinite numbers are refused when read, NaN unless the column has a default_value
(issue 19.12). And ``mlengine predict`` refuses numbers beyond float32 like the server (19.8)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.cli.main import app
from mlengine.errors import DataError, FeatureError

ROWS = 3000
BAD = 2499  # 0-based position: CSV line 2501 (the header is line 1), Parquet row 2500


def frame(rows: int = ROWS) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame(
        {
            "x": rng.normal(size=rows),
            "y": rng.normal(size=rows),
            "label": rng.integers(0, 2, rows).astype(float),
        }
    )


def train(tmp_path: Path, data: pd.DataFrame, kind: str, regression: bool = False) -> None:
    columns = [fc.numeric_column("x"), fc.numeric_column("y", default_value=0.0)]
    config = estimator.RunConfig(quiet=True, tf_random_seed=1)
    model: Any = (estimator.LinearRegressor if regression else estimator.LinearClassifier)(
        feature_columns=columns, model_dir=str(tmp_path / "model"), config=config
    )
    kwargs: dict[str, Any] = dict(batch_size=64, num_epochs=1, shuffle=True, seed=3)
    if kind == "csv":
        path = tmp_path / "train.csv"
        data.to_csv(path, index=False)
        input_fn = estimator.inputs.csv_input_fn(str(path), label_key="label", **kwargs)
    elif kind == "parquet":
        path = tmp_path / "train.parquet"
        data.to_parquet(path, index=False)
        input_fn = estimator.inputs.parquet_input_fn(str(path), label_key="label", **kwargs)
    else:
        input_fn = estimator.inputs.pandas_input_fn(data[["x", "y"]], data["label"], **kwargs)
    model.train(input_fn=input_fn)


WHERE = {"csv": "train.csv, line 2501", "parquet": "train.parquet, row 2500",
         "pandas": "pandas_input_fn row 2499"}  # fmt: skip


@pytest.mark.parametrize("kind", sorted(WHERE))
@pytest.mark.parametrize(
    ("column", "value", "error", "reason"),
    [
        ("label", 7.0, DataError, "column 'label', value 7: not a class id in [0, 2)"),
        ("label", np.nan, DataError, "column 'label', value missing: a missing label"),
        ("x", np.inf, FeatureError, "column 'x', value inf: not a finite float32 number"),
        ("x", 1e308, FeatureError, "column 'x', value 1e+308: not a finite float32 number"),
        ("x", np.nan, FeatureError, "column 'x', value missing: missing or NaN, and"),
    ],
)
def test_a_bad_value_is_named_by_file_row_column_and_value(
    tmp_path: Path, kind: str, column: str, value: float, error: type[Exception], reason: str
) -> None:
    data = frame()
    data.loc[BAD, column] = value
    with pytest.raises(error) as info:
        train(tmp_path, data, kind)
    message = str(info.value)
    assert WHERE[kind] in message and reason in message, message


def test_nan_is_filled_where_the_column_has_a_default(tmp_path: Path) -> None:
    data = frame()
    data.loc[BAD, "y"] = np.nan
    train(tmp_path, data, "csv")  # y's default_value fills it


def test_an_infinite_regression_label_is_named(tmp_path: Path) -> None:
    data = frame()
    data.loc[BAD, "label"] = np.inf
    with pytest.raises(DataError, match=r"train.csv, line 2501: column 'label', value \[inf\]"):
        train(tmp_path, data, "csv", regression=True)


@pytest.mark.parametrize("value", ["1e300", "1e39", "-1e308"])
def test_mlengine_predict_refuses_a_number_beyond_float32_naming_line_and_feature(
    linear_export: Path, tmp_path: Path, value: str
) -> None:
    instances = tmp_path / "instances.json"
    good = {"age": 30, "hours_per_week": 40, "education": "Bachelors", "occupation": "Sales"}
    bad = dict(good, age="__BAD__")
    instances.write_text(json.dumps(good) + "\n" + json.dumps(bad).replace('"__BAD__"', value))
    result = CliRunner().invoke(
        app, ["predict", "--export-dir", str(linear_export), "--json-instances", str(instances)]
    )
    assert result.exit_code == 1, result.output
    assert "line 2" in result.output and "feature 'age'" in result.output, result.output
    assert "not a finite float32 number" in result.output


@pytest.mark.parametrize("where", ["instances", "request", "config", "export"])
def test_deep_json_given_to_the_cli_is_one_line(
    linear_export: Path, tmp_path: Path, where: str
) -> None:
    """19.4: no RecursionError traceback from `predict` or `versions create` on deep JSON."""
    import shutil

    deep = "[" * 100_000 + "]" * 100_000
    file = tmp_path / "deep.json"
    file.write_text(deep)
    export = linear_export
    args = ["predict", "--export-dir", str(export), "--json-instances", str(file)]
    if where == "request":
        file.write_text('{"instances": ' + deep + "}")
        args = ["predict", "--export-dir", str(export), "--json-request", str(file)]
    elif where == "config":
        file.write_text("a: " + "[" * 5000 + "]" * 5000)
        args = ["versions", "create", "v1", "--model", "m", "--config", str(file)]
    elif where == "export":
        export = tmp_path / "export"
        shutil.copytree(linear_export, export)
        (export / "saved_model.json").write_text(deep)
        good = tmp_path / "good.json"
        good.write_text(json.dumps({"age": 30}))
        args = ["predict", "--export-dir", str(export), "--json-instances", str(good)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code in (1, 2), result.output
    assert "Traceback" not in result.output and "RecursionError" not in result.output
    assert "nested deeper" in result.output or "nests deeper" in result.output, result.output


@pytest.mark.parametrize(
    ("head", "labels", "value"),
    [
        ("multi_label", [[0, 1, 0]] * 5 + [[0, 2, 0]], [0.0, 2.0, 0.0]),
        ("multi_label_names", [["a"]] * 5 + [["zz"]], "zz"),
        ("multi_label_names", [["a"]] * 5 + ["a"], "a"),
        ("poisson", [[1.0]] * 5 + [[-1.0]], [-1.0]),
        ("logistic", [[0.5]] * 5 + [[1.5]], 1.5),
    ],
)
def test_the_public_heads_locate_a_bad_label(head: str, labels: list[Any], value: Any) -> None:
    """Main's public heads (multi-label, Poisson, logistic) say which row, as the canned ones
    do, so the pipeline can name the file and line (19.12)."""
    from mlengine.model.heads import LABEL

    built = {
        "multi_label": lambda: estimator.MultiLabelHead(3),
        "multi_label_names": lambda: estimator.MultiLabelHead(3, label_vocabulary=["a", "b", "c"]),
        "poisson": lambda: estimator.PoissonRegressionHead(),
        "logistic": lambda: estimator.LogisticRegressionHead(),
    }[head]()
    with pytest.raises(DataError) as info:
        built.encode_labels(labels)
    error = info.value
    assert (error.row, error.column, error.value) == (5, LABEL, value), vars(error)
