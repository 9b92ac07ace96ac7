"""OIP v2's binary tensor data extension by hand: the framing of requests and answers, BYTES
length prefixes, and bodies whose sizes disagree with their header (a 400 naming the problem;
the server keeps serving)."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.export import load
from mlengine.serving import tensors
from tests import tolerance

FEATURES = ("age", "hours_per_week", "education", "occupation")


def strings(values: list[str]) -> bytes:
    """BYTES elements, written from the extension's rule: a 4-byte little-endian length, then
    the bytes."""
    return b"".join(struct.pack("<I", len(v.encode())) + v.encode() for v in values)


def binary_body(instances: list[dict[str, Any]], **request: Any) -> tuple[bytes, int]:
    """A request whose inputs are all binary: (body, JSON header length)."""
    header: dict[str, Any] = {"inputs": [], **request}
    chunks = []
    for name in FEATURES:
        values = [i[name] for i in instances]
        if isinstance(values[0], str):
            chunk, datatype = strings(values), "BYTES"
        else:
            chunk, datatype = struct.pack(f"<{len(values)}f", *values), "FP32"
        header["inputs"].append(
            {
                "name": name,
                "shape": [len(values), 1],
                "datatype": datatype,
                "parameters": {"binary_data_size": len(chunk)},
            }
        )
        chunks.append(chunk)
    encoded = json.dumps(header).encode()
    return encoded + b"".join(chunks), len(encoded)


def post(client: Any, body: bytes, length: int | str) -> Any:
    return client.post(
        "/v2/models/census/versions/2/infer",
        content=body,
        headers={"Inference-Header-Content-Length": str(length)},
    )


def split(response: Any) -> tuple[dict[str, Any], bytes]:
    length = int(response.headers["inference-header-content-length"])
    return json.loads(response.content[:length]), response.content[length:]


def test_binary_inputs_and_outputs(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    body, length = binary_body(
        instances,
        outputs=[
            {"name": "probabilities", "parameters": {"binary_data": True}},
            {"name": "classes", "parameters": {"binary_data": True}},
            {"name": "class_ids"},  # JSON, beside binary ones
        ],
    )
    response = post(client, body, length)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/octet-stream"
    header, raw = split(response)
    probabilities, classes, class_ids = header["outputs"]
    n = len(instances)
    assert probabilities["parameters"] == {"binary_data_size": n * 2 * 4}
    assert "data" not in probabilities and "parameters" not in class_ids
    got_probabilities = np.frombuffer(raw[: n * 8], dtype="<f4").reshape(n, 2)
    got_classes = tensors.decode_bytes(raw[n * 8 :], n, "classes")
    assert len(raw) == n * 8 + classes["parameters"]["binary_data_size"]
    expected = load(exports["v2"]).predict(instances)
    rounding = tolerance.Bound.of_export(exports["v2"]).logits(instances)
    got = {
        "probabilities": got_probabilities,
        "class_ids": np.array(class_ids["data"]).reshape(n, 1),
    }
    tolerance.assert_predictions_close(got, expected, rounding, only=list(got))
    assert [c.decode() for c in got_classes] == [str(c[0]) for c in expected["classes"].tolist()]


def test_binary_and_json_inputs_mix(client: Any, instances: list[dict[str, Any]]) -> None:
    body, length = binary_body(instances)
    header = json.loads(body[:length])
    raw = body[length:]
    # The first input (age) as JSON data instead: its bytes leave the binary part.
    age = header["inputs"][0]
    size = age["parameters"]["binary_data_size"]
    del age["parameters"]
    age["data"] = [[i["age"]] for i in instances]
    encoded = json.dumps(header).encode()
    response = post(client, encoded + raw[size:], len(encoded))
    assert response.status_code == 200, response.text
    assert "inference-header-content-length" not in response.headers  # all outputs JSON
    assert len(response.json()["outputs"]) == 5


def _declared_larger(body: bytes, length: int) -> tuple[bytes, int]:
    header = json.loads(body[:length])
    header["inputs"][0]["parameters"]["binary_data_size"] += 4
    encoded = json.dumps(header).encode()
    return encoded + body[length:], len(encoded)


def _bytes_element_too_long(body: bytes, length: int) -> tuple[bytes, int]:
    header = json.loads(body[:length])
    sizes = [t["parameters"]["binary_data_size"] for t in header["inputs"]]
    start = length + sizes[0] + sizes[1]  # the education tensor's first length prefix
    return body[:start] + struct.pack("<I", 10_000) + body[start + 4 :], length


@pytest.mark.parametrize(
    ("mutate", "needle"),
    [
        (lambda b, n: (b, n + 10_000), "but the body has"),
        (lambda b, n: (b, "twelve"), "must be a whole number of bytes"),
        (lambda b, n: (b, 0), "needs the JSON header"),
        (lambda b, n: (b + b"\x00" * 3, n), "3 bytes of binary data that no input"),
        (lambda b, n: (b[:-2], n), "only"),
        (_declared_larger, "has 16 bytes of data; shape [3, 1] of FP32 needs 12"),
        (_bytes_element_too_long, "declares 10000 bytes"),
        (lambda b, n: (b[: n - 1] + b"]" + b[n:], n), "not valid JSON"),
    ],
    ids=[
        "header-past-body",
        "header-not-a-number",
        "raw-request",
        "extra-bytes",
        "short-body",
        "size-larger-than-data",
        "bytes-length-overflow",
        "broken-json-header",
    ],
)
def test_sizes_that_disagree_are_a_400(
    fresh: Any, instances: list[dict[str, Any]], mutate: Any, needle: str
) -> None:
    body, length = binary_body(instances)
    bad_body, bad_length = mutate(body, length)
    response = post(fresh, bad_body, bad_length)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]
    # The server keeps serving, and counted the refusal.
    assert post(fresh, body, length).status_code == 200
    metrics = fresh.get("/metrics").text
    assert (
        'mlengine_request_errors_total{model="census",protocol="v2",status="400",version="v2"}'
        in metrics
    )


def test_fp32_data_of_the_wrong_size(client: Any, instances: list[dict[str, Any]]) -> None:
    body, length = binary_body(instances)
    header = json.loads(body[:length])
    header["inputs"][0]["datatype"] = "FP64"  # the bytes are 3 float32s: 12, not 24
    encoded = json.dumps(header).encode()
    response = post(client, encoded + body[length:], len(encoded))
    assert response.status_code == 400
    assert response.json()["error"] == (
        "Tensor 'age' has 12 bytes of data; shape [3, 1] of FP64 needs 24."
    )


def test_text_that_is_not_utf8(client: Any, instances: list[dict[str, Any]]) -> None:
    body, length = binary_body(instances[:1])
    header = json.loads(body[:length])
    sizes = [t["parameters"]["binary_data_size"] for t in header["inputs"]]
    start = length + sizes[0] + sizes[1] + 4  # education's first byte
    response = post(client, body[:start] + b"\xff" + body[start + 1 :], length)
    assert response.status_code == 400
    assert "BYTES element 0 is not UTF-8" in response.json()["error"]


def test_codec_round_trips() -> None:
    values = ["", "a", "é", "x" * 300]
    assert tensors.decode_bytes(tensors.encode_bytes(values), 4, "t") == [
        v.encode() for v in values
    ]
    assert tensors.encode_bytes(["ab"]) == b"\x02\x00\x00\x00ab"
    array = np.arange(6, dtype=np.int64).reshape(2, 3)
    raw = tensors.encode_raw("INT64", array)
    assert raw == struct.pack("<6q", *range(6))
    assert tensors.decode_raw("INT64", raw, [2, 3], "t").tolist() == list(range(6))
    assert tensors.decode_raw("BOOL", b"\x01\x00", [2], "t").tolist() == [True, False]
