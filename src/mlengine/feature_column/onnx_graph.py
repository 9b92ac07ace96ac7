"""Feature columns as ONNX: a graph from raw feature values to the transformer's encodings.

A portable export (:mod:`mlengine.export.portable`) carries the whole model as one ONNX graph
that any ONNX runtime runs (onnxruntime for C++, C#, Java, JavaScript, mobile). This module
holds what the feature columns need for it: :class:`OnnxGraph`, the graph under construction,
with the few raw-input readers the columns share, and :func:`encode`, which lays the columns'
outputs out exactly as :class:`~mlengine.feature_column.transform.FeatureTransformer` does
(``sparse_ids`` / ``sparse_weights``, ``dense``, one pair per embedding column).

Each column type states its ONNX expression in its home, beside its vectorised encoding:
:meth:`~mlengine.feature_column.columns.base.CategoricalColumn.onnx_ids`,
:meth:`~mlengine.feature_column.columns.base.DenseColumn.onnx_dense` and
:meth:`~mlengine.feature_column.columns.embedding.EmbeddingColumn.onnx_embedding_ids`. A
categorical column without one (a hash bucket, a cross, a vocabulary with more than one
out-of-vocabulary bucket: they need mlengine's stable hash of the value's bytes, which ONNX
cannot compute; a vocabulary with an entry holding a space, which the graph's stripping by
tokens cannot match) is fed to the graph as an **id input**: ``ids/<column name>``, int64 ``[n]``,
the column's id in ``[0, num_buckets)`` or -1 for none, computed by mlengine
(:func:`onnx_inputs`; for a loaded export, :meth:`mlengine.export.Predictor.onnx_inputs`).

What the graph takes, per row (one value per feature: list-valued features have no expression
here):

* numbers as float32 (``[n]``, or ``[n, *shape]`` for a numeric column of another shape); NaN
  is a missing value (its ``default_value``, or NaN through the network where the column has
  none: mlengine refuses such a row instead);
* integers as int64, -1 for a missing value;
* strings as UTF-8 strings, "" for a missing value. The graph strips leading and trailing
  spaces (U+0020) with ``StringSplit``; mlengine strips all white space, so a value wrapped in
  tabs, line breaks or other white space differs between the two (the census data's leading
  space is a U+0020).

Normalisers and bucket comparisons run in float64, as the vectorised encoding does; the graph
uses the standard operator set of opset 20 (``StringSplit``) and ``ai.onnx.ml``'s
``LabelEncoder``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.errors import NotSupportedError
from mlengine.feature_column.encoding import FeatureBatch

if TYPE_CHECKING:
    import onnx

    from mlengine.feature_column.columns.base import CategoricalColumn
    from mlengine.feature_column.encoding import Ids, RawBatch
    from mlengine.feature_column.transform import FeatureTransformer

ONNX_OPSET = 20  # StringSplit (strips the spaces around a string value) is opset 20's
ONNX_ML_OPSET = 3  # LabelEncoder with string and int64 keys
ID_INPUT_PREFIX = "ids/"

# ONNX's element types, by the names the export manifest uses.
FLOAT = 1
INT64 = 7
STRING = 8
BOOL = 9
DOUBLE = 11
ELEMENT_TYPES = {
    "float32": FLOAT,
    "int64": INT64,
    "string": STRING,
    "float64": DOUBLE,
    "bool": BOOL,
}


@dataclass(frozen=True)
class GraphIds:
    """A categorical column's ids in the graph: ``ids`` (int64) and ``weights`` (float32),
    both ``[n, slots]`` (0 weight: no value), as :class:`~mlengine.feature_column.encoding.Ids`."""

    ids: str
    weights: str
    slots: int = 1


GraphIdsOf = Callable[[Any], GraphIds]
"""Another categorical column's ids in the same graph (built once per graph)."""


@dataclass(frozen=True)
class GraphStrings:
    """A string feature in the graph: its ``first`` space-separated token (``[n]``; the whole
    stripped value when ``tokens`` is 1) and its number of ``tokens`` (0: empty, a missing
    value; more than 1: the value has inner spaces)."""

    first: str
    tokens: str


