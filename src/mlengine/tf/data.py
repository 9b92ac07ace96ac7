"""``tf.data``: the Dataset methods estimator programs use, moving chunks of rows, not elements.

A dataset describes a pipeline; iterating it runs the pipeline on **chunks** of up to 65,536
elements at once (numpy and pyarrow columns, see :mod:`mlengine.tf._values`): a source reads a
file (or slices arrays) a chunk at a time, ``map`` computes its function on a whole chunk,
``shuffle`` draws rows through a buffer, ``repeat`` restarts, ``batch`` cuts batches. The
results are TensorFlow's, up to the order a seeded shuffle gives.

``map`` and ``filter`` functions are **traced** once, as TensorFlow traces them: called on
symbolic tensors standing for one element, they record a small graph of the façade's ops
(:mod:`mlengine.tf._ops`), which then runs on every chunk, vectorised (TF's map-and-batch fusion,
over a chunk instead of a batch). A function the tracer cannot record (Python ``if`` on a
value, ``.numpy()``, numpy calls on a tensor, an op the façade lacks...) runs **per element**
instead, with concrete tensors: correct, but tens of microseconds per element and op where the
vectorised run costs nanoseconds; a warning says so once per function.

After ``batch(n)``, an element is a batch. Datasets that end in ``batch`` (then perhaps
``prefetch``, or ``map`` with a row-wise function) are handed to the estimator as chunks plus
the batch size, so that the estimator encodes a chunk at a time as it does its own input
functions (see :mod:`mlengine.tf._inputs`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mlengine.errors import DataError, InvalidParameterError
from mlengine.tf import dtypes
from mlengine.tf._namespace import Namespace, module_getattr, register
from mlengine.tf._tensor import (
    SparseTensor,
    Tensor,
)
from mlengine.tf._traced import (
    TracedFunction,
    _spec_of,
    add_axis,
    element_tensors,
    element_values,
    from_output,
    row,
    symbolic_element,
)
from mlengine.tf._values import (
    as_value,
    concat_structures,
    flatten,
    map_structure,
    pack,
    slice_structure,
    structure_rows,
    take_structure,
)
from mlengine.tuning import INPUT_CHUNK_ROWS as CHUNK_ROWS

logger = logging.getLogger("mlengine")
AUTOTUNE = -1
# tf.random.set_seed / tf.compat.v1.set_random_seed: seeds a dataset iterated by the program
# itself (an estimator seeds its input's shuffles with RunConfig(tf_random_seed)).
GLOBAL_SEED: list[int | None] = [None]


# -- datasets -----------------------------------------------------------------------------------


class Dataset:
    """``tf.data.Dataset``: build with the constructors below, transform with the methods."""

    # -- what subclasses provide
    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        """Chunks of elements (a structure of values with a leading element axis)."""
        raise NotImplementedError

    def _spec(self) -> Any:
        """The element structure with a dtype (or ``("sparse", dtype)``) per leaf."""
        rng = np.random.default_rng(0)
        for chunk in self._chunks(rng):
            return map_structure(_spec_of, chunk)
        raise DataError("The dataset is empty, so its element types are unknown.")

    @property
    def element_spec(self) -> Any:
        return self._spec()

    @property
    def output_types(self) -> Any:
        return self._spec()

    # -- iteration (TF 2's eager iteration; TF 1's one-shot iterators)
    def __iter__(self) -> Iterator[Any]:
        for chunk in self._chunks(np.random.default_rng(GLOBAL_SEED[0])):
            for index in range(structure_rows(chunk)):
                yield element_tensors(chunk, index)

    def make_one_shot_iterator(self) -> Iterator_:
        """TF 1's ``dataset.make_one_shot_iterator()``."""
        return Iterator_(self)

    def make_initializable_iterator(self, shared_name: str | None = None) -> Iterator_:
        return Iterator_(self)

    def as_numpy_iterator(self) -> Iterator[Any]:
        for element in self:
            yield map_structure(lambda t: t.numpy() if isinstance(t, Tensor) else t, element)

    # -- constructors
    @staticmethod
    def from_tensor_slices(tensors: Any, name: str | None = None) -> Dataset:
        """Elements are the rows of ``tensors`` (a structure of arrays, Series or tensors)."""
        return _Slices(tensors)

    @staticmethod
    def from_tensors(tensors: Any, name: str | None = None) -> Dataset:
        """One element: ``tensors`` itself."""
        return _Slices(map_structure(lambda v: add_axis(from_output(v)), _structure(tensors)))

    @staticmethod
    def list_files(
        file_pattern: Any,
        shuffle: bool | None = None,
        seed: int | None = None,
        name: str | None = None,
    ) -> Dataset:
        """The files matching ``file_pattern`` (shuffled each iteration unless shuffle=False,
        as TF's)."""
        return _Files(file_pattern, True if shuffle is None else bool(shuffle), seed)

    @staticmethod
    def range(*args: int, output_type: Any = dtypes.int64, name: str | None = None) -> Dataset:
        return _Slices(np.arange(*args, dtype=dtypes.as_dtype(output_type).as_numpy_dtype))

    @staticmethod
    def zip(datasets: Any, name: str | None = None) -> Dataset:
        return _Zip(datasets)

    # -- transformations
    def map(
        self,
        map_func: Callable[..., Any],
        num_parallel_calls: Any = None,
        deterministic: Any = None,
        name: str | None = None,
    ) -> Dataset:
        """Apply ``map_func`` to every element (traced once, run on chunks: see the module)."""
        return _Map(self, map_func)

    def filter(self, predicate: Callable[..., Any], name: str | None = None) -> Dataset:
        """Keep the elements for which ``predicate`` is true."""
        return _Filter(self, predicate)

    def shuffle(
        self,
        buffer_size: int,
        seed: int | None = None,
        reshuffle_each_iteration: bool | None = None,
        name: str | None = None,
    ) -> Dataset:
        """Each element drawn at random from a buffer of ``buffer_size`` (then refilled)."""
        return _Shuffle(self, int(buffer_size), seed)

    def _endless(self) -> bool:
        """Whether the dataset never ends: a ``repeat()`` for ever, not cut by a ``take``
        after it (datasets of several inputs answer False: not known)."""
        dataset: Any = self
        while dataset is not None:
            if isinstance(dataset, _Repeat) and dataset.count is None:
                return True
            if isinstance(dataset, _Take) and not dataset.skipping and dataset.count >= 0:
                return False
            dataset = dataset.upstream if isinstance(dataset, _Unary) else None
        return False

    def repeat(self, count: int | None = None, name: str | None = None) -> Dataset:
        """The dataset ``count`` times (None or -1: for ever)."""
        count = None if count is None or int(count) < 0 else int(count)
        return _Repeat(self, count)

    def batch(
        self,
        batch_size: int,
        drop_remainder: bool = False,
        num_parallel_calls: Any = None,
        deterministic: Any = None,
        name: str | None = None,
    ) -> Dataset:
        """Consecutive elements stacked into batches of ``batch_size``."""
        return _Batch(self, int(batch_size), bool(drop_remainder))

    def prefetch(self, buffer_size: Any, name: str | None = None) -> Dataset:
        """Accepted; the pipeline runs in the training loop's thread (no prefetching)."""
        return _Pass(self)

    def cache(self, filename: str = "", name: str | None = None) -> Dataset:
        """Keep the elements of the first complete pass in memory (a ``filename`` too:
        the cache is in memory either way)."""
        return _Cache(self)

    def skip(self, count: int, name: str | None = None) -> Dataset:
        return _Take(self, int(count), skip=True)

    def take(self, count: int, name: str | None = None) -> Dataset:
        return _Take(self, int(count), skip=False)

    def interleave(
        self,
        map_func: Callable[..., Any],
        cycle_length: Any = None,
        block_length: Any = None,
        num_parallel_calls: Any = None,
        deterministic: Any = None,
        name: str | None = None,
    ) -> Dataset:
        """``map_func`` makes a dataset per element; their chunks are interleaved, a chunk from
        each open one in turn (TF interleaves ``block_length`` elements: the order differs)."""
        cycle = 1 if cycle_length in (None, AUTOTUNE) else max(1, int(cycle_length))
        return _Interleave(self, map_func, cycle if cycle_length is not None else 1)

    def flat_map(self, map_func: Callable[..., Any], name: str | None = None) -> Dataset:
        return _Interleave(self, map_func, 1)

    def concatenate(self, dataset: Dataset, name: str | None = None) -> Dataset:
        return _Concatenate(self, dataset)

    def unbatch(self, name: str | None = None) -> Dataset:
        return _Unbatch(self)

    def apply(self, transformation_func: Callable[[Dataset], Dataset]) -> Dataset:
        return transformation_func(self)

    def with_options(self, options: Any, name: str | None = None) -> Dataset:
        return self

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        from mlengine.tf._namespace import unsupported

        raise unsupported(f"tf.data.Dataset.{name}")


