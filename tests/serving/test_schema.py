"""Request checking: the plain-value paths (column at a time for several instances, a type test
per value for one) give exactly what the value-by-value path gives, and anything else
(conversions, errors) goes value by value. The decoder of whole bodies (msgspec) takes every
plain request whose strings the checks have seen, and gives what parsing and checking give."""

from __future__ import annotations

import json
from typing import Any
from unittest import mock

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine import feature_column as fc
from mlengine.feature_column.memory import ValueMemory
from mlengine.feature_column.transform import transform_all
from mlengine.serving.errors import ApiError
from mlengine.serving.schema import InputSchema

INPUTS = [
    {"name": "age", "dtype": "float32", "required": True},
    {"name": "hours", "dtype": "float32", "required": False},
    {"name": "code", "dtype": "int64", "required": False},
    {"name": "city", "dtype": "string", "required": False},
]
SCHEMA = InputSchema(INPUTS)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=5),
    st.lists(st.integers(0, 3), max_size=2),
    st.just({"b64": "aGk="}),
)
plain_values = st.one_of(
    st.none(), st.integers(-100, 100), st.floats(-1e6, 1e6), st.text(max_size=5)
)
any_value = st.one_of(plain_values, values)  # mostly plain: both paths get exercised
instances = st.lists(
    st.fixed_dictionaries(
        {"age": any_value}, optional={k: any_value for k in ("hours", "code", "city")}
    ),
    min_size=1,
    max_size=6,
)


def _outcome(rows: list[dict[str, Any]]) -> Any:
    try:
        return SCHEMA.from_rows(rows).values
    except ApiError as error:
        return str(error)


@given(instances)
def test_plain_paths_equal_the_value_by_value_path(rows: list[dict[str, Any]]) -> None:
    fast = _outcome(rows)
    with (
        mock.patch.object(InputSchema, "_plain_columns", return_value=None),
        mock.patch.object(InputSchema, "_plain_row", return_value=None),
    ):
        slow = _outcome(rows)
    assert repr(fast) == repr(slow)  # repr: NaN != NaN, but the same text


@pytest.mark.parametrize(
    ("rows", "plain"),
    [
        ([{"age": 30, "hours": 40.5, "code": 7, "city": "Oslo"}], True),
        ([{"age": 30}, {"age": 31.5, "city": None}], True),  # optional inputs left out
        ([{"age": 1, "hours": 2, "code": 3, "city": "a"}] * 3, True),  # every input given
        ([{"age": 30, "hours": 2**60}], False),  # an int beyond float precision: converted
        ([{"age": 30, "code": 7.0}], False),  # an integral float for an int input: converted
        ([{"age": 30, "city": ["Oslo"]}], False),  # a one-element list: unwrapped
        ([{"age": None}], False),  # a required value missing: an error
    ],
)
def test_which_requests_take_a_plain_path(rows: list[dict[str, Any]], plain: bool) -> None:
    assert (SCHEMA._plain_columns(rows) is not None) is plain
    if len(rows) == 1:
        assert (SCHEMA._plain_row(rows[0]) is not None) is plain


def _as_floats(values: dict[str, list[Any]]) -> dict[str, list[Any]]:
    """Checked values as the model reads them: a float32 input's integers as floats."""
    floats = [name for name, dtype in SCHEMA.dtypes.items() if dtype == "float32"]
    return {
        name: [None if v is None else float(v) for v in column] if name in floats else column
        for name, column in values.items()
    }


@given(instances)
def test_the_decoder_takes_every_plain_body_and_gives_what_parsing_and_checking_give(
    rows: list[dict[str, Any]],
) -> None:
    raw = json.dumps({"instances": rows}).encode()  # NaN and Infinity as their (invalid) tokens
    if SCHEMA._plain_columns(rows) is not None:
        SCHEMA.from_rows(rows)  # the checks have seen its strings
        assert SCHEMA.decode_rows(raw) is not None
    decoded = SCHEMA.decode_rows(raw)
    if decoded is not None:
        columns, signature_name = decoded
        checked = SCHEMA.from_rows(orjson.loads(raw)["instances"])  # raises on anything odd
        assert columns.count == checked.count == len(rows)
        assert repr(_as_floats(columns.values)) == repr(_as_floats(checked.values))
        assert signature_name is None


