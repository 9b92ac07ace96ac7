"""One source of truth: the image's command, port, health check, user and variables, and the
manifests' probes, ports, selectors, Secret keys and variables agree with the code (the CLI's
flags and defaults, the server's routes and settings, the names it reads), and with each
other. A rename on either side fails here instead of in a cluster."""

from __future__ import annotations

import inspect
import re
import tomllib
from pathlib import Path
from typing import Any

import typer

from mlengine.cli import serve as serve_cli
from mlengine.cli.main import app
from mlengine.registry.origins import ALLOWED_ORIGINS_ENV
from mlengine.serving.settings import (
    ALLOW_TRAINING_JOBS_ENV,
    API_TOKEN_ENV,
    PROTECT_PREDICT_ENV,
    ServeSettings,
)
from tests.deploy import helpers as h

READY = "/v2/health/ready"
LIVE = "/v2/health/live"


def _serve_default(name: str) -> Any:
    return inspect.signature(serve_cli.serve).parameters[name].default


def _container_port(container: dict[str, Any], port: int | str) -> int:
    """A probe's or Service's port: a number, or the name of one of the container's ports."""
    if isinstance(port, int):
        return port
    named = {p["name"]: p["containerPort"] for p in container["ports"] if "name" in p}
    assert port in named, f"port {port!r} is not a port of container {container['name']}"
    return int(named[port])


def test_env_names_of_the_code_are_the_ones_we_import() -> None:
    names = h.code_env_names()
    for name in (API_TOKEN_ENV, PROTECT_PREDICT_ENV, ALLOW_TRAINING_JOBS_ENV, ALLOWED_ORIGINS_ENV):
        assert name in names
    # The registry's (literal strings in registry/store.py).
    assert {"MLENGINE_HOME", "MLENGINE_DATABASE_URL", "MLENGINE_ARTIFACT_ROOT"} <= names


def test_image_command_is_mlengine_serve_on_the_exposed_port() -> None:
    dockerfile = h.Dockerfile.read()
    cmd = dockerfile.cmd()
    pyproject = tomllib.loads((h.REPO_ROOT / "pyproject.toml").read_text())
    assert pyproject["project"]["scripts"][cmd[0]] == "mlengine.cli.main:main"
    assert cmd[1] == "serve"
    # Every flag is one of `mlengine serve`'s, and the command line parses as the CLI parses it.
    command = typer.main.get_command(app)
    serve = command.commands["serve"]  # type: ignore[attr-defined]
    options = {opt for param in serve.params for opt in param.opts}
    flags = [word for word in cmd[2:] if word.startswith("--")]
    assert set(flags) <= options, set(flags) - options
    parsed = serve.make_context("serve", cmd[2:]).params
    assert parsed["host"] == "0.0.0.0", "reachable from outside the container"
    port = parsed["port"]
    assert dockerfile.exposed_ports() == [port, parsed["grpc_port"]]
    # The image's ports are the CLI's and the server's default ports (gRPC: on unless --no-grpc).
    assert port == _serve_default("port") == ServeSettings().port == 8080
    assert not parsed["no_grpc"] and parsed["grpc_port"] == _serve_default("grpc_port") == 8500


def test_healthcheck_asks_the_readiness_route_on_that_port(tmp_path: Path) -> None:
    dockerfile = h.Dockerfile.read()
    options, command = dockerfile.healthcheck()
    assert command[:2] == ["python", "-c"], "no curl in a slim image: python asks"
    urls = re.findall(r"http://[^'\"]+", command[2])
    assert urls == [f"http://127.0.0.1:{dockerfile.exposed_ports()[0]}{READY}"]
    assert {READY, LIVE} <= h.app_routes(tmp_path)
    # Loading and warming the defaults happens before the server listens: allow for it.
    assert int(options["start-period"].rstrip("s")) >= 60


