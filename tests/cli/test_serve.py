"""``mlengine serve`` as a process, and ``mlengine predict --endpoint`` through it: the same table
as local predictions, defaults switched from the CLI picked up live, bearer tokens, and a SIGTERM
that lets the request in flight finish before a clean exit."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import httpx
import pytest
from typer.testing import CliRunner

from mlengine.cli.main import app
from mlengine.export import load
from mlengine.registry import Registry
from mlengine.serving.workers import default_workers
from tests.serving import helpers as sh

PICKUP = 2.0 + 5.0  # the promise, plus generous slack: a loaded machine stalls for seconds


@pytest.fixture(scope="module")
def two_exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("serve_exports")
    return {"v1": sh.train(root / "a", "binary", 2), "v2": sh.train(root / "b", "binary", 60)}


@pytest.fixture
def registered(home: Path, two_exports: dict[str, Path]) -> Iterator[Registry]:
    """The CLI's registry (``MLENGINE_HOME``) with model ``census``: v1 (default) and v2."""
    with Registry() as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(two_exports["v1"]))
        registry.create_version("census", "v2", str(two_exports["v2"]))
        yield registry


@pytest.fixture
def instances_file(tmp_path: Path) -> Path:
    path = tmp_path / "instances.json"
    path.write_text("".join(json.dumps(i) + "\n" for i in sh.instances(3)))
    return path


def predict(*args: str) -> Any:
    return CliRunner().invoke(app, ["predict", *args], catch_exceptions=False)


def test_endpoint_prints_the_local_table(
    registered: Registry, home: Path, instances_file: Path, two_exports: dict[str, Path]
) -> None:
    local = predict("--model", "census", "--json-instances", str(instances_file))
    assert local.exit_code == 0, local.output
    with sh.serve(home) as (url, server):
        remote = predict(
            "--endpoint", url, "--model", "census", "--json-instances", str(instances_file)
        )
        assert remote.exit_code == 0, remote.output
        assert remote.stdout == local.stdout
        as_json = predict(
            "--endpoint", url, "--model", "census", "--version", "2", "--format", "json",
            "--json-instances", str(instances_file),
        )  # fmt: skip
        expected = load(two_exports["v2"]).predict_instances(sh.instances(3))
        assert json.loads(as_json.stdout) == {"predictions": expected}
        # Text instances name their columns in a header; the inputs come from the server.
        text = instances_file.with_suffix(".csv")
        rows = "39,Bachelors,40,Adm-clerical\n50,HS-grad,13,\n"
        text.write_text("age,education,hours_per_week,occupation\n" + rows)
        lines = predict(
            "--endpoint", url.removeprefix("http://"), "--model", "census", "--text-instances",
            str(text),
        )  # fmt: skip
        assert lines.exit_code == 0, lines.output
        assert len(lines.stdout.splitlines()) == 3
        text.write_text(rows)
        headerless = predict("--endpoint", url, "--model", "census", "--text-instances", str(text))
        assert headerless.exit_code == 1
        assert "Its inputs: age, education, hours_per_week, occupation." in headerless.stderr
        # Server errors come back as the CLI's one-line errors.
        missing = predict(
            "--endpoint", url, "--model", "nope", "--json-instances", str(instances_file)
        )
        assert missing.exit_code == 1
        assert "404" in missing.stderr and "not found" in missing.stderr
        # Text instances read the model from a management route: Google's JSON error there,
        # its message shown as the same one line.
        unknown = predict("--endpoint", url, "--model", "nope", "--text-instances", str(text))
        assert unknown.exit_code == 1
        assert "The server answered 404: Model (name=nope) not found." in unknown.stderr
        bad = instances_file.with_name("bad.json")
        bad.write_text('{"age": 30}\n{"education": "x"}\n')
        refused = predict("--endpoint", url, "--model", "census", "--json-instances", str(bad))
        assert refused.exit_code == 1
        assert "line 2: Instance 1: required feature 'age' is missing" in refused.stderr
    assert "HTTP/1.1" not in server.log  # no access log by default


