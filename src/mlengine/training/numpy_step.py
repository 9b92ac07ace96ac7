"""The forward and backward pass of the common Wide & Deep network in numpy, on CPU.

At the census tutorial's batch of 40 a torch step is some 40 kernels through the dispatcher and
autograd, whose overhead outweighs the arithmetic. A numpy call costs a fraction of that overhead
and a backward written out needs no graph. :class:`NumpyStep` writes the gradient of the loss into
every parameter's own ``.grad`` (numpy views of the same memory), so the optimizers, gradient
clipping, checkpoints and everything else work on the result unchanged. A lookup table with
row-sparse gradients (``WideDeepNetwork.row_sparse_parameters``) gets the rows the batch
looked up and their gradients instead, handed to the updates as numpy arrays
(:class:`~mlengine.training.sparse_grads.RowGradients`): the same sums, in the same order, as
the dense gradient's rows, and no work over the rest of the table.

It covers what the tutorial and most census models use (:func:`unsupported` says why a model
is not covered, and that model trains with torch): float32 on CPU; a linear part and/or a DNN
with relu, without batch norm or dropout; embeddings without ``max_norm``; the binary logistic
head with the default loss reduction. A batch with example weights, or with several ids in a
row of an embedding column, is trained by torch. Sums run in
another order than torch's, so weights agree with torch's to float32 rounding (a test
trains both ways).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np
import torch
import torch.nn.functional as F

from mlengine.feature_column import EmbeddingSpec, EncodedFeatures
from mlengine.model.encode import BatchView, EncodedBatch
from mlengine.model.heads import SUM, SUM_OVER_BATCH_SIZE, BinaryClassHead, Head
from mlengine.model.networks import LinearPart, WideDeepNetwork
from mlengine.training.sparse_grads import RowGradients


def unsupported(network: torch.nn.Module, head: Head) -> str | None:
    """Why :class:`NumpyStep` cannot train this model (None: it can)."""
    if not isinstance(network, WideDeepNetwork) or network.bias is not None:
        return "not a linear or DNN network"
    if not isinstance(head, BinaryClassHead) or head.loss_reduction not in (
        SUM_OVER_BATCH_SIZE,
        SUM,
    ):
        return "not the binary head"
    params = list(network.parameters())
    if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
        return "not float32 on CPU"
    if network.linear is not None and network.linear.embedding_specs:
        return "an embedding column in the linear part"
    dnn = network.dnn
    if dnn is not None:
        if dnn.batch_norm or dnn.dropout or dnn.activation is not F.relu:
            return "batch norm, dropout or an activation other than relu"
        if any(spec.max_norm is not None for spec in dnn.embedding_specs):
            return "an embedding with max_norm"
    return None


def _binary_losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """softplus(z) - z * y, the binary cross-entropy of a logit, per example (float64)."""
    z = logits.astype(np.float64).reshape(len(labels))
    return np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - z * labels


class Loss:
    """The batch's loss (mean, or sum for TF 1's ``loss_reduction=SUM``), computed only when
    read (summaries and logs read it every N steps): ``float(loss.detach())`` as for a torch
    loss. ``per_example`` computes each example's loss from the logits and labels (float64);
    the default is the binary head's."""

    def __init__(
        self,
        logits: np.ndarray,
        labels: np.ndarray,
        summed: bool = False,
        per_example: Callable[[np.ndarray, np.ndarray], np.ndarray] = _binary_losses,
    ):
        self._logits = logits
        self._labels = labels
        self._summed = summed
        self._per_example = per_example

    def detach(self) -> Loss:
        return self

    def __float__(self) -> float:
        losses = self._per_example(self._logits, self._labels)
        if self._summed:
            return float(losses.sum())
        return float(losses.mean()) if losses.size else math.nan


