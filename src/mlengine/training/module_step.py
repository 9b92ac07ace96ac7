"""A custom estimator's training step in numpy, for the common shape of network.

``ModuleEstimator(module, head, optimizer)`` trains your module with torch's autograd. At
census's batch of 256 that step is mostly autograd's bookkeeping, not arithmetic (three
``nn.Linear`` layers' backward took ~225 us against ~70 us for their matmuls): the canned
DNNClassifier of the same shape trains in numpy (:mod:`mlengine.training.numpy_step`) and was
some 1.5x faster. :func:`build` traces the module with ``torch.fx`` and, where the network is
one the numpy step's pieces cover, returns a :class:`ModuleStep` that computes the same
gradients with those pieces (:class:`~mlengine.training.numpy_step.EmbeddedInputs`,
:class:`~mlengine.training.numpy_step.DenseLayers`) and writes them into every parameter's own
``.grad`` (numpy views of the same memory), so that the optimizers, checkpoints, summaries and
hooks work on the result unchanged.

Scope (anything else trains as before, with autograd; :func:`unsupported` says why):

* the module's ``forward(features)`` traces (``torch.fx``, mlengine's modules as leaves) to one
  chain: ``DenseFeatures(features)``, then ``nn.Linear`` layers (each used once) and
  ``relu`` / ``tanh`` / ``sigmoid`` (``torch.*``, ``F.*``, the tensor methods or the
  ``nn`` modules; ``nn.Identity`` and ``nn.Sequential`` of these too), ending in the logits;
  optionally plus the one logit of a ``LinearModel(features)`` without embedding columns (a
  Wide & Deep of your own: ``wide(features) + deep_chain(features)``); every trainable
  parameter of the module is one of these (the layers' weights and biases, the DenseFeatures'
  embedding tables, none with ``max_norm``, the LinearModel's weights and bias);
* float32 on the CPU, no hooks on the modules or parameters, not distributed (``torchrun``);
* the binary, multi-class or regression head (``binary_classification_head``,
  ``multi_class_head``, ``regression_head``) without a weight column, either loss reduction.

A batch with several ids in a row of a DenseFeatures embedding column is trained by autograd
(the step returns None). The trace is taken once, when the optimizers are built: a module whose
forward takes another path later (a Python flag it reads) must not be trained this way
(tracing runs the forward's Python once, on placeholders). Sums run in another order than
torch's, so weights agree with autograd's to float32 rounding (tests train both ways).
"""

from __future__ import annotations

import operator
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import fx, nn

from mlengine.model.dense_features import DenseFeatures, LinearModel, ModelFeatures
from mlengine.model.encode import numpy_features
from mlengine.model.heads import (
    SUM,
    SUM_OVER_BATCH_SIZE,
    BinaryClassHead,
    Head,
    MultiClassHead,
    RegressionHead,
)
from mlengine.training.numpy_step import (
    Affine,
    DenseLayers,
    EmbeddedInputs,
    LinearSum,
    Loss,
    binary_gradient,
    univalent,
)
from mlengine.training.sparse_grads import RowGradients
from mlengine.training.torch_private import has_hooks

_FUNCTIONS: dict[Any, str] = {
    torch.relu: "relu",
    torch.relu_: "relu",
    F.relu: "relu",
    F.relu_: "relu",
    torch.tanh: "tanh",
    F.tanh: "tanh",
    torch.sigmoid: "sigmoid",
    F.sigmoid: "sigmoid",
}
_METHODS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "tanh_": "tanh"}
_METHODS.update(sigmoid="sigmoid", sigmoid_="sigmoid")
_MODULES: dict[type, str] = {nn.ReLU: "relu", nn.Tanh: "tanh", nn.Sigmoid: "sigmoid"}
_HEADS = (BinaryClassHead, MultiClassHead, RegressionHead)


class _Tracer(fx.Tracer):
    """torch.fx's tracer, with mlengine's modules (DenseFeatures, LinearModel, ...) as leaves."""

    def is_leaf_module(self, m: nn.Module, module_qualified_name: str) -> bool:
        return type(m).__module__.startswith("mlengine.") or super().is_leaf_module(
            m, module_qualified_name
        )


@dataclass(frozen=True)
class _Network:
    """A module the numpy step covers: DenseFeatures, its chain of layers (``nn.Linear``) and
    activations (names), and the LinearModel whose logits are added (or None)."""

    dense: DenseFeatures
    ops: list[nn.Linear | str]
    linear: LinearModel | None