def test_endpoint_unreachable(instances_file: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]  # nothing listens there once closed
    result = predict(
        "--endpoint", f"http://127.0.0.1:{port}", "--model", "m",
        "--json-instances", str(instances_file),
    )  # fmt: skip
    assert result.exit_code == 1 and "Cannot reach the server" in result.stderr


def test_endpoint_sends_the_token(
    registered: Registry, home: Path, instances_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    args = ["--model", "census", "--json-instances", str(instances_file)]
    with sh.serve(home, MLENGINE_API_TOKEN="tok", MLENGINE_PROTECT_PREDICT="1") as (url, _):
        refused = predict("--endpoint", url, *args)
        assert refused.exit_code == 1 and "401" in refused.stderr
        monkeypatch.setenv("MLENGINE_API_TOKEN", "tok")
        assert predict("--endpoint", url, *args).exit_code == 0


def test_default_set_from_the_cli_is_served_live(
    registered: Registry, home: Path, instances_file: Path, two_exports: dict[str, Path]
) -> None:
    instances = sh.instances(3)
    expected = {k: sh.expected(v, instances) for k, v in two_exports.items()}
    with sh.serve(home) as (url, _server):
        answer = sh.post(sh.predict_url(url, "census"), {"instances": instances}).json()
        assert expected["v1"].matches(answer["predictions"])
        result = CliRunner().invoke(app, ["versions", "set-default", "v2", "--model", "census"])
        assert result.exit_code == 0, result.output
        switched = time.monotonic()

        def serves_v2() -> bool:
            got = sh.post(sh.predict_url(url, "census"), {"instances": instances}).json()
            return expected["v2"].matches(got["predictions"])

        sh.wait_until(serves_v2, timeout=PICKUP)
        assert time.monotonic() - switched <= PICKUP


def _read_response(sock: socket.socket) -> tuple[int, Any]:
    data = b""
    while chunk := sock.recv(65536):
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split(b" ")[1]), json.loads(body)


def test_sigterm_finishes_the_request_in_flight(registered: Registry, home: Path) -> None:
    body = json.dumps({"instances": sh.instances(2)}).encode()
    with sh.serve(home) as (url, server):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(
                b"POST /v1/projects/local/models/census:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                % len(body)
                + body[:20]
            )
            time.sleep(0.3)  # the server reads the headers and starts the request
            os.kill(server.process.pid, signal.SIGTERM)

            def refuses_new_connections() -> bool:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except OSError:
                    return True
                return False

            sh.wait_until(refuses_new_connections, timeout=10)
            assert server.process.poll() is None  # still finishing the request in flight
            sock.sendall(body[20:])
            status, answer = _read_response(sock)
        assert status == 200 and len(answer["predictions"]) == 2
        # uvicorn re-raises the signal once shut down, so the parent sees "terminated by SIGTERM".
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
    assert "Waiting for application shutdown." in server.log
    assert "Application shutdown complete." in server.log
    # Shutdown wrote the last-use time collected in memory.
    assert registered.get_version("census", "v1").last_use_time is not None


def test_serve_options(cli: Any) -> None:
    help_text = cli("serve", "--help").stdout
    for option in ("--host", "--port", "--max-loaded-versions", "--poll-interval",
                   "--max-body-bytes", "--max-batch-size", "--workers",
                   "--access-log", "--max-string-length", "--timeout-keep-alive",
                   "--timeout-request"):  # fmt: skip
        assert option in help_text
    from mlengine.cli import serve
    from mlengine.serving import ServeSettings

    defaults = ServeSettings()
    assert (defaults.max_loaded_versions, defaults.poll_interval, defaults.max_body_bytes,
            defaults.max_batch_size, defaults.max_batch_delay) == (
        serve.MAX_LOADED_VERSIONS, serve.POLL_INTERVAL, serve.MAX_BODY_BYTES,
        serve.MAX_BATCH_SIZE, serve.MAX_BATCH_DELAY_MS / 1000)  # fmt: skip
    assert (defaults.max_string_length, defaults.idle_timeout, defaults.request_timeout) == (
        serve.MAX_STRING_LENGTH, serve.IDLE_TIMEOUT, serve.REQUEST_TIMEOUT)  # fmt: skip
    cli.fails("serve", "--max-loaded-versions", "0", match="'max_loaded_versions'")
    cli.fails("serve", "--port", "70000", match="'port'")
    cli.fails("serve", "--workers", "0", match="'workers'")


