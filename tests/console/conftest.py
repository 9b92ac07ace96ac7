"""Fixtures of the web console tests: small exports (trained once a session), ``mlengine serve``
in a subprocess over a temporary ``MLENGINE_HOME``, and headless Chromium driven by Playwright.

The browser is Debian's ``/usr/bin/chromium`` (``.ci/run`` installs it; Playwright never
downloads one). Where it or Playwright is missing the browser tests are skipped, except under
``CI=true``, where they fail: CI must run them.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.serving import helpers as sh

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
API = "/v1/projects/local"


def missing(reason: str) -> None:
    """Skip for want of the browser; under CI=true, fail instead."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}; with CI=true the browser tests must run, not skip")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def exports_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("console_exports")


@pytest.fixture(scope="session")
def exports(exports_root: Path) -> dict[str, Path]:
    """Two binary census exports that answer differently."""
    return {
        "v1": sh.train(exports_root / "v1", "binary", steps=2),
        "v2": sh.train(exports_root / "v2", "binary", steps=60),
    }


@pytest.fixture
def serve(
    tmp_path: Path, exports_root: Path
) -> Callable[..., AbstractContextManager[tuple[str, Any]]]:
    """``serve(**env)``: ``mlengine serve`` on 127.0.0.1 over a fresh ``MLENGINE_HOME``, with
    ``MLENGINE_ALLOWED_ORIGINS`` covering the exports and the test's folder; yields (base URL,
    process), and kills the process group on exit."""

    @contextmanager
    def start(**env: str) -> Iterator[tuple[str, Any]]:
        env.setdefault("MLENGINE_ALLOWED_ORIGINS", f"{exports_root},{tmp_path}")
        with sh.serve(tmp_path / "home", "--poll-interval", "0.2", **env) as started:
            yield started

    return start


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium under Playwright, closed after the module's tests: Playwright's
    sync API runs an event loop on this thread, which later ``asyncio.run`` calls (the serving
    tests) would otherwise find still running."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        missing("Playwright for Python is not installed (pip install playwright)")
    if not os.access(CHROMIUM, os.X_OK):
        missing(f"{CHROMIUM} is not installed (apt-get install chromium)")
    manager = sync_playwright().start()
    try:
        launched = manager.chromium.launch(
            executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True, timeout=60_000
        )
        try:
            yield launched
        finally:
            launched.close()
    finally:
        manager.stop()


class Page:
    """A Playwright page plus what the tests check after it: uncaught script errors and every
    URL the page requested (all must be the server's own)."""

    def __init__(self, page: Any, shots: Path) -> None:
        self.page = page
        self.shots = shots
        self.errors: list[str] = []
        self.requests: list[str] = []
        page.on("pageerror", lambda error: self.errors.append(str(error)))
        page.on("request", lambda request: self.requests.append(request.url))

    def screenshot(self, name: str) -> Path:
        """A full-page PNG in the test's output folder."""
        path = self.shots / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def answer_dialog(self, accept: bool) -> list[str]:
        """Accept or dismiss the next confirm(); returns a list that gets its message."""
        messages: list[str] = []

        def handle(dialog: Any) -> None:
            messages.append(dialog.message)
            if accept:
                dialog.accept()
            else:
                dialog.dismiss()

        self.page.once("dialog", handle)
        return messages


@pytest.fixture
def page(browser: Any, tmp_path: Path) -> Iterator[Page]:
    """A fresh browser context (its own sessionStorage) and page; closed afterwards."""
    context = browser.new_context(viewport={"width": 1280, "height": 860})
    context.set_default_timeout(20_000)
    try:
        wrapped = Page(context.new_page(), tmp_path)
        yield wrapped
    finally:
        context.close()
    assert not wrapped.errors, f"script errors on the page: {wrapped.errors}"
    local = ("http://127.0.0.1:", "data:")
    outside = [url for url in wrapped.requests if not url.startswith(local)]
    assert not outside, f"the console loaded something from outside the server: {outside}"
