"""FeatureTransformer: the one vectorised path from raw feature batches to model inputs.

Training, evaluation, the Predictor and the server all call :meth:`FeatureTransformer.transform`,
so preprocessing can never differ between them. The output (:class:`EncodedFeatures`) has three
parts, each a handful of numpy arrays, whatever the number of columns:

* ``sparse_ids`` / ``sparse_weights`` ``[n, S]``: every categorical column used directly (the
  linear, "wide" part), ids offset into one id space, with per-id weights that implement the
  ``sum`` / ``mean`` / ``sqrtn`` combiner (weight 0 marks a missing value);
* ``dense`` ``[n, D]``: numeric columns (normalised) then indicator columns (multi-hot);
* ``embedding_ids`` / ``embedding_weights``: one ``[n, L]`` pair per embedding column.

Columns are laid out in name order, as TensorFlow builds its layers. String values are stripped
of surrounding white space; each string feature is dictionary-encoded once per batch, and lookups
and hashes run over the (small) dictionary, then are gathered per row. A predicting process
passes a :class:`~mlengine.feature_column.memory.TransformMemory`, whose dictionaries outlive the
batch: lookups, hashes and small crosses are then computed once per distinct value, not per batch.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError, InvalidParameterError, NotSupportedError
from mlengine.feature_column.columns import (
    COMBINERS,
    STRING,
    BucketizedColumn,
    CategoricalColumn,
    CrossedColumn,
    EmbeddingColumn,
    FeatureColumn,
    HashBucketColumn,
    IdentityColumn,
    IndicatorColumn,
    Log1p,
    MinMax,
    NumericColumn,
    VocabularyColumn,
    WeightedCategoricalColumn,
    ZScore,
    check_unique_names,
)
from mlengine.feature_column.hashing import bucket, cross_hash, hash_string, hash_strings
from mlengine.feature_column.memory import StringTable, TransformMemory

RawBatch = Mapping[str, Any]
_COMPARE_BOUNDARIES = 64  # bucketize by comparisons up to this many boundaries (int8 counts)
_COMPARE_MIN_VALUES = 16384  # ... for more values than this (fewer: a binary search each is faster)
_CROSS_TABLE_LIMIT = 1 << 16  # crosses with at most this many combinations use a lookup table
_REMEMBERED_CROSS_LIMIT = 1 << 14  # ... kept from batch to batch (hashing them takes ~1 ms)
_BLOCK_ROWS = 8192  # rows of the outputs filled at a time (a block stays in the L2 cache)
_HASH_ONE_BY_ONE = 256  # dictionaries up to this size are hashed value by value


@dataclass(frozen=True)
class EmbeddingSpec:
    """What the model needs to build one embedding column's lookup."""

    column: str
    table: str
    num_buckets: int
    dimension: int
    stddev: float
    max_norm: float | None
    trainable: bool


@dataclass(frozen=True)
class EncodedFeatures:
    """Model inputs for ``n`` rows (see the module docstring for the layout)."""

    sparse_ids: np.ndarray
    sparse_weights: np.ndarray
    dense: np.ndarray
    embedding_ids: tuple[np.ndarray, ...]
    embedding_weights: tuple[np.ndarray, ...]

    @property
    def num_rows(self) -> int:
        return int(self.dense.shape[0])

    def slice(self, start: int, stop: int) -> EncodedFeatures:
        """Rows ``[start, stop)`` as views (no copy)."""
        return EncodedFeatures(
            self.sparse_ids[start:stop],
            self.sparse_weights[start:stop],
            self.dense[start:stop],
            tuple(a[start:stop] for a in self.embedding_ids),
            tuple(a[start:stop] for a in self.embedding_weights),
        )


@dataclass
class _Ids:
    """Ids ``[n, L]`` of one categorical column and their weights (0 = no value)."""

    ids: np.ndarray
    weights: np.ndarray


