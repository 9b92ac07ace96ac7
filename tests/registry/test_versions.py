"""Versions: numbering, the default version, deletion rules, last use (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mlengine.errors import (
    AlreadyExistsError,
    FailedPreconditionError,
    InvalidParameterError,
    NotFoundError,
)
from mlengine.registry import Registry, VersionState


@pytest.fixture
def census(registry: Registry) -> Registry:
    registry.create_model("census")
    return registry


def test_first_version_is_ready_and_default(
    census: Registry, export_dir: Path, artifact_root: Path
) -> None:
    before = datetime.now(UTC)
    version = census.create_version("census", "v1", str(export_dir), description="first")
    assert version.state is VersionState.READY
    assert (version.name, version.number, version.is_default) == ("v1", 1, True)
    assert version.origin == str(export_dir)
    assert version.path == "census/1"  # relative to the artifact root
    assert version.description == "first"
    assert before <= version.create_time <= datetime.now(UTC)
    assert version.last_use_time is None
    assert version.signature is not None and version.metrics is not None
    assert "accuracy" in version.metrics
    assert (artifact_root / "census" / "1" / "saved_model.json").is_file()
    model = census.get_model("census")
    assert model.default_version == version
    data = version.to_json()
    assert data["isDefault"] is True and data["state"] == "READY"
    assert data["deploymentUri"] == str(export_dir)
    assert set(data) >= {"name", "createTime", "isDefault", "state", "deploymentUri"}


def test_later_versions_are_not_default_until_set(census: Registry, export_dir: Path) -> None:
    census.create_version("census", "v1", str(export_dir))
    v2 = census.create_version("census", "v2", str(export_dir))
    assert (v2.number, v2.is_default) == (2, False)
    moved = census.set_default_version("census", "v2")
    assert moved.is_default
    assert census.get_model("census").default_version == moved
    assert not census.get_version("census", "v1").is_default
    assert [v.is_default for v in census.list_versions("census")] == [False, True]
    assert census.get_default_version("census").name == "v2"


def test_version_by_name_or_number(census: Registry, export_dir: Path) -> None:
    census.create_version("census", "vCMD2", str(export_dir))
    assert census.get_version("census", 1).name == "vCMD2"
    assert census.get_version("census", "1").name == "vCMD2"
    assert census.get_version("census", "vCMD2").number == 1


def test_unknown_version_and_model_are_named(census: Registry) -> None:
    with pytest.raises(NotFoundError, match=r"Model version \(name=census, version=v3\) not found"):
        census.get_version("census", "v3")
    with pytest.raises(NotFoundError, match=r"Model \(name=other\) not found"):
        census.get_version("other", "v3")
    with pytest.raises(NotFoundError, match=r"version=7\)"):
        census.delete_version("census", 7)
    with pytest.raises(NotFoundError):
        census.set_default_version("census", "v3")
    with pytest.raises(NotFoundError):
        census.touch("census", "v3")
    with pytest.raises(NotFoundError, match=r"Model \(name=other\)"):
        census.create_version("other", "v1", "/nowhere-but-checked-later")


def test_duplicate_version_name(census: Registry, export_dir: Path) -> None:
    census.create_version("census", "v1", str(export_dir))
    with pytest.raises(AlreadyExistsError, match=r"\(name=census, version=v1\) already exists"):
        census.create_version("census", "v1", str(export_dir))
    assert census.create_version("census", "v2", str(export_dir)).number == 2


def test_numbers_are_never_reused(census: Registry, export_dir: Path) -> None:
    census.create_version("census", "v1", str(export_dir))
    census.create_version("census", "v2", str(export_dir))
    census.delete_version("census", "v2")  # the newest
    assert census.create_version("census", "v3", str(export_dir)).number == 3
    census.delete_version("census", "v3")
    census.delete_version("census", "v1")  # the last one, so the default may go
    v4 = census.create_version("census", "v4", str(export_dir))
    assert (v4.number, v4.is_default) == (4, True)


def test_default_version_delete_rules(
    census: Registry, export_dir: Path, artifact_root: Path
) -> None:
    census.create_version("census", "v1", str(export_dir))
    census.create_version("census", "v2", str(export_dir))
    with pytest.raises(FailedPreconditionError, match="default version.*set-default") as info:
        census.delete_version("census", "v1")
    assert info.value.code == "FAILED_PRECONDITION"
    assert [v.name for v in census.list_versions("census")] == ["v1", "v2"]
    census.delete_version("census", "v2")
    assert not (artifact_root / "census" / "2").exists()
    census.delete_version("census", "v1")  # the default, but the last one
    assert census.get_model("census").default_version is None
    with pytest.raises(FailedPreconditionError, match="no default version"):
        census.get_default_version("census")
    assert census.list_versions("census") == []


def test_versions_are_immutable(
    census: Registry, make_export: Callable[[str], Path], tmp_path: Path
) -> None:
    origin = make_export("origin")
    census.create_version("census", "v1", str(origin))
    (origin / "saved_model.json").write_text("changed")
    shutil.rmtree(origin)
    local = Path(census.export_dir("census"))
    assert json.loads((local / "saved_model.json").read_text())["format"] == "mlengine-export"


def test_touch_records_last_use(census: Registry, export_dir: Path) -> None:
    census.create_version("census", "v1", str(export_dir))
    census.touch("census", "v1")
    first = census.get_version("census", "v1").last_use_time
    assert first is not None
    later = first + timedelta(seconds=5)
    census.touch("census", 1, when=later)
    assert census.get_version("census", "v1").last_use_time == later
    census.touch("census", "v1", when=first)  # never backwards
    assert census.get_version("census", "v1").last_use_time == later
    assert census.touch_many([("census", "v1", later + timedelta(1)), ("census", "v9", later)]) == 1
    assert census.touch_many([]) == 0


@pytest.mark.parametrize("problem", ["missing", "file", "no_manifest", "base", "not_export"])
def test_bad_origin_leaves_registry_unchanged(
    census: Registry, export_dir: Path, tmp_path: Path, artifact_root: Path, problem: str
) -> None:
    origin = tmp_path / "origin"
    expected = {
        "missing": "does not exist",
        "file": "not a directory",
        "no_manifest": "has no saved_model.json",
        "base": "export base; pass one of its exports",
        "not_export": "does not describe an mlengine export",
    }[problem]
    if problem == "file":
        origin.write_text("x")
    elif problem == "no_manifest":
        origin.mkdir()
    elif problem == "base":
        shutil.copytree(export_dir, origin / "1764130000")
    elif problem == "not_export":
        origin.mkdir()
        (origin / "saved_model.json").write_text('{"format": "tensorflow"}')
    with pytest.raises(ValueError, match=expected) as info:
        census.create_version("census", "v1", str(origin))
    assert str(origin) in str(info.value)
    assert census.list_versions("census") == []
    assert not artifact_root.exists() or not any(artifact_root.rglob("*"))
    assert census.create_version("census", "v1", str(export_dir)).number == 1


def test_export_that_does_not_load_is_failed(
    census: Registry, make_export: Callable[[str], Path], artifact_root: Path, export_dir: Path
) -> None:
    broken = make_export("broken")
    (broken / "variables" / "variables.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match=r"\(name=census, version=v1\) FAILED") as info:
        census.create_version("census", "v1", str(broken))
    assert type(info.value).__name__ == "ExportFormatError"
    failed = census.get_version("census", "v1")
    assert failed.state is VersionState.FAILED
    assert failed.error_message and "variables" in failed.error_message
    assert not failed.is_default
    assert not (artifact_root / "census" / "1").exists()
    assert not list((artifact_root / "census").glob(".staging-*"))
    with pytest.raises(FailedPreconditionError, match="only a READY version"):
        census.set_default_version("census", "v1")
    with pytest.raises(FailedPreconditionError, match="FAILED, not READY"):
        census.export_dir("census", "v1")
    v2 = census.create_version("census", "v2", str(export_dir))
    assert (v2.number, v2.is_default) == (2, True)
    census.delete_version("census", "v1")


def test_load_is_what_decides(
    census: Registry, export_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import mlengine.registry.artifacts as artifacts
    from mlengine.errors import ExportFormatError

    def refuse(path: str) -> None:
        raise ExportFormatError("weights do not match the feature columns")

    monkeypatch.setattr(artifacts, "load_export", refuse)
    with pytest.raises(ExportFormatError, match="do not match"):
        census.create_version("census", "v1", str(export_dir))
    assert census.get_version("census", "v1").state is VersionState.FAILED


def test_background_create(census: Registry, export_dir: Path) -> None:
    started = census.create_version("census", "v1", str(export_dir), wait=False)
    assert started.state in (VersionState.CREATING, VersionState.READY)
    done = census.wait_for_version("census", "v1", timeout=60)
    assert done.state is VersionState.READY and done.is_default


def test_version_name_rule(census: Registry, export_dir: Path) -> None:
    with pytest.raises(InvalidParameterError, match="Invalid version name 'v-1'"):
        census.create_version("census", "v-1", str(export_dir))
    with pytest.raises(InvalidParameterError, match="version number 0"):
        census.get_version("census", 0)
    assert census.list_versions("census") == []


def test_symlink_in_origin_is_refused(census: Registry, make_export: Callable[[str], Path]) -> None:
    origin = make_export("linked")
    (origin / "passwd").symlink_to("/etc/passwd")
    with pytest.raises(ValueError, match="symbolic link"):
        census.create_version("census", "v1", str(origin))
    assert census.get_version("census", "v1").state is VersionState.FAILED
