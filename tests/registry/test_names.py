"""Name rules (property tests) and version numbering as a property."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine.errors import InvalidParameterError
from mlengine.registry import Registry, validate_name
from mlengine.registry.names import NAME_PATTERN, parse_version_ref, validate_labels

VALID = st.from_regex(NAME_PATTERN, fullmatch=True)


@given(VALID)
def test_valid_names_pass(name: str) -> None:
    assert validate_name(name) == name
    assert parse_version_ref(name) == name


@given(st.text(max_size=200))
def test_names_outside_the_rule_are_refused_with_the_name(name: str) -> None:
    if re.fullmatch(NAME_PATTERN, name) and name.isascii():
        return
    with pytest.raises(InvalidParameterError) as info:
        validate_name(name, "version")
    message = str(info.value)
    assert message.startswith("Invalid version name ")
    assert "\n" not in message and len(message) < 300


@given(st.integers(min_value=1, max_value=10**9))
def test_version_numbers_as_text_or_int(number: int) -> None:
    assert parse_version_ref(number) == number
    assert parse_version_ref(str(number)) == number


@pytest.mark.parametrize("bad", [0, -1, True, "0"])
def test_bad_version_refs(bad: object) -> None:
    with pytest.raises(InvalidParameterError):
        parse_version_ref(bad)  # type: ignore[arg-type]


def test_name_length_limit() -> None:
    assert validate_name("a" * 128)
    with pytest.raises(InvalidParameterError):
        validate_name("a" * 129)


def test_labels_rule() -> None:
    assert validate_labels({"team": "ml-1", "env": ""}, "m") == {"team": "ml-1", "env": ""}
    for bad in ({"": "x"}, {"1a": "x"}, {"a": "X"}, {"a" * 64: "x"}, {"a": 1}):
        with pytest.raises(InvalidParameterError):
            validate_labels(bad, "m")  # type: ignore[arg-type]


OPS = st.lists(st.sampled_from(["create", "delete_newest", "delete_oldest", "set_default"]))


@pytest.mark.timeout(600)
@given(ops=OPS.filter(lambda ops: len(ops) <= 12))
def test_version_numbers_strictly_increase_and_are_never_reused(
    ops: list[str], export_dir: Path
) -> None:
    workdir = Path(tempfile.mkdtemp())
    try:
        with Registry(f"sqlite:///{workdir / 'r.db'}", workdir / "a") as registry:
            registry.create_model("m")
            issued: list[int] = []
            for index, op in enumerate(ops):
                live = registry.list_versions("m")
                if op == "create":
                    issued.append(registry.create_version("m", f"v{index}", str(export_dir)).number)
                elif live and op.startswith("delete"):
                    target = live[-1] if op == "delete_newest" else live[0]
                    if target.is_default and len(live) > 1:
                        other = live[0] if target is live[-1] else live[-1]
                        registry.set_default_version("m", other.number)
                    registry.delete_version("m", target.number)
                elif live and op == "set_default":
                    registry.set_default_version("m", live[-1].number)
                live = registry.list_versions("m")
                defaults = [v for v in live if v.is_default]
                assert len(defaults) == (1 if live else 0)
            assert issued == sorted(set(issued))
            assert issued == list(range(1, len(issued) + 1))
    finally:
        shutil.rmtree(workdir)
