"""``embedding_column`` and ``shared_embeddings``: a learned table looked up by a categorical
column's ids, combined per row."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mlengine.errors import NotSupportedError
from mlengine.feature_column.columns.base import (
    COMBINERS,
    CategoricalColumn,
    Combiner,
    DenseColumn,
    InputSpec,
    Output,
    Size,
    check_name,
    fail,
    nested_sizes,
    positive_int,
    serializable,
)
from mlengine.feature_column.encoding import Ids, combine

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import IdsOf
    from mlengine.feature_column.onnx_graph import GraphIds, GraphIdsOf, OnnxGraph


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


@serializable
@dataclass(frozen=True)
class EmbeddingColumn(DenseColumn):
    """A learned ``[num_buckets, dimension]`` table looked up by a categorical column's ids.

    ``shared_name`` is set when the table is shared (``shared_embeddings``); ``custom_name``
    (``embedding_column(..., name=...)``) replaces the derived ``<column>_embedding``, so two
    embeddings of one categorical column (say of dimensions 4 and 16) can sit in one DNN.
    """

    categorical_column: CategoricalColumn
    dimension: int
    combiner: Combiner = "mean"
    initializer_stddev: float | None = None
    max_norm: float | None = None
    trainable: bool = True
    shared_name: str | None = None
    custom_name: str | None = None
    output: ClassVar[Output] = "embedding"

    def __post_init__(self) -> None:
        positive_int("EmbeddingColumn", "dimension", self.dimension)
        if self.combiner not in COMBINERS:
            raise fail("EmbeddingColumn", "combiner", f"one of {COMBINERS}", self.combiner)
        check_name("EmbeddingColumn", self.custom_name)

    @property
    def name(self) -> str:
        if self.custom_name:
            return self.custom_name
        suffix = "shared_embedding" if self.shared_name else "embedding"
        return f"{self.categorical_column.name}_{suffix}"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.categorical_column.raw_keys

    @property
    def width(self) -> int:
        return self.dimension

    @property
    def table_name(self) -> str:
        """Name of the weight table (shared columns share it)."""
        return self.shared_name or self.name

    @property
    def stddev(self) -> float:
        """Truncated-normal stddev of the initial table: TF's default is 1/sqrt(dimension)."""
        if self.initializer_stddev is not None:
            return self.initializer_stddev
        return 1.0 / math.sqrt(self.dimension)

    def sizes(self) -> Iterator[Size]:
        yield "dimension", self.dimension, "width"
        yield from nested_sizes("categorical_column", self.categorical_column)

    def input_specs(self) -> Iterable[InputSpec]:
        return self.categorical_column.input_specs()

    def embedding_spec(self) -> EmbeddingSpec:
        """The lookup the model builds for this column."""
        return EmbeddingSpec(
            self.name,
            self.table_name,
            self.categorical_column.num_buckets,
            self.dimension,
            self.stddev,
            self.max_norm,
            self.trainable,
        )

    def embedding_ids(self, ids_of: IdsOf) -> Ids:
        """The batch's ids with weights that implement the combiner as a weighted sum."""
        return combine(ids_of(self.categorical_column), self.combiner)

    def onnx_embedding_ids(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> GraphIds:
        """:meth:`embedding_ids` in the graph."""
        return graph.combine(ids_of(self.categorical_column), self.combiner)


def _check_embedding_args(
    owner: str, dimension: object, combiner: object, initializer: object, max_norm: object
) -> float | None:
    positive_int(owner, "dimension", dimension)
    if combiner not in COMBINERS:
        raise fail(owner, "combiner", f"one of {COMBINERS}", combiner)
    if initializer is not None and (
        isinstance(initializer, bool)
        or not isinstance(initializer, int | float)
        or initializer <= 0
    ):
        raise NotSupportedError(
            f"{owner}: initializer must be None (TF's truncated normal, stddev 1/sqrt(dimension)) "
            f"or a positive float stddev; got {initializer!r}. Callables cannot be exported."
        )
    if max_norm is not None and not (isinstance(max_norm, int | float) and max_norm > 0):
        raise fail(owner, "max_norm", "None or a positive float", max_norm)
    return None if initializer is None else float(initializer)


def embedding_column(
    categorical_column: CategoricalColumn,
    dimension: int,
    combiner: Combiner = "mean",
    initializer: float | None = None,
    ckpt_to_load_from: None = None,
    tensor_name_in_ckpt: None = None,
    max_norm: float | None = None,
    trainable: bool = True,
    name: str | None = None,
) -> EmbeddingColumn:
    """A dense embedding of a categorical column, as ``tf.feature_column.embedding_column``.

    ``initializer`` is the stddev of the truncated-normal initial table (None: 1/sqrt(dimension)).
    ``max_norm`` clips each looked-up vector to that L2 norm before combining. ``name`` (not
    in TensorFlow) replaces the derived ``<column>_embedding`` name (and so the table's).
    """
    owner = "embedding_column"
    if not isinstance(categorical_column, CategoricalColumn):
        raise fail(owner, "categorical_column", "a categorical column", categorical_column)
    if ckpt_to_load_from is not None or tensor_name_in_ckpt is not None:
        raise NotSupportedError(
            "embedding_column: ckpt_to_load_from is not supported; use the estimator's "
            "warm_start_from instead."
        )
    stddev = _check_embedding_args(owner, dimension, combiner, initializer, max_norm)
    return EmbeddingColumn(
        categorical_column,
        dimension,
        combiner,
        stddev,
        None if max_norm is None else float(max_norm),
        bool(trainable),
        None,
        check_name(owner, name),
    )


def shared_embeddings(
    categorical_columns: Sequence[CategoricalColumn],
    dimension: int,
    combiner: Combiner = "mean",
    initializer: float | None = None,
    shared_embedding_collection_name: str | None = None,
    ckpt_to_load_from: None = None,
    tensor_name_in_ckpt: None = None,
    max_norm: float | None = None,
    trainable: bool = True,
) -> list[EmbeddingColumn]:
    """Embedding columns that share one table (columns must have equal ``num_buckets``)."""
    owner = "shared_embeddings"
    columns = list(categorical_columns)
    if len(columns) < 1 or not all(isinstance(c, CategoricalColumn) for c in columns):
        raise fail(owner, "categorical_columns", "a non-empty list of categorical columns", columns)
    sizes = {c.num_buckets for c in columns}
    if len(sizes) != 1:
        raise fail(owner, "categorical_columns", "columns with equal num_buckets", sorted(sizes))
    if ckpt_to_load_from is not None or tensor_name_in_ckpt is not None:
        raise NotSupportedError("shared_embeddings: ckpt_to_load_from is not supported.")
    stddev = _check_embedding_args(owner, dimension, combiner, initializer, max_norm)
    shared = (
        shared_embedding_collection_name
        or "_".join(sorted(c.name for c in columns)) + "_shared_embedding"
    )
    return [
        EmbeddingColumn(
            c,
            dimension,
            combiner,
            stddev,
            None if max_norm is None else float(max_norm),
            bool(trainable),
            shared,
        )
        for c in columns
    ]
