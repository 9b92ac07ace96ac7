"""FeatureTransformer: ids, weights and dense values per column type, against hand-worked values.

Layout reminder (see transform.py): ``sparse_ids`` / ``sparse_weights`` ``[n, S]`` hold every
categorical column in name order, ids offset into one id space, weight 0 = no value;
``dense`` ``[n, D]`` holds numeric then indicator columns, in name order; embedding ids are per
column and not offset.
"""

from __future__ import annotations

import doctest
import math
import warnings
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pytest
from hypothesis import given
from hypothesis import strategies as st

import mlengine.feature_column
import mlengine.feature_column.row_encoder
import mlengine.feature_column.transform
import mlengine.tuning
from mlengine import feature_column as fc
from mlengine import tuning
from mlengine.data import census
from mlengine.errors import FeatureError, MLEngineError, NotSupportedError
from mlengine.feature_column.hashing import bucket, cross_hash, hash_strings

WORKCLASS = ["Private", "Self-emp", "State-gov"]


def encode(columns: list[Any], features: Any, combiner: str = "sum") -> fc.EncodedFeatures:
    return fc.FeatureTransformer(columns, sparse_combiner=combiner).transform(features)


def hash_bucket_of(value: str, size: int) -> int:
    return int(bucket(hash_strings(pa.array([value])), size)[0])


def cross_bucket_of(keys: list[int], size: int, hash_key: int | None = None) -> int:
    arrays = [np.array([k], dtype=np.uint64) for k in keys]
    return int(bucket(cross_hash(arrays, hash_key), size)[0])


# ---------------------------------------------------------------------------------------------
# Module examples


@pytest.mark.parametrize(
    "module", [mlengine.feature_column, mlengine.feature_column.transform], ids=lambda m: m.__name__
)
def test_module_examples_run(module: Any) -> None:
    result = doctest.testmod(module, verbose=False, report=False)
    assert result.attempted > 0
    assert result.failed == 0


# ---------------------------------------------------------------------------------------------
# numeric_column


def test_numeric_values_are_float32_rows() -> None:
    out = encode([fc.numeric_column("age")], {"age": np.array([39, 50, 38], dtype=np.int64)})
    assert out.dense.dtype == np.float32
    assert out.dense.tolist() == [[39.0], [50.0], [38.0]]
    assert out.num_rows == 3
    assert out.sparse_ids.shape == (3, 0)
    assert out.embedding_ids == ()


def test_numeric_shape_two_with_default_fills_per_element() -> None:
    column = fc.numeric_column("xy", shape=2, default_value=[-1.0, -2.0])
    features = {"xy": pa.array([[1.0, None], [None, 4.0], [5.0, 6.0]])}
    assert encode([column], features).dense.tolist() == [[1, -2], [-1, 4], [5, 6]]
    as_matrix = {"xy": np.array([[1.0, np.nan], [np.nan, 4.0], [5.0, 6.0]])}
    assert encode([column], as_matrix).dense.tolist() == [[1, -2], [-1, 4], [5, 6]]


def test_numeric_scalar_default_fills_none_and_nan() -> None:
    column = fc.numeric_column("x", default_value=7.0)
    assert encode([column], {"x": [1.0, None, float("nan")]}).dense.tolist() == [[1], [7], [7]]


def test_zscore_normalizer_runs_after_default_filling() -> None:
    column = fc.numeric_column("x", default_value=12.0, normalizer_fn=fc.ZScore(mean=10, std=2))
    out = encode([column], {"x": [12.0, 6.0, None]})
    assert out.dense.tolist() == [[1.0], [-2.0], [1.0]]


def test_minmax_normalizer_does_not_clip() -> None:
    column = fc.numeric_column("x", normalizer_fn=fc.MinMax(0.0, 4.0))
    assert encode([column], {"x": [1.0, 4.0, 6.0, -2.0]}).dense.tolist() == [
        [0.25],
        [1.0],
        [1.5],
        [-0.5],
    ]


def test_log1p_normalizer_is_signed() -> None:
    column = fc.numeric_column("capital_gain", normalizer_fn=fc.Log1p())
    e = math.e
    out = encode([column], {"capital_gain": [0.0, e - 1, -(e - 1), e**2 - 1]})
    np.testing.assert_allclose(out.dense[:, 0], [0.0, 1.0, -1.0, 2.0], rtol=1e-6)


def test_numeric_strings_are_parsed() -> None:
    out = encode([fc.numeric_column("x", default_value=0)], {"x": [" 1.5", "2", "", None]})
    assert out.dense.tolist() == [[1.5], [2.0], [0.0], [0.0]]


def test_dense_layout_is_numeric_then_indicator_in_name_order() -> None:
    gender = fc.categorical_column_with_vocabulary_list("gender", ["female", "male"])
    columns = [fc.indicator_column(gender), fc.numeric_column("b"), fc.numeric_column("a")]
    out = encode(columns, {"a": [1.0, 2.0], "b": [10.0, 20.0], "gender": ["male", "female"]})
    assert out.dense.tolist() == [[1, 10, 0, 1], [2, 20, 1, 0]]


# ---------------------------------------------------------------------------------------------
# bucketized_column


def test_bucketized_boundaries_are_left_edge_inclusive() -> None:
    column = fc.bucketized_column(fc.numeric_column("x"), boundaries=[0, 1, 2])
    # (-inf, 0) [0, 1) [1, 2) [2, inf)
    out = encode([column], {"x": [-0.5, 0.0, 0.999, 1.0, 2.0, 5.0]})
    assert out.sparse_ids[:, 0].tolist() == [0, 1, 1, 2, 3, 3]
    assert out.sparse_weights[:, 0].tolist() == [1] * 6


