"""Raw feature values decoded for the reference encoding: strings and numbers.

:func:`decode_strings` dictionary-encodes a string feature (:class:`Strings`: per-value codes
into a stripped dictionary, computed per distinct value); :func:`decode_floats` reads numbers as
float64 with NaN for missing; :func:`to_arrow` is the one conversion of an array-like to arrow,
with errors that name the feature and the odd value.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError
from mlengine.feature_column.hashing import hash_strings


class Strings:
    """A string feature, dictionary-encoded: per-value ``codes`` into a stripped ``dictionary``
    (an arrow array), with list ``offsets`` for a feature with several values per row.

    Per-entry operations (:attr:`empty`, :attr:`hashes`, :meth:`per_entry`) run once per
    distinct value; :meth:`gather` spreads a per-entry result over the values.
    :class:`~mlengine.feature_column.small_batch.ListStrings` implements the same operations
    over a tuple of Python strings, for dictionaries of a few entries.
    """

    def __init__(self, codes: np.ndarray, dictionary: Any, offsets: np.ndarray | None):
        self.codes = codes  # int64 per value, -1 for null
        self.dictionary = dictionary  # stripped strings
        self.offsets = offsets  # list offsets [n + 1] for multivalent input, else None
        self._hashes: np.ndarray | None = None

    @property
    def remembered(self) -> bool:
        """Whether the codes are a :class:`~mlengine.feature_column.memory.StringTable`'s
        (they, and per-entry results, outlive the batch)."""
        return False

    def gather(self, per_entry: np.ndarray, missing: float) -> np.ndarray:
        """Per-value result from a per-dictionary-entry array (``missing`` for nulls)."""
        # Keep the dtype: np.append(uint64, 0) would go through float64 and round hashes.
        table = np.concatenate([per_entry, np.array([missing], dtype=per_entry.dtype)])
        return table[self.codes]

    @property
    def empty(self) -> np.ndarray:
        """Per entry: the value is empty (after stripping), which means no value."""
        return np.asarray(pc.equal(self.dictionary, "").fill_null(True), dtype=bool)

    @property
    def hashes(self) -> np.ndarray:
        """Per entry: the stable uint64 hash (:mod:`mlengine.feature_column.hashing`)."""
        if self._hashes is None:
            self._hashes = hash_strings(self.dictionary)
        return self._hashes

    def per_entry(
        self,
        key: Hashable,
        one: Callable[[str], int],
        vectorised: Callable[[pa.Array], np.ndarray],
    ) -> np.ndarray:
        """Per entry, a column's int64 result: ``vectorised(dictionary)`` here, ``one(value)``
        for each value of a small dictionary; ``key`` names the result where it is remembered."""
        return vectorised(self.dictionary)


def decode_strings(raw: Any, key: str) -> Strings:
    """Any array-like of strings (or numbers, read as TF's ``as_string``), lists of them for a
    multivalent feature, or an arrow dictionary array, as :class:`Strings`."""
    arr = to_arrow(raw, key)
    offsets = None
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        offsets = np.asarray(arr.offsets, dtype=np.int64)
        arr = arr.flatten() if arr.offset == 0 else arr.values[offsets[0] : offsets[-1]]
        offsets = offsets - offsets[0]
    if pa.types.is_dictionary(arr.type):
        encoded = arr
    else:
        if not (pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type)):
            if pa.types.is_null(arr.type):
                arr = arr.cast(pa.string())
            elif pa.types.is_floating(arr.type):
                # JSON numbers for a string feature: 3.0 reads as "3", as TF's as_string.
                arr = _float_to_string(arr)
            else:
                arr = pc.cast(arr, pa.string())
        encoded = pc.dictionary_encode(arr)
    dictionary = pc.utf8_trim_whitespace(encoded.dictionary.cast(pa.string()))
    codes = np.asarray(encoded.indices.fill_null(-1), dtype=np.int64)
    return Strings(codes, dictionary, offsets)


def to_arrow(values: Any, key: str) -> pa.Array:
    """The values as one arrow array (chunks combined); an error names the feature and the
    first value of another kind."""
    if isinstance(values, pa.ChunkedArray):
        return values.combine_chunks()
    if isinstance(values, pa.Array):
        return values
    if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
        return pa.array(values.reshape(-1) if values.ndim > 1 and values.shape[1] == 1 else values)
    try:
        arr = pa.array(values, from_pandas=True)
    except (pa.ArrowInvalid, pa.ArrowTypeError, TypeError) as exc:
        raise FeatureError(
            f"Feature {key!r}: cannot read the values as one array{_odd_row(values)}: {exc}"
        ) from None
    return arr.combine_chunks() if isinstance(arr, pa.ChunkedArray) else arr


def _odd_row(values: Any) -> str:
    """Error path only: ``" (row i: value)"`` for the first value of another kind than the first."""
    try:
        items = list(values)
    except TypeError:
        return ""
    first = None
    for row, value in enumerate(items):
        if value is None:
            continue
        kind = "number" if isinstance(value, int | float | np.number) else type(value).__name__
        if first is None:
            first = kind
        elif kind != first:
            return f" (row {row}: {value!r})"
    return ""


def decode_floats(values: Any, key: str) -> np.ndarray:
    if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
        return values.astype(np.float64, copy=False)
    arr = to_arrow(values, key)
    if pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
        arr = arr.flatten()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = parse_numbers(arr, key)
    elif not (
        pa.types.is_integer(arr.type)
        or pa.types.is_floating(arr.type)
        or pa.types.is_boolean(arr.type)
        or pa.types.is_null(arr.type)
    ):
        raise FeatureError(f"Feature {key!r}: expected numbers, got values of type {arr.type}.")
    return np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)


def _float_to_string(arr: pa.Array) -> pa.Array:
    values = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan))
    integral = np.isfinite(values) & (values == np.round(values))
    as_int = pc.cast(pa.array(np.where(integral, values, 0).astype(np.int64)), pa.string())
    as_float = pc.cast(arr, pa.string())
    out = pc.if_else(pa.array(integral), as_int, as_float)
    return pc.if_else(pc.is_null(arr), pa.nulls(len(arr), pa.string()), out)


def parse_numbers(arr: pa.Array, key: str) -> pa.Array:
    """Strings as float64 (blank: null); an error names the first value that is no number."""
    stripped = pc.utf8_trim_whitespace(arr)
    stripped = pc.if_else(pc.equal(stripped, ""), pa.nulls(len(arr), pa.string()), stripped)
    try:
        return pc.cast(stripped, pa.float64())
    except pa.ArrowInvalid:
        parsed = [_try_float(v) for v in pc.unique(stripped).to_pylist()]
        bad = next(v for v, ok in parsed if not ok)
        row = int(np.flatnonzero(np.asarray(pc.equal(stripped, bad).fill_null(False)))[0])
        raise FeatureError(
            f"Feature {key!r}: expected a number, got {bad!r} (row {row})."
        ) from None


def _try_float(value: str | None) -> tuple[str | None, bool]:
    if value is None:
        return value, True
    try:
        float(value)
    except ValueError:
        return value, False
    return value, True
