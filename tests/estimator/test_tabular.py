"""train_tabular: a DataFrame and a label in, a Wide & Deep at its best checkpoint out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlengine import estimator
from mlengine.errors import FeatureError
from mlengine.estimator.tabular import (
    _split,
    default_batch_size,
    infer_task,
    latest_rows_fit,
    train_tabular,
)
from mlengine.export import load
from mlengine.training.checkpoint import latest_checkpoint
from tests import tolerance


def _interaction(n: int, seed: int) -> pd.DataFrame:
    """A label that needs an interaction and a threshold: a tree or a Wide & Deep learns it."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame(
        {
            "shape": rng.choice(["circle", "square", "star"], n),
            "size": rng.uniform(0, 10, n),
            "count": rng.integers(0, 4, n),
        }
    )
    logit = (
        np.where(frame["shape"] == "star", 2.0, -1.0) * (frame["size"] > 5) + frame["count"] - 1.5
    )
    frame["label"] = (rng.uniform(size=n) < 1 / (1 + np.exp(-2 * logit))).astype(np.int64)
    return frame


def test_classification_learns_and_keeps_the_best_checkpoint(tmp_path: Path) -> None:
    frame = _interaction(1200, 0)
    result = train_tabular(
        frame, "label", model_dir=tmp_path / "m", max_epochs=12, patience=2, refit=False
    )
    assert result.task.kind == "binary" and result.refit_steps is None
    assert result.history, "a validation split is evaluated after each round"
    aucs = [h["auc"] for h in result.history]
    best = result.history[int(np.argmax(aucs))]["global_step"]
    assert result.best_step == best
    # The later (worse) checkpoints are gone: the estimator is the best model.
    checkpoint = latest_checkpoint(str(tmp_path / "m"))
    assert checkpoint is not None and checkpoint.endswith(f"ckpt-{best}")
    test = _interaction(600, 1)
    metrics = result.estimator.evaluate(
        estimator.inputs.pandas_input_fn(
            test.drop(columns=["label"]), test["label"], batch_size=600, shuffle=False
        )
    )
    assert metrics["global_step"] == best
    assert metrics["auc"] > 0.8  # a constant model scores 0.5; the Bayes rate is about 0.87


def test_rounds_are_steps_and_the_refit_trains_on_every_row(tmp_path: Path) -> None:
    frame = _interaction(1200, 0)
    # A value seen only in the latest rows (the validation split) is learned by the refit.
    frame.loc[1150:, "shape"] = "hexagon"
    result = train_tabular(frame, "label", model_dir=tmp_path / "m", max_epochs=12)
    steps = [h["global_step"] for h in result.history]
    rows = 1200 - 120
    per_epoch = -(-rows // default_batch_size(rows))
    assert steps[:3] == [100, 200, 300]  # evaluated every 100 steps, not every few epochs
    assert steps[-1] <= 12 * per_epoch
    assert result.best_step is not None and result.refit_steps is not None
    # As many epochs over 1,200 rows as the best checkpoint had over 1,080.
    assert result.refit_steps == round(result.best_step * 1200 / rows)
    checkpoint = latest_checkpoint(result.estimator.model_dir)
    assert checkpoint is not None and checkpoint.endswith(f"ckpt-{result.refit_steps}")
    assert str(result.estimator.model_dir) == str(tmp_path / "m")
    shape = next(c for c in result.columns.linear_feature_columns if c.name == "shape")
    assert "hexagon" in shape.vocabulary
    # A (features, labels) pair validates only: nothing to refit on.
    pair = train_tabular(
        frame.iloc[:1000], "label", validation=(frame.iloc[1000:].drop(columns=["label"]),
        frame["label"].iloc[1000:]), max_epochs=4,
    )  # fmt: skip
    assert pair.refit_steps is None and pair.best_step is not None


def test_regression_predicts_in_the_labels_units(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    n = 800
    frame = pd.DataFrame({"x": rng.uniform(-1, 1, n), "g": rng.choice(["a", "b"], n)})
    y = 5000 + 800 * frame["x"] + np.where(frame["g"] == "a", 300, -300) + rng.normal(0, 50, n)
    result = train_tabular(frame, y.to_numpy(), model_dir=tmp_path / "m", max_epochs=30)
    assert result.task.kind == "regression"
    path = result.estimator.export_saved_model(tmp_path / "e")
    predictions = load(path).predict(frame.iloc[:200])["predictions"][:, 0]
    rmse = float(np.sqrt(np.mean((predictions - y.to_numpy()[:200]) ** 2)))
    # Labels spread with std ~560; without the head's rescaling the outputs would sit near 0.
    assert rmse < 200, rmse


def test_string_labels_become_a_vocabulary_and_many_classes_multiclass() -> None:
    assert infer_task(np.array(["no", "yes", "no"])).label_vocabulary == ("no", "yes")
    task = infer_task(np.array([0, 1, 2, 1]))
    assert (task.kind, task.n_classes, task.label_vocabulary) == ("multiclass", 3, None)
    assert infer_task(np.array([0.5, 1.25, 2.0])).kind == "regression"
    assert infer_task(np.arange(200)).kind == "regression"
    assert infer_task(np.array([1, 0, 1]), "regression").kind == "regression"


def test_batch_size_gives_small_data_enough_steps() -> None:
    assert default_batch_size(442) == 32
    assert default_batch_size(30_000) == 1024
    assert default_batch_size(5_000) == 128


@pytest.mark.parametrize(
    ("labels", "message"),
    [
        (np.array([1.0, np.nan, 0.0, 1.0]), r"Label 'label' has 1 missing value\(s\) \(rows \[1\]"),
        (np.array([1, 1, 1, 1]), "single value"),
    ],
)
def test_bad_labels_are_clear_errors(labels: np.ndarray, message: str) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0, 4.0]})
    with pytest.raises(FeatureError, match=message):
        train_tabular(frame, labels)


