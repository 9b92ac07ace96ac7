"""Small batches (serving requests) take a Python-dict path for strings and numbers; it must
give exactly what the vectorised pyarrow path gives for the same rows, and so must a memory of
string codes kept from batch to batch (the Predictor's), full or not, on one thread or several."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from unittest import mock

import numpy as np
import pyarrow as pa
from hypothesis import given
from hypothesis import strategies as st

from mlengine import feature_column as fc
from mlengine import tuning
from mlengine.feature_column.memory import ENTRY_BYTES, ValueMemory, entry_bytes
from mlengine.feature_column.transform import transform_all
from tests.feature_column import helpers as fc_helpers

WORKCLASS = ["Private", "Self-emp-inc", "State-gov"]
COLUMNS = [
    fc.numeric_column("age", default_value=30),
    fc.bucketized_column(fc.numeric_column("hours", default_value=40), [20, 40, 60]),
    fc.categorical_column_with_vocabulary_list("workclass", WORKCLASS, num_oov_buckets=2),
    fc.categorical_column_with_vocabulary_list("sex", ["F", "M"], default_value=0),
    fc.categorical_column_with_hash_bucket("occupation", 50),
    fc.crossed_column(["workclass", "occupation"], 97),
    fc.crossed_column(
        [fc.bucketized_column(fc.numeric_column("age", default_value=30), [18, 65]), "sex"], 31
    ),
    fc.indicator_column(fc.categorical_column_with_vocabulary_list("race", ["A", "B"])),
    fc.embedding_column(fc.categorical_column_with_hash_bucket("country", 20), 3),
]

strings = st.one_of(
    st.none(),
    st.sampled_from([*WORKCLASS, " Private", "Private ", "", "  ", "F", " M", "x", "北京"]),
)
numbers = st.one_of(st.none(), st.integers(-5, 100), st.floats(-5, 100, allow_nan=False))
rows = st.fixed_dictionaries(
    {
        "age": numbers,
        "hours": numbers,
        "workclass": strings,
        "sex": strings,
        "occupation": strings,
        "race": strings,
        "country": strings,
    }
)


def _lists(instances: list[dict[str, object]]) -> dict[str, list[object]]:
    return {key: [row[key] for row in instances] for key in instances[0]}


def _columns(instances: list[dict[str, object]]) -> dict[str, pa.Array]:
    return {key: pa.array([row[key] for row in instances]) for key in instances[0]}


@given(st.lists(rows, min_size=5, max_size=30))
def test_row_by_row_equals_the_whole_batch(instances: list[dict[str, object]]) -> None:
    transformer = fc.FeatureTransformer(COLUMNS)
    with mock.patch.object(tuning, "SMALL_BATCH_ROWS", 4):  # the vectorised path
        (whole,) = transform_all([transformer], _columns(instances))
    assert whole is not None
    as_lists = {key: [row[key] for row in instances] for key in instances[0]}
    (lists,) = transform_all([transformer], as_lists)
    assert lists is not None  # the whole batch as Python lists: the dict path
    np.testing.assert_array_equal(lists.sparse_ids, whole.sparse_ids)
    np.testing.assert_array_equal(lists.sparse_weights, whole.sparse_weights)
    np.testing.assert_array_equal(lists.dense, whole.dense)
    for i, instance in enumerate(instances):
        for form in (_columns([instance]), {k: [v] for k, v in instance.items()}):
            one = transformer.transform(form)
            np.testing.assert_array_equal(one.sparse_ids[0], whole.sparse_ids[i])
            np.testing.assert_array_equal(one.sparse_weights[0], whole.sparse_weights[i])
            np.testing.assert_array_equal(one.dense[0], whole.dense[i])
            for a, b in zip(one.embedding_ids, whole.embedding_ids, strict=True):
                np.testing.assert_array_equal(a[0], b[i])
            for a, b in zip(one.embedding_weights, whole.embedding_weights, strict=True):
                np.testing.assert_array_equal(a[0], b[i])


@given(
    st.lists(st.lists(rows, min_size=1, max_size=20), min_size=1, max_size=6),
    st.sampled_from([3, 4096]),
)
def test_a_memory_kept_over_batches_gives_what_each_batch_gives_alone(
    batches: list[list[dict[str, object]]], values: int
) -> None:
    """New values join the tables batch after batch (a memory with room for 3 values fills up,
    and batches go back to per-batch codes); every batch still encodes as it does without a
    memory."""
    transformer = fc.FeatureTransformer(COLUMNS)
    memory = ValueMemory(values * (ENTRY_BYTES + 16))
    for instances in batches:
        (alone,) = transform_all([transformer], _lists(instances))
        (remembered,) = transform_all([transformer], _lists(instances), memory)
        fc_helpers.assert_same_encoding(remembered, alone)


def test_a_memory_shared_by_threads_gives_what_each_batch_gives_alone() -> None:
    transformer = fc.FeatureTransformer(COLUMNS)
    memory = ValueMemory()
    values = [*WORKCLASS, " Private", "", None, "F", " M", "x", "北京", *map(str, range(40))]
    rng = np.random.default_rng(7)

    def batch(seed: int) -> dict[str, list[object]]:
        rng = np.random.default_rng(seed)
        pick = lambda: [values[i] for i in rng.integers(0, len(values), 16)]  # noqa: E731
        ages = rng.integers(0, 90, 16).tolist()
        return {
            "age": ages, "hours": ages, "workclass": pick(), "sex": pick(),
            "occupation": pick(), "race": pick(), "country": pick(),
        }  # fmt: skip

    seeds = rng.integers(0, 2**31, 200).tolist()
    with ThreadPoolExecutor(4) as pool:
        remembered = list(pool.map(lambda s: transform_all([transformer], batch(s), memory), seeds))
    for seed, (got,) in zip(seeds, remembered, strict=True):
        (alone,) = transform_all([transformer], batch(seed))
        fc_helpers.assert_same_encoding(got, alone)


@given(
    st.lists(st.integers(0, 2**64 - 1), min_size=9, max_size=30),
    st.lists(st.integers(0, 2**63 - 1), min_size=9, max_size=30),
    st.one_of(st.none(), st.integers(0, 2**40)),
)
def test_cross_hash_of_few_rows_equals_the_vectorised_one(
    first: list[int], second: list[int], hash_key: int | None
) -> None:
    from mlengine.feature_column.hashing import cross_hash

    n = min(len(first), len(second))
    keys = [np.array(first[:n], dtype=np.uint64), np.array(second[:n], dtype=np.int64)]
    whole = cross_hash(keys, hash_key)  # more rows than SMALL_CROSS_ROWS: numpy
    assert n > tuning.SMALL_CROSS_ROWS
    for row in range(n):
        one = cross_hash([k[row : row + 1] for k in keys], hash_key)  # Python ints
        assert one[0] == whole[row]


def test_the_memory_stays_within_its_byte_budget_and_stops_learning_when_full() -> None:
    memory = ValueMemory(max_bytes=10 * (ENTRY_BYTES + 8))
    table = memory.table("city")
    values = [f"city-{i}" for i in range(100)]  # 6-7 characters each
    assert not table.learn(values)  # the budget ends before the last
    learned = len(table.raw_values)
    assert 0 < learned < 100 and memory.full
    assert memory.used_bytes <= memory.max_bytes
    assert not table.learn(["one more"]) and len(table.raw_values) == learned
    assert table.learn(values[:learned])  # those it has keep their codes
    codes, _ = table.encode(values[:learned]) or (None, None)
    assert codes is not None and codes.tolist() == list(range(learned))
    assert not memory.charge(entry_bytes("x"))  # the row path's memos share the spent budget
    assert (
        memory.hash_string("x") == memory.hash_string("x") and memory.used_bytes <= memory.max_bytes
    )
