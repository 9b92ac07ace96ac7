"""``numeric_column``: real values, optionally normalised, as dense inputs."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.errors import FeatureError, NotSupportedError, located
from mlengine.feature_column.columns.base import (
    FLOAT32,
    INT64,
    DenseColumn,
    InputSpec,
    KeyedColumn,
    RowDense,
    Size,
    check_key,
    fail,
    serializable,
)
from mlengine.feature_column.columns.expression import Expression, record
from mlengine.feature_column.encoding import FLOAT32_OVERFLOW
from mlengine.feature_column.rowpath import LARGEST_EXACT_INT, RowCompiler, RowFallback, RowValues

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIdsOf, OnnxGraph

# --------------------------------------------------------------------------------------------
# Normalisers: the serialisable replacement of TensorFlow's ``normalizer_fn`` callables.


@serializable
@dataclass(frozen=True)
class ZScore:
    """``(x - mean) / std``; build one by hand or with :func:`mlengine.feature_column.analyze`."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.std) and self.std > 0):
            raise fail("ZScore", "std", "a positive finite float", self.std)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (values - self.mean) / self.std

    def each(self, values: list[float]) -> list[float]:
        """:meth:`__call__` of each value, in Python (the row path's few values)."""
        mean, std = self.mean, self.std
        return [(v - mean) / std for v in values]

    def onnx(self, graph: OnnxGraph, values: str) -> str:
        """The same arithmetic on a float64 graph tensor."""
        centred = graph.op("Sub", values, graph.const(self.mean, "mean", np.float64))
        return str(graph.op("Div", centred, graph.const(self.std, "std", np.float64)))


@serializable
@dataclass(frozen=True)
class MinMax:
    """``(x - min) / (max - min)``."""

    min: float
    max: float

    def __post_init__(self) -> None:
        if not self.max > self.min:
            raise fail("MinMax", "max", f"greater than min={self.min}", self.max)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return (values - self.min) / (self.max - self.min)

    def each(self, values: list[float]) -> list[float]:
        """:meth:`__call__` of each value, in Python (the row path's few values)."""
        low, span = self.min, self.max - self.min
        return [(v - low) / span for v in values]

    def onnx(self, graph: OnnxGraph, values: str) -> str:
        """The same arithmetic on a float64 graph tensor."""
        shifted = graph.op("Sub", values, graph.const(self.min, "min", np.float64))
        span = graph.const(self.max - self.min, "span", np.float64)
        return str(graph.op("Div", shifted, span))


@serializable
@dataclass(frozen=True)
class Log1p:
    """``sign(x) * log1p(|x|)``: tames heavy tails such as capital_gain."""

    def __call__(self, values: np.ndarray) -> np.ndarray:
        return np.sign(values) * np.log1p(np.abs(values))

    def each(self, values: list[float]) -> list[float]:
        """:meth:`__call__` of each value (numpy's log1p, not math's: the same last bit)."""
        result: list[float] = self(np.array(values)).tolist()
        return result

    def onnx(self, graph: OnnxGraph, values: str) -> str:
        """``sign(x) * log(1 + |x|)`` in float64: ONNX has no log1p, so a value of magnitude
        below ~1e-8 loses relative precision here (in float64, far below float32's rounding
        of the result except for such tiny values)."""
        one = graph.const(1.0, "one", np.float64)
        magnitude = graph.op("Log", graph.op("Add", one, graph.op("Abs", values)))
        return str(graph.op("Mul", graph.op("Sign", values), magnitude))


Normalizer = ZScore | MinMax | Log1p | Expression


