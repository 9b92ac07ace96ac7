"""FeatureTransformer: the one path from raw feature batches to model inputs.

Training, evaluation, the Predictor and the server all call :meth:`FeatureTransformer.transform`
(or :func:`transform_all`), so preprocessing can never differ between them. The output
(:class:`EncodedFeatures`) has three parts, each a handful of numpy arrays, whatever the number
of columns:

* ``sparse_ids`` / ``sparse_weights`` ``[n, S]``: every categorical column used directly (the
  linear, "wide" part), ids offset into one id space, with per-id weights that implement the
  ``sum`` / ``mean`` / ``sqrtn`` combiner (weight 0 marks a missing value);
* ``dense`` ``[n, D]``: dense columns' values (numeric columns, then indicators' multi-hots);
* ``embedding_ids`` / ``embedding_weights``: one ``[n, L]`` pair per embedding column.

Columns are laid out in name order, as TensorFlow builds its layers. Each column computes its
own output (its home in :mod:`mlengine.feature_column.columns`); this module only places them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, Self, TypeVar

import numpy as np

from mlengine import tuning
from mlengine.errors import InvalidParameterError
from mlengine.feature_column.columns import (
    COMBINERS,
    CategoricalColumn,
    DenseColumn,
    EmbeddingColumn,
    EmbeddingSpec,
    FeatureColumn,
    check_unique_names,
)
from mlengine.feature_column.encoding import (
    FeatureBatch,
    Ids,
    RawBatch,
    as_feature_dict,
    combine,
    count_rows,
)
from mlengine.feature_column.memory import ValueMemory

A = TypeVar("A")
"""The array type of :class:`EncodedFeatures`: numpy arrays here, torch tensors in a model."""


@dataclass(frozen=True)
class EncodedFeatures(Generic[A]):
    """Model inputs for ``n`` rows (see the module docstring for the layout), as numpy arrays
    (what the transform returns) or any other array type with numpy's indexing and ``shape``
    (:class:`mlengine.model.FeatureTensors` holds torch tensors)."""

    sparse_ids: A
    sparse_weights: A
    dense: A
    embedding_ids: tuple[A, ...]
    embedding_weights: tuple[A, ...]

    @property
    def num_rows(self) -> int:
        return int(self.dense.shape[0])  # type: ignore[attr-defined]

    def map(self, f: Callable[[A], A]) -> Self:
        """The same layout with ``f`` applied to every array (a slice, a move to a device)."""
        return type(self)(
            f(self.sparse_ids),
            f(self.sparse_weights),
            f(self.dense),
            tuple(map(f, self.embedding_ids)),
            tuple(map(f, self.embedding_weights)),
        )

    def slice(self, start: int, stop: int) -> Self:
        """Rows ``[start, stop)`` as views (no copy)."""
        return self.map(lambda a: a[start:stop])  # type: ignore[index]


class _ColumnIds:
    """The ids of each categorical column in one batch, computed once (crosses, indicators and
    embeddings reuse their inner columns' ids). A class rather than a closure, so that the
    batch's arrays are freed as soon as the transform returns (a self-referencing closure
    would keep them until the garbage collector runs)."""

    def __init__(self, batch: FeatureBatch):
        self.batch = batch
        self.memo: dict[CategoricalColumn, Ids] = {}

    def ids_of(self, column: CategoricalColumn) -> Ids:
        found = self.memo.get(column)
        if found is None:
            found = self.memo[column] = column.transform_ids(self.batch, self.ids_of)
        return found


class FeatureTransformer:
    """Turns raw feature batches into :class:`EncodedFeatures` for a list of feature columns.

    Args:
        feature_columns: the columns; categorical columns feed the sparse (wide) part, dense
            columns (numeric, indicator) the dense matrix, embedding columns the embedding
            lookups. A bucketized column is categorical here; wrap it in ``indicator_column``
            to use it densely (the DNN estimators do this for you, as TensorFlow does).
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
        by_output: dict[str, list[Any]] = {"sparse": [], "dense": [], "embedding": []}
        for column in self.feature_columns:
            by_output[column.output].append(column)
        self.sparse_columns: tuple[CategoricalColumn, ...] = tuple(by_output["sparse"])
        self.dense_columns: tuple[DenseColumn, ...] = tuple(
            sorted(by_output["dense"], key=lambda c: (c.dense_order, c.name))
        )
        self.embedding_columns: tuple[EmbeddingColumn, ...] = tuple(by_output["embedding"])
        offsets = np.cumsum([0] + [c.num_buckets for c in self.sparse_columns])
        self.sparse_offsets = tuple(int(o) for o in offsets[:-1])
        self.num_sparse_ids = int(offsets[-1])
        self.dense_width = sum(c.width for c in self.dense_columns)
        self.embedding_specs: tuple[EmbeddingSpec, ...] = tuple(
            c.embedding_spec() for c in self.embedding_columns
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
        batch = FeatureBatch(features)
        return self._transform(batch, _ColumnIds(batch))

    def _transform(self, batch: FeatureBatch, memo: _ColumnIds) -> EncodedFeatures:
        n, ids_of = batch.n, memo.ids_of
        sparse = [combine(ids_of(c), self.sparse_combiner) for c in self.sparse_columns]
        dense = [c.transform_dense(batch, ids_of) for c in self.dense_columns]

        # Outputs are allocated once and filled column by column: no concatenation copies.
        # They are filled in blocks of rows, so that a block of the (wide, row-major) outputs
        # stays in cache while every column writes its slice into it.
        slots = sum(s.ids.shape[1] for s in sparse)
        sparse_ids = np.empty((n, slots), dtype=np.int64)
        sparse_weights = np.empty((n, slots), dtype=np.float32)
        dense_values = np.zeros((n, self.dense_width), dtype=np.float32)
        for r0 in range(0, n, tuning.TRANSFORM_BLOCK_ROWS):
            rows = slice(r0, min(n, r0 + tuning.TRANSFORM_BLOCK_ROWS))
            start = 0
            for ids, offset in zip(sparse, self.sparse_offsets, strict=True):
                stop = start + ids.ids.shape[1]
                np.add(ids.ids[rows], offset, out=sparse_ids[rows, start:stop])
                sparse_weights[rows, start:stop] = ids.weights[rows]
                start = stop
            block = dense_values[rows]
            start = 0
            for values, column in zip(dense, self.dense_columns, strict=True):
                if isinstance(values, Ids):  # a multi-hot: its ids' weights, added in place
                    _add_multi_hot(block, start, Ids(values.ids[rows], values.weights[rows]))
                else:
                    block[:, start : start + column.width] = values[rows]
                start += column.width
        embedded = [c.embedding_ids(ids_of) for c in self.embedding_columns]
        return EncodedFeatures(
            sparse_ids,
            sparse_weights,
            dense_values,
            tuple(e.ids for e in embedded),
            tuple(e.weights for e in embedded),
        )


def transform_all(
    transformers: Sequence[FeatureTransformer | None],
    features: RawBatch,
    memory: ValueMemory | None = None,
) -> list[EncodedFeatures | None]:
    """Encode one batch for several transformers (a Wide & Deep model's two parts), decoding
    each raw feature and computing each shared column's ids only once; ``memory`` keeps string
    codes and what depends on them from batch to batch (:mod:`mlengine.feature_column.memory`)."""
    batch = FeatureBatch(features, memory)
    memo = _ColumnIds(batch)
    return [None if t is None else t._transform(batch, memo) for t in transformers]


def _add_multi_hot(dense: np.ndarray, start: int, ids: Ids) -> None:
    """Add the weights of ``ids`` into ``dense[:, start + id]`` (repeated ids accumulate)."""
    n, width = dense.shape
    if ids.ids.shape[1] == 1:
        # One id per row: a plain scatter-assign into the (still zero) block is enough.
        flat = np.arange(0, n * width, width, dtype=np.int64) + (start + ids.ids[:, 0])
        dense.reshape(-1)[flat] = ids.weights[:, 0]
    else:
        np.add.at(dense, (np.arange(n)[:, None], start + ids.ids), ids.weights)


__all__ = [
    "EncodedFeatures",
    "FeatureTransformer",
    "as_feature_dict",
    "count_rows",
    "transform_all",
]
