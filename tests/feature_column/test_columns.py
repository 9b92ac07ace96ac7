"""Feature column constructors: TensorFlow's names, defaults and parameter rules.

Transform behaviour (ids, weights, dense values) is in test_transform.py; this file checks what a
column *is*: its name, buckets, width, stored parameters, and the errors for invalid parameters.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from mlengine import feature_column as fc
from mlengine.errors import (
    FeatureError,
    InvalidParameterError,
    MLEngineError,
    NotSupportedError,
)


def _message(excinfo: pytest.ExceptionInfo[BaseException]) -> str:
    return str(excinfo.value)


# ---------------------------------------------------------------------------------------------
# numeric_column


def test_numeric_column_defaults_follow_tensorflow() -> None:
    age = fc.numeric_column("age")
    assert age.name == "age"
    assert age.raw_keys == ("age",)
    assert age.shape == (1,)
    assert age.width == 1
    assert age.default_value is None
    assert age.dtype == "float32"
    assert age.normalizer is None


def test_numeric_column_shape_and_default_broadcast() -> None:
    column = fc.numeric_column("x", shape=(2, 3), default_value=0.5)
    assert column.shape == (2, 3)
    assert column.width == 6
    assert column.default_value == (0.5,) * 6
    assert fc.numeric_column("x", shape=3).shape == (3,)
    listed = fc.numeric_column("x", shape=2, default_value=[1, 2])
    assert listed.default_value == (1.0, 2.0)


@pytest.mark.parametrize("shape", [0, (0,), (2, 0), (), (-1,), (1.5,), (True,)])
def test_numeric_column_rejects_bad_shape(shape: object) -> None:
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.numeric_column("x", shape=shape)  # type: ignore[arg-type]
    assert "'shape'" in _message(excinfo)
    assert "positive int" in _message(excinfo)


def test_numeric_column_default_must_match_shape() -> None:
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.numeric_column("x", shape=3, default_value=[1.0, 2.0])
    assert "'default_value'" in _message(excinfo)
    assert "3 values" in _message(excinfo)
    assert "[1.0, 2.0]" in _message(excinfo)


@pytest.mark.parametrize("key", ["", None, 3])
def test_numeric_column_rejects_bad_key(key: object) -> None:
    with pytest.raises(InvalidParameterError, match="'key'"):
        fc.numeric_column(key)  # type: ignore[arg-type]


def test_numeric_column_rejects_unknown_dtype() -> None:
    with pytest.raises(InvalidParameterError, match="'dtype'.*'string'"):
        fc.numeric_column("x", dtype="string")


def test_numeric_column_takes_serialisable_normalizers() -> None:
    for normalizer in (fc.ZScore(10.0, 2.0), fc.MinMax(0.0, 4.0), fc.Log1p()):
        assert fc.numeric_column("x", normalizer_fn=normalizer).normalizer == normalizer


def test_numeric_column_records_a_callable_normalizer() -> None:
    column = fc.numeric_column("age", normalizer_fn=lambda x: x / 100)
    assert column.normalizer == fc.Expression(("x", 100.0, "divide"))
    with pytest.raises(NotSupportedError) as excinfo:
        fc.numeric_column("age", normalizer_fn=lambda x: round(x))
    assert "'age'" in _message(excinfo) and "cannot be recorded" in _message(excinfo)
    assert isinstance(excinfo.value, MLEngineError)
    assert isinstance(excinfo.value, NotImplementedError)


@pytest.mark.parametrize("std", [0.0, -1.0, math.inf, math.nan])
def test_zscore_needs_a_positive_finite_std(std: float) -> None:
    with pytest.raises(InvalidParameterError, match="'std'"):
        fc.ZScore(0.0, std)


def test_minmax_needs_max_above_min() -> None:
    with pytest.raises(InvalidParameterError, match="'max'.*greater than min=3"):
        fc.MinMax(3.0, 3.0)


def test_contrib_real_valued_column_is_numeric_column() -> None:
    column = fc.real_valued_column("x", dimension=3, default_value=1.0, normalizer=fc.Log1p())
    assert column == fc.numeric_column("x", shape=(3,), default_value=1.0, normalizer_fn=fc.Log1p())


# ---------------------------------------------------------------------------------------------
# bucketized_column


def test_bucketized_column_counts_buckets_per_element() -> None:
    age = fc.numeric_column("age")
    buckets = fc.bucketized_column(age, boundaries=[18, 25, 30])
    assert buckets.name == "age_bucketized"
    assert buckets.raw_keys == ("age",)
    assert buckets.boundaries == (18.0, 25.0, 30.0)
    assert buckets.num_buckets == 4
    assert buckets.width == 4
    pair = fc.bucketized_column(fc.numeric_column("xy", shape=2), [0, 1, 2])
    assert pair.num_buckets == 8  # (3 boundaries + 1) buckets for each of the 2 elements
    assert isinstance(pair, fc.CategoricalColumn)
    assert isinstance(pair, fc.DenseColumn)


@pytest.mark.parametrize("boundaries", [[], [1, 1], [2, 1], [0, 5, 3]])
def test_bucketized_column_needs_strictly_increasing_boundaries(boundaries: list[int]) -> None:
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.bucketized_column(fc.numeric_column("x"), boundaries)
    assert "'boundaries'" in _message(excinfo)
    assert "strictly increasing" in _message(excinfo)
    assert str(boundaries) in _message(excinfo)


def test_bucketized_column_needs_a_numeric_source() -> None:
    vocab = fc.categorical_column_with_vocabulary_list("x", ["a"])
    with pytest.raises(InvalidParameterError, match="'source_column'.*numeric_column"):
        fc.bucketized_column(vocab, [1.0])  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------------
# categorical_column_with_vocabulary_list / _file


def test_vocabulary_list_infers_dtype_and_strips_white_space() -> None:
    strings = fc.categorical_column_with_vocabulary_list("workclass", [" Private", "State-gov "])
    assert strings.vocabulary == ("Private", "State-gov")
    assert strings.dtype == "string"
    assert strings.num_buckets == 2
    assert strings.default_value == -1
    assert strings.num_oov_buckets == 0
    ints = fc.categorical_column_with_vocabulary_list("k", [10, 20, 30], num_oov_buckets=2)
    assert ints.dtype == "int64"
    assert ints.vocabulary == (10, 20, 30)
    assert ints.num_buckets == 5


def test_vocabulary_list_rejects_duplicates_naming_them() -> None:
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.categorical_column_with_vocabulary_list("education", ["HS-grad", "Masters", "HS-grad"])
    assert "duplicates" in _message(excinfo)
    assert "'education'" in _message(excinfo)
    assert "HS-grad" in _message(excinfo)


def test_vocabulary_duplicates_after_stripping_are_duplicates() -> None:
    with pytest.raises(InvalidParameterError, match="duplicates.*Private"):
        fc.categorical_column_with_vocabulary_list("w", ["Private", " Private"])


def test_vocabulary_list_rejects_empty_list() -> None:
    with pytest.raises(InvalidParameterError, match="'vocabulary'.*non-empty"):
        fc.categorical_column_with_vocabulary_list("w", [])


def test_vocabulary_list_rejects_default_value_with_oov_buckets() -> None:
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.categorical_column_with_vocabulary_list(
            "w", ["a", "b"], default_value=1, num_oov_buckets=3
        )
    assert "not both" in _message(excinfo)
    assert "default_value=1" in _message(excinfo)
    assert "num_oov_buckets=3" in _message(excinfo)


@pytest.mark.parametrize("default_value", [-2, 2, 5])
def test_vocabulary_list_default_value_must_be_an_id(default_value: int) -> None:
    with pytest.raises(InvalidParameterError, match="'default_value'.*-1 or in \\[0, 2\\)"):
        fc.categorical_column_with_vocabulary_list("w", ["a", "b"], default_value=default_value)


def test_vocabulary_list_rejects_negative_oov_buckets() -> None:
    with pytest.raises(InvalidParameterError, match="'num_oov_buckets'.*>= 0.*-1"):
        fc.categorical_column_with_vocabulary_list("w", ["a"], num_oov_buckets=-1)


def test_vocabulary_list_rejects_mixed_values() -> None:
    with pytest.raises(InvalidParameterError, match="'vocabulary_list'.*all strings"):
        fc.categorical_column_with_vocabulary_list("w", ["a", 1])  # type: ignore[list-item]
    with pytest.raises(InvalidParameterError, match="all ints"):
        fc.categorical_column_with_vocabulary_list("w", ["a"], dtype="int64")


def test_contrib_sparse_column_with_keys_is_a_vocabulary_list() -> None:
    column = fc.sparse_column_with_keys("gender", ["female", "male"])
    assert column == fc.categorical_column_with_vocabulary_list("gender", ["female", "male"])
    with pytest.raises(NotSupportedError, match="combiner='mean'"):
        fc.sparse_column_with_keys("gender", ["female", "male"], combiner="mean")


def test_vocabulary_file_reads_one_stripped_entry_per_line(tmp_path: Path) -> None:
    path = tmp_path / "workclass.txt"
    path.write_text("Private\n Self-emp-not-inc \nState-gov\n\n", encoding="utf-8")
    column = fc.categorical_column_with_vocabulary_file("workclass", str(path))
    assert column.vocabulary == ("Private", "Self-emp-not-inc", "State-gov")
    assert column.default_value == -1  # TF's None behaves as -1
    assert column.vocabulary_file == str(path)
    # The file name is not part of the column's identity: same vocabulary, same column.
    assert column == fc.categorical_column_with_vocabulary_list(
        "workclass", ["Private", "Self-emp-not-inc", "State-gov"]
    )
    first_two = fc.categorical_column_with_vocabulary_file("workclass", str(path), 2)
    assert first_two.vocabulary == ("Private", "Self-emp-not-inc")
    with_oov = fc.categorical_column_with_vocabulary_file("w", str(path), num_oov_buckets=4)
    assert with_oov.num_buckets == 7


def test_vocabulary_file_of_integers(tmp_path: Path) -> None:
    path = tmp_path / "ids.txt"
    path.write_text("7\n3\n11\n", encoding="utf-8")
    column = fc.categorical_column_with_vocabulary_file("k", str(path), dtype="int64")
    assert column.vocabulary == (7, 3, 11)
    assert column.dtype == "int64"
    path.write_text("7\nseven\n", encoding="utf-8")
    with pytest.raises(FeatureError, match="non-integers"):
        fc.categorical_column_with_vocabulary_file("k", str(path), dtype="int64")


def test_vocabulary_file_that_does_not_exist_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / "vocab.txt"
    with pytest.raises(FeatureError) as excinfo:
        fc.categorical_column_with_vocabulary_file("workclass", str(missing))
    assert str(missing) in _message(excinfo)
    assert "does not exist" in _message(excinfo)


def test_vocabulary_file_shorter_than_vocabulary_size(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("a\nb\n", encoding="utf-8")
    with pytest.raises(FeatureError, match="2 entries, fewer than vocabulary_size=3"):
        fc.categorical_column_with_vocabulary_file("k", str(path), vocabulary_size=3)


def test_vocabulary_file_with_duplicates_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.txt"
    path.write_text("a\nb\na\n", encoding="utf-8")
    with pytest.raises(InvalidParameterError, match="duplicates.*'a'"):
        fc.categorical_column_with_vocabulary_file("k", str(path))


# ---------------------------------------------------------------------------------------------
# identity and hash bucket


def test_identity_column() -> None:
    column = fc.categorical_column_with_identity("digit", num_buckets=10)
    assert column.name == "digit"
    assert column.num_buckets == 10
    assert column.default_value is None
    assert not column.wrap
    with pytest.raises(InvalidParameterError, match="'num_buckets'.*>= 1.*0"):
        fc.categorical_column_with_identity("digit", num_buckets=0)
    with pytest.raises(InvalidParameterError, match="'default_value'.*\\[0, 10\\).*10"):
        fc.categorical_column_with_identity("digit", num_buckets=10, default_value=10)


def test_contrib_integerized_feature_wraps() -> None:
    column = fc.sparse_column_with_integerized_feature("digit", bucket_size=10)
    assert isinstance(column, fc.IdentityColumn)
    assert column.wrap
    assert column.num_buckets == 10


def test_hash_bucket_column() -> None:
    column = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=1000)
    assert column.name == "occupation"
    assert column.num_buckets == 1000
    assert column.dtype == "string"
    assert fc.categorical_column_with_hash_bucket("k", 10, dtype="int32").dtype == "int64"
    assert fc.sparse_column_with_hash_bucket("occupation", 1000) == column


@pytest.mark.parametrize("size", [0, 1, -5])
def test_hash_bucket_size_must_exceed_one(size: int) -> None:
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=size)
    assert "'hash_bucket_size'" in _message(excinfo)
    assert ">= 2" in _message(excinfo)
    assert f"Got {size}" in _message(excinfo)


# ---------------------------------------------------------------------------------------------
# crossed_column


def test_crossed_column_of_keys_and_columns() -> None:
    age_buckets = fc.bucketized_column(fc.numeric_column("age"), [18, 25])
    cross = fc.crossed_column([age_buckets, "education", "occupation"], hash_bucket_size=1000)
    assert cross.name == "age_bucketized_X_education_X_occupation"
    assert cross.raw_keys == ("age", "education", "occupation")
    assert cross.num_buckets == 1000
    assert cross.hash_key is None
    # the name is sorted, as TF's, so key order does not rename the column
    assert fc.crossed_column(["b", "a"], 10).name == "a_X_b"


def test_crossed_column_refuses_a_hash_bucket_column() -> None:
    occupation = fc.categorical_column_with_hash_bucket("occupation", 1000)
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.crossed_column(["education", occupation], 1000)
    assert "'occupation'" in _message(excinfo)
    assert "hash bucket column" in _message(excinfo)


@pytest.mark.parametrize(
    "keys",
    [["education"], [], ["education", ""], ["education", 3], ["education", fc.numeric_column("a")]],
)
def test_crossed_column_rejects_bad_keys(keys: list[object]) -> None:
    with pytest.raises(InvalidParameterError, match="'key"):
        fc.crossed_column(keys, 100)  # type: ignore[arg-type]


def test_crossed_column_refuses_weighted_columns() -> None:
    weighted = fc.weighted_categorical_column(fc.categorical_column_with_identity("i", 3), "w")
    with pytest.raises(InvalidParameterError, match="'keys'"):
        fc.crossed_column(["a", weighted], 100)


@pytest.mark.parametrize("size", [0, 1])
def test_crossed_column_needs_two_buckets(size: int) -> None:
    with pytest.raises(InvalidParameterError, match="'hash_bucket_size'.*>= 2"):
        fc.crossed_column(["a", "b"], size)


# ---------------------------------------------------------------------------------------------
# embedding, shared embeddings, indicator, weighted


def test_embedding_column_defaults() -> None:
    occupation = fc.categorical_column_with_hash_bucket("occupation", 1000)
    embedded = fc.embedding_column(occupation, dimension=8)
    assert embedded.name == "occupation_embedding"
    assert embedded.table_name == "occupation_embedding"
    assert embedded.combiner == "mean"
    assert embedded.width == 8
    assert embedded.stddev == pytest.approx(1 / math.sqrt(8))
    assert embedded.max_norm is None
    assert embedded.trainable
    assert embedded.raw_keys == ("occupation",)
    custom = fc.embedding_column(
        occupation, 4, "sqrtn", initializer=0.5, max_norm=2, trainable=False
    )
    assert (custom.stddev, custom.max_norm, custom.trainable) == (0.5, 2.0, False)


@pytest.mark.parametrize("dimension", [0, -3, 2.5, True])
def test_embedding_dimension_must_be_positive(dimension: object) -> None:
    column = fc.categorical_column_with_identity("i", 3)
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.embedding_column(column, dimension)  # type: ignore[arg-type]
    assert "'dimension'" in _message(excinfo)
    assert ">= 1" in _message(excinfo)


def test_embedding_combiner_max_is_refused() -> None:
    column = fc.categorical_column_with_identity("i", 3)
    with pytest.raises(InvalidParameterError) as excinfo:
        fc.embedding_column(column, 4, combiner="max")  # type: ignore[arg-type]
    assert "'combiner'" in _message(excinfo)
    assert "'max'" in _message(excinfo)
    assert "'sqrtn'" in _message(excinfo)


def test_embedding_refuses_callable_initializer_and_checkpoints() -> None:
    column = fc.categorical_column_with_identity("i", 3)
    with pytest.raises(NotSupportedError, match="initializer"):
        fc.embedding_column(column, 4, initializer=lambda shape: shape)  # type: ignore[arg-type]
    with pytest.raises(NotSupportedError, match="initializer"):
        fc.shared_embeddings([column], 4, initializer=lambda shape: shape)  # type: ignore[arg-type]
    with pytest.raises(NotSupportedError, match="ckpt_to_load_from"):
        fc.embedding_column(column, 4, ckpt_to_load_from="model.ckpt")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="'max_norm'"):
        fc.embedding_column(column, 4, max_norm=0)


def test_embedding_needs_a_categorical_column() -> None:
    with pytest.raises(InvalidParameterError, match="'categorical_column'"):
        fc.embedding_column(fc.numeric_column("x"), 4)  # type: ignore[arg-type]


def test_shared_embeddings_share_one_table() -> None:
    a = fc.categorical_column_with_hash_bucket("query", 100)
    b = fc.categorical_column_with_hash_bucket("title", 100)
    shared = fc.shared_embeddings([a, b], dimension=6)
    assert [c.name for c in shared] == ["query_shared_embedding", "title_shared_embedding"]
    assert {c.table_name for c in shared} == {"query_title_shared_embedding"}
    assert all(c.stddev == pytest.approx(1 / math.sqrt(6)) for c in shared)
    named = fc.shared_embedding_columns([a, b], 6, shared_embedding_collection_name="words")
    assert [c.table_name for c in named] == ["words", "words"]
    transformer = fc.FeatureTransformer(shared)
    assert [s.table for s in transformer.embedding_specs] == ["query_title_shared_embedding"] * 2
    assert [s.num_buckets for s in transformer.embedding_specs] == [100, 100]


def test_shared_embeddings_need_equal_bucket_counts() -> None:
    a = fc.categorical_column_with_hash_bucket("query", 100)
    b = fc.categorical_column_with_hash_bucket("title", 50)
    with pytest.raises(InvalidParameterError, match="equal num_buckets.*\\[50, 100\\]"):
        fc.shared_embeddings([a, b], dimension=6)
    with pytest.raises(InvalidParameterError, match="'categorical_columns'"):
        fc.shared_embeddings([], dimension=6)


def test_embedding_spec_of_the_transformer() -> None:
    occupation = fc.categorical_column_with_hash_bucket("occupation", 1000)
    transformer = fc.FeatureTransformer([fc.embedding_column(occupation, 8, max_norm=1.5)])
    (spec,) = transformer.embedding_specs
    assert spec == fc.EmbeddingSpec(
        "occupation_embedding", "occupation_embedding", 1000, 8, 1 / math.sqrt(8), 1.5, True
    )


def test_indicator_column() -> None:
    vocab = fc.categorical_column_with_vocabulary_list("w", ["a", "b", "c"], num_oov_buckets=2)
    indicator = fc.indicator_column(vocab)
    assert indicator.name == "w_indicator"
    assert indicator.width == 5
    assert fc.one_hot_column(vocab) == indicator
    with pytest.raises(InvalidParameterError, match="'categorical_column'"):
        fc.indicator_column(fc.numeric_column("x"))  # type: ignore[arg-type]


def test_weighted_categorical_column() -> None:
    terms = fc.categorical_column_with_hash_bucket("terms", 100)
    weighted = fc.weighted_categorical_column(terms, "frequencies")
    assert weighted.name == "terms_weighted_by_frequencies"
    assert weighted.raw_keys == ("terms", "frequencies")
    assert weighted.num_buckets == 100
    with pytest.raises(InvalidParameterError, match="'key'"):
        fc.weighted_categorical_column(terms, "")


# ---------------------------------------------------------------------------------------------
# FeatureTransformer construction


def test_transformer_orders_columns_by_name_and_offsets_ids() -> None:
    education = fc.categorical_column_with_vocabulary_list("education", ["a", "b", "c"])
    age_buckets = fc.bucketized_column(fc.numeric_column("age"), [18, 25, 30])
    occupation = fc.categorical_column_with_hash_bucket("occupation", 10)
    transformer = fc.FeatureTransformer([occupation, education, age_buckets])
    assert [c.name for c in transformer.sparse_columns] == [
        "age_bucketized",
        "education",
        "occupation",
    ]
    assert transformer.sparse_offsets == (0, 4, 7)
    assert transformer.num_sparse_ids == 17
    assert transformer.raw_keys == ("age", "education", "occupation")


def test_transformer_dense_width() -> None:
    vocab = fc.categorical_column_with_vocabulary_list("w", ["a", "b", "c"])
    columns = [fc.numeric_column("x", shape=2), fc.numeric_column("y"), fc.indicator_column(vocab)]
    assert fc.FeatureTransformer(columns).dense_width == 6


def test_transformer_rejects_duplicate_names_and_bad_combiner() -> None:
    with pytest.raises(InvalidParameterError, match="duplicate feature column name 'age'"):
        fc.FeatureTransformer([fc.numeric_column("age"), fc.numeric_column("age", shape=2)])
    with pytest.raises(InvalidParameterError, match="'sparse_combiner'.*'max'"):
        fc.FeatureTransformer([fc.numeric_column("age")], sparse_combiner="max")
    with pytest.raises(InvalidParameterError, match="'feature_columns'"):
        fc.FeatureTransformer(["age"])  # type: ignore[list-item]


def test_columns_are_immutable_and_hashable() -> None:
    column = fc.categorical_column_with_vocabulary_list("w", ["a", "b"])
    with pytest.raises(AttributeError):
        column.key = "other"  # type: ignore[misc]
    same = fc.categorical_column_with_vocabulary_list("w", ["a", "b"])
    assert hash(column) == hash(same)
    assert len({column, same}) == 1
