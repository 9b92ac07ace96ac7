"""Models: create, get, list, delete, and the rules around them (on SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from mlengine.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidParameterError,
    NotFoundError,
)
from mlengine.registry import Registry


def test_create_get_list(registry: Registry) -> None:
    before = datetime.now(UTC)
    created = registry.create_model("census", description="Census income", labels={"team": "ml"})
    assert created.name == "census"
    assert created.description == "Census income"
    assert created.labels == {"team": "ml"}
    assert created.default_version is None
    assert before <= created.create_time <= datetime.now(UTC)
    assert registry.get_model("census") == created
    registry.create_model("adult")
    assert [m.name for m in registry.list_models()] == ["adult", "census"]


def test_to_json_uses_ml_engine_fields(registry: Registry) -> None:
    model = registry.create_model("census", description="d")
    data = model.to_json()
    assert data["name"] == "census"
    assert data["createTime"].endswith("Z")
    assert "defaultVersion" not in data  # no value: left out, as ML Engine does
    assert model.to_json(project="p")["name"] == "projects/p/models/census"


def test_duplicate_model_is_refused(registry: Registry) -> None:
    registry.create_model("census")
    with pytest.raises(AlreadyExistsError, match=r"Model \(name=census\) already exists"):
        registry.create_model("census")
    with pytest.raises(AlreadyExistsError, match="ignoring case"):
        registry.create_model("Census")
    assert [m.name for m in registry.list_models()] == ["census"]


def test_unknown_model_is_named(registry: Registry) -> None:
    with pytest.raises(NotFoundError, match=r"Model \(name=nope\) not found") as info:
        registry.get_model("nope")
    assert info.value.code == "NOT_FOUND"
    with pytest.raises(NotFoundError, match="nope"):
        registry.delete_model("nope")
    with pytest.raises(NotFoundError, match="nope"):
        registry.list_versions("nope")


@pytest.mark.parametrize(
    "name",
    ["", "1abc", "_abc", "a-b", "a b", "../etc", "a/b", "a;DROP TABLE x", "é", "a" * 129, "a\n"],
)
def test_invalid_names_never_reach_the_database(
    registry: Registry, artifact_root: Path, name: str
) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid model name") as info:
        registry.create_model(name)
    assert repr(name)[:20] in str(info.value)
    assert "\n" not in str(info.value)
    for call in (registry.get_model, registry.delete_model, registry.list_versions):
        with pytest.raises(InvalidParameterError):
            call(name)
    assert registry.list_models() == []
    assert not artifact_root.exists() or not any(artifact_root.iterdir())


def test_invalid_labels_are_refused(registry: Registry) -> None:
    with pytest.raises(InvalidParameterError, match="label key 'Team'"):
        registry.create_model("census", labels={"Team": "ml"})
    with pytest.raises(InvalidParameterError, match="value 'ML'"):
        registry.create_model("census", labels={"team": "ML"})
    assert registry.list_models() == []


def test_delete_model(registry: Registry) -> None:
    registry.create_model("census")
    registry.delete_model("census")
    assert registry.list_models() == []
    with pytest.raises(NotFoundError):
        registry.get_model("census")
    registry.create_model("census")  # the name is free again


def test_delete_model_with_versions_is_refused(registry: Registry, export_dir: Path) -> None:
    registry.create_model("census")
    registry.create_version("census", "v1", str(export_dir))
    registry.create_version("census", "v2", str(export_dir))
    with pytest.raises(FailedPreconditionError, match=r"2 version\(s\) \(v1, v2\).*delete them"):
        registry.delete_model("census")
    assert registry.get_model("census").default_version is not None
    registry.set_default_version("census", "v2")
    registry.delete_version("census", "v1")
    registry.delete_version("census", "v2")
    registry.delete_model("census")
    assert registry.list_models() == []
