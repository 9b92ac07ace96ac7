"""infer_feature_columns: columns chosen from data, as ordinary (printable, JSON) columns."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from mlengine import feature_column as fc
from mlengine.errors import FeatureError, InvalidParameterError
from mlengine.feature_column.analyze import (
    GRID_EMBEDDING_DIMENSION,
    GRID_SCALES,
    coordinate_pairs,
    embedding_dimension,
    grid_buckets,
    id_dimension_cap,
    quantile_buckets,
)


def _frame(n: int = 400, seed: int = 0) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "few": rng.choice([0.0, 5.0, 7.5], n),
            "wide": rng.normal(50, 10, n),
            "color": rng.choice(["red", " blue", "green "], n),
            "user": [f"u{int(v)}" for v in rng.zipf(1.3, n) % 5000],
            "const": np.full(n, 3.0),
            "one_word": ["same"] * n,
        }
    )
    y = (x["few"] > 1).to_numpy().astype(np.int64)
    return x, y


def _by_key(cols: fc.InferredColumns) -> dict[str, fc.FeatureChoice]:
    return {c.key: c for c in cols.choices}


def test_each_kind_of_feature_gets_its_columns() -> None:
    x, y = _frame()
    cols = fc.infer_feature_columns(x, y, ids=["user"])
    kinds = {key: choice.kind for key, choice in _by_key(cols).items()}
    assert kinds == {
        "few": "few_values",
        "wide": "numeric",
        "color": "categorical",
        "user": "id",
        "const": "dropped",
        "one_word": "dropped",
    }
    linear = {c.name: c for c in cols.linear_feature_columns}
    # One bucket per value: boundaries at the values above the smallest.
    assert linear["few_values"].boundaries == (5.0, 7.5)
    assert linear["wide_quantiles"].num_buckets == 5  # sqrt(400 rows) / 4
    color = linear["color"]
    assert isinstance(color, fc.VocabularyColumn)
    assert sorted(color.vocabulary) == ["blue", "green", "red"]  # stripped
    assert color.num_oov_buckets == 1
    user = linear["user"]
    assert isinstance(user, fc.VocabularyColumn)
    counts = x["user"].value_counts()
    # Ids seen once share the out-of-vocabulary bucket (what "unseen" means is learnt).
    assert set(user.vocabulary) == set(counts[counts >= 2].index)
    # Trees read every id seen (LightGBM groups rare categories itself).
    trees = {c.name: c for c in cols.tree_feature_columns}
    assert isinstance(trees["user"], fc.VocabularyColumn)
    assert set(trees["user"].vocabulary) == set(counts.index)
    assert trees["user"].num_oov_buckets == 1
    dnn = {c.name for c in cols.dnn_feature_columns}
    assert {"few", "wide", "few_values_embedding", "color_embedding", "user_embedding"} <= dnn
    assert "const" not in dnn and "one_word_embedding" not in dnn


def test_many_distinct_strings_are_ids_without_being_told() -> None:
    n = 3000
    x = pd.DataFrame({"item": [f"i{i % 1500}" for i in range(n)], "k": ["a", "b"] * (n // 2)})
    assert _by_key(fc.infer_feature_columns(x))["item"].kind == "id"


def test_quantile_buckets_grow_with_the_rows_within_caps() -> None:
    counts = [quantile_buckets(n) for n in (10, 278, 400, 4096, 14_400, 10**6)]
    assert counts == [4, 4, 5, 16, 30, 32]


def test_embedding_dimension_grows_with_cardinality_within_caps() -> None:
    dims = [embedding_dimension(n) for n in (2, 16, 120, 10**6)]
    assert dims == sorted(dims)
    assert dims[0] >= 2 and dims[-1] == 16
    assert embedding_dimension(10**6, 32) == 32


def test_an_ids_dimension_follows_its_rows_per_id() -> None:
    # 2,000 ids, each seen 4 times: 2 dimensions (one per 2 rows per id), not 1.6 * n ** 0.56.
    n = 8000
    few = pd.DataFrame({"user": [f"u{i % 2000}" for i in range(n)], "k": ["a", "b"] * (n // 2)})
    many = pd.DataFrame({"user": [f"u{i % 2000}" for i in range(25 * n)]})
    dims = {}
    for name, x in (("few", few), ("many", many)):
        cols = fc.infer_feature_columns(x, ids=["user"])
        (user,) = [c for c in cols.dnn_feature_columns if c.name == "user_embedding"]
        dims[name] = user.dimension
    assert dims == {"few": 2, "many": 32}  # 100 rows per id: the cap of 32
    assert [id_dimension_cap(r, 1000) for r in (1000, 8000, 20_000, 10**6)] == [2, 4, 10, 32]


def test_missing_numbers_are_filled_with_the_median() -> None:
    x = pd.DataFrame({"v": [1.0, np.nan, 3.0, 10.0] * 20})
    cols = fc.infer_feature_columns(x)
    numeric = next(c for c in cols.dnn_feature_columns if isinstance(c, fc.NumericColumn))
    assert numeric.default_value == (3.0,)
    out = fc.FeatureTransformer([numeric]).transform({"v": [np.nan]})
    assert np.isfinite(out.dense).all()


def test_printable_and_json_round_trip() -> None:
    x, y = _frame()
    cols = fc.infer_feature_columns(x, y, crosses=1)
    text = str(cols)
    assert "const: dropped (constant (1 value))" in text
    assert "linear: " in text and "dnn: " in text
    back = fc.InferredColumns.from_config(json.loads(json.dumps(cols.to_config())))
    assert back == cols


def test_crosses_pick_the_interaction_the_label_depends_on() -> None:
    rng = np.random.default_rng(3)
    n = 4000
    x = pd.DataFrame(
        {k: rng.choice(["p", "q", "r"], n) for k in ("a", "b", "c", "d")},
    )
    # The label is an interaction of a and b: neither alone says anything about it.
    y = ((x["a"] == "p") ^ (x["b"] == "p")).to_numpy().astype(np.int64)
    cols = fc.infer_feature_columns(x, y, crosses=1)
    crosses = [c for c in cols.linear_feature_columns if isinstance(c, fc.CrossedColumn)]
    assert [c.name for c in crosses] == ["a_X_b"]


def test_crosses_need_a_label() -> None:
    with pytest.raises(InvalidParameterError, match="crosses need a label"):
        fc.infer_feature_columns({"a": ["x", "y"]}, crosses=2)


def test_an_input_function_is_read_like_a_frame() -> None:
    from mlengine.estimator import inputs

    x, y = _frame()
    from_fn = fc.infer_feature_columns(
        inputs.pandas_input_fn(x, pd.Series(y), batch_size=64, shuffle=False), exclude=["user"]
    )
    from_frame = fc.infer_feature_columns(x, y, exclude=["user"])
    assert from_fn == from_frame


# Bad input: each a clear error naming the thing, or documented behaviour.


def test_label_with_nan_is_an_error_naming_rows() -> None:
    x, _ = _frame(20)
    y = np.arange(20, dtype=np.float64)
    y[[3, 7]] = np.nan
    with pytest.raises(
        FeatureError, match=r"Label 'label' has 2 missing value\(s\) \(rows \[3, 7\]"
    ):
        fc.infer_feature_columns(x, y)
    frame = x.assign(target=y)
    with pytest.raises(FeatureError, match="Label 'target' has 2 missing"):
        fc.infer_feature_columns(frame, "target")


def test_mixed_type_column_is_an_error_naming_it() -> None:
    x = pd.DataFrame({"mixed": ["a", 1, "b", 2.5], "ok": [1, 2, 3, 4]})
    with pytest.raises(
        FeatureError, match=r"Feature 'mixed' mixes value types \['float', 'int', 'str'\]"
    ):
        fc.infer_feature_columns(x)


def test_nothing_to_learn_from_is_an_error() -> None:
    with pytest.raises(FeatureError, match="no feature has two or more values"):
        fc.infer_feature_columns({"c": [1.0, 1.0, 1.0], "s": ["x", "x", "x"]})


def test_unseen_category_at_prediction_takes_the_oov_bucket() -> None:
    x, y = _frame()
    cols = fc.infer_feature_columns(x, y, ids=["user"])
    color = next(c for c in cols.linear_feature_columns if c.name == "color")
    user = next(c for c in cols.linear_feature_columns if c.name == "user")
    out = fc.FeatureTransformer([color, user]).transform(
        {"color": ["purple", "red"], "user": ["never-seen", "u1"]}
    )
    assert isinstance(color, fc.VocabularyColumn) and isinstance(user, fc.VocabularyColumn)
    oov_color = len(color.vocabulary)  # the one OOV bucket, right after the vocabulary
    oov_user = color.num_buckets + len(user.vocabulary)
    assert out.sparse_ids[0].tolist() == [oov_color, oov_user]
    assert out.sparse_weights[0].tolist() == [1.0, 1.0]
    assert out.sparse_ids[1, 0] == color.vocabulary.index("red")


def test_module_examples_run() -> None:
    import doctest

    from mlengine.feature_column import analyze
    from mlengine.feature_column.columns import bucketized

    for module in (analyze, bucketized):
        result = doctest.testmod(module, verbose=False, report=False)
        assert result.attempted > 0
        assert result.failed == 0, module.__name__


def _places(n: int = 2000, seed: int = 5) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = pd.DataFrame(
        {
            "Latitude": rng.uniform(32, 42, n),
            "Longitude": rng.uniform(-124, -114, n),
            "income": rng.lognormal(1, 0.5, n),
        }
    )
    y = np.exp(-((x["Latitude"] - 37) ** 2) - (x["Longitude"] + 122) ** 2).to_numpy()
    return x, y


@pytest.mark.parametrize(
    ("keys", "pairs"),
    [
        (["Latitude", "Longitude", "MedInc"], [("Latitude", "Longitude")]),
        (["lat", "lng"], [("lat", "lng")]),
        (["pickup_latitude", "pickup_longitude", "dropoff_latitude", "dropoff_longitude"],
         [("pickup_latitude", "pickup_longitude"), ("dropoff_latitude", "dropoff_longitude")]),
        (["startLat", "startLon", "endLat"], [("startLat", "startLon")]),
        (["HOME_LAT", "HOME_LONG"], [("HOME_LAT", "HOME_LONG")]),
        # Words, not substrings: "latency" and "along" are not coordinates; a key with both
        # words is neither.
        (["latency", "along", "lat_lon"], []),
        (["lat"], []),
    ],
)  # fmt: skip
def test_coordinate_pairs_are_found_by_name(keys: list[str], pairs: list[tuple[str, str]]) -> None:
    assert coordinate_pairs(keys) == pairs


def test_a_latitude_longitude_pair_gets_named_grids_in_both_parts() -> None:
    x, y = _places()
    cols = fc.infer_feature_columns(x, y)
    grid = _by_key(cols)["Latitude x Longitude"]
    assert grid.kind == "grid"
    count = grid_buckets(len(x))  # 6 for 2,000 rows (about 50 rows a cell): grids of 2, 3, 6
    sizes = sorted({max(2, count // s) for s in GRID_SCALES})
    assert sizes == [2, 3, 6]
    assert f"{sizes[0]}x{sizes[0]}" in grid.reason
    linear = {c.name: c for c in cols.linear_feature_columns}
    dnn = {c.name: c for c in cols.dnn_feature_columns}
    for size in sizes:
        cross = linear[f"Latitude_X_Longitude_grid{size}"]
        assert isinstance(cross, fc.CrossedColumn)
        lat, lon = cross.keys
        assert isinstance(lat, fc.BucketizedColumn) and isinstance(lon, fc.BucketizedColumn)
        assert (lat.name, lon.name) == (f"Latitude_grid{size}", f"Longitude_grid{size}")
        assert lat.num_buckets == lon.num_buckets == size  # uniform data: distinct quantiles
        assert cross.hash_bucket_size == 4 * size * size
        embedded = dnn[f"Latitude_X_Longitude_grid{size}_embedding"]
        assert embedded.dimension == GRID_EMBEDDING_DIMENSION
    # The grids read the two raw inputs only: no new serving input.
    inputs = {key for c in cols.linear_feature_columns + cols.dnn_feature_columns
              for key in c.raw_keys}  # fmt: skip
    assert inputs == {"Latitude", "Longitude", "income"}
    back = fc.InferredColumns.from_config(json.loads(json.dumps(cols.to_config())))
    assert back == cols
    # Asked for none, or named by hand.
    none = fc.infer_feature_columns(x, y, coordinates=())
    assert "Latitude x Longitude" not in _by_key(none)
    named = fc.infer_feature_columns(
        x.rename(columns={"Latitude": "north", "Longitude": "east"}),
        y,
        coordinates=[("north", "east")],
    )
    assert _by_key(named)["north x east"].kind == "grid"


def test_coordinates_must_be_numeric_features_with_many_values() -> None:
    x, y = _places()
    with pytest.raises(FeatureError, match="coordinate 'missing' is not a numeric feature"):
        fc.infer_feature_columns(x, y, coordinates=[("Latitude", "missing")])
    x["Longitude"] = np.round(x["Longitude"])  # 11 values: a bucket each, not gridded
    assert "Latitude x Longitude" not in _by_key(fc.infer_feature_columns(x, y))


def test_grids_take_missing_coordinates_at_the_median() -> None:
    x, y = _places()
    x.loc[:9, "Latitude"] = np.nan
    cols = fc.infer_feature_columns(x, y)
    cross = next(c for c in cols.linear_feature_columns if c.name.endswith("_grid2"))
    assert cross.keys[0].source_column.default_value == (np.nanmedian(x["Latitude"]),)
    out = fc.FeatureTransformer(list(cols.linear_feature_columns)).transform(x.iloc[:20])
    assert out.sparse_ids is not None
