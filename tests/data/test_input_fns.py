"""Tests of the input functions: batching, epochs, seeded shuffles, files, and bad input."""

from __future__ import annotations

import gzip
import itertools
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine.data import (
    InputFn,
    census,
    csv_input_fn,
    numpy_input_fn,
    pandas_input_fn,
    parquet_input_fn,
)
from mlengine.data.batches import InputBatch, num_rows, shuffle_buffer
from mlengine.errors import DataError, InvalidParameterError, NotSupportedError

# ---- helpers --------------------------------------------------------------------------------


def as_list(column: Any) -> list[Any]:
    return column.tolist() if isinstance(column, np.ndarray) else column.to_pylist()


def collect(batches: Iterable[InputBatch]) -> tuple[dict[str, list[Any]], list[Any] | None]:
    """All rows of a stream of batches, as Python lists per column."""
    features: dict[str, list[Any]] = {}
    labels: list[Any] | None = None
    for batch_features, batch_labels in batches:
        for key, column in batch_features.items():
            features.setdefault(key, []).extend(as_list(column))
        if batch_labels is not None:
            labels = (labels or []) + as_list(batch_labels)
    return features, labels


def sizes(input_fn: InputFn) -> list[int]:
    return [num_rows(batch) for batch in input_fn()]


def write_csv(path: Path, rows: list[str], header: str = "a,b,label") -> None:
    path.write_text("\n".join([header, *rows]) + "\n")


# ---- numpy_input_fn -------------------------------------------------------------------------


def test_numpy_batches_in_order_with_a_short_last_batch() -> None:
    x = {"a": np.arange(300), "b": np.arange(300) * 0.5}
    input_fn = numpy_input_fn(x, np.arange(300) % 2, batch_size=128, shuffle=False)
    assert isinstance(input_fn, InputFn)
    assert input_fn.batch_size == 128
    assert sizes(input_fn) == [128, 128, 44]
    features, labels = collect(input_fn())
    assert features["a"] == list(range(300))
    assert features["b"] == [i * 0.5 for i in range(300)]
    assert labels == [i % 2 for i in range(300)]
    first_features, first_labels = next(input_fn())
    assert isinstance(first_features["a"], np.ndarray)
    assert isinstance(first_labels, np.ndarray)


def test_batches_straddle_epochs() -> None:
    input_fn = numpy_input_fn({"a": np.arange(10)}, batch_size=4, num_epochs=3, shuffle=False)
    assert sizes(input_fn) == [4] * 7 + [2]
    assert collect(input_fn())[0]["a"] == list(range(10)) * 3
    assert collect(input_fn())[1] is None  # no y: labels are None


def test_num_epochs_none_repeats_forever() -> None:
    input_fn = numpy_input_fn({"a": np.arange(5)}, batch_size=3, num_epochs=None, shuffle=False)
    batches = list(itertools.islice(input_fn(), 1000))
    assert len(batches) == 1000
    assert all(num_rows(b) == 3 for b in batches)
    assert collect(batches)[0]["a"] == list(range(5)) * 600


def test_num_epochs_none_over_no_rows_ends() -> None:
    input_fn = numpy_input_fn({"a": np.arange(0)}, num_epochs=None, shuffle=True, seed=0)
    assert list(input_fn()) == []


def test_seeded_shuffle_is_repeatable_and_reshuffles_each_epoch() -> None:
    x = {"a": np.arange(1000)}
    input_fn = numpy_input_fn(x, batch_size=100, num_epochs=3, shuffle=True, seed=7)
    first = collect(input_fn())[0]["a"]
    assert first == collect(input_fn())[0]["a"]  # a new call replays the same order
    epochs = [first[i * 1000 : (i + 1) * 1000] for i in range(3)]
    for epoch in epochs:
        assert sorted(epoch) == list(range(1000))
        assert epoch != list(range(1000))
    assert epochs[0] != epochs[1] != epochs[2]
    other = numpy_input_fn(x, batch_size=100, num_epochs=3, shuffle=True, seed=8)
    assert collect(other())[0]["a"] != first


def test_shuffle_keeps_features_and_labels_aligned() -> None:
    x = {"a": np.arange(500), "s": np.array([f"v{i}" for i in range(500)])}
    input_fn = numpy_input_fn(x, np.arange(500) * 10, batch_size=64, shuffle=True, seed=1)
    features, labels = collect(input_fn())
    assert labels == [a * 10 for a in features["a"]]
    assert features["s"] == [f"v{a}" for a in features["a"]]


