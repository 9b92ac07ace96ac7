"""What a predicting process remembers between batches of feature values.

A server transforms batch after batch of the same few string values (a census feature has tens).
Each batch dictionary-encodes its string features afresh, then looks up, hashes and crosses the
entries of its own dictionary, which differs from the last batch's. :class:`TransformMemory` keeps
one :class:`StringTable` per string feature instead: every value seen so far has a code, in order
of first sight, so batches share their codes, and whatever depends only on a value (its
vocabulary id, its hash, a cross of small columns over every combination) is computed once per
table size and gathered by code afterwards.

Tables are bounded (:data:`STRING_TABLE_SIZE` values each): a feature with more distinct values
than that goes back to per-batch encoding. They only grow, so a code, once given, keeps its
value, and an array computed for the first ``size`` codes stays right for them. Batches may be
transformed on several threads at once: tables learn new values under a lock.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

STRING_TABLE_SIZE = 4096  # values remembered per string feature
_UNSEEN = -2  # the code lookup's answer for a value the table has not seen


class StringTable:
    """One string feature's values, coded in order of first sight (None is -1, no value)."""

    def __init__(self, size: int = STRING_TABLE_SIZE) -> None:
        self.size = size
        self.values: list[str] = []  # the stripped value of each code
        self._code_of: dict[Any, int] = {None: -1}  # raw value (unstripped) -> code
        self._derived: dict[Hashable, tuple[Hashable, np.ndarray]] = {}
        self._lock = threading.Lock()
        self.full = False  # a batch held more new values than the table could take

    def encode(self, items: list[Any]) -> tuple[np.ndarray, tuple[str, ...]] | None:
        """Each item's code, and the stripped values of all codes so far; None when an item is
        not a string (the general path decides what it means) or the table is full."""
        if self.full:
            return None
        codes = self._codes(items)
        if codes is None:
            return None
        if codes.size and codes.min() == _UNSEEN:
            if not self._learn(items):
                return None
            codes = self._codes(items)
            assert codes is not None
        return codes, tuple(self.values)  # after the codes: every code is below its length

    def derived(self, key: Hashable, size: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()``, an array over the first ``size`` codes, remembered under ``key``
        until the table grows."""
        return _remember(self._derived, key, size, compute)

    def _codes(self, items: list[Any]) -> np.ndarray | None:
        try:
            looked_up = map(self._code_of.get, items, itertools.repeat(_UNSEEN))
            return np.fromiter(looked_up, dtype=np.int64, count=len(items))
        except TypeError:  # an unhashable value (a list: several values in a row)
            return None

    def _learn(self, items: list[Any]) -> bool:
        with self._lock:
            for value in dict.fromkeys(items):
                if value in self._code_of:
                    continue
                if type(value) is not str:
                    return False
                if len(self.values) >= self.size:
                    self.full = True
                    return False
                self._code_of[value] = len(self.values)
                self.values.append(value.strip())
        return True


class TransformMemory:
    """A :class:`StringTable` per string feature, and cross tables over their codes (see the
    module docstring). One per model: feature keys name its features."""

    def __init__(self, table_size: int = STRING_TABLE_SIZE) -> None:
        self.table_size = table_size
        self._tables: dict[str, StringTable] = {}
        self._crosses: dict[Hashable, tuple[Hashable, np.ndarray]] = {}

    def table(self, key: str) -> StringTable:
        found = self._tables.get(key)
        if found is None:
            found = self._tables.setdefault(key, StringTable(self.table_size))
        return found

    def cross_table(
        self, column: Hashable, sizes: tuple[int, ...], compute: Callable[[], np.ndarray]
    ) -> np.ndarray:
        """``compute()``: a cross's bucket for every combination of its parts' codes (sizes as
        given), remembered until a part's table grows."""
        return _remember(self._crosses, column, sizes, compute)


def _remember(
    cache: dict[Hashable, tuple[Hashable, np.ndarray]],
    key: Hashable,
    version: Hashable,
    compute: Callable[[], np.ndarray],
) -> np.ndarray:
    """``cache[key]`` if it was computed for this ``version`` (the tables' sizes), else
    ``compute()``, which replaces it."""
    found = cache.get(key)
    if found is not None and found[0] == version:
        return found[1]
    value = compute()
    cache[key] = (version, value)
    return value


__all__ = ["STRING_TABLE_SIZE", "StringTable", "TransformMemory"]
