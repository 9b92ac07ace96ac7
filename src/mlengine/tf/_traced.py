"""Elements and the functions of ``Dataset.map`` / ``filter``: traced once, run on chunks.

A function is called once on symbolic tensors standing for one element (as TensorFlow traces
it); the recorded graph then runs on a whole chunk of elements, batched (see
:mod:`mlengine.tf._tensor`). A function that cannot be traced runs per element instead, with
concrete tensors, and a warning says so once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import numpy as np
import pyarrow as pa

from mlengine.errors import NotSupportedError
from mlengine.tf import dtypes
from mlengine.tf._tensor import (
    Env,
    SparseTensor,
    SymbolicValueError,
    Tensor,
    convert,
    evaluate,
    evaluate_sparse,
    is_rowwise,
    sources_of,
)
from mlengine.tf._values import (
    SparseValue,
    Strings,
    Value,
    as_value,
    concat_structures,
    flatten,
    map_structure,
    structure_rows,
)

logger = logging.getLogger("mlengine")


# -- one element <-> a chunk of one -----------------------------------------------------------


def add_axis(value: Value) -> Value:
    """A value as a chunk of one row (a leading axis of 1)."""
    if isinstance(value, Strings):
        return Strings(value.flat, (1, *value.shape))
    if isinstance(value, SparseValue):
        indices = np.concatenate(
            [np.zeros((len(value.indices), 1), np.int64), value.indices], axis=1
        )
        return SparseValue(indices, value.values, (1, *value.dense_shape))
    return np.asarray(value)[None]


def row(chunk_value: Value, index: int) -> Value:
    """Row ``index`` of a chunk, without the leading axis."""
    if isinstance(chunk_value, Strings):
        size = int(np.prod(chunk_value.shape[1:]))
        return Strings(chunk_value.flat.slice(index * size, size), chunk_value.shape[1:])
    if isinstance(chunk_value, SparseValue):
        keep = chunk_value.indices[:, 0] == index
        values = chunk_value.values
        picked = (
            Strings(values.flat.filter(pa.array(keep)), (int(keep.sum()),))
            if isinstance(values, Strings)
            else values[keep]
        )
        return SparseValue(chunk_value.indices[keep][:, 1:], picked, chunk_value.dense_shape[1:])
    return np.asarray(chunk_value)[index]


def element_values(chunk: Any, index: int) -> Any:
    """Element ``index`` of a chunk, as values."""
    return map_structure(lambda value: row(value, index), chunk)


def element_tensors(chunk: Any, index: int) -> Any:
    """Element ``index`` of a chunk, as concrete tensors."""
    return map_structure(lambda value: to_tensor(row(value, index)), chunk)


def to_tensor(value: Value) -> Any:
    if isinstance(value, SparseValue):
        return SparseTensor(
            value.indices, Tensor("const", value=value.values), np.asarray(value.dense_shape)
        )
    return Tensor("const", value=value)


def from_output(output: Any) -> Value:
    """A leaf (tensor, SparseTensor or Python value: a function's output, a from_tensors
    component, what an input_fn returns) as a value."""
    if isinstance(output, SparseTensor):
        return output.value()
    if isinstance(output, Tensor):
        return output.value
    return as_value(output)


def _spec_of(value: Value) -> Any:
    if isinstance(value, SparseValue):
        return (
            "sparse",
            dtypes.string
            if isinstance(value.values, Strings)
            else dtypes.as_dtype(value.values.dtype),
        )
    if isinstance(value, Strings):
        return dtypes.string
    return dtypes.as_dtype(np.asarray(value).dtype)


# -- traced functions -----------------------------------------------------------------------------


class TracedFunction:
    """A function of a dataset's element, traced once (or, failing that, run per element)."""

    def __init__(self, function: Callable[..., Any], spec: Any) -> None:
        self.function = function
        self.spec = spec
        self.token = object()
        self.outputs: Any = None
        self.per_element = False
        symbolic = symbolic_element(spec, self.token)
        try:
            result = self._call(symbolic)
            result = map_structure(
                lambda leaf: leaf if isinstance(leaf, Tensor | SparseTensor) else convert(leaf),
                result,
            )
            if not sources_of(flatten(result)) <= {self.token}:
                raise NotSupportedError("the function reads another dataset's iterator")
        except (
            SymbolicValueError,
            NotSupportedError,
            TypeError,
            ValueError,
            AttributeError,
        ) as exc:
            name = getattr(function, "__name__", repr(function))
            logger.warning(
                "Dataset.map/filter: %s could not be traced (%s: %s); it runs per element in "
                "Python, tens of microseconds per element and op instead of a vectorised pass.",
                name,
                type(exc).__name__,
                exc,
            )
            self.per_element = True
            return
        self.outputs = result

    def _call(self, element: Any) -> Any:
        if isinstance(element, tuple):
            return self.function(*element)
        return self.function(element)

    @property
    def rowwise(self) -> bool:
        return not self.per_element and is_rowwise(flatten(self.outputs))

    def on_chunk(self, chunk: Any, batched: bool = True) -> Any:
        """The outputs for a chunk of elements (``batched``: elements stacked on a leading
        axis; not batched: the chunk is one element, a batch, for a row-wise function)."""
        if self.per_element:
            return self._per_element(chunk)
        env = Env({self.token: (chunk, batched)})
        rows = structure_rows(chunk) if batched else 0

        def compute(leaf: Any) -> Value:
            result = (
                evaluate_sparse(leaf, env)
                if isinstance(leaf, SparseTensor)
                else evaluate(leaf, env)
            )
            if batched and not result.batched:  # a constant: the same for every element
                return _broadcast(result.value, rows)
            return result.value

        return map_structure(compute, self.outputs)

    def _per_element(self, chunk: Any) -> Any:
        outputs = []
        for index in range(structure_rows(chunk)):
            element = element_tensors(chunk, index)
            result = self._call(element)
            outputs.append(map_structure(lambda leaf: add_axis(from_output(leaf)), result))
        return concat_structures(outputs)


