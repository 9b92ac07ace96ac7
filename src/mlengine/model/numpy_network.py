"""A trained network's inference forward in numpy: the Predictor's, at every batch size.

At a few rows the forward is per-op overhead, not arithmetic, and a numpy call costs a fraction
of a torch op's dispatch; for big batches it is as fast as torch's (one matmul per layer, in
cache-sized chunks), and a process that only predicts need not import torch at all (its import
dominates start-up). :class:`NumpyNetwork`
computes :class:`~mlengine.model.networks.WideDeepNetwork`'s eval-mode logits in float32, up to
rounding, from the same weights (its ``state_dict``, by name).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, TypeVar

import numpy as np

from mlengine.feature_column import EmbeddingSpec, EncodedFeatures
from mlengine.model.spec import BATCH_NORM_EPSILON
from mlengine.tuning import FOLDED_TABLE_BYTES, FORWARD_CHUNK_ROWS, GROUPED_TABLE_BYTES

if TYPE_CHECKING:
    from mlengine.feature_column.row_encoder import RowFeatures
    from mlengine.model.networks import WideDeepNetwork

Weights = Mapping[str, np.ndarray]
Inputs = TypeVar("Inputs", "EncodedFeatures", "RowFeatures")  # one part's inputs, either layout


def _elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(x))


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-x))


_SELU_ALPHA, _SELU_SCALE = 1.6732632423543772, 1.0507009873554805
NUMPY_ACTIVATIONS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0, out=x),
    "elu": _elu,
    "selu": lambda x: _SELU_SCALE * np.where(x > 0, x, _SELU_ALPHA * np.expm1(x)),
    "tanh": np.tanh,
    "sigmoid": _sigmoid,
    "leaky_relu": lambda x: np.where(x > 0, x, np.float32(0.01) * x),
    "swish": lambda x: x * _sigmoid(x),
    "silu": lambda x: x * _sigmoid(x),
}  # gelu (erf) has none: such networks keep torch


def _weighted_sum(
    table: np.ndarray, ids: np.ndarray, weights: np.ndarray, max_norm: float | None = None
) -> np.ndarray:
    """numpy's :func:`~mlengine.model.networks.weighted_sum`."""
    vectors = np.take(table, ids, axis=0)  # [n, slots, dim]
    if max_norm is not None:
        norms = np.maximum(np.linalg.norm(vectors, axis=-1, keepdims=True), 1e-12)
        vectors = vectors * np.minimum(max_norm / norms, 1.0).astype(np.float32)
    if ids.shape[1] == 1:
        return vectors[:, 0, :] * weights
    return (vectors * weights[:, :, None]).sum(axis=1)


def _affine(weights: Weights, prefix: str, norm: str | None) -> tuple[np.ndarray, np.ndarray]:
    """A layer's ``(W [in, out], b)``, with an eval-mode batch norm after it folded in."""
    weight = weights[f"{prefix}.weight"].T
    bias = weights[f"{prefix}.bias"]
    if norm is not None:
        inverse = 1 / np.sqrt(weights[f"{norm}.running_var"] + np.float32(BATCH_NORM_EPSILON))
        scale = weights[f"{norm}.weight"] * inverse
        weight = weight * scale
        bias = (bias - weights[f"{norm}.running_mean"]) * scale + weights[f"{norm}.bias"]
    return weight, bias


def dnn_layers(weights: Weights, batch_norm: bool) -> list[tuple[np.ndarray, np.ndarray]]:
    """The DNN part's layers in eval mode, hidden ones then the logits: ``(W [in, out], b)``
    each, read from the weights by name (``dnn.hidden.<i>``, ``dnn.logits``), with each
    hidden layer's batch norm (its moving statistics) folded into it. The one reading of
    those names for every inference path: numpy, ONNX and the ONNX error bound."""
    step = 2 if batch_norm else 1
    layers: list[tuple[np.ndarray, np.ndarray]] = []
    index = 0
    while f"dnn.hidden.{index}.weight" in weights:
        norm = f"dnn.hidden.{index + 1}" if batch_norm else None
        layers.append(_affine(weights, f"dnn.hidden.{index}", norm))
        index += step
    layers.append(_affine(weights, "dnn.logits", None))
    return layers


