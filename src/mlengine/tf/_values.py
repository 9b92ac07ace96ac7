"""The values behind the façade's tensors, and row operations on them.

A value is a numpy array (numbers, booleans), a :class:`Strings` (strings of any shape, kept as
one flat pyarrow array: the census strings never become Python objects) or a
:class:`SparseValue` (``tf.SparseTensor``'s indices, values and dense shape). Datasets move
*rows* of them (the first axis) through shuffle buffers and batches: :func:`num_rows`,
:func:`slice_rows`, :func:`take_rows` and :func:`concat_rows` work on any nested structure
(dicts, tuples, lists) of values at once.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import InvalidParameterError


@dataclass(frozen=True)
class Strings:
    """A string tensor's value: ``flat`` (pyarrow string or binary, row-major) and ``shape``."""

    flat: pa.Array
    shape: tuple[int, ...]

    @classmethod
    def of(cls, values: Any) -> Strings:
        """Strings from a str, bytes, nested lists, a numpy array or a pyarrow array."""
        if isinstance(values, Strings):
            return values
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if isinstance(values, pa.Array):
            return cls(values, (len(values),))
        array = np.asarray(values, dtype=object)
        flat = [v.decode("utf-8") if isinstance(v, bytes) else v for v in array.reshape(-1)]
        try:
            arrow = pa.array(flat, pa.string())
        except (pa.ArrowInvalid, pa.ArrowTypeError, UnicodeDecodeError):
            arrow = pa.array(list(array.reshape(-1)), pa.binary())
        return cls(arrow, tuple(array.shape))

    @property
    def ndim(self) -> int:
        return len(self.shape)

    def reshape(self, shape: Sequence[int]) -> Strings:
        size = len(self.flat)
        dims = list(shape)
        if dims.count(-1) == 1:
            known = math.prod(d for d in dims if d != -1)
            dims[dims.index(-1)] = size // known if known else 0
        if math.prod(dims) != size:
            raise InvalidParameterError(f"Cannot reshape {size} strings to {list(shape)}.")
        return Strings(self.flat, tuple(dims))

    def to_numpy(self) -> np.ndarray:
        """Python strings (or bytes) in a numpy object array of this shape."""
        return np.asarray(self.flat.to_pylist(), dtype=object).reshape(self.shape)

    def map_flat(self, function: Callable[[pa.Array], pa.Array]) -> Strings:
        return Strings(function(self.flat), self.shape)


@dataclass(frozen=True)
class SparseValue:
    """``tf.SparseTensor``'s value: ``indices`` [nnz, rank] (row-major), ``values`` [nnz] and
    ``dense_shape`` [rank]."""

    indices: np.ndarray
    values: Any  # numpy array or Strings (1-D)
    dense_shape: tuple[int, ...]

    @property
    def ndim(self) -> int:
        return len(self.dense_shape)


Value = np.ndarray | Strings | SparseValue


def as_value(data: Any) -> Value:
    """A value from arrays, lists, scalars, pandas Series or pyarrow arrays."""
    if isinstance(data, np.ndarray | Strings | SparseValue):
        return _as_numpy_strings(data) if isinstance(data, np.ndarray) else data
    if hasattr(data, "to_numpy") and not isinstance(data, pa.Array | pa.ChunkedArray):
        data = data.to_numpy()  # a pandas Series
        return _as_numpy_strings(np.asarray(data))
    if isinstance(data, pa.Array | pa.ChunkedArray):
        array = data.combine_chunks() if isinstance(data, pa.ChunkedArray) else data
        if pa.types.is_string(array.type) or pa.types.is_large_string(array.type):
            return Strings(array, (len(array),))
        if pa.types.is_binary(array.type):
            return Strings(array, (len(array),))
        return np.asarray(array.to_numpy(zero_copy_only=False))
    return _as_numpy_strings(np.asarray(data))


def _as_numpy_strings(array: np.ndarray) -> Value:
    if array.dtype.kind in "OUS":
        return Strings.of(array)
    return array


def shape_of(value: Value) -> tuple[int, ...]:
    if isinstance(value, SparseValue):
        return value.dense_shape
    return tuple(value.shape)


def num_rows(value: Value) -> int:
    shape = shape_of(value)
    if not shape:
        raise InvalidParameterError("A scalar has no rows to batch.")
    return shape[0]


def _row_size(shape: tuple[int, ...]) -> int:
    return math.prod(shape[1:])


def slice_rows(value: Value, start: int, stop: int) -> Value:
    """Rows ``[start, stop)`` (views where the storage allows)."""
    if isinstance(value, np.ndarray):
        return value[start:stop]
    if isinstance(value, Strings):
        size = _row_size(value.shape)
        return Strings(
            value.flat.slice(start * size, (stop - start) * size), (stop - start, *value.shape[1:])
        )
    keep = (value.indices[:, 0] >= start) & (value.indices[:, 0] < stop)
    indices = value.indices[keep].copy()
    indices[:, 0] -= start
    return SparseValue(indices, _select(value.values, keep), (stop - start, *value.dense_shape[1:]))


def _select(values: Any, mask: np.ndarray) -> Any:
    if isinstance(values, Strings):
        return Strings(values.flat.filter(pa.array(mask)), (int(mask.sum()),))
    return values[mask]


