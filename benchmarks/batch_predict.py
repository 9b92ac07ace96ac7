"""Batch and single-instance prediction speed of a loaded export (the Predictor).

Run: ``.venv/bin/python benchmarks/batch_predict.py [--export-dir DIR]``

Without ``--export-dir`` it trains the TF tutorial's Wide & Deep for one epoch and exports it.
Prints rows/s of ``Predictor.predict`` on the 16,281 census test rows given as a DataFrame
(feature transform included), and the median latency of predicting one instance given as a dict.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "census"))

import pandas as pd  # noqa: E402
from wide_deep import build_model_columns  # noqa: E402

from mlengine import estimator  # noqa: E402
from mlengine.data import census  # noqa: E402
from mlengine.export import load  # noqa: E402


def tutorial_export() -> str:
    x, y = census.load("train")
    wide, deep = build_model_columns()
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=tempfile.mkdtemp(prefix="bench-"), linear_feature_columns=wide,
        dnn_feature_columns=deep, dnn_hidden_units=[100, 75, 50, 25],
        config=estimator.RunConfig(tf_random_seed=1, quiet=True),
    )  # fmt: skip
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=256, shuffle=True, seed=1))
    return model.export_saved_model(tempfile.mkdtemp(prefix="bench-export-"))


def threads_sweep(predictor: Any, test_x: pd.DataFrame) -> None:
    """Median and range of rows/s over 6 interleaved runs, one BLAS thread against every core."""
    from mlengine.export import predictor as predictor_module

    cores = os.cpu_count() or 1
    batches = {2048: test_x.iloc[:2048], len(test_x): test_x}
    batches[10 * len(test_x)] = pd.concat([test_x] * 10, ignore_index=True)
    # The Predictor's own choice is switched off; each run sets the count itself.
    predictor_module.ONE_BLAS_THREAD_ROWS = 0
    for rows, data in batches.items():
        rates: dict[int, list[float]] = {1: [], cores: []}
        for repeat in range(6):
            for threads in (1, cores) if repeat % 2 == 0 else (cores, 1):
                with predictor_module.BLAS_THREADS.limited(threads):
                    predictor.predict(data)
                    start = time.perf_counter()
                    for _ in range(3):
                        predictor.predict(data)
                    rates[threads].append(3 * rows / (time.perf_counter() - start))
        print(
            f"{rows:>8,} rows: "
            + ", ".join(
                f"{threads} BLAS thread(s) {statistics.median(r):>10,.0f} rows/s "
                f"({min(r):,.0f}-{max(r):,.0f})"
                for threads, r in rates.items()
            )
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", default=None)
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument(
        "--threads-sweep", action="store_true",
        help="rows/s on one BLAS thread against every core, by batch size (the Predictor's "
        "ONE_BLAS_THREAD_ROWS)",
    )  # fmt: skip
    args = parser.parse_args()
    predictor = load(args.export_dir or tutorial_export())
    test_x, _ = census.load("test")
    if args.threads_sweep:
        threads_sweep(predictor, test_x)
        return
    predictor.predict(test_x)  # warm-up
    timings = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        predictor.predict(test_x)
        timings.append(time.perf_counter() - start)
    best, median = min(timings), statistics.median(timings)
    print(
        f"batch: {len(test_x) / median:,.0f} rows/s median, {len(test_x) / best:,.0f} best "
        f"({len(test_x)} rows from a DataFrame, transform included)"
    )
    instance = test_x.iloc[0].to_dict()
    for _ in range(50):
        predictor.predict([instance])
    latencies = []
    for _ in range(1000):
        start = time.perf_counter()
        predictor.predict([instance])
        latencies.append(time.perf_counter() - start)
    latencies.sort()
    print(
        f"one instance (dict): median {latencies[500] * 1e6:,.0f} us, "
        f"p90 {latencies[900] * 1e6:,.0f} us, p99 {latencies[990] * 1e6:,.0f} us"
    )


if __name__ == "__main__":
    main()
