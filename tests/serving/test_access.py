"""Access and operation: bearer tokens (health, readiness and /metrics stay open), the body
limit (413), 404/405 as JSON, error bodies without paths or tracebacks, Prometheus metrics."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

TOKEN = "s3cret-token"
BASE = "/v1/projects/local/models"
OPEN = [
    ("GET", "/v2/health/live"),
    ("GET", "/v2/health/ready"),
    ("GET", "/v2/models/census/ready"),
    ("GET", "/v2/models/census/versions/1/ready"),
    ("GET", "/metrics"),
]
PREDICTION = [
    ("POST", f"{BASE}/census:predict"),
    ("POST", f"{BASE}/census/versions/v1:predict"),
    ("POST", "/v1/models/census:predict"),
    ("POST", "/v1/models/census:classify"),
    ("POST", "/v1/models/census/versions/2:regress"),
    ("GET", "/v1/models/census"),
    ("GET", "/v1/models/census/metadata"),
    ("POST", "/v2/models/census/infer"),
    ("GET", "/v2/models/census"),
    ("GET", "/v2"),
    ("GET", "/v2/models/census/config"),
    ("GET", "/v2/models/stats"),
    ("POST", "/v2/repository/index"),
    ("POST", f"{BASE}/census:explain"),
    ("POST", "/v1/models/census:explain"),
    ("GET", "/v1/models/census/labels/stable"),
    ("GET", "/v1/models"),
]
MANAGEMENT = [
    ("GET", BASE),
    ("POST", BASE),
    ("GET", f"{BASE}/census"),
    ("PATCH", f"{BASE}/census"),
    ("DELETE", f"{BASE}/census"),
    ("GET", f"{BASE}/census/versions"),
    ("POST", f"{BASE}/census/versions"),
    ("GET", f"{BASE}/census/versions/v1"),
    ("PATCH", f"{BASE}/census/versions/v1"),
    ("DELETE", f"{BASE}/census/versions/v2"),
    ("POST", f"{BASE}/census/versions/v2:setDefault"),
    ("GET", "/v1/projects/local/operations"),
    ("GET", "/v1/projects/local/operations/create_census_v1-1"),
    ("POST", "/v1/projects/local/operations/create_census_v1-1:cancel"),
    ("GET", "/no/such/path"),
]


def error_message(response: httpx.Response) -> str:
    """The message of either error form: Google's on ML Engine's management routes
    (``/v1/projects/...``), ``{"error": "..."}`` elsewhere."""
    error = response.json()["error"]
    if response.request.url.path.startswith("/v1/projects/"):
        assert error["code"] == response.status_code and error["status"], response.text
        return str(error["message"])
    assert isinstance(error, str), response.text
    return error


def _body(path: str, instances: list[dict[str, Any]]) -> Any:
    if path.endswith("/infer"):
        return {"inputs": [{"name": "age", "shape": [1], "datatype": "FP32", "data": [30]}]}
    if path.endswith((":classify", ":regress")):
        return {"examples": instances}
    return {"instances": instances}


def _call(client: Any, method: str, path: str, instances: Any, **headers: str) -> httpx.Response:
    body = _body(path, instances) if method == "POST" else None
    return client.request(method, path, json=body, headers=headers)


@pytest.fixture
def protected(make_client: Any) -> Iterator[Any]:
    yield make_client(api_token=TOKEN)


def test_token_guards_management_only(protected: Any, instances: list[dict[str, Any]]) -> None:
    for method, path in MANAGEMENT:
        response = _call(protected, method, path, instances)
        assert response.status_code == 401, (method, path)
        assert response.headers["www-authenticate"].startswith("Bearer")
        assert "Authorization: Bearer" in error_message(response)
        wrong = _call(protected, method, path, instances, authorization="Bearer nope")
        assert wrong.status_code == 401 and "not valid" in error_message(wrong)
    for method, path in OPEN + PREDICTION:
        # Let through (no label "stable" here: a 404, not a 401).
        assert _call(protected, method, path, instances).status_code in (200, 400, 404), path
    good = {"authorization": f"Bearer {TOKEN}"}
    assert protected.get(BASE, headers=good).status_code == 200
    assert protected.get(f"{BASE}/census/versions/v1", headers=good).status_code == 200


def test_protect_predict(make_client: Any, instances: list[dict[str, Any]]) -> None:
    client = make_client(api_token=TOKEN, protect_predict=True)
    for method, path in PREDICTION + MANAGEMENT:
        assert _call(client, method, path, instances).status_code == 401, path
    for method, path in OPEN:
        assert _call(client, method, path, instances).status_code == 200, path
    authorized = _call(
        client, "POST", f"{BASE}/census:predict", instances, authorization=f"Bearer {TOKEN}"
    )
    assert authorized.status_code == 200


def test_settings_read_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from mlengine.serving import ServeSettings

    monkeypatch.setenv("MLENGINE_API_TOKEN", "t")
    monkeypatch.setenv("MLENGINE_PROTECT_PREDICT", "1")
    monkeypatch.setenv("MLENGINE_ALLOWED_ORIGINS", "/a, s3://b/c")
    settings = ServeSettings.from_env(port=9000)
    assert (settings.api_token, settings.protect_predict, settings.port) == ("t", True, 9000)
    assert settings.allowed_origins == ("/a", "s3://b/c")
    assert settings.host == "127.0.0.1"
    monkeypatch.setenv("MLENGINE_API_TOKEN", " ")
    with pytest.raises(ValueError, match="empty"):
        ServeSettings.from_env()


def test_body_limit(make_client: Any, instances: list[dict[str, Any]]) -> None:
    client = make_client(max_body_bytes=2000)
    url = f"{BASE}/census:predict"
    assert client.post(url, json={"instances": instances[:1]}).status_code == 200
    big = {"instances": instances * 50}
    response = client.post(url, json=big)
    assert response.status_code == 413
    assert "limit of 2000 bytes" in response.json()["error"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"instances": ['
        for _ in range(100):
            yield b'{"age": 30, "education": "Bachelors"},'
        yield b'{"age": 30}]}'

    response = client.post(url, content=chunks())
    assert response.status_code == 413
    for path in ("/v1/models/census:predict", "/v2/models/census/infer", BASE):
        assert client.post(path, json=big).status_code == 413, path
    assert client.post(url, json={"instances": instances[:1]}).status_code == 200


def test_default_body_limit_is_ml_engines(client: Any, instances: list[dict[str, Any]]) -> None:
    import json

    def body(count: int) -> bytes:
        return json.dumps({"instances": [instances[0]] * count}).encode()

    limit = 1_572_864
    count = limit // len(json.dumps(instances[0])) + 10
    assert len(body(count)) > limit
    response = client.post(f"{BASE}/census:predict", content=body(count))
    assert response.status_code == 413
    fits = client.post(f"{BASE}/census:predict", content=body(count // 2))
    assert fits.status_code == 200 and len(fits.json()["predictions"]) == count // 2


def test_404_and_405_are_json(client: Any) -> None:
    for method, path, status in [
        ("GET", "/nowhere", 404),
        ("POST", "/v1/models/census:unknownverb", 404),
        ("GET", "/v1/models/census:predict", 405),
        ("PUT", f"{BASE}/census", 405),
        ("DELETE", "/v2/models/census/infer", 405),
        ("POST", "/v2/health/live", 405),
        ("GET", "/v1/models/bad-name", 404),
    ]:
        response = client.request(method, path)
        assert response.status_code == status, (method, path)
        assert response.headers["content-type"] == "application/json"
        assert set(response.json()) == {"error"}


def test_errors_never_leak_paths_or_tracebacks(
    fresh: Any, registry: Any, instances: list[dict[str, Any]], tmp_path: Any
) -> None:
    from pathlib import Path

    weights = Path(registry.export_dir("census", "v2")) / "variables" / "variables.safetensors"
    weights.write_bytes(b"garbage")
    responses = [
        fresh.post(f"{BASE}/census/versions/v2:predict", json={"instances": instances}),
        fresh.post(f"{BASE}/census/versions", json={"name": "x", "deploymentUri": str(tmp_path)}),
        fresh.post(f"{BASE}/census:predict", content=b"\xff\xfe{"),
    ]
    for response in responses:
        text = response.text
        assert 400 <= response.status_code < 600
        assert "Traceback" not in text and 'File "' not in text
        assert str(tmp_path) not in text and str(registry.artifact_root) not in text
        assert "/tmp/" not in text and "/home/" not in text


def test_metrics(fresh: Any, instances: list[dict[str, Any]]) -> None:
    for _ in range(3):
        fresh.post(f"{BASE}/census:predict", json={"instances": instances})
    fresh.post("/v1/models/census/versions/2:predict", json={"instances": instances})
    fresh.post("/v2/models/census/infer", json={"inputs": []})
    fresh.post(f"{BASE}/census:predict", json={"instances": "x"})
    fresh.post(f"{BASE}/nope:predict", json={"instances": instances})
    response = fresh.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    census = 'model="census",protocol="mlengine_v1"'
    for line in [
        f'mlengine_requests_total{{{census},version="v1"}} 4.0',
        'mlengine_requests_total{model="census",protocol="tfserving",version="v2"} 1.0',
        f'mlengine_instances_total{{{census},version="v1"}} 9.0',
        'mlengine_request_errors_total{model="census",protocol="v2",status="400",version="v1"} 1.0',
        f'mlengine_request_errors_total{{{census},status="400",version="v1"}} 1.0',
        'mlengine_request_errors_total{model="",protocol="mlengine_v1",status="404",version=""} 1',
        f'mlengine_request_latency_seconds_count{{{census},version="v1"}} 4.0',
    ]:
        assert line in text, line  # (a prefix of the line: "1" matches "1.0")
    assert "mlengine_batch_size_instances_bucket" in text
    assert 'mlengine_version_load_seconds_count{model="census",version="v1"} 1.0' in text


def test_prediction_posts_skip_the_middleware_and_other_posts_do_not() -> None:
    import asyncio

    from starlette.responses import PlainTextResponse
    from starlette.routing import BaseRoute

    from mlengine.serving.app import PredictionFastPath
    from mlengine.serving.routes import Access, ApiRoute

    async def predict(_request: Any) -> PlainTextResponse:
        return PlainTextResponse("route")

    async def rest_of_the_app(scope: Any, receive: Any, send: Any) -> None:
        await PlainTextResponse("app")(scope, receive, send)

    routes: list[BaseRoute] = [
        ApiRoute("POST", "/m:predict", predict, Access.PREDICT),
        ApiRoute("POST", "/m", predict, Access.MANAGE),  # not a prediction: never shortcut
        ApiRoute("GET", "/m/infer", predict, Access.READ),  # not a POST route
    ]
    fast_path = PredictionFastPath(routes)

    async def app(scope: Any, receive: Any, send: Any) -> None:
        if not await fast_path.handle(scope, receive, send):
            await rest_of_the_app(scope, receive, send)

    async def answers() -> list[str]:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
            calls = [
                ("POST", "/m:predict"),
                ("GET", "/m:predict"),
                ("POST", "/m"),
                ("GET", "/m/infer"),
            ]
            return [(await client.request(method, path)).text for method, path in calls]

    assert asyncio.run(answers()) == ["route", "app", "app", "app"]


def test_access_rules_come_from_the_declared_routes(tmp_path: Any) -> None:
    from mlengine.registry import Registry
    from mlengine.serving import ServeSettings, create_app
    from mlengine.serving.routes import Access, AccessRules, ApiRoute

    with Registry(f"sqlite:///{tmp_path / 'r.db'}", tmp_path / "artifacts") as registry:
        routes = create_app(registry, ServeSettings()).routes
    assert all(isinstance(route, ApiRoute) for route in routes)
    rules = AccessRules(routes)
    assert {path: rules.access(path) for _, path in OPEN} == {p: Access.OPEN for _, p in OPEN}
    for _, path in PREDICTION:
        assert rules.access(path) in (Access.READ, Access.PREDICT), path
    for _, path in MANAGEMENT:
        assert rules.access(path) is Access.MANAGE, path
    # Every prediction POST, and nothing else, is a PREDICT route (the fast path's).
    predict = {r.path for r in routes if isinstance(r, ApiRoute) and r.access is Access.PREDICT}
    assert predict == {
        r.path for r in routes if isinstance(r, ApiRoute) and r.endpoint.__name__ in
        ("predict", "classify", "regress", "infer", "explain")
    }  # fmt: skip


def test_every_refused_request_is_counted(make_client: Any, instances: list[Any]) -> None:
    """401s, unknown paths, wrong methods, bodies over the limit and bad binary bodies: each
    refusal counts once, by protocol and status, next to process and Python metrics; the whole
    exposition parses with prometheus_client's own parser."""
    from prometheus_client.parser import text_string_to_metric_families

    client = make_client(api_token=TOKEN, max_body_bytes=4000)
    client.get(BASE)  # 401 (management without the token)
    client.get("/no/such/path")  # 401: a path no route declares is a management call
    good = {"authorization": f"Bearer {TOKEN}"}
    client.get("/no/such/path", headers=good)  # 404
    client.put("/v2/health/live")  # 405
    client.post(f"{BASE}/census:predict", json={"instances": instances * 100})  # 413
    client.post(  # 400: the header says more than the body holds
        "/v2/models/census/infer",
        content=b"{}",
        headers={"Inference-Header-Content-Length": "99"},
    )
    families = {
        family.name: family
        for family in text_string_to_metric_families(client.get("/metrics").text)
    }
    refused = {
        (s.labels["protocol"], s.labels["status"]): s.value
        for s in families["mlengine_refused_requests"].samples
        if s.name.endswith("_total")
    }
    assert refused == {
        ("mlengine_v1", "401"): 1,
        ("other", "401"): 1,
        ("other", "404"): 1,
        ("v2", "405"): 1,
        ("mlengine_v1", "413"): 1,
        ("v2", "400"): 1,
    }
    assert {"process_cpu_seconds", "process_resident_memory_bytes", "python_info"} <= set(families)
    assert any(name.startswith("python_gc") for name in families)
