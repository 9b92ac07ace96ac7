"""RowEncoder: a few instances (a serving request) to model inputs, in plain Python.

Scope: up to :data:`~mlengine.tuning.ROW_PATH_ROWS` instances of a model whose every column
has a row encoding (its home's ``row_ids`` / ``row_dense``; weighted categorical columns,
multi-valued numerics and integer-keyed hash buckets have none), each value plain: a string
for a string feature, an int or a float for a number, one value per row.

:meth:`FeatureTransformer.transform` costs a handful of numpy and pyarrow calls per column,
each a microsecond or more, however few rows it gets; a serving request usually carries one
instance. The RowEncoder compiles a model's columns, once, into small Python functions over
lists of values and fills :class:`RowFeatures`: the transformer's exact layout, except that the
embedding lookups (one id per row) come stacked in one array rather than one array per column.
For a single row, each categorical column's ids are remembered by the raw values they come
from, in the model's :class:`~mlengine.feature_column.memory.ValueMemory`: a server sees the
same categories again and again.

Fallback: anything out of scope makes :meth:`RowEncoder.encode` return None, and the caller
takes the vectorised reference, which gives the same result or the error that names the
problem. Property tests check that both agree value for value.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mlengine.feature_column.columns import CategoricalColumn, NumericColumn
from mlengine.feature_column.memory import ValueMemory, entry_bytes
from mlengine.feature_column.rowpath import Row, RowFallback, RowIds, RowValues
from mlengine.feature_column.transform import EncodedFeatures, FeatureTransformer


class RowFeatures(NamedTuple):
    """One transformer's inputs for a few rows, as :class:`EncodedFeatures` but with every
    embedding column's lookup (one id per row) stacked: ``[n, columns]``."""

    sparse_ids: np.ndarray
    sparse_weights: np.ndarray
    dense: np.ndarray
    embedding_ids: np.ndarray
    embedding_weights: np.ndarray

    def encoded(self) -> EncodedFeatures:
        """The same inputs in the vectorised transform's layout (an ``[n, 1]`` array per
        embedding column)."""
        return EncodedFeatures(
            self.sparse_ids,
            self.sparse_weights,
            self.dense,
            tuple(np.ascontiguousarray(self.embedding_ids[:, [i]]) for i in range(self.width)),
            tuple(np.ascontiguousarray(self.embedding_weights[:, [i]]) for i in range(self.width)),
        )

    @property
    def width(self) -> int:
        """The number of embedding columns."""
        return int(self.embedding_ids.shape[1])


class _Compiled:
    """Each categorical column's row function and each numeric column's value function, by
    slot, so that a column used several times is computed once per call (a
    :class:`~mlengine.feature_column.rowpath.RowCompiler`)."""

    def __init__(self, memory: ValueMemory) -> None:
        self.memory = memory
        self.slots: dict[CategoricalColumn, int] = {}
        self.functions: list[Callable[[RowValues], RowIds]] = []
        self.raw_keys: list[tuple[str, ...]] = []  # by slot: the features its ids depend on
        self.memos: list[dict[Any, RowIds]] = []  # by slot: one row's ids by its raw values
        self.number_slots: dict[NumericColumn, int] = {}
        self.number_functions: list[Callable[[RowValues], list[float]]] = []

    def number_slot(self, column: NumericColumn) -> int:
        found = self.number_slots.get(column)
        if found is None:
            found = self.number_slots[column] = len(self.number_functions)
            self.number_functions.append(column.row_values())
        return found

    def numbers(self, rows: RowValues, slot: int) -> list[float]:
        found = rows.numbers[slot]
        if found is None:
            found = rows.numbers[slot] = self.number_functions[slot](rows)
        return found

    def slot(self, column: CategoricalColumn) -> int:
        found = self.slots.get(column)
        if found is None:
            function = column.row_ids(self)
            if function is None:
                raise RowFallback  # a column without a row encoding: always vectorised
            found = self.slots[column] = len(self.functions)
            self.functions.append(function)
            self.raw_keys.append(column.raw_keys)
            self.memos.append(self.memory.memo())
        return found

    def ids(self, rows: RowValues, slot: int) -> RowIds:
        found = rows.ids[slot]
        if found is None:
            if rows.n == 1:
                found = self._remembered(rows, slot)
            else:
                found = self.functions[slot](rows)
            rows.ids[slot] = found
        return found

    def _remembered(self, rows: RowValues, slot: int) -> RowIds:
        """One row's ids, remembered by the raw values they come from (the lists are shared
        between calls: read-only)."""
        keys = self.raw_keys[slot]
        key = rows.token(keys[0]) if len(keys) == 1 else tuple(map(rows.token, keys))
        memo = self.memos[slot]
        try:
            found = memo.get(key)
        except TypeError:  # unhashable (a list): computed, and the function decides
            return self.functions[slot](rows)
        if found is None:
            found = self.functions[slot](rows)
            if self.memory.charge(entry_bytes(key)):
                memo[key] = found
        return found


