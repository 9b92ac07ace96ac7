"""Helpers of the deployment tests: the Dockerfile and manifests as data, the checking tools
(missing ones fail under CI=true, are skipped elsewhere), what the code says (routes, defaults,
environment variable names), and a TCP forwarder that plays a database coming back.

Imported as ``tests.deploy.helpers`` (see ``tests/helpers.py``).
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import json
import os
import re
import shlex
import shutil
import socket
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "Dockerfile"
DOCKERIGNORE = REPO_ROOT / ".dockerignore"
KUBERNETES = REPO_ROOT / "deploy" / "kubernetes"
KSERVE = REPO_ROOT / "deploy" / "kserve"
INFERENCE_SERVICE = KSERVE / "inferenceservice.yaml"
KSERVE_CRD = KSERVE / "crd" / "serving.kserve.io_inferenceservices.yaml"
# Plain manifests checked one by one (overlays hold partial patches: they are checked rendered).
CORE_MANIFESTS = sorted(
    path
    for path in [*KUBERNETES.glob("base/*.yaml"), *KUBERNETES.glob("jobs/*.yaml")]
    if path.name != "kustomization.yaml"
)
OVERLAYS = sorted(path.parent for path in KUBERNETES.glob("overlays/*/kustomization.yaml"))
ENV_NAME = re.compile(r"\bMLENGINE_[A-Z0-9_]+\b")
IN_CI = os.environ.get("CI") == "true"
INSTALL_HINT = "install the dev dependencies: pip install -c constraints.txt -e '.[dev]'"


def missing(what: str) -> None:
    """A checking tool is not installed: fail under CI (it must check), skip elsewhere."""
    message = f"{what} is not installed ({INSTALL_HINT})"
    if IN_CI:
        pytest.fail(message + ": CI must run this check")
    pytest.skip(message)


def require_module(name: str, package: str) -> ModuleType:
    """Import ``name`` (from the PyPI package ``package``), or fail/skip (:func:`missing`)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        missing(f"{package} (Python module {name})")
        raise AssertionError("unreachable") from None


def require_program(name: str, package: str) -> str:
    """The path of a program installed by a PyPI package into this Python's ``bin`` folder
    (or found on ``PATH``), or fail/skip (:func:`missing`)."""
    search = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])
    found = shutil.which(name, path=search)
    if found is None:
        missing(f"{name} (PyPI package {package})")
        raise AssertionError("unreachable")
    return found


# ---------------------------------------------------------------------------- YAML


def yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The YAML documents of ``path`` (empty ones dropped)."""
    yaml = require_module("yaml", "PyYAML")
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def objects() -> dict[str, dict[str, Any]]:
    """Every object of the core manifests, by ``Kind/name`` (a Job by its generateName)."""
    found: dict[str, dict[str, Any]] = {}
    for path in CORE_MANIFESTS:
        for doc in yaml_documents(path):
            meta = doc["metadata"]
            key = f"{doc['kind']}/{meta.get('name') or meta['generateName']}"
            assert key not in found, f"{key} is defined twice"
            found[key] = doc
    return found


def deployment() -> dict[str, Any]:
    return objects()["Deployment/mlengine"]


def only(items: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(items) == 1, items
    return items[0]


def server_container() -> dict[str, Any]:
    return only(deployment()["spec"]["template"]["spec"]["containers"])


def job() -> dict[str, Any]:
    return objects()["Job/mlengine-register-"]


def job_container() -> dict[str, Any]:
    return only(job()["spec"]["template"]["spec"]["containers"])


def inference_service() -> dict[str, Any]:
    return only(yaml_documents(INFERENCE_SERVICE))


def kserve_container() -> dict[str, Any]:
    return only(inference_service()["spec"]["predictor"]["containers"])


def env_of(container: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A container's env entries by name."""
    return {entry["name"]: entry for entry in container.get("env", [])}


# ---------------------------------------------------------------------------- Dockerfile


@dataclass
class Instruction:
    keyword: str
    value: str
    stage: int


