"""Streaming many files through a bounded shuffle buffer, fsspec URLs, and bad inputs."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlengine.data import csv_input_fn, parquet_input_fn
from mlengine.data.batches import decode_dictionaries, num_rows, shuffle_buffer
from mlengine.data.input_fns import FileInputFn
from mlengine.data.readers import FileSource
from mlengine.errors import DataError

FILES, ROWS_PER_FILE = 40, 25
TOTAL = FILES * ROWS_PER_FILE


def write_parquet_parts(root: str) -> str:
    fs, path = fsspec.core.url_to_fs(root)
    for index in range(FILES):
        start = index * ROWS_PER_FILE
        table = pa.table(
            {"id": np.arange(start, start + ROWS_PER_FILE), "label": np.full(ROWS_PER_FILE, 1)}
        )
        with fs.open(f"{path}/part-{index:03d}.parquet", "wb") as f:
            pq.write_table(table, f, row_group_size=10)
    return f"{root}/part-*.parquet"


def write_csv_parts(root: str) -> str:
    fs, path = fsspec.core.url_to_fs(root)
    for index in range(FILES):
        start = index * ROWS_PER_FILE
        text = "id,label\n" + "".join(f"{i},1\n" for i in range(start, start + ROWS_PER_FILE))
        with fs.open(f"{path}/part-{index:03d}.csv", "wb") as f:
            f.write(text.encode())
    return f"{root}/part-*.csv"


class Meter:
    """Counts the rows an input function has read from its files, to bound what it holds."""

    def __init__(self, input_fn: FileInputFn) -> None:
        self.read = 0
        original = input_fn._read

        def counted(source: FileSource) -> Iterator[pa.RecordBatch]:
            for batch in original(source):
                self.read += batch.num_rows
                yield batch

        input_fn._read = counted  # type: ignore[method-assign]


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_many_small_files_through_a_small_buffer(tmp_path: Path, kind: str) -> None:
    if kind == "parquet":
        pattern = write_parquet_parts(str(tmp_path))
        input_fn = parquet_input_fn(
            pattern, batch_size=16, num_epochs=2, shuffle=True, seed=4, shuffle_buffer_size=100
        )
    else:
        pattern = write_csv_parts(str(tmp_path))
        input_fn = csv_input_fn(
            pattern, batch_size=16, num_epochs=2, shuffle=True, seed=4, shuffle_buffer_size=100
        )
    assert isinstance(input_fn, FileInputFn)
    input_fn.chunk_rows = 50
    meter = Meter(input_fn)
    order: list[int] = []
    for features, _ in input_fn.chunks():
        order += features["id"].tolist()
        # held = read but not yet handed out: the buffer, never the data set
        assert meter.read - len(order) <= 100 + 50
        assert num_rows((features, None)) <= 50 + 50 + ROWS_PER_FILE
    assert len(order) == 2 * TOTAL
    first, second = order[:TOTAL], order[TOTAL:]
    assert sorted(first) == sorted(second) == list(range(TOTAL))  # every row once per epoch
    assert first != list(range(TOTAL)) and first != second
    # rows travel beyond their file's neighbours: the buffer mixes files
    assert max(abs(position - row) for position, row in enumerate(first)) > ROWS_PER_FILE
    assert order == [i for f, _ in input_fn() for i in f["id"].tolist()]


def test_sharded_streaming_reads_every_row_once(tmp_path: Path) -> None:
    pattern = write_parquet_parts(str(tmp_path))
    input_fn = parquet_input_fn(
        pattern, batch_size=16, shuffle=True, seed=1, shuffle_buffer_size=60
    )
    input_fn.chunk_rows = 40
    seen: list[int] = []
    for rank in range(3):
        shard = input_fn.shard(rank, 3, uneven="keep")
        rows = [i for features, _ in shard() for i in features["id"].tolist()]
        assert rows != sorted(rows)
        seen += rows
    assert sorted(seen) == list(range(TOTAL))


@pytest.mark.parametrize("kind", ["parquet", "csv"])
def test_memory_url_datasets(kind: str) -> None:
    root = f"memory://streaming-{uuid.uuid4().hex}"
    if kind == "parquet":
        input_fn = parquet_input_fn(
            write_parquet_parts(root), batch_size=64, shuffle=True, seed=0, label_key="label"
        )
    else:
        input_fn = csv_input_fn(
            write_csv_parts(root), batch_size=64, shuffle=True, seed=0, label_key="label"
        )
    ids = [i for features, _ in input_fn() for i in features["id"].tolist()]
    assert sorted(ids) == list(range(TOTAL))
    shards = [input_fn.shard(r, 2) for r in range(2)]
    halves = [[i for f, _ in shard() for i in f["id"].tolist()] for shard in shards]
    assert sorted(halves[0] + halves[1]) == list(range(TOTAL))
    assert all(s.name.startswith("memory://") for s in shards[0].sources)  # type: ignore[attr-defined]


def test_a_glob_matching_nothing_names_the_pattern(tmp_path: Path) -> None:
    write_parquet_parts(str(tmp_path))
    missing = str(tmp_path / "nothing-*.parquet")
    with pytest.raises(DataError, match=f"No file matches the pattern '{re.escape(missing)}'"):
        parquet_input_fn([str(tmp_path / "part-000.parquet"), missing])
    with pytest.raises(DataError, match=r"No file matches the pattern 'memory://nowhere/\*\.csv'"):
        csv_input_fn("memory://nowhere/*.csv")


def test_a_row_that_does_not_parse_names_the_file_and_line(tmp_path: Path) -> None:
    write_csv_parts(str(tmp_path))
    bad = tmp_path / "part-017.csv"
    lines = bad.read_text().splitlines()
    lines[12] = "oops"  # line 13 of the file
    bad.write_text("\n".join(lines) + "\n")
    input_fn = csv_input_fn(
        str(tmp_path / "*.csv"), batch_size=16, shuffle=True, seed=0, shuffle_buffer_size=50
    )
    pattern = r"part-017\.csv' at line 13: .*Expected 2 columns, got 1: oops"
    with pytest.raises(DataError, match=pattern):
        list(input_fn())
    with pytest.raises(DataError, match=pattern):  # whichever rank reads it
        for rank in range(3):
            list(input_fn.shard(rank, 3, uneven="keep")())


def test_shuffled_parquet_strings_travel_encoded_and_come_out_plain(tmp_path: Path) -> None:
    values = np.array(["low", "mid", "high", None], dtype=object)
    table = pa.table({"id": np.arange(3000), "level": values[np.arange(3000) % 4]})
    pq.write_table(table, tmp_path / "levels.parquet", row_group_size=500)
    input_fn = parquet_input_fn(
        str(tmp_path / "levels.parquet"), batch_size=100, shuffle=True, seed=0, label_key="level"
    )
    input_fn.chunk_rows = 400
    for features, labels in input_fn.chunks():
        assert pa.types.is_string(labels.type)  # decoded on the way out
        assert labels.to_pylist() == [values[i % 4] for i in features["id"].tolist()]


def test_high_cardinality_dictionaries_do_not_grow_the_buffer() -> None:
    def chunks() -> Iterator[tuple[dict[str, object], None]]:
        for start in range(0, 5000, 100):
            names = pa.array([f"n{i}" for i in range(start, start + 100)]).dictionary_encode()
            yield {"id": np.arange(start, start + 100), "name": names}, None

    seen: list[int] = []
    rng = np.random.default_rng(0)
    for features, _ in shuffle_buffer(chunks(), buffer_rows=300, out_rows=100, rng=rng):
        name = features["name"]
        if isinstance(name, pa.DictionaryArray):  # never more values than rows held
            assert len(name.dictionary) <= 300 + 100 + 100
        ids = features["id"].tolist()
        assert decode_dictionaries(({"name": name}, None))[0]["name"].to_pylist() == [
            f"n{i}" for i in ids
        ]
        seen += ids
    assert sorted(seen) == list(range(5000))