SMALL_BATCH_ROWS = 2048
"""Batches up to this many rows given as Python lists (serving requests, and the server's
merged batches of them) skip pyarrow: each distinct string is stripped and looked up once in
Python dicts, numbers become one numpy array; a list needs no conversion to arrow first. Both
paths implement the same lookups and hashes; a test checks they agree."""


class _Strings:
    """A string feature, dictionary-encoded: per-value codes into a stripped dictionary.

    The dictionary is a tuple of Python strings when it is small (a small batch, see
    :data:`SMALL_BATCH_ROWS`, or a feature with few distinct values) and an arrow array
    otherwise; the per-entry operations below accept both.
    """

    def __init__(
        self,
        codes: np.ndarray,
        dictionary: pa.Array | tuple[str, ...],
        offsets: np.ndarray | None,
        table: StringTable | None = None,
    ):
        self.codes = codes  # int64 per value, -1 for null
        self.dictionary = dictionary  # stripped strings
        self.offsets = offsets  # list offsets [n + 1] for multivalent input, else None
        self.table = table  # the dictionary is this table's values: per-entry results last
        self._hashes: np.ndarray | None = None

    def _per_entry(self, key: Any, compute: Any) -> np.ndarray:
        if self.table is None:
            result: np.ndarray = compute()
            return result
        return self.table.derived(key, len(self.dictionary), compute)

    def gather(self, per_entry: np.ndarray, missing: float) -> np.ndarray:
        """Per-value result from a per-dictionary-entry array (``missing`` for nulls)."""
        # Keep the dtype: np.append(uint64, 0) would go through float64 and round hashes.
        table = np.concatenate([per_entry, np.array([missing], dtype=per_entry.dtype)])
        return table[self.codes]

    @property
    def empty(self) -> np.ndarray:
        if isinstance(self.dictionary, tuple):
            values = self.dictionary
            return self._per_entry(
                "empty", lambda: np.array([value == "" for value in values], dtype=bool)
            )
        return np.asarray(pc.equal(self.dictionary, "").fill_null(True), dtype=bool)

    @property
    def hashes(self) -> np.ndarray:
        if self._hashes is None:
            if isinstance(self.dictionary, tuple):
                # A few distinct values: the remembered one-string hash beats a numpy pass per
                # byte position.
                values = self.dictionary
                self._hashes = self._per_entry(
                    "hashes",
                    lambda: np.array([hash_string(v or "") for v in values], dtype=np.uint64),
                )
            else:
                self._hashes = hash_strings(self.dictionary)
        return self._hashes

    def index_in(self, column: VocabularyColumn) -> np.ndarray:
        """Per-entry id in the column's vocabulary, -1 where absent."""
        if isinstance(self.dictionary, tuple):
            index, values = column.vocabulary_index, self.dictionary
            return self._per_entry(
                column,
                lambda: np.array([index.get(v, -1) for v in values], dtype=np.int64),
            )
        found = pc.index_in(self.dictionary, value_set=column.arrow_vocabulary)
        return np.asarray(found.fill_null(-1), dtype=np.int64)


def _small_strings(values: Any, table: StringTable | None = None) -> _Strings | None:
    """The Python-dict path for a few univalent string values; None when it does not apply.

    Each distinct value is stripped and placed once; the per-value codes are then one C-level
    pass (``dict.fromkeys`` to find the distinct values, ``map`` over a dict to code them). With
    a ``table``, the codes are the table's (one lookup per value) and its values the dictionary.
    """
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
            return _Strings(encoded[0], encoded[1], None, table)
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
    return _Strings(codes, tuple(positions), None)


_PLAIN_NUMBER_TYPES = frozenset({int, float, type(None)})


def _small_floats(values: Any) -> np.ndarray | None:
    """A few univalent numbers (None for missing) as float64 without pyarrow compute calls;
    None when the values need the general path (strings, lists, bools, other types)."""
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


def _to_arrow(values: Any, key: str) -> pa.Array:
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


