"""Parity: the talk's Wide & Deep over HTTP, in each protocol, answers exactly what
``Predictor.predict_instances`` answers for the same instances."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine.export import Predictor, load
from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.export import helpers as export_helpers
from tests.serving import helpers as h


@pytest.fixture(scope="module")
def wide_deep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return Path(export_helpers.wide_deep(tmp_path_factory.mktemp("wide_deep")).export_dir)


@pytest.fixture(scope="module")
def predictor(wide_deep: Path) -> Predictor:
    """The export loaded as the server loads it (numpy only): answers must be equal to the bit."""
    return load(wide_deep)


@pytest.fixture(scope="module")
def live(wide_deep: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    root = tmp_path_factory.mktemp("parity")
    with Registry(f"sqlite:///{root / 'r.db'}", root / "artifacts") as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(wide_deep))
        client = h.LiveClient(create_app(registry, ServeSettings()))
        try:
            yield client
        finally:
            client.close()


def _rows(count: int) -> list[dict[str, Any]]:
    """Census test rows as JSON instances: NaN categories as null, some features left out."""
    from mlengine.data import census

    x, _ = census.load("test")
    rows = []
    for index, row in enumerate(x.head(count).to_dict("records")):
        clean = {k: (None if isinstance(v, float) and v != v else v) for k, v in row.items()}
        if index % 7 == 3:
            clean.pop("workclass")  # optional: missing is fine
        if index % 11 == 5:
            clean["occupation"] = None
        rows.append(clean)
    return rows


@pytest.fixture(scope="module", params=["talk", "census_200"])
def instances(request: pytest.FixtureRequest) -> list[dict[str, Any]]:
    if request.param == "talk":
        return list(export_helpers.census_instances())
    return _rows(200)


def test_ml_engine_and_tf_rows(live: Any, predictor: Predictor, instances: Any) -> None:
    expected = predictor.predict_instances(instances)
    for path in ("/v1/projects/local/models/census:predict", "/v1/models/census:predict"):
        answer = live.post(path, json={"instances": instances})
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"predictions": expected}


def test_tf_columnar(live: Any, predictor: Predictor, instances: Any) -> None:
    expected = predictor.predict_instances(instances)
    names = {name for instance in instances for name in instance}
    columns = {name: [i.get(name) for i in instances] for name in names}
    answer = live.post("/v1/models/census:predict", json={"inputs": columns}).json()
    for key in predictor.output_keys:
        assert answer["outputs"][key] == [e[key] for e in expected]


def test_v2_infer(live: Any, predictor: Predictor, instances: Any) -> None:
    expected = predictor.predict(instances)
    tensors = []
    for spec in predictor.inputs:
        values = [i.get(spec["name"]) for i in instances]
        datatype = "BYTES" if spec["dtype"] == "string" else "FP32"
        tensors.append(
            {"name": spec["name"], "shape": [len(values), 1], "datatype": datatype, "data": values}
        )
    answer = live.post("/v2/models/census/infer", json={"inputs": tensors}).json()
    for tensor in answer["outputs"]:
        want = expected[tensor["name"]]
        got = np.array(tensor["data"], dtype=want.dtype).reshape(tensor["shape"])
        assert got.tolist() == want.reshape(len(instances), -1).tolist()


def test_cli_endpoint_prints_the_local_table(live: Any, predictor: Predictor) -> None:
    """``mlengine predict --endpoint`` prints what ``--export-dir`` prints."""
    from typer.testing import CliRunner

    from mlengine.cli.main import app

    census_json = str(export_helpers.CENSUS_JSON)
    runner = CliRunner()
    local = runner.invoke(
        app, ["predict", "--export-dir", predictor.path, "--json-instances", census_json]
    )
    remote = runner.invoke(
        app,
        ["predict", "--endpoint", live.url, "--model", "census", "--json-instances", census_json],
    )
    assert remote.exit_code == 0, remote.output
    assert remote.stdout == local.stdout
    assert remote.stdout.splitlines()[0].split() == [
        "CLASS_IDS",
        "CLASSES",
        "LOGISTIC",
        "LOGITS",
        "PROBABILITIES",
    ]
