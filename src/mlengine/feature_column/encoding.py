"""The reference encoding: a raw batch of feature values, decoded once per feature key.

:class:`FeatureBatch` wraps one batch (a mapping of feature key to numpy array, arrow array,
pandas Series or list) and decodes each key at most once, whichever columns read it: strings
(:class:`~mlengine.feature_column.decoding.Strings`: dictionary-encoded, stripped), numbers
(float64, NaN for missing) and integer ids. Column homes build their outputs from these with
the helpers below: :class:`Ids` (``[n, L]`` ids and weights), :func:`layout` (per-value ids
into rows), :func:`lookup` (a string dictionary's per-entry ids gathered per value) and
:func:`combine` (TF's combiners as weights).

Everything here is vectorised over the batch (numpy and pyarrow). The one fast path beside it,
for the few values of a serving request, lives in :mod:`mlengine.feature_column.small_batch`
and is entered from :meth:`FeatureBatch.strings` and :meth:`FeatureBatch.floats` only.
A predicting process passes a :class:`~mlengine.feature_column.memory.ValueMemory`, whose
string codes (and what columns derive from them) outlive the batch.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError, located
from mlengine.feature_column import small_batch
from mlengine.feature_column.decoding import (
    Strings,
    decode_floats,
    decode_strings,
    parse_numbers,
    to_arrow,
)
from mlengine.feature_column.memory import ValueMemory

# The smallest magnitude that float32 (the model's dtype) rounds to infinity: halfway between
# its largest finite value, (2 - 2**-23) * 2**127, and 2**128 (a tie rounds to even: up).
# A feature value at or beyond it is refused, named, rather than computed into inf or NaN.
FLOAT32_OVERFLOW = 2.0**128 - 2.0**103

RawBatch = Mapping[str, Any]


@dataclass
class Ids:
    """Ids ``[n, L]`` of one categorical column and their weights (0 = no value)."""

    ids: np.ndarray
    weights: np.ndarray


IdsOf = Callable[[Any], Ids]
"""Another categorical column's ids in the same batch (computed once per batch)."""


def as_feature_dict(features: Any) -> RawBatch:
    """A pandas DataFrame as a mapping of column name to values (numpy arrays for numeric
    columns, which skip the arrow conversion; Series otherwise); mappings pass through."""
    pandas = sys.modules.get("pandas")  # not imported: cannot be a DataFrame (a server never is)
    if pandas is not None and isinstance(features, pandas.DataFrame):
        return {
            str(name): column.to_numpy() if _numpy_number(column.dtype) else column
            for name, column in features.items()
        }
    if not isinstance(features, Mapping):
        raise FeatureError(
            f"Features must be a mapping of feature name to values or a DataFrame; got "
            f"{type(features).__name__}."
        )
    return features


def _numpy_number(dtype: Any) -> bool:
    """A numpy integer, float or bool dtype (not pandas' nullable ones, which hold NA)."""
    return isinstance(dtype, np.dtype) and dtype.kind in "iufb"


def count_rows(features: RawBatch) -> int:
    """The rows of a batch of feature columns (those of its first column; 0 if it has none)."""
    for values in features.values():
        return len(values)
    return 0


def check_float32(values: np.ndarray, key: str) -> None:
    """Refuse a value (NaN aside: a missing value) that is not finite as float32, the model's
    dtype, naming the feature and its row (the instance, in a prediction).

    Raises:
        FeatureError: ``1e300``, ``inf``: ``Instance 0: feature 'age' is 1e+300 ...``.
    """
    extreme = np.abs(values) >= FLOAT32_OVERFLOW  # False for NaN
    if extreme.any():
        rows = extreme.reshape(len(values), -1)
        row = int(np.flatnonzero(rows.any(axis=1))[0])
        value = float(values.reshape(len(values), -1)[row][rows[row]][0])
        reason = (
            f"not a finite float32 number (the model's dtype holds magnitudes below "
            f"{FLOAT32_OVERFLOW:.7g})"
        )
        error = FeatureError(f"Instance {row}: feature {key!r} is {value!r}, which is {reason}.")
        raise located(error, row, key, value, reason)