def test_numpy_strings_and_matrices() -> None:
    x = {
        "s": np.array(["x", None, "z"], dtype=object),
        "m": np.arange(6.0).reshape(3, 2),
    }
    features, _ = next(numpy_input_fn(x, batch_size=2, shuffle=False)())
    assert isinstance(features["s"], pa.Array)
    assert features["s"].to_pylist() == ["x", None]
    assert isinstance(features["m"], np.ndarray)
    assert features["m"].tolist() == [[0.0, 1.0], [2.0, 3.0]]


@given(
    n=st.integers(0, 60),
    batch_size=st.integers(1, 25),
    num_epochs=st.integers(1, 3),
    chunk_rows=st.integers(1, 40),
    shuffle=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_chunks_and_batches_hold_the_same_rows(
    n: int, batch_size: int, num_epochs: int, chunk_rows: int, shuffle: bool, seed: int
) -> None:
    x = {"a": np.arange(n), "s": pa.array([str(i) for i in range(n)])}
    input_fn = numpy_input_fn(
        x, np.arange(n), batch_size=batch_size, num_epochs=num_epochs, shuffle=shuffle, seed=seed
    )
    input_fn.chunk_rows = chunk_rows
    chunks = list(input_fn.chunks())
    batches = list(input_fn())
    assert collect(chunks) == collect(batches)
    assert all(num_rows(c) >= chunk_rows for c in chunks[:-1])
    batch_sizes = [num_rows(b) for b in batches]
    assert sum(batch_sizes) == n * num_epochs
    assert all(size == batch_size for size in batch_sizes[:-1])
    assert 0 < batch_sizes[-1] <= batch_size if batches else n == 0
    rows = collect(batches)[0].get("a", [])
    for epoch in range(num_epochs):
        assert sorted(rows[epoch * n : (epoch + 1) * n]) == list(range(n))


def test_shuffle_none_is_refused_as_in_tensorflow() -> None:
    with pytest.raises(InvalidParameterError, match="shuffle.*explicitly set as boolean"):
        numpy_input_fn({"a": np.arange(3)})
    with pytest.raises(InvalidParameterError, match="shuffle.*explicitly set as boolean"):
        pandas_input_fn(pd.DataFrame({"a": [1, 2]}))


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"batch_size": 0}, "'batch_size'.*>= 1.*Got 0"),
        ({"batch_size": 2.5}, "'batch_size'"),
        ({"num_epochs": 0}, "'num_epochs'.*or None.*Got 0"),
        ({"seed": "abc"}, "'seed'"),
    ],
)
def test_bad_parameters(kwargs: dict[str, Any], match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        numpy_input_fn({"a": np.arange(3)}, **{"shuffle": False, **kwargs})


def test_numpy_bad_inputs() -> None:
    with pytest.raises(DataError, match="mismatched.*'a': 3.*'<y>': 2"):
        numpy_input_fn({"a": np.arange(3)}, np.arange(2), shuffle=False)
    with pytest.raises(DataError, match="mismatched"):
        numpy_input_fn({"a": np.arange(3), "b": np.arange(4)}, shuffle=False)
    with pytest.raises(InvalidParameterError, match="'x'.*dict"):
        numpy_input_fn(np.arange(3), shuffle=False)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="'x'.*non-empty"):
        numpy_input_fn({}, shuffle=False)
    with pytest.raises(NotSupportedError, match="dict of labels"):
        numpy_input_fn({"a": np.arange(3)}, {"y": np.arange(3)}, shuffle=False)


# ---- pandas_input_fn ------------------------------------------------------------------------


def test_pandas_columns_become_numpy_or_arrow() -> None:
    x = pd.DataFrame(
        {
            "n": [1, 2, 3],
            "f": [0.5, np.nan, 1.5],
            "s": pd.Series(["a", None, "c"], dtype="str"),
            "c": pd.Categorical(["u", "v", "u"]),
            "i": pd.array([1, None, 3], dtype="Int64"),
        }
    )
    y = pd.Series([0, 1, 0])
    features, labels = next(pandas_input_fn(x, y, batch_size=3, shuffle=False)())
    assert isinstance(features["n"], np.ndarray) and features["n"].tolist() == [1, 2, 3]
    assert isinstance(features["f"], np.ndarray) and np.isnan(features["f"][1])
    assert isinstance(features["s"], pa.Array) and features["s"].to_pylist() == ["a", None, "c"]
    assert isinstance(features["c"], pa.Array) and features["c"].to_pylist() == ["u", "v", "u"]
    assert isinstance(features["i"], pa.Array) and features["i"].to_pylist() == [1, None, 3]
    assert isinstance(labels, np.ndarray) and labels.tolist() == [0, 1, 0]