def test_bucketized_shape_two_offsets_each_element() -> None:
    column = fc.bucketized_column(fc.numeric_column("xy", shape=2), boundaries=[0, 1, 2])
    features = {"xy": np.array([[-1.0, 0.0], [1.5, 2.0]])}
    out = encode([column], features)
    assert out.sparse_ids.tolist() == [[0, 5], [2, 7]]  # second element's buckets are 4..7
    dense = encode([fc.indicator_column(column)], features).dense
    assert dense.tolist() == [[1, 0, 0, 0, 0, 1, 0, 0], [0, 0, 1, 0, 0, 0, 0, 1]]


def test_bucketized_uses_the_source_default() -> None:
    source = fc.numeric_column("age", default_value=30)
    column = fc.bucketized_column(source, [18, 25, 30, 35])
    assert encode([column], {"age": [17.0, None]}).sparse_ids.tolist() == [[0], [3]]
    strict = fc.bucketized_column(fc.numeric_column("age"), [18, 25])
    with pytest.raises(FeatureError, match="'age'.*row 1.*no default_value"):
        encode([strict], {"age": [17.0, None]})


# ---------------------------------------------------------------------------------------------
# categorical_column_with_vocabulary_list / _file


def test_vocabulary_ids_strip_white_space_and_drop_missing_and_oov() -> None:
    column = fc.categorical_column_with_vocabulary_list("workclass", WORKCLASS)
    values = [" Private", "State-gov ", None, "", "  ", "Never-worked", "Private"]
    out = encode([column], {"workclass": values})
    weights = out.sparse_weights[:, 0].tolist()
    assert weights == [1, 1, 0, 0, 0, 0, 1]
    assert out.sparse_ids[:, 0][np.array(weights) > 0].tolist() == [0, 2, 0]


def test_vocabulary_default_value_takes_oov_but_not_missing() -> None:
    column = fc.categorical_column_with_vocabulary_list("workclass", WORKCLASS, default_value=1)
    out = encode([column], {"workclass": ["Never-worked", None, "", "State-gov"]})
    assert out.sparse_weights[:, 0].tolist() == [1, 0, 0, 1]
    assert out.sparse_ids[[0, 3], 0].tolist() == [1, 2]


def test_vocabulary_oov_buckets_hash_after_the_vocabulary() -> None:
    column = fc.categorical_column_with_vocabulary_list("workclass", WORKCLASS, num_oov_buckets=5)
    out = encode([column], {"workclass": ["Never-worked", " Without-pay ", "Private", None]})
    expected = [3 + hash_bucket_of("Never-worked", 5), 3 + hash_bucket_of("Without-pay", 5), 0]
    assert out.sparse_ids[:3, 0].tolist() == expected
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 1, 0]


def test_integer_vocabulary() -> None:
    column = fc.categorical_column_with_vocabulary_list("k", [10, 20, 30])
    out = encode([column], {"k": [20, 99, -1, None, 10]})
    assert out.sparse_weights[:, 0].tolist() == [1, 0, 0, 0, 1]  # -1 means missing, as in TF
    assert out.sparse_ids[[0, 4], 0].tolist() == [1, 0]
    with_oov = fc.categorical_column_with_vocabulary_list("k", [10, 20, 30], num_oov_buckets=4)
    out = encode([with_oov], {"k": np.array([30, 99, -1])})
    # an unseen integer is hashed as its decimal string, like the hash bucket column
    assert out.sparse_ids[:2, 0].tolist() == [2, 3 + hash_bucket_of("99", 4)]
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 0]
    defaulted = fc.categorical_column_with_vocabulary_list("k", [10, 20, 30], default_value=0)
    assert encode([defaulted], {"k": [99, 20]}).sparse_ids[:, 0].tolist() == [0, 1]


def test_vocabulary_file_column_transforms_like_the_list(tmp_path: Any) -> None:
    path = tmp_path / "workclass.txt"
    path.write_text("\n".join(WORKCLASS) + "\n", encoding="utf-8")
    from_file = fc.categorical_column_with_vocabulary_file("workclass", str(path))
    features = {"workclass": ["State-gov", " Self-emp", "unknown"]}
    out = encode([from_file], features)
    assert out.sparse_ids[:2, 0].tolist() == [2, 1]
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 0]


# ---------------------------------------------------------------------------------------------
# categorical_column_with_identity


def test_identity_ids_and_dropped_negatives() -> None:
    column = fc.categorical_column_with_identity("digit", num_buckets=3)
    out = encode([column], {"digit": [0, 2, -1, -5, None, 1]})
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 0, 0, 0, 1]
    assert out.sparse_ids[[0, 1, 5], 0].tolist() == [0, 2, 1]


def test_identity_out_of_range_names_the_value() -> None:
    column = fc.categorical_column_with_identity("digit", num_buckets=3)
    with pytest.raises(FeatureError) as excinfo:
        encode([column], {"digit": np.array([0, 1, 7, 2])})
    message = str(excinfo.value)
    assert "'digit'" in message
    assert "id 7 is outside [0, 3)" in message
    assert "row 2" in message
    assert "default_value" in message


def test_identity_out_of_range_in_a_list_names_the_row() -> None:
    column = fc.categorical_column_with_identity("digit", num_buckets=3)
    with pytest.raises(FeatureError, match="id 9 is outside.*row 1"):
        encode([column], {"digit": pa.array([[0, 1], [2, 9]])})


