"""The gRPC port: OIP v2's GRPCInferenceService through tritonclient.grpc at its defaults (raw
contents both ways), and its rules: the same checks and words as REST with gRPC status codes,
the token in metadata, the size limit; the server keeps serving after bad calls."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest
from google.protobuf import json_format

from mlengine import protos
from mlengine.export import load
from tests import tolerance
from tests.serving import helpers as h

TOKEN = "s3cret-token"


def triton_grpc() -> Any:
    if os.environ.get("CI") == "true":  # CI must not go green without the real client
        import tritonclient.grpc as grpcclient

        return grpcclient
    return pytest.importorskip("tritonclient.grpc")


@pytest.fixture
def grpc_server(make_client: Any) -> Iterator[Any]:
    """A server with its gRPC port on (``.grpc``: ``127.0.0.1:<port>``)."""
    client = make_client(grpc_port=0)
    client.grpc = f"127.0.0.1:{client.app.state.grpc_port}"
    yield client


def test_tritonclient_grpc_at_its_defaults(
    grpc_server: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    module = triton_grpc()
    triton = module.InferenceServerClient(url=grpc_server.grpc)
    try:
        assert triton.is_server_live() and triton.is_server_ready()
        assert triton.is_model_ready("census") and triton.is_model_ready("census", "2")
        assert not triton.is_model_ready("nope")
        assert triton.get_server_metadata().name == "mlengine"
        metadata = triton.get_model_metadata("census", as_json=True)
        assert metadata["versions"] == ["1", "2"]
        assert {i["name"]: i["datatype"] for i in metadata["inputs"]}["education"] == "BYTES"
        result = triton.infer(
            "census", h.triton_inputs(module, instances), model_version="2", request_id="r-1"
        )
        assert result.get_response().id == "r-1"
        assert result.get_response().model_version == "2"
        expected = load(exports["v2"]).predict(instances)
        got = {name: result.as_numpy(name) for name in ("probabilities", "logistic", "class_ids")}
        rounding = tolerance.Bound.of_export(exports["v2"]).logits(instances)
        tolerance.assert_predictions_close(got, expected, rounding, only=list(got))
        assert [c[0].decode() for c in result.as_numpy("classes").tolist()] == [
            str(c[0]) for c in expected["classes"].tolist()
        ]
        top = module.InferRequestedOutput("probabilities", class_count=1)
        best = triton.infer("census", h.triton_inputs(module, instances), outputs=[top])
        cells = [row[0].decode().split(":") for row in best.as_numpy("probabilities").tolist()]
        assert [label for _, _, label in cells] == [
            str(int(p[1] > p[0])) for p in load(exports["v1"]).predict(instances)["probabilities"]
        ]
    finally:
        triton.close()


def test_tritons_extensions_over_grpc_answer_what_rest_answers(
    grpc_server: Any, instances: list[dict[str, Any]]
) -> None:
    """ModelConfig, ModelStatistics and RepositoryIndex through tritonclient.grpc at its
    defaults (messages) and as JSON: the same content as the REST extensions'."""
    module = triton_grpc()
    triton = module.InferenceServerClient(url=grpc_server.grpc)
    try:
        triton.infer("census", h.triton_inputs(module, instances))
        config = triton.get_model_config("census")  # a ModelConfigResponse of Triton's protos
        assert config.config.name == "census" and config.config.max_batch_size > 0
        assert config.config.HasField("dynamic_batching")
        assert list(config.config.version_policy.specific.versions) == [1]
        names = module.model_config_pb2.DataType.Name
        types = {i.name: names(i.data_type) for i in config.config.input}
        assert types["education"] == "TYPE_STRING" and types["age"] == "TYPE_FP32"
        # REST's JSON is the same message (Triton's REST answer is its protobuf JSON form).
        rest_config = grpc_server.get("/v2/models/census/config").json()
        assert config.config == json_format.ParseDict(
            rest_config, module.model_config_pb2.ModelConfig()
        )
        stats = triton.get_inference_statistics("census", "1")
        [one] = stats.model_stats
        assert (one.name, one.version) == ("census", "1")
        assert one.inference_count >= len(instances) and one.inference_stats.success.count >= 1
        assert one.last_inference > 0 and one.batch_stats
        rest = grpc_server.get("/v2/models/census/versions/1/stats").json()["model_stats"][0]
        assert one.inference_stats.success.count == rest["inference_stats"]["success"]["count"]
        every = triton.get_inference_statistics()  # every model's ready versions
        assert {(s.name, s.version) for s in every.model_stats} == {
            (s["name"], s["version"])
            for s in grpc_server.get("/v2/models/stats").json()["model_stats"]
        }
        index = triton.get_model_repository_index()
        rest_index = grpc_server.post("/v2/repository/index", json={}).json()
        assert [(m.name, m.version, m.state) for m in index.models] == [
            (m["name"], m["version"], m["state"]) for m in rest_index
        ]
        assert ("census", "2", "READY") in [(m.name, m.version, m.state) for m in index.models]
        ready = triton.get_model_repository_index(as_json=True)
        assert [m["name"] for m in ready["models"]] == [m["name"] for m in rest_index]
        assert "statistics" in triton.get_server_metadata().extensions
        _refused(
            lambda: triton.get_model_config("nope"),
            grpc.StatusCode.NOT_FOUND,
            "Model (name=nope) not found",
        )
    finally:
        triton.close()


