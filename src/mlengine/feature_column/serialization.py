"""Columns to and from JSON: ``{"class_name": ..., "config": {...}}`` with an explicit allow-list.

Only the classes on the allow-list can be rebuilt (each column's home puts its class there with
:func:`~mlengine.feature_column.columns.base.serializable`), and rebuilding runs no code from
the document, so an export's feature columns are data, never pickles.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

from mlengine.errors import ExportFormatError
from mlengine.feature_column.columns import FeatureColumn
from mlengine.feature_column.columns.base import SERIALIZABLE


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            "class_name": type(value).__name__,
            "config": {f.name: _encode(getattr(value, f.name)) for f in dataclasses.fields(value)},
        }
    if isinstance(value, tuple | list):
        return [_encode(v) for v in value]
    return value


def to_config(column: FeatureColumn) -> dict[str, Any]:
    """The JSON-ready description of a column (nested columns included)."""
    encoded = _encode(column)
    assert isinstance(encoded, dict)
    return encoded


def _decode(value: Any, where: str) -> Any:
    if isinstance(value, dict) and "class_name" in value:
        name = value["class_name"]
        cls = SERIALIZABLE.get(name)
        if cls is None:
            raise ExportFormatError(f"{where}: unknown feature column class {name!r}.")
        config = value.get("config")
        if not isinstance(config, dict):
            raise ExportFormatError(f"{where}: {name} has no 'config' object.")
        field_names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(config) - field_names
        if unknown:
            raise ExportFormatError(f"{where}: {name} has unknown fields {sorted(unknown)}.")
        kwargs = {k: _decode(v, f"{where}.{k}") for k, v in config.items()}
        try:
            return cls(**kwargs)
        except (TypeError, ValueError) as exc:
            raise ExportFormatError(f"{where}: invalid {name}: {exc}") from None
    if isinstance(value, list):
        return tuple(_decode(v, where) for v in value)
    return value


def column_configs(document: Any) -> Iterator[tuple[str, dict[str, Any]]]:
    """Every column in a JSON document (a model spec, nested columns included), outermost
    first, as ``(class_name, config)``; the configs may be changed in place while iterating
    (an export points file vocabularies at its assets this way)."""
    if isinstance(document, dict):
        config = document.get("config")
        if isinstance(document.get("class_name"), str) and isinstance(config, dict):
            yield document["class_name"], config
        for value in list(document.values()):
            yield from column_configs(value)
    elif isinstance(document, list):
        for value in document:
            yield from column_configs(value)


def from_config(config: dict[str, Any], where: str = "feature column") -> FeatureColumn:
    """Rebuild a column from :func:`to_config`'s output; unknown classes are refused."""
    column = _decode(config, where)
    if not isinstance(column, FeatureColumn):
        raise ExportFormatError(f"{where}: expected a feature column, got {type(column).__name__}.")
    return column