def test_identity_default_value_replaces_out_of_range() -> None:
    column = fc.categorical_column_with_identity("digit", num_buckets=3, default_value=0)
    out = encode([column], {"digit": [5, -3, 2, -1, None]})
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 1, 0, 0]  # -1 and None are missing
    assert out.sparse_ids[:3, 0].tolist() == [0, 0, 2]


def test_identity_rejects_fractional_ids() -> None:
    column = fc.categorical_column_with_identity("digit", num_buckets=3)
    with pytest.raises(FeatureError, match="'digit'.*integer id.*1.5"):
        encode([column], {"digit": [1.0, 1.5]})


def test_contrib_integerized_feature_wraps_modulo() -> None:
    column = fc.sparse_column_with_integerized_feature("digit", bucket_size=3)
    out = encode([column], {"digit": [5, 7, 2, 300]})
    assert out.sparse_ids[:, 0].tolist() == [2, 1, 2, 0]
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 1, 1]


# ---------------------------------------------------------------------------------------------
# categorical_column_with_hash_bucket


def test_hash_bucket_hashes_ints_as_decimal_strings() -> None:
    column = fc.categorical_column_with_hash_bucket("code", hash_bucket_size=1000)
    as_ints = encode([column], {"code": [7, 123]}).sparse_ids[:, 0].tolist()
    as_strings = encode([column], {"code": ["7", " 123 "]}).sparse_ids[:, 0].tolist()
    as_floats = encode([column], {"code": np.array([7.0, 123.0])}).sparse_ids[:, 0].tolist()
    assert (
        as_ints
        == as_strings
        == as_floats
        == [hash_bucket_of("7", 1000), hash_bucket_of("123", 1000)]
    )


def test_hash_bucket_drops_missing_and_empty() -> None:
    column = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=100)
    out = encode([column], {"occupation": ["Exec-managerial", None, "", " Sales"]})
    assert out.sparse_weights[:, 0].tolist() == [1, 0, 0, 1]
    assert out.sparse_ids[[0, 3], 0].tolist() == [
        hash_bucket_of("Exec-managerial", 100),
        hash_bucket_of("Sales", 100),
    ]


# ---------------------------------------------------------------------------------------------
# crossed_column


def test_cross_of_raw_keys() -> None:
    cross = fc.crossed_column(["education", "occupation"], hash_bucket_size=1000)
    features = {
        "education": ["Bachelors", " Bachelors", "Masters", None, ""],
        "occupation": ["Exec-managerial", "Exec-managerial ", "Sales", "Sales", "Sales"],
    }
    out = encode([cross], features)
    keys = hash_strings(pa.array(["Bachelors", "Exec-managerial", "Masters", "Sales"]))
    expected = [
        cross_bucket_of([keys[0], keys[1]], 1000),
        cross_bucket_of([keys[0], keys[1]], 1000),
        cross_bucket_of([keys[2], keys[3]], 1000),
    ]
    assert out.sparse_ids[:3, 0].tolist() == expected
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 1, 0, 0]  # a missing part: no id


def test_cross_depends_on_key_order_as_given() -> None:
    ab = fc.crossed_column(["a", "b"], 1000)
    ba = fc.crossed_column(["b", "a"], 1000)
    features = {"a": ["x", "y", "z"], "b": ["p", "q", "r"]}
    assert ab.name == ba.name
    keys = hash_strings(pa.array(["x", "p"]))
    assert encode([ab], features).sparse_ids[0, 0] == cross_bucket_of([keys[0], keys[1]], 1000)
    assert encode([ba], features).sparse_ids[0, 0] == cross_bucket_of([keys[1], keys[0]], 1000)


def test_cross_of_bucketized_and_vocabulary_columns_uses_their_ids() -> None:
    age_buckets = fc.bucketized_column(fc.numeric_column("age"), [18, 25, 30])
    education = fc.categorical_column_with_vocabulary_list("education", ["HS-grad", "Bachelors"])
    cross = fc.crossed_column([age_buckets, education], hash_bucket_size=50)
    features = {"age": [17.0, 26.0, 40.0], "education": ["Bachelors", "HS-grad", "PhD"]}
    out = encode([cross], features)
    assert out.sparse_ids[:2, 0].tolist() == [
        cross_bucket_of([0, 1], 50),  # age bucket 0, education id 1
        cross_bucket_of([2, 0], 50),
    ]
    assert out.sparse_weights[:, 0].tolist() == [1, 1, 0]  # PhD is OOV: no cross


def test_hash_key_changes_the_buckets() -> None:
    features = {"a": [f"a{i}" for i in range(20)], "b": [f"b{i}" for i in range(20)]}
    plain = encode([fc.crossed_column(["a", "b"], 1000)], features).sparse_ids
    default = encode([fc.crossed_column(["a", "b"], 1000, hash_key=0xDECAFCAFFE)], features)
    seeded = encode([fc.crossed_column(["a", "b"], 1000, hash_key=1)], features).sparse_ids
    assert np.array_equal(plain, default.sparse_ids)  # None means tf.contrib's default key
    assert not np.array_equal(plain, seeded)
    assert (plain != seeded).sum() > 15


