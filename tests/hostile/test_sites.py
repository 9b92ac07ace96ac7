"""Cross-site calls and DNS rebinding (issue 19.11), the bearer scheme's case, and which reads
stay open with a token (19.10): the rules of serving/guard.py and auth.py, over real HTTP."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import httpx
import pytest

from mlengine.registry import Registry
from mlengine.serving.guard import SiteGuard, is_loopback, split_host
from mlengine.serving.routes import Access, AccessRules
from tests.hostile import strategies as hs

REPO_ROOT = Path(__file__).resolve().parents[2]
MODELS = "/v1/projects/local/models"


@pytest.fixture
def served(registry: Registry, linear_export: Path, make_client: Any) -> Any:
    registry.create_model(hs.MODEL)
    registry.create_version(hs.MODEL, "v1", str(linear_export))
    return make_client()


def raw(client: Any, method: str, path: str, **headers: str) -> httpx.Response:
    """A request with exactly these headers (httpx's own Host replaced when one is given)."""
    return client.request(method, path, headers=headers, content=b'{"name": "x"}')


# -- management calls from another site -------------------------------------------------------


@pytest.mark.parametrize("content_type", ["text/plain", "application/json", None])
@pytest.mark.parametrize("origin", ["https://evil.example", "null", "http://127.0.0.1:1"])
def test_a_cross_site_origin_is_refused_whatever_the_content_type(
    served: Any, origin: str, content_type: str | None
) -> None:
    headers = {"Origin": origin} | ({"Content-Type": content_type} if content_type else {})
    response = raw(served, "POST", MODELS, **headers)
    assert response.status_code == 403, response.text
    assert "another site" in response.json()["error"]
    assert served.get(f"{MODELS}/x").status_code == 404  # nothing was created


def test_sec_fetch_site_cross_site_is_refused(served: Any) -> None:
    response = raw(served, "POST", f"{MODELS}/{hs.MODEL}/versions/v1:setDefault",
                   **{"Sec-Fetch-Site": "cross-site"})  # fmt: skip
    assert response.status_code == 403


def test_the_same_origin_and_curl_keep_working(served: Any) -> None:
    own = served.url  # http://127.0.0.1:PORT
    response = raw(served, "POST", MODELS, Origin=own, **{"Sec-Fetch-Site": "same-origin"})
    assert response.status_code == 200, response.text
    # curl -d '{...}' sends no content type the server cares about, and no Origin.
    curl = served.post(MODELS, content=b'{"name": "y"}',
                       headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    assert curl.status_code == 200, curl.text
    # The console's body-less :setDefault, as a browser sends it from the server's own page.
    body_less = served.post(f"{MODELS}/{hs.MODEL}/versions/v1:setDefault",
                            headers={"Origin": own, "Sec-Fetch-Site": "same-origin"})  # fmt: skip
    assert body_less.status_code == 200, body_less.text


def test_predictions_from_another_site_are_not_management(served: Any) -> None:
    body = {"instances": [hs.instance()]}
    response = served.post(f"/v1/models/{hs.MODEL}:predict", json=body,
                           headers={"Origin": "https://a.example"})  # fmt: skip
    assert response.status_code == 200


# -- Host on a loopback server ---------------------------------------------------------------


@pytest.mark.parametrize("host", ["evil.example", "rebind.attacker.test:8080", "127.0.0.2"])
@pytest.mark.parametrize(
    "path", [MODELS, f"/v1/models/{hs.MODEL}", f"/v1/models/{hs.MODEL}/metadata", "/"]
)
def test_a_foreign_host_is_refused_on_loopback(served: Any, host: str, path: str) -> None:
    response = raw(served, "GET", path, Host=host)
    assert response.status_code == 403, (path, response.text)
    assert "MLENGINE_ALLOWED_HOSTS" in response.json()["error"]


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost:8080", "[::1]:80", "LOCALHOST."])
def test_loopback_names_are_allowed(served: Any, host: str) -> None:
    assert raw(served, "GET", MODELS, Host=host).status_code == 200


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready", "/metrics"])
def test_health_and_metrics_answer_any_host(served: Any, path: str) -> None:
    assert raw(served, "GET", path, Host="10.1.2.3:8080").status_code == 200


def test_allowed_hosts_adds_names(make_client: Any) -> None:
    client = make_client(allowed_hosts=("models.example.com", ".corp.test"))
    for host in ("models.example.com", "a.corp.test:8080", "corp.test"):
        assert raw(client, "GET", MODELS, Host=host).status_code == 200, host
    assert raw(client, "GET", MODELS, Host="other.example.com").status_code == 403


def test_a_server_on_every_address_checks_host_only_when_told() -> None:
    rules = AccessRules([])
    scope = {"type": "http", "path": MODELS, "headers": [(b"host", b"10.0.0.7:8080")]}
    assert SiteGuard(rules, "0.0.0.0", ()).refusal(scope) is None
    assert SiteGuard(rules, "0.0.0.0", ("models.example.com",)).refusal(scope) is not None
    assert SiteGuard(rules, "127.0.0.1", ()).refusal(scope) is not None


def test_loopback_and_host_parsing() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.0.0.1")
    assert split_host("[::1]:8080") == ("::1", 8080)
    assert split_host("Example.COM.") == ("example.com", None)
    assert split_host("a.b:99") == ("a.b", 99)


# -- tokens ------------------------------------------------------------------------------------


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
def test_the_bearer_scheme_is_case_insensitive(make_client: Any, scheme: str) -> None:
    client = make_client(api_token="s3cret")
    assert client.get(MODELS).status_code == 401
    assert client.get(MODELS, headers={"Authorization": f"{scheme} s3cret"}).status_code == 200
    assert client.get(MODELS, headers={"Authorization": f"{scheme} wrong"}).status_code == 401
    assert client.get(MODELS, headers={"Authorization": "Basic s3cret"}).status_code == 401


def test_the_readme_lists_exactly_the_reads_open_with_a_token() -> None:
    """README's list of what answers without the token is the routes' own (serving/routes.py):
    every open or prediction-side GET, and nothing else."""
    from mlengine.serving.app import create_app

    with Registry("sqlite://", "/nonexistent-artifacts") as registry:
        app = create_app(registry)
    declared = {
        (method, re.sub(r"\{(\w+):\w+\}", r"{\1}", route.path))
        for route in app.routes
        if getattr(route, "access", None) in (Access.OPEN, Access.READ)
        for method in route.methods or ()
        if method == "GET"
    }
    readme = (REPO_ROOT / "README.md").read_text()
    section = readme.split("<!-- open-reads -->")[1].split("<!-- /open-reads -->")[0]
    listed = set(re.findall(r"`(GET) (/[^`]+)`", section))
    assert listed == declared, (sorted(listed ^ declared), sorted(declared))


def test_a_failed_versions_reason_shows_no_path_without_a_token(
    registry: Registry, linear_export: Path, tmp_path: Path, make_client: Any
) -> None:
    """19.10: the status that stays open shows why a version FAILED, never where it was."""
    import json
    import shutil

    from mlengine.errors import ExportFormatError

    export = tmp_path / "private" / "exports" / "1"
    shutil.copytree(linear_export, export)
    manifest = json.loads((export / "saved_model.json").read_text())
    manifest["signature"]["inputs"][0]["dtype"] = "float64"
    (export / "saved_model.json").write_text(json.dumps(manifest))
    registry.create_model("m")
    with pytest.raises(ExportFormatError):
        registry.create_version("m", "v1", str(export))
    client = make_client(api_token="tok")
    status = client.get("/v1/models/m")  # open: the prediction protocol's status
    assert status.status_code == 200
    message = status.json()["model_version_status"][0]["status"]["error_message"]
    assert "dtype 'float64'" in message and "<path>" in message
    assert str(tmp_path) not in status.text and "private" not in status.text
