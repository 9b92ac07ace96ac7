"""The KServe InferenceService, checked without a cluster: the CRD schema kept in the repository
is itself a valid CustomResourceDefinition, the manifest validates against it (strictly, as a
server with field validation reads it), and the predictor's pod fields validate against
Kubernetes' own PodSpec."""

from __future__ import annotations

import copy
from types import ModuleType
from typing import Any

import pytest

from tests.deploy import helpers as h

# The ComponentExtensionSpec fields that KServe inlines into the predictor beside the PodSpec.
COMPONENT_FIELDS = {
    "minReplicas",
    "maxReplicas",
    "scaleTarget",
    "scaleMetric",
    "containerConcurrency",
    "timeout",
    "canaryTrafficPercent",
    "logger",
    "batcher",
    "labels",
    "annotations",
    "deploymentStrategy",
}


def crd(h: ModuleType) -> dict[str, Any]:
    return h.only(h.yaml_documents(h.KSERVE_CRD))


def served_version(h: ModuleType, api_version: str) -> dict[str, Any]:
    group, _, version = api_version.partition("/")
    definition = crd(h)
    assert definition["spec"]["group"] == group
    (found,) = [v for v in definition["spec"]["versions"] if v["name"] == version]
    assert found["served"] and found["storage"]
    return found


def strict_json_schema(schema: dict[str, Any]) -> dict[str, Any]:
    """A CRD's structural openAPIV3Schema as a JSON Schema that rejects unknown fields (what
    pruning drops silently and strict field validation reports), except under
    ``x-kubernetes-preserve-unknown-fields``."""
    if schema.get("x-kubernetes-int-or-string"):
        return {"type": ["integer", "string"]}
    out: dict[str, Any] = {
        key: schema[key]
        for key in ("type", "enum", "minimum", "maximum", "required", "pattern")
        if key in schema
    }
    if "properties" in schema:
        out["properties"] = {k: strict_json_schema(v) for k, v in schema["properties"].items()}
        if not schema.get("x-kubernetes-preserve-unknown-fields"):
            out["additionalProperties"] = False
    if isinstance(schema.get("additionalProperties"), dict):
        out["additionalProperties"] = strict_json_schema(schema["additionalProperties"])
    if "items" in schema:
        out["items"] = strict_json_schema(schema["items"])
    return out


def errors(h: ModuleType, document: dict[str, Any]) -> list[str]:
    jsonschema = h.require_module("jsonschema", "jsonschema")
    version = served_version(h, document["apiVersion"])
    assert document["kind"] == crd(h)["spec"]["names"]["kind"]
    schema = strict_json_schema(version["schema"]["openAPIV3Schema"])
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    found = validator.iter_errors(document)
    return sorted(f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in found)


def test_crd_is_a_valid_custom_resource_definition() -> None:
    kubernetes_validate = h.require_module("kubernetes_validate", "kubernetes-validate")
    definition = crd(h)
    kubernetes_validate.validate(definition, kubernetes_validate.latest_version(), strict=True)
    assert definition["metadata"]["name"] == "inferenceservices.serving.kserve.io"
    assert definition["spec"]["names"]["plural"] == "inferenceservices"


def test_inference_service_matches_the_crd() -> None:
    service = h.inference_service()
    assert service["apiVersion"] == "serving.kserve.io/v1beta1"
    assert errors(h, service) == []


def test_predictor_pod_fields_are_a_valid_pod_spec() -> None:
    """The CRD subset abbreviates the PodSpec; Kubernetes' schema checks all of it."""
    kubernetes_validate = h.require_module("kubernetes_validate", "kubernetes-validate")
    predictor = h.inference_service()["spec"]["predictor"]
    pod_spec = {k: v for k, v in predictor.items() if k not in COMPONENT_FIELDS | {"model"}}
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "check"}, "spec": pod_spec}
    kubernetes_validate.validate(pod, kubernetes_validate.latest_version(), strict=True)


def test_custom_predictor_speaks_v2_on_the_image_port() -> None:
    predictor = h.inference_service()["spec"]["predictor"]
    assert "model" not in predictor, "a custom container, not a built-in runtime"
    container = h.kserve_container()
    assert container["name"] == "kserve-container"
    assert container["image"] == h.server_container()["image"]
    assert predictor["scaleMetric"] == "cpu"
    assert predictor["minReplicas"] >= 1 and predictor["maxReplicas"] > predictor["minReplicas"]
    assert predictor["deploymentStrategy"]["rollingUpdate"]["maxUnavailable"] == 0


@pytest.mark.parametrize(
    "change, message",
    [
        (lambda s: s["spec"]["predictor"].update(minReplica=1), "minReplica"),
        (lambda s: s["spec"]["predictor"].update(scaleMetric="gpu"), "gpu"),
        (lambda s: s["spec"]["predictor"].update(minReplicas=-1), "-1"),
        (lambda s: s["spec"]["predictor"]["containers"][0].pop("name"), "name"),
        (lambda s: s["spec"].pop("predictor"), "predictor"),
    ],
)
def test_the_schema_check_catches_mistakes(change: Any, message: str) -> None:
    service = copy.deepcopy(h.inference_service())
    change(service)
    found = errors(h, service)
    assert found and any(message in line for line in found), found
