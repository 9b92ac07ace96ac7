"""What a TF program's ``input_fn`` returns, turned into mlengine's input forms.

Registered with :func:`mlengine.data.contract.register_input_adapter` when ``mlengine.tf`` is
imported, so the one estimator machinery reads:

* a **Dataset** (or a one-shot iterator of one): its elements are batches. When it ends in
  ``batch(n)`` (then perhaps ``prefetch``, or a ``map`` with a row-wise function) it becomes a
  chunked input: the rows before the batch, many at a time, cut into batches of ``n`` by the
  estimator, which encodes a chunk at a time;
* **tensors from** ``iterator.get_next()``, and ops on them (``features, table.lookup(label)``):
  the graph is computed for every element of the iterator's dataset (for the rows of many
  batches at once when every op is row-wise and the dataset ends in ``batch``);
* **concrete tensors** (``tf.constant(df[k].values)``, ``tf.SparseTensor(...)``): one constant
  batch of arrays, which training feeds at every step (as TF fed constant tensors);
* features that are one tensor instead of a dict (``tf.contrib.learn``'s ``x``): the feature
  ``""``, as contrib named it.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa

from mlengine.data.batches import num_rows, rebatch
from mlengine.data.contract import register_input_adapter
from mlengine.errors import DataError, NotSupportedError
from mlengine.tf._tensor import Env, SparseTensor, Tensor, evaluate, evaluate_sparse, walk
from mlengine.tf._traced import element_values, from_output
from mlengine.tf._values import SparseValue, Strings, Value, flatten, structure_rows
from mlengine.tf.data import Dataset, FinalBatch, Iterator_, split_final_batch
from mlengine.tuning import INPUT_CHUNK_ROWS as CHUNK_ROWS


def column(value: Value, what: str) -> Any:
    """A value as an estimator's batch column: numpy, or pyarrow for strings and lists."""
    if isinstance(value, Strings):
        shape = value.shape
        if not shape:
            raise DataError(f"{what} is a single value, not a batch: batch the dataset.")
        flat = value.flat
        if len(shape) == 1 or (len(shape) == 2 and shape[1] == 1):
            return flat
        width = int(np.prod(shape[1:]))
        offsets = pa.array(np.arange(0, shape[0] * width + 1, width, dtype=np.int32))
        return pa.ListArray.from_arrays(offsets, flat)
    if isinstance(value, SparseValue):
        return _sparse_column(value)
    array = np.asarray(value)
    if array.ndim == 0:
        raise DataError(f"{what} is a single value, not a batch: batch the dataset.")
    return array


def _sparse_column(value: SparseValue) -> Any:
    """A SparseTensor ``[n, m]`` as one value per row when every row has exactly one (a plain
    column), else a list column; missing rows become empty lists."""
    rows = value.dense_shape[0]
    first = value.indices[:, 0] if len(value.indices) else np.zeros(0, np.int64)
    order = np.argsort(first, kind="stable")
    counts = np.bincount(first, minlength=rows)
    values = value.values
    if isinstance(values, Strings):
        flat: Any = values.flat.take(pa.array(order)) if len(order) else values.flat
    else:
        flat = pa.array(np.asarray(values)[order])
    if (counts == 1).all():
        return (
            flat
            if isinstance(flat, pa.Array) and not isinstance(values, np.ndarray)
            else np.asarray(values)[order]
        )
    offsets = pa.array(np.concatenate([[0], np.cumsum(counts)]).astype(np.int32))
    return pa.ListArray.from_arrays(offsets, flat)


def _batch(features: Any, labels: Any) -> tuple[dict[str, Any], Any]:
    if not isinstance(features, Mapping):
        features = {"": features}  # contrib.learn's name for a lone feature tensor
    columns = {str(k): column(v, f"Feature {k!r}") for k, v in features.items()}
    return columns, None if labels is None else column(labels, "The labels")


def _split(element: Any) -> tuple[Any, Any]:
    if isinstance(element, tuple) and len(element) == 2:
        return element
    if isinstance(element, tuple) and len(element) == 1:
        return element[0], None
    return element, None


class DatasetBatches:
    """The batches of a dataset whose elements are batches, one element at a time."""

    def __init__(self, dataset: Dataset, seed: int | None = None) -> None:
        self.dataset = dataset
        self.seed = seed
        self.endless = dataset._endless()  # read by estimators that read an input whole

    def __iter__(self) -> Iterator[tuple[dict[str, Any], Any]]:
        for chunk in self.dataset._chunks(np.random.default_rng(self.seed)):
            for index in range(structure_rows(chunk)):
                element = element_values(chunk, index)
                yield _batch(*_split(element))


def _epochs(final: FinalBatch, convert: Callable[[Any], Any], seed: int | None) -> Iterator[Any]:
    """The converted chunks of ``final.rows`` (``convert`` applied after the row-wise
    functions); with a repeat after the batch, epoch by epoch, cut into whole batches with each
    epoch's last batch short (the estimator then takes the chunks as they are). Shuffles draw
    from a generator seeded by ``seed`` (None: fresh entropy)."""
    rng = np.random.default_rng(seed)

    def one_pass() -> Iterator[Any]:
        for chunk in final.rows._chunks(rng):
            for function in final.functions:
                chunk = function.on_chunk(chunk, batched=False)
            yield convert(chunk)

    if not final.repeated:
        yield from one_pass()
        return
    rows = math.ceil(CHUNK_ROWS / final.batch_size) * final.batch_size
    epoch = 0
    while final.epochs is None or epoch < final.epochs:
        seen = 0
        for piece in rebatch(one_pass(), rows):
            seen += num_rows(piece)
            yield piece
        if seen == 0:
            return
        epoch += 1