@dataclass
class Dockerfile:
    """The instructions of a Dockerfile (continuations joined, comments dropped)."""

    instructions: list[Instruction] = field(default_factory=list)

    @classmethod
    def read(cls, path: Path = DOCKERFILE) -> Dockerfile:
        parsed = cls()
        stage = -1
        pending = ""
        for raw in path.read_text().splitlines():
            line = raw.strip()
            if not pending and (not line or line.startswith("#")):
                continue
            if pending and line.startswith("#"):
                continue  # a comment inside a continued instruction
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            text = pending + line
            pending = ""
            keyword, _, value = text.partition(" ")
            keyword = keyword.upper()
            if keyword == "FROM":
                stage += 1
            parsed.instructions.append(Instruction(keyword, value.strip(), stage))
        assert not pending, "the Dockerfile ends in a line continuation"
        return parsed

    def all(self, keyword: str) -> list[Instruction]:
        return [i for i in self.instructions if i.keyword == keyword]

    def last(self, keyword: str) -> Instruction:
        found = self.all(keyword)
        assert found, f"no {keyword} in the Dockerfile"
        return found[-1]

    @property
    def final_stage(self) -> int:
        return self.last("FROM").stage

    def cmd(self) -> list[str]:
        """The image's CMD (exec form)."""
        value = json.loads(self.last("CMD").value)
        assert isinstance(value, list) and all(isinstance(v, str) for v in value)
        return value

    def exposed_ports(self) -> list[int]:
        return [int(p.split("/")[0]) for i in self.all("EXPOSE") for p in i.value.split()]

    def healthcheck(self) -> tuple[dict[str, str], list[str]]:
        """The HEALTHCHECK's options and its command (exec form)."""
        value = self.last("HEALTHCHECK").value
        options_text, marker, command = value.partition("CMD ")
        assert marker, "HEALTHCHECK without CMD"
        options = dict(option[2:].split("=", 1) for option in shlex.split(options_text) if option)
        parsed = json.loads(command)
        assert isinstance(parsed, list)
        return options, parsed

    def env(self) -> dict[str, str]:
        """ENV of the final stage (``KEY=VALUE`` form)."""
        values: dict[str, str] = {}
        for instruction in self.all("ENV"):
            if instruction.stage == self.final_stage:
                for item in shlex.split(instruction.value):
                    key, sep, value = item.partition("=")
                    assert sep, f"ENV {item!r}: use the KEY=VALUE form"
                    values[key] = value
        return values

    def args(self) -> dict[str, str]:
        """ARG defaults, in any stage (``ARG NAME=default``)."""
        values: dict[str, str] = {}
        for instruction in self.all("ARG"):
            name, _, default = instruction.value.partition("=")
            values[name] = default.strip('"')
        return values


def dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Whether Docker leaves ``path`` (relative, with ``/``) out of the build context.

    Docker's rules: patterns in order, the last that matches decides (``!`` re-includes); a
    pattern matches a path or any of its parent folders; ``*`` stays within one path segment,
    ``**`` spans any number.
    """
    parts = path.split("/")
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    excluded = False
    for raw in patterns:
        negate = raw.startswith("!")
        pattern = raw[1:] if negate else raw
        pattern = pattern.strip("/")
        regex = re.compile(_glob_regex(pattern))
        if any(regex.fullmatch(candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def _glob_regex(pattern: str) -> str:
    out = ""
    i = 0
    while i < len(pattern):
        if pattern.startswith("**/", i):
            out += "(?:.*/)?"
            i += 3
        elif pattern.startswith("**", i):
            out += ".*"
            i += 2
        elif pattern[i] == "*":
            out += "[^/]*"
            i += 1
        elif pattern[i] == "?":
            out += "[^/]"
            i += 1
        elif pattern[i] == "[":
            end = pattern.index("]", i)
            out += pattern[i : end + 1]
            i = end + 1
        else:
            out += re.escape(pattern[i])
            i += 1
    return out


def dockerignore_patterns() -> list[str]:
    lines = DOCKERIGNORE.read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


# ---------------------------------------------------------------------------- the code


def code_env_names() -> set[str]:
    """Every ``MLENGINE_*`` name that ``src/mlengine`` holds as a string constant (the names
    it reads from the environment)."""
    names: set[str] = set()
    for path in (REPO_ROOT / "src" / "mlengine").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if re.fullmatch(r"MLENGINE_[A-Z0-9_]+", node.value):
                    names.add(node.value)
    return names


def app_routes(tmp_path: Path) -> set[str]:
    """The paths the server answers (its Starlette routes), from the app itself."""
    from mlengine.registry import Registry
    from mlengine.serving import ServeSettings, create_app

    with Registry(f"sqlite:///{tmp_path / 'routes.db'}", tmp_path / "artifacts") as registry:
        app = create_app(registry, ServeSettings())
        return {route.path for route in app.routes if hasattr(route, "path")}


# ---------------------------------------------------------------------------- processes


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class TcpForwarder:
    """Forwards connections to ``127.0.0.1:port`` to ``target``: a database that "comes back"
    on the port a server was told to use. Loopback only; :meth:`close` ends every thread."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.target = target
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._threads: list[threading.Thread] = []
        self._listener = socket.create_server(("127.0.0.1", port))
        self._listener.settimeout(0.1)
        self._start(self._accept)

    def _start(self, target: Any, *args: Any) -> None:
        thread = threading.Thread(target=target, args=args, daemon=True)
        with self._lock:
            self._threads.append(thread)
        thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            client.settimeout(None)
            upstream.settimeout(None)
            with self._lock:
                self._sockets += [client, upstream]
            self._start(self._pump, client, upstream)
            self._start(self._pump, upstream, client)

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while chunk := source.recv(65536):
                sink.sendall(chunk)
        except OSError:
            pass
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        with self._lock:
            sockets, threads = list(self._sockets), list(self._threads)
        for sock in sockets:
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for thread in threads:
            thread.join(timeout=5)
        for sock in sockets:
            sock.close()
        assert not any(thread.is_alive() for thread in threads), "forwarder threads still run"