def _metric(url: str, name: str) -> float:
    """The value of an unlabelled metric, or the sum of a labelled one's series (NaN while
    no worker listens yet: the supervisor logs the port before its workers start)."""
    try:
        text = httpx.get(f"{url}/metrics", timeout=30).text
    except httpx.ConnectError:
        return float("nan")
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith((name + " ", name + "{"))
    )


def _workers(supervisor: int) -> set[int]:
    """The pids of a ``--workers`` server's worker processes (the supervisor's children)."""
    found = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue
        if ppid == supervisor:
            found.add(int(stat.parent.name))
    return found


def test_workers_share_the_port_sum_their_metrics_survive_a_crash_and_stop_on_sigterm(
    registered: Registry, home: Path, two_exports: dict[str, Path]
) -> None:
    instances = sh.instances(2)
    expected = {k: sh.expected(v, instances) for k, v in two_exports.items()}
    with sh.serve(home, "--workers", "2") as (url, server):
        # Each worker loads the default before it answers: two copies of v1, one per process.
        sh.wait_until(lambda: _metric(url, "mlengine_loaded_versions") == 2, timeout=60)
        sent = 12
        for _ in range(sent):  # a new connection each: the workers take turns accepting
            answer = sh.post(sh.predict_url(url, "census"), {"instances": instances}).json()
            assert expected["v1"].matches(answer["predictions"])
        assert _metric(url, "mlengine_requests_total") == sent  # every worker's, summed

        # gRPC: each worker started its own server after the fork, on the one port.
        assert server.grpc_port is not None
        for pid in _workers(server.process.pid):
            assert _sockets(pid, server.grpc_port, "0A") == 1, pid  # one listening socket each
        for _ in range(4):  # a new channel each: the kernel spreads them over the workers
            with grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}") as channel:
                ready = channel.unary_unary("/inference.GRPCInferenceService/ServerReady")
                assert ready(b"", timeout=10) == b"\x08\x01"  # ServerReadyResponse{ready: true}

        # A worker killed outright is replaced; the supervisor drops its loaded-versions gauge.
        first = _workers(server.process.pid)
        assert len(first) == 2
        os.kill(min(first), signal.SIGKILL)
        sh.wait_until(lambda: _metric(url, "mlengine_version_load_seconds_count") == 3, 60)
        assert len(_workers(server.process.pid) - first) == 1
        assert _metric(url, "mlengine_loaded_versions") == 2

        result = CliRunner().invoke(app, ["versions", "set-default", "v2", "--model", "census"])
        assert result.exit_code == 0, result.output
        # Both workers load the new default (v1 stays loaded too): four versions in memory.
        sh.wait_until(lambda: _metric(url, "mlengine_loaded_versions") == 4, timeout=PICKUP)
        answer = sh.post(sh.predict_url(url, "census"), {"instances": instances}).json()
        assert expected["v2"].matches(answer["predictions"])

        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=60) == 0

        def no_worker_left() -> bool:  # the supervisor waited for its workers to finish
            try:
                os.killpg(server.process.pid, 0)
            except ProcessLookupError:
                return True
            return False

        sh.wait_until(no_worker_left, timeout=10)
    assert server.log.count("Application shutdown complete.") == 2  # both live workers