@dataclass(frozen=True)
class GraphEncoded:
    """:class:`~mlengine.feature_column.transform.EncodedFeatures` as graph tensor names
    (None where the part is empty)."""

    sparse_ids: str | None
    sparse_weights: str | None
    dense: str | None
    dense_width: int
    embedding_ids: tuple[str, ...]
    embedding_weights: tuple[str, ...]


@dataclass
class GraphInput:
    """One input of the graph, as the export's manifest lists it."""

    name: str
    dtype: str
    shape: list[int]
    role: str  # "feature" (a raw feature value) or "ids" (computed by mlengine)
    column: str | None = None
    description: str = ""

    def entry(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "dtype": self.dtype,
            "shape": self.shape,
            "role": self.role,
            "description": self.description,
        }
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass
class OnnxGraph:
    """An ONNX graph under construction: nodes, constants and inputs, with unique names.

    Column homes build on it through :meth:`op`, :meth:`const` and the raw-input readers
    (:meth:`floats`, :meth:`integers`, :meth:`strings`); :meth:`ids_of` gives a categorical
    column's ids once per graph (crosses, indicators and embeddings share them), falling back
    to an id input where the column has no expression.
    """

    nodes: list[Any] = field(default_factory=list)
    initializers: list[Any] = field(default_factory=list)
    inputs: dict[str, GraphInput] = field(default_factory=dict)
    id_columns: dict[str, CategoricalColumn] = field(default_factory=dict)
    _counter: Any = field(default_factory=itertools.count)
    _ids: dict[Any, GraphIds] = field(default_factory=dict)
    _memo: dict[Any, Any] = field(default_factory=dict)

    # -- building blocks ---------------------------------------------------------------------

    def fresh(self, hint: str) -> str:
        """A tensor name not used before (``hint`` keeps the graph readable)."""
        return f"{hint}:{next(self._counter)}"

    def const(self, value: Any, hint: str = "const", dtype: Any = None) -> str:
        """A constant tensor (an initializer), from anything numpy can hold."""
        from onnx import numpy_helper

        array = np.asarray(value, dtype=dtype)
        if array.dtype.kind in "OU":
            array = array.astype(object)
        name = self.fresh(hint)
        self.initializers.append(numpy_helper.from_array(array, name))
        return name

    def op(
        self, op_type: str, *inputs: str, outputs: int = 1, domain: str = "", **attrs: Any
    ) -> Any:
        """Add one node; its output name (a tuple of names for ``outputs`` > 1)."""
        from onnx import helper

        names = [self.fresh(op_type) for _ in range(outputs)]
        self.nodes.append(
            helper.make_node(op_type, list(inputs), names, domain=domain or None, **attrs)
        )
        return names[0] if outputs == 1 else tuple(names)

    def cast(self, tensor: str, dtype: str) -> str:
        """``tensor`` as ``dtype`` (a manifest name: float32, float64, int64, string)."""
        return str(self.op("Cast", tensor, to=ELEMENT_TYPES[dtype]))

    def memo(self, key: Any, build: Callable[[], Any]) -> Any:
        """``build()`` once per graph for ``key`` (a raw feature read by several columns is
        one input and one decoding)."""
        if key not in self._memo:
            self._memo[key] = build()
        return self._memo[key]

    def input(self, spec: GraphInput) -> str:
        """Declare an input once; the same name with another type is an error naming it."""
        found = self.inputs.get(spec.name)
        if found is None:
            self.inputs[spec.name] = spec
        elif (found.dtype, found.shape) != (spec.dtype, spec.shape):
            raise NotSupportedError(
                f"Feature {spec.name!r} is read as {found.dtype} {found.shape} by one column "
                f"and as {spec.dtype} {spec.shape} by another: one ONNX input cannot be both."
            )
        return spec.name

    def ones(self, like: str) -> str:
        """float32 ones of ``like``'s shape (the weights of ids that are always present)."""
        return str(self.op("Expand", self.const(1.0, "one", np.float32), self.op("Shape", like)))

    def rows(self, tensor: str) -> str:
        """The number of rows of ``tensor``, as a 1-element int64 tensor."""
        return str(self.op("Shape", tensor, start=0, end=1))

    # -- raw inputs --------------------------------------------------------------------------

    def floats(self, key: str, shape: Sequence[int], needed_by: str) -> str:
        """A numeric feature as float64 ``[n, prod(shape)]`` (NaN: missing)."""
        width = int(np.prod(shape))

        def build() -> str:
            dims = [-1] if tuple(shape) == (1,) else [-1, *shape]
            name = self.input(
                GraphInput(key, "float32", dims, "feature", needed_by, "a number; NaN: missing")
            )
            as_double = self.op("Cast", name, to=DOUBLE)
            return str(self.op("Reshape", as_double, self.const([-1, width], "shape")))

        return str(self.memo(("floats", key, width), build))

    def integers(self, key: str, needed_by: str) -> str:
        """An integer feature as int64 ``[n]`` (-1: missing)."""
        return self.input(
            GraphInput(key, "int64", [-1], "feature", needed_by, "an integer; -1: missing")
        )

    def strings(self, key: str, needed_by: str) -> GraphStrings:
        """A string feature split on spaces (``StringSplit``): its first token and its count of
        tokens. A value with one token is that token, stripped of surrounding spaces."""

        def build() -> GraphStrings:
            name = self.input(
                GraphInput(
                    key,
                    "string",
                    [-1],
                    "feature",
                    needed_by,
                    'a string (surrounding spaces stripped); "": missing',
                )
            )
            tokens, counts = self.op("StringSplit", name, outputs=2)
            # A column of "" after the tokens, so that a batch of empty values (no token
            # column at all) still has a first token to take.
            pad_shape = self.op("Concat", self.rows(name), self.const([1], "one"), axis=0)
            pad = self.op("Expand", self.const(np.array([[""]], dtype=object), "empty"), pad_shape)
            padded = self.op("Concat", tokens, pad, axis=1)
            first = self.op("Gather", padded, self.const(0, "zero", np.int64), axis=1)
            return GraphStrings(str(first), str(counts))

        result: GraphStrings = self.memo(("strings", key), build)
        return result

    # -- categorical ids ---------------------------------------------------------------------

    def ids_of(self, column: CategoricalColumn) -> GraphIds:
        """The column's ids, built once: its own expression, or an id input."""
        found = self._ids.get(column)
        if found is None:
            found = column.onnx_ids(self, self.ids_of)
            if found is None:
                found = self.id_input(column)
            self._ids[column] = found
        return found

    def id_input(self, column: CategoricalColumn) -> GraphIds:
        """An input carrying the column's ids, computed by mlengine (-1: no id)."""
        name = ID_INPUT_PREFIX + column.name
        self.input(
            GraphInput(
                name,
                "int64",
                [-1],
                "ids",
                column.name,
                f"the ids of column {column.name!r} in [0, {column.num_buckets}), -1 for none, "
                "computed by mlengine (its stable hash): Predictor.onnx_inputs gives them",
            )
        )
        self.id_columns[name] = column
        return self.one_id(name, self.op("GreaterOrEqual", name, self.const(0, "zero", np.int64)))

    def one_id(self, ids: str, valid: str) -> GraphIds:
        """One id per row (``ids`` and ``valid``, both ``[n]``) as ``[n, 1]`` ids and weights:
        an invalid row's id is 0 with weight 0, as :func:`~mlengine.feature_column.encoding.layout`
        lays it out."""
        axis = self.const([1], "axis")
        kept = self.op("Where", valid, ids, self.const(0, "zero", np.int64))
        weights = self.op("Cast", valid, to=FLOAT)
        return GraphIds(
            str(self.op("Unsqueeze", kept, axis)), str(self.op("Unsqueeze", weights, axis))
        )

    def combine(self, ids: GraphIds, combiner: str) -> GraphIds:
        """:func:`~mlengine.feature_column.encoding.combine`: weights scaled per row so that a
        weighted sum implements TF's combiner (float64 sums, as the encoding's)."""
        if combiner == "sum":
            return ids
        if ids.slots == 1:  # one id per row: w / w, or w / |w|
            if combiner == "mean":
                positive = self.op("Greater", ids.weights, self.const(0.0, "zero", np.float32))
                return GraphIds(ids.ids, str(self.op("Cast", positive, to=FLOAT)), 1)
            return GraphIds(ids.ids, str(self.op("Sign", ids.weights)), 1)
        weights = self.op("Cast", ids.weights, to=DOUBLE)
        axes = self.const([1], "axes")
        if combiner == "mean":
            norm = self.op("ReduceSum", weights, axes, keepdims=1)
        else:
            norm = self.op("Sqrt", self.op("ReduceSum", self.op("Mul", weights, weights), axes))
        positive = self.op("Greater", norm, self.const(0.0, "zero", np.float64))
        safe = self.op("Where", positive, norm, self.const(1.0, "one", np.float64))
        scale = self.op("Where", positive, self.op("Reciprocal", safe), self.const(0.0, "zero"))
        scaled = self.op("Cast", self.op("Mul", weights, scale), to=FLOAT)
        return GraphIds(ids.ids, str(scaled), ids.slots)

    def multi_hot(self, ids: GraphIds, width: int) -> str:
        """``[n, width]`` float32: each row's ids' weights added up (an indicator column)."""
        one_hot = self.op(
            "OneHot",
            ids.ids,
            self.const(width, "depth", np.int64),
            self.const([0.0, 1.0], "off_on", np.float32),
            axis=-1,
        )
        weighted = self.op("Mul", one_hot, self.op("Unsqueeze", ids.weights, self.const([2])))
        return str(self.op("ReduceSum", weighted, self.const([1], "axes"), keepdims=0))

    # -- the model ---------------------------------------------------------------------------

    def model(
        self, outputs: Sequence[tuple[str, str, str, list[Any]]], name: str, doc: str
    ) -> onnx.ModelProto:
        """The finished model; ``outputs`` are ``(graph tensor, output name, dtype, shape)``."""
        import onnx
        from onnx import helper

        nodes = list(self.nodes)
        declared = []
        for tensor, output, dtype, shape in outputs:
            nodes.append(helper.make_node("Identity", [tensor], [output]))
            declared.append(
                helper.make_tensor_value_info(
                    output, ELEMENT_TYPES[dtype], [None if d == -1 else d for d in shape]
                )
            )
        inputs = [
            helper.make_tensor_value_info(
                spec.name,
                ELEMENT_TYPES[spec.dtype],
                ["batch" if d == -1 else d for d in spec.shape],
                doc_string=spec.description,
            )
            for spec in self.inputs.values()
        ]
        graph = helper.make_graph(nodes, name, inputs, declared, self.initializers)
        model = helper.make_model(
            graph,
            opset_imports=[
                helper.make_opsetid("", ONNX_OPSET),
                helper.make_opsetid("ai.onnx.ml", ONNX_ML_OPSET),
            ],
            producer_name="mlengine",
            doc_string=doc,
        )
        model.ir_version = 9  # onnxruntime 1.16 and later read it
        onnx.checker.check_model(model, full_check=True)
        return model


