"""A canned network's eval-mode forward as ONNX nodes, from its weights by name.

The third form of :class:`~mlengine.model.networks.WideDeepNetwork`'s forward, beside torch's
and :class:`~mlengine.model.numpy_network.NumpyNetwork`'s, for portable exports
(:mod:`mlengine.export.portable`): it reads the same ``state_dict`` (batch norm folded into its
layer, as the numpy forward folds it) and the encodings that
:func:`mlengine.feature_column.onnx_graph.encode` lays out, and computes the logits in float32.
The export checks it against the Predictor before writing it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from mlengine.errors import NotSupportedError
from mlengine.feature_column import EmbeddingSpec
from mlengine.feature_column.onnx_graph import GraphEncoded, OnnxGraph
from mlengine.model.numpy_network import dnn_layers

Weights = Mapping[str, np.ndarray]

_SQRT_HALF = 0.7071067811865476


def _gelu(graph: OnnxGraph, x: str) -> str:
    """torch's default (erf) gelu: ``x * (1 + erf(x / sqrt(2))) / 2``."""
    erf = graph.op("Erf", graph.op("Mul", x, graph.const(_SQRT_HALF, "c", np.float32)))
    half = graph.op("Mul", x, graph.const(0.5, "half", np.float32))
    return str(graph.op("Mul", half, graph.op("Add", erf, graph.const(1.0, "one", np.float32))))


def _swish(graph: OnnxGraph, x: str) -> str:
    return str(graph.op("Mul", x, graph.op("Sigmoid", x)))


# torch's activations (mlengine.model.networks.ACTIVATIONS) as ONNX: ONNX's Selu defaults are
# torch's constants, LeakyRelu's slope is torch's default 0.01.
ONNX_ACTIVATIONS: dict[str, Callable[[OnnxGraph, str], str]] = {
    "relu": lambda g, x: str(g.op("Relu", x)),
    "elu": lambda g, x: str(g.op("Elu", x, alpha=1.0)),
    "selu": lambda g, x: str(g.op("Selu", x)),
    "gelu": _gelu,
    "tanh": lambda g, x: str(g.op("Tanh", x)),
    "sigmoid": lambda g, x: str(g.op("Sigmoid", x)),
    "leaky_relu": lambda g, x: str(g.op("LeakyRelu", x, alpha=0.01)),
    "swish": _swish,
    "silu": _swish,
}


def weighted_sum(
    graph: OnnxGraph, table: str, ids: str, weights: str, max_norm: float | None = None
) -> str:
    """:func:`~mlengine.model.networks.weighted_sum`: ``out[r] = sum_j weights[r, j] *
    table[ids[r, j]]``, rows clipped to ``max_norm`` first."""
    vectors = graph.op("Gather", table, ids, axis=0)  # [n, slots, dim]
    if max_norm is not None:
        norms = graph.op("ReduceL2", vectors, graph.const([-1], "axes"), keepdims=1)
        norms = graph.op("Max", norms, graph.const(1e-12, "tiny", np.float32))
        ratio = graph.op("Div", graph.const(max_norm, "max_norm", np.float32), norms)
        vectors = graph.op(
            "Mul", vectors, graph.op("Min", ratio, graph.const(1.0, "one", np.float32))
        )
    scaled = graph.op("Mul", vectors, graph.op("Unsqueeze", weights, graph.const([2], "axes")))
    return str(graph.op("ReduceSum", scaled, graph.const([1], "axes"), keepdims=0))


def _dense_layer(graph: OnnxGraph, x: str, weight: np.ndarray, bias: np.ndarray) -> str:
    product = graph.op("MatMul", x, graph.const(weight.astype(np.float32), "weight"))
    return str(graph.op("Add", product, graph.const(bias.astype(np.float32), "bias")))


def linear_logits(graph: OnnxGraph, weights: Weights, inputs: GraphEncoded) -> str:
    """:class:`~mlengine.model.networks.LinearPart`: ``bias + sum w[id] * weight + dense @ W``."""
    logits = graph.const(weights["linear.bias"].astype(np.float32), "linear_bias")
    if inputs.sparse_ids is not None and inputs.sparse_weights is not None:
        table = graph.const(weights["linear.sparse_weights"].astype(np.float32), "linear_sparse")
        sparse = weighted_sum(graph, table, inputs.sparse_ids, inputs.sparse_weights)
        logits = graph.op("Add", sparse, logits)
    if inputs.dense is not None:
        dense = graph.const(weights["linear.dense_weights"].astype(np.float32), "linear_dense")
        logits = graph.op("Add", logits, graph.op("MatMul", inputs.dense, dense))
    return str(logits)


def dnn_logits(
    graph: OnnxGraph,
    weights: Weights,
    inputs: GraphEncoded,
    embeddings: Sequence[EmbeddingSpec],
    activation: str,
    batch_norm: bool,
) -> str:
    """:class:`~mlengine.model.networks.DNNPart` in eval mode (dropout off, batch norm with
    its moving statistics, folded into the layer before it)."""
    function = ONNX_ACTIVATIONS.get(activation)
    if function is None:
        raise NotSupportedError(f"Activation {activation!r} has no ONNX expression here.")
    parts = [inputs.dense] if inputs.dense is not None else []
    for spec, ids, ids_weights in zip(
        embeddings, inputs.embedding_ids, inputs.embedding_weights, strict=True
    ):
        table = graph.const(weights[f"dnn.tables.{spec.table}"].astype(np.float32), spec.table)
        parts.append(weighted_sum(graph, table, ids, ids_weights, spec.max_norm))
    x = parts[0] if len(parts) == 1 else str(graph.op("Concat", *parts, axis=1))
    *hidden, (weight, bias) = dnn_layers(weights, batch_norm)
    for hidden_weight, hidden_bias in hidden:
        x = function(graph, _dense_layer(graph, x, hidden_weight, hidden_bias))
    return _dense_layer(graph, x, weight, bias)


def network_logits(
    graph: OnnxGraph,
    spec: Mapping[str, Any],
    weights: Weights,
    linear: GraphEncoded | None,
    dnn: GraphEncoded | None,
    embeddings: Sequence[EmbeddingSpec],
) -> str:
    """:class:`~mlengine.model.networks.WideDeepNetwork`'s logits ``[n, logits_dimension]``:
    the linear part's plus the DNN's."""
    parts = []
    if linear is not None:
        parts.append(linear_logits(graph, weights, linear))
    if dnn is not None:
        activation = str(spec.get("dnn_activation_fn", "relu"))
        batch_norm = bool(spec.get("batch_norm", False))
        parts.append(dnn_logits(graph, weights, dnn, embeddings, activation, batch_norm))
    if not parts:
        raise NotSupportedError(
            "A network without feature columns (a Baseline estimator) has no inputs to make "
            "an ONNX graph of; its prediction is its bias alone."
        )
    return parts[0] if len(parts) == 1 else str(graph.op("Add", parts[0], parts[1]))


__all__ = ["ONNX_ACTIVATIONS", "dnn_logits", "linear_logits", "network_logits", "weighted_sum"]