class ChunkedDataset:
    """A dataset ending in ``batch(batch_size)``: chunks of its rows (a ChunkedInput; with a
    repeat after the batch, its chunks are cut already: ``chunks_are_cut``)."""

    def __init__(self, final: FinalBatch, seed: int | None = None) -> None:
        self.final = final
        self.seed = seed
        self.batch_size = final.batch_size
        self.chunks_are_cut = final.repeated
        self.endless = final.rows._endless() or (final.repeated and final.epochs is None)

    def chunks(self) -> Iterator[tuple[dict[str, Any], Any]]:
        return _epochs(self.final, lambda chunk: _batch(*_split(chunk)), self.seed)


class GraphBatches:
    """What an input_fn built on ``iterator.get_next()``: its tensors computed per element of
    the iterator's dataset, or for many batches' rows at once (a ChunkedInput: ``batch_size``
    is then set) when every op is row-wise and the dataset ends in ``batch``."""

    batch_size: int | None = None
    chunks_are_cut = False

    def __init__(
        self, iterator: Iterator_, features: Any, labels: Any, seed: int | None = None
    ) -> None:
        self.iterator = iterator
        self.seed = seed
        self.endless = iterator.dataset._endless()
        self.features = features
        self.labels = labels
        roots = [
            leaf for leaf in flatten((features, labels)) if isinstance(leaf, Tensor | SparseTensor)
        ]
        from mlengine.tf._tensor import is_rowwise

        split = split_final_batch(iterator.dataset)
        self.split = split if split is not None and is_rowwise(roots) else None
        if self.split is not None:
            self.batch_size = self.split.batch_size
            self.chunks_are_cut = self.split.repeated

    def _compute(self, element: Any) -> tuple[dict[str, Any], Any]:
        env = Env({self.iterator: (element, False)})

        def compute(leaf: Any) -> Value:
            if isinstance(leaf, SparseTensor):
                return evaluate_sparse(leaf, env).value
            if isinstance(leaf, Tensor):
                return evaluate(leaf, env).value
            return from_output(leaf)

        from mlengine.tf._values import map_structure

        features = (
            map_structure(compute, self.features)
            if isinstance(self.features, dict)
            else compute(self.features)
        )
        labels = None if self.labels is None else map_structure(compute, self.labels)
        return _batch(features, labels)

    def chunks(self) -> Iterator[tuple[dict[str, Any], Any]]:
        assert self.split is not None
        return _epochs(self.split, self._compute, self.seed)

    def __iter__(self) -> Iterator[tuple[dict[str, Any], Any]]:
        for chunk in self.iterator.dataset._chunks(np.random.default_rng(self.seed)):
            for index in range(structure_rows(chunk)):
                yield self._compute(element_values(chunk, index))


def dataset_input(dataset: Dataset, seed: int | None = None) -> Any:
    """A dataset as an estimator reads it; its shuffles seeded by ``seed`` (the estimator's
    ``tf_random_seed``, as TF's graph seed seeded them; None: fresh entropy)."""
    split = split_final_batch(dataset)
    if split is not None:
        return ChunkedDataset(split, seed)
    return DatasetBatches(dataset, seed)


def adapt(value: Any, seed: int | None = None) -> Any:
    """The input adapter (see the module docstring); None for values it does not know."""
    if isinstance(value, Dataset):
        return dataset_input(value, seed)
    if isinstance(value, Iterator_):
        return dataset_input(value.dataset, seed)
    if isinstance(value, tuple) and len(value) == 2:
        features, labels = value
    elif isinstance(value, Mapping | Tensor | SparseTensor):
        features, labels = value, None
    else:
        return None
    leaves = flatten((dict(features) if isinstance(features, Mapping) else features, labels))
    tensors = [leaf for leaf in leaves if isinstance(leaf, Tensor | SparseTensor)]
    if not tensors:
        return None
    nodes = walk(tensors)
    placeholders = [n for n in nodes if n.op == "placeholder"]
    if placeholders:
        raise NotSupportedError(
            f"input_fn returns tensors computed from tf.placeholder {placeholders[0].name}: a "
            "training input has no feed_dict here; return arrays, a Dataset or an iterator's "
            "get_next() instead."
        )
    sources = {n.attrs["source"] for n in nodes if n.op == "element"}
    if not sources:  # everything concrete: one constant batch of arrays
        batch = _batch(
            {k: from_output(v) for k, v in features.items()}
            if isinstance(features, Mapping)
            else from_output(features),
            None if labels is None else from_output(labels),
        )
        return batch if labels is not None else batch[0]
    if len(sources) > 1 or not all(isinstance(s, Iterator_) for s in sources):
        raise NotSupportedError("input_fn returns tensors of more than one dataset iterator.")
    features = dict(features) if isinstance(features, Mapping) else features
    return GraphBatches(next(iter(sources)), features, labels, seed)


register_input_adapter(adapt)


__all__ = ["ChunkedDataset", "DatasetBatches", "GraphBatches", "adapt", "column", "dataset_input"]
