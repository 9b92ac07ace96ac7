"""``categorical_column_with_identity``: integer values used as ids."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlengine.errors import FeatureError
from mlengine.feature_column.columns.base import (
    INT64,
    CategoricalColumn,
    InputSpec,
    KeyedColumn,
    Size,
    check_key,
    fail,
    optional_input,
    positive_int,
    serializable,
)
from mlengine.feature_column.encoding import Ids, layout
from mlengine.feature_column.rowpath import (
    RowCompiler,
    RowFallback,
    RowIds,
    RowIdsFunction,
    RowValues,
    row_integer,
    with_weights,
)

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIds, GraphIdsOf, OnnxGraph


@serializable
@dataclass(frozen=True)
class IdentityColumn(KeyedColumn, CategoricalColumn):
    """Integer values used as ids. ``wrap=True`` takes ``value % num_buckets`` (contrib)."""

    key: str
    num_buckets_: int
    default_value: int | None = None
    wrap: bool = False

    def __post_init__(self) -> None:
        positive_int("IdentityColumn", "num_buckets", self.num_buckets_)

    @property
    def num_buckets(self) -> int:
        return self.num_buckets_

    def sizes(self) -> Iterator[Size]:
        yield "num_buckets", self.num_buckets, "buckets"

    def input_specs(self) -> Iterable[InputSpec]:
        yield optional_input(self.key, INT64)

    def transform_ids(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        values, valid, offsets = batch.integers(self.key, self.name)
        size = self.num_buckets
        if self.wrap:
            return layout(np.mod(values, size), valid, offsets, batch.n)
        valid = valid & (values != -1)  # -1 means missing, as for every integer feature
        if self.default_value is not None:
            out_of_range = valid & ((values >= size) | (values < 0))
            ids = np.where(out_of_range, self.default_value, values)
            return layout(ids, valid, offsets, batch.n)
        too_big = valid & (values >= size)
        if too_big.any():
            index = int(np.flatnonzero(too_big)[0])
            row = index if offsets is None else int(np.searchsorted(offsets, index, "right") - 1)
            raise FeatureError(
                f"Feature {self.key!r}: id {int(values[index])} is outside [0, {size}) "
                f"(row {row}) and categorical_column_with_identity {self.name!r} has no "
                "default_value."
            )
        return layout(values, valid & (values >= 0), offsets, batch.n)

    def onnx_ids(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> GraphIds:
        values = graph.integers(self.key, self.name)
        size = graph.const(self.num_buckets, "num_buckets", np.int64)
        zero = graph.const(0, "zero", np.int64)
        if self.wrap:  # Mod of int64s takes the divisor's sign, as np.mod: ids in [0, size)
            every = graph.op("Equal", values, values)  # an int64 input has no missing values
            return graph.one_id(str(graph.op("Mod", values, size)), str(every))
        valid = graph.op("Not", graph.op("Equal", values, graph.const(-1, "missing")))
        in_range = graph.op(
            "And", graph.op("GreaterOrEqual", values, zero), graph.op("Less", values, size)
        )
        if self.default_value is not None:
            default = graph.const(self.default_value, "default", np.int64)
            return graph.one_id(str(graph.op("Where", in_range, values, default)), str(valid))
        # Out of range without a default: mlengine raises an error naming the value; the graph
        # cannot, and drops it (weight 0) as it drops a negative value.
        return graph.one_id(str(values), str(graph.op("And", valid, in_range)))

    def row_ids(self, compiler: RowCompiler) -> RowIdsFunction | None:
        key, size, default, wrap = self.key, self.num_buckets, self.default_value, self.wrap

        def identity(rows: RowValues) -> RowIds:
            ids: list[int | None] = []
            for raw in rows.values(key):
                value = row_integer(raw)
                if wrap and raw == -1:
                    ids.append(size - 1)  # -1 wraps like any other id
                elif value is None:
                    ids.append(None)
                elif wrap:
                    ids.append(value % size)
                elif 0 <= value < size:
                    ids.append(value)
                elif default is not None:
                    ids.append(default)
                elif value >= size:
                    raise RowFallback  # an error: the vectorised path names the feature and row
                else:
                    ids.append(None)
            return with_weights(ids)

        return identity


def categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> IdentityColumn:
    """Ids are the integer values, in ``[0, num_buckets)``; others take ``default_value``.

    Without ``default_value``, a value ``>= num_buckets`` is an error naming it and negative
    values are dropped, as in TensorFlow.
    """
    owner = "categorical_column_with_identity"
    check_key(owner, key)
    positive_int(owner, "num_buckets", num_buckets)
    if default_value is not None and not (0 <= default_value < num_buckets):
        raise fail(owner, "default_value", f"None or in [0, {num_buckets})", default_value)
    return IdentityColumn(key, num_buckets, default_value)