def test_cross_of_an_absent_key_names_it() -> None:
    cross = fc.crossed_column(["education", "occupation"], 100)
    with pytest.raises(FeatureError) as excinfo:
        encode([cross], {"education": ["Bachelors"]})
    assert "'occupation'" in str(excinfo.value)
    assert "'education_X_occupation'" in str(excinfo.value)
    assert "missing" in str(excinfo.value)


def test_cross_of_list_values_is_not_supported() -> None:
    cross = fc.crossed_column(["a", "b"], 100)
    with pytest.raises(NotSupportedError, match="'a'.*several values per row"):
        encode([cross], {"a": pa.array([["x", "y"]]), "b": ["p"]})


# ---------------------------------------------------------------------------------------------
# indicator, embedding, weighted


def test_indicator_is_multi_hot_and_counts_repeats() -> None:
    column = fc.categorical_column_with_identity("ids", num_buckets=3)
    out = encode([fc.indicator_column(column)], {"ids": pa.array([[2, 0, 0], [1], [], None])})
    assert out.dense.tolist() == [[2, 0, 1], [0, 1, 0], [0, 0, 0], [0, 0, 0]]


def test_indicator_of_single_values_is_one_hot() -> None:
    column = fc.categorical_column_with_vocabulary_list("workclass", WORKCLASS, num_oov_buckets=1)
    out = encode([fc.indicator_column(column)], {"workclass": ["State-gov", None, "Other"]})
    assert out.dense.tolist() == [[0, 0, 1, 0], [0, 0, 0, 0], [0, 0, 0, 1]]


def test_embedding_ids_are_not_offset_and_mean_is_the_default() -> None:
    education = fc.categorical_column_with_vocabulary_list("education", ["a", "b", "c"])
    occupation = fc.categorical_column_with_vocabulary_list("occupation", ["x", "y"])
    columns = [
        fc.embedding_column(education, 4),
        fc.embedding_column(occupation, 4),
        education,
        occupation,
    ]
    out = encode(columns, {"education": ["c", "b"], "occupation": ["y", None]})
    assert [ids.tolist() for ids in out.embedding_ids] == [[[2], [1]], [[1], [0]]]
    assert [w.tolist() for w in out.embedding_weights] == [[[1], [1]], [[1], [0]]]
    assert out.sparse_ids.tolist() == [[2, 3 + 1], [1, 3 + 0]]  # sparse ids are offset


LISTS = pa.array([["a", "b"], ["c"], [], ["a", None, "b"], None, ["b", "b", "b", "b"]])


@pytest.mark.parametrize(
    ("combiner", "weights"),
    [
        ("sum", [[1, 1, 0, 0], [1, 0, 0, 0], [0] * 4, [1, 0, 1, 0], [0] * 4, [1, 1, 1, 1]]),
        (
            "mean",
            [[0.5, 0.5, 0, 0], [1, 0, 0, 0], [0] * 4, [0.5, 0, 0.5, 0], [0] * 4, [0.25] * 4],
        ),
        (
            "sqrtn",
            [
                [1 / math.sqrt(2), 1 / math.sqrt(2), 0, 0],
                [1, 0, 0, 0],
                [0] * 4,
                [1 / math.sqrt(2), 0, 1 / math.sqrt(2), 0],
                [0] * 4,
                [0.5] * 4,
            ],
        ),
    ],
)
def test_list_values_with_each_combiner(combiner: str, weights: list[list[float]]) -> None:
    column = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c"])
    sparse = encode([column], {"tags": LISTS}, combiner=combiner)
    embedded = encode([fc.embedding_column(column, 2, combiner=combiner)], {"tags": LISTS})
    present = np.asarray(weights) > 0
    for ids, got in [
        (sparse.sparse_ids, sparse.sparse_weights),
        (embedded.embedding_ids[0], embedded.embedding_weights[0]),
    ]:
        assert ids.shape == (6, 4)  # the longest list of the batch
        np.testing.assert_allclose(got, weights, rtol=1e-6)
        assert ids[present].tolist() == [0, 1, 2, 0, 1, 1, 1, 1, 1]


def test_weighted_categorical_column_scalar_weights() -> None:
    column = fc.weighted_categorical_column(fc.categorical_column_with_identity("i", 3), "w")
    out = encode([column], {"i": [2, 1, 0], "w": [0.5, 3.0, None]})
    assert out.sparse_ids[:, 0].tolist() == [2, 1, 0]
    assert out.sparse_weights[:, 0].tolist() == [0.5, 3.0, 0.0]  # a missing weight counts 0


def test_weighted_categorical_column_list_weights_and_combiners() -> None:
    terms = fc.categorical_column_with_vocabulary_list("terms", ["a", "b", "c"])
    column = fc.weighted_categorical_column(terms, "tf")
    features = {
        "terms": pa.array([["a", "c"], ["b"], ["z", "a"]]),
        "tf": pa.array([[3.0, 4.0], [2.0], [5.0, 1.0]]),
    }
    summed = encode([column], features)
    assert summed.sparse_ids.tolist() == [[0, 2], [1, 0], [0, 0]]
    assert summed.sparse_weights.tolist() == [[3, 4], [2, 0], [0, 1]]  # "z" is OOV: weight 0
    mean = encode([column], features, combiner="mean").sparse_weights
    np.testing.assert_allclose(mean, [[3 / 7, 4 / 7], [1, 0], [0, 1]], rtol=1e-6)
    sqrtn = encode([column], features, combiner="sqrtn").sparse_weights
    np.testing.assert_allclose(sqrtn, [[0.6, 0.8], [1, 0], [0, 1]], rtol=1e-6)
    indicator = encode([fc.indicator_column(column)], features).dense
    assert indicator.tolist() == [[3, 0, 4], [0, 2, 0], [1, 0, 0]]


