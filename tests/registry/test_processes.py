"""Real processes: 8 concurrent creators, and a creator killed (SIGKILL) mid-create."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from mlengine.registry import Registry, VersionState
from mlengine.registry.migrations import versions_table
from tests.registry.helpers import child_env

CREATOR = """
import json, os, sys, time
from pathlib import Path
from mlengine.errors import AlreadyExistsError
from mlengine.registry import Registry

url, root, origin, name, go = sys.argv[1:6]
Path(go + "." + name).touch()  # imported and ready
deadline = time.monotonic() + 60
while not os.path.exists(go):
    if time.monotonic() > deadline:
        sys.exit("no go signal")
    time.sleep(0.005)
with Registry(url, root) as registry:  # 8 processes opening a fresh database at once
    try:
        registry.create_model("census")
    except AlreadyExistsError:
        pass
    version = registry.create_version("census", name, origin)
print(json.dumps({"name": version.name, "number": version.number, "state": version.state}))
"""


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_eight_processes_create_versions_at_once(
    database_url: str, artifact_root: Path, export_dir: Path, tmp_path: Path
) -> None:
    go = tmp_path / "go"
    names = [f"v{i}" for i in range(8)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", CREATOR, database_url, str(artifact_root), str(export_dir)]
            + [name, str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            env=child_env(),
            text=True,
        )
        for name in names
    ]
    try:
        deadline = time.monotonic() + 120
        while not all(Path(f"{go}.{name}").exists() for name in names):
            assert all(p.poll() is None for p in procs), [p.communicate() for p in procs]
            assert time.monotonic() < deadline, "children did not start"
            time.sleep(0.02)
        go.touch()
        results = [p.communicate(timeout=120) for p in procs]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    for proc, (_out, err) in zip(procs, results, strict=True):
        assert proc.returncode == 0, err
        assert "locked" not in err.lower()
    created = [json.loads(out) for out, _ in results]
    assert sorted(c["number"] for c in created) == list(range(1, 9))
    assert {c["state"] for c in created} == {"READY"}
    with Registry(database_url, artifact_root) as registry:
        listed = registry.list_versions("census")
        assert sorted(v.name for v in listed) == sorted(names)
        assert sum(v.is_default for v in listed) == 1
        for version in listed:
            assert (artifact_root / version.path / "saved_model.json").is_file()
        assert registry.create_version("census", "v9", str(export_dir)).number == 9


KILLED = """
import os, sys, time
import fsspec
from tests.registry.helpers import SlowFileSystem
import mlengine.registry.artifacts as artifacts
from mlengine.registry import Registry

url, root, origin, phase, marker = sys.argv[1:6]
fsspec.register_implementation("slowfile", SlowFileSystem, clobber=True)
os.environ["SLOWFS_MARKER"] = marker + ".opens"
original_load, original_install = artifacts.load_export, artifacts.ArtifactStore.install

def slow_load(path):
    original_load(path)
    open(marker, "w").close()
    time.sleep(60)

def install_then_wait(self, *args, **kwargs):
    info = original_install(self, *args, **kwargs)  # files renamed into place
    open(marker, "w").close()
    time.sleep(60)
    return info

if phase == "load":
    artifacts.load_export = slow_load
elif phase == "renamed":
    artifacts.ArtifactStore.install = install_then_wait
with Registry(url, root) as registry:
    registry.create_version("census", "v2", origin)
"""


@pytest.mark.slow
@pytest.mark.timeout(120)
@pytest.mark.parametrize("phase", ["copy", "load", "renamed"])
def test_sigkill_during_create_leaves_nothing_ready_without_files(
    database_url: str, artifact_root: Path, export_dir: Path, tmp_path: Path, phase: str
) -> None:
    with Registry(database_url, artifact_root) as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(export_dir))
    marker = tmp_path / "started"
    origin = f"slowfile://{export_dir}" if phase == "copy" else str(export_dir)
    child = subprocess.Popen(
        [sys.executable, "-c", KILLED, database_url, str(artifact_root), origin, phase]
        + [str(marker)],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=child_env(),
    )
    try:
        deadline = time.monotonic() + 60
        while not _started(marker, phase):
            assert child.poll() is None, child.communicate()
            assert time.monotonic() < deadline, "the child never started copying"
            time.sleep(0.02)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.communicate(timeout=30)
    assert child.returncode == -signal.SIGKILL

    with Registry(database_url, artifact_root) as registry:  # the next command
        versions = {v.name: v for v in registry.list_versions("census")}
        assert versions["v2"].state is VersionState.FAILED
        assert "did not finish" in (versions["v2"].error_message or "")
        for version in versions.values():
            if version.state is VersionState.READY:
                assert (artifact_root / version.path / "saved_model.json").is_file()
        assert not (artifact_root / "census" / "2").exists()
        assert not list((artifact_root / "census").glob(".staging-*"))
        assert registry.get_default_version("census").name == "v1"
        assert registry.create_version("census", "v3", str(export_dir)).number == 3
        registry.delete_version("census", "v2")
        assert registry.collect_garbage() == []


def test_a_dead_deleter_is_finished_by_the_next_command(
    database_url: str, artifact_root: Path, export_dir: Path
) -> None:
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    with Registry(database_url, artifact_root) as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(export_dir))
        registry.create_version("census", "v2", str(export_dir))
    worker = f"{_hostname()}:{dead.pid}:0"
    _set_state(database_url, 2, "DELETING", worker)
    with Registry(database_url, artifact_root) as registry:
        assert [v.name for v in registry.list_versions("census")] == ["v1"]
        assert not (artifact_root / "census" / "2").exists()


def test_other_host_rows_wait_for_their_heartbeat(
    database_url: str, artifact_root: Path, export_dir: Path
) -> None:
    with Registry(database_url, artifact_root) as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(export_dir))
        registry.create_version("census", "v2", str(export_dir))
        registry.set_default_version("census", "v1")
    _set_state(database_url, 2, "CREATING", "elsewhere:1:token")
    with Registry(database_url, artifact_root) as registry:
        assert registry.get_version("census", "v2").state is VersionState.CREATING
        with pytest.raises(ValueError, match="still being created"):
            registry.delete_version("census", "v2")
    _set_state(database_url, 2, "CREATING", "elsewhere:1:token", age_s=3600)
    with Registry(database_url, artifact_root) as registry:
        assert registry.get_version("census", "v2").state is VersionState.FAILED


def _started(marker: Path, phase: str) -> bool:
    """Whether the child is where it should be killed: copying files, loading, or renamed."""
    if phase != "copy":
        return marker.exists()
    opens = Path(f"{marker}.opens")
    return opens.exists() and len(opens.read_text().splitlines()) >= 2


def _hostname() -> str:
    import socket

    return socket.gethostname()


def _set_state(database_url: str, number: int, state: str, worker: str, age_s: int = 0) -> None:
    from datetime import UTC, datetime, timedelta

    engine = sa.create_engine(database_url, poolclass=sa.pool.NullPool)
    with engine.begin() as conn:
        conn.execute(
            versions_table.update()
            .where(versions_table.c.number == number)
            .values(
                state=state,
                worker=worker,
                heartbeat_time=datetime.now(UTC) - timedelta(seconds=age_s),
            )
        )
    engine.dispose()
