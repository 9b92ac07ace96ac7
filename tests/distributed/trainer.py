"""A census Wide & Deep trainer for the distributed tests, run by torchrun (or plainly).

Usage: python trainer.py MODEL_DIR OUT_PREFIX BATCH_SIZE EPOCHS [--forever]
Writes ``OUT_PREFIX.<rank>.json`` with the rank's evaluation and a digest of its weights,
and ``OUT_PREFIX.<rank>.pid`` as soon as it starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from typing import Any

import numpy as np

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census


def columns() -> tuple[list[fc.FeatureColumn], list[fc.FeatureColumn]]:
    education = fc.categorical_column_with_hash_bucket("education", 50)
    occupation = fc.categorical_column_with_hash_bucket("occupation", 50)
    relationship = fc.categorical_column_with_hash_bucket("relationship", 20)
    age = fc.numeric_column("age", normalizer_fn=fc.ZScore(38.6, 13.6))
    hours = fc.numeric_column("hours_per_week", normalizer_fn=fc.ZScore(40.4, 12.3))
    gain = fc.numeric_column("capital_gain", normalizer_fn=fc.Log1p())
    wide = [
        education,
        occupation,
        relationship,
        fc.crossed_column(["education", "occupation"], 500),
    ]
    deep = [
        age,
        hours,
        gain,
        fc.embedding_column(education, 4),
        fc.embedding_column(occupation, 4),
        fc.embedding_column(relationship, 4),
    ]
    return wide, deep


def main() -> None:
    model_dir, out, batch_size, epochs = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
    forever = "--forever" in sys.argv
    rank = int(os.environ.get("RANK", "0"))
    with open(f"{out}.{rank}.pid", "w") as handle:
        handle.write(str(os.getpid()))
    x, y = census.load("train")
    xt, yt = census.load("test")
    wide, deep = columns()
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=model_dir,
        linear_feature_columns=wide,
        dnn_feature_columns=deep,
        dnn_hidden_units=[32, 16],
        linear_optimizer=estimator.FtrlOptimizer(learning_rate=0.05),
        dnn_optimizer=estimator.AdamOptimizer(learning_rate=0.003),
        config=estimator.RunConfig(
            tf_random_seed=7, quiet=True, distributed_timeout_secs=20, save_summary_steps=50
        ),
    )
    train = estimator.inputs.pandas_input_fn(
        x, y, batch_size=batch_size, num_epochs=None if forever else epochs, shuffle=True, seed=3
    )
    model.train(train)
    result = model.evaluate(
        estimator.inputs.pandas_input_fn(xt, yt, batch_size=2048, shuffle=False), steps=None
    )
    report(model, result, model_dir, out, rank)


def report(
    model: estimator.Estimator, result: dict[str, Any], model_dir: str, out: str, rank: int
) -> None:
    """Export (rank 0 writes it) and write ``OUT.<rank>.json``: the evaluation, a digest of
    the weights, the export's path."""
    digest = hashlib.sha256()
    for name in model.get_variable_names():
        digest.update(name.encode())
        digest.update(np.ascontiguousarray(model.get_variable_value(name)).tobytes())
    path = model.export_saved_model(os.path.join(model_dir, "export"))
    with open(f"{out}.{rank}.json", "w") as handle:
        json.dump(
            {
                "rank": rank,
                "auc": result["auc"],
                "global_step": result["global_step"],
                "weights": digest.hexdigest(),
                "export": path,
                "examples": result.get("label/mean"),
            },
            handle,
        )


if __name__ == "__main__":
    main()