class _Batch:
    """A raw batch plus per-key caches, so shared keys are decoded once per call."""

    def __init__(self, raw: RawBatch, memory: TransformMemory | None = None):
        self.raw = as_feature_dict(raw)
        self.n = count_rows(self.raw)
        self.memory = memory
        self._strings: dict[str, _Strings] = {}
        self._floats: dict[tuple[str, int], np.ndarray] = {}

    def get(self, key: str, needed_by: str) -> Any:
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

    def strings(self, key: str, needed_by: str) -> _Strings:
        cached = self._strings.get(key)
        if cached is not None:
            return cached
        raw = self.get(key, needed_by)
        if self.n <= SMALL_BATCH_ROWS:
            small = _small_strings(raw, None if self.memory is None else self.memory.table(key))
            if small is not None:
                self._strings[key] = small
                return small
        arr = _to_arrow(raw, key)
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
        if len(dictionary) <= _HASH_ONE_BY_ONE:
            # A few distinct values (a census feature has tens): per-entry lookups in Python
            # cost less than a pyarrow call each (a null entry means no value, as "").
            dictionary = tuple(value or "" for value in dictionary.to_pylist())
        result = _Strings(codes, dictionary, offsets)
        self._strings[key] = result
        return result

    def floats(self, key: str, width: int, needed_by: str) -> np.ndarray:
        """Float64 ``[n, width]``; NaN marks a missing value. Non-numbers raise FeatureError."""
        cached = self._floats.get((key, width))
        if cached is not None:
            return cached
        values = self.get(key, needed_by)
        small = _small_floats(values) if self.n <= SMALL_BATCH_ROWS else None
        if isinstance(values, np.ndarray) and values.dtype.kind in "iufb":
            out = values.astype(np.float64, copy=False)
        elif small is not None:
            out = small
        else:
            arr = _to_arrow(values, key)
            if pa.types.is_list(arr.type) or pa.types.is_fixed_size_list(arr.type):
                arr = arr.flatten()
            if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
                arr = _parse_numbers(arr, key)
            elif not (
                pa.types.is_integer(arr.type)
                or pa.types.is_floating(arr.type)
                or pa.types.is_boolean(arr.type)
                or pa.types.is_null(arr.type)
            ):
                raise FeatureError(
                    f"Feature {key!r}: expected numbers, got values of type {arr.type}."
                )
            out = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)
        if out.size != self.n * width:
            raise FeatureError(
                f"Feature {key!r}: expected {width} value(s) per row, got {out.size} values "
                f"for {self.n} rows."
            )
        out = out.reshape(self.n, width)
        self._floats[(key, width)] = out
        return out


def _float_to_string(arr: pa.Array) -> pa.Array:
    values = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan))
    integral = np.isfinite(values) & (values == np.round(values))
    as_int = pc.cast(pa.array(np.where(integral, values, 0).astype(np.int64)), pa.string())
    as_float = pc.cast(arr, pa.string())
    out = pc.if_else(pa.array(integral), as_int, as_float)
    return pc.if_else(pc.is_null(arr), pa.nulls(len(arr), pa.string()), out)


def _parse_numbers(arr: pa.Array, key: str) -> pa.Array:
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


def _layout(
    flat_ids: np.ndarray,
    valid: np.ndarray,
    offsets: np.ndarray | None,
    n: int,
    flat_weights: np.ndarray | None = None,
) -> _Ids:
    """Place per-value ids into ``[n, L]`` (L = 1, or the longest list in the batch)."""
    weights = valid.astype(np.float32) if flat_weights is None else np.where(valid, flat_weights, 0)
    ids = np.where(valid, flat_ids, 0).astype(np.int64, copy=False)
    if offsets is None:
        return _Ids(ids.reshape(n, 1), weights.astype(np.float32, copy=False).reshape(n, 1))
    lengths = np.diff(offsets)
    width = max(int(lengths.max(initial=0)), 1)
    rows = np.repeat(np.arange(n), lengths)
    slots = np.arange(len(flat_ids)) - np.repeat(offsets[:-1], lengths)
    out_ids = np.zeros((n, width), dtype=np.int64)
    out_weights = np.zeros((n, width), dtype=np.float32)
    out_ids[rows, slots] = ids
    out_weights[rows, slots] = weights
    return _Ids(out_ids, out_weights)


