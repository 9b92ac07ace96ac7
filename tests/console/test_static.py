"""The console over plain HTTP: every page and file loads without the API token (they hold no
data), nothing in them points outside the server, values from the URL are escaped, and the API
behind them stays guarded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.serving import helpers as h

pytestmark = pytest.mark.timeout(60)
TOKEN = "console-token"
PAGES = [
    "/",
    "/models/census",
    "/models/census/new-version",
    "/models/census/versions/v1",
    "/models/census/compare",
    "/jobs",
    "/jobs/train_1",
]
STATIC = {"/static/console.js": "text/javascript", "/static/console.css": "text/css"}
ABSOLUTE_URL = re.compile(r"https?://", re.IGNORECASE)
# The SVG namespace: a name the charts' elements are created in, never fetched.
SVG_NAMESPACE = "http://www.w3.org/2000/svg"


@pytest.fixture
def protected(tmp_path: Path) -> Iterator[Any]:
    """An in-process server with an API token, over an empty registry."""
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts") as registry:
        client = h.LiveClient(create_app(registry, ServeSettings(api_token=TOKEN)))
        try:
            yield client
        finally:
            client.close()


def test_pages_and_files_load_without_the_token(protected: Any) -> None:
    for path in PAGES:
        response = protected.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html"), path
        assert "default-src 'none'" in response.headers["content-security-policy"]
        html = response.text
        assert '<script src="/static/console.js" defer></script>' in html
        assert '<link rel="stylesheet" href="/static/console.css">' in html
        assert "<main>" in html and 'lang="en"' in html
    for path, media_type in STATIC.items():
        response = protected.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith(media_type), path
        assert protected.head(path).status_code == 200
    # The API behind the pages still needs the token; other methods and paths reach it.
    assert protected.get("/v1/projects/local/models").status_code == 401
    assert protected.get("/v1/projects/local/jobs").status_code == 401
    assert protected.post("/", json={}).status_code == 401
    assert protected.get("/static/other.js").status_code == 404
    assert protected.get("/static/../app.py").status_code in (401, 404)


def test_nothing_points_outside_the_server(protected: Any) -> None:
    """No CDN, font or script from elsewhere: every reference is relative to the server."""
    texts = {path: protected.get(path).text for path in [*PAGES, *STATIC]}
    assert texts["/static/console.js"].count(SVG_NAMESPACE) == 1
    for path, text in texts.items():
        found = ABSOLUTE_URL.findall(text.replace(SVG_NAMESPACE, ""))
        assert not found, f"{path} names an absolute URL: {found}"
        for attribute in re.findall(r'(?:src|href)="([^"]*)"', text):
            assert attribute.startswith(("/", "data:")), (path, attribute)
    assert "@import" not in texts["/static/console.css"]
    assert "url(" not in texts["/static/console.css"]
    script = texts["/static/console.js"]
    assert not re.search(r"\.(?:inner|outer)HTML\b|insertAdjacentHTML|document\.write", script)


def test_values_from_the_url_are_escaped(protected: Any) -> None:
    html = protected.get("/models/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E").text
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    quoted = protected.get('/models/a"b/versions/x').text
    assert 'data-model="a&#34;b"' in quoted


def test_missing_things_are_404_without_a_token(tmp_path: Path) -> None:
    """Without a token the pages look: what does not exist is a 404 page with nothing to act
    on. (With one they answer their shell, as above: looking would tell anyone what exists.)"""
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts") as registry:
        registry.create_model("census")
        client = h.LiveClient(create_app(registry, ServeSettings()))
        try:
            for path, text in [
                ("/models/nope", "Model nope does not exist."),
                ("/models/nope/compare", "Model nope does not exist."),
                ("/models/census/versions/v1", "Version v1 of model census does not exist."),
                ("/jobs/nope", "Job nope does not exist."),
                ("/jobs/no-such-job", "Job no-such-job does not exist."),  # not even an id
            ]:
                response = client.get(path)
                assert response.status_code == 404, path
                assert response.headers["content-type"].startswith("text/html")
                assert "default-src 'none'" in response.headers["content-security-policy"]
                assert text in response.text and "Create version" not in response.text
            assert client.get("/models/census").status_code == 200
            assert client.get("/models/census/compare").status_code == 200
        finally:
            client.close()


def test_the_evidence_route_is_a_management_call(protected: Any) -> None:
    path = "/v1/projects/local/models/census/versions/v1/evidence"
    assert protected.get(path).status_code == 401
    answer = protected.get(path, headers={"Authorization": f"Bearer {TOKEN}"})
    assert answer.status_code == 404
    assert answer.json()["error"]["status"] == "NOT_FOUND"


def test_the_tensorboard_url_reaches_the_pages(tmp_path: Path) -> None:
    url = "http://127.0.0.1:6006/?logdir={logdir}"
    settings = ServeSettings.from_env({"MLENGINE_TENSORBOARD_URL": url})
    assert settings.tensorboard_url == url
    with Registry(f"sqlite:///{tmp_path / 'registry.db'}", tmp_path / "artifacts") as registry:
        client = h.LiveClient(create_app(registry, settings))
        try:
            html = client.get("/jobs").text
        finally:
            client.close()
    assert 'data-tensorboard="http://127.0.0.1:6006/?logdir={logdir}"' in html
