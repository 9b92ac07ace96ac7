"""TensorBoard event files in model_dir, read back with tensorboard's own EventAccumulator.

Training writes ``loss`` and ``learning_rate`` every ``save_summary_steps`` and
``global_step/sec`` every ``log_step_count_steps``, as tf.estimator; Wide & Deep has one learning
rate per part. ``evaluate`` writes every metric at the checkpoint's global step into
``model_dir/eval`` (``eval_<name>`` for a named evaluation).
"""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from mlengine import estimator
from tests.estimator.helpers import (
    CASES,
    EVAL_KEYS,
    dnn_columns,
    linear_columns,
    quiet_config,
    read_scalars,
)

BINARY = next(case for case in CASES if case.id == "LinearClassifier")


def steps_of(scalars: dict[str, list[tuple[int, float]]], tag: str) -> list[int]:
    return [step for step, _ in scalars[tag]]


def test_training_writes_loss_step_rate_and_learning_rate(tmp_path: Path) -> None:
    config = quiet_config(save_summary_steps=2, log_step_count_steps=3)
    model = estimator.LinearClassifier(
        linear_columns(),
        model_dir=str(tmp_path),
        optimizer=estimator.FtrlOptimizer(learning_rate=0.05),
        config=config,
    )
    model.train(BINARY.train_fn(), steps=6)

    assert glob.glob(os.path.join(tmp_path, "events.out.tfevents.*"))
    scalars = read_scalars(tmp_path)
    assert {"loss", "global_step/sec", "learning_rate"} <= set(scalars)
    assert steps_of(scalars, "loss") == [2, 4, 6]
    assert steps_of(scalars, "learning_rate") == [2, 4, 6]
    assert steps_of(scalars, "global_step/sec") == [3, 6]
    assert all(value == pytest.approx(0.05) for _, value in scalars["learning_rate"])
    assert all(value > 0 for _, value in scalars["global_step/sec"])
    assert all(0 < value < 10 for _, value in scalars["loss"])

    # A second train() continues the curves at later steps, in a new event file.
    model.train(BINARY.train_fn(), steps=2)
    assert steps_of(read_scalars(tmp_path), "loss") == [2, 4, 6, 8]


def test_the_logged_loss_is_the_training_loss(tmp_path: Path) -> None:
    # Plain gradient descent on a baseline: at step 1 the loss of a zero logit is log(2).
    model = estimator.BaselineClassifier(
        model_dir=str(tmp_path),
        optimizer=estimator.GradientDescentOptimizer(learning_rate=0.1),
        config=quiet_config(save_summary_steps=1),
    )
    model.train(BINARY.train_fn(), steps=3)
    loss = read_scalars(tmp_path)["loss"]
    assert loss[0][0] == 1
    assert loss[0][1] == pytest.approx(0.693147, abs=1e-5)
    assert loss[2][1] < loss[0][1]


def test_wide_and_deep_writes_one_learning_rate_per_part(tmp_path: Path) -> None:
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=str(tmp_path),
        linear_feature_columns=linear_columns(),
        dnn_feature_columns=dnn_columns(),
        dnn_hidden_units=[8, 4],
        config=quiet_config(save_summary_steps=2, log_step_count_steps=2),
    )
    model.train(BINARY.train_fn(), steps=4)

    scalars = read_scalars(tmp_path)
    assert "learning_rate" not in scalars
    assert steps_of(scalars, "learning_rate/linear") == [2, 4]
    assert steps_of(scalars, "learning_rate/dnn") == [2, 4]
    assert steps_of(scalars, "global_step/sec") == [2, 4]
    # TF's defaults: Adagrad at 0.001 for the DNN, FTRL at min(0.005, 1/sqrt(4)) for the linear.
    assert scalars["learning_rate/dnn"][0][1] == pytest.approx(0.001)
    assert scalars["learning_rate/linear"][0][1] == pytest.approx(0.005)


def test_evaluate_writes_every_metric_at_the_global_step(tmp_path: Path) -> None:
    model = BINARY.make(tmp_path).train(BINARY.train_fn(), steps=5)
    metrics = model.evaluate(BINARY.eval_fn())

    scalars = read_scalars(tmp_path / "eval")
    assert set(scalars) == EVAL_KEYS["binary"] - {"global_step"}
    for key, points in scalars.items():
        assert points == [(5, pytest.approx(metrics[key], rel=1e-6, abs=1e-7))], key

    model.train(BINARY.train_fn(), steps=3)
    later = model.evaluate(BINARY.eval_fn())
    scalars = read_scalars(tmp_path / "eval")
    assert steps_of(scalars, "auc") == [5, 8]
    assert scalars["auc"][1][1] == pytest.approx(later["auc"], rel=1e-6)


def test_a_named_evaluation_writes_into_eval_name(tmp_path: Path) -> None:
    model = BINARY.make(tmp_path).train(BINARY.train_fn(), steps=2)
    model.evaluate(BINARY.eval_fn(), name="holdout")
    assert steps_of(read_scalars(tmp_path / "eval_holdout"), "accuracy") == [2]
    assert not (tmp_path / "eval").exists()
