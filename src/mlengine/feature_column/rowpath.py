"""What column homes need to write their row encodings (the fast path for a few instances).

The row path (:mod:`mlengine.feature_column.row_encoder`) encodes a serving request's few
instances in plain Python. A column that takes part gives a function over :class:`RowValues`
(one call's values, by feature) returning per-row ids (:data:`RowIds`) or values; the function
raises :class:`RowFallback` for anything unusual (lists, bytes, a missing number without a
default, an id out of range), and the whole call then takes the vectorised reference, which
gives the same result or the error that names the problem.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

if TYPE_CHECKING:
    from mlengine.feature_column.memory import ValueMemory

Row = Mapping[str, Any]
RowIds = tuple[list[int], list[float]]
"""Per row: one id, and its weight (0.0: no value)."""
RowIdsFunction = Callable[["RowValues"], RowIds]
LARGEST_EXACT_INT = 2**53  # larger ints are not all floats: the vectorised path decides


class RowFallback(Exception):
    """These rows need the vectorised path: unusual values, or an error to report."""


class RowCompiler(Protocol):
    """How a column's row function reaches other columns' results in the same call, and the
    model's memory of values."""

    memory: ValueMemory

    def slot(self, column: Any) -> int:
        """A categorical column's slot (its row function compiled once)."""

    def ids(self, rows: RowValues, slot: int) -> RowIds:
        """That column's ids for these rows (computed once per call)."""

    def number_slot(self, column: Any) -> int:
        """A numeric column's slot."""

    def numbers(self, rows: RowValues, slot: int) -> list[float]:
        """That column's values for these rows (computed once per call)."""


class RowValues:
    """One call's values, by feature, read once from rows (dicts) or columns (lists)."""

    __slots__ = ("rows", "n", "ids", "numbers", "_values", "_strings", "_tokens")

    def __init__(
        self,
        rows: Sequence[Row],
        columns: Mapping[str, Any] | None,
        n: int,
        slots: int,
        number_slots: int,
    ):
        self.rows = rows
        self.n = n
        self.ids: list[RowIds | None] = [None] * slots
        self.numbers: list[list[float] | None] = [None] * number_slots
        self._values: dict[str, list[Any]] = {} if columns is None else dict(columns)
        self._strings: dict[str, list[str | None]] = {}
        self._tokens: dict[str, Any] = {}

    def token(self, key: str) -> Any:
        """The first row's value of ``key`` as a memory key: a string itself, anything else
        with its type (2 and 2.0 are different inputs, though equal)."""
        found = self._tokens.get(key)
        if found is None:
            value = self.values(key)[0]
            found = self._tokens[key] = value if type(value) is str else (type(value), value)
        return found

    def values(self, key: str) -> list[Any]:
        """The raw values of ``key``, one per row (None where absent)."""
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = [row.get(key) for row in self.rows]
        elif type(found) is not list or len(found) != self.n:
            raise RowFallback  # arrays, or columns of unequal length: the vectorised path checks
        return found

    def strings(self, key: str) -> list[str | None]:
        """Stripped string values; None for a null or blank value (both mean "no value")."""
        found = self._strings.get(key)
        if found is None:
            found = []
            for value in self.values(key):
                if type(value) is str:
                    found.append(value.strip() or None)
                elif value is None or (type(value) is float and value != value):
                    found.append(None)  # NaN: pandas' missing value, as the vectorised path
                else:
                    raise RowFallback  # numbers for a string feature: the vectorised path converts
            self._strings[key] = found
        return found

    def integers(self, key: str) -> list[int | None]:
        """Integer values; None when missing (None, NaN or -1, as the vectorised path)."""
        return [row_integer(value) for value in self.values(key)]


def row_integer(value: Any) -> int | None:
    """An integer feature value; None when missing (None, NaN or -1, as the vectorised path)."""
    if value is None or (type(value) is float and value != value):
        return None
    if type(value) is not int or not -LARGEST_EXACT_INT <= value <= LARGEST_EXACT_INT:
        raise RowFallback  # floats, strings, booleans, huge ints: the vectorised path decides
    return None if value == -1 else value


def with_weights(ids: list[int | None]) -> RowIds:
    """Per-row ids (None: no value) as ids and weights."""
    if len(ids) == 1:  # one row, the usual request: no list comprehensions
        return ([0], [0.0]) if ids[0] is None else ([ids[0]], [1.0])
    return [0 if i is None else i for i in ids], [0.0 if i is None else 1.0 for i in ids]


_FLOAT32 = struct.Struct("f")


def float32(values: list[float]) -> list[float]:
    """Each value rounded to float32 (to nearest, as numpy's cast), as a Python float."""
    try:
        return [_FLOAT32.unpack(_FLOAT32.pack(v))[0] for v in values]
    except OverflowError:  # beyond float32's range: numpy's cast gives infinity
        return np.array(values, dtype=np.float32).tolist()