def _lookup(s: _Strings, per_entry: np.ndarray, n: int) -> _Ids:
    """:func:`_layout` of a string feature's ids, from per-dictionary-entry ids (-1: no id)."""
    if s.offsets is not None:
        flat = s.gather(per_entry, -1)
        return _layout(flat, flat >= 0, s.offsets, n)
    # One value per row: gather ids and weights straight from per-entry tables.
    valid = per_entry >= 0
    ids = s.gather(np.where(valid, per_entry, 0).astype(np.int64, copy=False), 0)
    weights = s.gather(valid.astype(np.float32), 0.0)
    return _Ids(ids.reshape(n, 1), weights.reshape(n, 1))


def _combine(ids: _Ids, combiner: str) -> _Ids:
    """Scale weights per row so a weighted sum implements TF's combiner."""
    if combiner == "sum":
        return ids
    if ids.weights.shape[1] == 1:  # one id per row: w / w, or w / |w|
        scaled = ids.weights > 0 if combiner == "mean" else np.sign(ids.weights)
        return _Ids(ids.ids, scaled.astype(np.float32))
    # In float64: the inverse of a tiny (subnormal) float32 weight overflows float32.
    weights = ids.weights.astype(np.float64)
    if combiner == "mean":
        norm = weights.sum(axis=1, keepdims=True)
    else:  # sqrtn
        norm = np.sqrt((weights**2).sum(axis=1, keepdims=True))
    scale = np.divide(1.0, norm, out=np.zeros_like(norm), where=norm > 0)
    return _Ids(ids.ids, (weights * scale).astype(np.float32))


class _ColumnIds:
    """The ids of each categorical column in one batch, computed once (crosses, indicators and
    embeddings reuse their inner columns' ids). A class rather than a closure, so that the
    batch's arrays are freed as soon as the transform returns (a self-referencing closure
    would keep them until the garbage collector runs)."""

    def __init__(self, batch: _Batch):
        self.batch = batch
        self.memo: dict[CategoricalColumn, _Ids] = {}

    def ids_of(self, column: CategoricalColumn) -> _Ids:
        found = self.memo.get(column)
        if found is None:
            found = self.memo[column] = _categorical_ids(column, self.batch, self.ids_of)
        return found