@pytest.mark.parametrize(
    ("body", "decoded"),
    [
        (b'{"instances": [{"age": 30, "code": 7, "city": "Oslo"}]}', True),
        (b'{"instances": [{"age": 30, "zip": "0150"}], "signature_name": "predict"}', True),
        (b'{"instances": [{"age": 30}], "inputs": {}}', False),  # another key: TF says no
        (b'{"instances": []}', False),  # "No instances to predict"
        (b'{"instances": [30]}', False),  # not an object
        (b'{"instances": [{"age": null}]}', False),  # a required value missing
        (b'{"instances": [{"age": 30, "code": 7.0}]}', False),  # converted value by value
        (b'{"instances": [{"age": 30, "code": 9223372036854775808}]}', False),  # over int64
        (b'{"instances": [{"age": 30, "city": {"b64": "aGk="}}]}', False),
        (b'{"instances": [{"age": 30, "city": ["Oslo"]}]}', False),
        (b'{"instances": [{"age": 1e999}]}', False),  # infinite
        (b'{"instances": [{"age": 30, "city": "\xff"}]}', False),  # not UTF-8
        (b'{"instances": [{"age": 30}], "signature_name": 5}', False),
    ],
)
def test_which_bodies_the_decoder_takes(body: bytes, decoded: bool) -> None:
    schema = InputSchema(INPUTS)
    schema.from_rows([{"age": 1, "city": "Oslo"}])
    assert (schema.decode_rows(body) is not None) is decoded


def test_the_decoder_reads_the_signature_name_and_skips_unknown_features() -> None:
    body = b'{"instances": [{"age": 30, "zip": "0150"}, {"age": 2.5, "city": "Oslo"}], '
    SCHEMA.from_rows([{"age": 1, "city": "Oslo"}])
    decoded = SCHEMA.decode_rows(body + b'"signature_name": "predict"}')
    assert decoded is not None
    columns, signature_name = decoded
    assert signature_name == "predict"
    assert columns.values == {
        "age": [30.0, 2.5],
        "hours": [None, None],
        "code": [None, None],
        "city": [None, "Oslo"],
    }


def test_the_decoder_learns_string_values_from_the_checks() -> None:
    """A string it has not seen sends the body through the checks, which teach it: from then
    on the decoder takes the body."""
    schema = InputSchema(INPUTS)
    body = b'{"instances": [{"age": 30, "city": "Oslo"}, {"age": 31}]}'
    assert schema.decode_rows(body) is None  # no string known yet
    schema.from_rows(orjson.loads(body)["instances"])
    decoded = schema.decode_rows(body)
    assert decoded is not None
    assert decoded[0].values["city"] == ["Oslo", None]
    assert schema.decode_rows(body.replace(b"Oslo", b"Rome")) is None  # not known yet
    assert schema.decode_rows(body.replace(b'"Oslo"', b"null")) is not None


def test_a_string_input_with_too_many_values_takes_any_string() -> None:
    schema = InputSchema(INPUTS, known_strings=3)
    schema.from_rows([{"age": 1, "city": city} for city in ("a", "b", "c")])
    assert schema.decode_rows(b'{"instances": [{"age": 1, "city": "d"}]}') is None
    schema.from_rows([{"age": 1, "city": "d"}])  # a fourth value: too many to name
    for city in (b"e", b"f"):
        decoded = schema.decode_rows(b'{"instances": [{"age": 1, "city": "%s"}]}' % city)
        assert decoded is not None and decoded[0].values["city"] == [city.decode()]


def test_a_required_string_input_is_decoded_once_a_value_is_known() -> None:
    schema = InputSchema([{"name": "city", "dtype": "string", "required": True}])
    body = b'{"instances": [{"city": "Oslo"}]}'
    assert schema.decode_rows(body) is None
    schema.from_rows([{"city": "Oslo"}])
    decoded = schema.decode_rows(body)
    assert decoded is not None and decoded[0].values == {"city": ["Oslo"]}
    assert schema.decode_rows(b'{"instances": [{}]}') is None  # still required


def test_the_decoder_names_what_the_models_memory_remembers() -> None:
    """One memory of string values: what the transform learned (here from a batch of lists)
    the decoder names too, without having checked a request of its own; a memory whose budget
    is spent learns nothing more, and such values take the checks every time."""
    memory = ValueMemory()
    transformer = fc.FeatureTransformer([fc.categorical_column_with_hash_bucket("city", 10)])
    transform_all([transformer], {"city": ["Oslo", " Rome"]}, memory)
    schema = InputSchema(INPUTS, memory)
    for name in (b"Oslo", b" Rome"):
        decoded = schema.decode_rows(b'{"instances": [{"age": 1, "city": "%s"}]}' % name)
        assert decoded is not None and decoded[0].values["city"] == [name.decode()]

    full = ValueMemory(max_bytes=0)
    schema = InputSchema(INPUTS, full)
    body = b'{"instances": [{"age": 1, "city": "Oslo"}]}'
    schema.from_rows(orjson.loads(body)["instances"])
    assert schema.decode_rows(body) is None and full.table("city").raw_values == []
