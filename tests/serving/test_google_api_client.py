"""ML Engine v1 through Google's own client: google-api-python-client's ``ml`` v1 client, built
from its bundled discovery document with the endpoint pointed at the server, runs the talk's
whole flow (create model, create version and wait on the operation, set default, predict,
delete), patches, operations, and reads the server's errors as Google's."""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import pytest

from tests.serving import helpers as h


def ml_client(base_url: str) -> Any:
    """``googleapiclient.discovery.build("ml", "v1")`` at ``base_url``, without credentials."""
    if os.environ.get("CI") == "true":  # CI must not go green without the real client
        import googleapiclient.discovery as discovery
    else:
        discovery = pytest.importorskip("googleapiclient.discovery")
    import httplib2

    return discovery.build(
        "ml",
        "v1",
        http=httplib2.Http(timeout=30),
        static_discovery=True,
        client_options={"api_endpoint": base_url},
        cache_discovery=False,
    )


def wait(ml: Any, operation: dict[str, Any], timeout: float = 30.0) -> dict[str, Any]:
    """Poll an operation as a client of ML Engine does."""
    deadline = time.monotonic() + timeout
    while not operation.get("done"):
        assert time.monotonic() < deadline, operation
        time.sleep(0.05)
        operation = ml.projects().operations().get(name=operation["name"]).execute()
    return operation


def test_the_talks_flow(
    make_client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    client = make_client()
    with ml_client(client.url) as ml:
        talk(ml, exports, instances)


def talk(ml: Any, exports: dict[str, Path], instances: list[dict[str, Any]]) -> None:
    project = "projects/my-project"
    models = ml.projects().models()
    created = models.create(parent=project, body={"name": "talk", "description": "d"}).execute()
    assert created["name"] == f"{project}/models/talk"

    operation = (
        models.versions()
        .create(
            parent=f"{project}/models/talk",
            body={"name": "v1", "deploymentUri": str(exports["v2"])},
        )
        .execute()
    )
    assert operation["metadata"]["operationType"] == "CREATE_VERSION"
    done = wait(ml, operation)
    assert "error" not in done and done["response"]["state"] == "READY"
    assert done["response"]["name"] == f"{project}/models/talk/versions/v1"

    version = models.versions().setDefault(name=f"{project}/models/talk/versions/v1", body={})
    assert version.execute()["isDefault"] is True

    answer = ml.projects().predict(name=f"{project}/models/talk", body={"instances": instances})
    predictions = answer.execute()["predictions"]
    assert h.expected(exports["v2"], instances).matches(predictions)

    listed = ml.projects().operations().list(name=project).execute()["operations"]
    assert done["name"] in [o["name"] for o in listed]

    deleted = wait(
        ml, models.versions().delete(name=f"{project}/models/talk/versions/v1").execute()
    )
    assert deleted["metadata"]["operationType"] == "DELETE_VERSION" and "error" not in deleted
    gone = models.delete(name=f"{project}/models/talk").execute()
    assert gone["done"] is True and gone["metadata"]["operationType"] == "DELETE_MODEL"
    remaining = models.list(parent=project).execute().get("models", [])
    assert f"{project}/models/talk" not in [m["name"] for m in remaining]


def test_patches_and_errors(fresh: Any, exports: dict[str, Path]) -> None:
    with ml_client(fresh.url) as ml:
        patches_and_errors(ml, exports)


def patches_and_errors(ml: Any, exports: dict[str, Path]) -> None:
    from googleapiclient.errors import HttpError

    models = ml.projects().models()
    patched = models.patch(
        name="projects/p/models/census",
        updateMask="description,labels,defaultVersion.name",
        body={"description": "new", "labels": {"team": "x"}, "defaultVersion": {"name": "v2"}},
    ).execute()
    assert patched["done"] and patched["metadata"]["operationType"] == "UPDATE_MODEL"
    model = models.get(name="projects/p/models/census").execute()
    assert model["description"] == "new" and model["labels"] == {"team": "x"}
    assert model["defaultVersion"]["name"].endswith("/versions/v2")

    version = models.versions().patch(
        name="projects/p/models/census/versions/v1",
        updateMask="description",
        body={"description": "first"},
    )
    assert version.execute()["response"]["description"] == "first"

    with pytest.raises(HttpError) as missing:
        models.get(name="projects/p/models/nope").execute()
    assert missing.value.status_code == 404
    assert missing.value.reason == "Model (name=nope) not found."
    with pytest.raises(HttpError) as refused:
        models.patch(name="projects/p/models/census", updateMask="regions", body={}).execute()
    assert refused.value.status_code == 400 and "'regions'" in str(refused.value.reason)
    with pytest.raises(HttpError) as unknown:
        ml.projects().operations().get(name="projects/p/operations/create_x_y-1").execute()
    assert unknown.value.status_code == 404
    assert "Operation (name=create_x_y-1) not found" in str(unknown.value.reason)
    # The predictions keep TF Serving's {"error": "..."}: the client still reports it.
    with pytest.raises(HttpError) as bad:
        ml.projects().predict(name="projects/p/models/census", body={"instances": []}).execute()
    assert bad.value.status_code == 400
