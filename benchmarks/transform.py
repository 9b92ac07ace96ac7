"""Benchmark: rows per second of the census Wide & Deep feature transform.

Builds the tutorial's columns (DESIGN.md's example): numeric age, education_num, capital_gain,
capital_loss, hours_per_week; age buckets at 18, 25, ..., 65; vocabulary lists of education,
marital_status, relationship and workclass (the values found in the data); a 1,000-bucket hash
of occupation; the crosses education x occupation and age_buckets x education x occupation of
1,000 buckets; and, for the deep part, indicator columns of the vocabulary columns and an
8-dimensional embedding of occupation. The census training set is repeated (pyarrow concat) to
about a million rows; each transform is warmed up once, then timed over several runs. Prints
figures (best and median rows/s), asserts nothing. The machine may be shared: read the best run.

    .venv/bin/python benchmarks/transform.py [--rows 1000000] [--runs 7] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import statistics
import time

import pyarrow as pa
import pyarrow.compute as pc

from mlengine import feature_column as fc
from mlengine.data import census

NUMERIC_KEYS = ("age", "education_num", "capital_gain", "capital_loss", "hours_per_week")
VOCABULARY_KEYS = ("education", "marital_status", "relationship", "workclass")
AGE_BOUNDARIES = (18, 25, 30, 35, 40, 45, 50, 55, 60, 65)


def census_columns(table: pa.Table) -> tuple[list[fc.FeatureColumn], list[fc.FeatureColumn]]:
    """(wide, deep) columns of the tutorial, vocabularies read from ``table``."""
    numeric = [fc.numeric_column(key) for key in NUMERIC_KEYS]
    age_buckets = fc.bucketized_column(numeric[0], list(AGE_BOUNDARIES))
    vocabularies = {}
    for key in VOCABULARY_KEYS:
        values = pc.unique(table.column(key).drop_null()).to_pylist()
        vocabularies[key] = fc.categorical_column_with_vocabulary_list(key, sorted(values))
    occupation = fc.categorical_column_with_hash_bucket("occupation", hash_bucket_size=1000)
    wide: list[fc.FeatureColumn] = [
        *vocabularies.values(),
        occupation,
        age_buckets,
        fc.crossed_column(["education", "occupation"], hash_bucket_size=1000),
        fc.crossed_column([age_buckets, "education", "occupation"], hash_bucket_size=1000),
    ]
    deep: list[fc.FeatureColumn] = [
        *numeric,
        *(fc.indicator_column(c) for c in vocabularies.values()),
        fc.embedding_column(occupation, dimension=8),
    ]
    return wide, deep


def repeated(table: pa.Table, rows: int) -> dict[str, pa.Array]:
    """``table`` concatenated with itself to at least ``rows`` rows, as a batch of arrays."""
    copies = max(1, -(-rows // table.num_rows))
    big = pa.concat_tables([table] * copies).combine_chunks()
    return {name: big.column(name).chunk(0) for name in big.column_names}


def time_transform(
    name: str, transformer: fc.FeatureTransformer, batch: dict[str, pa.Array], runs: int
) -> None:
    rows = len(next(iter(batch.values())))
    transformer.transform(batch)  # warm-up
    seconds = []
    for _ in range(runs):
        start = time.perf_counter()
        transformer.transform(batch)
        seconds.append(time.perf_counter() - start)
    best, median = min(seconds), statistics.median(seconds)
    print(
        f"{name:<10} {rows:>9,} rows  best {best * 1e3:8.1f} ms = {rows / best:>12,.0f} rows/s  "
        f"median {median * 1e3:8.1f} ms = {rows / median:>12,.0f} rows/s"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--profile", action="store_true", help="cProfile the combined transform")
    args = parser.parse_args()

    table = census.load_table("train")
    wide, deep = census_columns(table)
    batch = repeated(table, args.rows)
    combined = fc.FeatureTransformer(wide + deep)
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    time_transform("combined", combined, batch, args.runs)
    time_transform("wide", fc.FeatureTransformer(wide), batch, args.runs)
    time_transform("deep", fc.FeatureTransformer(deep), batch, args.runs)
    print(f"load average after:  {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.enable()
        combined.transform(batch)
        profiler.disable()
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)


if __name__ == "__main__":
    main()