class _Layout:
    """Where one transformer's columns go in :class:`RowFeatures`."""

    def __init__(self, transformer: FeatureTransformer, compiled: _Compiled):
        self.sparse = [compiled.slot(c) for c in transformer.sparse_columns]
        self.sparse_offsets = np.asarray(transformer.sparse_offsets, dtype=np.int64)
        self.values: list[tuple[int, int]] = []  # (number slot, position)
        self.multi_hot: list[tuple[int, int]] = []  # (ids slot, start)
        start = 0
        for column in transformer.dense_columns:
            found = column.row_dense(compiled)
            if found is None:
                raise RowFallback
            kind, slot = found
            (self.values if kind == "values" else self.multi_hot).append((slot, start))
            start += column.width
        self.dense_width = start
        self.embedding = [
            compiled.slot(c.categorical_column) for c in transformer.embedding_columns
        ]


class RowEncoder:
    """Encodes a few rows (dicts of raw feature values) for several transformers at once.

    Example:
        >>> from mlengine import feature_column as fc
        >>> t = fc.FeatureTransformer([fc.numeric_column("age"),
        ...     fc.categorical_column_with_vocabulary_list("g", ["f", "m"])])
        >>> (out,) = RowEncoder([t]).encode([{"age": 30, "g": " m"}])
        >>> out.dense.tolist(), out.sparse_ids.tolist()
        ([[30.0]], [[1]])
    """

    def __init__(
        self,
        transformers: Sequence[FeatureTransformer | None],
        memory: ValueMemory | None = None,
    ):
        self._compiled = _Compiled(ValueMemory() if memory is None else memory)
        try:
            self._layouts: list[_Layout | None] | None = [
                None if t is None else _Layout(t, self._compiled) for t in transformers
            ]
        except RowFallback:
            self._layouts = None  # a column this encoder does not cover: always vectorised

    @property
    def supported(self) -> bool:
        """Whether every column of the transformers is covered (else encode returns None)."""
        return self._layouts is not None

    def encode(self, rows: Sequence[Row]) -> list[RowFeatures | None] | None:
        """One :class:`RowFeatures` per transformer (None for None), equal to
        ``transform_all``'s; None when the rows need the vectorised path."""
        return self._encode(self._values(rows, None, len(rows)))

    def encode_columns(
        self, columns: Mapping[str, list[Any]], num_rows: int
    ) -> list[RowFeatures | None] | None:
        """As :meth:`encode`, from columns: ``num_rows`` values per feature, in lists (a
        feature absent from ``columns`` is missing in every row)."""
        empty: list[Row] = [{}] * num_rows
        return self._encode(self._values(empty, columns, num_rows))

    def _values(self, rows: Sequence[Row], columns: Mapping[str, Any] | None, n: int) -> RowValues:
        compiled = self._compiled
        return RowValues(rows, columns, n, len(compiled.functions), len(compiled.number_functions))

    def _encode(self, state: RowValues) -> list[RowFeatures | None] | None:
        if self._layouts is None or not state.n:
            return None
        try:
            return [
                None if layout is None else self._fill(layout, state) for layout in self._layouts
            ]
        except (RowFallback, UnicodeEncodeError):  # lone surrogates: the vectorised path refuses
            return None

    def _fill(self, layout: _Layout, rows: RowValues) -> RowFeatures:
        n, ids_of = rows.n, self._compiled.ids
        sparse = [ids_of(rows, slot) for slot in layout.sparse]
        dense = [[0.0] * layout.dense_width for _ in range(n)]
        for slot, position in layout.values:
            for row, value in zip(dense, self._compiled.numbers(rows, slot), strict=True):
                row[position] = value
        for slot, start in layout.multi_hot:
            ids, weights = ids_of(rows, slot)
            for row, i, w in zip(dense, ids, weights, strict=True):
                row[start + i] = w
        embedded = [ids_of(rows, slot) for slot in layout.embedding]
        return RowFeatures(
            _row_major([ids for ids, _ in sparse], n, np.int64) + layout.sparse_offsets,
            _row_major([weights for _, weights in sparse], n, np.float32),
            np.array(dense, dtype=np.float32).reshape(n, layout.dense_width),
            _row_major([ids for ids, _ in embedded], n, np.int64),
            _row_major([weights for _, weights in embedded], n, np.float32),
        )


def _row_major(columns: list[list[Any]], n: int, dtype: type) -> np.ndarray:
    """``[n, len(columns)]`` from per-column lists (one numpy call for a single row)."""
    if n == 1:
        return np.array([column[0] for column in columns], dtype=dtype).reshape(1, len(columns))
    return np.array(columns, dtype=dtype).reshape(len(columns), n).T.copy()
