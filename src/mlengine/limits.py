"""The bounds on what input from outside may ask of a process, and the one JSON reader.

An export's manifest, a request body, a CLI's JSON file and a job's JSON lines all come from
someone else. Each bound here caps what one such input can make mlengine allocate or recurse
into, so that one crafted file or request is refused with an error naming what it asked for,
before it costs the memory or the stack. They are safety limits, not speed thresholds (those
are :mod:`mlengine.tuning`'s): a value here changes which inputs are refused, never an answer.

Every JSON document read from outside goes through :func:`load_json`: orjson (C, refuses
nesting deeper than 1024 on its own), then :data:`MAX_JSON_DEPTH` checked without recursion,
so no code that walks the parsed value recursively (``repr``, ``json.dumps``, a checker) can
meet a :class:`RecursionError`.

The limits of exports (what a version may hold and cost) are read from the environment by
:meth:`ExportLimits.from_env`, so the CLI, the registry and the server refuse the same exports.

This module imports nothing from mlengine but :mod:`mlengine.errors`: every layer may read it.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any

import orjson

from mlengine.errors import InvalidParameterError

# ---------------------------------------------------------------------------------------------
# JSON.

# The deepest nesting of any JSON document mlengine reads (manifests, request bodies, CLI files,
# job inputs). The deepest legitimate one is a request for a multi-dimensional input: body,
# instances, instance, then one level per dimension; a manifest nests columns a few levels.
# Python's default recursion limit is 1000, so anything that walks a value recursively is safe
# far below it.
MAX_JSON_DEPTH = 64


class JSONLimitError(ValueError):
    """A JSON document nested deeper than the limit (the message says how deep it may be)."""


def json_depth_ok(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether no container in ``value`` is nested deeper than ``max_depth`` (the document
    itself is level 1). Iterative: a deep value cannot exhaust the stack checking it."""
    if type(value) is not dict and type(value) is not list:
        return True
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > max_depth:
            return False
        for child in node.values() if type(node) is dict else node:
            kind = type(child)
            if kind is dict or kind is list:
                stack.append((child, depth + 1))
    return True


# Every byte but the quote and the brackets; braces read as brackets (depth is all that counts).
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_BRACES_AS_BRACKETS = bytes.maketrans(b"{}", b"[]")


