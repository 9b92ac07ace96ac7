"""A custom estimator (ModuleEstimator: your own Wide & Deep) for the distributed tests, run by
torchrun (or plainly).

Usage: python custom_trainer.py MODEL_DIR OUT_PREFIX BATCH_SIZE EPOCHS
Writes ``OUT_PREFIX.<rank>.json`` with the rank's evaluation, a digest of its weights and the
path of the export (written by rank 0 alone).
"""

from __future__ import annotations

import os
import sys

import torch
from trainer import report  # the script's folder is on sys.path

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.data import census


class WideAndDeep(torch.nn.Module):
    """LinearModel + DenseFeatures -> 16 -> logit."""

    def __init__(self) -> None:
        super().__init__()
        education = fc.categorical_column_with_hash_bucket("education", 50)
        occupation = fc.categorical_column_with_hash_bucket("occupation", 50)
        age = fc.numeric_column("age", normalizer_fn=fc.ZScore(38.6, 13.6))
        self.wide = estimator.LinearModel(
            [education, occupation, fc.crossed_column(["education", "occupation"], 500)]
        )
        self.deep = estimator.DenseFeatures(
            [
                age,
                fc.numeric_column("hours_per_week", normalizer_fn=fc.ZScore(40.4, 12.3)),
                fc.numeric_column("capital_gain", normalizer_fn=fc.Log1p()),
                fc.embedding_column(education, 4),
                fc.embedding_column(occupation, 4),
            ]
        )
        self.hidden = torch.nn.Linear(self.deep.output_dim, 16)
        self.logits = torch.nn.Linear(16, 1)

    def forward(self, features: object) -> torch.Tensor:
        deep = self.logits(torch.relu(self.hidden(self.deep(features))))
        return self.wide(features) + deep


def main() -> None:
    model_dir, out, batch_size, epochs = (
        sys.argv[1],
        sys.argv[2],
        int(sys.argv[3]),
        int(sys.argv[4]),
    )
    rank = int(os.environ.get("RANK", "0"))
    x, y = census.load("train")
    xt, yt = census.load("test")
    torch.manual_seed(11)  # the module's initial weights: the same in every process
    model = estimator.ModuleEstimator(
        WideAndDeep(),
        estimator.binary_classification_head(),
        estimator.AdagradOptimizer(learning_rate=0.1),
        model_dir=model_dir,
        config=estimator.RunConfig(
            tf_random_seed=7, quiet=True, distributed_timeout_secs=20, save_summary_steps=50
        ),
    )
    model.train(
        estimator.inputs.pandas_input_fn(
            x, y, batch_size=batch_size, num_epochs=epochs, shuffle=True, seed=3
        )
    )
    result = model.evaluate(
        estimator.inputs.pandas_input_fn(xt, yt, batch_size=4096, shuffle=False)
    )
    report(model, result, model_dir, out, rank)


if __name__ == "__main__":
    main()
