"""Fit-time statistics: vocabularies, mean/std and quantile boundaries computed from data."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlengine import feature_column as fc
from mlengine.data import census
from mlengine.errors import FeatureError, InvalidParameterError

WORDS = {"w": [" b", "a", "b ", None, "", "c", "a", "b"]}


def test_vocabulary_is_most_frequent_first_and_stripped() -> None:
    column = fc.vocabulary_column(WORDS, "w")
    assert column.vocabulary == ("b", "a", "c")  # b x3, a x2, c x1; None and "" are not values
    assert column.key == "w"
    assert column.default_value == -1
    assert column.num_oov_buckets == 0


def test_vocabulary_ties_are_ordered_by_value() -> None:
    assert fc.vocabulary_column({"w": ["y", "x", "z", "x", "y"]}, "w").vocabulary == ("x", "y", "z")


def test_vocabulary_min_count_max_size_and_oov() -> None:
    assert fc.vocabulary_column(WORDS, "w", min_count=2).vocabulary == ("b", "a")
    assert fc.vocabulary_column(WORDS, "w", max_size=1).vocabulary == ("b",)
    with_oov = fc.vocabulary_column(WORDS, "w", num_oov_buckets=3)
    assert with_oov.num_buckets == 6
    defaulted = fc.vocabulary_column(WORDS, "w", default_value=0)
    assert defaulted.default_value == 0


def test_vocabulary_of_each_input_form() -> None:
    expected = ("b", "a", "c")
    assert fc.vocabulary_column({"w": pa.array(WORDS["w"])}, "w").vocabulary == expected
    assert fc.vocabulary_column({"w": pa.chunked_array([WORDS["w"]])}, "w").vocabulary == expected
    frame = pd.DataFrame({"w": pd.Series(WORDS["w"], dtype="str")})
    assert fc.vocabulary_column(frame, "w").vocabulary == expected


def test_vocabulary_errors() -> None:
    with pytest.raises(InvalidParameterError, match="'min_count'.*>= 1"):
        fc.vocabulary_column(WORDS, "w", min_count=0)
    with pytest.raises(FeatureError, match="'w' has no value seen at least 9 time"):
        fc.vocabulary_column(WORDS, "w", min_count=9)
    with pytest.raises(FeatureError, match="'missing' is not in the data"):
        fc.vocabulary_column(WORDS, "missing")
    with pytest.raises(InvalidParameterError, match="not both"):
        fc.vocabulary_column(WORDS, "w", default_value=0, num_oov_buckets=1)


def test_vocabulary_of_the_census_workclass() -> None:
    table = census.load_table("train")
    column = fc.vocabulary_column(table, "workclass")
    assert len(column.vocabulary) == 8
    assert column.vocabulary[0] == "Private"
    out = fc.FeatureTransformer([column]).transform({"workclass": table.column("workclass")})
    assert int((out.sparse_weights == 0).sum()) == 1_836  # exactly the missing ('?') values


def test_standardized_column_uses_mean_and_population_std() -> None:
    data = {"x": [1.0, 2.0, None, 3.0, 4.0, float("nan")]}
    column = fc.standardized_column(data, "x")
    assert column.key == "x"
    assert isinstance(column.normalizer, fc.ZScore)
    assert column.normalizer.mean == pytest.approx(2.5)
    assert column.normalizer.std == pytest.approx(math.sqrt(1.25))
    out = fc.FeatureTransformer([column]).transform({"x": [1.0, 2.0, 3.0, 4.0]})
    assert out.dense[:, 0].mean() == pytest.approx(0.0, abs=1e-6)
    assert out.dense[:, 0].std() == pytest.approx(1.0, rel=1e-6)


def test_standardized_constant_column_keeps_std_one() -> None:
    column = fc.standardized_column({"x": [5, 5, 5]}, "x")
    assert column.normalizer == fc.ZScore(5.0, 1.0)


def test_standardized_column_errors() -> None:
    with pytest.raises(FeatureError, match="'x' has no finite values"):
        fc.standardized_column({"x": [None, float("nan")]}, "x")
    with pytest.raises(FeatureError, match="'x': expected numbers.*string"):
        fc.standardized_column({"x": ["1", "n/a"]}, "x")


def test_quantile_boundaries() -> None:
    column = fc.quantile_bucketized_column({"x": np.arange(100.0)}, "x", num_buckets=4)
    assert column.boundaries == pytest.approx((24.75, 49.5, 74.25))
    assert column.num_buckets == 4
    out = fc.FeatureTransformer([column]).transform({"x": np.arange(100.0)})
    assert np.bincount(out.sparse_ids[:, 0]).tolist() == [25, 25, 25, 25]


def test_quantile_duplicates_are_merged() -> None:
    column = fc.quantile_bucketized_column({"x": [0, 0, 0, 0, 0, 0, 1, 2]}, "x", num_buckets=4)
    assert column.boundaries == (0.0, 0.25)  # quantiles 0, 0, 0.25: the duplicate 0 merged
    assert column.num_buckets == 3


def test_quantile_errors() -> None:
    with pytest.raises(InvalidParameterError, match="'num_buckets'.*>= 2.*Got 1"):
        fc.quantile_bucketized_column({"x": [1, 2]}, "x", num_buckets=1)
    with pytest.raises(FeatureError, match="'x' is constant"):
        fc.quantile_bucketized_column({"x": [3, 3, 3]}, "x", num_buckets=4)


def test_analyzed_columns_round_trip_through_json() -> None:
    table = census.load_table("train")
    columns = [
        fc.vocabulary_column(table, "education"),
        fc.standardized_column(table, "age"),
        fc.quantile_bucketized_column(table, "hours_per_week", 5),
    ]
    for column in columns:
        assert fc.from_config(fc.to_config(column)) == column