def take_rows(value: Value, rows: np.ndarray) -> Value:
    """The rows at ``rows``, in that order."""
    if isinstance(value, np.ndarray):
        return value[rows]
    if isinstance(value, Strings):
        size = _row_size(value.shape)
        flat_index = (rows[:, None] * size + np.arange(size)[None, :]).reshape(-1)
        return Strings(value.flat.take(pa.array(flat_index)), (len(rows), *value.shape[1:]))
    # Sparse: entries of each taken row, re-numbered; rows keep their entries' order.
    order = np.argsort(value.indices[:, 0], kind="stable")
    indices = value.indices[order]
    counts = np.bincount(indices[:, 0], minlength=value.dense_shape[0])
    starts = np.concatenate([[0], np.cumsum(counts)])
    picked = np.concatenate(
        [np.arange(starts[r], starts[r + 1]) for r in rows] or [np.zeros(0, int)]
    )
    picked = picked.astype(np.int64)
    new_rows = np.repeat(np.arange(len(rows)), counts[rows])
    out = indices[picked].copy()
    out[:, 0] = new_rows
    values = value.values
    taken = (
        Strings(values.flat.take(pa.array(order[picked])), (len(picked),))
        if isinstance(values, Strings)
        else values[order[picked]]
    )
    return SparseValue(out, taken, (len(rows), *value.dense_shape[1:]))


def concat_rows(values: Sequence[Value]) -> Value:
    """Row-wise concatenation of values of one kind."""
    if len(values) == 1:
        return values[0]
    first = values[0]
    if isinstance(first, np.ndarray):
        return np.concatenate(values)  # type: ignore[arg-type]
    if isinstance(first, Strings):
        parts = [v for v in values if isinstance(v, Strings)]
        types = {p.flat.type for p in parts}
        flats = [p.flat if len(types) == 1 else p.flat.cast(pa.binary()) for p in parts]
        rows = sum(p.shape[0] for p in parts)
        return Strings(pa.concat_arrays(flats), (rows, *first.shape[1:]))
    assert isinstance(first, SparseValue)
    sparse = [v for v in values if isinstance(v, SparseValue)]
    offset = 0
    indices = []
    width = [max(v.dense_shape[i] for v in sparse) for i in range(1, first.ndim)]
    for part in sparse:
        shifted = part.indices.copy()
        shifted[:, 0] += offset
        indices.append(shifted)
        offset += part.dense_shape[0]
    inner = [p.values for p in sparse]
    joined = concat_rows(inner) if not isinstance(inner[0], np.ndarray) else np.concatenate(inner)
    return SparseValue(np.concatenate(indices), joined, (offset, *width))


# -- nested structures of values ----------------------------------------------------------------


def flatten(structure: Any) -> list[Any]:
    """The leaves of a structure of dicts (sorted by key), tuples and lists."""
    if isinstance(structure, dict):
        return [leaf for key in sorted(structure) for leaf in flatten(structure[key])]
    if isinstance(structure, tuple | list):
        return [leaf for item in structure for leaf in flatten(item)]
    return [structure]


def pack(structure: Any, leaves: Sequence[Any]) -> Any:
    """A structure like ``structure`` with ``leaves`` in the order of :func:`flatten`."""
    iterator = iter(leaves)

    def build(node: Any) -> Any:
        if isinstance(node, dict):
            return {key: build(node[key]) for key in sorted(node)} if node else {}
        if isinstance(node, tuple | list):
            return type(node)(build(item) for item in node)
        return next(iterator)

    return build(structure)


def map_structure(function: Callable[[Any], Any], structure: Any) -> Any:
    return pack(structure, [function(leaf) for leaf in flatten(structure)])


def structure_rows(structure: Any) -> int:
    leaves = flatten(structure)
    return num_rows(leaves[0]) if leaves else 0


def slice_structure(structure: Any, start: int, stop: int) -> Any:
    return map_structure(lambda v: slice_rows(v, start, stop), structure)


def take_structure(structure: Any, rows: np.ndarray) -> Any:
    return map_structure(lambda v: take_rows(v, rows), structure)


def concat_structures(structures: Sequence[Any]) -> Any:
    if len(structures) == 1:
        return structures[0]
    leaves = [flatten(s) for s in structures]
    return pack(structures[0], [concat_rows(list(column)) for column in zip(*leaves, strict=True)])


def equal_strings(value: Strings, other: Any) -> np.ndarray:
    """Elementwise equality of strings with a str (or Strings of the same shape)."""
    if isinstance(other, Strings):
        result = pc.equal(value.flat, other.flat)
    else:
        result = pc.equal(value.flat, pa.scalar(other, value.flat.type))
    return np.asarray(result.fill_null(False)).reshape(value.shape)


__all__ = [
    "SparseValue",
    "Strings",
    "Value",
    "as_value",
    "concat_rows",
    "concat_structures",
    "equal_strings",
    "flatten",
    "map_structure",
    "num_rows",
    "pack",
    "shape_of",
    "slice_rows",
    "slice_structure",
    "structure_rows",
    "take_rows",
    "take_structure",
]