class FeatureTransformer:
    """Turns raw feature batches into :class:`EncodedFeatures` for a list of feature columns.

    Args:
        feature_columns: the columns; categorical columns feed the sparse (wide) part, numeric
            and indicator columns the dense matrix, embedding columns the embedding lookups.
            A bucketized column is categorical here; wrap it in ``indicator_column`` to use it
            densely (the DNN estimators do this for you, as TensorFlow does).
        sparse_combiner: how several ids of one categorical column in a row are reduced in the
            sparse part: ``'sum'`` (TF's default), ``'mean'`` or ``'sqrtn'``.

    Example:
        >>> from mlengine import feature_column as fc
        >>> t = FeatureTransformer([fc.numeric_column("age"),
        ...     fc.categorical_column_with_vocabulary_list("g", ["f", "m"])])
        >>> out = t.transform({"age": [30.0, 40.0], "g": [" m", "x"]})
        >>> out.dense.tolist(), out.sparse_ids.tolist(), out.sparse_weights.tolist()
        ([[30.0], [40.0]], [[1], [0]], [[1.0], [0.0]])
    """

    def __init__(self, feature_columns: Sequence[FeatureColumn], sparse_combiner: str = "sum"):
        columns = list(feature_columns)
        check_unique_names(columns, "FeatureTransformer")
        if sparse_combiner not in COMBINERS:
            raise InvalidParameterError(
                f"The 'sparse_combiner' parameter must be one of {COMBINERS}. "
                f"Got {sparse_combiner!r} instead."
            )
        self.feature_columns = tuple(sorted(columns, key=lambda c: c.name))
        self.sparse_combiner = sparse_combiner
        self.sparse_columns: tuple[CategoricalColumn, ...] = tuple(
            c for c in self.feature_columns if isinstance(c, CategoricalColumn)
        )
        self.numeric_columns = tuple(
            c for c in self.feature_columns if isinstance(c, NumericColumn)
        )
        self.indicator_columns = tuple(
            c for c in self.feature_columns if isinstance(c, IndicatorColumn)
        )
        self.embedding_columns = tuple(
            c for c in self.feature_columns if isinstance(c, EmbeddingColumn)
        )
        offsets = np.cumsum([0] + [c.num_buckets for c in self.sparse_columns])
        self.sparse_offsets = tuple(int(o) for o in offsets[:-1])
        self.num_sparse_ids = int(offsets[-1])
        self.dense_width = sum(c.width for c in self.numeric_columns) + sum(
            c.width for c in self.indicator_columns
        )
        self.embedding_specs = tuple(
            EmbeddingSpec(
                c.name,
                c.table_name,
                c.categorical_column.num_buckets,
                c.dimension,
                c.stddev,
                c.max_norm,
                c.trainable,
            )
            for c in self.embedding_columns
        )

    @property
    def raw_keys(self) -> tuple[str, ...]:
        """Every feature key the columns read, in first-use order."""
        keys: list[str] = []
        for column in self.feature_columns:
            keys.extend(column.raw_keys)
        return tuple(dict.fromkeys(keys))

    def transform(self, features: RawBatch) -> EncodedFeatures:
        """Encode one batch: a mapping of feature key to array-like (numpy, pyarrow, list...)."""
        batch = _Batch(features)
        return self._transform(batch, _ColumnIds(batch))

    def _transform(self, batch: _Batch, memo: _ColumnIds) -> EncodedFeatures:
        n = batch.n
        ids_of = memo.ids_of

        sparse = [_combine(ids_of(c), self.sparse_combiner) for c in self.sparse_columns]
        numeric = [_numeric_values(c, batch) for c in self.numeric_columns]
        indicator = [ids_of(c.categorical_column) for c in self.indicator_columns]

        # Outputs are allocated once and filled column by column: no concatenation copies.
        # They are filled in blocks of rows, so that a block of the (wide, row-major) outputs
        # stays in cache while every column writes its slice into it.
        slots = sum(s.ids.shape[1] for s in sparse)
        sparse_ids = np.empty((n, slots), dtype=np.int64)
        sparse_weights = np.empty((n, slots), dtype=np.float32)
        dense = np.zeros((n, self.dense_width), dtype=np.float32)
        for r0 in range(0, n, _BLOCK_ROWS):
            rows = slice(r0, min(n, r0 + _BLOCK_ROWS))
            start = 0
            for ids, offset in zip(sparse, self.sparse_offsets, strict=True):
                stop = start + ids.ids.shape[1]
                np.add(ids.ids[rows], offset, out=sparse_ids[rows, start:stop])
                sparse_weights[rows, start:stop] = ids.weights[rows]
                start = stop
            block = dense[rows]
            start = 0
            for values in numeric:
                block[:, start : start + values.shape[1]] = values[rows]
                start += values.shape[1]
            for ids, column in zip(indicator, self.indicator_columns, strict=True):
                _add_multi_hot(block, start, _Ids(ids.ids[rows], ids.weights[rows]))
                start += column.width
        embedded = [
            _combine(ids_of(c.categorical_column), c.combiner) for c in self.embedding_columns
        ]
        return EncodedFeatures(
            sparse_ids,
            sparse_weights,
            dense,
            tuple(e.ids for e in embedded),
            tuple(e.weights for e in embedded),
        )


def transform_all(
    transformers: Sequence[FeatureTransformer | None],
    features: RawBatch,
    memory: TransformMemory | None = None,
) -> list[EncodedFeatures | None]:
    """Encode one batch for several transformers (a Wide & Deep model's two parts), decoding
    each raw feature and computing each shared column's ids only once; ``memory`` keeps string
    codes and what depends on them from batch to batch (:mod:`mlengine.feature_column.memory`)."""
    batch = _Batch(features, memory)
    memo = _ColumnIds(batch)
    return [None if t is None else t._transform(batch, memo) for t in transformers]


