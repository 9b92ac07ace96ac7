"""Tests of InputFn.shard: every row read by exactly one rank, even epochs, seeded shuffles."""

from __future__ import annotations

import gzip
import itertools
import uuid
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlengine.data import InputFn, csv_input_fn, numpy_input_fn, pandas_input_fn, parquet_input_fn
from mlengine.data.batches import InputBatch, num_rows
from mlengine.data.sharding import deal_files, even_range, plan_shards, range_pieces
from mlengine.errors import DataError, InvalidParameterError

# ---- helpers --------------------------------------------------------------------------------


def ids(batches: Iterable[InputBatch]) -> list[int]:
    """The "id" feature of every row of a stream, in order."""
    out: list[int] = []
    for features, _ in batches:
        column = features["id"]
        out += column.tolist() if isinstance(column, np.ndarray) else column.to_pylist()
    return out


def rank_ids(input_fn: InputFn, world_size: int, uneven: Any = "keep") -> list[list[int]]:
    return [ids(input_fn.shard(r, world_size, uneven=uneven)()) for r in range(world_size)]


def assert_partition(parts: list[list[int]], total: int) -> None:
    """Every id in range(total) is read by exactly one rank, exactly once."""
    counts = Counter(i for part in parts for i in part)
    assert sorted(counts) == list(range(total))
    assert set(counts.values()) <= {1}


def memory_dir() -> str:
    return f"memory://shard-{uuid.uuid4().hex}"


def write_csv_files(root: str, sizes: list[int], pad: list[int] | None = None) -> int:
    """CSV files of ``sizes`` rows with ids counting up across files; lines of varied length."""
    start = 0
    for index, size in enumerate(sizes):
        lines = ["id,text,label"]
        for i in range(start, start + size):
            width = 1 + (pad[i % len(pad)] if pad else 0) + i % 5
            lines.append(f"{i},{'x' * width},{i % 2}")
        with fsspec.open(f"{root}/part-{index:03d}.csv", "wb") as f:
            f.write(("\n".join(lines) + "\n").encode())
        start += size
    return start


def write_parquet_files(root: str, sizes: list[int], row_group_size: int = 7) -> int:
    start = 0
    fs, path = fsspec.core.url_to_fs(root)
    for index, size in enumerate(sizes):
        table = pa.table(
            {
                "id": np.arange(start, start + size),
                "s": [f"s{i}" for i in range(start, start + size)],
                "label": np.arange(start, start + size) % 2,
            }
        )
        with fs.open(f"{path}/part-{index:03d}.parquet", "wb") as f:
            pq.write_table(table, f, row_group_size=row_group_size)
        start += size
    return start


# ---- the plan -------------------------------------------------------------------------------


def test_even_range_and_range_pieces() -> None:
    assert [even_range(10, r, 3) for r in range(3)] == [(0, 3), (3, 6), (6, 10)]
    assert range_pieces([5, 5, 5], 3, 11) == [(0, (3, 5)), (1, None), (2, (0, 1))]
    assert range_pieces([5, 0, 5], 0, 10) == [(0, None), (2, None)]


def test_plan_deals_whole_files_when_they_balance() -> None:
    assert deal_files([10, 10, 10, 10], 2) == [[0, 2], [1, 3]]
    assert deal_files([30, 10, 10, 10], 2) == [[0], [1, 2, 3]]
    assert plan_shards([10] * 4, 2) == [[(0, None), (2, None)], [(1, None), (3, None)]]
    # 3 equal files over 2 ranks: whole files would be 20 against 10 rows, so ranges
    assert plan_shards([10] * 3, 2) == [[(0, None), (1, (0, 5))], [(1, (5, 10)), (2, None)]]
    assert plan_shards([100], 3) == [[(0, (0, 33))], [(0, (33, 66))], [(0, (66, 100))]]
    assert plan_shards([7, 8], 1) == [[(0, None), (1, None)]]