@serializable
@dataclass(frozen=True)
class NumericColumn(KeyedColumn, DenseColumn):
    """Real-valued feature(s): ``numeric_column(key, shape=(1,), default_value=None, ...)``."""

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: tuple[float, ...] | None = None
    dtype: str = FLOAT32
    normalizer: Normalizer | None = None

    def __post_init__(self) -> None:
        if not self.shape or any(not isinstance(d, int) or d < 1 for d in self.shape):
            raise fail("NumericColumn", "shape", "a tuple of positive ints", self.shape)

    @property
    def width(self) -> int:
        return math.prod(self.shape)

    def sizes(self) -> Iterator[Size]:
        yield "shape", self.width, "width"

    def input_specs(self) -> Iterable[InputSpec]:
        scalar = self.shape == (1,)
        default = self.default_value
        yield {
            "name": self.key,
            "dtype": "float32",
            "shape": [-1] if scalar else [-1, *self.shape],
            "required": default is None,
            "default": None if default is None else (default[0] if scalar else list(default)),
        }

    def values(self, batch: FeatureBatch) -> np.ndarray:
        """The batch's values ``[n, width]`` as float32: defaults filled in, then normalised."""
        values = batch.floats(self.key, self.width, self.name)
        missing = np.isnan(values)
        if missing.any():
            if self.default_value is None:
                row = int(np.flatnonzero(missing.any(axis=1))[0])
                error = FeatureError(
                    f"Feature {self.key!r}: missing value in row {row}, and numeric_column "
                    f"{self.name!r} has no default_value."
                )
                reason = f"missing or NaN, and numeric_column {self.name!r} has no default_value"
                raise located(error, row, self.key, None, reason)
            values = np.where(missing, np.asarray(self.default_value)[None, :], values)
        if self.normalizer is not None:
            values = self.normalizer(values)
        return values.astype(np.float32)

    def transform_dense(self, batch: FeatureBatch, ids_of: IdsOf) -> np.ndarray:
        return self.values(batch)

    def onnx_values(self, graph: OnnxGraph) -> str:
        """:meth:`values` in the graph: float32 ``[n, width]``, defaults filled in (a NaN
        stays NaN without a default), normalised in float64."""
        values = graph.floats(self.key, self.shape, self.name)
        if self.default_value is not None:
            default = graph.const([self.default_value], "default", np.float64)
            values = graph.op("Where", graph.op("IsNaN", values), default, values)
        if self.normalizer is not None:
            values = self.normalizer.onnx(graph, values)
        return graph.cast(values, "float32")

    def onnx_dense(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> str:
        return self.onnx_values(graph)

    def row_dense(self, compiler: RowCompiler) -> RowDense | None:
        return None if self.width != 1 else ("values", compiler.number_slot(self))

    def row_values(self) -> Callable[[RowValues], list[float]]:
        """The row path's function for each row's normalised value, as float64 (scalar
        columns only: see :meth:`row_dense`)."""
        key = self.key
        default = None if self.default_value is None else float(self.default_value[0])
        norm = self.normalizer

        def numbers(rows: RowValues) -> list[float]:
            out: list[float] = []
            for value in rows.values(key):
                kind = type(value)
                if kind is float:
                    if value != value:  # NaN: a missing value
                        value = default
                    elif not -FLOAT32_OVERFLOW < value < FLOAT32_OVERFLOW:
                        raise RowFallback  # not finite as float32: the vectorised path says so
                elif kind is int:
                    if not -LARGEST_EXACT_INT <= value <= LARGEST_EXACT_INT:
                        raise RowFallback
                    value = float(value)
                elif value is None:
                    value = default
                else:
                    raise RowFallback  # strings, booleans, lists...
                if value is None:
                    raise RowFallback  # missing and no default: the vectorised path says so
                out.append(value)
            return out if norm is None else norm.each(out)

        return numbers


def numeric_column(
    key: str,
    shape: int | Sequence[int] = (1,),
    default_value: float | Sequence[float] | None = None,
    dtype: str = FLOAT32,
    normalizer_fn: Normalizer | Callable[[Any], Any] | None = None,
) -> NumericColumn:
    """A numeric column, as ``tf.feature_column.numeric_column``.

    ``default_value`` fills missing values (without it a missing value is an error naming the
    column and row). ``normalizer_fn`` is a serialisable normaliser (:class:`ZScore`,
    :class:`MinMax`, :class:`Log1p`) or, as in TensorFlow, a callable: it is called once on a
    recording value and stored as the :class:`Expression` it computes (arithmetic and numpy or
    ``tf.math`` functions of its argument); one that cannot be recorded is an error naming
    the column.
    """
    owner = "numeric_column"
    check_key(owner, key)
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise fail(owner, "shape", "a positive int or a tuple of positive ints", shape)
    if dtype not in (FLOAT32, "float64", INT64, "int32"):
        raise fail(owner, "dtype", "one of float32, float64, int32, int64", dtype)
    width = math.prod(dims)
    default: tuple[float, ...] | None = None
    if default_value is not None:
        if isinstance(default_value, int | float):
            default = (float(default_value),) * width
        else:
            default = tuple(float(v) for v in default_value)
            if len(default) != width:
                raise fail(owner, "default_value", f"a scalar or {width} values", default_value)
    normalizer: Normalizer | None = None
    if isinstance(normalizer_fn, ZScore | MinMax | Log1p | Expression):
        normalizer = normalizer_fn
    elif callable(normalizer_fn):
        normalizer = record(normalizer_fn, key)
    elif normalizer_fn is not None:
        raise NotSupportedError(
            f"numeric_column {key!r}: normalizer_fn must be a callable or a ZScore, MinMax or "
            f"Log1p normaliser; got {normalizer_fn!r}."
        )
    return NumericColumn(key, dims, default, dtype, normalizer)