def _with_bias_row(weight: np.ndarray, bias: np.ndarray, ones: float, carry: bool) -> np.ndarray:
    """``[[W, 0], [b / ones, 1 / ones]]``: the layer as one matmul of an input whose last
    column holds ``ones``; with ``carry``, an extra output column of 1 (for the next layer)."""
    rows, units = weight.shape
    out = np.zeros((rows + 1, units + carry), dtype=np.float32)
    out[:rows, :units] = weight
    out[rows, :units] = bias / np.float32(ones)
    if carry:
        out[rows, units] = 1 / np.float32(ones)
    return out


class _EmbeddingGroup:
    """The univalent lookups of several tables of one dimension as one gather: the tables
    stacked, each one's ids offset by the rows before it. (Gathers use ``np.take``, which is
    faster than indexing a table with an array of row ids, ``table[ids]``.)"""

    def __init__(self, members: list[int], tables: list[np.ndarray]):
        self.members = members
        self.table = np.concatenate(tables)
        self.offsets = np.cumsum([0] + [len(t) for t in tables[:-1]])

    def __call__(self, ids: tuple[np.ndarray, ...], weights: tuple[np.ndarray, ...]) -> np.ndarray:
        rows = np.concatenate([ids[i] for i in self.members], axis=1) + self.offsets
        scale = np.concatenate([weights[i] for i in self.members], axis=1)
        vectors = np.take(self.table, rows, axis=0)  # [n, members, dim]
        if not (scale == 1).all():  # usually every value is there, with weight 1
            vectors *= scale[:, :, None]
        return vectors.reshape(len(rows), -1)