def test_plan_never_cuts_a_file_that_cannot_be_cut() -> None:
    assert plan_shards([100], 2, splittable=[False]) is None  # the caller strides rows
    # enough files: whole files, however uneven
    assert plan_shards([100, 10], 2, splittable=[False, True]) == [[(0, None)], [(1, None)]]
    # ranges that only cut splittable files are fine
    assert plan_shards([10, 10, 10], 2, splittable=[True, True, False]) is not None


# ---- in-memory inputs -----------------------------------------------------------------------


@settings(max_examples=60, deadline=None)
@given(n=st.integers(0, 120), world_size=st.integers(1, 3), shuffle=st.booleans())
def test_numpy_shards_partition_the_rows(n: int, world_size: int, shuffle: bool) -> None:
    input_fn = numpy_input_fn(
        {"id": np.arange(n)}, np.arange(n) % 2, batch_size=7, shuffle=shuffle, seed=3
    )
    parts = rank_ids(input_fn, world_size)
    assert_partition(parts, n)
    assert max(map(len, parts)) - min(map(len, parts)) <= 1
    if not shuffle:  # row ranges, in order
        assert sum(parts, []) == list(range(n))


def test_pandas_shards_keep_features_and_labels_together() -> None:
    x = pd.DataFrame({"id": np.arange(100), "s": [f"s{i}" for i in range(100)]})
    input_fn = pandas_input_fn(x, x["id"] * 10, batch_size=8, shuffle=True, seed=1)
    seen = []
    for rank in range(3):
        for features, labels in input_fn.shard(rank, 3, uneven="keep")():
            ids_ = features["id"].tolist()
            assert labels.tolist() == [i * 10 for i in ids_]
            assert features["s"].to_pylist() == [f"s{i}" for i in ids_]
            seen += ids_
    assert sorted(seen) == list(range(100))


def test_shard_of_one_is_the_input_function_itself() -> None:
    input_fn = numpy_input_fn({"id": np.arange(50)}, batch_size=8, num_epochs=2, shuffle=True)
    input_fn.seed = 5
    assert ids(input_fn.shard(0, 1)()) == ids(input_fn())


def test_shuffles_are_seeded_per_rank() -> None:
    input_fn = numpy_input_fn({"id": np.arange(400)}, batch_size=10, shuffle=True, seed=9)
    rank0, rank1 = input_fn.shard(0, 2), input_fn.shard(1, 2)
    assert ids(rank0()) == ids(rank0()) == ids(input_fn.shard(0, 2)())
    assert ids(rank0()) != list(range(200))
    offset = [i - 200 for i in ids(rank1())]
    assert offset != ids(rank0())  # ranks do not shuffle in lockstep
    other = numpy_input_fn({"id": np.arange(400)}, batch_size=10, shuffle=True, seed=10)
    assert ids(other.shard(0, 2)()) != ids(rank0())


# ---- uneven parts ---------------------------------------------------------------------------


def test_pad_gives_every_rank_the_same_batches_from_its_own_rows() -> None:
    # 10 rows over 3 ranks: parts of 3, 3 and 4 rows
    input_fn = numpy_input_fn({"id": np.arange(10)}, batch_size=2, num_epochs=3, shuffle=True)
    input_fn.seed = 0
    shards = [input_fn.shard(r, 3) for r in range(3)]
    batches = [list(shard()) for shard in shards]
    assert [len(b) for b in batches] == [6, 6, 6]  # 4 rows x 3 epochs / batch 2
    owned = [set(range(0, 3)), set(range(3, 6)), set(range(6, 10))]
    for rank, rank_batches in enumerate(batches):
        rows = ids(rank_batches)
        assert len(rows) == 12 and set(rows) == owned[rank]
    # the largest part is read exactly num_epochs times
    assert Counter(ids(batches[2])) == {i: 3 for i in range(6, 10)}
    for shard in shards:
        assert [num_rows(c) for c in shard.chunks()] == [12]