TINY = 1.401298464324817e-45  # the smallest float32: 1 / TINY overflows float32


@pytest.mark.parametrize(
    ("combiner", "one_per_row", "lists"),
    [
        ("mean", [0.0, 0.0, 1.0, 1.0], [[0.5, 0.5], [0.0, 0.0]]),
        ("sqrtn", [-1.0, 0.0, 1.0, 1.0], [[0.5**0.5, 0.5**0.5], [0.0, 0.0]]),
    ],
)
def test_combiners_scale_weights_of_any_size(
    combiner: str, one_per_row: list[float], lists: list[list[float]]
) -> None:
    column = fc.weighted_categorical_column(fc.categorical_column_with_identity("i", 3), "w")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow: the scale is computed in float64
        single = encode([column], {"i": [2, 1, 0, 2], "w": [-2.0, 0.0, 3.0, TINY]}, combiner)
        several = encode(
            [column],
            {"i": pa.array([[2, 1], [0]]), "w": pa.array([[TINY, TINY], [0.0]])},
            combiner,
        )
    assert single.sparse_weights[:, 0].tolist() == one_per_row
    np.testing.assert_allclose(several.sparse_weights, lists, rtol=1e-6)


def test_weighted_categorical_column_needs_one_weight_per_id() -> None:
    column = fc.weighted_categorical_column(fc.categorical_column_with_identity("i", 3), "w")
    features = {"i": pa.array([[0, 1], [2]]), "w": pa.array([[1.0, 2.0], [1.0, 2.0]])}
    with pytest.raises(FeatureError, match="'w'.*one weight per id.*row 1"):
        encode([column], features)


# ---------------------------------------------------------------------------------------------
# Input forms


def _mixed_columns() -> list[Any]:
    workclass = fc.categorical_column_with_vocabulary_list("workclass", WORKCLASS)
    return [
        fc.numeric_column("age", default_value=0),
        fc.bucketized_column(fc.numeric_column("age", default_value=0), [30, 40]),
        workclass,
        fc.indicator_column(workclass),
        fc.categorical_column_with_hash_bucket("occupation", 100),
        fc.crossed_column(["workclass", "occupation"], 100),
        fc.categorical_column_with_identity("digit", 5),
    ]


EXPECTED_INPUT = {
    "age": [39.0, 50.0, None],
    "workclass": [" Private", None, "State-gov"],
    "occupation": ["Sales", "Exec-managerial", None],
    "digit": [1, 4, 0],
}


def _as_numpy() -> dict[str, np.ndarray]:
    return {
        "age": np.array([39.0, 50.0, np.nan]),
        "workclass": np.array([" Private", None, "State-gov"], dtype=object),
        "occupation": np.array(["Sales", "Exec-managerial", None], dtype=object),
        "digit": np.array([1, 4, 0]),
    }


@pytest.mark.parametrize(
    "make",
    [
        lambda: _as_numpy(),
        lambda: {k: pa.array(v) for k, v in EXPECTED_INPUT.items()},
        lambda: {
            k: pa.chunked_array([pa.array(v[:1]), pa.array(v[1:])])
            for k, v in EXPECTED_INPUT.items()
        },
        lambda: pd.DataFrame(EXPECTED_INPUT),
        lambda: pd.DataFrame(EXPECTED_INPUT).astype({"workclass": "str", "occupation": "str"}),
        lambda: pd.DataFrame(EXPECTED_INPUT).astype({"workclass": object, "occupation": object}),
        # pandas' nullable dtypes hold NA, not NaN: read through arrow, not as numpy arrays
        lambda: pd.DataFrame(EXPECTED_INPUT).astype({"age": "Float64", "digit": "Int64"}),
        lambda: {
            "workclass": np.array([" Private", "", "State-gov"]),
            **{k: v for k, v in _as_numpy().items() if k != "workclass"},
        },
    ],
    ids=[
        "numpy",
        "pyarrow",
        "chunked",
        "pandas",
        "pandas-str",
        "pandas-object",
        "pandas-nullable",
        "numpy-unicode",
    ],
)
def test_every_input_form_gives_the_same_encoding(make: Any) -> None:
    expected = encode(_mixed_columns(), EXPECTED_INPUT)
    got = encode(_mixed_columns(), make())
    for name in ("sparse_ids", "sparse_weights", "dense"):
        np.testing.assert_array_equal(getattr(got, name), getattr(expected, name), err_msg=name)
    assert expected.dense.tolist() == [[39, 1, 0, 0], [50, 0, 0, 0], [0, 0, 0, 1]]
    # age_bucketized, digit, occupation, occupation_X_workclass, workclass
    assert expected.sparse_weights.tolist() == [[1, 1, 1, 1, 1], [1, 1, 1, 0, 0], [1, 1, 0, 0, 1]]


