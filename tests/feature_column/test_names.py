"""``name=`` on derived-name columns: several bucketizations or crosses of one key in one model.

TensorFlow derives ``<key>_bucketized`` and ``a_X_b`` and so refuses a second bucketization or
cross of the same key ("duplicate feature column name"); mlengine's ``name=`` lets them coexist,
reading the same raw input (no new serving input).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import InvalidParameterError
from mlengine.export import load


def _grids() -> tuple[list[fc.FeatureColumn], list[fc.FeatureColumn]]:
    lat, lon = fc.numeric_column("lat"), fc.numeric_column("lon")
    coarse_lat = fc.bucketized_column(lat, [0.0], name="lat_coarse")
    coarse_lon = fc.bucketized_column(lon, [0.0], name="lon_coarse")
    fine_lat = fc.bucketized_column(lat, [-0.5, 0.0, 0.5])
    fine_lon = fc.bucketized_column(lon, [-0.5, 0.0, 0.5])
    wide: list[fc.FeatureColumn] = [
        coarse_lat,
        fine_lat,
        fc.crossed_column([coarse_lat, coarse_lon], 16, name="grid_coarse"),
        fc.crossed_column([fine_lat, fine_lon], 64),
    ]
    deep: list[fc.FeatureColumn] = [
        lat,
        fc.embedding_column(fine_lat, 2),
        fc.embedding_column(fine_lat, 3, name="lat_fine_wide_embedding"),
    ]
    return wide, deep


def test_names_replace_the_derived_ones() -> None:
    wide, deep = _grids()
    assert [c.name for c in wide] == [
        "lat_coarse",
        "lat_bucketized",
        "grid_coarse",
        "lat_bucketized_X_lon_bucketized",
    ]
    assert [c.name for c in deep][1:] == ["lat_bucketized_embedding", "lat_fine_wide_embedding"]
    assert fc.indicator_column(wide[0]).name == "lat_coarse_indicator"
    plin = fc.piecewise_linear_column(fc.numeric_column("x"), [0, 1, 2], name="x_pl")
    assert plin.name == "x_pl"


def test_without_names_a_second_cross_is_a_duplicate_as_in_tensorflow() -> None:
    lat, lon = fc.numeric_column("lat"), fc.numeric_column("lon")
    a = fc.crossed_column([fc.bucketized_column(lat, [0.0]), fc.bucketized_column(lon, [0.0])], 16)
    b = fc.crossed_column([fc.bucketized_column(lat, [0.5]), fc.bucketized_column(lon, [0.5])], 16)
    with pytest.raises(InvalidParameterError, match="duplicate feature column name"):
        estimator.LinearClassifier([a, b])


@pytest.mark.parametrize("bad", ["", "a.b", 3])
def test_bad_names_are_refused_naming_the_parameter(bad: object) -> None:
    age = fc.numeric_column("age")
    with pytest.raises(InvalidParameterError, match="'name' parameter of bucketized_column"):
        fc.bucketized_column(age, [1.0], name=bad)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="'name' parameter of crossed_column"):
        fc.crossed_column(["a", "b"], 4, name=bad)  # type: ignore[arg-type]


def test_named_columns_round_trip_through_json() -> None:
    wide, deep = _grids()
    for column in wide + deep:
        back = fc.from_config(json.loads(json.dumps(fc.to_config(column))))
        assert back == column
        assert back.name == column.name


def test_same_boundaries_under_two_names_give_the_same_ids() -> None:
    x = fc.numeric_column("x")
    a = fc.bucketized_column(x, [0.0, 1.0], name="a")
    b = fc.bucketized_column(x, [0.0, 1.0], name="b")
    out = fc.FeatureTransformer([a, b]).transform({"x": [-1.0, 0.5, 3.0]})
    # Two columns, one after the other in the sparse id space (a: 0..2, b: 3..5).
    assert out.sparse_ids.tolist() == [[0, 3], [1, 4], [2, 5]]


def test_several_grids_of_one_key_train_export_and_serve_without_new_inputs(
    tmp_path: Path,
) -> None:
    rng = np.random.default_rng(0)
    n = 400
    x = pd.DataFrame({"lat": rng.uniform(-1, 1, n), "lon": rng.uniform(-1, 1, n)})
    y = ((x["lat"] > 0) ^ (x["lon"] > 0)).to_numpy().astype(np.int64)
    wide, deep = _grids()
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=tmp_path / "m",
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[4],
        config=estimator.RunConfig(tf_random_seed=1, quiet=True),
    )
    model.train(
        estimator.inputs.pandas_input_fn(x, pd.Series(y), batch_size=50, num_epochs=2, shuffle=True)
    )
    predictor = load(model.export_saved_model(tmp_path / "e"))
    assert predictor.input_names == ["lat", "lon"]
    got = predictor.predict(x.iloc[:5])["logistic"][:, 0]
    want = [
        p["logistic"][0]
        for p in model.predict(estimator.inputs.pandas_input_fn(x.iloc[:5], shuffle=False))
    ]
    # float32 sums in another order (numpy vs torch): a few ulps of probabilities near 0.5.
    np.testing.assert_allclose(got, want, atol=1e-6)