def test_drop_gives_every_rank_the_rows_of_the_smallest_part() -> None:
    input_fn = numpy_input_fn({"id": np.arange(10)}, batch_size=4, num_epochs=2, shuffle=False)
    parts = rank_ids(input_fn, 3, uneven="drop")
    assert parts == [[0, 1, 2] * 2, [3, 4, 5] * 2, [6, 7, 8, 9, 6, 7]]  # deferred, not lost


def test_keep_reads_each_part_once_per_epoch() -> None:
    input_fn = numpy_input_fn({"id": np.arange(10)}, batch_size=4, num_epochs=2, shuffle=False)
    assert [len(p) for p in rank_ids(input_fn, 3, uneven="keep")] == [6, 6, 8]


def test_endless_shards_never_stop() -> None:
    input_fn = numpy_input_fn({"id": np.arange(7)}, batch_size=2, num_epochs=None, shuffle=True)
    for rank in range(3):
        batches = list(itertools.islice(input_fn.shard(rank, 3)(), 100))
        assert len(batches) == 100 and all(num_rows(b) == 2 for b in batches)


def test_a_rank_without_rows_is_an_error_unless_kept() -> None:
    input_fn = numpy_input_fn({"id": np.arange(2)}, batch_size=2, shuffle=False)
    with pytest.raises(DataError, match="Rank 0 of 3 has no rows.*uneven='keep'"):
        list(input_fn.shard(2, 3)())  # counts are known: even the non-empty ranks refuse
    endless = numpy_input_fn({"id": np.arange(2)}, batch_size=2, num_epochs=None, shuffle=False)
    with pytest.raises(DataError, match="Rank 0 of 3 has no rows"):
        next(endless.shard(0, 3)())
    assert rank_ids(input_fn, 3) == [[], [0], [1]]


def test_shard_parameters() -> None:
    input_fn = numpy_input_fn({"id": np.arange(10)}, shuffle=False)
    with pytest.raises(InvalidParameterError, match="'rank'.*\\[0, 2\\)"):
        input_fn.shard(2, 2)
    with pytest.raises(InvalidParameterError, match="'rank'"):
        input_fn.shard(-1, 2)
    with pytest.raises(InvalidParameterError, match="'world_size'"):
        input_fn.shard(0, 0)
    with pytest.raises(InvalidParameterError, match="'uneven'"):
        input_fn.shard(0, 2, uneven="spread")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="already rank 1 of 2"):
        input_fn.shard(1, 2).shard(0, 2)
    assert "rank=1, world_size=2, uneven='pad'" in repr(input_fn.shard(1, 2))
    assert input_fn.world_size == 1  # the original is unchanged


# ---- files ----------------------------------------------------------------------------------


file_sizes = st.lists(st.integers(0, 40), min_size=1, max_size=5)


@settings(max_examples=40, deadline=None)
@given(sizes=file_sizes, world_size=st.integers(1, 3), shuffle=st.booleans())
def test_parquet_shards_partition_the_rows(
    sizes: list[int], world_size: int, shuffle: bool
) -> None:
    root = memory_dir()
    total = write_parquet_files(root, sizes)
    input_fn = parquet_input_fn(
        f"{root}/*.parquet", batch_size=5, shuffle=shuffle, seed=1, shuffle_buffer_size=8
    )
    input_fn.chunk_rows = 6
    assert_partition(rank_ids(input_fn, world_size), total)


@settings(max_examples=40, deadline=None)
@given(
    sizes=file_sizes,
    world_size=st.integers(1, 3),
    pad=st.lists(st.integers(0, 60), min_size=1, max_size=7),
    block_size=st.sampled_from([256, 1 << 20]),
)
def test_csv_shards_partition_the_rows(
    sizes: list[int], world_size: int, pad: list[int], block_size: int
) -> None:
    root = memory_dir()
    total = write_csv_files(root, sizes, pad)
    input_fn = csv_input_fn(f"{root}/*.csv", batch_size=5, block_size=block_size)
    parts = rank_ids(input_fn, world_size)
    assert_partition(parts, total)
    for part in parts:  # byte ranges and whole files keep the file order within a rank
        assert part == sorted(part)


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_one_parquet_file_is_split_by_rows(tmp_path: Path, world_size: int) -> None:
    total = write_parquet_files(str(tmp_path), [100], row_group_size=16)
    input_fn = parquet_input_fn(str(tmp_path / "part-000.parquet"), batch_size=7)
    parts = rank_ids(input_fn, world_size)
    assert parts == [list(range(*even_range(total, r, world_size))) for r in range(world_size)]


