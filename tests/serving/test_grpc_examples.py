"""TF Serving's gRPC Classify and Regress with tf.Example inputs (``Input.example_list`` and
``example_list_with_context``), called as a tensorflow-serving-api client calls them: a grpcio
channel at its default settings and a stub per method (request serializer, response
deserializer), plus golden bytes of one request worked out from the public protos."""

from __future__ import annotations

import base64
import struct
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import numpy as np
import pytest

from mlengine import protos
from mlengine.data.examples import make_example
from mlengine.export import load
from mlengine.registry import Registry
from tests.tf import helpers as th

PREDICTION = "/tensorflow.serving.PredictionService/"


class PredictionServiceStub:
    """What tensorflow-serving-api's generated ``PredictionServiceStub`` is: one grpcio
    callable per method, serializing our request class and parsing our response class."""

    def __init__(self, channel: grpc.Channel) -> None:
        for method, (request, response) in protos.methods(protos.PREDICTION_SERVICE).items():
            setattr(
                self,
                method,
                channel.unary_unary(
                    PREDICTION + method,
                    request_serializer=protos.message(request).SerializeToString,
                    response_deserializer=protos.message(response).FromString,
                ),
            )


@pytest.fixture(scope="module")
def tf_exports(exports_root: Path) -> dict[str, Path]:
    return th.train_and_export(exports_root / "tf_receivers")


@pytest.fixture
def stub(
    make_client: Any, registry: Registry, tf_exports: dict[str, Path]
) -> Iterator[PredictionServiceStub]:
    registry.create_model("parsed")  # its receiver parses tf.Examples
    registry.create_version("parsed", "v1", str(tf_exports["example"]))
    registry.create_model("plain")  # named features only: examples read by feature name
    registry.create_version("plain", "v1", str(tf_exports["csv"]))
    client = make_client(grpc_port=0)
    with grpc.insecure_channel(f"127.0.0.1:{client.app.state.grpc_port}") as channel:
        found = PredictionServiceStub(channel)
        found.http = client  # type: ignore[attr-defined]
        yield found


def request(kind: str, model: str, examples: list[dict[str, Any]], **spec: Any) -> Any:
    message = protos.message(f"tensorflow.serving.{kind}Request")()
    message.model_spec.name = model
    for key, value in spec.items():
        setattr(message.model_spec, key, value)
    for instance in examples:
        message.input.example_list.examples.add().CopyFrom(make_example(instance))
    return message


