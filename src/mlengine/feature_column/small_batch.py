"""The fast path for few values: Python dicts instead of pyarrow calls.

Scope: a batch of at most :data:`~mlengine.tuning.SMALL_BATCH_ROWS` rows given as Python lists
(serving requests, and the server's merged batches of them) with one value per row, and any
string feature with at most :data:`~mlengine.tuning.FEW_DISTINCT_STRINGS` distinct values. A
pyarrow or numpy call costs a microsecond or more whatever its size; for a few values, Python's
dicts cost less. With a predicting process's
:class:`~mlengine.feature_column.memory.StringTable`, a value's code, and what columns derive
from it, outlive the batch.

Entry points, all called by :class:`~mlengine.feature_column.encoding.FeatureBatch` only:
:func:`strings` and :func:`floats` before the reference decoding (which runs whenever they
return None), and :func:`few_distinct` after it. :class:`ListStrings` implements the reference
:class:`~mlengine.feature_column.decoding.Strings`' per-entry operations over a tuple of Python
strings; tests check that every column gives the same ids either way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from mlengine import tuning
from mlengine.feature_column.decoding import Strings
from mlengine.feature_column.hashing import hash_string

if TYPE_CHECKING:
    from mlengine.feature_column.memory import StringTable


class ListStrings(Strings):
    """:class:`~mlengine.feature_column.decoding.Strings` over a tuple of stripped Python
    strings: per-entry results computed value by value (and kept by a ``table``, if any)."""

    def __init__(
        self,
        codes: np.ndarray,
        dictionary: tuple[str, ...],
        offsets: np.ndarray | None,
        table: StringTable | None = None,
    ):
        super().__init__(codes, dictionary, offsets)
        self.table = table

    @property
    def remembered(self) -> bool:
        return self.table is not None

    def _derived(self, key: Hashable, compute: Callable[[], np.ndarray]) -> np.ndarray:
        if self.table is None:
            return compute()
        return self.table.derived(key, len(self.dictionary), compute)

    @property
    def empty(self) -> np.ndarray:
        values = self.dictionary
        return self._derived("empty", lambda: np.array([v == "" for v in values], dtype=bool))

    @property
    def hashes(self) -> np.ndarray:
        if self._hashes is None:
            values = self.dictionary
            self._hashes = self._derived(
                "hashes", lambda: np.array([hash_string(v) for v in values], dtype=np.uint64)
            )
        return self._hashes

    def per_entry(
        self,
        key: Hashable,
        one: Callable[[str], int],
        vectorised: Callable[[pa.Array], np.ndarray],
    ) -> np.ndarray:
        values = self.dictionary
        return self._derived(key, lambda: np.fromiter(map(one, values), np.int64, len(values)))


def few_distinct(decoded: Strings) -> Strings:
    """The reference decoding's result over a tuple dictionary when it has few entries (a
    census feature has tens), else as it is. A null entry means no value, as ``""``."""
    dictionary = decoded.dictionary
    if isinstance(dictionary, tuple) or len(dictionary) > tuning.FEW_DISTINCT_STRINGS:
        return decoded
    values = tuple(v or "" for v in dictionary.to_pylist())
    return ListStrings(decoded.codes, values, decoded.offsets)


def strings(values: Any, n: int, table: StringTable | None = None) -> Strings | None:
    """A few univalent string values as Strings; None when out of scope (see the module).

    Each distinct value is stripped and placed once; the per-value codes are then one C-level
    pass (``dict.fromkeys`` to find the distinct values, ``map`` over a dict to code them). With
    a ``table``, the codes are the table's (one lookup per value) and its values the dictionary.
    """
    if n > tuning.SMALL_BATCH_ROWS:
        return None
    if isinstance(values, pa.ChunkedArray | pa.Array):
        if not (pa.types.is_string(values.type) or pa.types.is_null(values.type)):
            return None
        items = values.to_pylist()
    elif isinstance(values, list):
        items = values
    else:
        return None
    if table is not None:
        encoded = table.encode(items)
        if encoded is not None:
            return ListStrings(encoded[0], encoded[1], None, table)
    try:
        distinct = dict.fromkeys(items)
    except TypeError:  # unhashable values (lists: a multivalent feature) take the general path
        return None
    positions: dict[str, int] = {}
    code_of: dict[Any, int] = {}
    for value in distinct:
        if value is None:
            code_of[value] = -1
        elif isinstance(value, str):
            code_of[value] = positions.setdefault(value.strip(), len(positions))
        else:
            return None  # numbers, bytes: the general path decides what they mean
    codes = np.fromiter(map(code_of.__getitem__, items), dtype=np.int64, count=len(items))
    return ListStrings(codes, tuple(positions), None)


_PLAIN_NUMBER_TYPES = frozenset({int, float, type(None)})


def floats(values: Any, n: int) -> np.ndarray | None:
    """A few univalent numbers (None for missing) as float64 without pyarrow compute calls;
    None when out of scope (strings, lists, bools, other types, more rows)."""
    if isinstance(values, np.ndarray) or n > tuning.SMALL_BATCH_ROWS:
        return None
    if isinstance(values, pa.Array):
        kind = values.type
        if not (pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_null(kind)):
            return None
        values = values.to_pylist()
    if not isinstance(values, list):
        return None
    kinds = set(map(type, values))
    if not kinds <= _PLAIN_NUMBER_TYPES:
        return None
    if type(None) in kinds:
        values = [math.nan if v is None else v for v in values]
    return np.array(values, dtype=np.float64)
