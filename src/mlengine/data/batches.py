"""Column-wise operations on ``(features, labels)`` batches: slice, take, concatenate, shuffle.

A batch's columns are numpy arrays or pyarrow Arrays (see :func:`to_column` for which is which),
so every operation here dispatches on that one distinction and never loops over rows in Python.
The input functions in :mod:`mlengine.data.input_fns` are built from these pieces: a stream of
chunks is coalesced (:func:`coalesce`), optionally shuffled through a bounded buffer
(:func:`shuffle_buffer`) and cut into batches (:func:`rebatch`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, TypeAlias

import numpy as np
import numpy.typing as npt
import pyarrow as pa

Column: TypeAlias = "npt.NDArray[Any] | pa.Array"
Features: TypeAlias = "dict[str, Column]"
Labels: TypeAlias = "Column | None"
InputBatch: TypeAlias = "tuple[Features, Labels]"
"""One batch as an input function yields it (the network's, once encoded, is
:class:`~mlengine.model.encode.EncodedBatch`)."""


ORIGIN = "__mlengine_origin__"
"""The feature key under which an input function's chunks carry each row's origin, when asked
(:meth:`mlengine.data.InputFn.with_origins`): an int64 code its ``describe_origin`` names. Only
the training pipeline asks, and takes it out before the features are encoded."""


def to_column(values: pa.Array | pa.ChunkedArray, keep_dictionary: bool = False) -> Column:
    """Converts a pyarrow column to the form batches carry.

    Numbers and booleans without nulls become numpy arrays (what torch wants, zero-copy where
    pyarrow allows); strings and anything with nulls stay pyarrow Arrays, because turning them
    into Python objects costs a Python object per value. Dictionary-encoded columns (pandas
    categoricals, some Parquet files) are decoded to their value type, unless
    ``keep_dictionary``: a shuffle buffer moves dictionary indices much more cheaply than
    strings, and decodes once on the way out (:func:`decode_dictionaries`).
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        if keep_dictionary:
            return values
        values = values.dictionary_decode()
    kind = values.type
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    if numeric and values.null_count == 0:
        return values.to_numpy(zero_copy_only=False)
    return values


def table_to_batch(
    table: pa.Table | pa.RecordBatch, label_key: str | None, keep_dictionaries: bool = False
) -> InputBatch:
    """Splits a table into a features dict and the label column (None without a label_key)."""
    keep = keep_dictionaries
    features = {
        name: to_column(table.column(name), keep)
        for name in table.column_names
        if name != label_key
    }
    labels = to_column(table.column(label_key), keep) if label_key is not None else None
    return features, labels


def _is_dictionary(column: Column | None) -> bool:
    return isinstance(column, pa.DictionaryArray)


def decode_dictionaries(batch: InputBatch, larger_than: int = -1) -> InputBatch:
    """The batch with its dictionary-encoded columns decoded (see :func:`to_column`).

    With ``larger_than``, only dictionaries of more than that many values are decoded: a
    dictionary is never trimmed when rows are taken from it, so a shuffle buffer decodes
    those that outgrow the buffer (high-cardinality columns), keeping memory bounded.
    """
    features, labels = batch
    if not any(map(_is_dictionary, [*features.values(), labels])):
        return batch

    def decode(column: Column) -> Column:
        if isinstance(column, pa.DictionaryArray) and len(column.dictionary) > larger_than:
            return to_column(column)
        return column

    return (
        {k: decode(v) for k, v in features.items()},
        None if labels is None else decode(labels),
    )


def column_length(column: Column) -> int:
    """The number of rows of one column."""
    return len(column)


def num_rows(batch: InputBatch) -> int:
    """The number of rows of a batch (0 for a batch without columns)."""
    features, labels = batch
    if labels is not None:
        return column_length(labels)
    for column in features.values():
        return column_length(column)
    return 0


def _slice(column: Column, start: int, stop: int) -> Column:
    if isinstance(column, np.ndarray):
        return column[start:stop]
    return column.slice(start, stop - start)


def _take(column: Column, indices: npt.NDArray[np.intp]) -> Column:
    if isinstance(column, np.ndarray):
        return column[indices]
    return column.take(pa.array(indices))


def _concat(columns: list[Column]) -> Column:
    """Concatenates pieces of one column; a mix of numpy and pyarrow pieces becomes pyarrow."""
    if len(columns) == 1:
        return columns[0]
    if all(isinstance(c, np.ndarray) for c in columns):
        return np.concatenate(columns)
    arrays = [pa.array(c) if isinstance(c, np.ndarray) else c for c in columns]
    if len({a.type for a in arrays}) == 1 and pa.types.is_dictionary(arrays[0].type):
        return pa.concat_arrays(arrays)  # unifies the dictionaries; the result stays encoded
    arrays = [a.dictionary_decode() if pa.types.is_dictionary(a.type) else a for a in arrays]
    if len({a.type for a in arrays}) > 1:
        # e.g. int64 in one CSV file and double in the next: let pyarrow find the common type.
        tables = [pa.table({"c": a}) for a in arrays]
        return to_column(pa.concat_tables(tables, promote_options="permissive").column("c"))
    return to_column(pa.concat_arrays(arrays))


