"""Column-wise operations on ``(features, labels)`` batches: slice, take, concatenate, shuffle.

A batch's columns are numpy arrays or pyarrow Arrays (see :func:`to_column` for which is which),
so every operation here dispatches on that one distinction and never loops over rows in Python.
The input functions in :mod:`mlengine.data.inputs` are built from these pieces: a stream of
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
Batch: TypeAlias = "tuple[Features, Labels]"


def to_column(values: pa.Array | pa.ChunkedArray) -> Column:
    """Converts a pyarrow column to the form batches carry.

    Numbers and booleans without nulls become numpy arrays (what torch wants, zero-copy where
    pyarrow allows); strings and anything with nulls stay pyarrow Arrays, because turning them
    into Python objects costs tens of nanoseconds a value. Dictionary-encoded columns (pandas
    categoricals, some Parquet files) are decoded to their value type.
    """
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        values = values.dictionary_decode()
    kind = values.type
    numeric = pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_boolean(kind)
    if numeric and values.null_count == 0:
        return values.to_numpy(zero_copy_only=False)
    return values


def table_to_batch(table: pa.Table | pa.RecordBatch, label_key: str | None) -> Batch:
    """Splits a table into a features dict and the label column (None without a label_key)."""
    features = {
        name: to_column(table.column(name)) for name in table.column_names if name != label_key
    }
    labels = to_column(table.column(label_key)) if label_key is not None else None
    return features, labels


def column_length(column: Column) -> int:
    """The number of rows of one column."""
    return len(column)


def num_rows(batch: Batch) -> int:
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
    if len({a.type for a in arrays}) > 1:
        # e.g. int64 in one CSV file and double in the next: let pyarrow find the common type.
        tables = [pa.table({"c": a}) for a in arrays]
        return to_column(pa.concat_tables(tables, promote_options="permissive").column("c"))
    return to_column(pa.concat_arrays(arrays))


def slice_batch(batch: Batch, start: int, stop: int) -> Batch:
    """Rows ``start:stop`` of a batch (views, no copy)."""
    features, labels = batch
    return (
        {k: _slice(v, start, stop) for k, v in features.items()},
        None if labels is None else _slice(labels, start, stop),
    )


def take_batch(batch: Batch, indices: npt.NDArray[np.intp]) -> Batch:
    """The rows of a batch at ``indices``, in that order."""
    features, labels = batch
    return (
        {k: _take(v, indices) for k, v in features.items()},
        None if labels is None else _take(labels, indices),
    )


def concat_batches(batches: list[Batch]) -> Batch:
    """Concatenates batches with the same keys, row-wise."""
    if len(batches) == 1:
        return batches[0]
    first_features, first_labels = batches[0]
    features = {k: _concat([b[0][k] for b in batches]) for k in first_features}
    labels = None
    if first_labels is not None:
        labels = _concat([b[1] for b in batches if b[1] is not None])
    return features, labels


def coalesce(batches: Iterable[Batch], min_rows: int) -> Iterator[Batch]:
    """Merges consecutive small batches so that each one yielded has at least ``min_rows`` rows.

    Only the last batch may be smaller. Batches that are large enough pass through untouched;
    empty batches are dropped.
    """
    pending: list[Batch] = []
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


def rebatch(chunks: Iterable[Batch], batch_size: int) -> Iterator[Batch]:
    """Cuts a stream of chunks into batches of exactly ``batch_size`` rows, except the last.

    The remainder of one chunk is carried over into the next, so batches may straddle chunk
    (and so epoch) boundaries, as TensorFlow's ``repeat().batch()`` does.
    """
    pending: list[Batch] = []
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
    chunks: Iterable[Batch], buffer_rows: int, out_rows: int, rng: np.random.Generator
) -> Iterator[Batch]:
    """Shuffles a stream through a buffer of ``buffer_rows`` rows, a chunk at a time.

    Like ``tf.data.Dataset.shuffle``, each row yielded is drawn uniformly from the rows
    buffered so far, but in bulk: once the buffer holds ``buffer_rows + out_rows`` rows, a
    random ``out_rows`` or more of them are yielded and the rest stay. At the end the buffer is
    yielded in random order, so a stream shorter than the buffer comes out fully permuted.
    Memory stays below ``buffer_rows + out_rows`` rows plus one incoming chunk.
    """
    pending: list[Batch] = []
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
            pending, pending_rows = [take_batch(buffered, order[split:])], buffer_rows
    if pending:
        yield take_batch(concat_batches(pending), rng.permutation(pending_rows))