def test_small_and_large_dictionaries_give_the_same_ids(monkeypatch: pytest.MonkeyPatch) -> None:
    """A feature with few distinct values is looked up entry by entry in Python, one with many
    through pyarrow: forcing the pyarrow way on the same values changes nothing."""
    workclass = fc.categorical_column_with_vocabulary_list(
        "workclass", WORKCLASS, num_oov_buckets=3
    )
    columns = [
        workclass,
        fc.indicator_column(workclass),
        fc.categorical_column_with_hash_bucket("occupation", 100),
        fc.crossed_column(["workclass", "occupation"], 100),
        fc.embedding_column(workclass, 2),
    ]
    values = [" Private", None, "State-gov", "", "  ", "Moon-base", "Private ", "北京"] * 40
    features = {
        "workclass": pa.array(values),
        "occupation": pa.array(["Sales", None, " Sales", "", "Tech"] * 64),
    }
    small = encode(columns, features)
    monkeypatch.setattr(mlengine.tuning, "FEW_DISTINCT_STRINGS", 0)
    large = encode(columns, features)
    for name in ("sparse_ids", "sparse_weights", "dense"):
        np.testing.assert_array_equal(getattr(small, name), getattr(large, name), err_msg=name)
    np.testing.assert_array_equal(small.embedding_ids[0], large.embedding_ids[0])
    np.testing.assert_array_equal(small.embedding_weights[0], large.embedding_weights[0])
    slot = [c.name for c in fc.FeatureTransformer(columns).sparse_columns].index("workclass")
    assert small.sparse_weights[:8, slot].tolist() == [1, 0, 1, 0, 0, 1, 1, 1]  # blank: no value


def test_pandas_string_dtype_with_missing_values() -> None:
    frame = pd.DataFrame({"workclass": pd.Series(["Private", None, " Self-emp"], dtype="str")})
    column = fc.categorical_column_with_vocabulary_list("workclass", WORKCLASS)
    out = encode([column], frame)
    assert out.sparse_weights[:, 0].tolist() == [1, 0, 1]
    assert out.sparse_ids[[0, 2], 0].tolist() == [0, 1]


def test_empty_batch() -> None:
    out = encode(_mixed_columns(), {k: [] for k in EXPECTED_INPUT})
    assert out.num_rows == 0
    assert out.dense.shape == (0, 4)
    assert out.sparse_ids.shape == (0, 5)


# ---------------------------------------------------------------------------------------------
# Bad input: errors from mlengine.errors naming column, rule, value and row


def test_batch_missing_a_needed_column() -> None:
    with pytest.raises(FeatureError) as excinfo:
        encode(_mixed_columns(), {k: v for k, v in EXPECTED_INPUT.items() if k != "occupation"})
    message = str(excinfo.value)
    assert "'occupation'" in message
    assert "required by column" in message
    assert "missing from the input" in message


@pytest.mark.parametrize(
    "values",
    [["39", "n/a", "50"], [39, "n/a", 50], pd.Series([39, "n/a", 50], dtype=object)],
    ids=["strings", "mixed-list", "pandas-object"],
)
def test_string_in_a_numeric_column_names_row_and_value(values: Any) -> None:
    with pytest.raises(FeatureError) as excinfo:
        encode([fc.numeric_column("age")], {"age": values})
    message = str(excinfo.value)
    assert "'age'" in message
    assert "'n/a'" in message
    assert "row 1" in message
    assert isinstance(excinfo.value, MLEngineError)
    assert isinstance(excinfo.value, ValueError)


def test_missing_numeric_value_without_default() -> None:
    with pytest.raises(FeatureError) as excinfo:
        encode([fc.numeric_column("hours_per_week")], {"hours_per_week": [40.0, 38.0, None]})
    message = str(excinfo.value)
    assert "'hours_per_week'" in message
    assert "missing value in row 2" in message
    assert "no default_value" in message


def test_numeric_column_of_unexpected_type() -> None:
    with pytest.raises(FeatureError, match="'age'.*expected numbers.*timestamp"):
        encode([fc.numeric_column("age")], {"age": pa.array([1, 2], pa.timestamp("s"))})


def test_wrong_number_of_values() -> None:
    with pytest.raises(FeatureError, match="'xy'.*expected 2 value\\(s\\) per row.*3 values"):
        encode([fc.numeric_column("xy", shape=2)], {"xy": pa.array([[1.0, 2.0], [3.0]])})
    with pytest.raises(FeatureError, match="'b' has 1 rows; expected 2"):
        encode([fc.numeric_column("a"), fc.numeric_column("b")], {"a": [1, 2], "b": [1]})


def test_features_must_be_a_mapping() -> None:
    with pytest.raises(FeatureError, match="mapping.*list"):
        encode([fc.numeric_column("a")], [[1.0]])


# ---------------------------------------------------------------------------------------------
# Properties: unseen categories and missing values never crash


text_or_missing = st.one_of(
    st.none(),
    st.just(""),
    st.text(alphabet=" \t", max_size=3),
    st.sampled_from(["a", "b", " c ", "d"]),
    st.text(max_size=8),
)