def _numeric_values(column: NumericColumn, batch: _Batch) -> np.ndarray:
    values = batch.floats(column.key, column.width, column.name)
    missing = np.isnan(values)
    if missing.any():
        if column.default_value is None:
            row = int(np.flatnonzero(missing.any(axis=1))[0])
            raise FeatureError(
                f"Feature {column.key!r}: missing value in row {row}, and numeric_column "
                f"{column.name!r} has no default_value."
            )
        values = np.where(missing, np.asarray(column.default_value)[None, :], values)
    norm = column.normalizer
    if isinstance(norm, ZScore):
        values = (values - norm.mean) / norm.std
    elif isinstance(norm, MinMax):
        values = (values - norm.min) / (norm.max - norm.min)
    elif isinstance(norm, Log1p):
        values = np.sign(values) * np.log1p(np.abs(values))
    return values.astype(np.float32)


def _add_multi_hot(dense: np.ndarray, start: int, ids: _Ids) -> None:
    """Add the weights of ``ids`` into ``dense[:, start + id]`` (repeated ids accumulate)."""
    n, width = dense.shape
    if ids.ids.shape[1] == 1:
        # One id per row: a plain scatter-assign into the (still zero) block is enough.
        flat = np.arange(0, n * width, width, dtype=np.int64) + (start + ids.ids[:, 0])
        dense.reshape(-1)[flat] = ids.weights[:, 0]
    else:
        np.add.at(dense, (np.arange(n)[:, None], start + ids.ids), ids.weights)


def _categorical_ids(column: CategoricalColumn, batch: _Batch, ids_of: Any) -> _Ids:
    if isinstance(column, VocabularyColumn):
        return _vocabulary_ids(column, batch)
    if isinstance(column, HashBucketColumn):
        s = batch.strings(column.key, column.name)
        per_entry = np.where(s.empty, -1, bucket(s.hashes, column.hash_bucket_size))
        return _lookup(s, per_entry, batch.n)
    if isinstance(column, IdentityColumn):
        return _identity_ids(column, batch)
    if isinstance(column, BucketizedColumn):
        return _bucket_ids(column, batch)
    if isinstance(column, CrossedColumn):
        return _crossed_ids(column, batch, ids_of)
    if isinstance(column, WeightedCategoricalColumn):
        inner: _Ids = ids_of(column.categorical_column)
        weights = _id_weights(column, batch, inner)
        weights = np.nan_to_num(weights, nan=0.0).astype(np.float32)
        return _Ids(inner.ids, inner.weights * weights)
    raise NotSupportedError(f"Unsupported categorical column type {type(column).__name__}.")


def _list_lengths(values: Any, key: str) -> np.ndarray | None:
    if isinstance(values, np.ndarray):
        return None
    arr = _to_arrow(values, key)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        return np.diff(np.asarray(arr.offsets, dtype=np.int64))
    return None


def _id_weights(column: WeightedCategoricalColumn, batch: _Batch, inner: _Ids) -> np.ndarray:
    """Weights ``[n, L]`` aligned with the ids; list-valued weights follow the ids' lists."""
    key = column.weight_feature_key
    lengths = _list_lengths(batch.get(key, column.name), key)
    if lengths is None:
        return batch.floats(key, inner.ids.shape[1], column.name)
    id_keys = column.categorical_column.raw_keys
    id_lengths = (
        _list_lengths(batch.get(id_keys[0], column.name), id_keys[0]) if len(id_keys) == 1 else None
    )
    if id_lengths is None or not np.array_equal(lengths, id_lengths):
        bad = 0 if id_lengths is None else int(np.flatnonzero(lengths != id_lengths)[0])
        raise FeatureError(
            f"Feature {key!r}: weighted_categorical_column {column.name!r} needs one weight per "
            f"id of {id_keys[0]!r}, with the same number of values per row (row {bad} differs)."
        )
    flat = np.asarray(
        pc.cast(_to_arrow(batch.get(key, column.name), key).flatten(), pa.float64()).fill_null(
            np.nan
        ),
        dtype=np.float64,
    )
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    placeholder = np.zeros(len(flat), np.int64)
    return _layout(placeholder, np.ones(len(flat), bool), offsets, batch.n, flat).weights


