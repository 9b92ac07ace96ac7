"""RowEncoder: a few instances (a serving request) to model inputs, in plain Python.

:meth:`FeatureTransformer.transform` costs about a quarter of a millisecond however few rows it
gets: a handful of numpy and pyarrow calls per column, each a microsecond or more of overhead.
A serving request usually carries one instance. The RowEncoder compiles a model's columns, once,
into small Python functions over lists of values (dictionary lookups, bisections, the same stable
hashes) and fills :class:`RowFeatures`: the transformer's exact layout, except that the
embedding lookups (one id per row) come stacked in one array rather than one array per column.
For a single row, each categorical column's ids are remembered by the raw values they come from
(up to :data:`MEMO_SIZE` values per column): a server sees the same categories again and again.

It covers the plain case: a string for a string feature, an int or a float for a number, one
value per row, every column type except weighted categorical columns, multi-valued numerics and
integer-keyed hash buckets. Anything else (lists, bytes, a missing number without a default, an
id out of range) makes :meth:`RowEncoder.encode` return None, and the caller takes the vectorised
path, which gives the same result or the error that names the problem. A property test checks
that both paths agree value for value.
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Callable, Mapping, Sequence
from typing import Any, NamedTuple

import numpy as np

from mlengine.feature_column.columns import (
    STRING,
    BucketizedColumn,
    CategoricalColumn,
    CrossedColumn,
    HashBucketColumn,
    IdentityColumn,
    Log1p,
    MinMax,
    NumericColumn,
    VocabularyColumn,
    ZScore,
)
from mlengine.feature_column.hashing import cross_hash_one, hash_string
from mlengine.feature_column.transform import EncodedFeatures, FeatureTransformer

Row = Mapping[str, Any]
_Ids = tuple[list[int], list[float]]  # per row: one id, and its weight (0.0: no value)
_LARGEST_EXACT_INT = 2**53  # larger ints are not all floats: the vectorised path decides
MEMO_SIZE = 4096  # single-row ids remembered per column (then new values are computed each time)


def _integer(value: Any) -> int | None:
    """An integer feature value; None when missing (None, NaN or -1, as the vectorised path)."""
    if value is None or (type(value) is float and value != value):
        return None
    if type(value) is not int or not -_LARGEST_EXACT_INT <= value <= _LARGEST_EXACT_INT:
        raise _Fallback  # floats, strings, booleans, huge ints: the vectorised path decides
    return None if value == -1 else value


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


class _Fallback(Exception):
    """These rows need the vectorised path: unusual values, or an error to report."""


class _Rows:
    """One call's values, by feature, read once from rows (dicts) or columns (lists)."""

    __slots__ = ("rows", "n", "ids", "numbers", "_values", "_strings", "_tokens")

    def __init__(
        self, rows: Sequence[Row], columns: Mapping[str, Any] | None, n: int, compiled: _Compiled
    ):
        self.rows = rows
        self.n = n
        self.ids: list[_Ids | None] = [None] * len(compiled.functions)
        self.numbers: list[list[float] | None] = [None] * len(compiled.number_functions)
        self._values: dict[str, list[Any]] = {} if columns is None else dict(columns)
        self._strings: dict[str, list[str | None]] = {}
        self._tokens: dict[str, Any] = {}

    def token(self, key: str) -> Any:
        """The first row's value of ``key`` as a memo key: a string itself, anything else with
        its type (2 and 2.0 are different inputs, though equal)."""
        found = self._tokens.get(key)
        if found is None:
            value = self.values(key)[0]
            found = self._tokens[key] = value if type(value) is str else (type(value), value)
        return found

    def values(self, key: str) -> list[Any]:
        found = self._values.get(key)
        if found is None:
            found = self._values[key] = [row.get(key) for row in self.rows]
        elif type(found) is not list or len(found) != self.n:
            raise _Fallback  # arrays, or columns of unequal length: the vectorised path checks
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
                    raise _Fallback  # numbers for a string feature: the vectorised path converts
            self._strings[key] = found
        return found


