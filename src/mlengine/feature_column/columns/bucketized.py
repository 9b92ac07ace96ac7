"""``bucketized_column``: numeric ranges as categorical ids (one-hot in a DNN)."""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlengine import tuning
from mlengine.feature_column.columns.base import (
    CategoricalColumn,
    DenseColumn,
    FeatureColumn,
    InputSpec,
    Size,
    check_name,
    fail,
    nested_sizes,
    serializable,
)
from mlengine.feature_column.columns.numeric import NumericColumn
from mlengine.feature_column.encoding import Ids
from mlengine.feature_column.onnx_graph import GraphIds
from mlengine.feature_column.rowpath import RowCompiler, RowIds, RowIdsFunction, RowValues, float32

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIdsOf, OnnxGraph


@serializable
@dataclass(frozen=True)
class BucketizedColumn(CategoricalColumn, DenseColumn):
    """Numeric ranges as buckets: ``(-inf, b0), [b0, b1), ..., [bk, inf)`` per element.

    ``custom_name`` (``bucketized_column(..., name=...)``) replaces the derived name
    ``<key>_bucketized``, so several bucketizations of one key can sit in one model.
    """

    source_column: NumericColumn
    boundaries: tuple[float, ...]
    custom_name: str | None = None

    def __post_init__(self) -> None:
        bounds = self.boundaries
        if not bounds or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
            raise fail("BucketizedColumn", "boundaries", "non-empty, strictly increasing", bounds)
        check_name("BucketizedColumn", self.custom_name)

    @property
    def name(self) -> str:
        return self.custom_name or f"{self.source_column.name}_bucketized"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.source_column.raw_keys

    @property
    def num_buckets(self) -> int:
        return (len(self.boundaries) + 1) * self.source_column.width

    @property
    def width(self) -> int:
        return self.num_buckets

    def sizes(self) -> Iterator[Size]:
        yield "boundaries", len(self.boundaries), "values"
        yield "num_buckets", self.num_buckets, "buckets"
        yield from nested_sizes("source_column", self.source_column)

    def input_specs(self) -> Iterable[InputSpec]:
        return self.source_column.input_specs()

    def as_dnn_input(self, owner: str) -> FeatureColumn:
        from mlengine.feature_column.columns.indicator import indicator_column

        return indicator_column(self)  # one-hot, as TF's DNNs read a bucketized column

    def transform_ids(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        # As TF: the source column's normaliser (if any) applies before bucketizing.
        values = self.source_column.values(batch)
        boundaries = np.asarray(self.boundaries, dtype=np.float64)
        if (
            len(boundaries) <= tuning.BUCKETIZE_BY_COMPARISON_BOUNDARIES
            and values.size > tuning.BUCKETIZE_BY_COMPARISON_VALUES
        ):
            # len - #(boundaries > value) == searchsorted(side="right"), NaN included (-> len),
            # and a few vectorised comparisons beat a binary search per value. Comparing float32
            # values with float64 scalars happens in float64, as searchsorted does.
            below = np.zeros(values.shape, dtype=np.int8)
            for boundary in boundaries:
                below += values < boundary
            ids = len(boundaries) - below.astype(np.int64)
        else:
            ids = np.searchsorted(boundaries, values.astype(np.float64), side="right")
        ids = ids + np.arange(values.shape[1]) * (len(boundaries) + 1)
        return Ids(ids.astype(np.int64), np.ones(ids.shape, dtype=np.float32))

    def onnx_ids(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> GraphIds:
        # The same count as transform_ids: len - #(boundaries > value), in float64.
        values = graph.cast(self.source_column.onnx_values(graph), "float64")
        expanded = graph.op("Unsqueeze", values, graph.const([2], "axis"))
        bounds = graph.const(self.boundaries, "boundaries", np.float64)
        below = graph.cast(graph.op("Less", expanded, bounds), "int64")
        above = graph.op("ReduceSum", below, graph.const([2], "axis"), keepdims=0)
        count = graph.const(len(self.boundaries), "boundaries", np.int64)
        width = self.source_column.width
        element = graph.const(np.arange(width) * (len(self.boundaries) + 1), "element", np.int64)
        ids = str(graph.op("Add", graph.op("Sub", count, above), element))
        return GraphIds(ids, graph.ones(ids), width)

    def row_ids(self, compiler: RowCompiler) -> RowIdsFunction | None:
        if self.source_column.width != 1:
            return None
        slot = compiler.number_slot(self.source_column)
        boundaries = [float(b) for b in self.boundaries]

        def bucketized(rows: RowValues) -> RowIds:
            # The vectorised path bucketizes float32 values (as the dense features hold them).
            values = float32(compiler.numbers(rows, slot))
            if rows.n == 1:
                return [bisect.bisect_right(boundaries, values[0])], [1.0]
            return [bisect.bisect_right(boundaries, v) for v in values], [1.0] * rows.n

        return bucketized


def bucketized_column(
    source_column: NumericColumn, boundaries: Sequence[float], name: str | None = None
) -> BucketizedColumn:
    """Bucketize a numeric column by sorted ``boundaries`` (left edge inclusive), as TF.

    ``name`` (not in TensorFlow, whose name is always ``<key>_bucketized``) names the column,
    so several bucketizations of one key (a coarse and a fine grid) coexist in one model; they
    all read the same raw input.

    Example:
        >>> from mlengine import feature_column as fc
        >>> fine = fc.bucketized_column(fc.numeric_column("lat"), [1, 2, 3], name="lat_fine")
        >>> fine.name, fc.bucketized_column(fc.numeric_column("lat"), [2]).name
        ('lat_fine', 'lat_bucketized')
    """
    owner = "bucketized_column"
    if not isinstance(source_column, NumericColumn):
        raise fail(owner, "source_column", "a numeric_column", source_column)
    bounds = tuple(float(b) for b in boundaries)
    if not bounds or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise fail(owner, "boundaries", "a non-empty, strictly increasing list", list(boundaries))
    return BucketizedColumn(source_column, bounds, check_name(owner, name))
