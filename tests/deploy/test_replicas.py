"""Replicas stay consistent: real ``mlengine serve`` processes on 127.0.0.1, started with the
image's command line and the Deployment's environment variables, sharing one PostgreSQL
database (a fresh schema per test) and one artifact folder, as pods share them in a cluster.
Versions are registered by running the registration Job's own script.

* A default set through one replica, or by the Job (the CLI), is served by every replica
  within the pick-up interval; a replica killed like a failed node leaves the others serving.
* A replica whose database is unreachable at start stays up, live and not ready, retries, and
  becomes ready when the database comes back; SIGTERM still stops it cleanly.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import make_url

from mlengine.registry import Registry
from tests.deploy import helpers as h
from tests.serving import helpers as sh

PICKUP = 2.0 + 5.0  # the server's promise ("within 2 seconds"), plus generous slack for a
# loaded machine (one can stall a process for seconds)
TOKEN = "deploy-test-token"
INSTANCES_COUNT = 3


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three versions of one binary model that answer differently."""
    root = tmp_path_factory.mktemp("deploy_exports")
    return {
        "v1": sh.train(root / "v1", "binary", steps=2),
        "v2": sh.train(root / "v2", "binary", steps=60),
        "v3": sh.train(root / "v3", "binary", steps=20),
    }


@pytest.fixture(scope="module")
def expected(exports: dict[str, Path]) -> dict[str, Any]:
    """Each version's predictions of the test instances, computed locally."""
    instances = sh.instances(INSTANCES_COUNT)
    found = {name: sh.expected(path, instances) for name, path in exports.items()}
    for a in found:
        for b in found:
            if a != b:
                assert not found[a].matches(found[b].predictions), f"{a} and {b} agree"
    return found


class Cluster:
    """What the pods of deploy/kubernetes share, on this machine: one database (``pg_url``)
    and one store folder (the ReadWriteMany claim) with ``artifacts/`` and ``exports/``."""

    def __init__(self, h: ModuleType, sh: ModuleType, root: Path, database_url: str) -> None:
        self.h = h
        self.sh = sh
        self.root = root
        self.database_url = database_url
        self.store = root / "store"
        (self.store / "exports").mkdir(parents=True)
        self.servers: list[Any] = []

    def server_env(self, name: str, database_url: str | None = None) -> dict[str, str]:
        """Local values for exactly the variables the Deployment sets (drift fails here)."""
        local = {
            "MLENGINE_DATABASE_URL": database_url or self.database_url,
            "MLENGINE_API_TOKEN": TOKEN,
            "MLENGINE_ARTIFACT_ROOT": str(self.store / "artifacts"),
            "MLENGINE_ALLOWED_ORIGINS": str(self.store / "exports"),
            "MLENGINE_HOME": str(self.root / f"home-{name}"),
        }
        assert set(self.h.env_of(self.h.server_container())) == set(local)
        return local

    def start(self, name: str, database_url: str | None = None) -> Any:
        """A replica: the image's CMD, on 127.0.0.1 and a free port instead of 0.0.0.0:8080
        (the last --host/--port win); returns the ServerProcess (not yet waited for)."""
        cmd = self.h.Dockerfile.read().cmd()
        assert cmd[:2] == ["mlengine", "serve"]
        env = self.server_env(name, database_url)
        server = self.sh.ServerProcess(
            [*cmd[2:], "--host", "127.0.0.1", "--port", "0"],
            self.sh.child_env(Path(env["MLENGINE_HOME"]), **env),
        )
        self.servers.append(server)
        return server

    def copy_export(self, export: Path, name: str) -> str:
        """``kubectl cp`` of an export onto the shared volume; returns its path there."""
        target = self.store / "exports" / "census" / name
        shutil.copytree(export, target)
        return str(target)

    def run_job(self, **settings: str) -> subprocess.CompletedProcess[str]:
        """The registration Job: its script and environment, with local values."""
        container = self.h.job_container()
        manifest_env = self.h.env_of(container)
        assert set(settings) <= set(manifest_env), set(settings) - set(manifest_env)
        env = {k: v for k, v in os.environ.items() if not k.startswith("MLENGINE_")}
        env.update({k: e["value"] for k, e in manifest_env.items() if "value" in e})
        local = {
            "MLENGINE_DATABASE_URL": self.database_url,
            "MLENGINE_ARTIFACT_ROOT": str(self.store / "artifacts"),
            "MLENGINE_HOME": str(self.root / "home-job"),
        }
        assert {k for k in manifest_env if k.startswith("MLENGINE_")} == set(local)
        env.update(local)
        env.update(settings)
        env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
        done = subprocess.run(
            [*container["command"], *container["args"]],
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
            stdin=subprocess.DEVNULL,
        )
        assert done.returncode == 0, f"the Job failed:\n{done.stdout}\n{done.stderr}"
        return done

    def kill_all(self) -> None:
        for server in self.servers:
            server.kill()


@pytest.fixture
def cluster(tmp_path: Path, pg_url: str) -> Any:
    made = Cluster(h, sh, tmp_path, pg_url)
    try:
        yield made
    finally:
        made.kill_all()


def probe(base: str, path: str) -> int:
    try:
        return httpx.get(base + path, timeout=5).status_code
    except httpx.TransportError:
        return 0


def default_predictions(sh: ModuleType, base: str, instances: list[Any]) -> Any:
    response = sh.post(sh.predict_url(base, "census"), {"instances": instances})
    assert response.status_code == 200, response.text
    return response.json()["predictions"]