def _numbers(column: NumericColumn) -> Callable[[_Rows], list[float]]:
    """The column's normalised values as float64, as ``_numeric_values`` computes them."""
    key = column.key
    default = None if column.default_value is None else float(column.default_value[0])
    norm = column.normalizer

    def numbers(rows: _Rows) -> list[float]:
        out: list[float] = []
        for value in rows.values(key):
            kind = type(value)
            if kind is float:
                if value != value:  # NaN: a missing value
                    value = default
            elif kind is int:
                if not -_LARGEST_EXACT_INT <= value <= _LARGEST_EXACT_INT:
                    raise _Fallback
                value = float(value)
            elif value is None:
                value = default
            else:
                raise _Fallback  # strings, booleans, lists...
            if value is None:
                raise _Fallback  # missing and no default: the vectorised path says so
            out.append(value)
        if isinstance(norm, ZScore):
            return [(v - norm.mean) / norm.std for v in out]
        if isinstance(norm, MinMax):
            return [(v - norm.min) / (norm.max - norm.min) for v in out]
        if isinstance(norm, Log1p):  # numpy's log1p, not math's: the same last bit
            values = np.array(out)
            return (np.sign(values) * np.log1p(np.abs(values))).tolist()
        return out

    return numbers


class _Compiled:
    """Each categorical column's id function and each numeric column's value function, by
    slot, so that a column used several times is computed once per call; and, for single rows,
    each categorical column's ids remembered by the raw values they come from."""

    def __init__(self) -> None:
        self.slots: dict[CategoricalColumn, int] = {}
        self.functions: list[Callable[[_Rows], _Ids]] = []
        self.raw_keys: list[tuple[str, ...]] = []  # by slot: the features its ids depend on
        self.memos: list[dict[Any, _Ids]] = []  # by slot: one row's ids by its raw values
        self.number_slots: dict[NumericColumn, int] = {}
        self.number_functions: list[Callable[[_Rows], list[float]]] = []

    def number_slot(self, column: NumericColumn) -> int:
        found = self.number_slots.get(column)
        if found is None:
            found = self.number_slots[column] = len(self.number_functions)
            self.number_functions.append(_numbers(column))
        return found

    def numbers(self, rows: _Rows, slot: int) -> list[float]:
        found = rows.numbers[slot]
        if found is None:
            found = rows.numbers[slot] = self.number_functions[slot](rows)
        return found

    def slot(self, column: CategoricalColumn) -> int:
        found = self.slots.get(column)
        if found is None:
            function = self._compile(column)
            found = self.slots[column] = len(self.functions)
            self.functions.append(function)
            self.raw_keys.append(_raw_keys(column))
            self.memos.append({})
        return found

    def ids(self, rows: _Rows, slot: int) -> _Ids:
        found = rows.ids[slot]
        if found is None:
            if rows.n == 1:
                found = self._remembered(rows, slot)
            else:
                found = self.functions[slot](rows)
            rows.ids[slot] = found
        return found

    def _remembered(self, rows: _Rows, slot: int) -> _Ids:
        """One row's ids, remembered by the raw values they come from, since a server sees the
        same categories again and again (the lists are shared between calls: read-only)."""
        keys = self.raw_keys[slot]
        if len(keys) == 1:
            key: Any = rows.token(keys[0])
        else:
            key = tuple(map(rows.token, keys))
        memo = self.memos[slot]
        try:
            found = memo.get(key)
        except TypeError:  # unhashable (a list): computed, and the function decides
            return self.functions[slot](rows)
        if found is None:
            found = self.functions[slot](rows)
            if len(memo) < MEMO_SIZE:
                memo[key] = found
        return found

    def _compile(self, column: CategoricalColumn) -> Callable[[_Rows], _Ids]:
        if isinstance(column, VocabularyColumn):
            return _vocabulary(column)
        if isinstance(column, HashBucketColumn) and column.dtype == STRING:
            return _hash_bucket(column)
        if isinstance(column, IdentityColumn):
            return _identity(column)
        if isinstance(column, BucketizedColumn) and column.source_column.width == 1:
            return self._bucketized(column)
        if isinstance(column, CrossedColumn):
            return self._crossed(column)
        raise _Fallback

    def _bucketized(self, column: BucketizedColumn) -> Callable[[_Rows], _Ids]:
        slot = self.number_slot(column.source_column)
        boundaries = [float(b) for b in column.boundaries]

        def bucketized(rows: _Rows) -> _Ids:
            # The vectorised path bucketizes float32 values (as the dense features hold them).
            values = _float32(self.numbers(rows, slot))
            if rows.n == 1:
                return [bisect.bisect_right(boundaries, values[0])], [1.0]
            return [bisect.bisect_right(boundaries, v) for v in values], [1.0] * rows.n

        return bucketized

    def _crossed(self, column: CrossedColumn) -> Callable[[_Rows], _Ids]:
        parts: list[str | int] = [
            item if isinstance(item, str) else self.slot(item) for item in column.keys
        ]
        hash_key, size = column.hash_key, column.hash_bucket_size

        def crossed(rows: _Rows) -> _Ids:
            if rows.n == 1:
                return crossed_one(rows)
            keys_per_part: list[list[int | None]] = []
            for part in parts:
                if isinstance(part, str):
                    keys_per_part.append(
                        [None if s is None else hash_string(s) for s in rows.strings(part)]
                    )
                else:
                    ids, weights = self.ids(rows, part)
                    keys_per_part.append(
                        [i if w > 0 else None for i, w in zip(ids, weights, strict=True)]
                    )
            out_ids: list[int] = []
            out_weights: list[float] = []
            for keys in zip(*keys_per_part, strict=True):
                if None in keys:
                    out_ids.append(0)
                    out_weights.append(0.0)
                else:
                    out_ids.append(cross_hash_one(keys, hash_key) % size)
                    out_weights.append(1.0)
            return out_ids, out_weights

        def crossed_one(rows: _Rows) -> _Ids:
            """``crossed`` for one row (every part read, as there, so errors are the same)."""
            keys: list[int | None] = []
            for part in parts:
                if isinstance(part, str):
                    value = rows.strings(part)[0]
                    keys.append(None if value is None else hash_string(value))
                else:
                    ids, weights = self.ids(rows, part)
                    keys.append(ids[0] if weights[0] > 0 else None)
            if None in keys:
                return [0], [0.0]
            return [cross_hash_one(tuple(keys), hash_key) % size], [1.0]

        return crossed


