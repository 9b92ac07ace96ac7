"""The networks: a linear ("wide") part, a DNN ("deep") part, and their sum.

Every canned estimator is one :class:`WideDeepNetwork`: Linear* has only the linear part, DNN*
only the DNN, Wide & Deep both (logits added, as tf.estimator's ``dnn_linear_combined``), and
Baseline* neither (a bias alone). Initialisation follows TensorFlow, not PyTorch: linear weights
and biases start at zero, hidden layers are Glorot-uniform with zero bias, embedding tables are
truncated normal with stddev 1/sqrt(dimension).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import torch
import torch.nn.functional as F
from torch import nn

from mlengine.errors import InvalidParameterError
from mlengine.feature_column import EmbeddingSpec, FeatureTransformer
from mlengine.model.feature_tensors import FeatureTensors
from mlengine.tuning import PARALLEL_PUT_MIN_IDS

ACTIVATIONS: dict[str, Any] = {
    "relu": F.relu,
    "elu": F.elu,
    "selu": F.selu,
    "gelu": F.gelu,
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "leaky_relu": F.leaky_relu,
    "swish": F.silu,
    "silu": F.silu,
}


def activation_name(activation: Any) -> str:
    """The stored name of an activation given as a name or as the torch function."""
    if isinstance(activation, str):
        name = activation.lower().removeprefix("tf.nn.")
        if name in ACTIVATIONS:
            return name
    else:
        for name, function in ACTIVATIONS.items():
            if activation is function or activation in (nn.ReLU, torch.relu):
                return "relu" if activation in (nn.ReLU, torch.relu) else name
    raise InvalidParameterError(
        f"The 'activation_fn' parameter must be one of {sorted(ACTIVATIONS)} or the matching "
        f"torch function. Got {activation!r} instead."
    )


def _take_is_deterministic(ids: torch.Tensor) -> bool:
    """Whether ``torch.take``'s gradient on CPU adds up in index order, as ``index_select``'s
    always does (and so bitwise equal to it): on one thread, or below ATen's grain size."""
    return ids.numel() < PARALLEL_PUT_MIN_IDS or torch.get_num_threads() == 1


def weighted_sum(
    table: torch.Tensor,
    ids: torch.Tensor,
    weights: torch.Tensor,
    max_norm: float | None = None,
    *,
    sparse: bool = False,
) -> torch.Tensor:
    """``out[r] = sum_j weights[r, j] * table[ids[r, j]]`` (rows clipped to ``max_norm``).

    The same as ``F.embedding_bag(mode="sum", per_sample_weights=...)`` with fixed-size bags,
    written with ``index_select``: its backward is a plain ``index_add``, where embedding_bag's
    sorts the ids first, which costs more than the whole lookup at small batches. That
    gradient is dense, a whole table per step; with ``sparse`` the lookup is ``F.embedding(...,
    sparse=True)``, whose gradient holds only the rows looked up (TensorFlow's
    ``IndexedSlices``), so that the optimizer updates those rows alone.
    """
    if sparse:
        return _sparse_weighted_sum(table, ids, weights, max_norm)
    rows, slots = ids.shape
    if slots == 1 and max_norm is None:  # one id per row: two ops (this runs every step)
        return table.index_select(0, ids.reshape(-1)) * weights
    if table.shape[1] == 1 and max_norm is None:
        # One weight per id (a linear part with one logit): gathered as [rows, slots], where
        # the multiply and the sum are cheaper than over [rows, slots, 1], by ``take`` in one
        # op (index_select and view are two autograd nodes): together 5% of a batch-40 step.
        if _take_is_deterministic(ids):
            scalars = torch.take(table, ids)
        else:
            scalars = table.index_select(0, ids.reshape(-1)).view(rows, slots)
        return (scalars * weights).sum(dim=1, keepdim=True)
    vectors = table.index_select(0, ids.reshape(-1)).view(rows, slots, table.shape[1])
    if max_norm is not None:
        norms = vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        vectors = vectors * (max_norm / norms).clamp(max=1.0)
    if slots == 1:
        return vectors[:, 0, :] * weights
    return (vectors * weights.unsqueeze(-1)).sum(dim=1)


def _sparse_weighted_sum(
    table: torch.Tensor, ids: torch.Tensor, weights: torch.Tensor, max_norm: float | None
) -> torch.Tensor:
    """:func:`weighted_sum` with a row-sparse gradient (an uncoalesced sparse COO tensor)."""
    vectors = F.embedding(ids, table, sparse=True)  # [rows, slots, dim]
    if max_norm is not None:
        norms = vectors.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        vectors = vectors * (max_norm / norms).clamp(max=1.0)
    if ids.shape[1] == 1:
        return vectors[:, 0, :] * weights
    return (vectors * weights.unsqueeze(-1)).sum(dim=1)


def _embedding_tables(specs: Sequence[EmbeddingSpec]) -> nn.ParameterDict:
    """One table per distinct table name, truncated normal with stddev 1/sqrt(dimension)
    (TF's default initializer), clipped at two standard deviations."""
    tables = nn.ParameterDict()
    for spec in specs:
        if spec.table in tables:
            continue
        table = torch.empty(spec.num_buckets, spec.dimension)
        nn.init.trunc_normal_(table, std=spec.stddev, a=-2 * spec.stddev, b=2 * spec.stddev)
        tables[spec.table] = nn.Parameter(table, requires_grad=spec.trainable)
    return tables


