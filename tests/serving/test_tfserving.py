"""TF Serving's REST API: status, metadata, ``:predict`` in row and columnar form,
``signature_name``, ``:classify`` and ``:regress``, b64 values, with serving.md's shapes."""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any

import pytest

from mlengine.export import load

KEYS = ["class_ids", "classes", "logistic", "logits", "probabilities"]


def test_status(client: Any) -> None:
    """TF Serving's status, with KServe v1's name and ready beside it."""
    body = client.get("/v1/models/census").json()
    assert body == {
        "name": "census",
        "ready": True,
        "model_version_status": [
            {
                "version": "1",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
            {
                "version": "2",
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            },
        ],
    }
    one = client.get("/v1/models/census/versions/v2").json()["model_version_status"]
    assert [s["version"] for s in one] == ["2"]
    assert client.get("/v1/models/census/versions/2").json()["model_version_status"] == one
    assert client.get("/v1/models/census/versions/2").json()["ready"] is True
    assert client.get("/v1/models/nope").status_code == 404
    assert client.get("/v1/models/census/versions/9").status_code == 404
    assert client.get("/v1/models").json() == {"models": ["census", "multi", "reg"]}


def test_kserve_v1_readiness_of_a_model_without_a_ready_version(
    make_client: Any, exports: dict[str, Path], exports_root: Path
) -> None:
    """KServe's v1 client reads ``ready``: false while no version can serve (TF Serving's
    status of the same answer lists the version as LOADING)."""
    from tests.serving import helpers

    gated = helpers.gated_filesystem()
    gated.gate.clear()
    fresh = make_client(allowed_origins=(f"gatedfile://{exports_root}",))
    fresh.app.state.ctx.registry.allowed_origins = None  # the server's own check remains
    assert fresh.post("/v1/projects/p/models", json={"name": "slow"}).status_code == 200
    origin = f"gatedfile://{exports['v1']}"
    created = fresh.post(
        "/v1/projects/p/models/slow/versions", json={"name": "v1", "deploymentUri": origin}
    )
    assert created.status_code == 200, created.text
    try:
        body = fresh.get("/v1/models/slow").json()
        assert body["name"] == "slow" and body["ready"] is False
        assert body["model_version_status"][0]["state"] == "LOADING"
    finally:
        gated.gate.set()
    helpers.wait_until(lambda: fresh.get("/v1/models/slow").json()["ready"], timeout=30)


def test_metadata(client: Any, exports: dict[str, Path]) -> None:
    body = client.get("/v1/models/census/metadata").json()
    assert body["model_spec"] == {"name": "census", "signature_name": "", "version": "1"}
    defs = body["metadata"]["signature_def"]["signature_def"]
    assert set(defs) == {"serving_default", "predict", "classification", "regression"}
    default = defs["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert sorted(default["inputs"]) == ["age", "education", "hours_per_week", "occupation"]
    assert default["inputs"]["age"]["dtype"] == "DT_FLOAT"
    assert default["inputs"]["education"]["dtype"] == "DT_STRING"
    assert sorted(default["outputs"]) == KEYS
    assert default["outputs"]["probabilities"]["tensor_shape"]["dim"][1]["size"] == "2"
    assert sorted(defs["classification"]["outputs"]) == ["classes", "scores"]
    assert defs["classification"]["method_name"] == "tensorflow/serving/classify"
    assert defs["regression"]["method_name"] == "tensorflow/serving/regress"
    v2 = client.get("/v1/models/census/versions/v2/metadata").json()
    assert v2["model_spec"]["version"] == "2"


def test_predict_row_format(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    expected = load(exports["v1"]).predict_instances(instances)
    for path in ("/v1/models/census:predict", "/v1/models/census/versions/1:predict"):
        body = client.post(path, json={"instances": instances}).json()
        assert body == {"predictions": expected}
    v2 = load(exports["v2"]).predict_instances(instances)
    body = client.post("/v1/models/census/versions/v2:predict", json={"instances": instances})
    assert body.json() == {"predictions": v2}


def test_predict_columnar_format(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    expected = load(exports["v1"]).predict_instances(instances)
    columns = {name: [i[name] for i in instances] for name in instances[0]}
    # Values may also be one-element lists (a [n, 1] tensor).
    columns["age"] = [[value] for value in columns["age"]]
    body = client.post("/v1/models/census:predict", json={"inputs": columns}).json()
    assert list(body) == ["outputs"]
    assert sorted(body["outputs"]) == KEYS
    for key in KEYS:
        assert body["outputs"][key] == [e[key] for e in expected]
    # A missing optional input is null for every instance; a missing required one is an error.
    del columns["education"]
    assert client.post("/v1/models/census:predict", json={"inputs": columns}).status_code == 200
    del columns["age"]
    response = client.post("/v1/models/census:predict", json={"inputs": columns})
    assert response.status_code == 400 and "'age'" in response.json()["error"]


def test_signature_name(client: Any, instances: list[dict[str, Any]]) -> None:
    url = "/v1/models/census:predict"
    full = client.post(url, json={"instances": instances}).json()["predictions"]
    for name in ("serving_default", "predict"):
        body = client.post(url, json={"signature_name": name, "instances": instances}).json()
        assert body["predictions"] == full
    classification = client.post(
        url, json={"signature_name": "classification", "instances": instances}
    ).json()["predictions"]
    assert classification == [{"classes": ["0", "1"], "scores": p["probabilities"]} for p in full]
    columns = {k: [i[k] for i in instances] for k in instances[0]}
    body = {"signature_name": "regression", "inputs": columns}
    regression = client.post(url, json=body).json()
    assert regression == {"outputs": [p["logistic"] for p in full]}
    bad = client.post(url, json={"signature_name": "nope", "instances": instances})
    assert bad.status_code == 400 and '"nope" not found' in bad.json()["error"]


def test_classify(client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]) -> None:
    expected = load(exports["v1"]).predict_instances(instances)
    # Features may be tf.Example lists; context is merged into every example.
    context = {"hours_per_week": [40]}
    examples = [{k: [v] for k, v in i.items() if k != "hours_per_week"} for i in instances]
    body = client.post(
        "/v1/models/census:classify", json={"context": context, "examples": examples}
    )
    assert body.status_code == 200, body.text
    with_context = [{**i, "hours_per_week": 40} for i in instances]
    expected = load(exports["v1"]).predict_instances(with_context)
    assert body.json() == {
        "results": [[["0", e["probabilities"][0]], ["1", e["probabilities"][1]]] for e in expected]
    }


def test_classify_multiclass_labels(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    expected = load(exports["multiclass"]).predict_instances(instances)
    body = client.post("/v1/models/multi:classify", json={"examples": instances}).json()
    assert body["results"] == [
        [
            [label, score]
            for label, score in zip(["low", "mid", "high"], e["probabilities"], strict=True)
        ]
        for e in expected
    ]


def test_regress(client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]) -> None:
    regressor = load(exports["regression"]).predict_instances(instances)
    body = client.post("/v1/models/reg:regress", json={"examples": instances}).json()
    assert body == {"results": [p["predictions"][0] for p in regressor]}
    binary = load(exports["v1"]).predict_instances(instances)
    body = client.post(
        "/v1/models/census:regress", json={"signature_name": "regression", "examples": instances}
    ).json()
    assert body == {"results": [p["logistic"][0] for p in binary]}
    # A regressor has no classification signature.
    refused = client.post("/v1/models/reg:classify", json={"examples": instances})
    assert refused.status_code == 400 and "classification" in refused.json()["error"]


def test_b64_values(client: Any, instances: list[dict[str, Any]]) -> None:
    encoded = [
        {**i, "occupation": {"b64": base64.b64encode(i["occupation"].encode()).decode()}}
        for i in instances
    ]
    url = "/v1/models/census:predict"
    assert (
        client.post(url, json={"instances": encoded}).json()
        == client.post(url, json={"instances": instances}).json()
    )


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        (":predict", {"instances": [{"age": 1}], "inputs": {"age": [1]}}, "not both"),
        (":predict", {"signature_name": "x"}, "not found"),
        (":predict", {}, "Missing 'instances'"),
        (":predict", {"inputs": [1, 2]}, "'inputs' must be an object"),
        (":predict", {"inputs": {"age": 3}}, "must be a list"),
        (":predict", {"inputs": {"age": [1, 2], "education": ["a"]}}, "different batch sizes"),
        (":predict", {"inputs": {"occupation": ["a"]}}, "'age' is missing"),
        (":predict", {"inputs": {"x": [1]}}, "none of the model's inputs"),
        (":predict", {"inputs": {"age": []}}, "No instances"),
        (":classify", {"examples": {}}, "'examples' must be a list"),
        (":classify", {"examples": [{"age": 1}], "context": {"age": 2}}, "repeats context"),
        (":classify", {"examples": [{"age": 1}], "context": 3}, "'context' must be an object"),
        (":classify", {"examples": [3], "context": {}}, "Example 0 must be an object"),
        (":classify", {"examples": [{"age": "x"}]}, "Example 0: feature 'age'"),
        (
            ":regress",
            {"examples": [{"age": 1}], "signature_name": "classification"},
            "not tensorflow/serving/regress",
        ),
    ],
)
def test_bad_requests(client: Any, path: str, body: Any, needle: str) -> None:
    response = client.post("/v1/models/census" + path, json=body)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]


