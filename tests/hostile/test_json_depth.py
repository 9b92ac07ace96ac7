"""The depth bound of every JSON input (19.4), read two ways: :func:`mlengine.limits.load_json`
parses and checks; :func:`mlengine.limits.json_bytes_depth_ok` reads the bytes of JSON a
decoder has accepted while skipping parts of it (the server's msgspec path). They agree on any
document, so a body's answer never depends on which path read it."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine.limits import (
    MAX_JSON_DEPTH,
    JSONLimitError,
    json_bytes_depth_ok,
    json_depth_ok,
    load_json,
)
from tests.hostile import strategies as hs

# Strings full of what could be mistaken for structure: brackets, quotes, backslashes.
tricky_text = st.text(alphabet='[]{}"\\ab\n', max_size=6)
documents = st.recursive(
    st.none() | st.integers() | tricky_text,
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(tricky_text, children, max_size=3)
    ),
    max_leaves=12,
)


def wrapped(value: Any, depth: int, key: str) -> Any:
    for index in range(depth):
        value = [value] if index % 2 else {key: value}
    return value


@given(value=documents, depth=st.integers(0, 90), key=tricky_text, limit=st.integers(1, 70))
def test_the_bytes_and_the_parsed_value_agree(value: Any, depth: int, key: str, limit: int) -> None:
    document = wrapped(value, depth, key)
    data = json.dumps(document).encode()
    assert json_bytes_depth_ok(data, limit) == json_depth_ok(document, limit)


def test_the_server_path_refuses_what_load_json_refuses() -> None:
    body = json.dumps({"instances": [hs.instance(unknown=hs.nested(MAX_JSON_DEPTH))]}).encode()
    assert not json_bytes_depth_ok(body)
    with pytest.raises(JSONLimitError):
        load_json(body)
    shallow = json.dumps({"instances": [hs.instance()] * 500}).encode()
    assert json_bytes_depth_ok(shallow) and json_depth_ok(load_json(shallow))