class LinearPart(nn.Module):
    """``sum_i w[id_i] * weight_i + [dense, embeddings] @ W + b``: one weight per sparse id (an
    EmbeddingBag), and a weight per dense value, embedding columns' outputs included (TF 2's
    linear model takes any dense column; its embedding tables are trained with the linear
    part's optimizer)."""

    def __init__(
        self,
        num_sparse_ids: int,
        dense_width: int,
        logits_dimension: int,
        embeddings: Sequence[EmbeddingSpec] = (),
    ):
        super().__init__()
        self.embedding_specs = tuple(embeddings)
        width = dense_width + sum(spec.dimension for spec in self.embedding_specs)
        self.sparse_weights = nn.Parameter(torch.zeros(max(num_sparse_ids, 1), logits_dimension))
        self.dense_weights = nn.Parameter(torch.zeros(width, logits_dimension))
        self.bias = nn.Parameter(torch.zeros(logits_dimension))
        if self.embedding_specs:  # no empty ParameterDict: state_dicts of earlier exports match
            self.tables = _embedding_tables(self.embedding_specs)
        self.has_sparse = num_sparse_ids > 0
        self.has_dense = width > 0
        self.sparse_gradients = False  # see WideDeepNetwork.use_sparse_gradients

    def forward(self, features: FeatureTensors) -> torch.Tensor:
        logits: torch.Tensor = self.bias
        if self.has_sparse:
            logits = logits + weighted_sum(
                self.sparse_weights,
                features.sparse_ids,
                features.sparse_weights,
                sparse=self.sparse_gradients,
            )
        if self.has_dense:
            dense = features.dense
            if self.embedding_specs:
                embedded = [
                    weighted_sum(self.tables[spec.table], ids, weights, spec.max_norm)
                    for spec, ids, weights in zip(
                        self.embedding_specs,
                        features.embedding_ids,
                        features.embedding_weights,
                        strict=True,
                    )
                ]
                dense = torch.cat([dense, *embedded], dim=1)
            logits = logits + dense @ self.dense_weights
        return logits.expand(features.num_rows, -1) if logits.dim() == 1 else logits


class DNNPart(nn.Module):
    """Embeddings and dense features concatenated, then a feed-forward stack to logits."""

    def __init__(
        self,
        dense_width: int,
        embeddings: Sequence[EmbeddingSpec],
        hidden_units: Sequence[int],
        logits_dimension: int,
        activation: str = "relu",
        dropout: float | None = None,
        batch_norm: bool = False,
    ):
        super().__init__()
        self.embedding_specs = tuple(embeddings)
        self.tables = _embedding_tables(self.embedding_specs)
        self.activation = ACTIVATIONS[activation]
        width = dense_width + sum(spec.dimension for spec in self.embedding_specs)
        layers: list[nn.Module] = []
        for units in hidden_units:
            layers.append(_glorot_linear(width, units))
            if batch_norm:
                layers.append(nn.BatchNorm1d(units, momentum=0.01, eps=1e-3))  # Keras' defaults
            width = units
        self.hidden = nn.ModuleList(layers)
        self.batch_norm = batch_norm
        self.dropout = dropout or 0.0
        self.logits = _glorot_linear(width, logits_dimension)
        self.sparse_gradients = False  # see WideDeepNetwork.use_sparse_gradients

    def forward(self, features: FeatureTensors) -> torch.Tensor:
        parts = [features.dense] if features.dense.shape[1] else []
        for spec, ids, weights in zip(
            self.embedding_specs, features.embedding_ids, features.embedding_weights, strict=True
        ):
            table = self.tables[spec.table]
            parts.append(
                weighted_sum(table, ids, weights, spec.max_norm, sparse=self.sparse_gradients)
            )
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)
        if not (self.batch_norm or (self.dropout and self.training)):
            # The common case with the fewest Python calls per layer: F.linear on the weights,
            # not a module call (at batch 40 the step is overhead, not arithmetic).
            activation = self.activation
            for layer in self.hidden:
                linear = cast(nn.Linear, layer)
                x = activation(F.linear(x, linear.weight, linear.bias))
            return F.linear(x, self.logits.weight, self.logits.bias)
        step = 2 if self.batch_norm else 1
        for i in range(0, len(self.hidden), step):
            x = self.hidden[i](x)
            if self.batch_norm:
                x = _batch_norm(self.hidden[i + 1], x)
            x = self.activation(x)
            if self.dropout and self.training:
                x = F.dropout(x, self.dropout, training=True)
        return self.logits(x)