def _network(module: nn.Module) -> _Network | str:
    """The module as a :class:`_Network`, or why it is not one."""
    try:
        graph = _Tracer().trace(module)
    except Exception as error:  # any failure to trace: the module trains with autograd
        return f"its forward does not trace with torch.fx ({type(error).__name__})"
    nodes = list(graph.nodes)
    placeholders = [node for node in nodes if node.op == "placeholder"]
    if len(placeholders) != 1:
        return "its forward takes more than the features"
    features = placeholders[0]
    calls: dict[type, tuple[fx.Node, nn.Module]] = {}
    for node in features.users:
        sub = module.get_submodule(str(node.target)) if node.op == "call_module" else None
        kind = type(sub) if isinstance(sub, DenseFeatures | LinearModel) else None
        if kind is None or kind in calls or node.args != (features,) or node.kwargs:
            return (
                f"the features go to {node.op} {node.target!r}: the numpy step takes one "
                "DenseFeatures (and one LinearModel)"
            )
        assert sub is not None
        calls[kind] = (node, sub)
    if DenseFeatures not in calls:
        return "its forward does not call DenseFeatures(features)"
    first, dense = calls[DenseFeatures]
    seen = {features, first}
    ops: list[nn.Linear | str] = []
    previous = first
    while True:
        if len(previous.users) != 1:
            return f"{previous.name}'s output is used more than once"
        node = next(iter(previous.users))
        op = _op(module, node, previous)
        if op is None:
            break
        if op != "identity":
            ops.append(op)
        previous = node
        seen.add(node)
    linear = calls.get(LinearModel)
    if linear is not None:  # the chain's output plus the LinearModel's
        if not _is_sum(node, previous, linear[0]) or len(linear[0].users) != 1:
            return f"{node.op} {node.target!r} is not a Linear layer or relu/tanh/sigmoid"
        if len(node.users) != 1:
            return f"{node.name}'s output is used more than once"
        seen |= {node, linear[0]}
        previous, node = node, next(iter(node.users))
    if node.op != "output" or node.args != (previous,):
        return f"{node.op} {node.target!r} is not a Linear layer or relu/tanh/sigmoid"
    if len(seen) + 1 != len(nodes):
        return "its forward computes more than DenseFeatures' chain of layers"
    layers = [op for op in ops if isinstance(op, nn.Linear)]
    if not layers:
        return "it has no Linear layer"
    if len({id(layer) for layer in layers}) != len(layers):
        return "a Linear layer is used more than once"
    assert isinstance(dense, DenseFeatures)
    return _Network(dense, ops, None if linear is None else cast(LinearModel, linear[1]))


def _is_sum(node: fx.Node, a: fx.Node, b: fx.Node) -> bool:
    """Whether ``node`` is ``a + b`` (or ``b + a``)."""
    if node.kwargs or len(node.args) != 2 or set(node.args) != {a, b}:
        return False
    if node.op == "call_function":
        return node.target in (operator.add, torch.add)
    return node.op == "call_method" and node.target == "add"


def _op(module: nn.Module, node: fx.Node, previous: fx.Node) -> nn.Linear | str | None:
    """What ``node`` is in a chain (a layer, an activation's name, ``"identity"``), or None."""
    if node.args != (previous,):
        return None
    if node.op == "call_module":
        sub = module.get_submodule(str(node.target))
        if node.kwargs:
            return None
        if type(sub) is nn.Linear:
            return sub
        if type(sub) is nn.Identity:
            return "identity"
        return _MODULES.get(type(sub))
    if node.op == "call_function" and set(node.kwargs) <= {"inplace"}:
        try:
            return _FUNCTIONS.get(node.target)
        except TypeError:  # an unhashable target
            return None
    if node.op == "call_method" and not node.kwargs:
        return _METHODS.get(str(node.target))
    return None


def unsupported(module: nn.Module, head: Head) -> str | None:
    """Why :class:`ModuleStep` cannot train this module with this head (None: it can)."""
    if type(head) not in _HEADS:
        return f"the {head.kind!r} head is not binary, multi-class or regression"
    if head.weight_column is not None:
        return "the head has a weight column"
    if head.loss_reduction not in (SUM_OVER_BATCH_SIZE, SUM):
        return f"loss_reduction {head.loss_reduction!r}"
    params = list(module.parameters())
    if any(p.device.type != "cpu" or p.dtype != torch.float32 for p in params):
        return "not float32 on CPU"
    if has_hooks(module):
        return "a hook on a module or parameter"
    found = _network(module)
    if isinstance(found, str):
        return found
    dense, ops, linear = found.dense, found.ops, found.linear
    if any(spec.max_norm is not None for spec in dense.transformer.embedding_specs):
        return "an embedding with max_norm"
    covered = {id(p) for p in dense.parameters()}
    covered |= {id(p) for op in ops if isinstance(op, nn.Linear) for p in op.parameters()}
    if linear is not None:
        if linear.transformer.embedding_specs or linear.part.bias.shape != (1,):
            return "a LinearModel with an embedding column or more than one unit"
        if not all(p.requires_grad for p in linear.parameters()):
            return "a frozen LinearModel"
        covered |= {id(p) for p in linear.parameters()}
    if any(p.requires_grad and id(p) not in covered for p in params):
        return "a trainable parameter outside DenseFeatures and the Linear layers"
    last = next(op for op in reversed(ops) if isinstance(op, nn.Linear))
    if last.out_features != head.logits_dimension:
        return f"{last.out_features} logits where the head takes {head.logits_dimension}"
    return None


