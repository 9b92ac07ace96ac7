"""Fixtures of the server tests: small exports (trained once a session), a registry holding them,
and the app served by uvicorn on 127.0.0.1 in a thread, with an httpx client (``client``)."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.serving import helpers


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    helpers.clean_env(monkeypatch, tmp_path / "home")


@pytest.fixture(scope="session")
def exports_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("serving_exports")


@pytest.fixture(scope="session")
def exports(exports_root: Path) -> dict[str, Path]:
    """Two binary versions that answer differently, a 3-class and a regression model."""
    return {
        "v1": helpers.train(exports_root / "v1", "binary", steps=2),
        "v2": helpers.train(exports_root / "v2", "binary", steps=60),
        "multiclass": helpers.train(exports_root / "multiclass", "multiclass", steps=10),
        "regression": helpers.train(exports_root / "regression", "regression", steps=10),
    }


def populate(registry: Registry, exports: dict[str, Path]) -> Registry:
    """``census`` (v1 default, v2), ``multi`` (v1) and ``reg`` (v1), all READY."""
    registry.create_model("census", description="two versions")
    registry.create_version("census", "v1", str(exports["v1"]))
    registry.create_version("census", "v2", str(exports["v2"]))
    registry.create_model("multi")
    registry.create_version("multi", "v1", str(exports["multiclass"]))
    registry.create_model("reg")
    registry.create_version("reg", "v1", str(exports["regression"]))
    return registry


@pytest.fixture
def registry(tmp_path: Path, exports: dict[str, Path], exports_root: Path) -> Iterator[Registry]:
    """A fresh registry of the test's own (see :func:`populate`)."""
    with Registry(
        f"sqlite:///{tmp_path / 'registry.db'}",
        tmp_path / "artifacts",
        allowed_origins=[str(exports_root)],
    ) as opened:
        yield populate(opened, exports)


@pytest.fixture
def settings(exports_root: Path) -> ServeSettings:
    return ServeSettings(
        poll_interval=0.05,
        model_threads=2,
        touch_interval=60.0,
        allowed_origins=(str(exports_root),),
    )


@pytest.fixture
def make_client(registry: Registry, settings: ServeSettings) -> Iterator[Callable[..., Any]]:
    """Serve the app with settings changed by keyword; every server is stopped afterwards."""
    opened: list[Any] = []

    def make(registry: Registry = registry, **changes: Any) -> Any:
        app = create_app(registry, dataclasses.replace(settings, **changes))
        opened.append(helpers.LiveClient(app))
        return opened[-1]

    yield make
    for client in reversed(opened):
        client.close()


@pytest.fixture
def fresh(make_client: Callable[..., Any]) -> Any:
    """A client of a server over the test's own ``registry``: for tests that change state."""
    return make_client()


@pytest.fixture(scope="session")
def client(
    tmp_path_factory: pytest.TempPathFactory, exports: dict[str, Path], exports_root: Path
) -> Iterator[Any]:
    """A client of one server shared by the tests that only read (never change its registry
    or depend on its metrics): starting a server per test would cost more than the tests."""
    root = tmp_path_factory.mktemp("shared_registry")
    with Registry(
        f"sqlite:///{root / 'registry.db'}", root / "artifacts", allowed_origins=[str(exports_root)]
    ) as registry:
        populate(registry, exports)
        settings = ServeSettings(poll_interval=0.05, allowed_origins=(str(exports_root),))
        shared = helpers.LiveClient(create_app(registry, settings))
        try:
            yield shared
        finally:
            shared.close()


@pytest.fixture
def instances() -> list[dict[str, Any]]:
    return helpers.instances(3)
