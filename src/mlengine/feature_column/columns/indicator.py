"""``indicator_column``: a categorical column as a multi-hot dense input."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from mlengine.feature_column.columns.base import (
    CategoricalColumn,
    DenseColumn,
    InputSpec,
    RowDense,
    Size,
    fail,
    nested_sizes,
    serializable,
)

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, Ids, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIds, GraphIdsOf, OnnxGraph
    from mlengine.feature_column.rowpath import RowCompiler


@serializable
@dataclass(frozen=True)
class IndicatorColumn(DenseColumn):
    """Multi-hot of a categorical column: ``indicator_column(categorical_column)``."""

    categorical_column: CategoricalColumn
    dense_order: ClassVar[int] = 1  # after the numeric values, as exports lay them out

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_indicator"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.categorical_column.raw_keys

    @property
    def width(self) -> int:
        return self.categorical_column.num_buckets

    def sizes(self) -> Iterator[Size]:
        yield "width", self.width, "width"
        yield from nested_sizes("categorical_column", self.categorical_column)

    def input_specs(self) -> Iterable[InputSpec]:
        return self.categorical_column.input_specs()

    def transform_dense(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        return ids_of(self.categorical_column)  # repeated ids count, as TF's indicator

    def onnx_dense(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> GraphIds:
        return ids_of(self.categorical_column)

    def row_dense(self, compiler: RowCompiler) -> RowDense | None:
        return "multi_hot", compiler.slot(self.categorical_column)


def indicator_column(categorical_column: CategoricalColumn) -> IndicatorColumn:
    """A multi-hot dense column over a categorical column (repeated ids count)."""
    if not isinstance(categorical_column, CategoricalColumn):
        raise fail(
            "indicator_column", "categorical_column", "a categorical column", categorical_column
        )
    return IndicatorColumn(categorical_column)
