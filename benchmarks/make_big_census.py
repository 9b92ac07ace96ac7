"""Write a census-like data set of N rows as sharded Parquet and CSV files.

Run: ``.venv/bin/python benchmarks/make_big_census.py --rows 10000000 --out /tmp/census-10m``

Rows are drawn with replacement from the real training split (adult.data, 32,561 rows) and
perturbed a little, so that the data is not 300 copies of the same rows: age +-2 (17..90),
hours_per_week +-3 (1..99), fnlwgt and non-zero capital gains and losses scaled by a factor
around 1 (sd 5%). Categorical values and the label are kept as drawn, so the columns and their
types are those of ``census.load_table`` (``income_bracket`` holds ``<=50K`` / ``>50K``).

Everything is vectorised (numpy and pyarrow ``take``): a shard is written in blocks of at
most ``--block-rows`` rows, so memory stays at a block whatever N is. Files are
``DIR/parquet/part-00000.parquet`` (row groups of ``--row-group-rows``) and
``DIR/csv/part-00000.csv`` (with a header line).
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

from mlengine.data import census


def perturb(table: pa.Table, rng: np.random.Generator) -> pa.Table:
    """The rows of ``table`` with their numeric columns jittered (see the module docstring)."""
    n = table.num_rows
    columns = {name: table.column(name) for name in table.column_names}

    def ints(name: str) -> np.ndarray:
        return columns[name].to_numpy().astype(np.int64)

    age = np.clip(ints("age") + rng.integers(-2, 3, n), 17, 90)
    hours = np.clip(ints("hours_per_week") + rng.integers(-3, 4, n), 1, 99)
    fnlwgt = np.maximum(np.rint(ints("fnlwgt") * rng.normal(1.0, 0.05, n)), 1).astype(np.int64)
    gain, loss = ints("capital_gain"), ints("capital_loss")
    gain = np.where(gain > 0, np.maximum(np.rint(gain * rng.normal(1.0, 0.05, n)), 1), 0)
    loss = np.where(loss > 0, np.maximum(np.rint(loss * rng.normal(1.0, 0.05, n)), 1), 0)
    columns.update(
        age=pa.array(age),
        hours_per_week=pa.array(hours),
        fnlwgt=pa.array(fnlwgt),
        capital_gain=pa.array(gain.astype(np.int64)),
        capital_loss=pa.array(loss.astype(np.int64)),
    )
    return pa.table([columns[name] for name in table.column_names], names=table.column_names)


def write_shard(
    base: pa.Table,
    rows: int,
    index: int,
    out: Path,
    formats: list[str],
    rng: np.random.Generator,
    block_rows: int,
    row_group_rows: int,
) -> int:
    """Writes shard ``index`` of ``rows`` rows in each format; returns the bytes written."""
    name = f"part-{index:05d}"
    parquet = csv = None
    if "parquet" in formats:
        parquet = pq.ParquetWriter(out / "parquet" / f"{name}.parquet", base.schema)
    if "csv" in formats:
        options = pa_csv.WriteOptions(quoting_style="needed")
        csv = pa_csv.CSVWriter(out / "csv" / f"{name}.csv", base.schema, write_options=options)
    try:
        for start in range(0, rows, block_rows):
            n = min(block_rows, rows - start)
            block = perturb(base.take(pa.array(rng.integers(0, base.num_rows, n))), rng)
            if parquet is not None:
                parquet.write_table(block, row_group_size=row_group_rows)
            if csv is not None:
                csv.write_table(block)
    finally:
        for writer in (parquet, csv):
            if writer is not None:
                writer.close()
    return sum(f.stat().st_size for f in out.glob(f"*/{name}.*"))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, required=True, help="rows in all")
    parser.add_argument("--out", type=Path, required=True, help="output folder (replaced)")
    parser.add_argument("--shards", type=int, default=None, help="files per format")
    parser.add_argument("--format", default="parquet,csv", help="parquet, csv or both")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--block-rows", type=int, default=500_000)
    parser.add_argument("--row-group-rows", type=int, default=65_536)
    args = parser.parse_args(argv)
    formats = [f.strip() for f in args.format.split(",") if f.strip()]
    if not formats or set(formats) - {"parquet", "csv"}:
        parser.error(f"--format takes parquet, csv or both; got {args.format!r}")
    if args.rows < 1:
        parser.error("--rows must be at least 1")
    shards = args.shards or max(1, math.ceil(args.rows / 1_000_000))
    if args.out.exists():
        shutil.rmtree(args.out)
    for kind in formats:
        (args.out / kind).mkdir(parents=True)

    base = census.load_table("train")
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    written = total_bytes = 0
    for index in range(shards):
        rows = args.rows * (index + 1) // shards - args.rows * index // shards
        total_bytes += write_shard(
            base, rows, index, args.out, formats, rng, args.block_rows, args.row_group_rows
        )
        written += rows
        seconds = time.perf_counter() - start
        print(
            f"shard {index + 1}/{shards}: {written:,} of {args.rows:,} rows, "
            f"{total_bytes / 1e6:,.0f} MB, {seconds:.1f} s ({written / seconds:,.0f} rows/s)",
            flush=True,
        )
    for kind in formats:
        size = sum(f.stat().st_size for f in (args.out / kind).iterdir())
        print(f"{args.out / kind}: {shards} files, {size / 1e6:,.0f} MB")


if __name__ == "__main__":
    main(sys.argv[1:])