def _refused(call: Any, code: grpc.StatusCode, needle: str) -> None:
    module = triton_grpc()
    with pytest.raises(module.InferenceServerException) as info:
        call()
    assert info.value.status() == f"StatusCode.{code.name}", info.value
    assert needle in info.value.message(), info.value.message()


def test_bad_calls_get_the_protocols_codes(
    grpc_server: Any, instances: list[dict[str, Any]]
) -> None:
    module = triton_grpc()
    triton = module.InferenceServerClient(url=grpc_server.grpc)
    try:
        wrong = h.triton_inputs(module, instances)
        education = np.array([[1.0]] * len(instances), dtype=np.float32)
        wrong[2] = module.InferInput("education", [len(instances), 1], "FP32")
        wrong[2].set_data_from_numpy(education)
        # REST's words for the same tensor (tests/serving/test_v2.py), as a gRPC status.
        _refused(
            lambda: triton.infer("census", wrong),
            grpc.StatusCode.INVALID_ARGUMENT,
            "Input tensor 'education' has datatype 'FP32'; expected BYTES",
        )
        flat = h.triton_inputs(module, instances)
        flat[0] = module.InferInput("age", [len(instances), 2], "FP32")
        flat[0].set_data_from_numpy(np.zeros((len(instances), 2), dtype=np.float32))
        _refused(
            lambda: triton.infer("census", flat),
            grpc.StatusCode.INVALID_ARGUMENT,
            "expected [n] or [n, 1]",
        )
        _refused(
            lambda: triton.infer("nope", h.triton_inputs(module, instances)),
            grpc.StatusCode.NOT_FOUND,
            "Model (name=nope) not found",
        )
        _refused(
            lambda: triton.get_model_metadata("census", "9"),
            grpc.StatusCode.NOT_FOUND,
            "version=9",
        )
    finally:
        triton.close()
    # Raw bytes that disagree with the shape, and bytes that are no request at all.
    with grpc.insecure_channel(grpc_server.grpc) as channel:
        infer = channel.unary_unary("/inference.GRPCInferenceService/ModelInfer")
        request = protos.message("inference.ModelInferRequest")(model_name="census")
        request.inputs.add(name="age", datatype="FP32", shape=[2, 1])
        request.raw_input_contents.append(b"\x00" * 12)
        with pytest.raises(grpc.RpcError) as short:
            infer(request.SerializeToString(), timeout=10)
        assert short.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "has 12 bytes of data; shape [2, 1] of FP32 needs 8" in short.value.details()
        request.raw_input_contents.append(b"")
        with pytest.raises(grpc.RpcError) as extra:
            infer(request.SerializeToString(), timeout=10)
        assert "raw_input_contents has 2 entries for 1 inputs" in extra.value.details()
        with pytest.raises(grpc.RpcError) as garbage:
            infer(b"\xff\xff\xff", timeout=10)
        assert garbage.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert "not a valid inference.ModelInferRequest" in garbage.value.details()
        unknown = channel.unary_unary("/inference.GRPCInferenceService/RepositoryModelLoad")
        with pytest.raises(grpc.RpcError) as unimplemented:
            unknown(b"", timeout=10)
        assert unimplemented.value.code() == grpc.StatusCode.UNIMPLEMENTED
    assert grpc_server.get("/v2/health/ready").status_code == 200
    metrics = grpc_server.get("/metrics").text
    assert 'mlengine_refused_requests_total{protocol="v2_grpc",status="INVALID_ARGUMENT"}' in (
        metrics
    )
    # ... and it still answers.
    triton = module.InferenceServerClient(url=grpc_server.grpc)
    try:
        assert triton.infer("census", h.triton_inputs(module, instances)).as_numpy(
            "logistic"
        ).shape == (
            len(instances),
            1,
        )
    finally:
        triton.close()


def test_token_and_size_limit(make_client: Any, instances: list[dict[str, Any]]) -> None:
    module = triton_grpc()
    client = make_client(grpc_port=0, api_token=TOKEN, protect_predict=True, max_body_bytes=2000)
    triton = module.InferenceServerClient(url=f"127.0.0.1:{client.app.state.grpc_port}")
    try:
        assert triton.is_server_live()  # health stays open, as over REST
        _refused(
            lambda: triton.infer("census", h.triton_inputs(module, instances)),
            grpc.StatusCode.UNAUTHENTICATED,
            "authorization: Bearer <token>",
        )
        _refused(
            lambda: triton.get_model_metadata("census", headers={"authorization": "Bearer no"}),
            grpc.StatusCode.UNAUTHENTICATED,
            "not valid",
        )
        good = {"authorization": f"Bearer {TOKEN}"}
        answer = triton.infer("census", h.triton_inputs(module, instances), headers=good)
        assert answer.as_numpy("logistic").shape == (len(instances), 1)
        big = h.triton_inputs(module, instances * 200)
        _refused(
            lambda: triton.infer("census", big, headers=good),
            grpc.StatusCode.RESOURCE_EXHAUSTED,
            "larger than max",
        )
    finally:
        triton.close()
