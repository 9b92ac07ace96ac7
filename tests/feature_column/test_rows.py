"""The RowEncoder (serving's few-instance path) gives exactly what the vectorised transform gives
for the same rows, or None so that the vectorised path decides (and reports errors)."""

from __future__ import annotations

from unittest import mock

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine import feature_column as fc
from mlengine import tuning
from mlengine.errors import FeatureError
from mlengine.feature_column.row_encoder import RowEncoder
from mlengine.feature_column.transform import EncodedFeatures, transform_all
from tests.feature_column import helpers as fc_helpers

WORKCLASS = ["Private", "Self-emp-inc", "State-gov"]
AGE = fc.numeric_column("age", default_value=30, normalizer_fn=fc.ZScore(38.5, 13.6))
HOURS_BUCKETS = fc.bucketized_column(fc.numeric_column("hours", default_value=40), [20, 40, 60])
WORKCLASS_IDS = fc.categorical_column_with_vocabulary_list(
    "workclass", WORKCLASS, num_oov_buckets=2
)
CODE_IDS = fc.categorical_column_with_identity("code", 10, default_value=0)
WIDE = [
    AGE,
    HOURS_BUCKETS,
    WORKCLASS_IDS,
    fc.categorical_column_with_vocabulary_list("sex", ["F", "M"], default_value=0),
    fc.categorical_column_with_hash_bucket("occupation", 50),
    fc.crossed_column(["workclass", "occupation"], 97),
    fc.crossed_column([HOURS_BUCKETS, "sex", CODE_IDS], 1000, hash_key=7),
    fc.categorical_column_with_vocabulary_list("year", [2001, 2002, 2005], num_oov_buckets=3),
    fc.IdentityColumn("wrapped", 4, wrap=True),
]
DEEP = [
    AGE,
    fc.numeric_column("gain", normalizer_fn=fc.Log1p(), default_value=0),
    fc.numeric_column("hours", default_value=40, normalizer_fn=fc.MinMax(1, 99)),
    fc.indicator_column(fc.categorical_column_with_vocabulary_list("race", ["A", "B"])),
    fc.indicator_column(HOURS_BUCKETS),
    fc.embedding_column(fc.categorical_column_with_hash_bucket("country", 20), 3),
    fc.embedding_column(WORKCLASS_IDS, 4, combiner="sqrtn"),
    fc.embedding_column(CODE_IDS, 2, combiner="sum"),
]

strings = st.one_of(
    st.none(),
    st.sampled_from([*WORKCLASS, " Private", "Private ", "", "  ", "F", " M", "x", "北京"]),
    st.just(float("nan")),
)
numbers = st.one_of(
    st.none(),
    st.integers(-5, 100),
    st.floats(-5, 1e6),
    st.sampled_from([float("nan"), -1]),
)
integers = st.one_of(
    st.none(),
    st.integers(-3, 12),
    st.sampled_from([2001, 2002, 2005, 1999]),
    st.just(float("nan")),  # pandas' missing value
)
rows = st.fixed_dictionaries(
    {
        "age": numbers,
        "hours": numbers,
        "gain": numbers,
        "workclass": strings,
        "sex": strings,
        "occupation": strings,
        "race": strings,
        "country": strings,
        "code": integers,
        "year": integers,
        "wrapped": integers,
    }
)


def _assert_equal(a: EncodedFeatures, b: EncodedFeatures) -> None:
    fc_helpers.assert_same_encoding(a, b)
    for x, y in ((a.sparse_ids, b.sparse_ids), (a.dense, b.dense)):
        assert x.dtype == y.dtype and x.shape == y.shape


def _vectorised(transformers: list[fc.FeatureTransformer], instances: list[dict]) -> list:
    columns = {
        key: pa.array([row[key] for row in instances], from_pandas=True) for key in instances[0]
    }
    with mock.patch.object(tuning, "SMALL_BATCH_ROWS", 0):
        return transform_all(transformers, columns)


# One encoder across examples: single rows are remembered by value, and later examples must
# get from that memory exactly what the vectorised transform computes.
SHARED = RowEncoder([fc.FeatureTransformer(WIDE), fc.FeatureTransformer(DEEP)])


