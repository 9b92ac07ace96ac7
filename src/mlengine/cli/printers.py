"""gcloud's printers: what ``--format json|yaml|text|flattened|csv|value|table|none`` prints.

:func:`render` turns resources (plain JSON-like dicts, as ``to_json()`` gives them) into the
text gcloud would print for them:

- ``json``: indented, keys sorted; a list command prints one JSON array.
- ``yaml`` (and ``default``): block style, keys sorted; a list prints ``---`` before each one.
- ``text`` / ``flattened``: one ``key.path: value`` line per leaf, values aligned.
- ``value``: one line per resource, cells tab-separated, list items joined by ``;``.
- ``csv``: a heading of key names (``[no-heading]`` drops it), then comma-separated rows.
- ``table``: ANGRY_SNAKE_CASE headings and columns two spaces apart.
- ``none``: nothing.

With a projection (``json(name, state)``) json and yaml keep only those keys.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import yaml

from mlengine.cli.projection import Column, Format, headings, key_name, lookup


def _project(resource: Any, columns: Sequence[Column]) -> dict[str, Any]:
    """The projected keys of a resource, nested as in the resource (absent keys dropped)."""
    out: dict[str, Any] = {}
    for column in columns:
        if lookup(resource, column.key) is None:
            continue  # absent keys are left out, whatever their transforms would say
        value = column.value(resource)
        names = [part for part in column.key if isinstance(part, str)]
        if len(names) != len(column.key) or not names:
            out[key_name(column.key)] = value
            continue
        node = out
        for part in names[:-1]:
            child = node.setdefault(part, {})
            if not isinstance(child, dict):
                break
            node = child
        else:
            node[names[-1]] = value
    return out


def _json(records: list[Any], single: bool) -> str:
    data = records[0] if single and records else records
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False)


class _Dumper(yaml.SafeDumper):
    """Safe YAML that writes a repeated value out again rather than as an ``&id001`` alias."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _yaml_one(record: Any) -> str:
    text: str = yaml.dump(
        record,
        Dumper=_Dumper,
        default_flow_style=False,
        sort_keys=True,
        allow_unicode=True,
        width=1 << 30,
    )
    return text.removesuffix("...\n").rstrip("\n")


def _yaml(records: list[Any], single: bool) -> str:
    if single:
        return _yaml_one(records[0]) if records else ""
    return "\n".join(f"---\n{_yaml_one(record)}" for record in records)