def _structure(tensors: Any) -> Any:
    """A structure to hold: dicts/tuples/lists of leaves (pandas DataFrames as dicts)."""
    if hasattr(tensors, "columns") and hasattr(tensors, "items"):  # a DataFrame
        return {str(k): v for k, v in tensors.items()}
    if isinstance(tensors, dict):
        return {str(k): _structure(v) for k, v in tensors.items()}
    if isinstance(tensors, tuple):
        return tuple(_structure(v) for v in tensors)
    if isinstance(tensors, list):  # a list is one tensor (TF converts it), not a structure
        return as_value(tensors)
    return tensors


class _Unary(Dataset):
    def __init__(self, upstream: Dataset) -> None:
        self.upstream = upstream

    def _spec(self) -> Any:
        return self.upstream._spec()


class _Pass(_Unary):
    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        return self.upstream._chunks(rng)


class _Map(_Unary):
    def __init__(self, upstream: Dataset, function: Callable[..., Any]) -> None:
        super().__init__(upstream)
        self.function = function
        self._traced: TracedFunction | None = None

    @property
    def traced(self) -> TracedFunction:
        if self._traced is None:
            try:
                spec = self.upstream._spec()
            except DataError:
                spec = None
            if spec is None:
                self._traced = TracedFunction.__new__(TracedFunction)
                self._traced.function, self._traced.per_element = self.function, True
            else:
                self._traced = TracedFunction(self.function, spec)
        return self._traced

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        traced = self.traced
        for chunk in self.upstream._chunks(rng):
            yield traced.on_chunk(chunk)

    def _spec(self) -> Any:
        traced = self.traced
        if traced.per_element:
            return Dataset._spec(self)
        return map_structure(
            lambda leaf: ("sparse", leaf.dtype) if isinstance(leaf, SparseTensor) else leaf.dtype,
            traced.outputs,
        )