def json_bytes_depth_ok(data: bytes, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether the valid JSON text ``data`` nests no deeper than ``max_depth``, without parsing
    it: for a decoder that skips values it does not need (msgspec), so that its answer is the
    same as :func:`load_json`'s. Two byte counts when ``data`` has at most ``max_depth``
    brackets (a request of a few instances); else byte operations in C: escapes out, strings
    out, then innermost pairs removed once per level."""
    if data.count(b"[") + data.count(b"{") <= max_depth:
        return True
    # In valid JSON a backslash only starts an escape, inside a string: once escaped
    # backslashes and quotes are gone, every quote opens or closes a string.
    text = data.replace(b"\\\\", b"").replace(b'\\"', b"")
    structure = text.translate(_BRACES_AS_BRACKETS, _NOT_STRUCTURE)
    outside = b"".join(structure.split(b'"')[::2])
    for _ in range(max_depth):
        if not outside:
            return True
        outside = outside.replace(b"[]", b"")  # the innermost level
    return not outside


def load_json(
    data: bytes | str, max_depth: int = MAX_JSON_DEPTH, *, python_json: bool = False
) -> Any:
    """Parse one JSON document from outside.

    Strict JSON (orjson): ``NaN``/``Infinity`` tokens, invalid UTF-8 and lone surrogates are
    refused; integers beyond 64 bits become floats. With ``python_json``, Python's ``json``
    parses instead (its tokens and messages: ``NaN`` accepted, as a local file given to the
    CLI has always been read); its recursion error on deep nesting becomes the same refusal.

    Raises:
        ValueError: not JSON (a ``json.JSONDecodeError``: orjson's is one), or nested deeper
            than ``max_depth`` (:class:`JSONLimitError`).
    """
    try:
        value = json.loads(data) if python_json else orjson.loads(data)
    except RecursionError:
        value = None  # deeper than the parser's own stack allows
        deep = True
    except orjson.JSONDecodeError as error:
        if not str(error).startswith("depth limit"):
            raise
        value, deep = None, True  # orjson's own bound (1024): the same refusal
    else:
        deep = not json_depth_ok(value, max_depth)
    if deep:
        raise JSONLimitError(
            f"JSON nested deeper than {max_depth} levels is refused (no input of mlengine "
            "needs that many)."
        )
    return value


def whole_number(text: str, high: int) -> int | None:
    """``text`` as an int in ``[0, high]`` when it is ASCII digits, else None. A digit string
    longer than ``high``'s is never converted (Python refuses past 4,300 digits with a
    ValueError, and converting a long one costs time), so a client's number is either one a
    database column takes or a clear refusal."""
    if not (text.isascii() and text.isdigit()):
        return None
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(high)):
        return None
    value = int(digits)
    return value if value <= high else None


# ---------------------------------------------------------------------------------------------
# Exports: what one version may hold, and ask the loading process to allocate.

MAX_MODEL_BYTES_ENV = "MLENGINE_MAX_MODEL_BYTES"
MAX_EXPORT_BYTES_ENV = "MLENGINE_MAX_EXPORT_BYTES"
MAX_ASSET_BYTES_ENV = "MLENGINE_MAX_ASSET_BYTES"


@dataclass(frozen=True)
class ExportLimits:
    """What one export may hold and what its version may cost in memory.

    Attributes:
        max_model_bytes: the memory a version needs, computed from its manifest (weights,
            vocabularies, boundaries, label names): the budget of one loaded version.
            ``MLENGINE_MAX_MODEL_BYTES``; 2 GiB, many times the census Wide & Deep (4 MB).
        max_export_bytes: all files of an export together, from the file system, before any
            is copied or read. ``MLENGINE_MAX_EXPORT_BYTES``; 4 GiB.
        max_asset_bytes: one asset file (a vocabulary), before it is read.
            ``MLENGINE_MAX_ASSET_BYTES``; 256 MiB (some 10 million words).
        max_manifest_bytes: ``saved_model.json``, before it is parsed; 64 MiB (inline
            vocabularies and boundaries live there).
        max_buckets: the ids one column may produce (hash, identity and vocabulary buckets,
            crosses): the rows of a weight table; 2**31 (int32 ids, TF's own bound).
        max_values: the entries of one list in a spec (a vocabulary, boundaries, the label
            vocabulary); 10 million.
        max_width: values per row: a column's width, an embedding's dimension, a hidden
            layer's units, the classes of a head; 2**20.
        max_layers: hidden layers of a DNN; 1,000.
    """

    max_model_bytes: int = 2 << 30
    max_export_bytes: int = 4 << 30
    max_asset_bytes: int = 256 << 20
    max_manifest_bytes: int = 64 << 20
    max_buckets: int = 1 << 31
    max_values: int = 10_000_000
    max_width: int = 1 << 20
    max_layers: int = 1000

    def __post_init__(self) -> None:
        for item in fields(self):
            value = getattr(self, item.name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise InvalidParameterError(
                    f"The {item.name!r} export limit must be a positive int. Got {value!r}."
                )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ExportLimits:
        """The defaults, with the byte limits the environment sets (see the attributes)."""
        env = os.environ if environ is None else environ
        values: dict[str, int] = {}
        for name, variable in (
            ("max_model_bytes", MAX_MODEL_BYTES_ENV),
            ("max_export_bytes", MAX_EXPORT_BYTES_ENV),
            ("max_asset_bytes", MAX_ASSET_BYTES_ENV),
        ):
            raw = env.get(variable, "").strip()
            if not raw:
                continue
            try:
                values[name] = int(raw)
            except ValueError:
                raise InvalidParameterError(
                    f"{variable} must be a number of bytes. Got {raw!r} instead."
                ) from None
        return cls(**values)


def show_bytes(count: int) -> str:
    """A byte count for a message: ``4.0 GiB (4294967296 bytes)``."""
    size = float(count)
    for unit in ("bytes", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            text = f"{count} bytes" if unit == "bytes" else f"{size:.1f} {unit} ({count} bytes)"
            return text
        size /= 1024
    return f"{count} bytes"  # pragma: no cover - the loop always returns


__all__ = [
    "MAX_ASSET_BYTES_ENV",
    "MAX_EXPORT_BYTES_ENV",
    "MAX_JSON_DEPTH",
    "MAX_MODEL_BYTES_ENV",
    "ExportLimits",
    "JSONLimitError",
    "json_bytes_depth_ok",
    "json_depth_ok",
    "load_json",
    "show_bytes",
    "whole_number",
]
