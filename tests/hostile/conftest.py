"""Fixtures of the hostile suite: small real exports (trained once a session) to craft from, a
registry over them and live servers. Nothing here reads the developer's registry or token."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.export import helpers as export_helpers
from tests.serving import helpers as serving_helpers


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    serving_helpers.clean_env(monkeypatch, tmp_path / "home")
    for name in ("MLENGINE_ALLOWED_HOSTS", "MLENGINE_MAX_MODEL_BYTES", "MLENGINE_MAX_EXPORT_BYTES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("MLENGINE_MAX_ASSET_BYTES", raising=False)


@pytest.fixture(scope="session")
def exports_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("hostile_exports")


@pytest.fixture(scope="session")
def linear_export(exports_root: Path) -> Path:
    """A LinearClassifier: age, hours_per_week (default 40), education (vocabulary),
    occupation (hashed). Read only: copy it before crafting."""
    return serving_helpers.train(exports_root / "linear", "binary", steps=4)


@pytest.fixture(scope="session")
def other_export(exports_root: Path) -> Path:
    """A second version of the same model, trained longer (it answers differently)."""
    return serving_helpers.train(exports_root / "other", "binary", steps=30)


@pytest.fixture(scope="session")
def wide_deep_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tutorial's Wide & Deep (hidden units, embeddings, crosses, boundaries, a vocabulary
    file): every size a manifest can state. Read only."""
    return export_helpers.wide_deep(tmp_path_factory.mktemp("hostile_wide_deep")).export_dir


@pytest.fixture(scope="session")
def vocabulary_file_export(exports_root: Path) -> Path:
    """A LinearClassifier whose education column reads a vocabulary file (an asset). Read
    only."""
    from mlengine import feature_column as fc

    vocabulary = exports_root / "education.txt"
    vocabulary.write_text("".join(f"{v}\n" for v in serving_helpers.EDUCATION))
    columns = [
        fc.numeric_column("age"),
        fc.categorical_column_with_vocabulary_file("education", str(vocabulary)),
    ]
    return export_helpers.small(exports_root / "vocabulary_file", "binary", columns).export_dir


@pytest.fixture
def registry(tmp_path: Path, exports_root: Path) -> Iterator[Registry]:
    with Registry(
        f"sqlite:///{tmp_path / 'registry.db'}",
        tmp_path / "artifacts",
        allowed_origins=[str(exports_root), str(tmp_path)],
    ) as opened:
        yield opened


@pytest.fixture
def settings(exports_root: Path, tmp_path: Path) -> ServeSettings:
    return ServeSettings(
        poll_interval=0.05,
        model_threads=2,
        touch_interval=60.0,
        allowed_origins=(str(exports_root), str(tmp_path)),
    )


@pytest.fixture
def make_client(registry: Registry, settings: ServeSettings) -> Iterator[Callable[..., Any]]:
    """Serve the app (settings changed by keyword) in this process; stopped afterwards."""
    opened: list[Any] = []

    def make(**changes: Any) -> Any:
        app = create_app(registry, dataclasses.replace(settings, **changes))
        opened.append(serving_helpers.LiveClient(app))
        return opened[-1]

    yield make
    for client in reversed(opened):
        client.close()