@given(st.lists(rows, min_size=1, max_size=12))
def test_rows_encode_exactly_as_the_vectorised_transform(instances: list[dict]) -> None:
    transformers = [fc.FeatureTransformer(WIDE), fc.FeatureTransformer(DEEP)]
    encoder = RowEncoder(transformers)
    by_rows = encoder.encode(instances)
    columns = {key: [row[key] for row in instances] for key in instances[0]}
    by_columns = encoder.encode_columns(columns, len(instances))
    assert by_rows is not None and by_columns is not None  # plain values: the row path covers them
    for fast, other, whole in zip(
        by_rows, by_columns, _vectorised(transformers, instances), strict=True
    ):
        assert fast is not None and other is not None
        _assert_equal(fast.encoded(), whole)
        _assert_equal(other.encoded(), whole)
    # One row at a time (the usual request) takes the single-row branches: the same again,
    # computed or remembered from an earlier row with the same values.
    for encoder_of_one in (encoder, SHARED):
        for row in instances[:3]:
            alone = encoder_of_one.encode([row])
            assert alone is not None
            for fast, whole in zip(alone, _vectorised(transformers, [row]), strict=True):
                assert fast is not None
                _assert_equal(fast.encoded(), whole)


def test_a_missing_number_without_default_falls_back_to_the_vectorised_error() -> None:
    transformer = fc.FeatureTransformer([fc.numeric_column("age")])
    encoder = RowEncoder([transformer])
    assert encoder.encode([{"age": 3}]) is not None
    assert encoder.encode([{"age": None}]) is None
    with pytest.raises(FeatureError, match="'age'.*row 0.*no default_value"):
        transformer.transform({"age": [None]})


@pytest.mark.parametrize(
    ("column", "plain", "odd_values"),
    [
        (fc.categorical_column_with_vocabulary_list("x", ["a"]), "a", [3, 2.5, True, [1], b"a"]),
        (fc.numeric_column("x", default_value=0), 1.5, ["1", True, [1], b"1", 2**60]),
        (fc.categorical_column_with_identity("x", 5), 2, ["1", 2.0, True, [1], b"1", 2**60]),
    ],
    ids=["string", "number", "identity"],
)
def test_values_of_another_kind_fall_back(
    column: fc.FeatureColumn, plain: object, odd_values: list[object]
) -> None:
    """A value the row path does not cover gives None, never a different answer."""
    encoder = RowEncoder([fc.FeatureTransformer([column])])
    assert encoder.encode([{"x": plain}]) is not None
    for value in odd_values:
        assert encoder.encode([{"x": plain}, {"x": value}]) is None, value
        # Alone, after the plain value was remembered: 2.0 is not the identity id 2.
        assert encoder.encode([{"x": value}]) is None, value


def test_an_identity_id_out_of_range_falls_back_to_the_vectorised_error() -> None:
    transformer = fc.FeatureTransformer([fc.categorical_column_with_identity("i", 5)])
    assert RowEncoder([transformer]).encode([{"i": 7}]) is None
    with pytest.raises(FeatureError, match="id 7 is outside"):
        transformer.transform({"i": [7]})


def test_columns_it_does_not_cover_always_fall_back() -> None:
    weighted = fc.weighted_categorical_column(fc.categorical_column_with_identity("i", 5), "w")
    vector = fc.numeric_column("v", shape=3)
    for columns in ([weighted], [vector], [fc.numeric_column("a"), vector]):
        encoder = RowEncoder([fc.FeatureTransformer(columns)])
        assert not encoder.supported
        assert encoder.encode([{"i": 1, "w": 2.0, "v": [1, 2, 3], "a": 1}]) is None


def test_float32_rounding_is_numpys_cast() -> None:
    from mlengine.feature_column.rowpath import float32 as _float32

    values = [0.1, 1 / 3, 16777217.0, -2.5e-45, 3.4e38, float("inf"), float("nan")]
    expected = np.array(values, dtype=np.float32).tolist()
    np.testing.assert_array_equal(_float32(values), expected)
    with np.errstate(over="ignore"):  # beyond float32's range: infinity, as numpy
        assert _float32([1e39, -1e39]) == [float("inf"), float("-inf")]