def test_unknown_models_and_verbs(client: Any) -> None:
    assert client.post("/v1/models/nope:predict", json={"instances": [{}]}).status_code == 404
    assert (
        client.post("/v1/models/census/versions/5:predict", json={"instances": [{}]}).status_code
        == 404
    )
    response = client.post("/v1/models/census:frobnicate", json={"instances": [{}]})
    assert response.status_code == 404 and set(response.json()) == {"error"}
    # (:explain is KServe v1's, on the same paths: tests/serving/test_explain.py)
    response = client.get("/v1/models/census:predict")
    assert response.status_code == 405 and set(response.json()) == {"error"}


def test_labels_address_versions(
    fresh: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    """TF Serving's /labels/{label}, for status, metadata, :predict, :classify and :regress;
    labels set through models.patch (versionLabels)."""
    patched = fresh.patch(
        "/v1/projects/p/models/census?updateMask=versionLabels",
        json={"versionLabels": {"stable": "v1", "canary": "2"}},
    )
    assert patched.status_code == 200, patched.text
    assert fresh.get("/v1/projects/p/models/census").json()["versionLabels"] == {
        "stable": "1",
        "canary": "2",
    }
    status = fresh.get("/v1/models/census/labels/canary").json()
    assert [s["version"] for s in status["model_version_status"]] == ["2"]
    meta = fresh.get("/v1/models/census/labels/stable/metadata").json()
    assert meta["model_spec"]["version"] == "1"
    for label, export in (("stable", "v1"), ("canary", "v2")):
        answer = fresh.post(
            f"/v1/models/census/labels/{label}:predict", json={"instances": instances}
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["predictions"] == load(exports[export]).predict_instances(instances)
    classify = fresh.post("/v1/models/census/labels/canary:classify", json={"examples": instances})
    assert classify.status_code == 200 and len(classify.json()["results"]) == len(instances)
    regress = fresh.post(
        "/v1/models/census/labels/stable:regress",
        json={"signature_name": "regression", "examples": instances},
    )
    assert regress.status_code == 200
    missing = fresh.post("/v1/models/census/labels/nope:predict", json={"instances": instances})
    assert missing.status_code == 404 and "no version label 'nope'" in missing.json()["error"]
    # A label moves at once (the patch wakes the server's poll).
    fresh.patch(
        "/v1/projects/p/models/census?updateMask=versionLabels",
        json={"versionLabels": {"stable": "v2"}},
    )
    from tests.serving import helpers

    helpers.wait_until(
        lambda: (
            fresh.get("/v1/models/census/labels/stable/metadata").json()["model_spec"]["version"]
            == "2"
        ),
        timeout=5,
    )
    assert fresh.get("/v1/models/census/labels/canary").status_code == 404