def encode(graph: OnnxGraph, transformer: FeatureTransformer) -> GraphEncoded:
    """The transformer's encodings of the graph's raw inputs, laid out as
    :meth:`FeatureTransformer.transform` lays them out (columns in name order, each sparse
    column's ids offset into one id space, dense columns by ``(dense_order, name)``)."""
    sparse = [
        graph.combine(graph.ids_of(column), transformer.sparse_combiner)
        for column in transformer.sparse_columns
    ]
    sparse_ids = sparse_weights = None
    if sparse:
        offset_ids = [
            graph.op("Add", ids.ids, graph.const(offset, "offset", np.int64))
            for ids, offset in zip(sparse, transformer.sparse_offsets, strict=True)
        ]
        sparse_ids = _concat(graph, offset_ids)
        sparse_weights = _concat(graph, [ids.weights for ids in sparse])
    dense_parts: list[str] = []
    for column in transformer.dense_columns:
        values = column.onnx_dense(graph, graph.ids_of)
        if values is None:
            raise NotSupportedError(
                f"Column {column.name!r} ({type(column).__name__}) has no ONNX expression, so "
                "the model cannot be exported as a portable ONNX graph."
            )
        dense_parts.append(
            graph.multi_hot(values, column.width) if isinstance(values, GraphIds) else values
        )
    embedded = [
        column.onnx_embedding_ids(graph, graph.ids_of) for column in transformer.embedding_columns
    ]
    return GraphEncoded(
        sparse_ids,
        sparse_weights,
        _concat(graph, dense_parts) if dense_parts else None,
        transformer.dense_width,
        tuple(e.ids for e in embedded),
        tuple(e.weights for e in embedded),
    )