def test_deployment_probes_ports_and_command(tmp_path: Path) -> None:
    dockerfile = h.Dockerfile.read()
    port, grpc_port = dockerfile.exposed_ports()
    routes = h.app_routes(tmp_path)
    deployment = h.deployment()
    pod = deployment["spec"]["template"]["spec"]
    # The Deployment's pods expose HTTP and gRPC; KServe's InferenceService routes HTTP only.
    assert [p["containerPort"] for p in h.server_container()["ports"]] == [port, grpc_port]
    for container in (h.server_container(), h.kserve_container()):
        assert "command" not in container and "args" not in container, "the image's CMD runs"
        assert container["ports"][0]["containerPort"] == port
        probes = {
            kind: container[kind]["httpGet"]
            for kind in ("startupProbe", "readinessProbe", "livenessProbe")
        }
        assert probes["readinessProbe"]["path"] == READY
        assert probes["livenessProbe"]["path"] == LIVE
        assert probes["startupProbe"]["path"] == LIVE
        for probe in probes.values():
            assert probe["path"] in routes
            assert _container_port(container, probe["port"]) == port
    # The Service sends its traffic to that port, and selects the Deployment's pods.
    service = h.objects()["Service/mlengine"]
    target = service["spec"]["ports"][0]["targetPort"]
    assert _container_port(h.server_container(), target) == port
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= labels.items()
    assert deployment["spec"]["selector"]["matchLabels"].items() <= labels.items()
    pdb = h.objects()["PodDisruptionBudget/mlengine"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = h.objects()["HorizontalPodAutoscaler/mlengine"]
    assert hpa["spec"]["scaleTargetRef"] == {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "name": deployment["metadata"]["name"],
    }
    # The image's user, and time for SIGTERM's drain (the server's graceful timeout) + preStop.
    uid, _, gid = dockerfile.last("USER").value.partition(":")
    assert pod["securityContext"]["runAsUser"] == int(uid)
    assert pod["securityContext"]["runAsGroup"] == int(gid)
    pre_stop = h.server_container()["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    grace = ServeSettings().graceful_timeout + int(pre_stop[1])
    assert pod["terminationGracePeriodSeconds"] >= grace


def test_environment_variables_agree() -> None:
    known = h.code_env_names()
    dockerfile = h.Dockerfile.read()
    secret = h.objects()["Secret/mlengine"]
    secret_keys = set(secret["stringData"])
    claims = {k.split("/", 1)[1] for k in h.objects() if k.startswith("PersistentVolumeClaim/")}
    containers = {
        "Deployment": (h.server_container(), h.deployment()["spec"]["template"]["spec"]),
        "InferenceService": (h.kserve_container(), h.inference_service()["spec"]["predictor"]),
        "Job": (h.job_container(), h.job()["spec"]["template"]["spec"]),
    }
    for kind, (container, pod) in containers.items():
        env = h.env_of(container)
        own = {name for name in env if name.startswith("MLENGINE_")}
        assert own <= known, f"{kind} sets variables the code never reads: {own - known}"
        # The registry and the token come from the Secret, by keys it has.
        for name, key in (("MLENGINE_DATABASE_URL", "database-url"), (API_TOKEN_ENV, "api-token")):
            if kind == "Job" and name == API_TOKEN_ENV:
                continue  # the CLI talks to the database, not to the server
            ref = env[name]["valueFrom"]["secretKeyRef"]
            assert ref == {"name": secret["metadata"]["name"], "key": key}
            assert key in secret_keys
        # MLENGINE_HOME is the image's, on a writable volume (the root file system is not).
        assert env["MLENGINE_HOME"]["value"] == dockerfile.env()["MLENGINE_HOME"]
        mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
        volumes = {v["name"]: v for v in pod["volumes"]}
        assert container["securityContext"]["readOnlyRootFilesystem"] is True
        assert "emptyDir" in volumes[mounts[env["MLENGINE_HOME"]["value"]]]
        assert "emptyDir" in volumes[mounts["/tmp"]]
        # The artifact store (and the exports to register) lie on the shared claim.
        store = [p for p, n in mounts.items() if "persistentVolumeClaim" in volumes[n]]
        assert len(store) == 1
        assert volumes[mounts[store[0]]]["persistentVolumeClaim"]["claimName"] in claims
        for name in ("MLENGINE_ARTIFACT_ROOT", ALLOWED_ORIGINS_ENV):
            if name in env:
                assert env[name]["value"].startswith(store[0] + "/"), name
    # The server's variables: Deployment and InferenceService set the same ones.
    server = h.env_of(h.server_container())
    assert server == h.env_of(h.kserve_container())
    # What the Job registers lies where the servers may read exports from.
    origin = h.env_of(h.job_container())["ORIGIN"]["value"]
    assert origin.startswith(server[ALLOWED_ORIGINS_ENV]["value"] + "/")


def test_every_variable_named_in_deploy_files_exists() -> None:
    known = h.code_env_names()
    files = [h.DOCKERFILE, *h.REPO_ROOT.joinpath("deploy").rglob("*.yaml")]
    readme = (h.REPO_ROOT / "README.md").read_text()
    deploying = readme.partition("\n## Deploying")[2].partition("\n## ")[0]
    texts = {str(path.relative_to(h.REPO_ROOT)): path.read_text() for path in files}
    texts["README.md#Deploying"] = deploying
    for name, text in texts.items():
        unknown = set(h.ENV_NAME.findall(text)) - known
        assert not unknown, f"{name} names variables the code does not read: {unknown}"
    assert deploying, "README.md has no Deploying section"