# -- the heads' loss gradients: d(loss)/d(logits) and the loss itself, computed when read


def _binary(
    head: Head, logits: np.ndarray, labels: np.ndarray, summed: bool
) -> tuple[np.ndarray, Loss]:
    labels = labels.reshape(-1)
    return binary_gradient(logits, labels[:, None], summed), Loss(logits, labels, summed)


def _softmax_losses(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    z = logits.astype(np.float64)
    top = z.max(axis=1)
    log_sum = top + np.log(np.exp(z - top[:, None]).sum(axis=1))
    return log_sum - z[np.arange(len(z)), labels]


def _multi_class(
    head: Head, logits: np.ndarray, labels: np.ndarray, summed: bool
) -> tuple[np.ndarray, Loss]:
    # d(cross-entropy)/d(logits) = softmax(z) - one_hot(y), over n for the mean
    labels = labels.reshape(-1)
    grad = logits - logits.max(axis=1, keepdims=True)
    np.exp(grad, out=grad)
    grad /= grad.sum(axis=1, keepdims=True)
    grad[np.arange(len(labels)), labels] -= 1.0
    if not summed:
        grad *= 1.0 / max(len(labels), 1)
    return grad, Loss(logits, labels, summed, _softmax_losses)


def _regression(
    head: Head, logits: np.ndarray, labels: np.ndarray, summed: bool
) -> tuple[np.ndarray, Loss]:
    assert isinstance(head, RegressionHead)
    center, scale = head.label_center, head.label_scale

    def losses(z: np.ndarray, y: np.ndarray) -> np.ndarray:
        error = z.astype(np.float64) * scale + center - y
        result: np.ndarray = (error * error).mean(axis=1)
        return result

    # d(mean over units of (s z + c - y)^2)/dz = 2 s (s z + c - y) / units, over n for the mean
    grad = logits * np.float32(scale) if scale != 1.0 else logits.copy()
    if center:
        grad += np.float32(center)
    grad -= labels
    factor = 2.0 * scale / logits.shape[1]
    if not summed:
        factor /= max(len(labels), 1)
    grad *= np.float32(factor)
    return grad, Loss(logits, labels, summed, losses)


_GRADIENTS: dict[type, Callable[..., tuple[np.ndarray, Loss]]] = {
    BinaryClassHead: _binary,
    MultiClassHead: _multi_class,
    RegressionHead: _regression,
}


class ModuleStep:
    """``step(features, labels)``: the loss's gradients in every trainable parameter's
    ``.grad`` (see the module docstring), overwritten: they must stay the same tensors while it
    is used. Returns the loss (``float(loss.detach())``), or None (nothing written) for a batch
    that autograd must train."""

    def __init__(self, network: _Network, head: Head):
        dense = network.dense
        self._transformer = dense.transformer
        self._inputs = EmbeddedInputs(
            dense.tables, dense.transformer.embedding_specs, set(), {}, RowGradients()
        )
        ops = network.ops
        self._layers = DenseLayers([Affine.of(o) if isinstance(o, nn.Linear) else o for o in ops])
        self._linear_transformer = None if network.linear is None else network.linear.transformer
        self._linear = None
        if network.linear is not None:
            self._linear = LinearSum(network.linear.part, set(), {}, RowGradients())
        self._head = head
        self._gradient = _GRADIENTS[type(head)]
        self._summed = head.loss_reduction == SUM

    def __call__(self, features: ModelFeatures, labels: torch.Tensor) -> Loss | None:
        tensors = features.tensors(self._transformer)
        if not univalent(tensors):
            return None
        label_array = labels.numpy()
        if len(label_array) != features.num_rows:
            return None  # autograd's path names the problem
        inputs = numpy_features(tensors)
        outputs = self._layers.forward(self._inputs.forward(inputs))
        logits = outputs[-1]
        wide = None
        if self._linear is not None:
            assert self._linear_transformer is not None
            wide = numpy_features(features.tensors(self._linear_transformer))
            logits = logits + self._linear.forward(wide)[:, None]  # a new array: the backward
            # of an activation that ends the chain reads its output
        grad, loss = self._gradient(self._head, logits, label_array, self._summed)
        if self._linear is not None:
            assert wide is not None
            self._linear.backward(wide, grad)  # before the layers' backward overwrites grad
        below = self._layers.backward(outputs, grad, self._inputs.embedded_grad_columns())
        if below is not None:
            self._inputs.backward(inputs, below)
        return loss


def build(module: nn.Module, head: Head) -> ModuleStep | None:
    """A :class:`ModuleStep` for this module and head, or None where autograd must train it
    (:func:`unsupported` says why)."""
    if unsupported(module, head) is not None:
        return None
    found = _network(module)
    assert not isinstance(found, str)
    return ModuleStep(found, head)


__all__ = ["ModuleStep", "build", "unsupported"]
