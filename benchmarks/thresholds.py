"""Both sides of the speed-tuning thresholds in ``mlengine.tuning``, measured on this machine.

Run: ``.venv/bin/python benchmarks/thresholds.py [CASE ...]`` (no CASE: every one; ``--list``
names them). Each case times the two implementations a threshold chooses between at sizes on
either side of it, and prints one line per size (best of several runs: the machine may be
shared). The cases that need a model train the TF tutorial's Wide & Deep for a few steps on
2,000 census rows and export it (timings do not depend on the weights). Prints figures;
asserts nothing. BLAS runs on one thread, as in ``mlengine serve`` and in training
(``--blas-threads`` changes that). ``mlengine/tuning.py`` quotes what this printed when each
value was last checked, and the case to run again.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import pyarrow as pa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "census"))

from wide_deep import build_model_columns  # noqa: E402

from mlengine import estimator  # noqa: E402
from mlengine.data import census, csv_input_fn  # noqa: E402
from mlengine.export import Predictor, load  # noqa: E402


def best_us(function: Callable[[], Any], number: int = 0, repeats: int = 5) -> float:
    """The best of ``repeats`` timings of ``function``, in microseconds per call."""
    function()
    if not number:  # about 0.05 s per timing
        start = time.perf_counter()
        function()
        number = max(1, int(0.05 / max(time.perf_counter() - start, 1e-7)))
    timings = []
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(number):
            function()
        timings.append((time.perf_counter() - start) / number)
    return min(timings) * 1e6


@contextlib.contextmanager
def patched(module: Any, name: str, value: Any) -> Iterator[None]:
    old = getattr(module, name)
    setattr(module, name, value)
    try:
        yield
    finally:
        setattr(module, name, old)


@functools.cache
def predictor(deep_columns: tuple[Any, ...] | None = None) -> Predictor:
    """The tutorial's Wide & Deep (or its wide part with ``deep_columns``), exported."""
    x, y = census.load("train")
    x, y = x.head(2000), y[:2000]
    wide, deep = build_model_columns()
    deep = deep if deep_columns is None else list(deep_columns)
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=tempfile.mkdtemp(prefix="thresholds-"), linear_feature_columns=wide,
        dnn_feature_columns=deep, dnn_hidden_units=[100, 75, 50, 25],
        config=estimator.RunConfig(tf_random_seed=1, quiet=True),
    )  # fmt: skip
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=256, shuffle=False), steps=4)
    return load(model.export_saved_model(tempfile.mkdtemp(prefix="thresholds-export-")))