class NumpyNetwork:
    """``network(inputs)`` in eval mode, in numpy. Build with :meth:`from_weights` (or
    :meth:`of` a torch network).

    Embedding lookups are grouped by dimension (:class:`_EmbeddingGroup`) when every row has
    one id per column: the first layer's input rows are permuted once, here, to the grouped
    order, so the result is the same sum in another order.

    :meth:`rows` (a serving request's few rows) goes further: each embedding table is folded
    into the first layer once (``table @ W_slice``, a row per id), so that the first layer of a
    row is the sum of one folded row per embedding column plus its dense features' product.
    """

    def __init__(
        self,
        weights: Weights,
        embeddings: Sequence[EmbeddingSpec] | None,
        batch_norm: bool,
        activation: Callable[[np.ndarray], np.ndarray],
        linear_embeddings: Sequence[EmbeddingSpec] = (),
    ):
        self.bias = weights.get("bias")
        self.has_linear = "linear.bias" in weights
        if self.has_linear:
            self.sparse_table = weights["linear.sparse_weights"]
            self.dense_weights = weights["linear.dense_weights"]
            self.linear_bias = weights["linear.bias"]
            # Embedding columns of the linear part: their outputs follow the dense values.
            self.linear_embeddings = [
                (weights[f"linear.tables.{e.table}"], e.max_norm) for e in linear_embeddings
            ]
        self.has_dnn = embeddings is not None
        if embeddings is not None:
            self.embeddings = [(weights[f"dnn.tables.{e.table}"], e.max_norm) for e in embeddings]
            affine = dnn_layers(weights, batch_norm)
            # Each layer is one matmul: its input carries a column of ones (the first layer's
            # is appended to the features, later ones come out of the previous layer through
            # the activation, which turns 1 into activation(1)), and the bias is a weight row.
            # No bias add (nor batch norm) per layer: each was a pass over the activations.
            activated_one = float(activation(np.ones(1, dtype=np.float32))[0])
            self.layers = [
                _with_bias_row(w, b, 1.0 if i == 0 else activated_one, carry=i < len(affine) - 1)
                for i, (w, b) in enumerate(affine)
            ]
            self._group_embeddings()
        self.activation = activation
        self.relu = activation is NUMPY_ACTIVATIONS["relu"]
        self._zeros = np.zeros(0, dtype=np.float32)

    @classmethod
    def from_weights(
        cls,
        weights: Weights,
        embeddings: Sequence[EmbeddingSpec] | None,
        batch_norm: bool = False,
        activation: str = "relu",
        linear_embeddings: Sequence[EmbeddingSpec] = (),
    ) -> NumpyNetwork | None:
        """The forward of a network with these weights (a ``state_dict`` as float32 arrays),
        the DNN's embedding specs (None: no DNN) and the linear part's; None for an
        activation numpy lacks."""
        function = NUMPY_ACTIVATIONS.get(activation)
        if embeddings is not None and function is None:
            return None
        relu = NUMPY_ACTIVATIONS["relu"]
        return cls(weights, embeddings, batch_norm, function or relu, linear_embeddings)

    @classmethod
    def of(cls, network: WideDeepNetwork) -> NumpyNetwork | None:
        """The forward of an eval-mode torch network, sharing its weights' memory (the
        network must not be trained afterwards); None for an activation numpy lacks."""
        from mlengine.model.networks import ACTIVATIONS

        if network.training:
            raise ValueError("NumpyNetwork needs a network in eval mode.")
        weights = {name: t.detach().numpy() for name, t in network.state_dict().items()}
        linear = () if network.linear is None else network.linear.embedding_specs
        if network.dnn is None:
            return cls.from_weights(weights, None, linear_embeddings=linear)
        name = next((n for n, f in ACTIVATIONS.items() if f is network.dnn.activation), "")
        dnn = network.dnn
        return cls.from_weights(weights, dnn.embedding_specs, dnn.batch_norm, name, linear)

    def _group_embeddings(self) -> None:
        # A group holds a copy of its tables: only small tables (all of census's) are grouped.
        dims: dict[int, list[int]] = {}
        for i, (table, max_norm) in enumerate(self.embeddings):
            if max_norm is None and table.nbytes <= GROUPED_TABLE_BYTES:
                dims.setdefault(table.shape[1], []).append(i)
        self.groups = [
            _EmbeddingGroup(members, [self.embeddings[i][0] for i in members])
            for members in dims.values()
        ]
        grouped = {i for group in self.groups for i in group.members}
        self.ungrouped = [i for i in range(len(self.embeddings)) if i not in grouped]
        # Input rows of the first layer: the dense features, then each embedding's slice (and
        # the bias row last); the grouped order puts each group's embeddings together.
        first = self.layers[0]
        embedded = sum(table.shape[1] for table, _ in self.embeddings)
        dense_width = first.shape[0] - 1 - embedded
        starts = np.cumsum([dense_width] + [table.shape[1] for table, _ in self.embeddings])
        order = list(range(dense_width))
        for i in [i for group in self.groups for i in group.members] + self.ungrouped:
            order.extend(range(starts[i], starts[i] + self.embeddings[i][0].shape[1]))
        order.append(first.shape[0] - 1)
        self.grouped_first = np.ascontiguousarray(first[order])
        self._fold(first, dense_width, starts)

    def _fold(self, first: np.ndarray, dense_width: int, starts: np.ndarray) -> None:
        """The row path's first layer: ``first_dense`` and ``first_bias`` for the dense
        features, and every table (rows clipped to max_norm) times its slice of the first layer,
        stacked in ``folded`` with each column's first row in ``folded_offsets``. No folding
        (``folded`` None) when the stack would take more than FOLDED_TABLE_BYTES."""
        self.first_dense = first[:dense_width]
        self.first_bias = first[-1]
        rows = sum(len(table) for table, _ in self.embeddings)
        self.folded: np.ndarray | None = None
        if rows * first.shape[1] * 4 > FOLDED_TABLE_BYTES:
            return
        folded = [np.zeros((0, first.shape[1]), dtype=np.float32)]
        for (table, max_norm), start in zip(self.embeddings, starts[:-1], strict=True):
            if max_norm is not None:
                norms = np.maximum(np.linalg.norm(table, axis=-1, keepdims=True), 1e-12)
                table = table * np.minimum(max_norm / norms, 1.0).astype(np.float32)
            folded.append(table @ first[start : start + table.shape[1]])
        self.folded = np.concatenate(folded)
        self.folded_offsets = np.cumsum([0] + [len(table) for table, _ in self.embeddings[:-1]])

    def __call__(
        self, linear: EncodedFeatures | None, dnn: EncodedFeatures | None, num_rows: int
    ) -> np.ndarray:
        """Logits ``[num_rows, logits_dimension]`` (float32)."""
        if num_rows > FORWARD_CHUNK_ROWS and self.bias is None:
            return np.concatenate([
                self._sum(
                    None if linear is None else linear.slice(start, start + FORWARD_CHUNK_ROWS),
                    None if dnn is None else dnn.slice(start, start + FORWARD_CHUNK_ROWS),
                    min(FORWARD_CHUNK_ROWS, num_rows - start),
                    self._dnn,
                )
                for start in range(0, num_rows, FORWARD_CHUNK_ROWS)
            ])  # fmt: skip
        return self._sum(linear, dnn, num_rows, self._dnn)

    def rows(
        self, linear: RowFeatures | None, dnn: RowFeatures | None, num_rows: int
    ) -> np.ndarray:
        """Logits of a few rows from the row path (:class:`RowFeatures`: one id per row and
        embedding column), with the folded first layer; the same as ``__call__`` up to
        float32 rounding."""
        return self._sum(linear, dnn, num_rows, self._dnn_rows)

    def _sum(
        self,
        linear: EncodedFeatures | RowFeatures | None,
        dnn: Inputs | None,
        num_rows: int,
        deep: Callable[[Inputs], np.ndarray],
    ) -> np.ndarray:
        """The linear part's logits plus the DNN's (computed by ``deep``), or the bias alone."""
        if self.bias is not None:
            return np.tile(self.bias, (num_rows, 1))
        logits = self._linear(linear, num_rows) if self.has_linear else None
        if self.has_dnn:
            assert dnn is not None
            logits = deep(dnn) if logits is None else logits + deep(dnn)
        assert logits is not None
        return logits

    def _linear(self, linear: EncodedFeatures | RowFeatures | None, num_rows: int) -> np.ndarray:
        assert linear is not None
        logits = self.linear_bias
        if linear.sparse_ids.shape[1]:
            logits = logits + _weighted_sum(
                self.sparse_table, linear.sparse_ids, linear.sparse_weights
            )
        dense = linear.dense
        if self.linear_embeddings:
            encoded = linear if isinstance(linear, EncodedFeatures) else linear.encoded()
            looked_up = [
                _weighted_sum(table, ids, weights, max_norm)
                for (table, max_norm), ids, weights in zip(
                    self.linear_embeddings,
                    encoded.embedding_ids,
                    encoded.embedding_weights,
                    strict=True,
                )
            ]
            dense = np.concatenate([dense, *looked_up], axis=1)
        if dense.shape[1]:
            logits = logits + dense @ self.dense_weights
        if logits.ndim == 1:
            logits = np.tile(logits, (num_rows, 1))
        return logits

    def _dnn_rows(self, dnn: RowFeatures) -> np.ndarray:
        if self.folded is None:  # tables too big to fold: the general forward
            return self._dnn(dnn.encoded())
        x = dnn.dense @ self.first_dense  # zeros [n, units] when there are no dense features
        x += self.first_bias
        # One folded row per (row, column), weighted (0 for a missing value) and summed:
        # [n, 1, columns] @ [n, columns, units].
        if dnn.embedding_ids.shape[1]:
            looked_up = self.folded[dnn.embedding_ids + self.folded_offsets]
            x = x + np.matmul(dnn.embedding_weights[:, None, :], looked_up)[:, 0, :]
        for layer in self.layers[1:]:
            x = self._activate(x) @ layer
        return x

    def _dnn(self, dnn: EncodedFeatures) -> np.ndarray:
        ids, weights = dnn.embedding_ids, dnn.embedding_weights
        num_rows = dnn.dense.shape[0]
        parts = [dnn.dense] if dnn.dense.shape[1] else []
        layers = list(self.layers)
        if self.groups and all(i.shape[1] == 1 for i in ids):
            parts.extend(group(ids, weights) for group in self.groups)
            order = self.ungrouped
            layers[0] = self.grouped_first
        else:
            order = list(range(len(self.embeddings)))
        for i in order:
            table, max_norm = self.embeddings[i]
            parts.append(_weighted_sum(table, ids[i], weights[i], max_norm))
        parts.append(np.ones((num_rows, 1), dtype=np.float32))
        x = np.concatenate(parts, axis=1)
        for layer in layers[:-1]:
            x = self._activate(x @ layer)
        return x @ layers[-1]

    def _activate(self, x: np.ndarray) -> np.ndarray:
        if not self.relu:
            return self.activation(x)
        # np.maximum with a zeros array of x's shape is several times faster than with the
        # scalar 0 (numpy's broadcast loop); the zeros are reused, and only ever read.
        if self._zeros.size < x.size:
            self._zeros = np.zeros(max(x.size, FORWARD_CHUNK_ROWS * x.shape[1]), dtype=np.float32)
        return np.maximum(x, self._zeros[: x.size].reshape(x.shape), out=x)
