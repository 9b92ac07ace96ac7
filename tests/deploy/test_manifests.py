"""The Kubernetes manifests, checked without a cluster: each object against Kubernetes' own
OpenAPI schemas (kubernetes-validate ships them for each release; strict: an unknown field is
an error), the kustomize overlays rendered and checked the same way (when kubectl, which
carries kustomize, is on PATH), and what serving at scale asks of them."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.deploy import helpers
from tests.deploy import helpers as h

# The newest release kubernetes-validate knows, and the oldest one still common in managed
# clusters that the manifests promise to work with.
OLDEST_KUBERNETES = "1.30.0"


def kubernetes_versions() -> list[str]:
    try:
        import kubernetes_validate
    except ImportError:
        return [OLDEST_KUBERNETES]
    return [OLDEST_KUBERNETES, kubernetes_validate.latest_version()]


def validate(h: ModuleType, resource: dict[str, Any], version: str) -> None:
    kubernetes_validate = h.require_module("kubernetes_validate", "kubernetes-validate")
    name = f"{resource['kind']}/{resource['metadata'].get('name', '?')}"
    try:
        kubernetes_validate.validate(resource, version, strict=True)
    except kubernetes_validate.ValidationError as error:
        path = ".".join(str(part) for part in error.path)
        raise AssertionError(f"{name} (Kubernetes {version}): {path}: {error.message}") from None
    except kubernetes_validate.SchemaNotFoundError as error:
        raise AssertionError(f"{name}: {error.message}") from None


@pytest.mark.parametrize("version", kubernetes_versions())
@pytest.mark.parametrize(
    "path", helpers.CORE_MANIFESTS, ids=lambda p: str(p.relative_to(helpers.KUBERNETES))
)
def test_manifest_is_valid_kubernetes(path: Path, version: str) -> None:
    documents = h.yaml_documents(path)
    assert documents
    for resource in documents:
        validate(h, resource, version)


def test_validation_would_catch_a_mistake() -> None:
    """strict=True rejects a misspelt field; a wrong type fails either way."""
    deployment = h.deployment()
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    container["readinessProbe"]["httpGet"]["paht"] = "/v2/health/ready"
    with pytest.raises(AssertionError, match="paht"):
        validate(h, deployment, kubernetes_versions()[-1])
    deployment = h.deployment()
    deployment["spec"]["replicas"] = "three"
    with pytest.raises(AssertionError, match="replicas"):
        validate(h, deployment, kubernetes_versions()[-1])


def test_core_set_is_complete() -> None:
    kinds = {key.split("/")[0] for key in h.objects()}
    assert {
        "Deployment",
        "Service",
        "HorizontalPodAutoscaler",
        "Secret",
        "PersistentVolumeClaim",
        "PodDisruptionBudget",
        "Job",
    } <= kinds


def test_rollouts_never_drop_below_the_ready_count() -> None:
    spec = h.deployment()["spec"]
    assert spec["replicas"] >= 2
    assert spec["strategy"]["type"] == "RollingUpdate"
    assert spec["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    assert spec["strategy"]["rollingUpdate"]["maxSurge"] == 1
    container = h.server_container()
    assert "readinessProbe" in container, "a rollout waits for readiness"
    for resource in ("cpu", "memory"):
        assert resource in container["resources"]["requests"]
        assert resource in container["resources"]["limits"]
    # The autoscaler on CPU, in the range the Deployment starts in; drains take one at a time.
    hpa = h.objects()["HorizontalPodAutoscaler/mlengine"]
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["minReplicas"] == spec["replicas"] < hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert h.objects()["PodDisruptionBudget/mlengine"]["spec"]["maxUnavailable"] == 1


def test_artifact_store_and_secret() -> None:
    claim = h.objects()["PersistentVolumeClaim/mlengine-store"]
    assert claim["spec"]["accessModes"] == ["ReadWriteMany"], "every replica, on any node"
    # The object-store alternative is written down next to it.
    assert "gs://" in (h.KUBERNETES / "base" / "artifacts-pvc.yaml").read_text()
    assert "gs://" in (h.KUBERNETES / "base" / "deployment.yaml").read_text()
    secret = h.objects()["Secret/mlengine"]
    assert set(secret["stringData"]) == {"database-url", "api-token"}
    assert all("CHANGE-ME" in value for value in secret["stringData"].values()), "placeholders"
    assert secret["stringData"]["database-url"].startswith("postgresql+psycopg://")


def test_job_registers_a_version_with_the_cli() -> None:
    job = h.job()
    container = h.job_container()
    assert container["command"] == ["/bin/sh", "-c"]
    script = container["args"][0]
    assert 'mlengine versions create "$VERSION" --model "$MODEL" --origin "$ORIGIN"' in script
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] >= 1
    assert "generateName" in job["metadata"], "kubectl create makes a new Job each time"
    # The Job is not part of the applied stack (it runs once per version).
    base = h.yaml_documents(h.KUBERNETES / "base" / "kustomization.yaml")[0]
    listed = {h.KUBERNETES / "base" / name for name in base["resources"]}
    assert all(path.exists() for path in listed)
    assert not any("jobs" in str(path) or path.name == "secret.yaml" for path in listed)


def _kustomize(directory: Path) -> list[dict[str, Any]]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.skip("kubectl (which carries kustomize) is not on PATH")
    done = subprocess.run(
        [kubectl, "kustomize", str(directory)],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert done.returncode == 0, done.stderr
    yaml = helpers.require_module("yaml", "PyYAML")
    return [doc for doc in yaml.safe_load_all(done.stdout) if doc]


@pytest.mark.timeout(120)
@pytest.mark.parametrize(
    "directory",
    [helpers.KUBERNETES / "base", *helpers.OVERLAYS],
    ids=lambda p: str(p.relative_to(helpers.KUBERNETES)),
)
def test_kustomization_renders_valid_objects(directory: Path) -> None:
    rendered = _kustomize(directory)
    base = h.yaml_documents(h.KUBERNETES / "base" / "kustomization.yaml")[0]
    assert len(rendered) == len(base["resources"])
    for resource in rendered:
        validate(h, resource, kubernetes_versions()[-1])
        assert resource["metadata"]["labels"]["app.kubernetes.io/part-of"] == "mlengine"
    if directory.parent.name == "overlays":
        by_kind = {r["kind"]: r for r in rendered}
        deployment, hpa = by_kind["Deployment"], by_kind["HorizontalPodAutoscaler"]
        assert {r["metadata"]["namespace"] for r in rendered} == {"mlengine"}
        assert hpa["spec"]["minReplicas"] == deployment["spec"]["replicas"]
        # The patch kept the probes, the strategy and the environment of the base.
        container = deployment["spec"]["template"]["spec"]["containers"][0]
        assert container["env"] == h.server_container()["env"]
        assert container["readinessProbe"] == h.server_container()["readinessProbe"]
        assert deployment["spec"]["strategy"] == h.deployment()["spec"]["strategy"]
