"""Columns to JSON and back: equal columns, the same transform, and unsafe documents refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine import feature_column as fc
from mlengine.errors import ExportFormatError
from tests.feature_column import helpers as fc_helpers


def round_trip(column: fc.FeatureColumn) -> fc.FeatureColumn:
    return fc.from_config(json.loads(json.dumps(fc.to_config(column))))


def test_config_document_shape() -> None:
    column = fc.numeric_column("age", default_value=30, normalizer_fn=fc.ZScore(38.6, 13.6))
    assert fc.to_config(column) == {
        "class_name": "NumericColumn",
        "config": {
            "key": "age",
            "shape": [1],
            "default_value": [30.0],
            "dtype": "float32",
            "normalizer": {"class_name": "ZScore", "config": {"mean": 38.6, "std": 13.6}},
        },
    }


def _every_kind(tmp_path: Path) -> list[fc.FeatureColumn]:
    vocab_file = tmp_path / "v.txt"
    vocab_file.write_text("a\nb\nc\n", encoding="utf-8")
    age = fc.numeric_column("age", shape=(2, 1), default_value=[1.0, 2.0], normalizer_fn=fc.Log1p())
    buckets = fc.bucketized_column(fc.numeric_column("hours"), [10, 20.5])
    words = fc.categorical_column_with_vocabulary_list("w", ["x", "y"], num_oov_buckets=2)
    ints = fc.categorical_column_with_vocabulary_list("k", [3, 1, 2], default_value=0)
    from_file = fc.categorical_column_with_vocabulary_file("f", str(vocab_file), num_oov_buckets=1)
    identity = fc.categorical_column_with_identity("i", 10, default_value=3)
    wrapped = fc.sparse_column_with_integerized_feature("j", 10)
    hashed = fc.categorical_column_with_hash_bucket("h", 100, dtype="int64")
    crossed = fc.crossed_column([buckets, "h", words], 1000, hash_key=7)
    return [
        age,
        fc.numeric_column("m", normalizer_fn=fc.MinMax(-1, 1)),
        buckets,
        words,
        ints,
        from_file,
        identity,
        wrapped,
        hashed,
        crossed,
        fc.indicator_column(words),
        fc.embedding_column(crossed, 8, "sqrtn", initializer=0.1, max_norm=3, trainable=False),
        *fc.shared_embeddings([words, from_file], 4),
        fc.weighted_categorical_column(identity, "weights"),
    ]


def test_every_column_kind_round_trips(tmp_path: Path) -> None:
    for column in _every_kind(tmp_path):
        rebuilt = round_trip(column)
        assert rebuilt == column, column.name
        assert type(rebuilt) is type(column)
        assert rebuilt.name == column.name
        assert hash(rebuilt) == hash(column)


def test_round_trip_keeps_vocabulary_file_name_and_types(tmp_path: Path) -> None:
    columns = {c.name: c for c in _every_kind(tmp_path)}
    from_file = round_trip(columns["f"])
    assert isinstance(from_file, fc.VocabularyColumn)
    assert from_file.vocabulary_file == str(tmp_path / "v.txt")
    assert isinstance(from_file.vocabulary, tuple)
    age = round_trip(columns["age"])
    assert isinstance(age, fc.NumericColumn)
    assert age.shape == (2, 1) and isinstance(age.shape, tuple)
    crossed = round_trip(columns["h_X_hours_bucketized_X_w"])
    assert isinstance(crossed, fc.CrossedColumn)
    assert isinstance(crossed.keys[0], fc.BucketizedColumn)
    assert crossed.keys[1] == "h"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ({"class_name": "os.system", "config": {}}, "unknown feature column class 'os.system'"),
        ({"class_name": "NumericColumn"}, "no 'config'"),
        (
            {"class_name": "NumericColumn", "config": {"key": "a", "evil": 1}},
            "unknown fields \\['evil'\\]",
        ),
        ({"class_name": "NumericColumn", "config": {}}, "invalid NumericColumn"),
        ({"class_name": "ZScore", "config": {"mean": 0, "std": 1}}, "expected a feature column"),
        ({"class_name": "ZScore", "config": {"mean": 0, "std": 0}}, "'std'"),
    ],
)
def test_unsafe_or_broken_documents_are_refused(document: dict[str, Any], message: str) -> None:
    with pytest.raises(ExportFormatError, match=message):
        fc.from_config(document)


# ---------------------------------------------------------------------------------------------
# Property: JSON round trip gives an equal column and the same transform output

STRING_KEYS = ("s1", "s2")
LETTERS = "abcdef"


@st.composite
def numeric_columns(draw: st.DrawFn) -> fc.NumericColumn:
    normalizer = draw(
        st.one_of(
            st.none(),
            st.just(fc.Log1p()),
            st.builds(fc.ZScore, st.floats(-10, 10), st.floats(0.1, 10)),
            st.builds(fc.MinMax, st.just(-5.0), st.floats(1, 50)),
        )
    )
    default = draw(st.one_of(st.none(), st.floats(-100, 100)))
    return fc.numeric_column("f1", default_value=default, normalizer_fn=normalizer)


@st.composite
def bucketized_columns(draw: st.DrawFn) -> fc.BucketizedColumn:
    bounds = draw(st.lists(st.floats(-50, 50), min_size=1, max_size=6, unique=True))
    return fc.bucketized_column(fc.numeric_column("f1", default_value=0.0), sorted(bounds))


@st.composite
def vocabulary_columns(draw: st.DrawFn) -> fc.VocabularyColumn:
    if draw(st.booleans()):
        vocab: list[Any] = draw(
            st.lists(st.text(LETTERS, min_size=1, max_size=2), min_size=1, max_size=6, unique=True)
        )
        key = draw(st.sampled_from(STRING_KEYS))
    else:
        vocab = draw(st.lists(st.integers(0, 12), min_size=1, max_size=6, unique=True))
        key = "i1"
    mode = draw(st.sampled_from(["drop", "default", "oov"]))
    return fc.categorical_column_with_vocabulary_list(
        key,
        vocab,
        default_value=draw(st.integers(0, len(vocab) - 1)) if mode == "default" else -1,
        num_oov_buckets=draw(st.integers(1, 4)) if mode == "oov" else 0,
    )


identity_columns = st.builds(
    fc.categorical_column_with_identity,
    st.just("i1"),
    st.integers(13, 30),
    st.one_of(st.none(), st.integers(0, 12)),
)
hash_columns = st.builds(
    fc.categorical_column_with_hash_bucket, st.sampled_from(STRING_KEYS), st.integers(2, 50)
)
base_categorical = st.one_of(
    bucketized_columns(), vocabulary_columns(), identity_columns, hash_columns
)


@st.composite
def crossed_columns(draw: st.DrawFn) -> fc.CrossedColumn:
    parts = draw(
        st.lists(
            st.one_of(st.sampled_from(STRING_KEYS), bucketized_columns(), vocabulary_columns()),
            min_size=2,
            max_size=3,
        )
    )
    hash_key = draw(st.one_of(st.none(), st.integers(0, 2**63)))
    return fc.crossed_column(parts, draw(st.integers(2, 1000)), hash_key=hash_key)


categorical = st.one_of(base_categorical, crossed_columns())
any_column = st.one_of(
    numeric_columns(),
    categorical,
    st.builds(fc.indicator_column, categorical),
    st.builds(
        fc.embedding_column,
        categorical,
        st.integers(1, 8),
        st.sampled_from(["sum", "mean", "sqrtn"]),
        st.one_of(st.none(), st.floats(0.01, 2)),
    ),
    st.builds(
        fc.weighted_categorical_column,
        st.one_of(vocabulary_columns(), identity_columns),
        st.just("w"),
    ),
)


@st.composite
def batches(draw: st.DrawFn) -> dict[str, list[Any]]:
    n = draw(st.integers(1, 12))
    text = st.one_of(st.none(), st.just(""), st.text(LETTERS + " ", max_size=3))
    return {
        "s1": draw(st.lists(text, min_size=n, max_size=n)),
        "s2": draw(st.lists(text, min_size=n, max_size=n)),
        "i1": draw(st.lists(st.one_of(st.none(), st.integers(-1, 12)), min_size=n, max_size=n)),
        "f1": draw(st.lists(st.one_of(st.none(), st.floats(-100, 100)), min_size=n, max_size=n)),
        "w": draw(st.lists(st.floats(0, 5), min_size=n, max_size=n)),
    }


@given(
    columns=st.lists(any_column, min_size=1, max_size=5, unique_by=lambda c: c.name),
    batch=batches(),
    combiner=st.sampled_from(["sum", "mean", "sqrtn"]),
)
def test_json_round_trip_gives_the_same_transform(
    columns: list[fc.FeatureColumn], batch: dict[str, list[Any]], combiner: str
) -> None:
    rebuilt = [round_trip(c) for c in columns]
    assert rebuilt == columns
    document = json.dumps([fc.to_config(c) for c in columns])
    assert json.dumps([fc.to_config(c) for c in rebuilt]) == document
    if any(isinstance(c, fc.NumericColumn) and c.default_value is None for c in columns):
        batch = {**batch, "f1": [0.0 if v is None else v for v in batch["f1"]]}
    before = fc.FeatureTransformer(columns, sparse_combiner=combiner).transform(batch)
    after = fc.FeatureTransformer(rebuilt, sparse_combiner=combiner).transform(batch)
    fc_helpers.assert_same_encoding(after, before)
    transformer = fc.FeatureTransformer(rebuilt, sparse_combiner=combiner)
    assert after.sparse_ids.shape == (len(batch["f1"]), len(transformer.sparse_columns))
    for j, column in enumerate(transformer.sparse_columns):
        ids = after.sparse_ids[:, j] - transformer.sparse_offsets[j]
        assert ((ids >= 0) & (ids < column.num_buckets)).all(), column.name


@pytest.mark.parametrize(
    "document",
    [
        {"class_name": "HashBucketColumn", "config": {"key": "a", "hash_bucket_size": 0}},
        {
            "class_name": "BucketizedColumn",
            "config": {
                "source_column": {"class_name": "NumericColumn", "config": {"key": "a"}},
                "boundaries": [3, 1],
            },
        },
    ],
    ids=["hash-size-0", "unsorted-boundaries"],
)
def test_documents_with_invalid_parameters_are_refused(document: dict[str, Any]) -> None:
    with pytest.raises(ExportFormatError):
        fc.from_config(document)
