"""gcloud's ``--format`` printers and projections, and ``--filter`` expressions, on plain
resources (the commands' own output is tested with the commands)."""

from __future__ import annotations

import json
from typing import Any

import pytest
import yaml

from mlengine.cli.filters import FilterError, parse_filter
from mlengine.cli.printers import render
from mlengine.cli.projection import ProjectionError, headings, parse_format

MODELS: list[dict[str, Any]] = [
    {
        "name": "census",
        "createTime": "2024-03-02T10:20:30.123456Z",
        "defaultVersion": {"name": "v2", "state": "READY", "number": 2},
        "labels": {"team": "ml", "env": "prod"},
        "regions": ["us-central1"],
    },
    {"name": "census-small", "createTime": "2023-11-05T08:00:00.000000Z", "labels": {}},
    {
        "name": "iris",
        "createTime": "2024-01-01T00:00:00.000000Z",
        "defaultVersion": {"name": "v10", "state": "READY", "number": 10},
    },
]


def out(fmt: str, records: list[Any] = MODELS, single: bool = False) -> str:
    return render(records, parse_format(fmt), single=single)


def test_value_prints_bare_cells_tab_separated() -> None:
    assert out("value(name)").splitlines() == ["census", "census-small", "iris"]
    lines = out("value(name, defaultVersion.name, labels)").splitlines()
    assert lines[0] == "census\tv2\tteam=ml;env=prod"
    assert lines[1] == "census-small\t\t"
    assert out('value[separator=","](name,regions)').splitlines()[0] == "census,us-central1"


def test_table_headings_transforms_and_labels() -> None:
    fmt = (
        'table(name.basename(), defaultVersion.name.basename().yesno(no="-"), '
        'createTime.date("%Y-%m-%d"):label=CREATED)'
    )
    lines = out(fmt).splitlines()
    assert lines[0].split() == ["NAME", "DEFAULT_VERSION_NAME", "CREATED"]
    assert lines[2].split() == ["census-small", "-", "2023-11-05"]
    assert lines[0].index("DEFAULT") == lines[1].index("v2")  # columns line up
    assert out("table[no-heading](name)").splitlines() == ["census", "census-small", "iris"]
    assert out("table(name)", []) == ""  # an empty list prints nothing (not even headings)


def test_sort_attribute_orders_the_rows() -> None:
    lines = out("table(name, defaultVersion.number:sort=1:reverse)").splitlines()
    assert [line.split()[0] for line in lines[1:]] == ["iris", "census", "census-small"]


def test_angry_snake_case_headings_disambiguate() -> None:
    fmt = parse_format("table(name, defaultVersion.name, lastUseTime, a.b.name)")
    assert fmt.columns is not None
    assert headings(fmt.columns) == ["NAME", "DEFAULT_VERSION_NAME", "LAST_USE_TIME", "B_NAME"]


def test_json_and_yaml_with_and_without_projection() -> None:
    assert json.loads(out("json")) == MODELS
    assert json.loads(out("json", MODELS[:1], single=True)) == MODELS[0]
    projected = json.loads(out("json(name, defaultVersion.name)"))
    assert projected[0] == {"name": "census", "defaultVersion": {"name": "v2"}}
    assert projected[1] == {"name": "census-small"}  # absent keys are left out
    documents = out("yaml").split("---\n")[1:]
    assert [yaml.safe_load(doc) for doc in documents] == MODELS
    single = out("yaml", MODELS[:1], single=True)
    assert not single.startswith("---") and yaml.safe_load(single) == MODELS[0]


def test_csv_has_key_name_headings() -> None:
    lines = out("csv(name, defaultVersion.name, regions)").splitlines()
    assert lines[0] == "name,defaultVersion.name,regions"
    assert lines[1] == "census,v2,us-central1"
    assert out("csv[no-heading](name)").splitlines()[0] == "census"


def test_text_is_flattened_key_value_lines() -> None:
    text = out("text", MODELS[:1], single=True).splitlines()
    assert "defaultVersion.name:   v2" in text
    assert "regions[0]:            us-central1" in text
    assert out("flattened").count("---") == 3


@pytest.mark.parametrize(
    ("bad", "says"),
    [
        ("tabel(name)", "Unknown format name [tabel]"),
        ("table(name.nope())", "Unknown transform nope()"),
        ("table(name", "Expected ')'"),
        ("value(name) json", "Unexpected text"),
        ('table(createTime.date(tz="Mars/Base"))', None),
    ],
)
def test_bad_formats_say_why(bad: str, says: str | None) -> None:
    if says is None:  # only found when the transform runs
        with pytest.raises(ProjectionError, match="Unknown time zone"):
            out(bad)
        return
    with pytest.raises(ProjectionError) as raised:
        parse_format(bad)
    assert says in str(raised.value) and "--format" in str(raised.value)


@pytest.mark.parametrize(
    ("expression", "names"),
    [
        ("name:census", ["census", "census-small"]),  # a word of the value
        ("name:small", ["census-small"]),
        ("name:cen*", ["census", "census-small"]),
        ("name=census", ["census"]),
        ("name!=census", ["census-small", "iris"]),
        ("NAME=census", []),  # keys are case-sensitive
        ("name=CENSUS", ["census"]),  # values are not
        ("defaultVersion.number>2", ["iris"]),  # numbers compare as numbers
        ("defaultVersion.number<=2", ["census"]),
        ("createTime>=2024-01-01", ["census", "iris"]),  # RFC 3339 times compare as text
        ("name~^c.*l$", ["census-small"]),
        ("name!~^c", ["iris"]),
        ("labels.team:ml", ["census"]),
        ("labels:env", ["census"]),  # a mapping has its keys
        ("defaultVersion:*", ["census", "iris"]),
        ("-defaultVersion:*", ["census-small"]),
        ("NOT name:census", ["iris"]),
        ("name:census AND defaultVersion:*", ["census"]),
        ("name:iris OR name=census", ["census", "iris"]),
        ("name:census defaultVersion.state:ready", ["census"]),  # side by side: AND
        ("(name:iris OR name:small) AND createTime<2024", ["census-small"]),
        ("name:(iris small)", ["census-small", "iris"]),
        ("regions:us-central1", ["census"]),
        ("prod", ["census"]),  # a bare word: any field
        ("default_version.name=v10", ["iris"]),  # snake_case finds the camelCase field
        ("", ["census", "census-small", "iris"]),
    ],
)
def test_filters(expression: str, names: list[str]) -> None:
    predicate = parse_filter(expression)
    assert [model["name"] for model in MODELS if predicate(model)] == names


@pytest.mark.parametrize("bad", ["name:", "name~(", "(name:a", "name:a )", "name<(a b)"])
def test_bad_filters_name_the_position(bad: str) -> None:
    with pytest.raises(FilterError, match=r"in --filter \[.*\] at position \d+"):
        parse_filter(bad)


def test_yaml_writes_repeated_values_out_again() -> None:
    shared = {"name": "v1", "state": "READY"}
    text = out("yaml", [{"metadata": {"version": shared}, "response": shared}], single=True)
    assert "&id" not in text and "*id" not in text
    assert yaml.safe_load(text) == {"metadata": {"version": shared}, "response": shared}
