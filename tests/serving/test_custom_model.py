"""A custom network's export (ONNX) served by a real server on 127.0.0.1, in every protocol
(REST, OIP v2 over gRPC) and ``:explain``, answers what its Predictor answers (the registry
loads it as any other version)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.export import Predictor, load
from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.export import helpers as export_helpers
from tests.serving import helpers as serving_helpers


@pytest.fixture(scope="module")
def custom_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(export_helpers.custom(tmp_path_factory.mktemp("custom")).export_dir)


@pytest.fixture(scope="module")
def live(custom_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("custom_serving")
    with Registry(f"sqlite:///{root / 'r.db'}", root / "artifacts") as registry:
        registry.create_model("custom")
        registry.create_version("custom", "v1", str(custom_export))
        client = serving_helpers.LiveClient(create_app(registry, ServeSettings(grpc_port=0)))
        client.grpc = f"127.0.0.1:{client.app.state.grpc_port}"
        try:
            yield client
        finally:
            client.close()


@pytest.fixture(scope="module")
def predictor(custom_export: Path) -> Predictor:
    return load(custom_export)


def test_ml_engine_and_tf_serving_rows(live: Any, predictor: Predictor) -> None:
    instances = export_helpers.census_instances()
    expected = predictor.predict_instances(instances)
    for path in ("/v1/projects/local/models/custom:predict", "/v1/models/custom:predict"):
        answer = live.post(path, json={"instances": instances})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": expected}


def test_tf_serving_classify_and_v2_infer(live: Any, predictor: Predictor) -> None:
    instances = export_helpers.census_instances()
    expected = predictor.predict(instances)
    answer = live.post("/v1/models/custom:classify", json={"examples": instances})
    assert answer.status_code == 200, answer.text
    scores = [[score for _, score in result] for result in answer.json()["results"]]
    np.testing.assert_allclose(scores, expected["probabilities"], rtol=0, atol=1e-7)
    tensors = []
    for spec in predictor.inputs:
        values = [i.get(spec["name"]) for i in instances]
        datatype = "BYTES" if spec["dtype"] == "string" else "FP32"
        tensors.append(
            {"name": spec["name"], "shape": [2, 1], "datatype": datatype, "data": values}
        )
    answer = live.post("/v2/models/custom/infer", json={"inputs": tensors})
    assert answer.status_code == 200, answer.text
    outputs = {t["name"]: t for t in answer.json()["outputs"]}
    got = np.array(outputs["probabilities"]["data"], dtype=np.float32).reshape(2, 2)
    np.testing.assert_array_equal(got, expected["probabilities"].astype(np.float32))


def test_oip_v2_over_grpc(live: Any, predictor: Predictor) -> None:
    if os.environ.get("CI") == "true":  # CI must not go green without the real client
        import tritonclient.grpc as module
    else:
        module = pytest.importorskip("tritonclient.grpc")
    instances = export_helpers.census_instances()
    triton = module.InferenceServerClient(url=live.grpc)
    try:
        result = triton.infer("custom", serving_helpers.triton_inputs(module, instances))
    finally:
        triton.close()
    expected = predictor.predict(instances)
    got = result.as_numpy("probabilities")
    np.testing.assert_array_equal(got, expected["probabilities"].astype(got.dtype))


def test_explain_attributions_add_up_to_the_score_change(live: Any) -> None:
    instances = export_helpers.census_instances()
    answer = live.post("/v1/projects/local/models/custom:explain", json={"instances": instances})
    assert answer.status_code == 200, answer.text
    for explanation in answer.json()["explanations"]:
        (label,) = explanation["attributions_by_label"]
        change = label["example_score"] - label["baseline_score"]
        assert sum(label["attributions"].values()) == pytest.approx(change, abs=1e-6)
