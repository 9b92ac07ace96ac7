"""Hypothesis strategies of hostile input, by family: reusable by any test that must survive it.

Requests (``request_cases``): each a ``Case(family, method, path, body, headers)`` for a live
server, in the families of issue 19: out-of-range ``version`` numbers, OIP v2 ``datatype`` of
any JSON type, paths and URLs with NUL or control characters (``location``), JSON nested past
the limit (``depth``), string values past the limit (``string``), numbers beyond float32
(``number``), bodies that mix formats (``shape``), cross-site or foreign-Host headers
(``site``), OIP v2 binary-extension bodies whose header length, ``binary_data_size`` or BYTES
lengths lie (``binary``), and ML Engine's PATCH and operations routes with ill-typed bodies,
update masks and page sizes (``manage``). gRPC messages (``grpc_predict_requests``,
``grpc_infer_requests``): TF Serving Predict and OIP v2 ModelInfer with huge shapes, any
dtype, raw contents of the wrong size, long strings and numbers beyond float32. Manifests
(``manifest_mutations``): a path into a real ``saved_model.json`` and a hostile value to put
there (huge, negative, of the wrong type, nested too deep), applied with :func:`mutate`.
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
FAMILIES = (
    "version",
    "datatype",
    "location",
    "depth",
    "string",
    "number",
    "shape",
    "site",
    "binary",
    "manage",
)


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
            Case("version", "GET", f"/v2/models/{MODEL}/versions/{number}/config"),
            Case("version", "GET", f"/v2/models/{MODEL}/versions/{number}/stats"),
            Case(
                "version",
                "POST",
                f"/v2/models/{MODEL}/versions/{number}/infer",
                _json({"inputs": [{"name": "age", "shape": [1], "datatype": "FP32", "data": [1]}]}),
            ),
            Case(
                "version",
                "PATCH",
                f"{BASE}/{MODEL}/versions/{number}?updateMask=description",
                _json({"description": "x"}),
            ),
            Case("version", "POST", f"{BASE}/{MODEL}/versions/{number}:setDefault"),
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


# -- OIP v2's binary tensor data extension -----------------------------------------------------

BINARY_HEADER = "Inference-Header-Content-Length"


def binary_body(
    tensors: list[dict[str, Any]], data: bytes, header_length: str | None = None
) -> tuple[bytes, dict[str, str]]:
    """A binary-extension request: its JSON header (``tensors`` as its inputs), then ``data``;
    ``header_length`` replaces the true length in the header field when given."""
    header = _json({"inputs": tensors})
    length = str(len(header)) if header_length is None else header_length
    return header + data, {BINARY_HEADER: length}


def _binary_case(tensors: list[dict[str, Any]], data: bytes, length: str | None = None) -> Case:
    body, headers = binary_body(tensors, data, length)
    return Case("binary", "POST", f"/v2/models/{MODEL}/infer", body, headers)


def _fp32(name: str, count: int, size: Any) -> dict[str, Any]:
    return {
        "name": name,
        "shape": [count],
        "datatype": "FP32",
        "parameters": {"binary_data_size": size},
    }


def _bytes_element(text: bytes, declared: int | None = None) -> bytes:
    import struct

    return struct.pack("<I", len(text) if declared is None else declared) + text


binary_cases = st.one_of(
    # The header's length field: not a number, negative, zero, past the body, huge.
    st.sampled_from(
        ["abc", "-5", "0", "99999999", "1e3", "0x10", "18446744073709551617", "9" * 50]
    ).map(lambda length: _binary_case([_fp32("age", 1, 4)], b"\x00\x00\x80\x3f", length)),
    # binary_data_size that disagrees with the shape or the body, or is not a size at all.
    st.tuples(
        st.sampled_from([0, 3, 5, 8, 2**40, -4, "4", 4.0, None, [4], {"a": 4}]),
        st.integers(0, 16),
    ).map(lambda case: _binary_case([_fp32("age", 1, case[0])], b"\x01" * case[1])),
    # A shape that asks for far more elements than the bytes hold.
    st.sampled_from([[2**40], [2**62], [10**6, 1], [3, 2]]).map(
        lambda shape: _binary_case(
            [
                {
                    "name": "age",
                    "shape": shape,
                    "datatype": "FP32",
                    "parameters": {"binary_data_size": 4},
                }
            ],
            b"\x00" * 4,
        )
    ),  # fmt: skip
    # BYTES elements whose 4-byte lengths lie, or that are longer than the string limit.
    st.sampled_from(
        [
            _bytes_element(b"Sales", 500),
            _bytes_element(b"Sales", 2**32 - 1),
            b"\x05\x00",
            _bytes_element(b"x" * 4097),
            _bytes_element(b"\xff\xfe"),
        ]
    ).map(
        lambda data: _binary_case(
            [
                {
                    "name": "occupation",
                    "shape": [1],
                    "datatype": "BYTES",
                    "parameters": {"binary_data_size": len(data)},
                }
            ],
            data,
        )
    ),  # fmt: skip
    # Numbers beyond float32 and NaN as raw FP64 and FP32 bytes.
    st.sampled_from([1e300, float("inf"), float("nan"), -1e39]).flatmap(
        lambda value: st.sampled_from(
            [
                _binary_case(
                    [
                        {
                            "name": "age",
                            "shape": [1],
                            "datatype": "FP64",
                            "parameters": {"binary_data_size": 8},
                        }
                    ],
                    __import__("struct").pack("<d", value),
                ),
                _binary_case(
                    [
                        {
                            "name": "age",
                            "shape": [1],
                            "datatype": "FP32",
                            "parameters": {"binary_data_size": 4},
                        }
                    ],
                    __import__("struct").pack(
                        "<f", value if abs(value) < 3e38 or value != value else float("inf")
                    ),
                ),
            ]
        )
    ),  # fmt: skip
)

# -- ML Engine's PATCH and operations routes ---------------------------------------------------


def _token(text: str) -> str:
    """A page token as the registry writes one (urlsafe base64), of any content."""
    import base64

    return base64.urlsafe_b64encode(text.encode()).decode()


OPERATIONS = "/v1/projects/local/operations"
patch_cases = st.builds(
    lambda target, mask, body: Case(
        "manage", "PATCH", f"{target}?updateMask={mask}" if mask is not None else target, body
    ),
    st.sampled_from([f"{BASE}/{MODEL}", f"{BASE}/{MODEL}/versions/v1"]),
    st.sampled_from(
        [None, "", "nope", "labels,nope", "description," * 200, "%00", "defaultVersion"]
    ),
    st.one_of(
        st.sampled_from([b"", b"[]", b"null", b"{", b'"x"', b"\xff"]),
        json_values.map(lambda value: _json({"description": value, "labels": value})),
    ),
)
mask_value_cases = st.builds(
    lambda field_value: Case(
        "manage",
        "PATCH",
        f"{BASE}/{MODEL}?updateMask={field_value[0]}",
        _json({field_value[0].split(".")[0]: field_value[1]}),
    ),
    st.tuples(
        st.sampled_from(["labels", "description", "versionLabels", "defaultVersion.name",
                         "onlinePredictionLogging", "requestLoggingConfig"]),
        st.one_of(
            json_values,
            st.sampled_from([{"a\x00b": "v"}, {"k": "x" * 5000}, {"stable": 2**70},
                             {"stable": "9" * 5000}, {"": "v1"}, {"stable": {"b": 1}}]),
        ),
    ),
)  # fmt: skip
operation_cases = st.one_of(
    st.sampled_from(
        ["0", "-1", "9" * 5000, "1.5", "abc", "", " ", "18446744073709551616", "99999999999"]
    ).map(lambda size: Case("manage", "GET", f"{OPERATIONS}?pageSize={size}")),
    st.sampled_from(
        ["x" * 3000, "%00", "-1", "9" * 50, "Zm9v", "create_census_v1-1"]
        + [_token("after:" + digits) for digits in ("9" * 12, "9" * 30, "1" + "0" * 5000, "²")]
    ).map(lambda token: Case("manage", "GET", f"{OPERATIONS}?pageToken={token}")),
    st.sampled_from(
        ["x" * 2000, "9" * 40, "a.b-c_d", "create_census_v1-99999999999999999999"]
    ).flatmap(
        lambda name: st.sampled_from(
            [
                Case("manage", "GET", f"{OPERATIONS}/{name}"),
                Case("manage", "POST", f"{OPERATIONS}/{name}:cancel"),
                Case("manage", "POST", f"{OPERATIONS}/{name}:cancel", b"[1]"),
            ]
        )
    ),
    st.just(Case("manage", "GET", f"{OPERATIONS}?filter=done%3Dtrue")),
)
manage_cases = st.one_of(patch_cases, mask_value_cases, operation_cases)

# -- gRPC: TF Serving's Predict and OIP v2's ModelInfer -----------------------------------------


@dataclass(frozen=True)
class Mutation:
    """A change to a valid gRPC request message (``apply(message)``), described for reports."""

    what: str
    apply: Any = field(repr=False, compare=False)

    def __call__(self, message: Any) -> None:
        self.apply(message)


huge_sizes = st.sampled_from([2**31, 2**40, 2**62, 10**12, 10**7])
DT_FLOAT, DT_DOUBLE, DT_STRING = 1, 2, 7


def _tf_shape(tensor: Any, sizes: list[int]) -> None:
    tensor.tensor_shape.ClearField("dim")
    for size in sizes:
        tensor.tensor_shape.dim.add(size=size)


def _tf_huge(size: int) -> Mutation:
    # TensorFlow's fill rule: one value for a tensor of any size.
    return Mutation(
        f"age of shape [{size}] with one value", lambda r: _tf_shape(r.inputs["age"], [size])
    )


def _tf_dtype(dtype: int) -> Mutation:
    return Mutation(f"age of dtype {dtype}", lambda r: setattr(r.inputs["age"], "dtype", dtype))


def _tf_content(size: int) -> Mutation:
    def apply(request: Any) -> None:
        tensor = request.inputs["age"]
        tensor.ClearField("float_val")
        tensor.tensor_content = b"\x00" * size

    return Mutation(f"age tensor_content of {size} bytes", apply)


def _tf_double(value: float) -> Mutation:
    def apply(request: Any) -> None:
        tensor = request.inputs["age"]
        tensor.ClearField("float_val")
        tensor.dtype = DT_DOUBLE
        tensor.double_val.append(value)

    return Mutation(f"age as DT_DOUBLE {value!r}", apply)


def _tf_string(length: int) -> Mutation:
    def apply(request: Any) -> None:
        tensor = request.inputs["occupation"]
        del tensor.string_val[:]
        tensor.string_val.append(b"x" * length)

    return Mutation(f"occupation of {length} bytes", apply)


def _tf_dims(sizes: list[int]) -> Mutation:
    return Mutation(f"age of shape {sizes}", lambda r: _tf_shape(r.inputs["age"], sizes))


grpc_predict_mutations = st.one_of(
    huge_sizes.map(_tf_huge),
    st.integers(0, 30).filter(lambda d: d not in (DT_FLOAT, DT_DOUBLE)).map(_tf_dtype),
    st.sampled_from([0, 1, 3, 5, 8, 4096]).map(_tf_content),
    st.sampled_from([1e300, -1e39, float("inf"), float("nan")]).map(_tf_double),
    st.integers(4097, 70_000).map(_tf_string),
    st.sampled_from([[1, 2], [1, 1, 1], [-1], [0], [2**40, 1], []]).map(_tf_dims),
    st.just(
        Mutation(
            "unknown rank", lambda r: setattr(r.inputs["age"].tensor_shape, "unknown_rank", True)
        )
    ),
    st.just(
        Mutation(
            "string values in tensor_content",
            lambda r: setattr(r.inputs["occupation"], "tensor_content", b"abc"),
        )
    ),
    st.just(Mutation("an unknown input", lambda r: r.inputs["nope"].CopyFrom(r.inputs["age"]))),
)


def _v2_input(request: Any, name: str) -> Any:
    return next(tensor for tensor in request.inputs if tensor.name == name)


def _v2_shape(size: int) -> Mutation:
    def apply(request: Any) -> None:
        del _v2_input(request, "age").shape[:]
        _v2_input(request, "age").shape.extend([size])

    return Mutation(f"age of shape [{size}]", apply)


def _v2_datatype(datatype: str) -> Mutation:
    return Mutation(
        f"age of datatype {datatype[:20]!r}",
        lambda r: setattr(_v2_input(r, "age"), "datatype", datatype),
    )


def _v2_raw(sizes: list[int]) -> Mutation:
    def apply(request: Any) -> None:
        for tensor in request.inputs:
            tensor.ClearField("contents")
        request.raw_input_contents.extend(b"\x00" * size for size in sizes)

    return Mutation(f"raw_input_contents of sizes {sizes}", apply)


def _v2_double(value: float) -> Mutation:
    def apply(request: Any) -> None:
        tensor = _v2_input(request, "age")
        tensor.datatype = "FP64"
        tensor.contents.Clear()
        tensor.contents.fp64_contents.append(value)

    return Mutation(f"age as FP64 {value!r}", apply)


def _v2_string(length: int) -> Mutation:
    def apply(request: Any) -> None:
        tensor = _v2_input(request, "occupation")
        del tensor.contents.bytes_contents[:]
        tensor.contents.bytes_contents.append(b"y" * length)

    return Mutation(f"occupation of {length} bytes", apply)


def _v2_raw_bytes(data: bytes) -> Mutation:
    def apply(request: Any) -> None:
        raw = []
        for tensor in request.inputs:
            contents = tensor.contents
            if tensor.name == "occupation":
                raw.append(data)
            elif tensor.datatype == "BYTES":
                value = contents.bytes_contents[0]
                raw.append(len(value).to_bytes(4, "little") + value)
            else:
                raw.append(__import__("struct").pack("<f", contents.fp32_contents[0]))
            tensor.ClearField("contents")
        request.raw_input_contents.extend(raw)

    return Mutation(f"occupation's raw BYTES {data[:12]!r}", apply)


grpc_infer_mutations = st.one_of(
    huge_sizes.map(_v2_shape),
    st.one_of(
        st.sampled_from(["FP16", "BF16", "BOOL", "INT8", "", "fp32", "BYTES"]), st.text(max_size=40)
    ).map(_v2_datatype),
    st.lists(st.sampled_from([0, 3, 4, 5, 2**16]), min_size=1, max_size=6).map(_v2_raw),
    st.sampled_from([1e300, -1e39, float("inf"), float("nan")]).map(_v2_double),
    st.integers(4097, 70_000).map(_v2_string),
    st.sampled_from(
        [
            b"\xff\xff\xff\xff",
            b"\x05\x00\x00\x00ab",
            b"\x01",
            (4097).to_bytes(4, "little") + b"z" * 4097,
            b"\x02\x00\x00\x00\xff\xfe",
        ]
    ).map(_v2_raw_bytes),
    st.just(Mutation("an input twice", lambda r: r.inputs.append(_v2_input(r, "age")))),
    st.just(Mutation("no inputs", lambda r: r.ClearField("inputs"))),
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
    "binary": binary_cases,
    "manage": manage_cases,
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
    "BINARY_HEADER",
    "OPERATIONS",
    "FAMILIES",
    "FAMILY_CASES",
    "MODEL",
    "Case",
    "Mutation",
    "binary_body",
    "grpc_infer_mutations",
    "grpc_predict_mutations",
    "instance",
    "manifest_mutations",
    "mutate",
    "nested",
    "paths",
    "request_cases",
]