def test_pandas_census_epoch_is_the_whole_split() -> None:
    x, y = census.load("train")
    input_fn = pandas_input_fn(x, y, batch_size=1024, shuffle=True, seed=0)
    chunks = list(input_fn.chunks())
    assert len(chunks) == 1  # one in-memory epoch: a single chunk
    features, labels = chunks[0]
    assert num_rows(chunks[0]) == 32_561
    assert int(np.asarray(labels).sum()) == 7_841
    assert isinstance(features["workclass"], pa.Array)
    assert features["workclass"].null_count == 1_836
    assert sorted(features["fnlwgt"].tolist()) == sorted(x["fnlwgt"].tolist())
    assert sizes(input_fn) == [1024] * 31 + [32_561 - 31 * 1024]


def test_pandas_label_series_dataframe_or_array() -> None:
    x = pd.DataFrame({"a": [1, 2, 3]})
    for y in (pd.Series([1, 0, 1]), pd.DataFrame({"t": [1, 0, 1]}), np.array([1, 0, 1])):
        _, labels = collect(pandas_input_fn(x, y, shuffle=False)())
        assert labels == [1, 0, 1]


def test_pandas_bad_inputs() -> None:
    x = pd.DataFrame({"a": [1, 2, 3], "target": [0, 0, 0]})
    with pytest.raises(InvalidParameterError, match="Cannot use name 'target'"):
        pandas_input_fn(x, pd.Series([1, 0, 1]), shuffle=False)
    x = pd.DataFrame({"a": [1, 2, 3]})
    with pytest.raises(DataError, match="same length.*3 and 2"):
        pandas_input_fn(x, pd.Series([1, 0]), shuffle=False)
    with pytest.raises(DataError, match="same length"):
        pandas_input_fn(x, np.array([1, 0]), shuffle=False)
    with pytest.raises(DataError, match="Index for x and y are mismatched"):
        pandas_input_fn(x, pd.Series([1, 0, 1], index=[5, 6, 7]), shuffle=False)
    with pytest.raises(NotSupportedError, match="one label column"):
        pandas_input_fn(x, pd.DataFrame({"p": [1, 0, 1], "q": [0, 1, 0]}), shuffle=False)
    with pytest.raises(InvalidParameterError, match="'x'.*DataFrame"):
        pandas_input_fn({"a": [1]}, shuffle=False)
    with pytest.raises(InvalidParameterError, match="'batch_size'"):
        pandas_input_fn(x, batch_size=-1, shuffle=False)


# ---- csv_input_fn ---------------------------------------------------------------------------


def test_csv_over_a_glob_of_files(tmp_path: Path) -> None:
    write_csv(tmp_path / "part-0.csv", ["1,x,0", "2,y,1"])
    write_csv(tmp_path / "part-1.csv", ["3,z,1"])
    (tmp_path / "part-2.csv.gz").write_bytes(gzip.compress(b"a,b,label\n4,w,0\n"))
    (tmp_path / "notes.txt").write_text("not data")
    input_fn = csv_input_fn(str(tmp_path / "part-*"), batch_size=3, label_key="label")
    assert sizes(input_fn) == [3, 1]
    features, labels = collect(input_fn())
    assert features == {"a": [1, 2, 3, 4], "b": ["x", "y", "z", "w"]}
    assert labels == [0, 1, 1, 0]
    batch_features, batch_labels = next(input_fn())
    assert isinstance(batch_features["a"], np.ndarray)
    assert isinstance(batch_features["b"], pa.Array)
    assert isinstance(batch_labels, np.ndarray)


def test_csv_over_a_list_of_paths(tmp_path: Path) -> None:
    write_csv(tmp_path / "one.csv", ["1,x,0"])
    write_csv(tmp_path / "two.csv", ["2,y,1"])
    input_fn = csv_input_fn([tmp_path / "two.csv", str(tmp_path / "one.csv")], label_key="label")
    assert collect(input_fn())[1] == [1, 0]  # the order given, not sorted