def _batch_norm(layer: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """``layer(x)``, except that a training batch of one row (which torch refuses) is
    normalised with its own statistics, as Keras does, giving the bias; the moving statistics
    are left as they are (torch's unbiased variance of one row would make them NaN)."""
    if not (layer.training and x.shape[0] == 1):
        return layer(x)
    assert isinstance(layer, nn.BatchNorm1d)
    centred = x - x.mean(dim=0, keepdim=True)
    variance = centred.pow(2).mean(dim=0, keepdim=True)
    return centred * torch.rsqrt(variance + layer.eps) * layer.weight + layer.bias


def _glorot_linear(fan_in: int, fan_out: int) -> nn.Linear:
    layer = nn.Linear(fan_in, fan_out)
    nn.init.xavier_uniform_(layer.weight)
    nn.init.zeros_(layer.bias)
    return layer


@dataclass(frozen=True)
class NetworkInputs:
    """Features of one batch for each part of the network (``None`` for an absent part)."""

    linear: FeatureTensors | None
    dnn: FeatureTensors | None
    num_rows: int

    def split(self, size: int) -> list[NetworkInputs]:
        """Consecutive batches of ``size`` rows, as views."""
        count = -(-self.num_rows // size)
        linear = [None] * count if self.linear is None else self.linear.split(size)
        dnn = [None] * count if self.dnn is None else self.dnn.split(size)
        rows = [min(size, self.num_rows - i * size) for i in range(count)]
        return [NetworkInputs(a, b, n) for a, b, n in zip(linear, dnn, rows, strict=True)]

    def slice(self, start: int, stop: int) -> NetworkInputs:
        return NetworkInputs(
            None if self.linear is None else self.linear.slice(start, stop),
            None if self.dnn is None else self.dnn.slice(start, stop),
            min(stop, self.num_rows) - start,
        )


class WideDeepNetwork(nn.Module):
    """logits = linear(x_linear) + dnn(x_dnn) (+ a bias when both parts are absent)."""

    def __init__(
        self,
        logits_dimension: int,
        linear_transformer: FeatureTransformer | None = None,
        dnn_transformer: FeatureTransformer | None = None,
        hidden_units: Sequence[int] = (),
        activation: str = "relu",
        dropout: float | None = None,
        batch_norm: bool = False,
    ):
        super().__init__()
        self.linear = (
            None
            if linear_transformer is None
            else LinearPart(
                linear_transformer.num_sparse_ids,
                linear_transformer.dense_width,
                logits_dimension,
                linear_transformer.embedding_specs,
            )
        )
        self.dnn = (
            None
            if dnn_transformer is None
            else DNNPart(
                dnn_transformer.dense_width,
                dnn_transformer.embedding_specs,
                hidden_units,
                logits_dimension,
                activation,
                dropout,
                batch_norm,
            )
        )
        self.bias = (
            nn.Parameter(torch.zeros(logits_dimension))
            if self.linear is None and self.dnn is None
            else None
        )

    def forward(self, inputs: NetworkInputs) -> torch.Tensor:
        if self.bias is not None:
            return self.bias.expand(inputs.num_rows, -1)
        logits: torch.Tensor | None = None
        if self.linear is not None:
            assert inputs.linear is not None
            logits = self.linear(inputs.linear)
        if self.dnn is not None:
            assert inputs.dnn is not None
            deep = self.dnn(inputs.dnn)
            logits = deep if logits is None else logits + deep
        assert logits is not None
        return logits

    def use_sparse_gradients(self, parts: Iterable[str]) -> None:
        """Give the lookup tables of ``parts`` (``"linear"``, ``"dnn"``) row-sparse gradients.

        TensorFlow trains the variables that feature columns look rows up in (the linear
        part's weights, embedding tables) with its sparse kernels: a step updates the rows
        the batch looked up, and only those. That is what the optimizers that have sparse
        kernels (FTRL, Adagrad, SGD, LazyAdam) are given here; those that have none (Adam,
        RMSProp) update whole tables from dense gradients, as TensorFlow's do.
        """
        chosen = set(parts)
        if self.linear is not None:
            self.linear.sparse_gradients = "linear" in chosen
        if self.dnn is not None:
            self.dnn.sparse_gradients = "dnn" in chosen

    def row_sparse_parameters(self) -> list[nn.Parameter]:
        """The trainable lookup tables that get row-sparse gradients (see
        :meth:`use_sparse_gradients`): their ``.grad`` is a sparse COO tensor of the rows a
        step looked up, or None."""
        tables: list[nn.Parameter] = []
        if self.linear is not None and self.linear.sparse_gradients and self.linear.has_sparse:
            tables.append(self.linear.sparse_weights)
        if self.dnn is not None and self.dnn.sparse_gradients:
            tables.extend(t for t in self.dnn.tables.values() if t.requires_grad)
        return tables

    def parameter_groups(self) -> dict[str, list[nn.Parameter]]:
        """Trainable parameters per part: ``linear`` (also the baseline bias) and ``dnn``."""
        groups: dict[str, list[nn.Parameter]] = {"linear": [], "dnn": []}
        if self.linear is not None:
            groups["linear"] = [p for p in self.linear.parameters() if p.requires_grad]
        if self.bias is not None:
            groups["linear"] = [self.bias]
        if self.dnn is not None:
            groups["dnn"] = [p for p in self.dnn.parameters() if p.requires_grad]
        return groups
