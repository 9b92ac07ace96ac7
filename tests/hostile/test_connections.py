"""Idle and slow clients time out, and SIGTERM answers kept-alive connections rather than
resetting them (issue 19, Also): ``mlengine serve`` in a subprocess, spoken to over raw sockets."""

from __future__ import annotations

import json
import os
import signal
import socket
import time
from pathlib import Path

import pytest

from mlengine.registry import Registry
from tests.hostile import strategies as hs
from tests.serving import helpers as h


@pytest.fixture
def home(tmp_path: Path, linear_export: Path) -> Path:
    """A registry in MLENGINE_HOME's layout with census v1 READY."""
    home = tmp_path / "home"
    with Registry(f"sqlite:///{home / 'registry.db'}", home / "artifacts") as registry:
        registry.create_model(hs.MODEL)
        registry.create_version(hs.MODEL, "v1", str(linear_export))
    return home


def _request(body: bytes) -> bytes:
    return (
        b"POST /v1/models/census:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body
    )


def _response(sock: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """One HTTP response read from ``sock`` (status, lowercase headers, body)."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        assert chunk, f"connection closed before a response: {data!r}"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.split(": ", 1) for line in lines[1:])
    headers = {k.lower(): v for k, v in headers.items()}
    length = int(headers.get("content-length", "0"))
    while len(body) < length:
        chunk = sock.recv(65536)
        assert chunk, "connection closed inside a response"
        body += chunk
    return int(lines[0].split(" ")[1]), headers, body


def _closed(sock: socket.socket, within: float) -> bool:
    sock.settimeout(within)
    try:
        return sock.recv(1) == b""
    except (ConnectionResetError, TimeoutError):
        return False


def test_idle_and_slow_connections_time_out(home: Path) -> None:
    args = ("--timeout-keep-alive", "1", "--timeout-request", "1")
    with h.serve(home, *args) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        # A connection that never sends a byte is closed after the idle timeout.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            started = time.monotonic()
            assert _closed(idle, within=10)
            assert 0.5 < time.monotonic() - started < 5
        # A request that trickles in is answered 408 once its time is up.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
            slow.sendall(b"POST /v1/models/census:predict HTTP/1.1\r\nHost: 127.0.0.1\r\n")
            time.sleep(0.3)
            slow.sendall(b"Content-Length: 100\r\n")
            status, headers, body = _response(slow)
            assert status == 408 and headers["connection"] == "close"
            assert "--timeout-request" in json.loads(body)["error"]
        # A prompt client is unaffected.
        with socket.create_connection(("127.0.0.1", port), timeout=10) as prompt:
            prompt.sendall(_request(json.dumps({"instances": [hs.instance()]}).encode()))
            assert _response(prompt)[0] == 200


def test_a_kept_alive_connection_after_sigterm_gets_an_answer(home: Path) -> None:
    body = json.dumps({"instances": [hs.instance()]}).encode()
    with h.serve(home, "--timeout-keep-alive", "5") as (url, server):
        port = int(url.rsplit(":", 1)[1])
        with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
            sock.sendall(_request(body))
            status, headers, _ = _response(sock)
            assert status == 200 and headers.get("connection") != "close"
            os.kill(server.process.pid, signal.SIGTERM)
            time.sleep(0.5)  # the server is shutting down; the connection is idle, kept alive
            sock.sendall(_request(body))
            status, headers, answer = _response(sock)
            assert status == 200 and len(json.loads(answer)["predictions"]) == 1
            assert headers["connection"] == "close"
            assert _closed(sock, within=10)  # closed cleanly after the answer, not reset
        assert server.process.wait(timeout=30) in (0, -signal.SIGTERM)
