"""What every feature column is: its name, the raw features it reads, and where its output goes.

A column type is one class in one module of this package (its *home*), which holds side by side:

* its **data-only spec**: a frozen dataclass of vocabularies, boundaries, bucket counts... never a
  callable, so an export stores it as JSON (:func:`serializable` puts it on the allow-list that
  :mod:`mlengine.feature_column.serialization` rebuilds from);
* its **signature entry** (:meth:`FeatureColumn.input_specs`): the raw inputs a serving request
  must carry for it;
* its **vectorised encoding**: :meth:`CategoricalColumn.transform_ids` (ids into
  ``[0, num_buckets)``) or :meth:`DenseColumn.transform_dense` (values of a fixed width), over a
  :class:`~mlengine.feature_column.encoding.FeatureBatch`; the reference that training,
  evaluation and batch prediction run;
* where a measured fast path needs it, its **row encoding** (``row_ids`` / ``row_values``) for the
  few instances of a serving request (:mod:`mlengine.feature_column.row_encoder`);
* where ONNX can express it, its **ONNX expression** (:meth:`CategoricalColumn.onnx_ids`,
  :meth:`DenseColumn.onnx_dense`) over an :class:`~mlengine.feature_column.onnx_graph.OnnxGraph`,
  for portable exports; it must compute what the vectorised encoding computes.

:class:`~mlengine.feature_column.transform.FeatureTransformer`, the row encoder, the export's
signature and the model builder loop over columns and call these; none of them asks a column's
type.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar

from mlengine.errors import InvalidParameterError

if TYPE_CHECKING:
    import numpy as np

    from mlengine.feature_column.encoding import FeatureBatch, Ids, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIds, GraphIdsOf, OnnxGraph
    from mlengine.feature_column.rowpath import RowCompiler, RowIdsFunction

STRING = "string"
INT64 = "int64"
FLOAT32 = "float32"

InputSpec = dict[str, Any]
"""One raw input of an export's signature: ``name``, ``dtype`` (``float32``, ``int64`` or
``string``), ``shape`` (``[-1]`` per instance scalar), ``required`` and ``default``."""

SizeKind = Literal["buckets", "values", "width"]
Size = tuple[str, int, SizeKind]
"""One size a column's spec asks for: ``(parameter, value, kind)``. ``buckets``: ids the column
produces (the rows of a weight table); ``values``: entries of a list the spec stores
(vocabulary, boundaries); ``width``: values per row. Nested columns' parameters carry their
path (``categorical_column.hash_bucket_size``)."""

Combiner = Literal["sum", "mean", "sqrtn"]
COMBINERS: tuple[str, ...] = ("sum", "mean", "sqrtn")
Output = Literal["sparse", "dense", "embedding"]
RowDense = tuple[Literal["values", "multi_hot"], int]

# --------------------------------------------------------------------------------------------
# The allow-list of classes an export may name (see mlengine.feature_column.serialization).

SERIALIZABLE: dict[str, type] = {}
_T = TypeVar("_T", bound=type)


def serializable(cls: _T) -> _T:
    """Put a data-only class (a column or a normaliser) on the allow-list exports rebuild from."""
    SERIALIZABLE[cls.__name__] = cls
    return cls


# --------------------------------------------------------------------------------------------
# Parameter checks, with scikit-learn's wording: owner, parameter, rule, value.


def fail(owner: str, param: str, rule: str, value: object) -> InvalidParameterError:
    """The error for a parameter that breaks its rule."""
    return InvalidParameterError(
        f"The {param!r} parameter of {owner} must be {rule}. Got {value!r} instead."
    )


def check_key(owner: str, key: object) -> str:
    if not isinstance(key, str) or not key:
        raise fail(owner, "key", "a non-empty string", key)
    return key


def check_name(owner: str, name: object) -> str | None:
    """An optional explicit column name (``name=``): None, or a non-empty string without dots
    (a name also names weights, and torch refuses dots in them)."""
    if name is None:
        return None
    if not isinstance(name, str) or not name or "." in name:
        raise fail(owner, "name", "None or a non-empty string without '.'", name)
    return name


def positive_int(owner: str, param: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise fail(owner, param, f"an int >= {minimum}", value)
    return value


def optional_input(name: str, dtype: str) -> InputSpec:
    """A signature entry for a raw input that may be missing (the column treats it as TF does)."""
    return {"name": name, "dtype": dtype, "shape": [-1], "required": False, "default": None}


# --------------------------------------------------------------------------------------------
# Base classes.


class FeatureColumn:
    """Base of all columns. ``name`` is unique per column and orders layers, as in TF."""

    #: Where :class:`~mlengine.feature_column.transform.FeatureTransformer` puts this column's
    #: output: ``sparse`` ids (the linear part), ``dense`` values, or an ``embedding`` lookup.
    output: ClassVar[Output]

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def raw_keys(self) -> tuple[str, ...]:
        """The feature keys this column reads from an input batch."""
        raise NotImplementedError

    def input_specs(self) -> Iterable[InputSpec]:
        """The raw inputs this column reads, as export signature entries (nested columns'
        included; :func:`mlengine.export.format.signature_inputs` merges them)."""
        raise NotImplementedError

    def sizes(self) -> Iterator[Size]:
        """Every size this column's spec asks for (see :data:`Size`), so that an export's
        validator checks each against its limit, naming the parameter, before anything is
        built from the column (:mod:`mlengine.export.validate`)."""
        return iter(())

    def as_dnn_input(self, owner: str) -> FeatureColumn:
        """This column as a DNN reads it (dense), or an error naming ``owner`` and the column."""
        return self

    def as_linear_input(self, owner: str) -> FeatureColumn:
        """This column as a linear model reads it, or an error naming ``owner``."""
        return self


class KeyedColumn(FeatureColumn):
    """A column that reads one feature, named by its ``key`` field, and is named after it."""

    key: str

    @property
    def name(self) -> str:
        return self.key

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return (self.key,)


class CategoricalColumn(FeatureColumn):
    """A column whose output is ids in ``[0, num_buckets)`` (sparse, possibly several per row)."""

    output: ClassVar[Output] = "sparse"

    @property
    def num_buckets(self) -> int:
        raise NotImplementedError

    def transform_ids(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        """The ids ``[n, L]`` of a batch and their weights (0: no value); ``ids_of`` gives other
        columns' ids, computed once per batch (crosses and weights reuse their inner column's)."""
        raise NotImplementedError

    def row_ids(self, compiler: RowCompiler) -> RowIdsFunction | None:
        """The row path's function for this column's ids, or None where it has none (requests
        with this column then take :meth:`transform_ids`)."""
        return None

    def onnx_ids(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> GraphIds | None:
        """:meth:`transform_ids` as an ONNX expression of the graph's raw inputs (one value
        per row), or None where ONNX cannot compute it: the graph then takes the ids as an
        input, computed by mlengine (hash buckets and crosses)."""
        return None

    def as_dnn_input(self, owner: str) -> FeatureColumn:
        raise InvalidParameterError(
            f"{owner}: DNN feature columns must be dense; {self.name!r} is categorical. "
            f"Wrap it in embedding_column(...) or indicator_column(...)."
        )


class DenseColumn(FeatureColumn):
    """A column whose output is a fixed-width float vector per row."""

    output: ClassVar[Output] = "dense"
    #: Dense outputs are laid out by (``dense_order``, name): numeric values before multi-hot
    #: indicators, as exports of earlier versions expect.
    dense_order: ClassVar[int] = 0

    @property
    def width(self) -> int:
        raise NotImplementedError

    def transform_dense(self, batch: FeatureBatch, ids_of: IdsOf) -> np.ndarray | Ids:
        """The batch's values ``[n, width]`` (float32), or ids whose weights make a multi-hot
        ``[n, width]`` (the transformer adds them into its dense matrix without a copy)."""
        raise NotImplementedError

    def row_dense(self, compiler: RowCompiler) -> RowDense | None:
        """Where the row path finds this column's dense input: ``("values", number_slot)`` for
        one value per row, ``("multi_hot", ids_slot)`` for a categorical column's ids; None
        where the row path does not cover it."""
        return None

    def onnx_dense(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> str | GraphIds | None:
        """:meth:`transform_dense` as an ONNX expression: float32 ``[n, width]`` values, or ids
        whose weights make the multi-hot; None where the column has none (the model then
        cannot be exported as a portable graph, and the error names the column)."""
        return None


def nested_sizes(parameter: str, column: FeatureColumn) -> Iterator[Size]:
    """The sizes of a column held in ``parameter`` of another, with their path."""
    for name, value, kind in column.sizes():
        yield f"{parameter}.{name}", value, kind


def check_unique_names(columns: Iterable[FeatureColumn], owner: str) -> None:
    """Refuse two columns of the same name (their weights would collide)."""
    seen: set[str] = set()
    for column in columns:
        if not isinstance(column, FeatureColumn):
            raise fail(owner, "feature_columns", "feature columns", column)
        if column.name in seen:
            raise InvalidParameterError(f"{owner}: duplicate feature column name {column.name!r}.")
        seen.add(column.name)