class _Filter(_Map):
    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        traced = self.traced
        for chunk in self.upstream._chunks(rng):
            keep = np.asarray(traced.on_chunk(chunk)).reshape(-1).astype(bool)
            if keep.all():
                yield chunk
            elif keep.any():
                yield take_structure(chunk, np.flatnonzero(keep))

    def _spec(self) -> Any:
        return self.upstream._spec()


class _Shuffle(_Unary):
    def __init__(self, upstream: Dataset, buffer_size: int, seed: int | None) -> None:
        super().__init__(upstream)
        if buffer_size < 1:
            raise InvalidParameterError(f"shuffle(buffer_size) must be >= 1; got {buffer_size}.")
        self.buffer_size = buffer_size
        self.seed = seed
        self.iterations = 0

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        if self.seed is not None:
            # An op seed alone makes TF's order repeat from run to run, reshuffled on each
            # iteration: the seed and the iteration's number.
            rng = np.random.default_rng([self.seed, self.iterations])
            self.iterations += 1
        pending: list[Any] = []
        rows = 0
        for chunk in self.upstream._chunks(rng):
            n = structure_rows(chunk)
            if n == 0:
                continue
            pending.append(chunk)
            rows += n
            if rows >= self.buffer_size + CHUNK_ROWS:
                # Emit a random CHUNK_ROWS of what is buffered; the rest stays (buffer_size).
                buffered = concat_structures(pending)
                order = rng.permutation(rows)
                out = rows - self.buffer_size
                yield take_structure(buffered, order[:out])
                pending, rows = [take_structure(buffered, order[out:])], self.buffer_size
        if pending:
            yield take_structure(concat_structures(pending), rng.permutation(rows))


class _Repeat(_Unary):
    def __init__(self, upstream: Dataset, count: int | None) -> None:
        super().__init__(upstream)
        self.count = count

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        epoch = 0
        while self.count is None or epoch < self.count:
            rows = 0
            for chunk in self.upstream._chunks(rng):
                rows += structure_rows(chunk)
                yield chunk
            if rows == 0:
                return  # nothing to repeat (TF stops too)
            epoch += 1


