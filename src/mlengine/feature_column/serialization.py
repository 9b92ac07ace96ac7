"""Columns to and from JSON: ``{"class_name": ..., "config": {...}}`` with an explicit allow-list.

Only the classes on the allow-list can be rebuilt (each column's home puts its class there with
:func:`~mlengine.feature_column.columns.base.serializable`), and rebuilding runs no code from
the document, so an export's feature columns are data, never pickles. Each field's value must
have the type the class annotates (a crafted ``"max_norm": {}`` is refused naming the field,
rather than failing somewhere later).
"""

from __future__ import annotations

import dataclasses
import functools
import types
import typing
from collections.abc import Iterator
from typing import Any

from mlengine.errors import ExportFormatError
from mlengine.feature_column.columns import FeatureColumn
from mlengine.feature_column.columns.base import SERIALIZABLE
from mlengine.feature_column.encoding import FLOAT32_OVERFLOW


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
        hints = _field_types(cls)
        for key, decoded in kwargs.items():
            hint = hints.get(key)
            if hint is not None and not _fits(decoded, hint):
                raise ExportFormatError(
                    f"{where}: {name}.{key} must be {_describe(hint)}; got {decoded!r:.80}."
                )
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


@functools.cache
def _field_types(cls: type) -> dict[str, Any]:
    """The annotated type of each field of a serialisable class ({} where they cannot be
    resolved: the constructor alone then checks)."""
    try:
        return typing.get_type_hints(cls)
    except (NameError, TypeError):
        return {}


def _fits(value: Any, hint: Any) -> bool:
    """Whether a decoded JSON value has the field's annotated type (a JSON integer fits a
    float; a float must be finite in float32). An annotation this does not know is left to the
    constructor."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_fits(value, arg) for arg in args)
    if origin is typing.Literal:
        return any(value == arg and type(value) is type(arg) for arg in args)
    if origin is tuple:
        if type(value) is not tuple:
            return False
        if len(args) == 2 and args[1] is Ellipsis:
            return all(_fits(item, args[0]) for item in value)
        return len(args) == len(value) and all(map(_fits, value, args))
    if hint is type(None):
        return value is None
    if hint is float:  # the model computes in float32: a value it rounds to inf is no number
        return type(value) in (int, float) and -FLOAT32_OVERFLOW < value < FLOAT32_OVERFLOW
    if hint in (int, bool, str):
        return type(value) is hint
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _describe(hint: Any) -> str:
    return getattr(hint, "__name__", None) or str(hint).replace("typing.", "")


def from_config(config: dict[str, Any], where: str = "feature column") -> FeatureColumn:
    """Rebuild a column from :func:`to_config`'s output; unknown classes are refused."""
    column = _decode(config, where)
    if not isinstance(column, FeatureColumn):
        raise ExportFormatError(f"{where}: expected a feature column, got {type(column).__name__}.")
    return column
