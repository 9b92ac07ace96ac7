"""``piecewise_linear_column``: a number as how far it has come through each of its bins.

Not in TensorFlow: the piecewise-linear encoding of Gorishniy et al. (2022, "On Embeddings for
Numerical Features in Tabular Deep Learning"). For boundaries ``b0 < b1 < ... < bk`` the value
``x`` becomes ``k`` numbers, one per bin: ``clip((x - b[i-1]) / (b[i] - b[i-1]), 0, 1)``; so a
DNN sees where within its bin a value lies, which a one-hot bucketization loses. Boundaries
usually come from quantiles (:func:`mlengine.feature_column.quantile_bucketized_column` computes
them the same way).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlengine.feature_column.columns.base import (
    DenseColumn,
    InputSpec,
    Size,
    check_name,
    fail,
    nested_sizes,
    serializable,
)
from mlengine.feature_column.columns.numeric import NumericColumn

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIdsOf, OnnxGraph


@serializable
@dataclass(frozen=True)
class PiecewiseLinearColumn(DenseColumn):
    """A numeric column encoded piecewise-linearly over ``len(boundaries) - 1`` bins."""

    source_column: NumericColumn
    boundaries: tuple[float, ...]
    custom_name: str | None = None

    def __post_init__(self) -> None:
        bounds = self.boundaries
        if len(bounds) < 2 or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
            raise fail(
                "PiecewiseLinearColumn", "boundaries", "2 or more, strictly increasing", bounds
            )
        check_name("PiecewiseLinearColumn", self.custom_name)

    @property
    def name(self) -> str:
        return self.custom_name or f"{self.source_column.name}_piecewise_linear"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.source_column.raw_keys

    @property
    def width(self) -> int:
        return (len(self.boundaries) - 1) * self.source_column.width

    def sizes(self) -> Iterator[Size]:
        yield "boundaries", len(self.boundaries), "values"
        yield "width", self.width, "width"
        yield from nested_sizes("source_column", self.source_column)

    def input_specs(self) -> Iterable[InputSpec]:
        return self.source_column.input_specs()

    def transform_dense(self, batch: FeatureBatch, ids_of: IdsOf) -> np.ndarray:
        values = self.source_column.values(batch).astype(np.float64)  # defaults, normaliser
        bounds = np.asarray(self.boundaries, dtype=np.float64)
        left, right = bounds[:-1], bounds[1:]
        # [n, elements, bins]: each element's progress through each bin, then flattened.
        progress = (values[:, :, None] - left) / (right - left)
        return np.clip(progress, 0.0, 1.0).reshape(batch.n, self.width).astype(np.float32)

    def onnx_dense(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> str:
        values = graph.cast(self.source_column.onnx_values(graph), "float64")
        bounds = np.asarray(self.boundaries, dtype=np.float64)
        left, right = bounds[:-1], bounds[1:]
        expanded = graph.op("Unsqueeze", values, graph.const([2], "axis"))
        shifted = graph.op("Sub", expanded, graph.const(left, "left"))
        progress = graph.op("Div", shifted, graph.const(right - left, "span"))
        clipped = graph.op("Clip", progress, graph.const(0.0, "zero"), graph.const(1.0, "one"))
        flat = graph.op("Reshape", clipped, graph.const([-1, self.width], "shape"))
        return graph.cast(str(flat), "float32")


def piecewise_linear_column(
    source_column: NumericColumn, boundaries: Sequence[float], name: str | None = None
) -> PiecewiseLinearColumn:
    """Encode a numeric column piecewise-linearly between sorted ``boundaries`` (at least 2);
    ``name`` replaces the derived ``<key>_piecewise_linear`` (for several encodings of a key)."""
    owner = "piecewise_linear_column"
    if not isinstance(source_column, NumericColumn):
        raise fail(owner, "source_column", "a numeric_column", source_column)
    bounds = tuple(float(b) for b in boundaries)
    if len(bounds) < 2 or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise fail(owner, "boundaries", "2 or more, strictly increasing", list(boundaries))
    return PiecewiseLinearColumn(source_column, bounds, check_name(owner, name))