def expected(export: Path, instances: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """The export's own answers for the same features as JSON, as the float32 numbers the
    protos carry (the examples decode to the same values and take the same code path in this
    process: equal, not close)."""
    answers = load(str(export)).predict(instances)
    return {key: np.asarray(value).astype(np.float32) for key, value in answers.items()}


def scores(response: Any) -> tuple[list[list[str]], list[list[float]]]:
    labels = [[c.label for c in row.classes] for row in response.result.classifications]
    values = [[c.score for c in row.classes] for row in response.result.classifications]
    return labels, values


@pytest.mark.parametrize("model", ["parsed", "plain"])
def test_classify_answers_each_examples_classes(
    stub: Any, tf_exports: dict[str, Path], model: str
) -> None:
    answer = stub.Classify(request("Classification", model, th.INSTANCES), timeout=10)
    assert answer.model_spec.name == model and answer.model_spec.version.value == 1
    assert answer.model_spec.signature_name == "classification"  # the classify signature
    labels, values = scores(answer)
    assert labels == [["0", "1"]] * len(th.INSTANCES)
    want = expected(tf_exports["example"], th.INSTANCES)["probabilities"]
    np.testing.assert_array_equal(np.array(values, dtype=np.float32), want)
    # The same examples through REST's :classify ({"b64": ...}) give the same scores.
    if model == "parsed":
        b64 = [
            {"b64": base64.b64encode(make_example(i).SerializeToString()).decode()}
            for i in th.INSTANCES
        ]
        rest = stub.http.post(f"/v1/models/{model}:classify", json={"examples": b64}).json()
        rest_scores = [[score for _, score in row] for row in rest["results"]]
        np.testing.assert_array_equal(np.array(rest_scores, dtype=np.float32), values)


def test_regress_and_a_context_shared_by_the_examples(
    stub: Any, tf_exports: dict[str, Path]
) -> None:
    message = protos.message("tensorflow.serving.RegressionRequest")()
    message.model_spec.name = "parsed"
    message.model_spec.signature_name = "regression"
    given = message.input.example_list_with_context
    given.context.CopyFrom(make_example({"work": "b", "hours": 40.0}))
    given.examples.add().CopyFrom(make_example({"age": 25.0}))
    given.examples.add().CopyFrom(make_example({"age": 52.0, "work": "a"}))  # its own wins
    answer = stub.Regress(message, timeout=10)
    assert answer.model_spec.signature_name == "regression"
    merged = [
        {"age": 25.0, "hours": 40.0, "work": "b"},
        {"age": 52.0, "hours": 40.0, "work": "a"},
    ]
    want = expected(tf_exports["example"], merged)["logistic"].reshape(-1)
    got = [r.value for r in answer.result.regressions]
    np.testing.assert_array_equal(np.array(got, dtype=np.float32), want)


def test_golden_classify_bytes(stub: Any, tf_exports: dict[str, Path]) -> None:
    # ClassificationRequest{model_spec(1){name(1) "parsed"}, input(2){example_list(1){
    #   examples(1) Example{features(1){feature(1) map entries {key(1), value(2) Feature}}}}}
    # Feature{float_list(2){value(1) packed}} / Feature{bytes_list(1){value(1)}}.
    def entry(key: bytes, feature: bytes) -> bytes:
        return field(1, field(1, key) + field(2, feature))

    def floats(value: float) -> bytes:
        return field(2, field(1, struct.pack("<f", value)))

    example = field(1, entry(b"age", floats(25.0)) + entry(b"hours", floats(40.0))
                    + entry(b"work", field(1, field(1, b"a"))))  # fmt: skip
    golden = field(1, field(1, b"parsed")) + field(2, field(1, field(1, example)))
    parsed = protos.message("tensorflow.serving.ClassificationRequest").FromString(golden)
    assert parsed == request("Classification", "parsed", th.INSTANCES[:1])
    channel = grpc.insecure_channel(f"127.0.0.1:{stub.http.app.state.grpc_port}")
    with channel:
        answer_bytes = channel.unary_unary(PREDICTION + "Classify")(golden, timeout=10)
    answer = protos.message("tensorflow.serving.ClassificationResponse").FromString(answer_bytes)
    _, values = scores(answer)
    want = expected(tf_exports["example"], th.INSTANCES[:1])["probabilities"]
    np.testing.assert_array_equal(np.array(values, dtype=np.float32), want)


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


@pytest.mark.parametrize(
    ("model", "examples", "words"),
    [
        ("parsed", [th.INSTANCES[0], {"age": 30.0, "work": "a"}],
         ["Example 1", "'hours'", "required"]),
        ("parsed", [{"age": "old", "hours": 1.0}], ["Example 0", "'age'", "bytes_list"]),
        ("plain", [{"age": 30.0, "work": "a"}], ["Example 0", "hours"]),
        ("plain", [{"age": "old", "hours": 1.0}], ["Example 0", "age"]),
    ],
)  # fmt: skip
def test_bad_examples_are_invalid_arguments_naming_example_and_feature(
    stub: Any, model: str, examples: list[dict[str, Any]], words: list[str]
) -> None:
    with pytest.raises(grpc.RpcError) as info:
        stub.Classify(request("Classification", model, examples), timeout=10)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert all(word in info.value.details() for word in words), info.value.details()


def test_empty_inputs_wrong_signatures_and_non_examples(stub: Any) -> None:
    with pytest.raises(grpc.RpcError) as empty:
        stub.Regress(request("Regression", "parsed", []), timeout=10)
    assert empty.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "no example_list" in empty.value.details()
    # A signature of another method is refused, naming the method.
    with pytest.raises(grpc.RpcError) as wrong:
        stub.Regress(
            request("Regression", "parsed", th.INSTANCES, signature_name="serving_default"),
            timeout=10,
        )
    assert wrong.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not tensorflow/serving/regress" in wrong.value.details()
    # An example whose bytes are not a tf.Example: the whole request is not the method's
    # message (TF Serving answers INVALID_ARGUMENT too).
    channel = grpc.insecure_channel(f"127.0.0.1:{stub.http.app.state.grpc_port}")
    with channel:
        garbage = field(1, field(1, b"parsed")) + field(2, field(1, field(1, b"\xff\xff")))
        with pytest.raises(grpc.RpcError) as bad:
            channel.unary_unary(PREDICTION + "Classify")(garbage, timeout=10)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    # The server keeps serving.
    assert stub.Classify(request("Classification", "parsed", th.INSTANCES[:1]), timeout=10)
