"""``weighted_categorical_column``: a categorical column's ids with per-id weights."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError
from mlengine.feature_column.columns.base import (
    FLOAT32,
    CategoricalColumn,
    InputSpec,
    Size,
    check_key,
    fail,
    nested_sizes,
    serializable,
)
from mlengine.feature_column.decoding import to_arrow
from mlengine.feature_column.encoding import Ids, layout
from mlengine.feature_column.onnx_graph import GraphIds

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIdsOf, OnnxGraph


@serializable
@dataclass(frozen=True)
class WeightedCategoricalColumn(CategoricalColumn):
    """Pairs each id of a categorical column with a weight from ``weight_feature_key``."""

    categorical_column: CategoricalColumn
    weight_feature_key: str
    dtype: str = FLOAT32

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_weighted_by_{self.weight_feature_key}"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return (*self.categorical_column.raw_keys, self.weight_feature_key)

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets

    def sizes(self) -> Iterator[Size]:
        yield from nested_sizes("categorical_column", self.categorical_column)

    def input_specs(self) -> Iterable[InputSpec]:
        yield from self.categorical_column.input_specs()
        key = self.weight_feature_key
        yield {"name": key, "dtype": "float32", "shape": [-1], "required": False, "default": 0.0}

    def transform_ids(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        inner = ids_of(self.categorical_column)
        weights = np.nan_to_num(self._id_weights(batch, inner), nan=0.0).astype(np.float32)
        return Ids(inner.ids, inner.weights * weights)

    def onnx_ids(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> GraphIds:
        inner = ids_of(self.categorical_column)
        weights = graph.floats(self.weight_feature_key, (inner.slots,), self.name)
        weights = graph.op("Where", graph.op("IsNaN", weights), graph.const(0.0), weights)
        scaled = graph.op("Mul", inner.weights, graph.cast(str(weights), "float32"))
        return GraphIds(inner.ids, str(scaled), inner.slots)

    def _id_weights(self, batch: FeatureBatch, inner: Ids) -> np.ndarray:
        """Weights ``[n, L]`` aligned with the ids; list-valued weights follow the ids' lists."""
        key = self.weight_feature_key
        lengths = batch.list_lengths(key, self.name)
        if lengths is None:
            return batch.floats(key, inner.ids.shape[1], self.name)
        id_keys = self.categorical_column.raw_keys
        id_lengths = batch.list_lengths(id_keys[0], self.name) if len(id_keys) == 1 else None
        if id_lengths is None or not np.array_equal(lengths, id_lengths):
            bad = 0 if id_lengths is None else int(np.flatnonzero(lengths != id_lengths)[0])
            raise FeatureError(
                f"Feature {key!r}: weighted_categorical_column {self.name!r} needs one weight "
                f"per id of {id_keys[0]!r}, with the same number of values per row (row {bad} "
                "differs)."
            )
        values = to_arrow(batch.get(key, self.name), key).flatten()
        flat = np.asarray(pc.cast(values, pa.float64()).fill_null(np.nan), dtype=np.float64)
        offsets = np.concatenate([[0], np.cumsum(lengths)])
        placeholder = np.zeros(len(flat), np.int64)
        return layout(placeholder, np.ones(len(flat), bool), offsets, batch.n, flat).weights


def weighted_categorical_column(
    categorical_column: CategoricalColumn, weight_feature_key: str, dtype: str = FLOAT32
) -> WeightedCategoricalColumn:
    """Weights per id from a second feature with the same shape (e.g. term frequencies)."""
    owner = "weighted_categorical_column"
    if not isinstance(categorical_column, CategoricalColumn):
        raise fail(owner, "categorical_column", "a categorical column", categorical_column)
    check_key(owner, weight_feature_key)
    return WeightedCategoricalColumn(categorical_column, weight_feature_key, dtype)
