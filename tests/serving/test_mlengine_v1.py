"""ML Engine v1 over HTTP: models and versions (create, list, get, setDefault, delete and their
rules; creation and deletion as long-running operations; Google's JSON errors) and ``:predict``
on the default or a named version, with the shapes of serving.md."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from mlengine.export import load
from mlengine.registry import Registry
from tests.serving import helpers as h

BASE = "/v1/projects/local/models"
KEYS = ["class_ids", "classes", "logistic", "logits", "probabilities"]


def google_error(response: Any) -> str:
    """The message of a Google JSON error, checked to be in that form."""
    error = response.json()["error"]
    assert isinstance(error, dict), response.text
    assert error["code"] == response.status_code and isinstance(error["status"], str)
    return str(error["message"])


def finished(client: Any, operation: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Poll an Operation (``projects/p/operations/<id>``) until it is done."""
    url = f"/v1/{operation['name']}"
    return h.wait_until(lambda: (o := client.get(url).json())["done"] and o, timeout=timeout)


def test_list_and_get_models(client: Any) -> None:
    listed = client.get(BASE).json()["models"]
    assert [m["name"] for m in listed] == [
        "projects/local/models/census",
        "projects/local/models/multi",
        "projects/local/models/reg",
    ]
    # Any project id addresses the one registry.
    census = client.get("/v1/projects/my-project/models/census").json()
    assert census["name"] == "projects/my-project/models/census"
    assert census["description"] == "two versions"
    assert census["defaultVersion"]["name"] == "projects/my-project/models/census/versions/v1"
    assert census["defaultVersion"]["isDefault"] is True
    assert census["defaultVersion"]["state"] == "READY"
    assert "createTime" in census


def test_empty_lists_answer_an_empty_object(tmp_path: Path, make_client: Any) -> None:
    with Registry(f"sqlite:///{tmp_path / 'empty.db'}", tmp_path / "a") as registry:
        client = make_client(registry)
        assert client.get(BASE).json() == {}
        client.post(BASE, json={"name": "m"})
        assert client.get(f"{BASE}/m/versions").json() == {}
        client.close()


def test_create_and_delete_model(fresh: Any) -> None:
    created = fresh.post(BASE, json={"name": "fresh", "description": "d", "labels": {"a": "b"}})
    assert created.status_code == 200, created.text
    assert created.json()["name"] == "projects/local/models/fresh"
    assert created.json()["labels"] == {"a": "b"}
    assert fresh.post(BASE, json={"name": "fresh"}).status_code == 409
    deleted = fresh.delete(f"{BASE}/fresh").json()
    assert deleted["done"] is True and deleted["metadata"]["operationType"] == "DELETE_MODEL"
    assert deleted["metadata"]["modelName"] == "projects/local/models/fresh"
    assert deleted["response"] == {"@type": "type.googleapis.com/google.protobuf.Empty"}
    assert fresh.get(f"{BASE}/fresh").status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "needle"),
    [
        ({}, 400, "'name'"),
        ({"name": 3}, 400, "'name' must be a string"),
        ({"name": "1bad"}, 400, "Invalid model name"),
        ({"name": "ok", "labels": "x"}, 400, "'labels'"),
        ({"name": "ok", "labels": {"Bad": "x"}}, 400, "label key"),
        ({"name": "census"}, 409, "already exists"),
    ],
)
def test_create_model_errors(client: Any, body: Any, status: int, needle: str) -> None:
    response = client.post(BASE, json=body)
    assert response.status_code == status
    assert needle in google_error(response)


def test_unknown_model_and_version_are_404(client: Any) -> None:
    for path in (f"{BASE}/nope", f"{BASE}/nope/versions", f"{BASE}/census/versions/v9"):
        response = client.get(path)
        assert response.status_code == 404
        assert response.json()["error"]["status"] == "NOT_FOUND"
    assert "not found" in google_error(client.get(f"{BASE}/census/versions/7"))


