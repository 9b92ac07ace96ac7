"""Hypothesis strategies of hostile input, by family: reusable by any test that must survive it.

Requests (``request_cases``): each a ``Case(family, method, path, body, headers)`` for a live
server, in the families of issue 19: out-of-range ``version`` numbers, OIP v2 ``datatype`` of
any JSON type, paths and URLs with NUL or control characters (``location``), JSON nested past
the limit (``depth``), string values past the limit (``string``), numbers beyond float32
(``number``), bodies that mix formats (``shape``) and cross-site or foreign-Host headers
(``site``). Manifests (``manifest_mutations``): a path into a real ``saved_model.json`` and a
hostile value to put there (huge, negative, of the wrong type, nested too deep), applied with
:func:`mutate`.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

MODEL = "census"
BASE = "/v1/projects/local/models"
FEATURES = ["age", "hours_per_week", "education", "occupation"]
FAMILIES = ("version", "datatype", "location", "depth", "string", "number", "shape", "site")


@dataclass(frozen=True)
class Case:
    """One hostile request: what family it belongs to, and what is sent."""

    family: str
    method: str
    path: str
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)


def instance(**changes: Any) -> dict[str, Any]:
    """A valid instance of the small census models, with ``changes``."""
    return {"age": 39, "hours_per_week": 40, "education": "Bachelors", "occupation": "Sales"} | (
        changes
    )


def _json(value: Any) -> bytes:
    return json.dumps(value).encode()


def nested(depth: int, leaf: Any = 1) -> Any:
    """``[[[...leaf...]]]``: ``depth`` lists deep."""
    value = leaf
    for _ in range(depth):
        value = [value]
    return value


# -- values ------------------------------------------------------------------------------------

huge_ints = st.sampled_from([2**31, 2**40, 10**12, 2**53 + 1, 2**63 - 1, 2**64 - 1])
version_numbers = st.one_of(
    st.integers(min_value=2**31, max_value=10**30).map(str),
    st.sampled_from(["9223372036854775808", "99999999999999999999", "0" * 30 + "7", "9" * 5000]),
)
beyond_float32 = st.one_of(
    st.floats(min_value=3.5e38, max_value=1.7e308),
    st.floats(max_value=-3.5e38, min_value=-1.7e308),
    st.integers(min_value=2**128, max_value=2**1000),  # orjson reads these as floats (inf)
    st.sampled_from([1e300, 1e308, -1e39, 340282356779733661637539395458142568448]),
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**70), 2**70) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=4), children, max_size=3)
    ),
    max_leaves=6,
)
control_text = st.builds(
    lambda head, char, tail: f"{head}{char}{tail}",
    st.sampled_from(["/tmp/export", "file:///tmp/x", "s3://bucket/export", ""]),
    st.sampled_from(["\x00", "\x01", "\n", "\x7f", "\x1b"]),
    st.sampled_from(["", "/1", "x"]),
)


# -- requests ----------------------------------------------------------------------------------


def _predict_paths() -> list[str]:
    return [
        f"{BASE}/{MODEL}:predict",
        f"/v1/models/{MODEL}:predict",
        f"/v1/models/{MODEL}:classify",
        f"/v2/models/{MODEL}/infer",
    ]


def _body_for(path: str, values: dict[str, Any]) -> bytes:
    """A request of ``path``'s protocol carrying one instance of ``values``."""
    if path.endswith("/infer"):
        tensors = []
        for name, value in values.items():
            datatype = "BYTES" if isinstance(value, str | dict) else "FP32"
            tensors.append({"name": name, "shape": [1, 1], "datatype": datatype, "data": [value]})
        return _json({"inputs": tensors})
    if path.endswith(":classify"):
        return _json({"examples": [values]})
    return _json({"instances": [values]})