def _scalar(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _leaves(value: Any, prefix: str) -> Iterator[tuple[str, str]]:
    if isinstance(value, Mapping) and value:
        for key in sorted(value):
            yield from _leaves(value[key], f"{prefix}.{key}" if prefix else str(key))
    elif isinstance(value, list) and value:
        for index, item in enumerate(value):
            yield from _leaves(item, f"{prefix}[{index}]")
    elif isinstance(value, Mapping | list):
        yield prefix, "{}" if isinstance(value, Mapping) else "[]"
    else:
        yield prefix, _scalar(value)


def _flattened(records: list[Any], single: bool) -> str:
    blocks = []
    for record in records:
        pairs = list(_leaves(record, ""))
        width = max((len(key) for key, _ in pairs), default=0) + 1
        lines = [f"{key + ':':<{width}} {value}".rstrip() for key, value in pairs]
        blocks.append("\n".join(lines if single else ["---", *lines]))
    return "\n".join(blocks)


def _cell(value: Any, delimiter: str) -> str:
    """A value or csv cell: lists joined by ``delimiter``, mappings as ``k=v`` items."""
    if value is None:
        return ""
    if isinstance(value, Mapping):
        return delimiter.join(f"{k}={_cell(v, delimiter)}" for k, v in value.items())
    if isinstance(value, list):
        return delimiter.join(_cell(item, delimiter) for item in value)
    return str(value)


def _text_attr(fmt: Format, name: str, default: str) -> str:
    value = fmt.attrs.get(name)
    return value if isinstance(value, str) else default


def _value(records: list[Any], fmt: Format) -> str:
    separator = _text_attr(fmt, "separator", "\t")
    delimiter = _text_attr(fmt, "delimiter", ";")
    lines = []
    for record in records:
        if fmt.columns is None:
            cells = [value for _, value in _leaves(record, "")]
        else:
            cells = [_cell(column.value(record), delimiter) for column in fmt.columns]
        lines.append(separator.join(cells))
    return "\n".join(lines)


def _csv(records: list[Any], fmt: Format) -> str:
    columns = fmt.columns or ()
    separator = _text_attr(fmt, "separator", ",")
    delimiter = _text_attr(fmt, "delimiter", ";")
    out = io.StringIO()
    writer = csv.writer(out, delimiter=separator[:1] or ",", lineterminator="\n")
    if not fmt.flag("no-heading"):
        writer.writerow([column.label or key_name(column.key) for column in columns])
    for record in records:
        writer.writerow([_cell(column.value(record), delimiter) for column in columns])
    return out.getvalue().rstrip("\n")


def table_lines(header: Sequence[str] | None, rows: Sequence[Sequence[str]]) -> list[str]:
    """Left-aligned columns two spaces apart (the last one not padded), as gcloud's tables."""
    lines = [list(header)] if header is not None else []
    lines += [list(row) for row in rows]
    if not lines:
        return []
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    return [
        "  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip()
        for line in lines
    ]


def _table(records: list[Any], fmt: Format) -> str:
    if not records:
        return ""
    columns = fmt.columns or ()
    rows = [[_scalar_str(column.value(record)) for column in columns] for record in records]
    header = None if fmt.flag("no-heading") else headings(columns)
    lines = table_lines(header, rows)
    title = fmt.attrs.get("title")
    if isinstance(title, str) and title:
        lines.insert(0, title)
    return "\n".join(lines)


def _scalar_str(value: Any) -> str:
    """A table cell: ``str()`` of the value (lists as Python lists), empty for None."""
    return "" if value is None else str(value)


def sort_by_columns(records: list[Any], columns: Sequence[Column]) -> list[Any]:
    """Records ordered by the columns carrying ``:sort=N`` (``:reverse`` descending)."""
    keyed = sorted((column.sort, i, column) for i, column in enumerate(columns) if column.sort)
    for _, _, column in reversed(keyed):
        records = sorted(records, key=_by(column), reverse=column.reverse)
    return records


def _by(column: Column) -> Callable[[Any], tuple[int, Any]]:
    return lambda record: sort_key(column.value(record))


def sort_key(value: Any) -> tuple[int, Any]:
    """A sort key that puts missing values first and never compares a number with a text."""
    if value is None:
        return (0, "")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (1, value)
    return (2, _scalar(value) if not isinstance(value, list | Mapping) else json.dumps(value))


def render(records: list[Any], fmt: Format, *, single: bool = False) -> str:
    """The text gcloud prints for ``records`` in format ``fmt`` (no trailing newline).

    ``single`` marks one resource (describe, create) rather than a list: json prints an
    object instead of an array, yaml and flattened print no ``---`` separators.
    """
    if fmt.columns is not None:
        records = sort_by_columns(records, fmt.columns)
    printer = fmt.printer
    if printer in ("json", "yaml", "default") and fmt.columns is not None:
        records = [_project(record, fmt.columns) for record in records]
    if printer == "json":
        return _json(records, single)
    if printer in ("yaml", "default"):
        return _yaml(records, single)
    if printer in ("text", "flattened"):
        if fmt.columns is not None:
            records = [_project(record, fmt.columns) for record in records]
        return _flattened(records, single)
    if printer in ("value", "get"):
        return _value(records, fmt)
    if printer == "csv":
        return _csv(records, fmt)
    if printer == "table":
        return _table(records, fmt)
    return ""  # none


__all__ = ["render", "sort_by_columns", "sort_key", "table_lines"]
