"""Hostile gRPC calls (TF Serving's Predict, OIP v2's ModelInfer): huge shapes that one value
would fill, any dtype, raw contents of the wrong size, strings past the limit, numbers beyond
float32, and messages past the size limit. Each is refused with a status that names the client's
mistake (never UNKNOWN or INTERNAL), and the server answers a valid call right after."""

from __future__ import annotations

import struct
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from hypothesis import HealthCheck, given, settings

from mlengine import protos
from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.hostile import strategies as hs
from tests.serving import helpers as h

PREDICT = "/tensorflow.serving.PredictionService/Predict"
INFER = "/inference.GRPCInferenceService/ModelInfer"
# The client's mistakes: anything else (UNKNOWN, INTERNAL, UNAVAILABLE) is the server's.
REFUSALS = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
HOSTILE = settings(
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture(scope="module")
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """census (v1) served with its gRPC port on, and a channel to that port."""
    root = tmp_path_factory.mktemp("hostile_grpc")
    export = h.train(root / "v1", "binary", steps=2)
    with Registry(f"sqlite:///{root / 'r.db'}", root / "artifacts") as registry:
        registry.create_model(hs.MODEL)
        registry.create_version(hs.MODEL, "v1", str(export))
        app = create_app(registry, ServeSettings(poll_interval=0.05, grpc_port=0))
        client = h.LiveClient(app)
        try:
            with grpc.insecure_channel(f"127.0.0.1:{app.state.grpc_port}") as opened:
                yield opened
        finally:
            client.close()


def predict_request() -> Any:
    """A valid PredictRequest of one instance (typed values, as TF's clients write them)."""
    request = protos.message("tensorflow.serving.PredictRequest")()
    request.model_spec.name = hs.MODEL
    for name, value in hs.instance().items():
        tensor = request.inputs[name]
        tensor.tensor_shape.dim.add(size=1)
        if isinstance(value, str):
            tensor.dtype = hs.DT_STRING
            tensor.string_val.append(value.encode())
        else:
            tensor.dtype = hs.DT_FLOAT
            tensor.float_val.append(value)
    return request


def infer_request() -> Any:
    """A valid ModelInferRequest of one instance (typed contents)."""
    request = protos.message("inference.ModelInferRequest")(model_name=hs.MODEL)
    for name, value in hs.instance().items():
        datatype = "BYTES" if isinstance(value, str) else "FP32"
        tensor = request.inputs.add(name=name, datatype=datatype, shape=[1])
        if isinstance(value, str):
            tensor.contents.bytes_contents.append(value.encode())
        else:
            tensor.contents.fp32_contents.append(value)
    return request


def call(channel: Any, method: str, request: Any) -> Any:
    return channel.unary_unary(method)(request.SerializeToString(), timeout=30)


def refused(channel: Any, method: str, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(channel, method, request)
    error = info.value
    assert error.code() in REFUSALS, (error.code(), error.details())
    assert "Traceback" not in (error.details() or "")
    return error


def still_serves(channel: Any) -> None:
    """Both services answer a valid call: the hostile one before left the server serving."""
    call(channel, PREDICT, predict_request())
    call(channel, INFER, infer_request())


def test_the_valid_requests_are_answered(channel: Any) -> None:
    still_serves(channel)


@HOSTILE
@given(mutation=hs.grpc_predict_mutations)
def test_hostile_predict_requests_are_refused(channel: Any, mutation: hs.Mutation) -> None:
    request = predict_request()
    mutation(request)
    refused(channel, PREDICT, request)
    still_serves(channel)


@HOSTILE
@given(mutation=hs.grpc_infer_mutations)
def test_hostile_infer_requests_are_refused(channel: Any, mutation: hs.Mutation) -> None:
    request = infer_request()
    mutation(request)
    refused(channel, INFER, request)
    still_serves(channel)


@pytest.mark.parametrize("size", [2**31, 2**40, 10**12])
def test_one_value_cannot_fill_a_huge_tensor(channel: Any, size: int) -> None:
    """TensorFlow's fill rule lets one value stand for any shape: the server bounds the shape
    before it allocates (it would take terabytes here), naming the input and the limit."""
    request = predict_request()
    request.inputs["age"].tensor_shape.dim[0].size = size
    for name in ("hours_per_week", "education", "occupation"):
        request.inputs[name].tensor_shape.dim[0].size = size
    error = refused(channel, PREDICT, request)
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "Input tensor 'age'" in error.details() and "--max-body-bytes" in error.details()
    still_serves(channel)


@pytest.mark.parametrize("method", [PREDICT, INFER])
def test_strings_and_numbers_meet_the_rest_limits(channel: Any, method: str) -> None:
    """The same rules and words as REST (19.2, 19.8): a string past --max-string-length and a
    number beyond float32 are INVALID_ARGUMENT naming feature and instance."""
    long = predict_request() if method == PREDICT else infer_request()
    if method == PREDICT:
        long.inputs["occupation"].string_val[0] = b"x" * 4097
    else:
        hs._v2_string(4097)(long)
    error = refused(channel, method, long)
    assert "Instance 0: feature 'occupation' is a string of 4097" in error.details()
    big = predict_request() if method == PREDICT else infer_request()
    if method == PREDICT:
        hs._tf_double(1e300)(big)
    else:
        hs._v2_double(1e300)(big)
    error = refused(channel, method, big)
    assert "Instance 0: feature 'age' must be a finite number in float32" in error.details()
    still_serves(channel)


def test_raw_float32_nan_and_inf_are_refused(channel: Any) -> None:
    for value in (float("nan"), float("inf")):
        request = infer_request()
        raw = []
        for tensor in request.inputs:
            if tensor.name == "age":
                raw.append(struct.pack("<f", value))
            elif tensor.datatype == "BYTES":
                text = tensor.contents.bytes_contents[0]
                raw.append(len(text).to_bytes(4, "little") + text)
            else:
                raw.append(struct.pack("<f", tensor.contents.fp32_contents[0]))
            tensor.ClearField("contents")
        request.raw_input_contents.extend(raw)
        error = refused(channel, INFER, request)
        assert "feature 'age' must be a finite number" in error.details()
    still_serves(channel)


def test_a_message_past_the_size_limit_is_resource_exhausted(channel: Any) -> None:
    request = infer_request()
    request.raw_input_contents.append(b"\x00" * (ServeSettings().max_body_bytes + 1))
    error = refused(channel, INFER, request)
    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    still_serves(channel)