def _vocabulary_ids(column: VocabularyColumn, batch: _Batch) -> _Ids:
    size = len(column.vocabulary)
    if column.dtype == STRING:
        s = batch.strings(column.key, column.name)
        per_entry = s.index_in(column)
        oov = per_entry < 0
        if column.num_oov_buckets:
            per_entry = np.where(oov, size + bucket(s.hashes, column.num_oov_buckets), per_entry)
        elif column.default_value >= 0:
            per_entry = np.where(oov, column.default_value, per_entry)
        per_entry = np.where(s.empty, -1, per_entry)
        return _lookup(s, per_entry, batch.n)
    values, valid, offsets = _integers(column.key, column.name, batch)
    vocab = np.asarray(column.vocabulary, dtype=np.int64)
    order = np.argsort(vocab)
    pos = np.clip(np.searchsorted(vocab[order], values), 0, size - 1)
    hit = vocab[order][pos] == values
    ids = np.where(hit, order[pos], -1)
    if column.num_oov_buckets:
        text = pc.cast(pa.array(values), pa.string())
        ids = np.where(hit, ids, size + bucket(hash_strings(text), column.num_oov_buckets))
    elif column.default_value >= 0:
        ids = np.where(hit, ids, column.default_value)
    valid = valid & (values != -1)
    return _layout(ids, valid & (ids >= 0), offsets, batch.n)


