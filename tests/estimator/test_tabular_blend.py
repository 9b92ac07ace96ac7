"""train_tabular's blend (by default, with validation rows): boosted trees averaged with the
Wide & Deep only where the validation rows prefer the blend, predicted and exported as the
chosen model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from mlengine.errors import FeatureError, InvalidParameterError
from mlengine.estimator.blend import BLEND, WIDE_DEEP
from mlengine.estimator.tabular import TabularResult, train_tabular
from mlengine.export import load
from mlengine.export.members import MEMBERS_KEY
from mlengine.model.heads import RegressionHead
from tests.tolerance import Bound, assert_predictions_close

EPS32 = float(np.finfo(np.float32).eps)
EPS64 = float(np.finfo(np.float64).eps)


def _thresholds(n: int, seed: int) -> pd.DataFrame:
    """A label of sharp thresholds at odd places and their three-way interaction: trees find
    each cut exactly; the Wide & Deep's quantile buckets and ReLUs only approach them."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({k: rng.uniform(0, 1, n) for k in ("a", "b", "c", "d")})
    cuts = (frame["a"] > 0.37) ^ (frame["b"] > 0.61) ^ (frame["c"] > 0.23)
    frame["label"] = (cuts ^ (rng.uniform(size=n) < 0.05)).astype(np.int64)
    return frame


def _linear(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """A smooth sum of many features, almost without noise: the Wide & Deep's kind of
    function, which trees approach only in steps."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({f"x{i}": rng.normal(size=n) for i in range(12)})
    weights = rng.uniform(0.5, 1.5, 12)
    return frame, frame.to_numpy() @ weights + rng.normal(0, 0.05, n)


@pytest.fixture(scope="module")
def kept(tmp_path_factory: pytest.TempPathFactory) -> TabularResult:
    frame = _thresholds(3000, 0)
    return train_tabular(frame, "label", model_dir=tmp_path_factory.mktemp("kept"), max_epochs=6)


def test_the_blend_is_kept_where_trees_help(kept: TabularResult) -> None:
    assert kept.blended, kept.blend_scores
    assert kept.blend_scores[BLEND] > kept.blend_scores[WIDE_DEEP]
    assert kept.trees is not None and kept.members == [kept.estimator, kept.trees]


def test_without_validation_rows_the_default_is_the_wide_deep_alone(tmp_path: Path) -> None:
    result = train_tabular(
        _thresholds(600, 1), "label", model_dir=tmp_path / "m", max_epochs=2, validation=None
    )
    assert result.trees is None and not result.blended and result.blend_scores == {}
    assert result.members == [result.estimator]


def test_the_blend_is_dropped_where_trees_do_not_help(tmp_path: Path) -> None:
    frame, y = _linear(2000, 1)
    result = train_tabular(frame, y, model_dir=tmp_path / "m", max_epochs=30, blend_trees=True)
    assert result.task.kind == "regression"
    assert not result.blended, result.blend_scores
    assert result.blend_scores[BLEND] >= result.blend_scores[WIDE_DEEP]  # average losses
    # Refit on every row: refused trees are not grown again.
    assert result.trees is None and result.members == [result.estimator]
    # Unblended, the result predicts and exports as the Wide & Deep.
    rows = frame.iloc[:50]
    path = result.export_saved_model(tmp_path / "e")
    assert "ensemble" not in load(path).manifest.get(MEMBERS_KEY, {})
    got, want = load(path).predict(rows), result.predict(rows)
    # Predictions are label_center + label_scale * logits: the logits' Bound scaled, plus
    # float32's rounding of the product and the sum.
    head = result.estimator._head
    assert isinstance(head, RegressionHead)
    scaled = head.label_scale * Bound.of_estimator(result.estimator).logits(rows)
    magnitude = abs(head.label_center) + np.abs(np.asarray(want["predictions"], np.float64))
    assert_predictions_close(got, want, scaled + 2 * EPS32 * magnitude)


def test_the_blends_export_serves_what_result_predict_gives(
    kept: TabularResult, tmp_path: Path
) -> None:
    rows = _thresholds(300, 5).drop(columns=["label"])
    path = kept.export_saved_model(tmp_path / "e")
    predictor = load(path)
    assert predictor.manifest[MEMBERS_KEY]["ensemble"]["average"] == "probabilities"
    got, want = predictor.predict(rows), kept.predict(rows)
    # The Wide & Deep's logit may move by its Bound; its probability by a quarter of that,
    # and the average's by half of the member's. The trees sum 100 leaf values in float64,
    # read from the same text model either way: 100 roundings of at most one ulp of their
    # magnitude (a few units). The average's logit moves by the probability's error over
    # p (1 - p).
    member = Bound.of_estimator(kept.estimator).logits(rows) / 4
    probability = member / 2 + 100 * EPS64 * 10
    p = np.asarray(want["logistic"], dtype=np.float64)
    assert_predictions_close(got, want, probability / (p * (1 - p)))


def test_a_multiclass_blend_of_string_labels_exports_what_it_predicts(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    frame = pd.DataFrame(
        {
            "a": rng.uniform(0, 1, 2000),
            "b": rng.uniform(0, 1, 2000),
            "g": rng.choice(["x", "y"], 2000),
        }
    )
    labels = np.where(
        frame["a"] > 0.6, "hi", np.where((frame["b"] > 0.3) & (frame["g"] == "x"), "mid", "lo")
    )
    result = train_tabular(frame, labels, model_dir=tmp_path / "m", max_epochs=6, blend_trees=True)
    assert result.task.label_vocabulary == ("hi", "lo", "mid")
    assert result.blended, result.blend_scores  # average losses: lower is better
    assert result.blend_scores[BLEND] < result.blend_scores[WIDE_DEEP]
    rows = frame.iloc[:200]
    got, want = load(result.export_saved_model(tmp_path / "e")).predict(rows), result.predict(rows)
    # A softmax probability moves by at most twice the largest logit error times itself (at
    # most 1); the average by half the member's; the trees' float64 sums as above. The
    # average's logit log(p) moves by the probability's error over p.
    member = Bound.of_estimator(result.estimator).logits(rows).max(axis=1, keepdims=True)
    probability = member + 100 * EPS64 * 10
    assert_predictions_close(got, want, probability / np.asarray(want["probabilities"]))


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"validation": None, "blend_trees": True}, "blend_trees=True.*'validation'"),
        ({"blend_trees": "yes"}, "'blend_trees' parameter must be None, True or False. Got 'yes'"),
    ],
)
def test_blend_trees_is_checked_before_training(options: dict, message: str) -> None:
    with pytest.raises(InvalidParameterError, match=message):
        train_tabular(_thresholds(200, 2), "label", **options)


def test_predict_names_what_it_was_given(kept: TabularResult) -> None:
    with pytest.raises(InvalidParameterError, match="DataFrame or a dict of columns; got list"):
        kept.predict([[0.1, 0.2, 0.3, 0.4]])
    with pytest.raises(FeatureError, match="No rows to predict"):
        kept.predict(_thresholds(5, 3).drop(columns=["label"]).iloc[:0])