version_cases = version_numbers.flatmap(
    lambda number: st.sampled_from(
        [
            Case(
                "version",
                "POST",
                f"{BASE}/{MODEL}/versions/{number}:predict",
                _json({"instances": [instance()]}),
            ),
            Case(
                "version",
                "POST",
                f"/v1/models/{MODEL}/versions/{number}:predict",
                _json({"instances": [instance()]}),
            ),
            Case("version", "GET", f"/v1/models/{MODEL}/versions/{number}"),
            Case("version", "GET", f"/v1/models/{MODEL}/versions/{number}/metadata"),
            Case("version", "GET", f"/v2/models/{MODEL}/versions/{number}"),
            Case("version", "GET", f"/v2/models/{MODEL}/versions/{number}/ready"),
            Case("version", "GET", f"{BASE}/{MODEL}/versions/{number}"),
            Case("version", "DELETE", f"{BASE}/{MODEL}/versions/{number}"),
        ]
    )
)
datatype_cases = st.builds(
    lambda datatype, name: Case(
        "datatype",
        "POST",
        f"/v2/models/{MODEL}/infer",
        _json({"inputs": [{"name": name, "shape": [1], "datatype": datatype, "data": [1]}]}),
    ),
    json_values.filter(lambda v: not isinstance(v, str)) | st.sampled_from([["FP32"], {"a": 1}]),
    st.sampled_from(FEATURES),
)
location_cases = st.one_of(
    control_text.map(
        lambda uri: Case(
            "location",
            "POST",
            f"{BASE}/{MODEL}/versions",
            _json({"name": "vx", "deploymentUri": uri}),
        )
    ),
    control_text.map(
        lambda uri: Case(
            "location",
            "POST",
            "/v1/projects/local/jobs",
            _json(
                {
                    "jobId": "j1",
                    "predictionInput": {
                        "dataFormat": "JSON",
                        "inputPaths": ["/tmp/in.json"],
                        "outputPath": uri,
                        "modelName": MODEL,
                    },
                }
            ),
        )
    ),
)
depth_cases = st.builds(
    lambda depth, path, where: Case(
        "depth",
        "POST",
        path,
        _json(
            {"instances": [instance(age=nested(depth))]}
            if where == "value"
            else {"instances": [instance(unknown=nested(depth))]}
            if where == "unknown"
            else {"inputs": {"age": nested(depth)}}
        ),
    ),
    st.integers(65, 900),
    st.sampled_from(_predict_paths() + [BASE, f"{BASE}/{MODEL}/versions"]),
    st.sampled_from(["value", "unknown", "columns"]),
)
string_cases = st.builds(
    lambda length, feature, path, b64: Case(
        "string",
        "POST",
        path,
        _body_for(
            path, instance(**{feature: ({"b64": _b64("x" * length)} if b64 else "x" * length)})
        ),
    ),
    st.integers(4097, 20_000),
    st.sampled_from(["education", "occupation"]),
    st.sampled_from(_predict_paths()),
    st.booleans(),
)
number_cases = st.builds(
    lambda value, feature, path: Case(
        "number", "POST", path, _body_for(path, instance(**{feature: value}))
    ),
    beyond_float32,
    st.sampled_from(["age", "hours_per_week"]),
    st.sampled_from(_predict_paths()),
)
shape_cases = st.sampled_from(
    [
        Case(
            "shape",
            "POST",
            f"{BASE}/{MODEL}:predict",
            _json({"instances": [instance()], "inputs": {"age": [1]}}),
        ),
        Case(
            "shape",
            "POST",
            f"/v1/models/{MODEL}:predict",
            _json({"instances": [instance()], "inputs": {"age": [1]}}),
        ),
        Case("shape", "POST", f"{BASE}/{MODEL}:predict", _json({"instances": [[instance()]]})),
        Case(
            "shape",
            "POST",
            f"/v2/models/{MODEL}/infer",
            _json({"inputs": [{"name": "age", "shape": [1], "datatype": "FP32", "data": [[[1]]]}]}),
        ),
    ]
)
site_cases = st.builds(
    lambda origin, site, host, path, method: Case(
        "site",
        method,
        path,
        _json({"name": "crafted"}) if method == "POST" else None,
        {k: v for k, v in {"Origin": origin, "Sec-Fetch-Site": site, "Host": host}.items() if v},
    ),
    st.sampled_from(["https://evil.example", "null", "http://127.0.0.1:1", None]),
    st.sampled_from(["cross-site", "same-site", None]),
    st.sampled_from(["evil.example", "rebind.attacker.test:8080", None]),
    st.sampled_from([BASE, f"{BASE}/{MODEL}/versions/v1:setDefault", f"{BASE}/{MODEL}"]),
    st.sampled_from(["POST", "GET", "DELETE"]),
)

FAMILY_CASES = {
    "version": version_cases,
    "datatype": datatype_cases,
    "location": location_cases,
    "depth": depth_cases,
    "string": string_cases,
    "number": number_cases,
    "shape": shape_cases,
    "site": site_cases,
}
request_cases = st.one_of(*FAMILY_CASES.values())


def _b64(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


# -- manifests ---------------------------------------------------------------------------------

# Fields that describe the export but size nothing (timestamps, metrics): not mutated.
_QUIET = ("created", "mlengine_version", "metrics", "global_step", "estimator", "format")

manifest_values = st.one_of(
    huge_ints,
    st.sampled_from(
        [-1, 0, 10**30, 1.5, float("1e300"), "relu", "os.system", "float64", True, None]
    ),
    st.lists(st.integers(-1, 3), max_size=3),
    st.just({"class_name": "VocabularyColumn"}),
    st.integers(65, 300).map(lambda depth: nested(depth)),
    json_values,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every path (keys and indices) into a JSON value, leaves and containers alike; lists
    longer than 8 contribute their first and last entries only."""
    if prefix:
        yield prefix
    if isinstance(value, dict):
        for key, child in value.items():
            if not prefix and key in _QUIET:
                continue
            yield from paths(child, (*prefix, key))
    elif isinstance(value, list):
        indices = range(len(value)) if len(value) <= 8 else (0, len(value) - 1)
        for index in indices:
            yield from paths(value[index], (*prefix, index))


def manifest_mutations(manifest: dict[str, Any]) -> st.SearchStrategy[tuple[tuple[Any, ...], Any]]:
    """(path, value) pairs: a place in ``manifest`` and a hostile value for it."""
    return st.tuples(st.sampled_from(sorted(paths(manifest), key=repr)), manifest_values)


def mutate(manifest: dict[str, Any], path: tuple[Any, ...], value: Any) -> dict[str, Any]:
    """A copy of ``manifest`` with ``value`` at ``path``."""
    changed = copy.deepcopy(manifest)
    node: Any = changed
    for step in path[:-1]:
        node = node[step]
    node[path[-1]] = value
    return changed


__all__ = [
    "BASE",
    "FAMILIES",
    "FAMILY_CASES",
    "MODEL",
    "Case",
    "instance",
    "manifest_mutations",
    "mutate",
    "nested",
    "paths",
    "request_cases",
]