def id_columns(
    linear: FeatureTransformer | None, dnn: FeatureTransformer | None
) -> dict[str, CategoricalColumn]:
    """The graph's id inputs, by input name, with the column each carries (the graph is
    rebuilt without weights: the same columns give the same inputs)."""
    graph = OnnxGraph()
    for transformer in (linear, dnn):
        if transformer is not None:
            encode(graph, transformer)
    return dict(graph.id_columns)


def onnx_inputs(
    entry: Mapping[str, Any],
    linear: FeatureTransformer | None,
    dnn: FeatureTransformer | None,
    features: RawBatch,
) -> dict[str, np.ndarray]:
    """Every input of the graph for a raw batch: each feature converted to the graph's dtype
    (a missing number NaN, a missing string "", a missing integer -1), and each id input
    computed by mlengine's feature columns (-1: no id)."""
    batch = FeatureBatch(features)
    memo: dict[Any, Ids] = {}

    def ids_of(column: Any) -> Ids:  # each column's ids once (crosses reuse their parts')
        if column not in memo:
            memo[column] = column.transform_ids(batch, ids_of)
        return memo[column]

    columns = id_columns(linear, dnn)
    feed: dict[str, np.ndarray] = {}
    for spec in entry["inputs"]:
        name, dtype = spec["name"], spec["dtype"]
        needed_by = spec.get("column") or name
        if spec["role"] == "ids":
            ids = ids_of(columns[name])
            if ids.ids.shape[1] != 1:
                raise NotSupportedError(
                    f"Column {needed_by!r} has several ids per row; the ONNX graph takes one."
                )
            feed[name] = np.where(ids.weights[:, 0] > 0, ids.ids[:, 0], -1).astype(np.int64)
        elif dtype == "string":
            strings = batch.strings(name, needed_by)  # stripped, numbers as decimal strings
            if strings.offsets is not None:
                raise NotSupportedError(
                    f"Feature {name!r} has several values per row; the ONNX graph takes one."
                )
            dictionary = strings.dictionary
            entries = dictionary.to_pylist() if hasattr(dictionary, "to_pylist") else dictionary
            table = np.asarray([*(v or "" for v in entries), ""], dtype=object)
            feed[name] = table[strings.codes]
        elif dtype == "int64":
            values, valid, offsets = batch.integers(name, needed_by)
            if offsets is not None:
                raise NotSupportedError(
                    f"Feature {name!r} has several values per row; the ONNX graph takes one."
                )
            feed[name] = np.where(valid, values, -1).astype(np.int64)
        else:
            width = int(np.prod(spec["shape"][1:] or [1]))
            values = batch.floats(name, width, needed_by)
            feed[name] = values.reshape([-1, *spec["shape"][1:]]).astype(np.float32)
    return feed


def _concat(graph: OnnxGraph, parts: Sequence[str]) -> str:
    return parts[0] if len(parts) == 1 else str(graph.op("Concat", *parts, axis=1))


__all__ = [
    "ID_INPUT_PREFIX",
    "ONNX_ML_OPSET",
    "ONNX_OPSET",
    "GraphEncoded",
    "GraphIds",
    "GraphIdsOf",
    "GraphInput",
    "GraphStrings",
    "OnnxGraph",
    "encode",
    "id_columns",
    "onnx_inputs",
]
