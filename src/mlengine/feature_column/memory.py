"""What a predicting process remembers about string values: one memory, one bound, one policy.

A server sees the same few values again and again (a census feature has tens). Whatever
depends only on a value is computed once and remembered in a :class:`ValueMemory` (one per
model), which every layer shares:

* the request decoder (:mod:`mlengine.serving.schema`) names the values it may decode without
  making a string: the :attr:`StringTable.raw_values` of each string input;
* the transform's small-batch path (:mod:`mlengine.feature_column.small_batch`) codes each
  value by its :class:`StringTable` (codes in order of first sight, so batches share them) and
  keeps per-code results (vocabulary ids, hashes) and cross tables over codes;
* the row path (:mod:`mlengine.feature_column.row_encoder`) keeps one row's ids per column by
  the raw values they come from (:meth:`ValueMemory.memo`);
* the hashes of values the row path hashes (:meth:`ValueMemory.hash_string`), and the buckets
  of the combinations it crosses.

**Bound**: :data:`~mlengine.tuning.VALUE_MEMORY_BYTES` for all of it, counted as each entry's
string length plus :data:`ENTRY_BYTES` of bookkeeping (its objects, dict slots and per-code
results), and each cross table's size. **Policy**: nothing is ever evicted; once the budget is
spent nothing new is remembered, and values not remembered are computed each time (the same
results, more slowly). Codes therefore never change meaning, so arrays computed for the first
``size`` codes stay right for them. Tables learn under a lock: batches may be transformed on
several threads at once.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

from mlengine import tuning
from mlengine.feature_column.hashing import hash_string

ENTRY_BYTES = 128  # a remembered entry's bookkeeping beyond its string (objects, dict slots)
_UNSEEN = -2  # the code lookup's answer for a value the table has not seen


class ValueMemory:
    """Everything remembered about one model's string values (see the module docstring)."""

    def __init__(self, max_bytes: int = tuning.VALUE_MEMORY_BYTES) -> None:
        self.max_bytes = max_bytes
        self.used_bytes = 0
        self._tables: dict[str, StringTable] = {}
        self._crosses: dict[Hashable, tuple[Hashable, np.ndarray]] = {}
        self._memos: list[dict[Any, Any]] = []
        self._hashes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._budget_lock = threading.Lock()

    @property
    def full(self) -> bool:
        """Whether the budget is spent (nothing new is remembered from now on)."""
        return self.used_bytes >= self.max_bytes

    def charge(self, nbytes: int) -> bool:
        """Take ``nbytes`` from the budget; False (and nothing taken) when it is spent."""
        with self._budget_lock:
            if self.used_bytes + nbytes > self.max_bytes:
                self.used_bytes = self.max_bytes  # full: later, smaller entries are refused too
                return False
            self.used_bytes += nbytes
            return True

    def table(self, key: str) -> StringTable:
        """The string feature ``key``'s table of values and codes."""
        found = self._tables.get(key)
        if found is None:
            with self._lock:
                found = self._tables.setdefault(key, StringTable(self))
        return found

    def cross_table(
        self, column: Hashable, sizes: tuple[int, ...], compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """``compute()``: a cross's bucket for every combination of its parts' codes (sizes as
        given), remembered until a part's table grows."""
        found = self._crosses.get(column)
        if found is not None and found[0] == sizes:
            return found[1]
        value = compute()
        previous = 0 if found is None else found[1].nbytes
        if self.charge(max(value.nbytes - previous, 0)):
            self._crosses[column] = (sizes, value)
        return value

    def hash_string(self, value: str) -> int:
        """:func:`~mlengine.feature_column.hashing.hash_string` of a stripped value,
        remembered while the budget lasts."""
        found = self._hashes.get(value)
        if found is None:
            found = hash_string(value)
            if self.charge(len(value) + ENTRY_BYTES):
                self._hashes[value] = found
        return found

    def memo(self) -> dict[Any, Any]:
        """A new memo of results by raw values (the row path keeps one per column), whose
        entries are added only when :meth:`charge` with :func:`entry_bytes` allows."""
        memo: dict[Any, Any] = {}
        self._memos.append(memo)
        return memo


def entry_bytes(key: Any) -> int:
    """What remembering one entry under ``key`` (a value, or a tuple of them) costs."""
    if type(key) is str:
        return len(key) + ENTRY_BYTES
    if type(key) is tuple:
        return sum(len(k) if type(k) is str else 16 for k in key) + ENTRY_BYTES
    return ENTRY_BYTES


class StringTable:
    """One string feature's values, coded in order of first sight (None is -1, no value)."""

    def __init__(self, memory: ValueMemory) -> None:
        self.memory = memory
        self.values: list[str] = []  # the stripped value of each code
        self.raw_values: list[str] = []  # the raw value each code was learned from (first seen)
        self._code_of: dict[Any, int] = {None: -1}  # raw value (unstripped) -> code
        self._derived: dict[Hashable, tuple[int, np.ndarray]] = {}
        self._lock = threading.Lock()

    def encode(self, items: list[Any]) -> tuple[np.ndarray, tuple[str, ...]] | None:
        """Each item's code, and the stripped values of all codes so far; None when an item is
        not a string (the general path decides what it means) or cannot be remembered."""
        codes = self._codes(items)
        if codes is None:
            return None
        if codes.size and codes.min() == _UNSEEN:
            if not self.learn(items):
                return None
            codes = self._codes(items)
            assert codes is not None
        return codes, tuple(self.values)  # after the codes: every code is below its length

    def learn(self, items: list[Any]) -> bool:
        """Give every string of ``items`` a code; False when one is not a string or the
        memory's budget is spent before all have one (those learned keep theirs)."""
        with self._lock:
            for value in dict.fromkeys(items):
                if value in self._code_of:
                    continue
                if type(value) is not str or not self.memory.charge(len(value) + ENTRY_BYTES):
                    return False
                self._code_of[value] = len(self.values)
                self.values.append(value.strip())
                self.raw_values.append(value)
        return True

    def derived(self, key: Hashable, size: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()``, an array over the first ``size`` codes, remembered under ``key``
        until the table grows (its bytes are part of each value's ENTRY_BYTES)."""
        found = self._derived.get(key)
        if found is not None and found[0] == size:
            return found[1]
        value = compute()
        self._derived[key] = (size, value)
        return value

    def _codes(self, items: list[Any]) -> np.ndarray | None:
        try:
            looked_up = map(self._code_of.get, items, itertools.repeat(_UNSEEN))
            return np.fromiter(looked_up, dtype=np.int64, count=len(items))
        except TypeError:  # an unhashable value (a list: several values in a row)
            return None


TransformMemory = ValueMemory  # the name before one memory served every layer

__all__ = ["ENTRY_BYTES", "StringTable", "TransformMemory", "ValueMemory"]