class _Batch(_Unary):
    def __init__(self, upstream: Dataset, batch_size: int, drop_remainder: bool) -> None:
        super().__init__(upstream)
        if batch_size < 1:
            raise InvalidParameterError(f"batch(batch_size) must be >= 1; got {batch_size}.")
        self.size = batch_size
        self.drop_remainder = drop_remainder

    def batches(self, rng: np.random.Generator) -> Iterator[Any]:
        """Batches (structures of ``batch_size`` rows) cut from the upstream chunks."""
        pending: list[Any] = []
        rows = 0
        size = self.size
        for chunk in self.upstream._chunks(rng):
            n = structure_rows(chunk)
            start = 0
            if pending:
                need = size - rows
                if n < need:
                    pending.append(chunk)
                    rows += n
                    continue
                pending.append(slice_structure(chunk, 0, need))
                yield concat_structures(pending)
                pending, rows, start = [], 0, need
            while start + size <= n:
                yield slice_structure(chunk, start, start + size)
                start += size
            if start < n:
                pending, rows = [slice_structure(chunk, start, n)], n - start
        if pending and not self.drop_remainder:
            yield concat_structures(pending)

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        for batch in self.batches(rng):
            yield map_structure(add_axis, batch)


class _Unbatch(_Unary):
    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        for chunk in self.upstream._chunks(rng):
            for index in range(structure_rows(chunk)):
                yield element_values(chunk, index)


class _Cache(_Unary):
    def __init__(self, upstream: Dataset) -> None:
        super().__init__(upstream)
        self.cached: list[Any] | None = None

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        if self.cached is not None:
            yield from self.cached
            return
        filling: list[Any] = []
        for chunk in self.upstream._chunks(rng):
            filling.append(chunk)
            yield chunk
        self.cached = filling  # only a complete pass is kept (TF's rule)


class _Take(_Unary):
    def __init__(self, upstream: Dataset, count: int, skip: bool) -> None:
        super().__init__(upstream)
        self.count = count
        self.skipping = skip

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        left = self.count
        for chunk in self.upstream._chunks(rng):
            n = structure_rows(chunk)
            if self.skipping:
                if left <= 0 or self.count < 0:
                    yield chunk
                elif n > left:
                    yield slice_structure(chunk, left, n)
                    left = 0
                else:
                    left -= n
                continue
            if self.count < 0:
                yield chunk
                continue
            if left <= 0:
                return
            yield chunk if n <= left else slice_structure(chunk, 0, left)
            left -= n


class _Interleave(_Unary):
    def __init__(self, upstream: Dataset, function: Callable[..., Any], cycle: int) -> None:
        super().__init__(upstream)
        self.function = function
        self.cycle = cycle

    def _datasets(self, rng: np.random.Generator) -> Iterator[Dataset]:
        for chunk in self.upstream._chunks(rng):
            for index in range(structure_rows(chunk)):
                element = element_tensors(chunk, index)
                made = (
                    self.function(*element)
                    if isinstance(element, tuple)
                    else self.function(element)
                )
                if not isinstance(made, Dataset):
                    raise InvalidParameterError(
                        "interleave/flat_map functions return a Dataset; got "
                        f"{type(made).__name__}."
                    )
                yield made

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        sources = self._datasets(rng)
        active: list[Iterator[Any]] = []
        exhausted = False
        while True:
            while not exhausted and len(active) < self.cycle:
                nxt = next(sources, None)
                if nxt is None:
                    exhausted = True
                    break
                active.append(nxt._chunks(rng))
            if not active:
                return
            for stream in list(active):
                chunk = next(stream, None)
                if chunk is None:
                    active.remove(stream)
                else:
                    yield chunk

    def _spec(self) -> Any:
        return Dataset._spec(self)


class _Concatenate(Dataset):
    def __init__(self, first: Dataset, second: Dataset) -> None:
        self.first, self.second = first, second

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        yield from self.first._chunks(rng)
        yield from self.second._chunks(rng)

    def _spec(self) -> Any:
        return self.first._spec()


class _Zip(Dataset):
    def __init__(self, datasets: Any) -> None:
        self.datasets = datasets

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        leaves = flatten(self.datasets)
        streams = [d._chunks(rng) for d in leaves]
        pending: list[Any] = [None] * len(streams)
        while True:
            for i, stream in enumerate(streams):
                if pending[i] is None or structure_rows(pending[i]) == 0:
                    pending[i] = next(stream, None)
                    if pending[i] is None:
                        return
            n = min(structure_rows(p) for p in pending)
            yield pack(self.datasets, [slice_structure(p, 0, n) for p in pending])
            pending = [slice_structure(p, n, structure_rows(p)) for p in pending]

    def _spec(self) -> Any:
        return pack(self.datasets, [d._spec() for d in flatten(self.datasets)])


