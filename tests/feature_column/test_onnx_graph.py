"""Each column's ONNX expression against its vectorised encoding, value for value.

The graph built by :func:`mlengine.feature_column.onnx_graph.encode` runs in onnxruntime on raw
values (strings with spaces around them, empty and unknown values, NaN, boundaries, negative
ids); its sparse ids and weights, dense values and embedding ids must equal
``FeatureTransformer.transform``'s exactly: the expressions do the same float64 arithmetic,
so no tolerance is needed except for ``Log1p`` (ONNX has no log1p: one float32 ulp).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import onnxruntime
import pytest

from mlengine import feature_column as fc
from mlengine.errors import NotSupportedError
from mlengine.feature_column.onnx_graph import OnnxGraph, encode, onnx_inputs
from mlengine.feature_column.transform import EncodedFeatures, FeatureTransformer

WORDS = ["a", "b", "c-d", "e"]
RAW_STRINGS = [" a", "b ", "  c-d  ", "", "   ", "b c", "zz", "a", "e", " e"]


def run_graph(
    transformer: FeatureTransformer, features: dict[str, Any], raw: dict[str, Any] | None = None
) -> tuple[EncodedFeatures, dict[str, np.ndarray], OnnxGraph]:
    """The transformer's encoding of ``features``, and the graph's: fed mlengine's inputs
    (:func:`onnx_inputs`: stripped strings, id inputs), with ``raw`` values replacing some."""
    graph = OnnxGraph()
    encoded = encode(graph, transformer)
    outputs = []
    named = {
        "sparse_ids": (encoded.sparse_ids, "int64"),
        "sparse_weights": (encoded.sparse_weights, "float32"),
        "dense": (encoded.dense, "float32"),
    }
    for i, (ids, weights) in enumerate(
        zip(encoded.embedding_ids, encoded.embedding_weights, strict=True)
    ):
        named[f"embedding_ids_{i}"] = (ids, "int64")
        named[f"embedding_weights_{i}"] = (weights, "float32")
    for key, (tensor, dtype) in named.items():
        if tensor is not None:
            outputs.append((tensor, key, dtype, [-1, -1]))
    model = graph.model(outputs, "test", "")
    entry = {"inputs": [spec.entry() for spec in graph.inputs.values()]}
    feed = onnx_inputs(entry, transformer, None, features)
    feed.update(raw or {})
    session = onnxruntime.InferenceSession(model.SerializeToString())
    names = [o[1] for o in outputs]
    got = dict(zip(names, session.run(names, feed), strict=True))
    return transformer.transform(features), got, graph


def assert_equal_encoding(want: EncodedFeatures, got: dict[str, np.ndarray]) -> None:
    if want.sparse_ids.shape[1]:
        np.testing.assert_array_equal(got["sparse_ids"], want.sparse_ids)
        np.testing.assert_array_equal(got["sparse_weights"], want.sparse_weights)
    if want.dense.shape[1]:
        np.testing.assert_array_equal(got["dense"], want.dense)
    for i, (ids, weights) in enumerate(
        zip(want.embedding_ids, want.embedding_weights, strict=True)
    ):
        np.testing.assert_array_equal(got[f"embedding_ids_{i}"], ids)
        np.testing.assert_array_equal(got[f"embedding_weights_{i}"], weights)


def strings(n: int) -> list[str]:
    return [RAW_STRINGS[i % len(RAW_STRINGS)] for i in range(n)]


@pytest.mark.parametrize(
    ("default_value", "num_oov_buckets"), [(-1, 0), (2, 0), (-1, 1)], ids=["drop", "default", "oov"]
)
def test_vocabulary_list_of_raw_strings(default_value: int, num_oov_buckets: int) -> None:
    column = fc.categorical_column_with_vocabulary_list(
        "s", WORDS, default_value=default_value, num_oov_buckets=num_oov_buckets
    )
    transformer = FeatureTransformer([column, fc.indicator_column(column)])
    raw = strings(20)
    # Fed as they are: the graph strips the spaces itself.
    want, got, graph = run_graph(transformer, {"s": raw}, {"s": np.asarray(raw, dtype=object)})
    assert not graph.id_columns  # no id input: ONNX computes the ids
    assert_equal_encoding(want, got)


def test_vocabulary_of_integers_and_from_a_file(tmp_path: Any) -> None:
    path = tmp_path / "words.txt"
    path.write_text("\n".join(WORDS) + "\n")
    columns = [
        fc.categorical_column_with_vocabulary_list("i", [5, 7, -3], num_oov_buckets=1),
        fc.categorical_column_with_vocabulary_list("j", [1, 2], default_value=0),
        fc.categorical_column_with_vocabulary_file("f", str(path)),
    ]
    features = {
        "i": np.asarray([5, 7, -3, 0, -1, 9, 7], np.int64),
        "j": np.asarray([1, 2, 3, -1, 0, 2, 1], np.int64),
        "f": strings(7),
    }
    want, got, graph = run_graph(FeatureTransformer(columns), features)
    assert not graph.id_columns
    assert_equal_encoding(want, got)


def test_vocabulary_that_needs_a_hash_is_an_id_input() -> None:
    """Several OOV buckets (a hash of the value) and entries with inner spaces (the graph
    looks up the first token) are computed by mlengine and fed as ids."""
    hashed = fc.categorical_column_with_vocabulary_list("s", WORDS, num_oov_buckets=3)
    spaced = fc.categorical_column_with_vocabulary_list("t", ["New York", "Paris"])
    transformer = FeatureTransformer([hashed, spaced])
    raw = strings(20)
    features = {"s": raw, "t": ["New York", " Paris", "", "York", "New  York"] * 4}
    want, got, graph = run_graph(transformer, features)
    assert sorted(graph.id_columns) == ["ids/s", "ids/t"]
    assert_equal_encoding(want, got)


def test_numeric_columns_defaults_and_normalisers() -> None:
    columns = [
        fc.numeric_column("a"),
        fc.numeric_column("b", default_value=3.5, normalizer_fn=fc.ZScore(1.25, 0.3)),
        fc.numeric_column("c", normalizer_fn=fc.MinMax(-2.0, 7.0)),
        fc.numeric_column("v", shape=(2,), default_value=(1.0, -1.0)),
    ]
    rng = np.random.default_rng(1)
    n = 50
    b = rng.normal(0, 3, n)
    b[::7] = np.nan  # missing: the default
    v = rng.normal(0, 10, (n, 2)).astype(np.float32)
    v[3, 1] = np.nan
    features = {
        "a": rng.normal(0, 100, n).astype(np.float32),
        "b": b.astype(np.float32),
        "c": rng.uniform(-5, 10, n).astype(np.float32),
        "v": list(v),
    }
    want, got, _ = run_graph(FeatureTransformer(columns), features)
    assert_equal_encoding(want, got)


def test_log1p_within_one_float32_ulp() -> None:
    """ONNX has no log1p: log(1 + |x|) in float64 differs in the last float64 bits, which
    can move the float32 result by one ulp at most (u = 2^-24 relative)."""
    column = fc.numeric_column("x", normalizer_fn=fc.Log1p())
    x = np.concatenate([[0.0, 1e-3, -2.5, 5178.0, 99999.0], np.geomspace(1e-6, 1e6, 200)])
    want, got, _ = run_graph(FeatureTransformer([column]), {"x": x.astype(np.float32)})
    ulp = np.spacing(np.abs(want.dense).astype(np.float32))
    assert (np.abs(got["dense"] - want.dense) <= ulp).all()


def test_bucketized_at_and_around_boundaries() -> None:
    age = fc.numeric_column("age", default_value=33.0)
    pair = fc.numeric_column("pair", shape=(2,))
    buckets = [
        fc.bucketized_column(age, [18, 25, 30.5, 65]),
        fc.bucketized_column(pair, [0.0, 1.0]),
    ]
    ages = np.asarray([17.9, 18, 18.1, 25, 30.5, 30.499999, 65, 100, -1, np.nan], np.float32)
    pairs = [np.asarray([i / 3 - 1, 1 - i / 4], np.float32) for i in range(len(ages))]
    transformer = FeatureTransformer([*buckets, *(fc.indicator_column(b) for b in buckets)])
    want, got, graph = run_graph(transformer, {"age": ages, "pair": pairs})
    assert not graph.id_columns
    assert_equal_encoding(want, got)


def test_identity_with_default_wrap_and_dropped_values() -> None:
    columns = [
        fc.categorical_column_with_identity("d", 5, default_value=4),
        fc.categorical_column_with_identity("n", 5),  # negatives dropped
        fc.sparse_column_with_integerized_feature("w", 4),  # contrib: value % 4
    ]
    features = {
        "d": np.asarray([0, 4, 5, -1, -7, 3], np.int64),
        "n": np.asarray([0, 4, 1, -1, -7, 3], np.int64),
        "w": np.asarray([0, 4, 5, -1, -7, 3], np.int64),
    }
    want, got, _ = run_graph(FeatureTransformer(columns), features)
    assert_equal_encoding(want, got)


def test_identity_out_of_range_without_default_is_dropped_by_the_graph() -> None:
    """mlengine raises an error naming the value; a graph cannot, so it drops it (weight 0),
    as the README says."""
    column = fc.categorical_column_with_identity("n", 5)
    graph = OnnxGraph()
    encoded = encode(graph, FeatureTransformer([column]))
    assert encoded.sparse_ids is not None and encoded.sparse_weights is not None
    model = graph.model(
        [
            (encoded.sparse_ids, "ids", "int64", [-1, 1]),
            (encoded.sparse_weights, "w", "float32", [-1, 1]),
        ],
        "t",
        "",
    )
    session = onnxruntime.InferenceSession(model.SerializeToString())
    ids, weights = session.run(None, {"n": np.asarray([2, 9], np.int64)})
    assert ids.tolist() == [[2], [0]] and weights.tolist() == [[1.0], [0.0]]  # as layout()


@pytest.mark.parametrize("combiner", ["sum", "mean", "sqrtn"])
def test_embeddings_weighted_columns_and_sparse_combiners(combiner: str) -> None:
    words = fc.categorical_column_with_vocabulary_list("s", WORDS, num_oov_buckets=1)
    weighted = fc.weighted_categorical_column(words, "sw")
    hashed = fc.categorical_column_with_hash_bucket("h", 7)
    columns = [
        weighted,
        fc.embedding_column(words, 3, combiner=combiner),  # type: ignore[arg-type]
        fc.embedding_column(weighted, 2, combiner=combiner),  # type: ignore[arg-type]
        fc.embedding_column(hashed, 2, combiner=combiner),  # type: ignore[arg-type]
        fc.indicator_column(hashed),
    ]
    n = 20
    sw = np.linspace(-2, 3, n).astype(np.float32)
    sw[4] = np.nan  # a missing weight: 0
    features = {"s": strings(n), "sw": sw, "h": strings(n)}
    want, got, graph = run_graph(FeatureTransformer(columns, sparse_combiner=combiner), features)
    assert list(graph.id_columns) == ["ids/h"]  # a hash: computed by mlengine
    assert_equal_encoding(want, got)


def test_piecewise_linear() -> None:
    column = fc.piecewise_linear_column(fc.numeric_column("x"), [0.0, 1.5, 4.0, 10.0])
    x = np.asarray([-1, 0, 0.7, 1.5, 2, 4, 9.99, 10, 50], np.float32)
    want, got, _ = run_graph(FeatureTransformer([column]), {"x": x})
    assert_equal_encoding(want, got)


def test_crosses_are_id_inputs_sharing_their_parts() -> None:
    age = fc.bucketized_column(fc.numeric_column("age"), [30, 50])
    cross = fc.crossed_column([age, "s", "h"], hash_bucket_size=50)
    hashed = fc.categorical_column_with_hash_bucket("h", 11)
    transformer = FeatureTransformer([cross, hashed, age])
    n = 12
    features = {"age": np.linspace(20, 60, n), "s": strings(n), "h": strings(n)[::-1]}
    want, got, graph = run_graph(transformer, features)
    assert sorted(graph.id_columns) == ["ids/age_bucketized_X_h_X_s", "ids/h"]
    # The bucketized column itself is computed in the graph, from the raw age.
    assert {s.name for s in graph.inputs.values() if s.role == "feature"} == {"age"}
    assert_equal_encoding(want, got)


def test_white_space_other_than_spaces_is_kept_by_the_graph() -> None:
    """The documented difference: the graph strips spaces only (StringSplit), mlengine all
    white space: a tab-wrapped value is in the vocabulary for mlengine, out of it here."""
    column = fc.categorical_column_with_vocabulary_list("s", WORDS)
    raw = ["\ta", " a\n", " a "]
    want, got, _ = run_graph(
        FeatureTransformer([column]), {"s": raw}, {"s": np.asarray(raw, dtype=object)}
    )
    assert want.sparse_weights[:, 0].tolist() == [1.0, 1.0, 1.0]
    assert got["sparse_weights"][:, 0].tolist() == [0.0, 0.0, 1.0]


def test_one_input_read_with_two_types_is_refused() -> None:
    columns = [
        fc.numeric_column("x"),
        fc.indicator_column(fc.categorical_column_with_identity("x", 3)),
    ]
    with pytest.raises(NotSupportedError, match="'x' is read as float32"):
        encode(OnnxGraph(), FeatureTransformer(columns))


def test_list_valued_features_are_refused_when_feeding_the_graph() -> None:
    column = fc.categorical_column_with_vocabulary_list("s", WORDS)
    graph = OnnxGraph()
    transformer = FeatureTransformer([column])
    encode(graph, transformer)
    entry = {"inputs": [spec.entry() for spec in graph.inputs.values()]}
    with pytest.raises(NotSupportedError, match="'s' has several values per row"):
        onnx_inputs(entry, transformer, None, {"s": [["a", "b"], ["c-d"]]})
