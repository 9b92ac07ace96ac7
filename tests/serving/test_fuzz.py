"""A property-based fuzzer over the request bodies of every POST route, against a live server:
malformed JSON, non-objects, wrong types, NaN/Infinity, deep nesting, huge numbers and payloads,
non-UTF-8 bytes. Every answer is a 2xx or a 4xx with a JSON ``{"error": "..."}`` (never a 500),
and the server keeps serving."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlengine.registry import Registry
from mlengine.serving import ServeSettings, create_app
from tests.serving import helpers as h

BASE = "/v1/projects/local/models"
ROUTES = [
    f"{BASE}/census:predict",
    f"{BASE}/census/versions/v2:predict",
    f"{BASE}/census/versions/1:predict",
    f"{BASE}/nope:predict",
    "/v1/models/census:predict",
    "/v1/models/census/versions/2:predict",
    "/v1/models/census:classify",
    "/v1/models/census:regress",
    "/v1/models/reg:regress",
    "/v2/models/census/infer",
    "/v2/models/census/versions/2/infer",
    BASE,
    f"{BASE}/census/versions",
    f"{BASE}/census/versions/v1:setDefault",
]
FEATURES = ["age", "hours_per_week", "education", "occupation", "unknown", ""]

scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20)
    | st.sampled_from(["Bachelors", " HS-grad", "", "\u0000", "\ud7ff"])
)
values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(["b64", *FEATURES]), children, max_size=3)
    ),
    max_leaves=12,
)
instance = st.dictionaries(st.sampled_from(FEATURES), values, max_size=6)
tensor = st.fixed_dictionaries(
    {
        "name": st.sampled_from(FEATURES),
        "shape": st.lists(st.integers(-2, 4), max_size=3),
        "datatype": st.sampled_from(["FP32", "BYTES", "INT64", "BOOL", "fp32", 3]),
        "data": values,
    },
    optional={"parameters": st.dictionaries(st.text(max_size=20), scalars, max_size=2)},
)
objects = st.one_of(
    st.fixed_dictionaries({"instances": st.lists(instance | values, max_size=5)}),
    st.fixed_dictionaries(
        {"instances": st.lists(instance, max_size=3)},
        optional={"signature_name": values, "inputs": values},
    ),
    st.fixed_dictionaries({"inputs": st.dictionaries(st.sampled_from(FEATURES), values)}),
    st.fixed_dictionaries({"inputs": st.lists(tensor, max_size=4)}, optional={"id": values}),
    st.fixed_dictionaries(
        {"examples": st.lists(instance | values, max_size=4)},
        optional={"context": values, "signature_name": values},
    ),
    st.fixed_dictionaries({"name": values}, optional={"deploymentUri": values, "labels": values}),
    st.dictionaries(st.text(max_size=10), values, max_size=4),
)
special = st.sampled_from(
    [
        b"",
        b"   ",
        b"null",
        b"[]",
        b'"instances"',
        b'{"instances": [{"age": NaN}]}',
        b'{"instances": [{"age": Infinity}]}',
        b'{"instances": [{"age": -Infinity}]}',
        b'{"instances": [{"age": 1e400}]}',
        b'{"instances": [{"age": 123456789012345678901234567890}]}',
        b'{"instances": [{"age": 30, "education": "\\ud800"}]}',
        b'{"instances": [{"age": 30, "education": "\xff\xfe"}]}',
        b'{"instances": [' * 3000 + b"]" * 3000 + b"}",
        b"[" * 100_000,
        b'{"instances": [{"age": 30}]',
        b'{"instances": [{"age": 30}]}}',
        b"\xef\xbb\xbf{}",
    ]
)
bodies = st.one_of(
    objects.map(lambda o: json.dumps(o).encode()),
    values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
    special,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """One server for the whole fuzz run (hypothesis reuses it across examples)."""
    root = tmp_path_factory.mktemp("fuzz")
    exports = {
        name: h.train(root / name, kind, steps)
        for name, kind, steps in [
            ("v1", "binary", 2),
            ("v2", "binary", 30),
            ("reg", "regression", 4),
        ]
    }
    with Registry(f"sqlite:///{root / 'r.db'}", root / "artifacts") as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(exports["v1"]))
        registry.create_version("census", "v2", str(exports["v2"]))
        registry.create_model("reg")
        registry.create_version("reg", "v1", str(exports["reg"]))
        app = create_app(registry, ServeSettings(allowed_origins=(str(root / "nothing"),)))
        client = h.LiveClient(app)
        try:
            yield client
        finally:
            client.close()


def _check(response: Any) -> None:
    assert response.status_code < 500, (response.status_code, response.text)
    assert response.headers["content-type"] == "application/json", response.headers
    data = response.json()
    if response.status_code >= 400:
        assert list(data) == ["error"]
        error = data["error"]
        if response.request.url.path.endswith(("predict", "infer", "classify", "regress")):
            assert isinstance(error, str)
        else:  # ML Engine's management routes: Google's JSON error
            assert set(error) == {"code", "message", "status"}, error
            error = error["message"]
        assert "Traceback" not in error


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(route=st.sampled_from(ROUTES), body=bodies)
def test_fuzz_request_bodies(live: Any, route: str, body: bytes) -> None:
    _check(live.post(route, content=body))


def test_server_still_serves_after_abuse(live: Any) -> None:
    instances = h.instances(2)
    for body in (b"x" * 2_000_000, b"[" * 1_000_000, bytes(range(256)) * 100):
        response = live.post(f"{BASE}/census:predict", content=body)
        assert response.status_code in (400, 413)
        _check(response)
    huge = {"instances": [{"age": 30, "education": "x" * 1000}] * 1000}
    assert live.post(f"{BASE}/census:predict", json=huge).status_code == 200
    assert live.get("/v2/health/ready").status_code == 200
    answer = live.post(f"{BASE}/census:predict", json={"instances": instances})
    assert answer.status_code == 200 and len(answer.json()["predictions"]) == 2


def test_registry_is_unchanged_by_the_fuzzer(live: Any) -> None:
    """Creating versions needs an allowed origin: nothing the fuzzer sent could add one."""
    versions = live.get(f"{BASE}/census/versions").json()["versions"]
    assert [v["name"].rsplit("/", 1)[-1] for v in versions] == ["v1", "v2"]
