"""The protos: the checked-in descriptors are what the .proto files compile to, and they
live in mlengine's own descriptor pool (a client's generated code for the same protocol can
share the process)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mlengine import protos
from mlengine.protos import generate


def test_checked_in_descriptors_are_what_the_protos_compile_to(tmp_path: Path) -> None:
    pytest.importorskip("grpc_tools")
    written = generate.generate(tmp_path / "descriptors.binpb")
    assert written.read_bytes() == generate.OUTPUT.read_bytes(), (
        "descriptors.binpb is stale: run python -m mlengine.protos.generate"
    )


def test_every_service_method_is_declared() -> None:
    assert sorted(protos.methods(protos.OIP_SERVICE)) == [
        "ModelConfig",
        "ModelInfer",
        "ModelMetadata",
        "ModelReady",
        "ModelStatistics",
        "RepositoryIndex",
        "ServerLive",
        "ServerMetadata",
        "ServerReady",
    ]
    assert sorted(protos.methods(protos.PREDICTION_SERVICE)) == [
        "Classify",
        "GetModelMetadata",
        "Predict",
        "Regress",
    ]
    assert list(protos.methods(protos.MODEL_SERVICE)) == ["GetModelStatus"]


def test_the_pool_is_our_own_beside_tritonclients() -> None:
    service_pb2 = pytest.importorskip("tritonclient.grpc.service_pb2")
    ours = protos.message("inference.ModelInferRequest")
    theirs = service_pb2.ModelInferRequest
    assert ours is not theirs
    # Same wire format: each reads what the other writes.
    sent = theirs(model_name="census", raw_input_contents=[b"\x01\x02"])
    assert ours.FromString(sent.SerializeToString()).raw_input_contents == [b"\x01\x02"]