def test_delete_rules(fresh: Any) -> None:
    # A model with versions cannot go; the default version cannot go while others remain.
    response = fresh.delete(f"{BASE}/census")
    assert response.status_code == 400 and "still has 2 version(s)" in google_error(response)
    assert response.json()["error"]["status"] == "FAILED_PRECONDITION"
    response = fresh.delete(f"{BASE}/census/versions/v1")
    assert response.status_code == 400 and "default" in google_error(response)
    for version in ("v2", "v1"):  # the last one may go
        operation = fresh.delete(f"{BASE}/census/versions/{version}").json()
        assert operation["metadata"]["operationType"] == "DELETE_VERSION"
        assert finished(fresh, operation)["response"]["@type"].endswith("protobuf.Empty")
    assert fresh.delete(f"{BASE}/census").json()["done"] is True
    assert fresh.get(f"{BASE}/census").status_code == 404


def test_create_version_is_creating_then_ready(
    make_client: Any, exports: dict[str, Path], exports_root: Path
) -> None:
    fs = h.gated_filesystem()
    fs.gate.clear()
    origin = f"gatedfile://{exports['v2']}"
    client = make_client(allowed_origins=(f"gatedfile://{exports_root}",))
    client.app.state.ctx.registry.allowed_origins = None  # the server's own check remains
    try:
        created = client.post(
            f"{BASE}/census/versions", json={"name": "v3", "deploymentUri": origin}
        )
        assert created.status_code == 200, created.text
        operation = created.json()
        assert operation["name"].startswith("projects/local/operations/create_census_v3-")
        assert operation["done"] is False
        assert operation["metadata"]["operationType"] == "CREATE_VERSION"
        assert operation["metadata"]["version"]["name"] == (
            "projects/local/models/census/versions/v3"
        )
        assert client.get(f"{BASE}/census/versions/v3").json()["state"] == "CREATING"
        assert client.get(f"/v1/{operation['name']}").json()["done"] is False
        # While CREATING it cannot serve, be the default or be deleted.
        assert (
            client.post(f"{BASE}/census/versions/v3:predict", json={"instances": [{}]}).status_code
            == 400
        )
        assert client.post(f"{BASE}/census/versions/v3:setDefault").status_code == 400
        assert client.delete(f"{BASE}/census/versions/v3").status_code == 400
    finally:
        fs.gate.set()
    done = finished(client, operation)
    ready = done["response"]
    assert ready["@type"] == "type.googleapis.com/google.cloud.ml.v1.Version"
    assert ready["name"] == "projects/local/models/census/versions/v3"
    assert ready["state"] == "READY", ready
    assert ready["number"] == 3 and ready["isDefault"] is False
    assert "endTime" in done["metadata"]
    listed = client.get("/v1/projects/local/operations").json()["operations"]
    assert done in listed


def test_create_version_errors(client: Any, exports: dict[str, Path], tmp_path: Path) -> None:
    url = f"{BASE}/census/versions"
    outside = tmp_path / "elsewhere"
    outside.mkdir()
    cases = [
        ({"name": "v9"}, 400, "deploymentUri"),
        ({"name": "v9", "deploymentUri": str(outside)}, 400, "not under an allowed prefix"),
        ({"name": "v1", "deploymentUri": str(exports["v1"])}, 409, "already exists"),
        ({"name": "v9", "deploymentUri": str(exports["v1"].parent)}, 400, "export base"),
        ({"name": "9v", "deploymentUri": str(exports["v1"])}, 400, "Invalid version name"),
    ]
    for body, status, needle in cases:
        response = client.post(url, json=body)
        assert response.status_code == status, (body, response.text)
        message = google_error(response)
        assert needle in message, message
        assert str(tmp_path) not in message and str(exports["v1"]) not in message  # no paths
    assert client.post(f"{BASE}/nope/versions", json=cases[2][0]).status_code == 404


def test_origins_come_only_from_the_settings(make_client: Any, exports: dict[str, Path]) -> None:
    # The registry allows the origin, but the server's settings (MLENGINE_ALLOWED_ORIGINS) do not.
    client = make_client(allowed_origins=())
    response = client.post(
        f"{BASE}/census/versions", json={"name": "v3", "deploymentUri": str(exports["v2"])}
    )
    assert response.status_code == 400
    assert "allowed: none" in google_error(response)