def _connections(pid: int, port: int) -> int:
    """The established TCP connections to ``port`` that process ``pid`` holds (from /proc)."""
    return _sockets(pid, port, "01")


def _sockets(pid: int, port: int, state: str) -> int:
    """The TCP sockets on local ``port`` in ``state`` (01: established, 0A: listening) that
    process ``pid`` holds (from /proc)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].rsplit(":", 1)[1], 16)
            if local_port == port and fields[3] == state and fields[9] in inodes:
                count += 1
    return count


def test_workers_spread_keep_alive_connections(registered: Registry, home: Path) -> None:
    """Eight keep-alive clients all on one worker (the other stopped while they connect): that
    worker asks some of them to reconnect (``Connection: close`` on a prediction) until the
    two hold about half each, and no request fails."""
    body = {"instances": sh.instances(1)}
    with sh.serve(home, "--workers", "2") as (url, server):
        sh.wait_until(lambda: _metric(url, "mlengine_loaded_versions") == 2, timeout=60)
        port = int(url.rsplit(":", 1)[1])
        busy, idle = sorted(_workers(server.process.pid))
        clients = [httpx.Client(timeout=30) for _ in range(8)]
        try:
            os.kill(idle, signal.SIGSTOP)
            try:
                kept = 0
                for client in clients:
                    answer = client.post(sh.predict_url(url, "census"), json=body)
                    assert answer.status_code == 200
                    kept += answer.headers.get("connection", "").lower() != "close"
                # Every open connection is the busy worker's. (On a slow machine the 8 requests
                # outlast its first look at its connections: it may already have asked a few
                # clients to reconnect, which they do at their next request.)
                assert _connections(busy, port) == kept
                assert _connections(idle, port) == 0
            finally:
                os.kill(idle, signal.SIGCONT)

            def spread() -> bool:
                for client in clients:
                    answer = client.post(sh.predict_url(url, "census"), json=body)
                    assert answer.status_code == 200
                return _connections(idle, port) >= 3 and _connections(busy, port) <= 5

            sh.wait_until(spread, timeout=30)
        finally:
            for client in clients:
                client.close()


def test_by_default_every_usable_core_serves(registered: Registry, home: Path) -> None:
    """``mlengine serve`` with no ``--workers``: one worker process per usable core (one
    process on a one-core machine), each with the default version loaded."""
    cores = default_workers()
    with sh.serve(home, one_process=False) as (url, server):
        sh.wait_until(lambda: _metric(url, "mlengine_loaded_versions") == cores, timeout=60)
        answer = sh.post(sh.predict_url(url, "census"), {"instances": sh.instances(2)}).json()
        assert len(answer["predictions"]) == 2
        assert len(_workers(server.process.pid)) == (cores if cores > 1 else 0)


def test_workers_that_cannot_open_the_registry_stop_the_server(home: Path) -> None:
    """A registry URL that no worker can open fails every worker alike: the server exits 3
    (uvicorn's start-up failure) with the reason, instead of restarting workers forever."""
    with sh.serve(home, "--workers", "2", MLENGINE_DATABASE_URL="nosuch://database") as (
        _url,
        server,
    ):
        assert server.process.wait(timeout=60) == 3
    assert "could not start: Unsupported registry database 'nosuch://database'" in server.log


@pytest.mark.parametrize("workers", ["1", "2"])
def test_a_grpc_port_in_use_stops_the_server_at_start(
    registered: Registry, home: Path, workers: str
) -> None:
    """Two servers never split a port: one process binds it alone, and the supervisor of
    several workers checks it is free before they share it."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        server = sh.ServerProcess(
            ["--grpc-port", str(port), "--workers", workers], sh.child_env(home)
        )
        try:
            code = server.process.wait(timeout=60)
        finally:
            server.kill()
    assert code != 0
    assert f"Cannot listen for gRPC on 127.0.0.1:{port}" in server.log, server.log