def _broadcast(value: Value, rows: int) -> Value:
    if isinstance(value, Strings):
        flat = pa.concat_arrays([value.flat] * rows) if rows else value.flat.slice(0, 0)
        return Strings(flat, (rows, *value.shape))
    if isinstance(value, SparseValue):
        raise NotSupportedError("A constant SparseTensor returned from a Dataset.map function.")
    array = np.asarray(value)
    return np.broadcast_to(array, (rows, *array.shape)).copy()


def _no_sparse(path: tuple[Any, ...], dtype: Any) -> Any:
    raise NotSupportedError("SparseTensor elements")  # the tracer does not record those


def symbolic_element(
    spec: Any, source: object, sparse: Callable[[tuple[Any, ...], Any], Any] = _no_sparse
) -> Any:
    """A dataset element's structure (``spec``: dicts, tuples and lists of dtypes, and
    ``("sparse", dtype)`` leaves) as symbolic tensors of ``source``, each named by its path;
    ``sparse(path, dtype)`` stands for a sparse leaf."""

    def build(node: Any, path: tuple[Any, ...]) -> Any:
        if isinstance(node, dict):
            return {k: build(v, (*path, k)) for k, v in node.items()}
        if isinstance(node, tuple) and not (len(node) == 2 and node[0] == "sparse"):
            return tuple(build(v, (*path, i)) for i, v in enumerate(node))
        if isinstance(node, list):
            return [build(v, (*path, i)) for i, v in enumerate(node)]
        if isinstance(node, tuple):
            return sparse(path, node[1])
        return Tensor("element", attrs={"source": source, "path": path}, dtype=node)

    return build(spec, ())


__all__ = [
    "TracedFunction",
    "add_axis",
    "element_tensors",
    "element_values",
    "from_output",
    "row",
    "symbolic_element",
    "to_tensor",
]