def test_csv_over_a_memory_url() -> None:
    with fsspec.open("memory://inputs-test/data.csv", "wb") as f:
        f.write(b"a,b,label\n1,x,yes\n2,,no\n")
    input_fn = csv_input_fn("memory://inputs-test/*.csv", label_key="label", num_epochs=2)
    features, labels = collect(input_fn())
    assert features == {"a": [1, 2, 1, 2], "b": ["x", None, "x", None]}
    assert labels == ["yes", "no", "yes", "no"]  # string labels come as pyarrow arrays


def test_csv_column_names_and_defaults(tmp_path: Path) -> None:
    path = tmp_path / "raw.csv"
    path.write_text("1,,0.5\n,b,\n")
    input_fn = csv_input_fn(
        str(path),
        header=False,
        column_names=["n", "s", "f"],
        column_defaults=[[0], "?", 2.0],
        num_epochs=1,
    )
    features, labels = collect(input_fn())
    assert features == {"n": [1, 0], "s": ["?", "b"], "f": [0.5, 2.0]}
    assert labels is None
    batch_features, _ = next(input_fn())
    assert isinstance(batch_features["s"], pa.Array)
    assert batch_features["n"].dtype == np.int64


def test_csv_header_replaced_by_column_names(tmp_path: Path) -> None:
    write_csv(tmp_path / "h.csv", ["1,x,0"])
    input_fn = csv_input_fn(str(tmp_path / "h.csv"), column_names=["p", "q", "r"], label_key="r")
    assert collect(input_fn()) == ({"p": [1], "q": ["x"]}, [0])


def test_csv_defaults_aligned_with_the_header(tmp_path: Path) -> None:
    write_csv(tmp_path / "d.csv", ["1,,0", ",y,1"])
    input_fn = csv_input_fn(str(tmp_path / "d.csv"), column_defaults=[-1, "", int])
    assert collect(input_fn())[0] == {"a": [1, -1], "b": ["", "y"], "label": [0, 1]}


def test_csv_numeric_column_with_nulls_is_arrow(tmp_path: Path) -> None:
    write_csv(tmp_path / "n.csv", ["1,x,0", ",y,1"])
    features, _ = next(csv_input_fn(str(tmp_path / "n.csv"), label_key="label")())
    assert isinstance(features["a"], pa.Array)
    assert features["a"].to_pylist() == [1, None]


def test_csv_shuffle_is_seeded_and_complete(tmp_path: Path) -> None:
    for part in range(3):
        rows = [f"{i},s{i},{i % 2}" for i in range(part * 1000, (part + 1) * 1000)]
        write_csv(tmp_path / f"part-{part}.csv", rows)
    pattern = str(tmp_path / "*.csv")

    def read(seed: int, buffer: int) -> list[int]:
        input_fn = csv_input_fn(
            pattern, batch_size=100, shuffle=True, seed=seed, shuffle_buffer_size=buffer
        )
        input_fn.chunk_rows = 500
        return collect(input_fn())[0]["a"]

    full = read(seed=3, buffer=100_000)
    assert sorted(full) == list(range(3000)) and full != list(range(3000))
    assert full == read(seed=3, buffer=100_000)
    assert full != read(seed=4, buffer=100_000)
    small = read(seed=3, buffer=200)
    assert sorted(small) == list(range(3000)) and small != list(range(3000))


def test_shuffle_buffer_memory_is_bounded() -> None:
    consumed = 0

    def source() -> Iterable[InputBatch]:
        nonlocal consumed
        for start in range(0, 10_000, 100):
            consumed += 100
            yield {"a": np.arange(start, start + 100)}, None

    rng = np.random.default_rng(0)
    out: list[np.ndarray] = []
    for chunk in shuffle_buffer(source(), buffer_rows=1000, out_rows=500, rng=rng):
        # a chunk leaves once buffer + out rows are in: never more than one input chunk beyond
        assert consumed <= 10_000 and (consumed - sum(len(o) for o in out) <= 1000 + 500 + 100)
        out.append(chunk[0]["a"])
    assert sorted(np.concatenate(out).tolist()) == list(range(10_000))
    assert np.concatenate(out).tolist() != list(range(10_000))