def test_validation_takes_the_latest_rows_unless_the_labels_look_sorted() -> None:
    rng = np.random.default_rng(0)
    shuffled = rng.integers(0, 2, 1000)
    assert latest_rows_fit(shuffled, 100, regression=False)
    # Sorted by class: the last rows hold one class; a random draw validates instead.
    assert not latest_rows_fit(np.sort(shuffled), 100, regression=False)
    values = rng.normal(size=1000)
    assert latest_rows_fit(values, 100, regression=True)
    assert not latest_rows_fit(np.sort(values), 100, regression=True)
    frame = pd.DataFrame({"x": np.arange(1000.0), "label": shuffled})
    train_x, _, valid_x, _ = _split(frame[["x"]], shuffled, 0.1, 1, regression=False)
    assert valid_x is not None and valid_x["x"].tolist() == list(range(900, 1000))
    assert train_x["x"].tolist() == list(range(900))
    ordered = np.sort(shuffled)
    _, _, valid_x, valid_y = _split(frame[["x"]], ordered, 0.1, 1, regression=False)
    assert valid_y is not None and set(valid_y.tolist()) == {0, 1}


def test_latitude_longitude_grids_export_and_serve_on_the_raw_inputs(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    n = 1200
    frame = pd.DataFrame({"lat": rng.uniform(30, 40, n), "lon": rng.uniform(-120, -110, n)})
    peak = np.exp(-((frame["lat"] - 35) ** 2) - (frame["lon"] + 115) ** 2)
    y = (3 * peak + rng.normal(0, 0.1, n)).to_numpy()
    result = train_tabular(frame, y, model_dir=tmp_path / "m", max_epochs=6, task="regression")
    assert "lat x lon" in {c.key for c in result.columns.choices}
    path = result.estimator.export_saved_model(tmp_path / "e")
    predictor = load(path)
    assert sorted(predictor.input_names) == ["lat", "lon"]  # the grids need no new input
    rows = frame.iloc[:50]
    from_export = predictor.predict(rows)["predictions"][:, 0]
    from_estimator = np.array(
        [
            p["predictions"][0]
            for p in result.estimator.predict(
                estimator.inputs.pandas_input_fn(rows, batch_size=50, shuffle=False)
            )
        ]
    )
    # Outputs are label_center + label_scale * logits: the logits' rounding, scaled.
    scale = result.estimator._head.label_scale
    rounding = tolerance.Bound.of_export(path).logits(rows)[:, 0] * scale
    tolerance.assert_close(from_export, from_estimator, rounding, "predictions")