def _view(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


class NumpyStep:
    """``step(batch)``: the loss's gradients in every trainable parameter's ``.grad`` (see the
    module docstring), overwritten: they must stay the same tensors while it is used."""

    def __init__(
        self,
        network: WideDeepNetwork,
        row_grads: RowGradients | None = None,
        tables: list[torch.nn.Parameter] | None = None,
        summed: bool = False,
    ):
        self._summed = summed  # TF 1's loss_reduction=SUM: the gradient is not divided by n
        self._linear = network.linear
        self._dnn = network.dnn
        self._row_grads = row_grads or RowGradients()
        if tables is None:
            tables = network.row_sparse_parameters()
        row_sparse = {id(p) for p in tables}
        self._row_index = {id(p): _RowIndex(len(p)) for p in tables}
        if network.linear is not None:
            self._linear_sum = LinearSum(
                network.linear, row_sparse, self._row_index, self._row_grads
            )
        dnn = network.dnn
        if dnn is not None:
            self._inputs = EmbeddedInputs(
                dnn.tables, dnn.embedding_specs, row_sparse, self._row_index, self._row_grads
            )
            ops: list[Affine | str] = []
            for layer in dnn.hidden:
                ops += [Affine.of(cast(torch.nn.Linear, layer)), "relu"]
            self._layers = DenseLayers([*ops, Affine.of(dnn.logits)])

    def __call__(self, batch: EncodedBatch | BatchView) -> Loss | None:
        """The gradients of ``batch``'s loss, written; None (nothing written) for a batch that
        torch must train: one with example weights, or with several ids in a row of an
        embedding column."""
        arrays = batch.arrays()  # numpy views: a chunk's batch never becomes tensors here
        if arrays.weights is not None:
            return None
        if self._dnn is not None:
            assert arrays.dnn is not None
            if not univalent(arrays.dnn):
                return None
        labels = arrays.labels
        assert labels is not None
        logits = np.zeros(arrays.num_rows, dtype=np.float32)
        if self._linear is not None:
            assert arrays.linear is not None
            logits += self._linear_sum.forward(arrays.linear)
        outputs: list[np.ndarray] = []
        if self._dnn is not None:
            assert arrays.dnn is not None
            outputs = self._layers.forward(self._inputs.forward(arrays.dnn))
            logits += outputs[-1][:, 0]
        grad = binary_gradient(logits, labels, self._summed)[:, None]
        if self._linear is not None:
            assert arrays.linear is not None
            self._linear_sum.backward(arrays.linear, grad)
        if self._dnn is not None:
            assert arrays.dnn is not None
            needed = self._inputs.embedded_grad_columns()
            below = self._layers.backward(outputs, grad, needed)
            if below is not None:
                self._inputs.backward(arrays.dnn, below)
        return Loss(logits, labels, self._summed)


# -- the pieces of a DNN's step, shared with module_step (a custom estimator's own network)


def binary_gradient(logits: np.ndarray, labels: np.ndarray, summed: bool) -> np.ndarray:
    """d(mean binary cross-entropy)/d(logit) = (sigmoid(z) - y) / n (no / n for a sum), of
    logits of the labels' shape."""
    grad = np.tanh(logits * 0.5)
    grad += 1.0
    grad *= 0.5
    grad -= labels
    if not summed:
        grad *= 1.0 / max(len(labels), 1)
    return grad


def univalent(inputs: EncodedFeatures) -> bool:
    """Whether every embedding column has one id a row (what :class:`EmbeddedInputs` takes)."""
    return all(ids.shape[1] == 1 for ids in inputs.embedding_ids)


class LinearSum:
    """The linear part with one logit in numpy, ``bias + sum_j w[id_j] * weight_j + dense @ W``
    (:class:`~mlengine.model.networks.LinearPart` without embedding columns); :meth:`backward`
    writes its gradients (the looked-up rows of a ``row_sparse`` weight table into
    ``row_grads``)."""

    def __init__(
        self,
        part: LinearPart,
        row_sparse: set[int],
        row_index: dict[int, _RowIndex],
        row_grads: RowGradients,
    ):
        self._part = part
        self._row_index = row_index
        self._row_grads = row_grads
        self._sparse = _view(part.sparse_weights)[:, 0]
        self._sparse_param = part.sparse_weights
        self._sparse_rows = id(part.sparse_weights) in row_sparse
        self._sparse_grad = None if self._sparse_rows else _grad_view(part.sparse_weights)
        self._linear_bias = _view(part.bias)
        self._linear_bias_grad = _grad_view(part.bias)
        self._dense_weights = _view(part.dense_weights)
        self._dense_grad = _grad_view(part.dense_weights)

    def forward(self, inputs: EncodedFeatures) -> np.ndarray:
        """The logit of every row, ``[n]``."""
        out = np.add.reduce(self._sparse[inputs.sparse_ids] * inputs.sparse_weights, axis=1)
        out += self._linear_bias[0]
        if self._part.has_dense:
            out += (inputs.dense @ self._dense_weights)[:, 0]
        return out

    def backward(self, inputs: EncodedFeatures, grad: np.ndarray) -> None:
        """The gradients from ``grad``, the logits' ``[n, 1]``."""
        ids = inputs.sparse_ids
        weights = inputs.sparse_weights
        self._linear_bias_grad[0] = np.add.reduce(grad[:, 0])
        if self._part.has_sparse:
            contributions = (weights * grad).reshape(-1)
            if self._sparse_rows:  # the rows looked up, each one's gradient summed
                table = self._sparse_param
                rows, inverse = self._row_index[id(table)](ids.reshape(-1))
                per_row = np.bincount(inverse, contributions, minlength=len(rows))
                self._row_grads.put(table, rows, per_row.astype(np.float32)[:, None])
            else:
                per_id = np.bincount(ids.reshape(-1), contributions, minlength=len(self._sparse))
                assert self._sparse_grad is not None
                np.copyto(self._sparse_grad[:, 0], per_id)
        if self._part.has_dense:
            np.matmul(inputs.dense.T, grad, out=self._dense_grad)


class EmbeddedInputs:
    """The input of a DNN, ``[n, dense + embedded]``: the dense values, then each embedding
    column's vector (one id a row, no ``max_norm``), as ``DNNPart`` and ``DenseFeatures``
    concatenate them; :meth:`backward` writes the trainable tables' gradients (dense, or the
    rows looked up for the tables in ``row_sparse``, into ``row_grads``)."""

    def __init__(
        self,
        tables: torch.nn.ParameterDict,
        specs: Sequence[EmbeddingSpec],
        row_sparse: set[int],
        row_index: dict[int, _RowIndex],
        row_grads: RowGradients,
    ):
        self._specs = tuple(specs)
        params = [tables[spec.table] for spec in self._specs]
        self._tables = [_view(table) for table in params]
        self._embedded_width = sum(spec.dimension for spec in self._specs)
        self._table_params = params
        self._table_rows = [t.requires_grad and id(t) in row_sparse for t in params]
        self._table_grads = [
            _grad_view(table) if table.requires_grad and not rows else None
            for table, rows in zip(params, self._table_rows, strict=True)
        ]
        self._row_index = row_index
        self._row_grads = row_grads
        self.needs_grad = any(self._table_rows) or any(g is not None for g in self._table_grads)

    def embedded_grad_columns(self) -> int | None:
        """How many last columns of the input the backward needs the gradient of: the
        embeddings' (None: no trainable table, no gradient needed)."""
        return self._embedded_width if self.needs_grad else None

    def forward(self, inputs: EncodedFeatures) -> np.ndarray:
        dense = inputs.dense
        rows, width = dense.shape
        x = np.empty((rows, width + self._embedded_width), np.float32)
        x[:, :width] = dense
        start = width
        for table, spec, ids, weights in zip(
            self._tables, self._specs, inputs.embedding_ids, inputs.embedding_weights,
            strict=True,
        ):  # fmt: skip
            stop = start + spec.dimension
            np.multiply(table[ids[:, 0]], weights, out=x[:, start:stop])
            start = stop
        return x

    def backward(self, inputs: EncodedFeatures, grad: np.ndarray) -> None:
        """The tables' gradients from ``grad``, the gradient of the embedded columns."""
        for table_grad in self._table_grads:
            if table_grad is not None:
                table_grad.fill(0.0)
        start = 0
        sparse_rows: dict[int, tuple[list[np.ndarray], list[np.ndarray]]] = {}
        for table_grad, rows, table, spec, ids, weights in zip(
            self._table_grads, self._table_rows, self._table_params, self._specs,
            inputs.embedding_ids, inputs.embedding_weights, strict=True,
        ):  # fmt: skip
            stop = start + spec.dimension
            if table_grad is not None:
                np.add.at(table_grad, ids[:, 0], grad[:, start:stop] * weights)
            elif rows:  # collected per table: a shared table is looked up by several columns
                ids_parts, grad_parts = sparse_rows.setdefault(id(table), ([], []))
                ids_parts.append(ids[:, 0])
                grad_parts.append(grad[:, start:stop] * weights)
            start = stop
        for table, rows in zip(self._table_params, self._table_rows, strict=True):
            if rows and id(table) in sparse_rows:
                ids_parts, grad_parts = sparse_rows.pop(id(table))
                ids = ids_parts[0] if len(ids_parts) == 1 else np.concatenate(ids_parts)
                grads = grad_parts[0] if len(grad_parts) == 1 else np.concatenate(grad_parts)
                unique, inverse = self._row_index[id(table)](ids)
                values = np.zeros((len(unique), table.shape[1]), dtype=np.float32)
                np.add.at(values, inverse, grads)  # in row order, as into a dense gradient
                self._row_grads.put(table, unique, values)


class Affine:
    """An ``nn.Linear`` as numpy views: ``weight`` ``[out, in]``, ``bias`` (or None), and the
    gradients' views (None for a parameter that is not trained)."""

    def __init__(self, weight: torch.Tensor, bias: torch.Tensor | None):
        self.weight = _view(weight)
        self.bias = None if bias is None else _view(bias)
        self.weight_grad = _grad_view(weight) if weight.requires_grad else None
        self.bias_grad = _grad_view(bias) if bias is not None and bias.requires_grad else None

    @classmethod
    def of(cls, layer: torch.nn.Linear) -> Affine:
        return cls(layer.weight, layer.bias)


def _relu(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    return np.maximum(x, 0.0, out=out)


def _sigmoid(x: np.ndarray, out: np.ndarray | None) -> np.ndarray:
    # 0.5 * (1 + tanh(x / 2)): sigmoid without overflow in exp
    y = np.multiply(x, 0.5, out=out)
    np.tanh(y, out=y)
    y += 1.0
    y *= 0.5
    return y


ACTIVATIONS: dict[str, Callable[[np.ndarray, np.ndarray | None], np.ndarray]] = {
    "relu": _relu,
    "tanh": lambda x, out: np.tanh(x, out=out),
    "sigmoid": _sigmoid,
}
"""The activations :class:`DenseLayers` trains: ``f(x, out)`` (``out`` is x itself or None)."""


def _activation_backward(kind: str, grad: np.ndarray, out: np.ndarray) -> None:
    """``grad *= f'(x)``, in place, from the activation's output ``out = f(x)``."""
    if kind == "relu":
        grad *= out > 0
    elif kind == "tanh":
        grad *= 1.0 - out * out
    else:  # sigmoid
        grad *= out * (1.0 - out)


class DenseLayers:
    """A feed-forward chain in numpy: :class:`Affine` layers and activations (names of
    :data:`ACTIVATIONS`) in order. :meth:`forward` keeps what the backward needs; an
    activation of a layer's output works in place on it."""

    def __init__(self, ops: Sequence[Affine | str]):
        self._ops = list(ops)
        # An op works in place on its input when that input is a layer's own output.
        self._in_place = [
            isinstance(op, str) and index > 0 and isinstance(self._ops[index - 1], Affine)
            for index, op in enumerate(self._ops)
        ]
        # Whether the backward must go on below each op: a trained parameter is further down.
        self._trained_below = []
        trained = False
        for op in self._ops:
            self._trained_below.append(trained)
            if isinstance(op, Affine):
                trained = trained or op.weight_grad is not None or op.bias_grad is not None

    def forward(self, x: np.ndarray) -> list[np.ndarray]:
        """The input, then every op's output (the last is the chain's)."""
        outputs = [x]
        for op, in_place in zip(self._ops, self._in_place, strict=True):
            if isinstance(op, Affine):
                h = x @ op.weight.T
                if op.bias is not None:
                    h += op.bias
            else:
                h = ACTIVATIONS[op](x, x if in_place else None)
            outputs.append(h)
            x = h
        return outputs

    def backward(
        self, outputs: list[np.ndarray], grad: np.ndarray, input_columns: int | None
    ) -> np.ndarray | None:
        """Write the layers' gradients from ``grad``, the gradient of the output (overwritten);
        return the gradient of the input's last ``input_columns`` columns (None: not needed)."""
        for index in range(len(self._ops) - 1, -1, -1):
            op = self._ops[index]
            if not isinstance(op, Affine):
                _activation_backward(op, grad, outputs[index + 1])
                continue
            below = outputs[index]
            if op.weight_grad is not None:
                np.matmul(grad.T, below, out=op.weight_grad)
            if op.bias_grad is not None:
                np.add.reduce(grad, axis=0, out=op.bias_grad)
            if index == 0:
                if input_columns is None:
                    return None
                weight = op.weight[:, op.weight.shape[1] - input_columns :]
                return grad @ weight
            if not self._trained_below[index] and input_columns is None:
                return None
            grad = grad @ op.weight
        if input_columns is None:
            return None
        return grad[:, grad.shape[1] - input_columns :]


class _RowIndex:
    """The distinct ids of a batch and each id's place among them, without a sort: one
    scratch slot per table row (virtual memory until a row is looked up), written with each
    id's position and read back. ``np.unique`` sorted, and cost more than the update."""

    def __init__(self, num_rows: int):
        self._slot = np.empty(num_rows, dtype=np.int64)
        self._positions = np.arange(0, dtype=np.int64)
        self._index = np.empty(0, dtype=np.int64)  # scratch: each position's distinct row

    def __call__(self, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(rows, inverse)``: the distinct ``ids`` (in no set order) and, for every id,
        the index of its row (``rows[inverse] == ids``)."""
        count = len(ids)
        if len(self._positions) < count:
            self._positions = np.arange(max(count, 2 * len(self._positions)), dtype=np.int64)
            self._index = np.empty(len(self._positions), dtype=np.int64)
        positions = self._positions[:count]
        self._slot[ids] = positions  # where an id repeats, one of its positions stays
        first = self._slot[ids]  # the position that stayed, for every occurrence
        kept = (first == positions).nonzero()[0]  # one position per distinct id
        index = self._index[:count]
        index[kept] = positions[: len(kept)]
        return ids[kept], index[first]


def _grad_view(param: torch.Tensor) -> np.ndarray:
    if param.grad is None:
        param.grad = torch.zeros_like(param)
    return param.grad.numpy()


def build(
    network: torch.nn.Module,
    head: Head,
    row_grads: RowGradients | None = None,
    tables: list[torch.nn.Parameter] | None = None,
) -> NumpyStep | None:
    """A :class:`NumpyStep` for this model, or None where torch must train it; the rows of
    ``tables`` (default: the network's row-sparse tables) go to ``row_grads``, every other
    gradient is dense."""
    if unsupported(network, head) is not None:
        return None
    assert isinstance(network, WideDeepNetwork)
    return NumpyStep(network, row_grads, tables, summed=head.loss_reduction == SUM)


__all__ = ["Loss", "NumpyStep", "build", "unsupported"]