def test_csv_chunks_and_batches_hold_the_same_rows(tmp_path: Path) -> None:
    for part in range(2):
        rows = [
            f"{i},{'' if i % 7 == 0 else i / 2},{i % 3}" for i in range(part * 50, part * 50 + 50)
        ]
        write_csv(tmp_path / f"p{part}.csv", rows)
    input_fn = csv_input_fn(
        str(tmp_path / "p*.csv"),
        batch_size=16,
        num_epochs=3,
        shuffle=True,
        seed=5,
        label_key="label",
        shuffle_buffer_size=30,
        block_size=64,  # many small blocks: exercise carry-over between chunks
    )
    input_fn.chunk_rows = 20
    assert collect(input_fn.chunks()) == collect(input_fn())
    assert sizes(input_fn) == [16] * 18 + [12]


def test_csv_pattern_matching_nothing(tmp_path: Path) -> None:
    pattern = str(tmp_path / "missing-*.csv")
    with pytest.raises(DataError, match=f"No file matches the pattern '{re.escape(pattern)}'"):
        csv_input_fn(pattern)
    with pytest.raises(DataError, match="No file matches"):
        csv_input_fn(str(tmp_path / "absent.csv"))
    with pytest.raises(InvalidParameterError, match="file_pattern"):
        csv_input_fn([])


def test_csv_label_key_not_in_file(tmp_path: Path) -> None:
    write_csv(tmp_path / "l.csv", ["1,x,0"])
    input_fn = csv_input_fn(str(tmp_path / "l.csv"), label_key="income")
    with pytest.raises(DataError, match=r"'income' is not a column of .*l\.csv.*'a', 'b', 'label'"):
        list(input_fn())
    with pytest.raises(InvalidParameterError, match="'income'.*column_names"):
        csv_input_fn(str(tmp_path / "l.csv"), column_names=["a", "b", "c"], label_key="income")


def test_csv_line_that_does_not_parse(tmp_path: Path) -> None:
    write_csv(tmp_path / "bad.csv", ["1,x,0", "2,y,1", "3,z"])
    with pytest.raises(DataError, match=r"bad\.csv.*Row #4.*Expected 3 columns, got 2"):
        list(csv_input_fn(str(tmp_path / "bad.csv"))())


def test_csv_value_of_the_wrong_type(tmp_path: Path) -> None:
    write_csv(tmp_path / "t.csv", ["1,x,0", "two,y,1"])
    input_fn = csv_input_fn(str(tmp_path / "t.csv"), column_defaults=[0, "", 0])
    with pytest.raises(DataError, match=r"t\.csv.*Row #3.*'two'"):
        list(input_fn())


def test_csv_required_column_left_empty(tmp_path: Path) -> None:
    write_csv(tmp_path / "r.csv", ["1,x,0", ",y,1"])
    input_fn = csv_input_fn(str(tmp_path / "r.csv"), column_defaults=[[], "", 0])
    with pytest.raises(DataError, match=r"r\.csv.*required column 'a'.*data row 2"):
        list(input_fn())


def test_csv_bad_parameters(tmp_path: Path) -> None:
    write_csv(tmp_path / "p.csv", ["1,x,0"])
    path = str(tmp_path / "p.csv")
    with pytest.raises(InvalidParameterError, match="column_names when header=False"):
        csv_input_fn(path, header=False)
    with pytest.raises(InvalidParameterError, match="'column_defaults'.*one entry per column"):
        csv_input_fn(path, column_names=["a", "b", "label"], column_defaults=[0])
    with pytest.raises(InvalidParameterError, match="'column_defaults'"):
        csv_input_fn(path, column_defaults=[object(), 0, 0])
    with pytest.raises(InvalidParameterError, match="'delimiter'"):
        csv_input_fn(path, delimiter=";;")
    with pytest.raises(InvalidParameterError, match="'shuffle_buffer_size'"):
        csv_input_fn(path, shuffle_buffer_size=0)
    with pytest.raises(InvalidParameterError, match="'batch_size'"):
        csv_input_fn(path, batch_size=0)
    with pytest.raises(DataError, match="3 columns.*2 entries"):
        list(csv_input_fn(path, column_defaults=[0, 0])())