def _raw_keys(column: CategoricalColumn) -> tuple[str, ...]:
    """The features a categorical column's ids are computed from."""
    if isinstance(column, BucketizedColumn):
        return (column.source_column.key,)
    if isinstance(column, CrossedColumn):
        return tuple(
            key
            for item in column.keys
            for key in ((item,) if isinstance(item, str) else _raw_keys(item))
        )
    if isinstance(column, VocabularyColumn | HashBucketColumn | IdentityColumn):
        return (column.key,)
    raise _Fallback  # not compiled either (see _Compiled._compile)


def _vocabulary(column: VocabularyColumn) -> Callable[[_Rows], _Ids]:
    key, index = column.key, column.vocabulary_index
    size, oov, default = len(column.vocabulary), column.num_oov_buckets, column.default_value
    is_string = column.dtype == STRING

    def one(value: Any) -> int | None:
        found = index.get(value)
        if found is not None:
            return found
        if oov:
            return size + hash_string(value if is_string else str(value)) % oov
        return default if default >= 0 else None

    def vocabulary(rows: _Rows) -> _Ids:
        if is_string:
            values: list[Any] = rows.strings(key)
        else:
            values = [_integer(value) for value in rows.values(key)]
        return _with_weights([None if value is None else one(value) for value in values])

    return vocabulary


def _hash_bucket(column: HashBucketColumn) -> Callable[[_Rows], _Ids]:
    key, size = column.key, column.hash_bucket_size

    def hash_bucket(rows: _Rows) -> _Ids:
        return _with_weights(
            [None if s is None else hash_string(s) % size for s in rows.strings(key)]
        )

    return hash_bucket