def test_set_default_through_the_api_switches_predictions(
    fresh: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    expected = {name: load(exports[name]).predict_instances(instances) for name in ("v1", "v2")}
    url = f"{BASE}/census:predict"
    assert fresh.post(url, json={"instances": instances}).json()["predictions"] == expected["v1"]
    answer = fresh.post(f"{BASE}/census/versions/v2:setDefault", json={})
    assert answer.status_code == 200 and answer.json()["isDefault"] is True
    assert fresh.get(f"{BASE}/census").json()["defaultVersion"]["name"].endswith("/v2")

    def switched() -> bool:
        return (
            fresh.post(url, json={"instances": instances}).json()["predictions"] == expected["v2"]
        )

    h.wait_until(switched, timeout=2.0)


def test_predict_default_and_named_versions(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    v1 = load(exports["v1"]).predict_instances(instances)
    v2 = load(exports["v2"]).predict_instances(instances)
    assert v1 != v2
    for path, expected in [
        (f"{BASE}/census:predict", v1),
        (f"{BASE}/census/versions/v1:predict", v1),
        (f"{BASE}/census/versions/2:predict", v2),
        (f"{BASE}/census/versions/v2:predict", v2),
    ]:
        response = client.post(path, json={"instances": instances})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "application/json"
        body = response.json()
        assert list(body) == ["predictions"]
        assert body["predictions"] == expected
        assert sorted(body["predictions"][0]) == KEYS


def test_predict_signature_name(client: Any, instances: list[dict[str, Any]]) -> None:
    url = f"{BASE}/census:predict"
    regression = client.post(url, json={"instances": instances, "signature_name": "regression"})
    full = client.post(url, json={"instances": instances}).json()["predictions"]
    # One output: the predictions are its values themselves.
    assert regression.json()["predictions"] == [p["logistic"] for p in full]
    unknown = client.post(url, json={"instances": instances, "signature_name": "nope"})
    assert unknown.status_code == 400 and "nope" in unknown.json()["error"]


@pytest.mark.parametrize(
    ("body", "needle"),
    [
        ({}, "'instances'"),
        ({"instances": {}}, "must be a list"),
        ({"instances": []}, "empty"),
        ({"instances": [1]}, "Instance 0 must be a JSON object"),
        (
            {"instances": [{"age": 30}, {"education": "x"}]},
            "Instance 1: required feature 'age' is missing",
        ),
        ({"instances": [{"age": None}]}, "Instance 0: required feature 'age' is null"),
        ({"instances": [{"age": "old"}]}, "Instance 0: feature 'age' must be a number"),
        ({"instances": [{"age": True}]}, "feature 'age' must be a number"),
        ({"instances": [{"age": 3, "education": 7}]}, "feature 'education' must be a string"),
        ({"instances": [{"age": 3, "education": {"b64": "%%%"}}]}, "not valid base64"),
        ({"instances": [{"age": 3, "education": {"b64": "/w=="}}]}, "not UTF-8"),
        ({"instances": [{"age": [1, 2]}]}, "must be a number"),
    ],
)
def test_predict_bad_instances(client: Any, body: Any, needle: str) -> None:
    response = client.post(f"{BASE}/census:predict", json=body)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]


def test_predict_b64_and_unknown_features(client: Any, instances: list[dict[str, Any]]) -> None:
    import base64

    plain = dict(instances[0])
    wrapped = {
        **plain,
        "education": {"b64": base64.b64encode(plain["education"].encode()).decode()},
    }
    extra = {**plain, "not_a_feature": [1, 2, 3]}
    url = f"{BASE}/census:predict"
    answers = [client.post(url, json={"instances": [i]}).json() for i in (plain, wrapped, extra)]
    assert answers[0] == answers[1] == answers[2]


def test_predict_unknown_model_or_version(client: Any) -> None:
    for path in (
        f"{BASE}/nope:predict",
        f"{BASE}/census/versions/v7:predict",
        f"{BASE}/census/versions/7:predict",
    ):
        response = client.post(path, json={"instances": [{"age": 3}]})
        assert response.status_code == 404, path
        assert "not found" in response.json()["error"]


def test_model_without_default_is_400(fresh: Any) -> None:
    fresh.post(BASE, json={"name": "empty"})
    response = fresh.post(f"{BASE}/empty:predict", json={"instances": [{"age": 3}]})
    assert response.status_code == 400
    assert "no default version" in response.json()["error"]