@functools.cache
def test_rows(rows: int) -> Any:
    """``rows`` census test rows (repeated as needed) as a DataFrame."""
    x, _ = census.load("test")
    repeats = -(-rows // len(x))
    import pandas as pd

    return pd.concat([x] * repeats, ignore_index=True).head(rows)


def instances(rows: int) -> list[dict[str, Any]]:
    return [dict(row) for row in test_rows(rows).to_dict("records")]


# -- model and export ----------------------------------------------------------------------


def row_path() -> None:
    """ROW_PATH_ROWS: a list of instances through the row path vs the vectorised path."""
    from mlengine.export import predictor as module

    p = predictor()
    for rows in (1, 16, 32, 64, 128, 256):
        batch = instances(rows)
        with patched(module, "ROW_PATH_ROWS", 1 << 30):
            row = best_us(lambda: p.predict(batch))  # noqa: B023
        with patched(module, "ROW_PATH_ROWS", 0):
            vectorised = best_us(lambda: p.predict(batch))  # noqa: B023
        print(f"{rows:5d} rows: row path {row:8.0f} us, vectorised {vectorised:8.0f} us")


def forward_chunk() -> None:
    """FORWARD_CHUNK_ROWS: the numpy forward of 16,281 rows in chunks of N rows."""
    from mlengine.feature_column.transform import transform_all
    from mlengine.model import numpy_network as module

    p = predictor()
    features = {k: pa.array(v) for k, v in test_rows(16281).items()}
    linear, dnn = transform_all([p.linear_transformer, p.dnn_transformer], features)
    network = p.numpy_network
    assert network is not None
    for chunk in (256, 512, 1024, 2048, 4096, 8192, 1 << 15):
        with patched(module, "FORWARD_CHUNK_ROWS", chunk):
            seconds = best_us(lambda: network(linear, dnn, 16281), number=3) / 1e6
        shown = "no chunks" if chunk > 16281 else f"{chunk:5d} rows"
        print(f"{shown:>10}: {16281 / seconds:12,.0f} rows/s")


def grouped_tables() -> None:
    """GROUPED_TABLE_BYTES: the DNN forward with embedding tables grouped vs one by one (the
    tutorial's columns with every categorical column embedded: 7 tables of dimension 8)."""
    from mlengine import feature_column as fc
    from mlengine.feature_column.transform import transform_all
    from mlengine.model import numpy_network as module
    from mlengine.model.numpy_network import NumpyNetwork

    wide, deep = build_model_columns()
    categorical = [c for c in wide if isinstance(c, fc.CategoricalColumn)]
    embedded = [fc.embedding_column(c, dimension=8) for c in categorical[:7]]
    p = predictor(tuple([c for c in deep if not isinstance(c, fc.EmbeddingColumn)] + embedded))
    specs = None if p.dnn_transformer is None else p.dnn_transformer.embedding_specs
    for rows in (64, 1024, 16281):
        features = {k: pa.array(v) for k, v in test_rows(rows).items()}
        linear, dnn = transform_all([p.linear_transformer, p.dnn_transformer], features)
        figures = []
        for limit in (1 << 40, 0):
            with patched(module, "GROUPED_TABLE_BYTES", limit):
                network = NumpyNetwork.from_weights(p._weights, specs)
            assert network is not None
            figures.append(best_us(lambda: network(linear, dnn, rows)))  # noqa: B023
        print(f"{rows:6d} rows: grouped {figures[0]:8.0f} us, one by one {figures[1]:8.0f} us")


def folded_tables() -> None:
    """FOLDED_TABLE_BYTES: the row path's first layer from folded tables vs the general one."""
    p = predictor()
    network = p.numpy_network
    assert network is not None and network.folded is not None
    print(f"folded tables of this model: {network.folded.nbytes / 1e3:,.0f} kB")
    folded = network.folded
    for rows in (1, 8, 64):
        batch = instances(rows)
        on = best_us(lambda: p.predict(batch))  # noqa: B023
        network.folded = None
        off = best_us(lambda: p.predict(batch))  # noqa: B023
        network.folded = folded
        print(f"{rows:4d} rows: folded {on:7.0f} us, not folded {off:7.0f} us")


def parallel_put() -> None:
    """PARALLEL_PUT_MIN_IDS: whether torch.take's CPU backward sums in index order (it does
    below ATen's grain size, or on one thread): the same gradient as index_select's?"""
    import torch

    torch.set_num_threads(max(2, torch.get_num_threads()))
    for count in (32767, 32768, 1 << 18):
        ids = torch.randint(0, 50, (count, 1))
        table = torch.randn(50, 1, requires_grad=True)
        grads = []
        for take in (True, False):
            table.grad = None
            picked = torch.take(table, ids) if take else table.index_select(0, ids.reshape(-1))
            (picked.reshape(-1) * torch.linspace(0, 1, count)).sum().backward()
            assert table.grad is not None
            grads.append(table.grad.clone())
        same = torch.equal(grads[0], grads[1])
        print(f"{count:7d} ids, {torch.get_num_threads()} threads: bitwise equal: {same}")


# -- data, jobs --------------------------------------------------------------------------------


def input_chunk() -> None:
    """INPUT_CHUNK_ROWS: encoding (feature transform to tensors) per row, by chunk size."""
    import torch

    from mlengine.model.build import build_model
    from mlengine.model.encode import Encoder

    p = predictor()
    model = build_model(p._spec)
    encoder = Encoder(model, torch.device("cpu"))
    for rows in (1024, 4096, 16384, 65536, 262144):
        features = {k: pa.array(v) for k, v in test_rows(rows).items()}
        seconds = best_us(lambda: encoder.inputs(features), number=1, repeats=3) / 1e6  # noqa: B023
        print(f"{rows:7d} rows a chunk: {rows / seconds:12,.0f} rows/s encoded")


def csv_block() -> None:
    """CSV_BLOCK_BYTES: reading a 128k-row census CSV, by pyarrow block size."""
    path = Path(tempfile.mkdtemp(prefix="thresholds-csv-")) / "census.csv"
    test_rows(131072).to_csv(path, index=False)
    print(f"{path.stat().st_size / 1e6:.0f} MB of CSV")
    for block in (1 << 20, 1 << 21, 1 << 22, 1 << 23, 1 << 24):

        def read() -> None:
            input_fn = csv_input_fn(
                str(path), label_key=None, batch_size=1024, num_epochs=1, shuffle=False,
                block_size=block,  # noqa: B023
            )  # fmt: skip
            for _ in input_fn.chunks():
                pass

        seconds = best_us(read, number=1, repeats=3) / 1e6
        print(f"{block >> 20:3d} MiB blocks: {131072 / seconds:12,.0f} rows/s")


def batch_prediction() -> None:
    """BATCH_PREDICTION_ROWS: Predictor.predict_instances rows/s by call size (a batch job's)."""
    p = predictor()
    for rows in (1024, 8192, 16384, 32768, 65536):
        batch = instances(rows)
        seconds = best_us(lambda: p.predict_instances(batch), number=1, repeats=3) / 1e6  # noqa: B023
        print(f"{rows:6d} rows a call: {rows / seconds:10,.0f} rows/s")


# -- serving -----------------------------------------------------------------------------------


def off_loop() -> None:
    """OFF_LOOP_BYTES: parsing a body of N bytes vs handing the work to a thread and back."""
    from concurrent.futures import ThreadPoolExecutor

    instance = orjson.dumps(instances(1)[0])
    executor = ThreadPoolExecutor(1)

    async def handoff() -> None:
        await asyncio.get_running_loop().run_in_executor(executor, int)

    loop = asyncio.new_event_loop()
    hop = best_us(lambda: loop.run_until_complete(handoff()))
    print(f"a round trip to a worker thread: {hop:.0f} us of the loop's time and more")
    for count in (10, 100, 300, 1000, 3000):
        body = b'{"instances": [' + b",".join([instance] * count) + b"]}"
        parse = best_us(lambda: orjson.loads(body))  # noqa: B023
        print(f"{len(body) / 1024:7.0f} KiB ({count:4d} instances): parse {parse:7.0f} us")
    loop.close()
    executor.shutdown()


# -- feature columns: the primitives each threshold chooses between ----------------------------


def small_batch() -> None:
    """SMALL_BATCH_ROWS: the transform of N rows given as Python lists by the small-batch path
    vs as arrow arrays by the vectorised path (converting the lists included); the threshold
    is moved for each, where the transform still reads it."""
    from mlengine.feature_column import transform as module

    p = predictor()
    transformers = [t for t in (p.linear_transformer, p.dnn_transformer) if t is not None]

    def limit(rows: int) -> contextlib.AbstractContextManager[None]:
        if hasattr(module, "SMALL_BATCH_ROWS"):
            return patched(module, "SMALL_BATCH_ROWS", rows)
        return contextlib.nullcontext()

    for rows in (64, 512, 1024, 2048, 4096, 8192):
        lists = {k: list(v) for k, v in test_rows(rows).items()}

        def as_lists() -> None:
            for transformer in transformers:
                transformer.transform(lists)  # noqa: B023

        def as_arrow() -> None:
            arrays = {k: pa.array(v, from_pandas=True) for k, v in lists.items()}  # noqa: B023
            for transformer in transformers:
                transformer.transform(arrays)

        with limit(1 << 30):
            small = best_us(as_lists)
        with limit(0):
            vectorised = best_us(as_arrow)
        print(f"{rows:5d} rows: lists {small:8.0f} us, arrow {vectorised:8.0f} us")


def few_distinct_strings() -> None:
    """FEW_DISTINCT_STRINGS: hashing a dictionary of N strings one by one in Python (its
    cache cleared: new values; warm: values seen before, a server's usual case) vs vectorised
    (one arrow array to Python strings included, which the one-by-one path needs anyway)."""
    from mlengine.feature_column.hashing import hash_string, hash_strings

    for size in (16, 64, 256, 1024, 4096):
        array = pa.array([f"value-{i:06d}" for i in range(size)])

        def cold() -> None:
            hash_string.cache_clear()
            [hash_string(v) for v in array.to_pylist()]  # noqa: B023

        def warm() -> None:
            [hash_string(v) for v in array.to_pylist()]  # noqa: B023

        def vectorised() -> None:
            hash_strings(array)  # noqa: B023
            array.to_pylist()  # noqa: B023

        print(
            f"{size:5d} strings: one by one {best_us(cold):7.0f} us new, {best_us(warm):6.0f} "
            f"us seen, vectorised {best_us(vectorised):7.0f} us"
        )


def bucketize() -> None:
    """BUCKETIZE_BY_COMPARISON_*: one comparison pass per boundary vs a binary search each."""
    rng = np.random.default_rng(0)
    for boundaries in (10, 64, 128):
        edges = np.sort(rng.uniform(0, 100, boundaries))
        for size in (4096, 16384, 65536):
            values = rng.uniform(0, 100, (size, 1)).astype(np.float32)

            def compare() -> np.ndarray:
                below = np.zeros(values.shape, dtype=np.int8)  # noqa: B023
                for edge in edges:  # noqa: B023
                    below += values < edge  # noqa: B023
                return len(edges) - below.astype(np.int64)  # noqa: B023

            def search() -> np.ndarray:
                return np.searchsorted(edges, values.astype(np.float64), side="right")  # noqa: B023

            print(
                f"{boundaries:4d} boundaries, {size:6d} values: compare "
                f"{best_us(compare):6.0f} us, search {best_us(search):6.0f} us"
            )


def cross_table() -> None:
    """CROSS_TABLE_COMBINATIONS, REMEMBERED_CROSS_COMBINATIONS: hashing N combinations (what
    a cross table costs) vs hashing each row's combination; both are cross_hash calls."""
    from mlengine.feature_column.hashing import cross_hash

    rng = np.random.default_rng(0)
    for size in (1 << 10, 1 << 14, 1 << 16, 1 << 18):
        keys = [rng.integers(0, 1 << 62, size, dtype=np.uint64) for _ in range(2)]
        print(f"{size:7d} keys: cross_hash {best_us(lambda: cross_hash(keys, None)):8.0f} us")  # noqa: B023


def transform_block() -> None:
    """TRANSFORM_BLOCK_ROWS: the transform of 65,536 rows with output blocks of N rows (needs
    the transform's private ``_BLOCK_ROWS``; skipped once it has another home)."""
    from mlengine.feature_column import transform as module

    if not hasattr(module, "_BLOCK_ROWS"):
        print("skipped: mlengine.feature_column.transform._BLOCK_ROWS is gone")
        return
    p = predictor()
    features = {k: pa.array(v) for k, v in test_rows(65536).items()}
    for block in (2048, 4096, 8192, 16384, 65536):
        with patched(module, "_BLOCK_ROWS", block):
            seconds = best_us(lambda: p.linear_transformer.transform(features), 1, 3) / 1e6  # type: ignore[union-attr]
        print(f"{block:6d}-row blocks: {65536 / seconds:12,.0f} rows/s (linear part)")


def small_cross() -> None:
    """SMALL_CROSS_ROWS: a cross of N rows hashed on Python ints (cache cleared) vs numpy."""
    from mlengine.feature_column import hashing

    rng = np.random.default_rng(0)
    for rows in (1, 4, 8, 16, 32):
        keys = [rng.integers(0, 1 << 62, rows, dtype=np.uint64) for _ in range(2)]

        def python() -> None:
            hashing.cross_hash_one.cache_clear()
            hashing.cross_hash(keys, None)  # noqa: B023

        with patched(hashing, "SMALL_CROSS_ROWS", 1 << 30):
            ints = best_us(python)
        with patched(hashing, "SMALL_CROSS_ROWS", 0):
            vectorised = best_us(lambda: hashing.cross_hash(keys, None))  # noqa: B023
        print(f"{rows:3d} rows: Python ints {ints:6.1f} us, numpy {vectorised:6.1f} us")


CASES: dict[str, Callable[[], None]] = {
    "row-path": row_path,
    "forward-chunk": forward_chunk,
    "grouped-tables": grouped_tables,
    "folded-tables": folded_tables,
    "parallel-put": parallel_put,
    "input-chunk": input_chunk,
    "csv-block": csv_block,
    "batch-prediction": batch_prediction,
    "off-loop": off_loop,
    "small-batch": small_batch,
    "few-distinct-strings": few_distinct_strings,
    "bucketize": bucketize,
    "cross-table": cross_table,
    "transform-block": transform_block,
    "small-cross": small_cross,
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", metavar="CASE", help="cases to run (default: all)")
    parser.add_argument("--list", action="store_true", help="name the cases and stop")
    parser.add_argument("--blas-threads", type=int, default=1)
    args = parser.parse_args()
    from threadpoolctl import threadpool_limits

    threadpool_limits(args.blas_threads)
    if args.list:
        for name, case in CASES.items():
            print(f"{name:22s} {(case.__doc__ or '').splitlines()[0]}")
        return
    unknown = sorted(set(args.cases) - set(CASES))
    if unknown:
        parser.error(f"unknown cases {unknown}; --list names them")
    for name in args.cases or CASES:
        print(f"== {name}: {(CASES[name].__doc__ or '').split(':')[0]}")
        started = time.perf_counter()
        CASES[name]()
        print(f"   ({time.perf_counter() - started:.0f} s)")


if __name__ == "__main__":
    main()