def _integers(
    key: str, needed_by: str, batch: _Batch
) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Integer values of a feature (flattened for lists), a validity mask and list offsets."""
    raw = batch.get(key, needed_by)
    offsets = None
    if isinstance(raw, np.ndarray) and raw.dtype.kind in "iu":
        values = raw.astype(np.int64, copy=False).reshape(-1)
        return values, np.ones(len(values), dtype=bool), None
    arr = _to_arrow(raw, key)
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        offsets = np.asarray(arr.offsets, dtype=np.int64)
        offsets = offsets - offsets[0]
        arr = arr.flatten()
    if pa.types.is_string(arr.type) or pa.types.is_large_string(arr.type):
        arr = _parse_numbers(arr, key)
    floats = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)
    valid = ~np.isnan(floats)
    if np.any(valid & (floats != np.round(floats))):
        bad = floats[valid & (floats != np.round(floats))][0]
        raise FeatureError(f"Feature {key!r}: expected an integer id, got {bad!r}.")
    return np.where(valid, floats, -1).astype(np.int64), valid, offsets


def _identity_ids(column: IdentityColumn, batch: _Batch) -> _Ids:
    values, valid, offsets = _integers(column.key, column.name, batch)
    size = column.num_buckets
    if column.wrap:
        ids = np.mod(values, size)
    else:
        valid = valid & (values != -1)  # -1 means missing, as for every integer feature
        out_of_range = valid & ((values >= size) | (values < 0))
        if column.default_value is not None:
            ids = np.where(out_of_range, column.default_value, values)
        else:
            too_big = valid & (values >= size)
            if too_big.any():
                index = int(np.flatnonzero(too_big)[0])
                row = (
                    index if offsets is None else int(np.searchsorted(offsets, index, "right") - 1)
                )
                raise FeatureError(
                    f"Feature {column.key!r}: id {int(values[index])} is outside [0, {size}) "
                    f"(row {row}) and categorical_column_with_identity {column.name!r} has no "
                    "default_value."
                )
            valid = valid & (values >= 0)
            ids = values
    return _layout(ids, valid, offsets, batch.n)


def _bucket_ids(column: BucketizedColumn, batch: _Batch) -> _Ids:
    # As TF: the source column's normaliser (if any) applies before bucketizing.
    values = _numeric_values(column.source_column, batch)
    boundaries = np.asarray(column.boundaries, dtype=np.float64)
    if len(boundaries) <= _COMPARE_BOUNDARIES and values.size > _COMPARE_MIN_VALUES:
        # len - #(boundaries > value) == searchsorted(side="right"), NaN included (-> len), and
        # a few vectorised comparisons beat a binary search per value. Comparing float32 values
        # with float64 scalars happens in float64, as searchsorted does.
        below = np.zeros(values.shape, dtype=np.int8)
        for boundary in boundaries:
            below += values < boundary
        ids = len(boundaries) - below.astype(np.int64)
    else:
        ids = np.searchsorted(boundaries, values.astype(np.float64), side="right")
    ids = ids + np.arange(values.shape[1]) * (len(boundaries) + 1)
    return _Ids(ids.astype(np.int64), np.ones(ids.shape, dtype=np.float32))


def _crossed_ids(column: CrossedColumn, batch: _Batch, ids_of: Any) -> _Ids:
    # Each part is a per-row code into a small table of uint64 keys: a string feature's
    # dictionary hashes (plus one entry for null), or a categorical column's ids 0..num_buckets-1.
    codes: list[np.ndarray] = []
    tables: list[np.ndarray | None] = []  # None: the key is the code itself
    sizes: list[int] = []
    valid = np.ones(batch.n, dtype=bool)
    remembered = batch.memory is not None  # every string part's codes are a table's
    for item in column.keys:
        if isinstance(item, str):
            s = batch.strings(item, column.name)
            remembered = remembered and s.table is not None
            if s.offsets is not None:
                raise NotSupportedError(
                    f"crossed_column {column.name!r}: feature {item!r} has several values per "
                    "row; crosses of multivalent features are not supported."
                )
            size = len(s.dictionary)
            code = s.codes
            if code.size and code.min() < 0:
                code = np.where(code < 0, size, code)  # null: the extra last entry
            codes.append(code)
            tables.append(np.concatenate([s.hashes, np.zeros(1, np.uint64)]))
            sizes.append(size + 1)
            valid &= s.gather(~s.empty, False)
        else:
            ids: _Ids = ids_of(item)
            if ids.ids.shape[1] != 1:
                raise NotSupportedError(
                    f"crossed_column {column.name!r}: column {item.name!r} has several ids per "
                    "row; crosses of multivalent columns are not supported."
                )
            codes.append(ids.ids[:, 0])
            tables.append(None)
            sizes.append(item.num_buckets)
            valid &= ids.weights[:, 0] > 0
    combinations = math.prod(sizes)
    remembered = remembered and combinations <= _REMEMBERED_CROSS_LIMIT
    if remembered or combinations <= min(_CROSS_TABLE_LIMIT, batch.n):
        # Fewer combinations than rows (or a table that outlives the batch): hash every
        # combination once (the same cross_hash), then look each row's combination up by its
        # mixed-radix index.
        def every_combination() -> np.ndarray:
            grid = np.indices(sizes).reshape(len(sizes), -1)
            keys = [
                g.astype(np.uint64) if t is None else t[g]
                for g, t in zip(grid, tables, strict=True)
            ]
            return bucket(cross_hash(keys, column.hash_key), column.hash_bucket_size)

        if remembered:
            assert batch.memory is not None
            table = batch.memory.cross_table(column, tuple(sizes), every_combination)
        else:
            table = every_combination()
        index = codes[0]
        for code, size in zip(codes[1:], sizes[1:], strict=True):
            index = index * size + code
        crossed = table[index]
    else:
        keys = [
            c.astype(np.uint64) if t is None else t[c] for c, t in zip(codes, tables, strict=True)
        ]
        crossed = bucket(cross_hash(keys, column.hash_key), column.hash_bucket_size)
    return _layout(crossed, valid, None, batch.n)