def _identity(column: IdentityColumn) -> Callable[[_Rows], _Ids]:
    key, size, default, wrap = column.key, column.num_buckets, column.default_value, column.wrap

    def identity(rows: _Rows) -> _Ids:
        ids: list[int | None] = []
        for raw in rows.values(key):
            value = _integer(raw)
            if wrap and raw == -1:
                ids.append(size - 1)  # -1 wraps like any other id
            elif value is None:
                ids.append(None)
            elif wrap:
                ids.append(value % size)
            elif 0 <= value < size:
                ids.append(value)
            elif default is not None:
                ids.append(default)
            elif value >= size:
                raise _Fallback  # an error: the vectorised path names the feature and row
            else:
                ids.append(None)
        return _with_weights(ids)

    return identity


_FLOAT32 = struct.Struct("f")


def _float32(values: list[float]) -> list[float]:
    """Each value rounded to float32 (to nearest, as numpy's cast), as a Python float."""
    try:
        return [_FLOAT32.unpack(_FLOAT32.pack(v))[0] for v in values]
    except OverflowError:  # beyond float32's range: numpy's cast gives infinity
        return np.array(values, dtype=np.float32).tolist()


def _with_weights(ids: list[int | None]) -> _Ids:
    if len(ids) == 1:  # one row, the usual request: no list comprehensions
        return ([0], [0.0]) if ids[0] is None else ([ids[0]], [1.0])
    return [0 if i is None else i for i in ids], [0.0 if i is None else 1.0 for i in ids]


class _Layout:
    """Where one transformer's columns go in :class:`RowFeatures`."""

    def __init__(self, transformer: FeatureTransformer, compiled: _Compiled):
        if any(c.width != 1 for c in transformer.numeric_columns):
            raise _Fallback
        self.sparse = [compiled.slot(c) for c in transformer.sparse_columns]
        self.sparse_offsets = np.asarray(transformer.sparse_offsets, dtype=np.int64)
        self.numeric = [compiled.number_slot(c) for c in transformer.numeric_columns]
        start = len(self.numeric)
        self.indicator: list[tuple[int, int]] = []
        for column in transformer.indicator_columns:
            self.indicator.append((compiled.slot(column.categorical_column), start))
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

    def __init__(self, transformers: Sequence[FeatureTransformer | None]):
        self._compiled = _Compiled()
        try:
            self._layouts: list[_Layout | None] | None = [
                None if t is None else _Layout(t, self._compiled) for t in transformers
            ]
        except _Fallback:
            self._layouts = None  # a column this encoder does not cover: always vectorised

    @property
    def supported(self) -> bool:
        """Whether every column of the transformers is covered (else encode returns None)."""
        return self._layouts is not None

    def encode(self, rows: Sequence[Row]) -> list[RowFeatures | None] | None:
        """One :class:`RowFeatures` per transformer (None for None), equal to
        ``transform_all``'s; None when the rows need the vectorised path."""
        return self._encode(_Rows(rows, None, len(rows), self._compiled))

    def encode_columns(
        self, columns: Mapping[str, list[Any]], num_rows: int
    ) -> list[RowFeatures | None] | None:
        """As :meth:`encode`, from columns: ``num_rows`` values per feature, in lists (a
        feature absent from ``columns`` is missing in every row)."""
        empty: list[Row] = [{}] * num_rows
        return self._encode(_Rows(empty, columns, num_rows, self._compiled))

    def _encode(self, state: _Rows) -> list[RowFeatures | None] | None:
        if self._layouts is None or not state.n:
            return None
        try:
            return [
                None if layout is None else self._fill(layout, state) for layout in self._layouts
            ]
        except (_Fallback, UnicodeEncodeError):  # lone surrogates: the vectorised path refuses
            return None

    def _fill(self, layout: _Layout, rows: _Rows) -> RowFeatures:
        n, ids_of = rows.n, self._compiled.ids
        sparse = [ids_of(rows, slot) for slot in layout.sparse]
        dense = [[0.0] * layout.dense_width for _ in range(n)]
        for position, slot in enumerate(layout.numeric):
            for row, value in zip(dense, self._compiled.numbers(rows, slot), strict=True):
                row[position] = value
        for slot, start in layout.indicator:
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
