"""Request checking: the plain-value paths (column at a time for several instances, a type test
per value for one) give exactly what the value-by-value path gives, and anything else
(conversions, errors) goes value by value."""

from __future__ import annotations

from typing import Any
from unittest import mock

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine.serving.errors import ApiError
from mlengine.serving.schema import InputSchema

SCHEMA = InputSchema(
    [
        {"name": "age", "dtype": "float32", "required": True},
        {"name": "hours", "dtype": "float32", "required": False},
        {"name": "code", "dtype": "int64", "required": False},
        {"name": "city", "dtype": "string", "required": False},
    ]
)
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
