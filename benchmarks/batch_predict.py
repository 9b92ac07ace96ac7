"""Batch and single-instance prediction speed of a loaded export (the Predictor).

Run: ``.venv/bin/python benchmarks/batch_predict.py [--export-dir DIR]``

Without ``--export-dir`` it trains the TF tutorial's Wide & Deep for one epoch and exports it.
Prints rows/s of ``Predictor.predict`` on the 16,281 census test rows given as a DataFrame
(feature transform included), and the median latency of predicting one instance given as a dict.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "census"))

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-dir", default=None)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()
    predictor = load(args.export_dir or tutorial_export())
    test_x, _ = census.load("test")
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
