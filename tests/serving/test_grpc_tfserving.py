"""TF Serving's gRPC API (PredictionService, ModelService) with our own stubs and golden bytes
written down from the public protos (field numbers and wire types, worked out in comments), as
a tensorflow-serving-api client would send and read them."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from mlengine import protos
from mlengine.export import load
from tests import tolerance

PREDICTION = "/tensorflow.serving.PredictionService/"
STATUS = "/tensorflow.serving.ModelService/GetModelStatus"


def varint(value: int) -> bytes:
    out = b""
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out += bytes([byte | 0x80])
        else:
            return out + bytes([byte])


def field(number: int, payload: bytes) -> bytes:
    """A length-delimited field (wire type 2): tag, length, payload."""
    return varint(number << 3 | 2) + varint(len(payload)) + payload


def float_tensor(value: float) -> bytes:
    # TensorProto{dtype(1)=DT_FLOAT(1), tensor_shape(2){dim(2){size(1)=1}}, float_val(5) packed}
    shape = field(2, b"\x08\x01")
    return b"\x08\x01" + field(2, shape) + field(5, struct.pack("<f", value))


def string_tensor(value: str) -> bytes:
    # TensorProto{dtype(1)=DT_STRING(7), tensor_shape(2){dim{size 1}}, string_val(8)=value}
    return b"\x08\x07" + field(2, field(2, b"\x08\x01")) + field(8, value.encode())


def golden_predict(instance: dict[str, Any], version: int) -> bytes:
    """PredictRequest{model_spec(1){name(1) "census", version(2){value(1)}},
    inputs(2): one map entry {key(1), value(2) TensorProto} per feature}."""
    spec = field(1, b"census") + field(2, b"\x08" + varint(version))
    body = field(1, spec)
    for name in ("age", "education", "hours_per_week", "occupation"):
        value = instance[name]
        tensor = string_tensor(value) if isinstance(value, str) else float_tensor(value)
        body += field(2, field(1, name.encode()) + field(2, tensor))
    return body


@pytest.fixture
def channel(make_client: Any) -> Iterator[Any]:
    client = make_client(grpc_port=0)
    with grpc.insecure_channel(f"127.0.0.1:{client.app.state.grpc_port}") as opened:
        opened.http = client
        yield opened


def call(channel: Any, method: str, request: bytes | Any, response: str) -> Any:
    """A unary call with our own stub: bytes in, our message class out."""
    raw = request if isinstance(request, bytes) else request.SerializeToString()
    path = method if method.startswith("/") else PREDICTION + method
    answer = channel.unary_unary(path)(raw, timeout=10)
    return protos.message(response).FromString(answer)


def as_array(tensor: Any) -> np.ndarray:
    """A TensorProto as numpy: tensor_content (DT_FLOAT, DT_INT64) or string_val."""
    shape = [dim.size for dim in tensor.tensor_shape.dim]
    if tensor.dtype == 7:
        return np.array([v.decode() for v in tensor.string_val]).reshape(shape)
    dtype = {1: "<f4", 9: "<i8"}[tensor.dtype]
    return np.frombuffer(tensor.tensor_content, dtype=dtype).reshape(shape)


def test_predict_from_golden_bytes(
    channel: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    golden = golden_predict(instances[0], version=2)
    # Our message class reads the golden bytes as the request they describe.
    parsed = protos.message("tensorflow.serving.PredictRequest").FromString(golden)
    assert parsed.model_spec.version.value == 2
    assert list(parsed.inputs["age"].float_val) == [instances[0]["age"]]
    answer = call(channel, "Predict", golden, "tensorflow.serving.PredictResponse")
    assert answer.model_spec.name == "census" and answer.model_spec.version.value == 2
    assert answer.model_spec.signature_name == "serving_default"
    assert sorted(answer.outputs) == ["class_ids", "classes", "logistic", "logits", "probabilities"]
    probabilities = answer.outputs["probabilities"]
    assert probabilities.dtype == 1 and [d.size for d in probabilities.tensor_shape.dim] == [1, 2]
    got = {name: as_array(answer.outputs[name]) for name in ("probabilities", "class_ids")}
    expected = load(exports["v2"]).predict(instances[:1])
    rounding = tolerance.Bound.of_export(exports["v2"]).logits(instances[:1])
    tolerance.assert_predictions_close(got, expected, rounding, only=list(got))
    assert as_array(answer.outputs["classes"]).tolist() == [[str(expected["classes"][0][0])]]


def test_predict_batches_content_filters_and_labels(
    channel: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    request = protos.message("tensorflow.serving.PredictRequest")()
    request.model_spec.name = "census"
    request.model_spec.signature_name = "classification"
    n = len(instances)
    for name in ("age", "hours_per_week"):
        tensor = request.inputs[name]
        tensor.dtype = 2  # DT_DOUBLE, raw little-endian in tensor_content
        tensor.tensor_shape.dim.add(size=n)
        tensor.tensor_content = struct.pack(f"<{n}d", *[i[name] for i in instances])
    for name in ("education", "occupation"):
        tensor = request.inputs[name]
        tensor.dtype = 7
        tensor.tensor_shape.dim.add(size=n)
        tensor.tensor_shape.dim.add(size=1)
        tensor.string_val.extend(i[name].encode() for i in instances)
    answer = call(channel, "Predict", request, "tensorflow.serving.PredictResponse")
    assert sorted(answer.outputs) == ["classes", "scores"]
    assert as_array(answer.outputs["classes"]).tolist() == [["0", "1"]] * n
    expected = load(exports["v1"]).predict(instances)
    bound = tolerance.Bound.of_export(exports["v1"]).logits(instances)
    tolerance.assert_predictions_close(
        {"probabilities": as_array(answer.outputs["scores"])},
        expected,
        bound,
        only=["probabilities"],
    )
    request.output_filter.append("scores")
    assert list(
        call(channel, "Predict", request, "tensorflow.serving.PredictResponse").outputs
    ) == ["scores"]
    # A single typed value fills its tensor, as TensorFlow fills one (age 30 for every row).
    del request.output_filter[:]
    request.model_spec.signature_name = ""
    age = request.inputs["age"]
    age.ClearField("tensor_content")
    age.dtype = 1
    age.float_val.append(30.0)
    filled = call(channel, "Predict", request, "tensorflow.serving.PredictResponse")
    same = [dict(i, age=30) for i in instances]
    want = load(exports["v1"]).predict(same)
    tolerance.assert_predictions_close(
        {"logistic": as_array(filled.outputs["logistic"])},
        want,
        tolerance.Bound.of_export(exports["v1"]).logits(same),
        only=["logistic"],
    )
    # A version label, set through the REST API.
    channel.http.patch(
        "/v1/projects/p/models/census?updateMask=versionLabels",
        json={"versionLabels": {"stable": "v2"}},
    )
    request.model_spec.version_label = "stable"
    labelled = call(channel, "Predict", request, "tensorflow.serving.PredictResponse")
    assert labelled.model_spec.version.value == 2


@pytest.mark.parametrize(
    ("change", "code", "needle"),
    [
        (lambda r: setattr(r.inputs["age"], "dtype", 7), "INVALID_ARGUMENT", "has dtype DT_STRING"),
        (lambda r: r.inputs["age"].tensor_shape.dim.add(size=2), "INVALID_ARGUMENT", "[1, 2]"),
        (lambda r: r.inputs["nope"].CopyFrom(r.inputs["age"]), "INVALID_ARGUMENT", "'nope'"),
        (lambda r: r.output_filter.append("nope"), "INVALID_ARGUMENT", "output_filter"),
        (lambda r: setattr(r.model_spec, "signature_name", "x"), "INVALID_ARGUMENT", '"x"'),
        (lambda r: setattr(r.model_spec, "name", "nope"), "NOT_FOUND", "Model (name=nope)"),
        (lambda r: r.model_spec.version.__setattr__("value", 9), "NOT_FOUND", "version=9"),
        (lambda r: setattr(r.model_spec, "version_label", "x"), "NOT_FOUND", "label 'x'"),
        (
            lambda r: r.inputs["age"].float_val.extend([1.0, 2.0]),
            "INVALID_ARGUMENT",
            "3 values for 1 elements",
        ),
    ],
)
def test_bad_predict_requests(
    channel: Any, instances: list[dict[str, Any]], change: Any, code: str, needle: str
) -> None:
    request = protos.message("tensorflow.serving.PredictRequest").FromString(
        golden_predict(instances[0], version=1)
    )
    change(request)
    with pytest.raises(grpc.RpcError) as info:
        call(channel, "Predict", request, "tensorflow.serving.PredictResponse")
    assert info.value.code().name == code
    assert needle in info.value.details(), info.value.details()


def test_model_status_golden_bytes(channel: Any) -> None:
    # GetModelStatusRequest{model_spec(1){name(1) "census", version(2){value(1) 1}}}
    request = field(1, field(1, b"census") + field(2, b"\x08\x01"))
    answer = channel.unary_unary(STATUS)(request, timeout=10)
    # GetModelStatusResponse{model_version_status(1){version(1)=1, state(2)=AVAILABLE(30),
    # status(3){}}}: 0a 06 | 08 01 | 10 1e | 1a 00 (an OK status is present and empty).
    assert answer == bytes.fromhex("0a060801101e1a00")
    every = call(
        channel,
        STATUS,
        field(1, field(1, b"census")),
        "tensorflow.serving.GetModelStatusResponse",
    )
    assert [(s.version, s.state) for s in every.model_version_status] == [(1, 30), (2, 30)]


def test_model_metadata_packs_the_signatures_in_an_any(channel: Any) -> None:
    request = protos.message("tensorflow.serving.GetModelMetadataRequest")()
    request.model_spec.name = "census"
    request.metadata_field.append("signature_def")
    answer = call(
        channel, "GetModelMetadata", request, "tensorflow.serving.GetModelMetadataResponse"
    )
    packed = answer.metadata["signature_def"]
    assert packed.type_url == "type.googleapis.com/tensorflow.serving.SignatureDefMap"
    defs = protos.message("tensorflow.serving.SignatureDefMap").FromString(packed.value)
    assert set(defs.signature_def) == {"serving_default", "predict", "classification", "regression"}
    default = defs.signature_def["serving_default"]
    assert default.method_name == "tensorflow/serving/predict"
    assert default.inputs["age"].dtype == 1 and default.inputs["education"].dtype == 7
    assert [d.size for d in default.outputs["probabilities"].tensor_shape.dim] == [-1, 2]
    assert answer.model_spec.version.value == 1
    del request.metadata_field[:]
    with pytest.raises(grpc.RpcError) as info:
        call(channel, "GetModelMetadata", request, "tensorflow.serving.GetModelMetadataResponse")
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "metadata_field" in info.value.details()


def test_classify_and_regress_take_tf_examples(channel: Any) -> None:
    # ClassificationRequest{model_spec(1){name "census"}, input(2){example_list(1){
    # examples(1): a tf.Example (empty here)}}}; tests/serving/test_grpc_examples.py has more.
    example_input = field(2, field(1, field(1, b"")))
    request = field(1, field(1, b"census")) + example_input
    with pytest.raises(grpc.RpcError) as info:
        channel.unary_unary(PREDICTION + "Classify")(request, timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Example 0" in info.value.details() and "age" in info.value.details()
    with pytest.raises(grpc.RpcError) as empty:
        channel.unary_unary(PREDICTION + "Regress")(field(1, field(1, b"census")), timeout=10)
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The signature is checked first: the census model's default is not a regression one.
    wrong = field(1, field(1, b"census") + field(3, b"serving_default")) + example_input
    with pytest.raises(grpc.RpcError) as signature:
        channel.unary_unary(PREDICTION + "Regress")(wrong, timeout=10)
    assert signature.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not tensorflow/serving/regress" in signature.value.details()
