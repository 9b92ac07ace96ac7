"""Hostile requests, family by family, against one live server: each gets the answer its family
promises (never a 5xx), and the server keeps serving and keeps its metrics bounded."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.hostile import strategies as hs
from tests.serving import helpers as h

EXPECTED_STATUS = {
    "version": {404},
    "datatype": {400},
    "location": {400},
    "depth": {400},
    "string": {400},
    "number": {400},
    "shape": {400},
    "binary": {400},
    # A PATCH whose mask and values happen to be valid is answered (an Operation).
    "manage": {200, 400, 404},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """census (v1 default, v2) served in this process, with the jobs API on."""
    root = tmp_path_factory.mktemp("hostile_requests")
    v1 = h.train(root / "v1", "binary", steps=2)
    v2 = h.train(root / "v2", "binary", steps=20)
    with Registry(f"sqlite:///{root / 'r.db'}", root / "artifacts") as registry:
        registry.create_model(hs.MODEL)
        registry.create_version(hs.MODEL, "v1", str(v1))
        registry.create_version(hs.MODEL, "v2", str(v2))
        settings = ServeSettings(poll_interval=0.05, allowed_origins=(str(root),))
        client = h.LiveClient(create_app(registry, settings))
        try:
            yield client
        finally:
            client.close()


def send(live: Any, case: hs.Case) -> Any:
    headers = {"content-type": "application/json", **case.headers}
    if case.family == "binary":
        headers["content-type"] = "application/octet-stream"
    return live.request(case.method, case.path, content=case.body, headers=headers)


def still_serves(live: Any) -> None:
    """A valid prediction is answered: the case before it left the server serving."""
    answer = live.post(f"/v1/models/{hs.MODEL}:predict", json={"instances": [hs.instance()]})
    assert answer.status_code == 200, answer.text


def check_error(response: Any) -> str:
    """The message of a JSON error answer (never a 5xx, never a traceback): ``{"error": "..."}``
    on prediction routes, Google's ``{"error": {"code", "message", "status"}}`` on ML Engine's
    management routes."""
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json", response.text
    error = response.json()["error"]
    if isinstance(error, dict):
        assert error["code"] == response.status_code, error
        assert isinstance(error["status"], str) and error["status"].isupper(), error
        error = error["message"]
    assert isinstance(error, str) and "Traceback" not in error
    return error


def expected_site_status(case: hs.Case) -> int | None:
    """403 when the guard must refuse the case, None when it must let it through."""
    host, origin = case.headers.get("Host"), case.headers.get("Origin")
    if host is not None:
        return 403
    if case.headers.get("Sec-Fetch-Site") == "cross-site" or origin is not None:
        return 403  # none of the strategy's origins is the server's own
    return None


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@pytest.mark.parametrize("family", hs.FAMILIES)
@given(data=st.data())
def test_each_family_gets_its_answer(live: Any, family: str, data: st.DataObject) -> None:
    case = data.draw(hs.FAMILY_CASES[family])
    response = send(live, case)
    still_serves(live)
    if family == "site":
        want = expected_site_status(case)
        if want is None:
            assert response.status_code not in (403, 500), response.text
        else:
            assert response.status_code == want, (case, response.text)
            check_error(response)
        return
    if response.status_code == 200 and 200 in EXPECTED_STATUS[family]:
        return
    message = check_error(response)
    assert response.status_code in EXPECTED_STATUS[family], (case, response.status_code, message)
    if family in ("string", "number"):
        assert re.search(r"(Instance|Example) 0: feature '\w+'", message), message


def test_the_server_still_serves(live: Any) -> None:
    answer = live.post(f"{hs.BASE}/{hs.MODEL}:predict", json={"instances": [hs.instance()]})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 1


# -- 19.3: version numbers -------------------------------------------------------------------


def test_huge_version_numbers_are_404_and_add_no_metric_series(live: Any) -> None:
    before = live.get("/metrics").text
    for offset in range(300):
        number = 9223372036854775808 + offset
        response = live.post(
            f"{hs.BASE}/{hs.MODEL}/versions/{number}:predict", json={"instances": [hs.instance()]}
        )
        assert response.status_code == 404, response.text
        assert "not found" in check_error(response)
    after = live.get("/metrics").text
    assert "9223372036854775808" not in after
    series = {line.split(" ")[0] for line in after.splitlines() if not line.startswith("#")}
    versions = {s for s in series if 'version="' in s and not s.startswith("python_info")}
    assert all(re.search(r'version="(v1|v2|)"', s) for s in versions), versions
    # The error counter's series for "no version" exists once, whatever the numbers.
    assert len(after.splitlines()) - len(before.splitlines()) <= 12


# -- 19.2: string values ----------------------------------------------------------------------


@pytest.mark.parametrize("path", hs._predict_paths())
def test_a_string_over_the_limit_names_feature_and_instance(live: Any, path: str) -> None:
    values = [hs.instance(), hs.instance(occupation="x" * 4097)]
    if path.endswith("/infer"):
        tensors = [
            {"name": k, "shape": [2, 1], "datatype": "BYTES" if isinstance(v, str) else "FP32",
             "data": [values[0][k], values[1][k]]}
            for k, v in values[0].items()
        ]  # fmt: skip
        body: dict[str, Any] = {"inputs": tensors}
    elif path.endswith(":classify"):
        body = {"examples": values}
    else:
        body = {"instances": values}
    response = live.post(path, json=body)
    assert response.status_code == 400
    message = response.json()["error"]
    assert re.search(r"(Instance|Example) 1: feature 'occupation' is a string of 4097", message)
    assert "--max-string-length" in message
    at_limit = live.post(
        f"{hs.BASE}/{hs.MODEL}:predict", json={"instances": [hs.instance(occupation="y" * 4096)]}
    )
    assert at_limit.status_code == 200


# -- 19.8: numbers beyond float32 ------------------------------------------------------------


@pytest.mark.parametrize("value", [1e300, 1e308, 3.5e38, -1e39])
@pytest.mark.parametrize("path", hs._predict_paths())
def test_a_number_beyond_float32_is_400_in_every_protocol(
    live: Any, path: str, value: float
) -> None:
    response = live.post(path, content=hs._body_for(path, hs.instance(age=value)))
    assert response.status_code == 400, response.text
    message = response.json()["error"]
    assert re.search(r"(Instance|Example) 0: feature 'age' must be a finite number", message)


def test_the_largest_float32_is_still_a_number(live: Any) -> None:
    """3.4e38 is finite in float32: answered (a linear model's logit may then overflow, which
    is refused as an output, never returned as null probabilities)."""
    response = live.post(
        f"{hs.BASE}/{hs.MODEL}:predict", json={"instances": [hs.instance(age=3.4e38)]}
    )
    if response.status_code == 200:
        for value in response.json()["predictions"][0]["probabilities"]:
            assert value is not None
    else:
        assert response.status_code == 400
        assert "Instance 0: the model's output" in response.json()["error"]


# -- Also: ML Engine :predict with both formats ----------------------------------------------


def test_mlengine_predict_with_instances_and_inputs_is_400(live: Any) -> None:
    body = {"instances": [hs.instance()], "inputs": {"age": [30]}}
    response = live.post(f"{hs.BASE}/{hs.MODEL}:predict", json=body)
    assert response.status_code == 400
    assert "'instances' only" in response.json()["error"]


def test_deep_json_is_400_not_a_recursion_error(live: Any) -> None:
    deep = b'{"instances": [{"age": ' + b"[" * 900 + b"1" + b"]" * 900 + b"}]}"
    for path in hs._predict_paths():
        response = live.post(path, content=deep)
        assert response.status_code == 400, (path, response.text)


def test_nul_in_a_deployment_uri_is_400(live: Any, tmp_path: Path) -> None:
    response = live.post(
        f"{hs.BASE}/{hs.MODEL}/versions", json={"name": "v9", "deploymentUri": "/tmp/a\x00b"}
    )
    assert response.status_code == 400
    assert "control characters" in check_error(response)


# -- numbers a client writes in a query: never converted past what a column takes -------------


@pytest.mark.parametrize(
    "query",
    [
        "pageSize=" + "9" * 5000,
        "pageSize=²",
        "pageSize=2147483648",
        "pageToken=" + hs._token("after:" + "9" * 30),
        "pageToken=" + hs._token("after:" + "1" + "0" * 5000),
        "pageToken=" + hs._token("after:²"),
    ],
)
def test_operations_page_numbers_out_of_range_are_400(live: Any, query: str) -> None:
    response = live.get(f"{hs.OPERATIONS}?{query}")
    assert response.status_code == 400, response.text
    assert check_error(response).startswith(("pageSize must be", "Invalid pageToken"))
    still_serves(live)


def test_a_page_size_with_leading_zeros_is_its_number(live: Any) -> None:
    assert live.get(f"{hs.OPERATIONS}?pageSize={'0' * 5000}5").status_code == 200


@pytest.mark.parametrize("tail", ["9" * 5000, "²", "0", "10001"])
def test_job_log_tails_out_of_range_are_400(live: Any, tail: str) -> None:
    response = live.get(f"/v1/projects/local/jobs/j1/logs?tail={tail}")
    assert response.status_code == 400, response.text
    assert "'tail' must be a whole number" in check_error(response)