@given(
    vocabulary=st.lists(st.sampled_from("abcdefgh"), min_size=1, max_size=6, unique=True),
    values=st.lists(text_or_missing, min_size=1, max_size=30),
    mode=st.sampled_from(["drop", "default", "oov"]),
)
def test_unseen_and_missing_strings_never_crash(
    vocabulary: list[str], values: list[str | None], mode: str
) -> None:
    column = fc.categorical_column_with_vocabulary_list(
        "k",
        vocabulary,
        default_value=0 if mode == "default" else -1,
        num_oov_buckets=3 if mode == "oov" else 0,
    )
    hashed = fc.categorical_column_with_hash_bucket("k", 7)
    cross = fc.crossed_column([column, "k"], 11)
    transformer = fc.FeatureTransformer([column, fc.indicator_column(column), cross])
    out = transformer.transform({"k": values})
    hash_out = fc.FeatureTransformer([hashed]).transform({"k": values})
    for row, value in enumerate(values):
        stripped = None if value is None else value.strip()
        ids = {
            c.name: (
                out.sparse_ids[row, j] - transformer.sparse_offsets[j],
                out.sparse_weights[row, j],
            )
            for j, c in enumerate(transformer.sparse_columns)
        }
        vocab_id, vocab_weight = ids["k"]
        if not stripped:  # None, "" and white space only are missing values
            assert vocab_weight == 0
            assert hash_out.sparse_weights[row, 0] == 0
            assert out.dense[row].sum() == 0
            assert ids[cross.name][1] == 0
            continue
        assert hash_out.sparse_weights[row, 0] == 1
        assert hash_out.sparse_ids[row, 0] == hash_bucket_of(stripped, 7)
        if stripped in vocabulary:
            assert (vocab_id, vocab_weight) == (vocabulary.index(stripped), 1)
        elif mode == "drop":
            assert vocab_weight == 0
        elif mode == "default":
            assert (vocab_id, vocab_weight) == (0, 1)
        else:
            assert vocab_weight == 1
            assert vocab_id == len(vocabulary) + hash_bucket_of(stripped, 3)
        assert out.dense[row].sum() == vocab_weight
        if vocab_weight:
            assert out.dense[row, vocab_id] == 1
        assert 0 <= ids[cross.name][0] < 11
        assert ids[cross.name][1] == vocab_weight


@given(
    values=st.lists(
        st.one_of(st.none(), st.just(float("nan")), st.floats(-1e6, 1e6)), min_size=1, max_size=30
    ),
    default=st.floats(-100, 100),
)
def test_missing_numbers_take_the_default(values: list[float | None], default: float) -> None:
    numeric = fc.numeric_column("x", default_value=default)
    buckets = fc.bucketized_column(numeric, [-10.0, 0.0, 10.0])
    out = encode([numeric, buckets], {"x": values})
    # numeric columns are float32, as in TF: values are bucketized after that cast
    filled = np.asarray([default if v is None or math.isnan(v) else v for v in values], np.float32)
    np.testing.assert_array_equal(out.dense[:, 0], filled)
    expected_buckets = np.searchsorted([-10.0, 0.0, 10.0], filled, side="right")
    assert out.sparse_ids[:, 0].tolist() == expected_buckets.tolist()
    assert (out.sparse_weights == 1).all()


@given(values=st.lists(st.one_of(st.none(), st.integers(-(2**40), 2**40)), min_size=1, max_size=30))
def test_any_integer_with_a_default_is_in_range(values: list[int | None]) -> None:
    column = fc.categorical_column_with_identity("i", num_buckets=5, default_value=4)
    wrapped = fc.sparse_column_with_integerized_feature("j", bucket_size=5)
    out = encode([column, wrapped], {"i": values, "j": [0 if v is None else v for v in values]})
    for row, value in enumerate(values):
        i_id, j_id = out.sparse_ids[row]
        i_weight, j_weight = out.sparse_weights[row]
        if value is None or value == -1:
            assert i_weight == 0
        else:
            assert i_weight == 1
            assert i_id == (value if 0 <= value < 5 else 4)
        assert j_weight == 1
        assert j_id - 5 == (0 if value is None else value % 5)


# ---------------------------------------------------------------------------------------------
# The census training set with the tutorial's columns

AGE_BOUNDARIES = [18, 25, 30, 35, 40, 45, 50, 55, 60, 65]
NUMERIC_KEYS = ["age", "education_num", "capital_gain", "capital_loss", "hours_per_week"]
VOCABULARY_KEYS = ["education", "marital_status", "relationship", "workclass"]


@pytest.fixture(scope="module")
def census_train() -> pd.DataFrame:
    x, _ = census.load("train")
    return x


def census_columns(x: pd.DataFrame) -> tuple[list[Any], list[Any], dict[str, Any]]:
    age = fc.numeric_column("age")
    age_buckets = fc.bucketized_column(age, AGE_BOUNDARIES)
    vocabularies = {
        key: fc.categorical_column_with_vocabulary_list(key, sorted(x[key].dropna().unique()))
        for key in VOCABULARY_KEYS
    }
    occupation = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=1000)
    wide = [
        *vocabularies.values(),
        occupation,
        age_buckets,
        fc.crossed_column(["education", "occupation"], hash_bucket_size=1000),
        fc.crossed_column([age_buckets, "education", "occupation"], hash_bucket_size=1000),
    ]
    deep = [
        age,
        *(fc.numeric_column(k) for k in NUMERIC_KEYS[1:]),
        *(fc.indicator_column(c) for c in vocabularies.values()),
        fc.embedding_column(occupation, dimension=8),
    ]
    return wide, deep, vocabularies


