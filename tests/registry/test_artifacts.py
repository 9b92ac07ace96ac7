"""Origins and artifact roots: fsspec URLs, allowed prefixes, leftovers of crashes."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import fsspec
import pytest

from mlengine.errors import InvalidParameterError
from mlengine.registry import Registry, VersionState, allowed_origins_from_env
from mlengine.registry.origins import check_allowed


@pytest.fixture
def memory_export(export_dir: Path) -> Iterator[str]:
    """The export uploaded to fsspec's in-memory file system."""
    fs = fsspec.filesystem("memory")
    base = f"/exports-{uuid.uuid4().hex}"
    fs.put(str(export_dir), base, recursive=True)
    yield f"memory://{base}"
    fs.rm(base, recursive=True)


def test_origin_from_an_fsspec_url(registry: Registry, memory_export: str) -> None:
    registry.create_model("census")
    version = registry.create_version("census", "v1", memory_export)
    assert version.state is VersionState.READY
    assert version.origin == memory_export
    assert Path(registry.export_dir("census"), "variables", "variables.safetensors").is_file()


def test_remote_artifact_root(
    database_url: str, export_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = f"memory://artifacts-{uuid.uuid4().hex}"
    fs = fsspec.filesystem("memory")
    with Registry(database_url, root) as registry:
        registry.create_model("census")
        version = registry.create_version("census", "v1", str(export_dir))
        assert version.path == "census/1"
        assert fs.isfile(f"{root}/census/1/saved_model.json")
        local = registry.export_dir("census", "v1")
        assert local.startswith(str(tmp_path / "home" / "cache"))
        assert (
            Path(local, "variables", "variables.safetensors").read_bytes()
            == (export_dir / "variables" / "variables.safetensors").read_bytes()
        )
        assert registry.export_dir("census", 1) == local  # cached: versions are immutable
        registry.create_version("census", "v2", str(export_dir))
        registry.delete_version("census", "v2")
        assert not fs.exists(f"{root}/census/2")
    fs.rm(root, recursive=True)


def test_unknown_protocol(registry: Registry) -> None:
    registry.create_model("census")
    with pytest.raises(InvalidParameterError, match="Cannot read origin 'nosuch://x'"):
        registry.create_version("census", "v1", "nosuch://x")
    assert registry.list_versions("census") == []


def test_allowed_origins(database_url: str, export_dir: Path, tmp_path: Path) -> None:
    allowed = [str(export_dir.parent)]
    with Registry(database_url, tmp_path / "a", allowed_origins=allowed) as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(export_dir))
        with pytest.raises(InvalidParameterError, match="not under an allowed prefix"):
            registry.create_version("census", "v2", "/etc")
        with pytest.raises(InvalidParameterError, match="not under an allowed prefix"):
            registry.create_version("census", "v2", f"{export_dir}/../../..")
        assert [v.name for v in registry.list_versions("census")] == ["v1"]


def test_check_allowed_matches_whole_segments(tmp_path: Path) -> None:
    base = tmp_path / "exports"
    (base / "1").mkdir(parents=True)
    (tmp_path / "exports-secret").mkdir()
    (base / "escape").symlink_to(tmp_path / "exports-secret")
    check_allowed(str(base / "1"), [str(base)])
    check_allowed(f"file://{base}/1", [str(base) + "/"])
    check_allowed("s3://bucket/exports/1", ["s3://bucket/exports"])
    check_allowed("/anything", None)
    for refused in (
        str(tmp_path / "exports-secret"),
        str(base / "escape"),  # a link out of the prefix
        str(base / ".." / "exports-secret"),
        "s3://bucket/exports-secret/1",
        "s3://bucket/exports/../secret",
        "gs://bucket/exports/1",
    ):
        with pytest.raises(InvalidParameterError):
            check_allowed(refused, [str(base), "s3://bucket/exports"])
    with pytest.raises(InvalidParameterError, match="allowed: none"):
        check_allowed(str(base), [])


def test_allowed_origins_from_env() -> None:
    assert allowed_origins_from_env({}) == []
    env = {"MLENGINE_ALLOWED_ORIGINS": "s3://b/exports, /data/exports ,"}
    assert allowed_origins_from_env(env) == ["s3://b/exports", "/data/exports"]


def test_collect_garbage_removes_only_leftovers(
    registry: Registry, export_dir: Path, artifact_root: Path
) -> None:
    registry.create_model("census")
    registry.create_version("census", "v1", str(export_dir))
    (artifact_root / "census" / "99").mkdir()  # a folder without a row
    (artifact_root / "census" / ".staging-5-abc").mkdir()
    (artifact_root / "gone" / "1").mkdir(parents=True)  # a model that no longer exists
    assert [v.name for v in registry.list_versions("census")] == ["v1"]  # leftovers ignored
    removed = registry.collect_garbage()
    assert sorted(removed) == ["census/.staging-5-abc", "census/99", "gone"]
    assert sorted(os.listdir(artifact_root)) == ["census"]
    assert os.listdir(artifact_root / "census") == ["1"]
    assert registry.collect_garbage() == []


def test_leftover_folder_does_not_block_a_new_version(
    registry: Registry, export_dir: Path, artifact_root: Path
) -> None:
    (artifact_root / "census" / "1").mkdir(parents=True)
    (artifact_root / "census" / "1" / "junk").write_text("from a crashed registry")
    registry.create_model("census")
    registry.create_version("census", "v1", str(export_dir))
    assert not (artifact_root / "census" / "1" / "junk").exists()
