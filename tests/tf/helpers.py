"""Exports whose serving input receivers declare serialized inputs (CSV lines, tf.Examples),
built through the ``mlengine.tf`` façade as a TF program builds them, for the CLI's and the
servers' tests of those inputs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import mlengine.tf.compat.v1 as tf
import numpy as np

# The CSV receiver's field order differs from the signature's (alphabetical) input order, and
# holds a field the model does not read, so a test sees which order was used.
CSV_FIELDS = ("work", "age", "id", "hours")
CSV_DEFAULTS = [[""], [0.0], [0], [0.0]]


def columns() -> list[Any]:
    work = tf.feature_column.categorical_column_with_vocabulary_list("work", ["a", "b"])
    return [
        tf.feature_column.numeric_column("age", default_value=30.0),
        tf.feature_column.numeric_column("hours"),
        tf.feature_column.indicator_column(work),
    ]


def csv_receiver() -> Any:
    line = tf.placeholder(tf.string, [None])
    fields = tf.decode_csv(line, record_defaults=CSV_DEFAULTS)
    features = dict(zip(CSV_FIELDS, fields, strict=True))
    features.pop("id")
    return tf.estimator.export.ServingInputReceiver(features, {"csv_row": line})


def example_receiver() -> Any:
    spec = tf.feature_column.make_parse_example_spec(columns())
    return tf.estimator.export.build_parsing_serving_input_receiver_fn(spec)()


def train_and_export(root: Path) -> dict[str, Path]:
    """A small binary DNNClassifier exported twice: ``csv`` (CSV lines in CSV_FIELDS' order)
    and ``example`` (serialized tf.Examples), each beside the named JSON features."""
    rng = np.random.default_rng(0)
    x = {
        "age": rng.uniform(20, 60, 200),
        "hours": rng.uniform(10, 60, 200),
        "work": np.array(["a", "b"] * 100, dtype=object),
    }
    y = ((x["hours"] > 35) ^ (x["work"] == "b")).astype(np.int64)
    estimator = tf.estimator.DNNClassifier(
        [8], columns(), model_dir=str(root / "model"),
        config=tf.estimator.RunConfig(tf_random_seed=1),
    )  # fmt: skip
    estimator.train(tf.estimator.inputs.numpy_input_fn(x, y, shuffle=False), steps=20)
    return {
        "csv": Path(estimator.export_savedmodel(str(root / "csv"), csv_receiver)),
        "example": Path(estimator.export_savedmodel(str(root / "example"), example_receiver)),
    }


def csv_line(instance: dict[str, Any], record_id: int = 7) -> str:
    """A CSV record of ``instance`` in the receiver's field order."""
    values = {**instance, "id": record_id}
    return ",".join(str(values[name]) for name in CSV_FIELDS)


INSTANCES = [
    {"age": 25.0, "hours": 40.0, "work": "a"},
    {"age": 52.0, "hours": 12.5, "work": "b"},
    {"age": 38.0, "hours": 60.0, "work": "b"},
]