def test_census_training_set_transforms(census_train: pd.DataFrame) -> None:
    x = census_train
    wide, deep, vocabularies = census_columns(x)
    assert [len(c.vocabulary) for c in vocabularies.values()] == [16, 7, 6, 8]
    transformer = fc.FeatureTransformer(wide + deep)
    out = transformer.transform(x)
    n = len(x)
    assert n == 32_561
    vocab_width = sum(c.num_buckets for c in vocabularies.values())
    assert out.sparse_ids.shape == out.sparse_weights.shape == (n, 8)
    assert out.dense.shape == (n, 5 + vocab_width)
    assert transformer.num_sparse_ids == 11 + 1000 * 3 + vocab_width
    assert [ids.shape for ids in out.embedding_ids] == [(n, 1)]
    assert out.embedding_ids[0].min() >= 0 and out.embedding_ids[0].max() < 1000

    for j, column in enumerate(transformer.sparse_columns):
        ids = out.sparse_ids[:, j] - transformer.sparse_offsets[j]
        assert ids.min() >= 0, column.name
        assert ids.max() < column.num_buckets, column.name
        present = out.sparse_weights[:, j] > 0
        if column.name in vocabularies:
            # no vocabulary value of the data is OOV: only true missing values lack an id
            assert (~present).sum() == x[column.name].isna().sum(), column.name
            looked_up = np.asarray(vocabularies[column.name].vocabulary)[ids[present]]
            assert (looked_up == x[column.name][present].to_numpy()).all(), column.name
    missing_occupation = x["occupation"].isna().to_numpy()
    names = [c.name for c in transformer.sparse_columns]
    for name in ("occupation", "education_X_occupation", "age_bucketized_X_education_X_occupation"):
        weights = out.sparse_weights[:, names.index(name)]
        assert (weights == np.where(missing_occupation, 0, 1)).all(), name
    np.testing.assert_array_equal(out.dense[:, 0], x["age"].to_numpy(np.float32))
    indicator_rows = out.dense[:, 5:]
    assert set(np.unique(indicator_rows)) == {0.0, 1.0}
    expected_hits = 4 - x[VOCABULARY_KEYS].isna().sum(axis=1).to_numpy()
    assert (indicator_rows.sum(axis=1) == expected_hits).all()


def test_census_raw_strings_with_leading_spaces_encode_the_same(census_train: pd.DataFrame) -> None:
    wide, deep, _ = census_columns(census_train)
    transformer = fc.FeatureTransformer(wide + deep)
    table = census.load_table("train")  # pyarrow strings, cleaned by the reader
    clean = {name: table.column(name) for name in table.column_names}
    raw = {  # as the raw UCI file and real JSON requests carry them: " State-gov"
        name: col if pa.types.is_integer(col.type) else pc.binary_join_element_wise(" ", col, "")
        for name, col in clean.items()
    }
    assert raw["workclass"][0].as_py() == " State-gov"
    a, b = transformer.transform(clean), transformer.transform(raw)
    from_pandas = transformer.transform(census_train)
    for other in (b, from_pandas):
        np.testing.assert_array_equal(a.sparse_ids, other.sparse_ids)
        np.testing.assert_array_equal(a.sparse_weights, other.sparse_weights)
        np.testing.assert_array_equal(a.dense, other.dense)
        np.testing.assert_array_equal(a.embedding_ids[0], other.embedding_ids[0])


def test_encoding_does_not_depend_on_the_batch_size(census_train: pd.DataFrame) -> None:
    # Large batches take other code paths (cross lookup tables, filling in blocks of rows)
    # than small ones; every row must encode the same whichever batch it arrives in.
    wide, deep, _ = census_columns(census_train)
    transformer = fc.FeatureTransformer(wide + deep, sparse_combiner="sqrtn")
    table = census.load_table("train").slice(0, 20_000)
    whole = transformer.transform({name: table.column(name) for name in table.column_names})
    for size in (1, 7, 1000):
        for start in (0, 8191, 19_000):
            part = table.slice(start, size)
            got = transformer.transform({name: part.column(name) for name in part.column_names})
            rows = slice(start, start + size)
            np.testing.assert_array_equal(got.sparse_ids, whole.sparse_ids[rows])
            np.testing.assert_array_equal(got.sparse_weights, whole.sparse_weights[rows])
            np.testing.assert_array_equal(got.dense, whole.dense[rows])
            np.testing.assert_array_equal(got.embedding_ids[0], whole.embedding_ids[0][rows])


@given(
    boundaries=st.lists(
        st.floats(-1e3, 1e3, allow_subnormal=False), min_size=1, max_size=80, unique=True
    ),
    values=st.lists(
        st.one_of(st.floats(-2e3, 2e3), st.sampled_from([0.1, -0.0, 3.4e38, -3.4e38])),
        min_size=1,
        max_size=40,
    ),
    default=st.sampled_from([0.0, math.nan]),
)
def test_bucketized_equals_searchsorted_of_float32_values(
    boundaries: list[float], values: list[float], default: float
) -> None:
    bounds = sorted(boundaries)
    source = fc.numeric_column("x", default_value=default)
    column = fc.bucketized_column(source, bounds)
    as_float32 = np.asarray([*values, default], dtype=np.float32)
    expected = np.searchsorted(np.asarray(bounds), as_float32.astype(np.float64), side="right")
    out = encode([column], {"x": [*values, None]})
    assert out.sparse_ids[:, 0].tolist() == expected.tolist()
    # Big batches with few boundaries count comparisons instead: the same buckets.
    with mock.patch.object(tuning, "BUCKETIZE_BY_COMPARISON_VALUES", 0):
        out = encode([column], {"x": [*values, None]})
    assert out.sparse_ids[:, 0].tolist() == expected.tolist()


@pytest.mark.parametrize("value", [math.inf, -math.inf, 1e300, 3.5e38])
def test_values_not_finite_in_float32_are_refused_naming_feature_and_row(value: float) -> None:
    """Infinity, or a number float32 rounds to it, is an error, not a last bucket."""
    column = fc.bucketized_column(fc.numeric_column("x"), [0.0, 1.0])
    with pytest.raises(FeatureError, match=r"Instance 1: feature 'x' is .*not a finite float32"):
        encode([column], {"x": [0.5, value]})
