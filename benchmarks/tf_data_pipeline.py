"""The census tutorial fed by a ``tf.data`` pipeline against ``csv_input_fn``, interleaved.

Run: ``.venv/bin/python benchmarks/tf_data_pipeline.py [--epochs 4] [--rounds 3]``

Both train the TensorFlow tutorial's Wide & Deep (its columns, hidden units [100, 75, 50, 25],
batch 40) on the cleaned census training file (as TF's official census program writes it):

* A: ``csv_input_fn(file, batch_size=40, shuffle=True, num_epochs=E, ...)`` (labels through
  ``label_vocabulary``);
* B: ``tf.data.TextLineDataset(file).map(parse_csv).shuffle(32561).repeat(E).batch(40)`` with
  ``parse_csv`` = ``tf.io.decode_csv`` + ``tf.equal(label, '>50K')``, as the official program.

Rounds alternate A and B (this shared machine's speed drifts by up to 2x within minutes), after
one warm-up epoch each, and print examples/s per run and the median ratio B / A.

``--fallback`` instead times B's ``map`` alone on 5,000 lines, traced and forced to run per
element (a function that reads a value, as an untraceable function would): microseconds a line.
"""

from __future__ import annotations

import argparse
import gzip
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "examples" / "census"))

from wide_deep import build_model_columns  # noqa: E402

import mlengine.tf as tf  # noqa: E402
from mlengine import estimator  # noqa: E402
from mlengine.data import census  # noqa: E402, F401  (the packaged files)

CSV_COLUMNS = [
    "age", "workclass", "fnlwgt", "education", "education_num", "marital_status", "occupation",
    "relationship", "race", "gender", "capital_gain", "capital_loss", "hours_per_week",
    "native_country", "income_bracket",
]  # fmt: skip
DEFAULTS = [[0], [""], [0], [""], [0], [""], [""], [""], [""], [""], [0], [0], [0], [""], [""]]
ROWS = 32561


def cleaned_census(folder: Path) -> Path:
    """adult.data as TF's official program cleans it: ``, `` -> ``,``, no blank lines."""
    source = Path(census.__file__).parent / "census_files" / "adult.data.gz"
    out = folder / "adult.data"
    with gzip.open(source, "rt") as handle, out.open("w") as target:
        for line in handle:
            line = line.strip().replace(", ", ",")
            if line and "," in line:
                target.write(line.rstrip(".") + "\n")
    return out


def model(model_dir: str, vocabulary: bool) -> estimator.DNNLinearCombinedClassifier:
    wide, deep = build_model_columns()
    config = estimator.RunConfig(
        tf_random_seed=1, quiet=True, save_checkpoints_steps=10**9,
        save_summary_steps=10**9, log_step_count_steps=10**9,
    )  # fmt: skip
    return estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir, linear_feature_columns=wide, dnn_feature_columns=deep,
        dnn_hidden_units=[100, 75, 50, 25], config=config,
        label_vocabulary=["<=50K", ">50K"] if vocabulary else None,
    )  # fmt: skip


def csv_input(path: Path, epochs: int) -> object:
    return estimator.inputs.csv_input_fn(
        str(path), batch_size=40, num_epochs=epochs, shuffle=True, seed=1,
        column_names=CSV_COLUMNS, column_defaults=[d[0] for d in DEFAULTS],
        label_key="income_bracket", header=False,
    )  # fmt: skip


def dataset_input(path: Path, epochs: int) -> object:
    def parse_csv(value: object) -> object:
        columns = tf.io.decode_csv(value, record_defaults=DEFAULTS)
        features = dict(zip(CSV_COLUMNS, columns, strict=True))
        labels = features.pop("income_bracket")
        return features, tf.equal(labels, ">50K")

    def input_fn() -> object:
        dataset = tf.data.TextLineDataset(str(path)).shuffle(buffer_size=ROWS)
        return dataset.map(parse_csv, num_parallel_calls=5).repeat(epochs).batch(40)

    return input_fn


def run(kind: str, path: Path, epochs: int) -> float:
    trained = model(tempfile.mkdtemp(prefix=f"bench-{kind}-"), vocabulary=kind == "csv_input_fn")
    make = csv_input if kind == "csv_input_fn" else dataset_input
    trained.train(make(path, 1))  # warm-up epoch (caches, allocator)
    start = time.perf_counter()
    trained.train(make(path, epochs))
    return ROWS * epochs / (time.perf_counter() - start)


def fallback(path: Path, lines: int = 5000) -> None:
    import logging

    import numpy as np

    logging.disable(logging.WARNING)  # the per-element warning, expected here

    def traced(line: object) -> object:
        columns = tf.io.decode_csv(line, record_defaults=DEFAULTS)
        return columns[0], tf.equal(columns[14], ">50K")

    def per_element(line: object) -> object:
        columns = tf.io.decode_csv(line, record_defaults=DEFAULTS)
        assert int(columns[0].numpy()) >= 0  # needs the value: cannot be traced
        return columns[0], tf.equal(columns[14], ">50K")

    for function in (traced, per_element):
        dataset = tf.data.TextLineDataset(str(path)).take(lines).map(function).batch(lines)
        start = time.perf_counter()
        for _ in dataset._chunks(np.random.default_rng(0)):
            pass
        micros = (time.perf_counter() - start) / lines * 1e6
        print(f"map {function.__name__:11s} {micros:8.1f} us a line")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--fallback", action="store_true")
    args = parser.parse_args()
    path = cleaned_census(Path(tempfile.mkdtemp(prefix="bench-census-")))
    if args.fallback:
        fallback(path)
        return
    speeds: dict[str, list[float]] = {"csv_input_fn": [], "tf.data": []}
    for round_ in range(args.rounds):
        order = ["csv_input_fn", "tf.data"] if round_ % 2 == 0 else ["tf.data", "csv_input_fn"]
        for kind in order:
            speeds[kind].append(run(kind, path, args.epochs))
            print(f"round {round_}: {kind:13s} {speeds[kind][-1]:10,.0f} examples/s", flush=True)
    ratios = [b / a for a, b in zip(speeds["csv_input_fn"], speeds["tf.data"], strict=True)]
    print(f"tf.data / csv_input_fn: median {statistics.median(ratios):.2f} "
          f"(rounds: {', '.join(f'{r:.2f}' for r in ratios)})")  # fmt: skip


if __name__ == "__main__":
    main()
