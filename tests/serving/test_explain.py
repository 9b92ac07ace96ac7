"""``:explain`` (ML Engine's and KServe v1's): sampled Shapley attributions over the raw
features, from the numpy Predictor, against a stated baseline."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.export import load
from mlengine.serving.explain import DEFAULT_PATHS
from tests import tolerance

EXPLAIN = "/v1/projects/local/models/census:explain"
FEATURES = ["age", "education", "hours_per_week", "occupation"]


def sum_bound(features: int, paths: int) -> float:
    """How far the attributions' sum may be from example - baseline score: each path's gains
    telescope to exactly that difference but for one rounding per step (features of them, each
    at most half an ulp of a score <= 1), and the mean over the paths adds one per path."""
    return (features + paths) * float(np.finfo(np.float64).eps)


def probability_bound(export: Path, instances: list[dict[str, Any]]) -> np.ndarray:
    """A probability's tolerance between two computations: half its row's largest logit
    tolerance (the logistic's slope is at most 1/4), as tests/tolerance.py uses it."""
    logits = np.asarray(tolerance.Bound.of_export(export).logits(instances))
    return logits.reshape(len(instances), -1).max(axis=1) / 2


def test_attributions_add_up_to_the_score_change(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    answer = client.post(EXPLAIN, json={"instances": instances})
    assert answer.status_code == 200, answer.text
    explanations = answer.json()["explanations"]
    assert len(explanations) == len(instances)
    predictor = load(exports["v1"])
    predicted = predictor.predict(instances)
    # The stated baseline: required numbers 0, optional inputs absent.
    absent = {"age": 0, "education": None, "hours_per_week": None, "occupation": None}
    baseline = predictor.predict([absent])
    bound = probability_bound(exports["v1"], instances)
    base_bound = probability_bound(exports["v1"], [absent])[0]
    for row, explanation in enumerate(explanations):
        [by_label] = explanation["attributions_by_label"]
        label = by_label["label_index"]
        assert label == int(predicted["class_ids"][row][0])
        assert by_label["label_name"] == str(label) and by_label["output_name"] == "probabilities"
        assert sorted(by_label["attributions"]) == FEATURES
        total = sum(by_label["attributions"].values())
        change = by_label["example_score"] - by_label["baseline_score"]
        assert abs(total - change) <= sum_bound(len(FEATURES), DEFAULT_PATHS)
        assert abs(by_label["example_score"] - predicted["probabilities"][row][label]) <= bound[row]
        assert abs(by_label["baseline_score"] - baseline["probabilities"][0][label]) <= base_bound
        assert by_label["approx_error"] >= 0
    # The orders come from a fixed seed: the same request, the same answer.
    assert client.post(EXPLAIN, json={"instances": instances}).json() == answer.json()


def test_a_feature_at_its_baseline_gets_nothing(client: Any, exports: dict[str, Path]) -> None:
    # occupation and hours_per_week at the baseline (absent)
    instance = {"age": 40, "education": "Masters", "hours_per_week": None, "occupation": None}
    answer = client.post(
        "/v1/projects/local/models/census/versions/v1:explain",
        json={"instances": [instance], "parameters": {"numPaths": 8}},
    )
    [explanation] = answer.json()["explanations"]
    attributions = explanation["attributions_by_label"][0]["attributions"]
    # Switching occupation (or hours_per_week, absent too) never changes a row.
    for name in ("occupation", "hours_per_week"):
        assert abs(attributions[name]) <= probability_bound(exports["v1"], [instance])[0], name


def test_own_baseline_kserve_path_and_other_heads(client: Any, instances: list[Any]) -> None:
    own = client.post(
        "/v1/models/census:explain",
        json={"instances": instances[:1], "baseline": instances[0]},  # the instance itself
    )
    [by_label] = own.json()["explanations"][0]["attributions_by_label"]
    assert by_label["example_score"] == by_label["baseline_score"]
    assert all(value == 0 for value in by_label["attributions"].values())
    regression = client.post("/v1/models/reg:explain", json={"instances": instances})
    [first] = regression.json()["explanations"][0]["attributions_by_label"]
    assert first["output_name"] == "predictions" and "label_name" not in first
    multi = client.post("/v1/models/multi:explain", json={"instances": instances})
    labels = {e["attributions_by_label"][0]["label_name"] for e in multi.json()["explanations"]}
    assert labels <= {"low", "mid", "high"}


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "'instances'"),
        ({"instances": [{"age": 3}], "parameters": {"numPaths": 0}}, "'numPaths'"),
        ({"instances": [{"age": 3}], "baseline": {"age": "old"}}, "Baseline 0: feature 'age'"),
        ({"instances": [{"age": 3}], "baseline": [1]}, "'baseline' must be an object"),
        (
            {"instances": [{"age": 3}] * 100, "parameters": {"numPaths": 1000}},
            "model rows; at most",
        ),
    ],
)
def test_bad_explain_requests(client: Any, body: Any, needle: str) -> None:
    answer = client.post(EXPLAIN, json=body)
    assert answer.status_code == 400, answer.text
    assert needle in answer.json()["error"]
