"""The forward and backward pass of the common Wide & Deep network in numpy, on CPU.

At the census tutorial's batch of 40 a torch step is some 40 kernels through the dispatcher and
autograd, whose overhead outweighs the arithmetic. A numpy call costs a fraction of that overhead
and a backward written out needs no graph. :class:`NumpyStep` writes the gradient of the loss into
every parameter's own ``.grad`` (numpy views of the same memory), so the optimizers, gradient
clipping, checkpoints and everything else work on the result unchanged.

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
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from mlengine.model.encode import EncodedBatch
from mlengine.model.heads import SUM, SUM_OVER_BATCH_SIZE, BinaryClassHead, Head
from mlengine.model.networks import WideDeepNetwork


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


class Loss:
    """The batch's loss (mean, or sum for TF 1's ``loss_reduction=SUM``), computed only when
    read (summaries and logs read it every N steps): ``float(loss.detach())`` as for a torch
    loss."""

    def __init__(self, logits: np.ndarray, labels: np.ndarray, summed: bool = False):
        self._logits = logits
        self._labels = labels
        self._summed = summed

    def detach(self) -> Loss:
        return self

    def __float__(self) -> float:
        z = self._logits.astype(np.float64)
        # softplus(z) - z * y, the binary cross-entropy of a logit
        losses = np.maximum(z, 0.0) + np.log1p(np.exp(-np.abs(z))) - z * self._labels
        if self._summed:
            return float(losses.sum())
        return float(losses.mean()) if losses.size else math.nan


def _view(tensor: torch.Tensor) -> np.ndarray:
    return tensor.detach().numpy()


class NumpyStep:
    """``step(batch)``: the loss's gradients in every trainable parameter's ``.grad`` (see the
    module docstring), overwritten: they must stay the same tensors while it is used."""

    def __init__(self, network: WideDeepNetwork, summed: bool = False):
        self._summed = summed  # TF 1's loss_reduction=SUM: the gradient is not divided by n
        self._linear = network.linear
        self._dnn = network.dnn
        linear = network.linear
        if linear is not None:
            self._sparse = _view(linear.sparse_weights)[:, 0]
            self._sparse_grad = _grad_view(linear.sparse_weights)
            self._linear_bias = _view(linear.bias)
            self._linear_bias_grad = _grad_view(linear.bias)
            self._dense_weights = _view(linear.dense_weights)
            self._dense_grad = _grad_view(linear.dense_weights)
        dnn = network.dnn
        if dnn is not None:
            self._tables = [_view(dnn.tables[spec.table]) for spec in dnn.embedding_specs]
            self._embedded_width = sum(spec.dimension for spec in dnn.embedding_specs)
            self._table_grads = [
                _grad_view(dnn.tables[spec.table]) if spec.trainable else None
                for spec in dnn.embedding_specs
            ]
            layers = [*dnn.hidden, dnn.logits]
            self._layers = [
                (_view(layer.weight), _view(layer.bias), _grad_view(layer.weight),
                 _grad_view(layer.bias))
                for layer in layers
            ]  # fmt: skip

    def __call__(self, batch: EncodedBatch) -> Loss | None:
        """The gradients of ``batch``'s loss, written; None (nothing written) for a batch that
        torch must train: one with example weights, or with several ids in a row of an
        embedding column."""
        assert batch.labels is not None
        if batch.weights is not None:
            return None
        if self._dnn is not None:
            assert batch.inputs.dnn is not None
            if any(ids.shape[1] != 1 for ids in batch.inputs.dnn.embedding_ids):
                return None
        labels = batch.labels.numpy()
        logits = np.zeros(batch.num_rows, dtype=np.float32)
        if self._linear is not None:
            assert batch.inputs.linear is not None
            logits += self._linear_forward(batch.inputs.linear)
        hidden: list[np.ndarray] = []
        if self._dnn is not None:
            assert batch.inputs.dnn is not None
            hidden = self._dnn_forward(batch.inputs.dnn)
            logits += hidden.pop()[:, 0]
        # d(mean binary cross-entropy)/d(logit) = (sigmoid(z) - y) / n (no / n for a sum)
        grad = np.tanh(logits * 0.5)
        grad += 1.0
        grad *= 0.5
        grad -= labels
        if not self._summed:
            grad *= 1.0 / max(batch.num_rows, 1)
        grad = grad[:, None]
        if self._linear is not None:
            assert batch.inputs.linear is not None
            self._linear_backward(batch.inputs.linear, grad)
        if self._dnn is not None:
            assert batch.inputs.dnn is not None
            self._dnn_backward(batch.inputs.dnn, hidden, grad)
        return Loss(logits, labels, self._summed)

    # -- the linear part: bias + sum_j w[id_j] * weight_j (+ dense @ W)

    def _linear_forward(self, inputs: Any) -> np.ndarray:
        assert self._linear is not None
        out = np.add.reduce(
            self._sparse[inputs.sparse_ids.numpy()] * inputs.sparse_weights.numpy(), axis=1
        )
        out += self._linear_bias[0]
        if self._linear.has_dense:
            out += (inputs.dense.numpy() @ self._dense_weights)[:, 0]
        return out

    def _linear_backward(self, inputs: Any, grad: np.ndarray) -> None:
        assert self._linear is not None
        ids = inputs.sparse_ids.numpy()
        weights = inputs.sparse_weights.numpy()
        self._linear_bias_grad[0] = np.add.reduce(grad[:, 0])
        if self._linear.has_sparse:
            per_id = np.bincount(
                ids.reshape(-1), (weights * grad).reshape(-1), minlength=len(self._sparse)
            )
            np.copyto(self._sparse_grad[:, 0], per_id)
        if self._linear.has_dense:
            np.matmul(inputs.dense.numpy().T, grad, out=self._dense_grad)

    # -- the DNN: [dense, embeddings] -> relu layers -> one logit

    def _dnn_forward(self, inputs: Any) -> list[np.ndarray]:
        """The input of every layer, then the logit: ``[x, h1, ..., h_last, logit]``."""
        dense = inputs.dense.numpy()
        rows, width = dense.shape
        dnn = self._dnn
        assert dnn is not None
        x = np.empty((rows, width + self._embedded_width), np.float32)
        x[:, :width] = dense
        start = width
        for table, spec, ids, weights in zip(
            self._tables, dnn.embedding_specs, inputs.embedding_ids, inputs.embedding_weights,
            strict=True,
        ):  # fmt: skip
            stop = start + spec.dimension
            np.multiply(table[ids.numpy()[:, 0]], weights.numpy(), out=x[:, start:stop])
            start = stop
        outputs = [x]
        last = len(self._layers) - 1
        for index, (weight, bias, _, _) in enumerate(self._layers):
            h = outputs[-1] @ weight.T
            h += bias
            if index < last:
                np.maximum(h, 0.0, out=h)
            outputs.append(h)
        return outputs

    def _dnn_backward(self, inputs: Any, outputs: list[np.ndarray], grad: np.ndarray) -> None:
        dnn = self._dnn
        assert dnn is not None
        for index in range(len(self._layers) - 1, -1, -1):
            weight, _, weight_grad, bias_grad = self._layers[index]
            below = outputs[index]
            np.matmul(grad.T, below, out=weight_grad)
            np.add.reduce(grad, axis=0, out=bias_grad)
            if index == 0 and not any(g is not None for g in self._table_grads):
                break
            grad = grad @ weight
            if index > 0:
                grad *= below > 0  # relu'
        for table_grad in self._table_grads:
            if table_grad is not None:
                table_grad.fill(0.0)
        start = inputs.dense.shape[1]
        for table_grad, spec, ids, weights in zip(
            self._table_grads, dnn.embedding_specs, inputs.embedding_ids,
            inputs.embedding_weights, strict=True,
        ):  # fmt: skip
            stop = start + spec.dimension
            if table_grad is not None:
                np.add.at(table_grad, ids.numpy()[:, 0], grad[:, start:stop] * weights.numpy())
            start = stop


def _grad_view(param: torch.nn.Parameter) -> np.ndarray:
    if param.grad is None:
        param.grad = torch.zeros_like(param)
    return param.grad.numpy()


def build(network: torch.nn.Module, head: Head) -> NumpyStep | None:
    """A :class:`NumpyStep` for this model, or None where torch must train it."""
    if unsupported(network, head) is not None:
        return None
    assert isinstance(network, WideDeepNetwork)
    return NumpyStep(network, summed=head.loss_reduction == SUM)


__all__ = ["Loss", "NumpyStep", "build", "unsupported"]
