"""The Open Inference Protocol v2: health, metadata, readiness and ``/infer`` (one input tensor per
feature, BYTES for strings), JSON and binary tensor data, Triton's extensions (classification,
model configuration, repository index, statistics), by hand and through a real v2 client library
(tritonclient, at its defaults)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.export import load
from tests import tolerance
from tests.serving import helpers as h

OUTPUTS = ["class_ids", "classes", "logistic", "logits", "probabilities"]


def tensors(instances: list[dict[str, Any]], nested: bool = True) -> list[dict[str, Any]]:
    """One input tensor per feature, shape [n, 1] (nested data) or [n] (flat)."""
    out = []
    for name in ("age", "hours_per_week", "education", "occupation"):
        values = [i[name] for i in instances]
        datatype = "BYTES" if isinstance(values[0], str) else "FP32"
        shape = [len(values), 1] if nested else [len(values)]
        data = [[v] for v in values] if nested else values
        out.append({"name": name, "shape": shape, "datatype": datatype, "data": data})
    return out


def test_health_and_server_metadata(client: Any) -> None:
    assert client.get("/v2/health/live").json() == {"live": True}
    ready = client.get("/v2/health/ready")
    assert ready.status_code == 200 and ready.json() == {"ready": True}
    meta = client.get("/v2").json()
    assert (
        meta["name"] == "mlengine"
        and "version" in meta
        and set(meta["extensions"])
        == {
            "binary_tensor_data",
            "classification",
            "model_configuration",
            "statistics",
        }
    )


def test_model_metadata_and_readiness(client: Any) -> None:
    meta = client.get("/v2/models/census").json()
    assert meta["name"] == "census"
    assert meta["versions"] == ["1", "2"]
    assert meta["platform"] == "mlengine_pytorch"
    assert {t["name"]: t["datatype"] for t in meta["inputs"]} == {
        "age": "FP32",
        "education": "BYTES",
        "hours_per_week": "FP32",
        "occupation": "BYTES",
    }
    assert [t["name"] for t in meta["outputs"]] == OUTPUTS
    assert meta["outputs"][4] == {"name": "probabilities", "datatype": "FP32", "shape": [-1, 2]}
    assert client.get("/v2/models/census/versions/2").json()["name"] == "census"
    for path in ("/v2/models/census/ready", "/v2/models/census/versions/v2/ready"):
        response = client.get(path)
        assert response.status_code == 200 and response.json() == {"name": "census", "ready": True}
    assert client.get("/v2/models/nope/ready").status_code == 404
    assert client.get("/v2/models/nope").status_code == 404


@pytest.mark.parametrize("nested", [True, False])
def test_infer(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]], nested: bool
) -> None:
    expected = load(exports["v2"]).predict(instances)
    body = {"id": "req-7", "inputs": tensors(instances, nested)}
    response = client.post("/v2/models/census/versions/2/infer", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert answer["model_name"] == "census" and answer["model_version"] == "2"
    assert answer["id"] == "req-7"
    by_name = {t["name"]: t for t in answer["outputs"]}
    assert list(by_name) == OUTPUTS
    n = len(instances)
    assert by_name["probabilities"]["shape"] == [n, 2]
    assert by_name["probabilities"]["datatype"] == "FP32"
    assert by_name["classes"]["datatype"] == "BYTES"
    assert by_name["class_ids"]["datatype"] == "INT64"
    got = {name: np.array(t["data"]).reshape(t["shape"]) for name, t in by_name.items()}
    rounding = tolerance.Bound.of_export(exports["v2"]).logits(instances)
    tolerance.assert_predictions_close(got, expected, rounding)


def test_infer_requested_outputs_and_default_version(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]]
) -> None:
    body = {"inputs": tensors(instances), "outputs": [{"name": "logistic"}]}
    answer = client.post("/v2/models/census/infer", json=body).json()
    assert answer["model_version"] == "1" and "id" not in answer
    assert [t["name"] for t in answer["outputs"]] == ["logistic"]
    want = load(exports["v1"]).predict(instances)
    got = {"logistic": np.array(answer["outputs"][0]["data"]).reshape(-1, 1)}
    rounding = tolerance.Bound.of_export(exports["v1"]).logits(instances)
    tolerance.assert_predictions_close(got, want, rounding, only=["logistic"])


@pytest.mark.parametrize(
    ("change", "needle"),
    [
        (lambda b: b.update(inputs=[]), "non-empty array"),
        (lambda b: b.update(inputs={}), "non-empty array"),
        (lambda b: b["inputs"].append(dict(b["inputs"][0])), "given twice"),
        (lambda b: b["inputs"][0].update(name="nope"), "Unknown input tensor 'nope'"),
        (lambda b: b["inputs"][0].update(datatype="BYTES"), "expected FP32"),
        (lambda b: b["inputs"][2].update(datatype="FP32"), "expected BYTES"),
        (lambda b: b["inputs"][0].update(shape=[3, 2]), "expected [n] or [n, 1]"),
        (lambda b: b["inputs"][0].update(shape=[2, 1]), "3 values for shape [2, 1]"),
        (lambda b: b["inputs"][0].update(shape=[-1, 1]), "has shape [-1, 1]"),
        (lambda b: b["inputs"][0].update(data=[[[1]], [[2]], [[3]]]), "nested deeper"),
        (lambda b: b["inputs"][0].update(data="x"), "'data' must be an array"),
        (lambda b: b["inputs"][0].update(data=[["a"], ["b"], ["c"]]), "must be a number"),
        (lambda b: b["inputs"][0].update(parameters={"binary_data_size": 12}), "no Inference-"),
        (lambda b: b.update(parameters={"binary_data_output": 1}), "must be true or false"),
        (
            lambda b: b.update(outputs=[{"name": "logits", "parameters": {"classification": -1}}]),
            "'classification' must be a count",
        ),
        (lambda b: b["inputs"].pop(0), "Required input tensor 'age' is missing"),
        (lambda b: b.update(id=5), "'id' must be a string"),
        (lambda b: b.update(outputs=[{"name": "nope"}]), "Unknown output 'nope'"),
        (lambda b: b["inputs"][1].update(shape=[2, 1], data=[[1], [2]]), "batch size 2"),
    ],
)
def test_infer_errors(
    client: Any, instances: list[dict[str, Any]], change: Any, needle: str
) -> None:
    body: dict[str, Any] = {"inputs": tensors(instances)}
    change(body)
    response = client.post("/v2/models/census/infer", json=body)
    assert response.status_code == 400, response.text
    assert needle in response.json()["error"]


def triton_http() -> Any:
    """tritonclient.http (CI must not go green without the real client)."""
    if os.environ.get("CI") == "true":
        import tritonclient.http as httpclient

        return httpclient
    return pytest.importorskip("tritonclient.http")


@pytest.mark.parametrize("binary", [None, False], ids=["defaults-binary", "json"])
def test_tritonclient(
    client: Any, exports: dict[str, Path], instances: list[dict[str, Any]], binary: bool | None
) -> None:
    """A real v2 client library against the real uvicorn server: at its defaults (binary
    tensors both ways) and with ``binary_data=False`` (JSON)."""
    httpclient = triton_http()
    options = {} if binary is None else {"binary_data": binary}
    triton = httpclient.InferenceServerClient(url=client.url.removeprefix("http://"))
    try:
        assert triton.is_server_live()
        assert triton.is_server_ready()
        assert triton.is_model_ready("census")
        assert triton.is_model_ready("census", model_version="2")
        assert not triton.is_model_ready("nope")
        metadata = triton.get_model_metadata("census")
        assert [i["name"] for i in metadata["inputs"]] == [
            "age",
            "education",
            "hours_per_week",
            "occupation",
        ]
        inputs = h.triton_inputs(httpclient, instances, **options)
        outputs = [
            httpclient.InferRequestedOutput(name, **options)
            for name in ("probabilities", "classes", "class_ids")
        ]
        result = triton.infer("census", inputs, outputs=outputs, model_version="2", request_id="7")
        expected = load(exports["v2"]).predict(instances)
        got = {name: result.as_numpy(name) for name in ("probabilities", "class_ids")}
        assert got["probabilities"].dtype == np.float32 and got["class_ids"].dtype == np.int64
        rounding = tolerance.Bound.of_export(exports["v2"]).logits(instances)
        tolerance.assert_predictions_close(got, expected, rounding, only=list(got))
        classes = [c[0] for c in result.as_numpy("classes").tolist()]
        if binary is None:  # BYTES come back as bytes
            classes = [c.decode() for c in classes]
        assert classes == [str(c[0]) for c in expected["classes"].tolist()]
        # (the only rows here are decided: the check above compared their class_ids)
        assert result.get_response()["id"] == "7"
        # Without outputs the client asks for every output in binary.
        default = triton.infer("census", inputs)
        assert default.as_numpy("logistic").shape == (len(instances), 1)
        assert {o["name"] for o in default.get_response()["outputs"]} == set(OUTPUTS)
    finally:
        triton.close()


def test_tritonclient_extensions(fresh: Any, instances: list[dict[str, Any]]) -> None:
    """Classification, model configuration, repository index and statistics, as
    tritonclient asks for them (a server of its own: statistics count its requests)."""
    httpclient = triton_http()
    client = fresh
    probabilities = load_probabilities(client, instances)
    triton = httpclient.InferenceServerClient(url=client.url.removeprefix("http://"))
    try:
        config = triton.get_model_config("census", model_version="2")
        assert config["name"] == "census" and config["max_batch_size"] > 0
        assert {i["name"]: i["data_type"] for i in config["input"]}["education"] == "TYPE_STRING"
        assert {o["name"]: o["dims"] for o in config["output"]}["probabilities"] == [2]

        index = triton.get_model_repository_index()
        assert {"name": "census", "version": "2", "state": "READY"} in index
        assert {entry["name"] for entry in index} == {"census", "multi", "reg"}

        before = triton.get_inference_statistics("census", model_version="1")["model_stats"][0]
        top = httpclient.InferRequestedOutput("probabilities", class_count=2)
        result = triton.infer("census", h.triton_inputs(httpclient, instances), outputs=[top])
        cells = result.as_numpy("probabilities")
        assert cells.shape == (len(instances), 2)
        for row, want in zip(cells.tolist(), probabilities, strict=True):
            # "score:index:label", best first; labels of a binary model are "0" and "1".
            parsed = [cell.decode().split(":") for cell in row]
            assert [int(index) for _, index, _ in parsed] == np.argsort(-want, kind="stable")[
                :2
            ].tolist()
            assert [label for _, _, label in parsed] == [index for _, index, _ in parsed]
            # %f prints 6 decimals: equal within half of the last one.
            for score, index, _ in parsed:
                assert abs(float(score) - want[int(index)]) <= 5e-7

        after = triton.get_inference_statistics("census", model_version="1")["model_stats"][0]
        assert after["name"] == "census" and after["version"] == "1"
        assert int(after["inference_count"]) == int(before["inference_count"]) + len(instances)
        assert int(after["inference_stats"]["success"]["count"]) == (
            int(before["inference_stats"]["success"]["count"]) + 1
        )
        assert int(after["execution_count"]) >= int(before["execution_count"]) + 1
        everything = triton.get_inference_statistics()["model_stats"]
        assert {(s["name"], s["version"]) for s in everything} >= {("census", "1"), ("reg", "1")}
    finally:
        triton.close()


def load_probabilities(client: Any, instances: list[dict[str, Any]]) -> list[np.ndarray]:
    """The default version's probabilities of ``instances``, as its JSON answer gives them."""
    body = {"inputs": tensors(instances), "outputs": [{"name": "probabilities"}]}
    answer = client.post("/v2/models/census/infer", json=body).json()
    rows = np.array(answer["outputs"][0]["data"], dtype=np.float32).reshape(len(instances), -1)
    return list(rows)
