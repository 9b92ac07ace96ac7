"""A model spec's torch-free parts: the feature transformers, and the weights the network has.

Training builds the torch network (:func:`mlengine.model.build_model`); a serving process needs only
these, with :class:`~mlengine.model.numpy_network.NumpyNetwork`, and so never imports torch (whose
import dominates a predicting process's start-up). :func:`weight_shapes` states the names and shapes
of :class:`~mlengine.model.networks.WideDeepNetwork`'s ``state_dict``; a test checks them against
the module for every kind of network.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlengine.errors import InvalidParameterError, MLEngineError
from mlengine.feature_column import FeatureTransformer, from_config

BATCH_NORM_EPSILON = 1e-3  # Keras' default, which tf.estimator's DNNs use
# The activations a DNN may name (``dnn_activation_fn``): the keys of
# :data:`mlengine.model.networks.ACTIVATIONS`, kept here so that loading an export refuses an
# unknown name without importing torch (a test keeps the two equal).
ACTIVATION_NAMES = ("elu", "gelu", "leaky_relu", "relu", "selu", "sigmoid", "silu", "swish", "tanh")


def transformers_from_spec(
    spec: Mapping[str, Any],
) -> tuple[FeatureTransformer | None, FeatureTransformer | None]:
    """The linear and DNN parts' transformers (None for an absent part)."""
    linear_cfg = spec.get("linear_feature_columns")
    dnn_cfg = spec.get("dnn_feature_columns")
    linear = None
    if linear_cfg:
        linear = FeatureTransformer(
            [from_config(c, "linear_feature_columns") for c in linear_cfg],
            sparse_combiner=spec.get("linear_sparse_combiner", "sum"),
        )
    dnn = None
    if dnn_cfg:
        dnn = FeatureTransformer([from_config(c, "dnn_feature_columns") for c in dnn_cfg])
    return linear, dnn


def weight_shapes(
    spec: Mapping[str, Any],
    linear: FeatureTransformer | None,
    dnn: FeatureTransformer | None,
    logits_dimension: int,
) -> dict[str, tuple[int, ...]]:
    """Every tensor of the network's ``state_dict``, by name, with its shape."""
    d = logits_dimension
    shapes: dict[str, tuple[int, ...]] = {}
    if linear is not None:
        embedded = 0
        for embedding in linear.embedding_specs:
            shapes.setdefault(
                f"linear.tables.{embedding.table}", (embedding.num_buckets, embedding.dimension)
            )
            embedded += embedding.dimension
        shapes["linear.sparse_weights"] = (max(linear.num_sparse_ids, 1), d)
        shapes["linear.dense_weights"] = (linear.dense_width + embedded, d)
        shapes["linear.bias"] = (d,)
    if dnn is not None:
        width = dnn.dense_width
        for embedding in dnn.embedding_specs:
            shapes.setdefault(
                f"dnn.tables.{embedding.table}", (embedding.num_buckets, embedding.dimension)
            )
            width += embedding.dimension
        batch_norm = bool(spec.get("batch_norm", False))
        hidden = list(spec.get("dnn_hidden_units") or ())
        if not all(type(units) is int and units > 0 for units in hidden):
            raise InvalidParameterError(
                f"The 'dnn_hidden_units' parameter must be positive integers. Got {hidden!r}."
            )
        index = 0
        for units in hidden:
            shapes[f"dnn.hidden.{index}.weight"] = (units, width)
            shapes[f"dnn.hidden.{index}.bias"] = (units,)
            index += 1
            if batch_norm:
                for name in ("weight", "bias", "running_mean", "running_var"):
                    shapes[f"dnn.hidden.{index}.{name}"] = (units,)
                shapes[f"dnn.hidden.{index}.num_batches_tracked"] = ()
                index += 1
            width = units
        shapes["dnn.logits.weight"] = (d, width)
        shapes["dnn.logits.bias"] = (d,)
    if linear is None and dnn is None:
        shapes["bias"] = (d,)
    return shapes


def check_weights(
    expected: Mapping[str, Any],
    weights: Mapping[str, Any],
    source: str,
    error: type[MLEngineError],
) -> None:
    """Refuse weights with a missing, extra or misshapen tensor, naming it. ``expected`` maps
    names to shapes, or to tensors or arrays of the expected shapes."""
    missing = sorted(set(expected) - set(weights))
    unexpected = sorted(set(weights) - set(expected))
    if missing or unexpected:
        raise error(
            f"{source} does not match the model: missing tensors {missing[:5]}, "
            f"unexpected tensors {unexpected[:5]}."
        )
    for name, want in expected.items():
        shape = tuple(getattr(want, "shape", want))
        if tuple(weights[name].shape) != shape:
            raise error(
                f"{source}: tensor {name!r} has shape {tuple(weights[name].shape)}, the model "
                f"expects {shape}."
            )