def slice_batch(batch: InputBatch, start: int, stop: int) -> InputBatch:
    """Rows ``start:stop`` of a batch (views, no copy)."""
    features, labels = batch
    return (
        {k: _slice(v, start, stop) for k, v in features.items()},
        None if labels is None else _slice(labels, start, stop),
    )


def take_batch(batch: InputBatch, indices: npt.NDArray[np.intp]) -> InputBatch:
    """The rows of a batch at ``indices``, in that order."""
    features, labels = batch
    return (
        {k: _take(v, indices) for k, v in features.items()},
        None if labels is None else _take(labels, indices),
    )


def concat_batches(batches: list[InputBatch]) -> InputBatch:
    """Concatenates batches with the same keys, row-wise."""
    if len(batches) == 1:
        return batches[0]
    first_features, first_labels = batches[0]
    features = {k: _concat([b[0][k] for b in batches]) for k in first_features}
    labels = None
    if first_labels is not None:
        labels = _concat([b[1] for b in batches if b[1] is not None])
    return features, labels


def coalesce(batches: Iterable[InputBatch], min_rows: int) -> Iterator[InputBatch]:
    """Merges consecutive small batches so that each one yielded has at least ``min_rows`` rows.

    Only the last batch may be smaller. Batches that are large enough pass through untouched;
    empty batches are dropped.
    """
    pending: list[InputBatch] = []
    pending_rows = 0
    for batch in batches:
        n = num_rows(batch)
        if n == 0:
            continue
        pending.append(batch)
        pending_rows += n
        if pending_rows >= min_rows:
            yield concat_batches(pending)
            pending, pending_rows = [], 0
    if pending:
        yield concat_batches(pending)


def take_rows(batches: Iterable[InputBatch], rows: int) -> Iterator[InputBatch]:
    """The first ``rows`` rows of a stream (the last batch cut short); stops pulling after them.

    The stream may be endless: nothing past the batch that completes ``rows`` is read.
    """
    if rows <= 0:
        return
    for batch in batches:
        n = num_rows(batch)
        if n >= rows:
            yield slice_batch(batch, 0, rows)
            return
        if n:
            yield batch
            rows -= n


def rebatch(chunks: Iterable[InputBatch], batch_size: int) -> Iterator[InputBatch]:
    """Cuts a stream of chunks into batches of exactly ``batch_size`` rows, except the last.

    The remainder of one chunk is carried over into the next, so batches may straddle chunk
    (and so epoch) boundaries, as TensorFlow's ``repeat().batch()`` does.
    """
    pending: list[InputBatch] = []
    pending_rows = 0
    for chunk in chunks:
        n = num_rows(chunk)
        start = 0
        if pending:
            need = batch_size - pending_rows
            if n < need:
                pending.append(chunk)
                pending_rows += n
                continue
            pending.append(slice_batch(chunk, 0, need))
            yield concat_batches(pending)
            pending, pending_rows, start = [], 0, need
        while start + batch_size <= n:
            yield slice_batch(chunk, start, start + batch_size)
            start += batch_size
        if start < n:
            pending, pending_rows = [slice_batch(chunk, start, n)], n - start
    if pending:
        yield concat_batches(pending)


def shuffle_buffer(
    chunks: Iterable[InputBatch], buffer_rows: int, out_rows: int, rng: np.random.Generator
) -> Iterator[InputBatch]:
    """Shuffles a stream through a buffer of ``buffer_rows`` rows, a chunk at a time.

    Like ``tf.data.Dataset.shuffle``, each row yielded is drawn uniformly from the rows
    buffered so far, but in bulk: once the buffer holds ``buffer_rows + out_rows`` rows, a
    random ``out_rows`` or more of them are yielded and the rest stay. At the end the buffer is
    yielded in random order, so a stream shorter than the buffer comes out fully permuted.
    Memory stays below ``buffer_rows + out_rows`` rows plus one incoming chunk.

    Dictionary-encoded columns stay encoded (each row moves as one index), except those whose
    dictionary outgrows the rows kept, which are decoded; the caller decodes the output.
    """
    pending: list[InputBatch] = []
    pending_rows = 0
    for chunk in chunks:
        n = num_rows(chunk)
        if n == 0:
            continue
        pending.append(chunk)
        pending_rows += n
        if pending_rows >= buffer_rows + out_rows:
            buffered = concat_batches(pending)
            order = rng.permutation(pending_rows)
            split = pending_rows - buffer_rows
            yield take_batch(buffered, order[:split])
            rest = decode_dictionaries(take_batch(buffered, order[split:]), buffer_rows)
            pending, pending_rows = [rest], buffer_rows
    if pending:
        yield take_batch(concat_batches(pending), rng.permutation(pending_rows))