def wait_for_all(
    sh: ModuleType,
    bases: list[str],
    want: Any,
    instances: list[Any],
    within: float,
) -> float:
    """Seconds until every replica's default answers ``want`` (fails after ``within``)."""
    started = time.monotonic()
    pending = list(bases)
    while pending:
        pending = [
            base for base in pending if not want.matches(default_predictions(sh, base, instances))
        ]
        elapsed = time.monotonic() - started
        if pending and elapsed > within:
            raise AssertionError(f"{pending} still serve the old default after {elapsed:.1f} s")
        if pending:
            time.sleep(0.05)
    return time.monotonic() - started


def healthcheck(h: ModuleType, base: str) -> int:
    """The image's HEALTHCHECK command, pointed at this replica; its exit code."""
    dockerfile = h.Dockerfile.read()
    _, command = dockerfile.healthcheck()
    image_address = f"127.0.0.1:{dockerfile.exposed_ports()[0]}"
    assert image_address in command[2]
    code = command[2].replace(image_address, base.removeprefix("http://"))
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
    )
    return done.returncode


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_replicas_serve_the_same_default(
    cluster: Cluster,
    exports: dict[str, Path],
    expected: dict[str, Any],
) -> None:
    instances = sh.instances(INSTANCES_COUNT)
    ready_path = h.server_container()["readinessProbe"]["httpGet"]["path"]
    # Register v1 (creating the model: the first version is the default) and v2, by the Job.
    first = cluster.run_job(VERSION="v1", ORIGIN=cluster.copy_export(exports["v1"], "1"))
    assert "Created model [census]" in first.stdout + first.stderr
    second = cluster.run_job(VERSION="v2", ORIGIN=cluster.copy_export(exports["v2"], "2"))
    assert "Created model" not in second.stdout + second.stderr
    servers = [cluster.start("a"), cluster.start("b")]
    bases = [server.wait_started() for server in servers]
    for base in bases:
        sh.wait_until(lambda base=base: probe(base, ready_path) == 200, timeout=60)
        assert expected["v1"].matches(default_predictions(sh, base, instances))
    # A new default through replica A's API (the Secret's token guards it)...
    set_default = f"{bases[0]}/v1/projects/local/models/census/versions/v2:setDefault"
    assert httpx.post(set_default, timeout=30).status_code in (401, 403)
    response = httpx.post(set_default, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=30)
    assert response.status_code == 200, response.text
    # ...is served by both replicas within the pick-up interval.
    took = wait_for_all(sh, bases, expected["v2"], instances, PICKUP)
    print(f"new default through replica A: both replicas serve it after {took:.2f} s")
    # The Job (the CLI against the shared database) rolls out v3 the same way.
    cluster.run_job(
        VERSION="v3", ORIGIN=cluster.copy_export(exports["v3"], "3"), SET_DEFAULT="true"
    )
    took = wait_for_all(sh, bases, expected["v3"], instances, PICKUP)
    print(f"new default from the Job: both replicas serve it after {took:.2f} s")
    # A node fails: replica A dies at once; B goes on serving, and stays ready.
    servers[0].kill()
    assert probe(bases[0], ready_path) == 0
    assert probe(bases[1], ready_path) == 200
    assert expected["v3"].matches(default_predictions(sh, bases[1], instances))


def _replace_port(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_replica_waits_for_an_unreachable_database(
    cluster: Cluster,
    exports: dict[str, Path],
    expected: dict[str, Any],
) -> None:
    instances = sh.instances(INSTANCES_COUNT)
    container = h.server_container()
    ready_path = container["readinessProbe"]["httpGet"]["path"]
    live_path = container["livenessProbe"]["httpGet"]["path"]
    with Registry(cluster.database_url, cluster.store / "artifacts") as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(exports["v1"]))
    real = make_url(cluster.database_url)
    port = h.free_port()
    server = cluster.start("c", database_url=_replace_port(cluster.database_url, port))
    base = server.wait_started()
    forwarder: Any = None
    try:
        # Down: the replica listens, is live and not ready, and does not exit.
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline:
            assert server.process.poll() is None, server.log
            assert probe(base, live_path) == 200
            assert probe(base, ready_path) == 503
            time.sleep(0.25)
        assert sh.post(sh.predict_url(base, "census"), {"instances": instances}).status_code == 503
        assert healthcheck(h, base) == 1
        # The database comes back on the same address: the replica becomes ready by itself.
        forwarder = h.TcpForwarder(port, (real.host or "127.0.0.1", real.port or 5432))
        sh.wait_until(lambda: probe(base, ready_path) == 200, timeout=20, interval=0.1)
        assert server.process.poll() is None
        assert expected["v1"].matches(default_predictions(sh, base, instances))
        assert healthcheck(h, base) == 0
        # SIGTERM (a rollout, a drain) still ends it cleanly (uvicorn re-raises the signal
        # once shut down, so the parent may see "terminated by SIGTERM").
        os.killpg(server.process.pid, signal.SIGTERM)
        assert server.process.wait(timeout=60) in (0, -signal.SIGTERM), server.log
    finally:
        server.kill()
        if forwarder is not None:
            forwarder.close()
    assert "Application shutdown complete" in server.log
    # The reason was logged once, not at every retry.
    assert server.log.count("not ready: Cannot reach the registry database") == 1, server.log
    assert f":{real.password}@" not in server.log, "the password is never logged"


def test_pickup_interval_is_the_servers() -> None:
    """PICKUP builds on the server's default poll interval (0.5 s) staying under 2 s."""
    from mlengine.serving.settings import ServeSettings

    assert ServeSettings().poll_interval <= 0.5 < PICKUP - 2.0