class FeatureBatch:
    """A raw batch plus per-key caches, so a feature read by several columns is decoded once.

    ``memory`` (a predicting process's :class:`~mlengine.feature_column.memory.ValueMemory`)
    lets string codes, and what columns derive from them, outlive the batch.
    """

    def __init__(self, raw: RawBatch, memory: ValueMemory | None = None):
        self.raw = as_feature_dict(raw)
        self.n = count_rows(self.raw)
        self.memory = memory
        self._strings: dict[str, Strings] = {}
        self._floats: dict[tuple[str, int], np.ndarray] = {}

    def get(self, key: str, needed_by: str) -> Any:
        """The raw values of ``key``; an error names the column that needs a missing key."""
        try:
            values = self.raw[key]
        except KeyError:
            raise FeatureError(
                f"Feature {key!r} is required by column {needed_by!r} but missing from the input "
                f"(got {sorted(self.raw)[:20]})."
            ) from None
        if len(values) != self.n:
            raise FeatureError(f"Feature {key!r} has {len(values)} rows; expected {self.n}.")
        return values

    def strings(self, key: str, needed_by: str) -> Strings:
        """The values of ``key`` as :class:`Strings` (decoded once per batch)."""
        found = self._strings.get(key)
        if found is None:
            raw = self.get(key, needed_by)
            table = None if self.memory is None else self.memory.table(key)
            found = small_batch.strings(raw, self.n, table)
            if found is None:
                found = small_batch.few_distinct(decode_strings(raw, key))
            self._strings[key] = found
        return found

    def floats(self, key: str, width: int, needed_by: str) -> np.ndarray:
        """Float64 ``[n, width]``; NaN marks a missing value. Non-numbers raise FeatureError."""
        cached = self._floats.get((key, width))
        if cached is not None:
            return cached
        values = self.get(key, needed_by)
        out = small_batch.floats(values, self.n)
        if out is None:
            out = decode_floats(values, key)
        if out.size != self.n * width:
            raise FeatureError(
                f"Feature {key!r}: expected {width} value(s) per row, got {out.size} values "
                f"for {self.n} rows."
            )
        out = out.reshape(self.n, width)
        check_float32(out, key)
        self._floats[(key, width)] = out
        return out

    def integers(
        self, key: str, needed_by: str
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """Integer values of a feature (flattened for lists), a validity mask and list offsets
        (None for one value per row). Missing values are -1 and invalid."""
        raw = self.get(key, needed_by)
        offsets = None
        if isinstance(raw, np.ndarray) and raw.dtype.kind in "iu":
            values = raw.astype(np.int64, copy=False).reshape(-1)
            return values, np.ones(len(values), dtype=bool), None
        arr = to_arrow(raw, key)
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            offsets = np.asarray(arr.offsets, dtype=np.int64)
            offsets = offsets - offsets[0]
            arr = arr.flatten()
        if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
            arr = parse_numbers(arr, key)
        floats = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)
        valid = ~np.isnan(floats)
        if np.any(valid & (floats != np.round(floats))):
            bad = floats[valid & (floats != np.round(floats))][0]
            raise FeatureError(f"Feature {key!r}: expected an integer id, got {bad!r}.")
        return np.where(valid, floats, -1).astype(np.int64), valid, offsets

    def list_lengths(self, key: str, needed_by: str) -> np.ndarray | None:
        """Values per row of a list-valued feature; None for one value per row."""
        values = self.get(key, needed_by)
        if isinstance(values, np.ndarray):
            return None
        arr = to_arrow(values, key)
        if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
            return np.diff(np.asarray(arr.offsets, dtype=np.int64))
        return None


def layout(
    flat_ids: np.ndarray,
    valid: np.ndarray,
    offsets: np.ndarray | None,
    n: int,
    flat_weights: np.ndarray | None = None,
) -> Ids:
    """Place per-value ids into ``[n, L]`` (L = 1, or the longest list in the batch)."""
    weights = valid.astype(np.float32) if flat_weights is None else np.where(valid, flat_weights, 0)
    ids = np.where(valid, flat_ids, 0).astype(np.int64, copy=False)
    if offsets is None:
        return Ids(ids.reshape(n, 1), weights.astype(np.float32, copy=False).reshape(n, 1))
    lengths = np.diff(offsets)
    width = max(int(lengths.max(initial=0)), 1)
    rows = np.repeat(np.arange(n), lengths)
    slots = np.arange(len(flat_ids)) - np.repeat(offsets[:-1], lengths)
    out_ids = np.zeros((n, width), dtype=np.int64)
    out_weights = np.zeros((n, width), dtype=np.float32)
    out_ids[rows, slots] = ids
    out_weights[rows, slots] = weights
    return Ids(out_ids, out_weights)


def lookup(s: Strings, per_entry: np.ndarray, n: int) -> Ids:
    """:func:`layout` of a string feature's ids, from per-dictionary-entry ids (-1: no id)."""
    if s.offsets is not None:
        flat = s.gather(per_entry, -1)
        return layout(flat, flat >= 0, s.offsets, n)
    # One value per row: gather ids and weights straight from per-entry tables.
    valid = per_entry >= 0
    ids = s.gather(np.where(valid, per_entry, 0).astype(np.int64, copy=False), 0)
    weights = s.gather(valid.astype(np.float32), 0.0)
    return Ids(ids.reshape(n, 1), weights.reshape(n, 1))


def combine(ids: Ids, combiner: str) -> Ids:
    """Scale weights per row so a weighted sum implements TF's combiner."""
    if combiner == "sum":
        return ids
    if ids.weights.shape[1] == 1:  # one id per row: w / w, or w / |w|
        scaled = ids.weights > 0 if combiner == "mean" else np.sign(ids.weights)
        return Ids(ids.ids, scaled.astype(np.float32))
    # In float64: the inverse of a tiny (subnormal) float32 weight overflows float32.
    weights = ids.weights.astype(np.float64)
    if combiner == "mean":
        norm = weights.sum(axis=1, keepdims=True)
    else:  # sqrtn
        norm = np.sqrt((weights**2).sum(axis=1, keepdims=True))
    scale = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
    return Ids(ids.ids, (weights * scale).astype(np.float32))


__all__ = [
    "FeatureBatch",
    "Ids",
    "IdsOf",
    "RawBatch",
    "as_feature_dict",
    "combine",
    "count_rows",
    "layout",
    "lookup",
]
