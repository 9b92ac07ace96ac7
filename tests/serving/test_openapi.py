"""The OpenAPI document: derived from the declared routes, served at /openapi.json, and kept in
docs/openapi.json, which must list every route (a route missing from it fails here)."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from mlengine.serving import openapi
from mlengine.serving.routes import Access, ApiRoute

CHECKED_IN = Path(__file__).resolve().parents[2] / "docs" / "openapi.json"


def declared(client: Any) -> set[tuple[str, str]]:
    """(method, path) of every route the app declares, path parameters as {name}."""
    return {
        (route.method.lower(), re.sub(r"{(\w+):\w+}", r"{\1}", route.path))
        for route in client.app.routes
        if isinstance(route, ApiRoute)
    }


def operations(document: dict[str, Any]) -> set[tuple[str, str]]:
    return {(method, path) for path, item in document["paths"].items() for method in item}


def test_the_checked_in_document_lists_every_route(client: Any) -> None:
    kept = json.loads(CHECKED_IN.read_text())
    missing = declared(client) - operations(kept)
    assert not missing, (
        f"docs/openapi.json lacks {sorted(missing)}: run "
        "python -m mlengine.serving.openapi > docs/openapi.json"
    )
    assert CHECKED_IN.read_text() == openapi.render(client.app.routes), "docs/openapi.json is stale"


def test_served_document(client: Any) -> None:
    answer = client.get("/openapi.json")
    assert answer.status_code == 200
    document = answer.json()
    assert document["openapi"].startswith("3.") and operations(document) == declared(client)
    predict = document["paths"]["/v1/projects/{project}/models/{model}:predict"]["post"]
    assert predict["x-mlengine-access"] == Access.PREDICT.value
    assert predict["responses"]["default"]["content"]["application/json"]["schema"]["properties"][
        "error"
    ] == {"type": "string"}
    model = document["paths"]["/v1/projects/{project}/models/{model}"]
    assert set(model) == {"get", "patch", "delete"}
    assert model["get"]["security"] == [{"bearer": []}]
    google = model["get"]["responses"]["default"]["content"]["application/json"]["schema"]
    assert google["properties"]["error"]["required"] == ["code", "message", "status"]
    [parameter] = [p for p in model["get"]["parameters"] if p["name"] == "model"]
    assert parameter["schema"]["pattern"] == "^[A-Za-z][A-Za-z0-9_]*$"
    infer = document["paths"]["/v2/models/{model}/infer"]["post"]
    assert "application/octet-stream" in infer["requestBody"]["content"]
    summaries = [op["summary"] for item in document["paths"].values() for op in item.values()]
    assert all(summaries) and len(
        {op["operationId"] for item in document["paths"].values() for op in item.values()}
    ) == len(summaries)