def test_csv_of_the_census_split_matches_load(tmp_path: Path) -> None:
    table = census.load_table("train")
    path = tmp_path / "train.csv"
    table.to_pandas().to_csv(path, index=False)
    input_fn = csv_input_fn(str(path), batch_size=4096, label_key=census.LABEL_COLUMN)
    features, labels = collect(input_fn())
    assert features["age"] == table.column("age").to_pylist()
    assert labels == table.column("income_bracket").to_pylist()
    assert sum(v is None for v in features["occupation"]) == 1_843


# ---- parquet_input_fn -----------------------------------------------------------------------


def write_parquet(path: Path, start: int, stop: int) -> None:
    table = pa.table(
        {
            "a": np.arange(start, stop),
            "s": [f"s{i}" for i in range(start, stop)],
            "label": np.arange(start, stop) % 2,
        }
    )
    pq.write_table(table, path, row_group_size=7)


def test_parquet_over_a_glob(tmp_path: Path) -> None:
    write_parquet(tmp_path / "a.parquet", 0, 20)
    write_parquet(tmp_path / "b.parquet", 20, 30)
    input_fn = parquet_input_fn(str(tmp_path / "*.parquet"), batch_size=8, label_key="label")
    assert sizes(input_fn) == [8, 8, 8, 6]
    features, labels = collect(input_fn())
    assert features == {"a": list(range(30)), "s": [f"s{i}" for i in range(30)]}
    assert labels == [i % 2 for i in range(30)]


def test_parquet_columns_shuffle_and_epochs(tmp_path: Path) -> None:
    write_parquet(tmp_path / "a.parquet", 0, 100)
    input_fn = parquet_input_fn(
        str(tmp_path / "a.parquet"),
        batch_size=32,
        num_epochs=2,
        shuffle=True,
        seed=1,
        columns=["a"],
        label_key="label",
    )
    features, labels = collect(input_fn())
    assert list(features) == ["a"]
    assert sorted(features["a"]) == sorted(list(range(100)) * 2)
    assert features["a"][:100] != features["a"][100:]
    assert labels == [a % 2 for a in features["a"]]
    assert collect(input_fn()) == (features, labels)
    assert collect(input_fn.chunks()) == (features, labels)


def test_parquet_num_epochs_none(tmp_path: Path) -> None:
    write_parquet(tmp_path / "a.parquet", 0, 10)
    input_fn = parquet_input_fn(str(tmp_path / "a.parquet"), batch_size=4, num_epochs=None)
    batches = list(itertools.islice(input_fn(), 50))
    assert collect(batches)[0]["a"] == list(range(10)) * 20


def test_parquet_bad_inputs(tmp_path: Path) -> None:
    write_parquet(tmp_path / "a.parquet", 0, 10)
    path = str(tmp_path / "a.parquet")
    with pytest.raises(DataError, match=r"label_key 'income' is not a column of .*a\.parquet"):
        list(parquet_input_fn(path, label_key="income")())
    with pytest.raises(DataError, match=r"a\.parquet.*no column 'zzz'"):
        list(parquet_input_fn(path, columns=["zzz"])())
    (tmp_path / "fake.parquet").write_text("not parquet")
    with pytest.raises(DataError, match=r"Cannot read Parquet file .*fake\.parquet"):
        list(parquet_input_fn(str(tmp_path / "fake.parquet"))())
    with pytest.raises(DataError, match="No file matches"):
        parquet_input_fn(str(tmp_path / "*.pq"))


def test_an_unseeded_shuffle_takes_the_estimators_seed_as_tfs_graph_seed() -> None:
    from mlengine.data.contract import resolve_input

    x = {"a": np.arange(100, dtype=np.float32)}
    y = np.arange(100, dtype=np.float32)
    unseeded = numpy_input_fn(x, y, batch_size=10, num_epochs=1, shuffle=True)

    def first_batch(seed: int | None) -> list[float]:
        resolved = resolve_input(lambda: unseeded, seed)
        chunk = next(iter(resolved.chunks()))
        return [float(v) for v in chunk[0]["a"][:10]]

    # With tf_random_seed, runs repeat (TF derives its shuffle's seed from the graph's) ...
    assert first_batch(7) == first_batch(7)
    assert first_batch(7) != first_batch(8)
    # ... and a seed the input function names itself wins.
    seeded = numpy_input_fn(x, y, batch_size=10, num_epochs=1, shuffle=True, seed=3)
    assert resolve_input(seeded, 7).seed == 3
    assert unseeded.seed is None  # the program's own object is not changed