@pytest.mark.parametrize("world_size", [1, 2, 3])
def test_many_files_are_dealt_whole(tmp_path: Path, world_size: int) -> None:
    write_parquet_files(str(tmp_path), [10] * 6)
    shards = [
        parquet_input_fn(str(tmp_path / "*.parquet")).shard(r, world_size)  # type: ignore[attr-defined]
        for r in range(world_size)
    ]
    for shard in shards:
        assert len(shard.sources) == 6 // world_size
        assert all(s.row_range is None for s in shard.sources)
    assert_partition([ids(s()) for s in shards], 60)


@pytest.mark.parametrize("world_size", [2, 3])
def test_a_compressed_csv_file_is_strided(tmp_path: Path, world_size: int) -> None:
    rows = "".join(f"{i},{'y' * (i % 7)},0\n" for i in range(50))
    (tmp_path / "all.csv.gz").write_bytes(gzip.compress(f"id,text,label\n{rows}".encode()))
    input_fn = csv_input_fn(str(tmp_path / "all.csv.gz"), batch_size=4, block_size=64)
    parts = rank_ids(input_fn, world_size)
    assert parts == [list(range(r, 50, world_size)) for r in range(world_size)]


def test_csv_pad_counts_rows_and_evens_out_batches(tmp_path: Path) -> None:
    write_csv_files(str(tmp_path), [23], pad=[0, 40, 3])  # one file: byte ranges, uneven rows
    input_fn = csv_input_fn(str(tmp_path / "*.csv"), batch_size=4, num_epochs=2, shuffle=True)
    shards = [input_fn.shard(r, 3) for r in range(3)]
    keep = [len(p) for p in rank_ids(input_fn, 3, uneven="keep")]
    assert sum(keep) == 46 and len(set(keep)) > 1  # the byte ranges hold different row counts
    lengths = [len(ids(shard())) for shard in shards]
    assert lengths == [max(keep)] * 3


def test_parquet_shards_over_memory_urls_with_pad() -> None:
    root = memory_dir()
    write_parquet_files(root, [13, 20, 4], row_group_size=5)
    input_fn = parquet_input_fn(
        f"{root}/*.parquet", batch_size=6, num_epochs=2, shuffle=True, seed=2, label_key="label"
    )
    parts = [part[: len(part) // 2] for part in rank_ids(input_fn, 2, uneven="keep")]
    assert_partition(parts, 37)  # the first of the two epochs
    padded = [list(input_fn.shard(r, 2)()) for r in range(2)]
    assert len(padded[0]) == len(padded[1]) == 7  # 19 rows x 2 epochs / 6
    for rank, batches in enumerate(padded):
        assert set(ids(batches)) == set(parts[rank])
        for features, labels in batches:
            assert labels.tolist() == [i % 2 for i in features["id"].tolist()]


def test_csv_error_in_a_byte_range_names_the_file_line(tmp_path: Path) -> None:
    lines = ["id,text,label"] + [f"{i},t,0" for i in range(40)]
    lines[31] = "30,t"  # line 32 of the file
    (tmp_path / "bad.csv").write_text("\n".join(lines) + "\n")
    input_fn = csv_input_fn(str(tmp_path / "bad.csv"), batch_size=4)
    with pytest.raises(DataError, match=r"bad\.csv' at line 32: .*Row #32: Expected 3 columns"):
        list(input_fn.shard(1, 2, uneven="keep")())
    assert len(ids(input_fn.shard(0, 2, uneven="keep")())) == 20  # the other half parses
    with pytest.raises(DataError, match="at line 32"):
        list(input_fn.shard(0, 2)())  # "pad" counts every rank's rows: all ranks fail alike