# -- iterators --------------------------------------------------------------------------------


class Iterator_:  # noqa: N801  (TF's tf.compat.v1.data.Iterator)
    """A one-shot iterator: ``get_next()`` gives tensors standing for the next element (an
    input_fn returns them, and the estimator reads the dataset); ``next()`` gives concrete
    elements (TF 2's iterators)."""

    def __init__(self, dataset: Dataset) -> None:
        self.dataset = dataset
        self._eager: Iterator[Any] | None = None

    def get_next(self, name: str | None = None) -> Any:
        return symbolic_element(
            self.dataset._spec(), self, lambda path, dtype: _SparseElement(self, path, dtype)
        )

    def __iter__(self) -> Iterator_:
        return self

    def __next__(self) -> Any:
        if self._eager is None:
            self._eager = iter(self.dataset)
        return next(self._eager)

    def initializer(self) -> None:  # pragma: no cover - TF1 sessions only
        return None


def _SparseElement(source: Any, path: tuple[Any, ...], dtype: Any) -> SparseTensor:  # noqa: N802
    """A symbolic SparseTensor standing for a sparse component of the next element."""
    parts = [
        Tensor("element", attrs={"source": source, "path": path, "part": part}, dtype=d)
        for part, d in (("indices", dtypes.int64), ("values", dtype), ("dense_shape", dtypes.int64))
    ]
    sparse = SparseTensor.__new__(SparseTensor)
    sparse.indices, sparse.values, sparse.dense_shape = parts
    return sparse


def make_one_shot_iterator(dataset: Dataset) -> Iterator_:
    """``tf.compat.v1.data.make_one_shot_iterator(dataset)``."""
    return Iterator_(dataset)


@dataclass(frozen=True)
class FinalBatch:
    """A dataset that ends in ``batch``: its ``rows`` (the dataset before the batch), the
    ``batch_size``, the row-wise ``functions`` mapped after the batch, and ``epochs``: None,
    or how often (None: for ever) a ``repeat`` after the batch starts the rows again (each
    epoch then ends with its own short batch, as TF's ``batch(n).repeat()``)."""

    rows: Dataset
    batch_size: int
    functions: list[TracedFunction]
    repeated: bool = False
    epochs: int | None = None


def split_final_batch(dataset: Dataset) -> FinalBatch | None:
    """How ``dataset`` ends in a batch, when it does: ``rows.batch(n)``, then perhaps
    ``prefetch``, ``map`` with row-wise functions and one ``repeat``, so that its elements are
    the rows of ``rows`` cut into batches of ``n`` (functions applied to many rows at once)."""
    functions: list[TracedFunction] = []
    repeat: _Repeat | None = None
    node = dataset
    while True:
        if isinstance(node, _Pass):
            node = node.upstream
        elif isinstance(node, _Repeat) and repeat is None:
            repeat = node
            node = node.upstream
        elif isinstance(node, _Map) and not isinstance(node, _Filter):
            traced = node.traced
            if not traced.rowwise:
                return None
            functions.insert(0, traced)
            node = node.upstream
        elif isinstance(node, _Batch):
            if node.drop_remainder:
                return None
            if repeat is None:
                return FinalBatch(node.upstream, node.size, functions)
            return FinalBatch(node.upstream, node.size, functions, True, repeat.count)
        else:
            return None


__getattr__ = module_getattr("tf.data")

from mlengine.tf._csv_dataset import CsvDataset, make_csv_dataset  # noqa: E402
from mlengine.tf._sources import (  # noqa: E402  (they subclass Dataset, defined above)
    TextLineDataset,
    TFRecordDataset,
    _Files,
    _Slices,
    split_lines,
)

experimental = register(
    Namespace(
        "mlengine.tf.data.experimental",
        "tf.data.experimental",
        {
            "AUTOTUNE": AUTOTUNE,
            "CsvDataset": CsvDataset,
            "make_csv_dataset": make_csv_dataset,
        },
    )
)

__all__ = [
    "AUTOTUNE",
    "FinalBatch",
    "experimental",
    "Dataset",
    "Iterator_",
    "TFRecordDataset",
    "TextLineDataset",
    "TracedFunction",
    "add_axis",
    "make_one_shot_iterator",
    "row",
    "split_final_batch",
    "split_lines",
]
