"""Build a network, its feature transformers and its head from a JSON model spec.

The spec is what checkpoints (as a fingerprint) and exports store; training and the Predictor
both call :func:`build_model`, so the two can never build different models.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from mlengine.errors import MLEngineError
from mlengine.feature_column import FeatureColumn, FeatureTransformer, to_config
from mlengine.model.heads import Head, head_from_config
from mlengine.model.networks import WideDeepNetwork
from mlengine.model.spec import check_weights, transformers_from_spec


@dataclass
class Model:
    """Everything needed to turn raw features into predictions."""

    spec: dict[str, Any]
    network: WideDeepNetwork
    head: Head
    linear_transformer: FeatureTransformer | None
    dnn_transformer: FeatureTransformer | None

    @property
    def raw_keys(self) -> tuple[str, ...]:
        """Every feature key the model reads (the weight column excluded)."""
        keys: list[str] = []
        for transformer in (self.linear_transformer, self.dnn_transformer):
            if transformer is not None:
                keys.extend(transformer.raw_keys)
        return tuple(dict.fromkeys(keys))


def dnn_input_columns(columns: Sequence[FeatureColumn], owner: str) -> list[FeatureColumn]:
    """The DNN's columns as dense columns: bucketized ones become one-hot, as in TF; other
    categorical columns are refused (they need an embedding or indicator column)."""
    return [column.as_dnn_input(owner) for column in columns]


def linear_input_columns(columns: Sequence[FeatureColumn], owner: str) -> list[FeatureColumn]:
    """The linear part's columns; embeddings are refused (they need a DNN to be useful)."""
    return [column.as_linear_input(owner) for column in columns]


def columns_config(columns: Sequence[FeatureColumn] | None) -> list[dict[str, Any]] | None:
    return None if columns is None else [to_config(c) for c in columns]


def build_model(spec: dict[str, Any]) -> Model:
    """Build an untrained model (TF-style initial weights) from a spec."""
    head = head_from_config(spec["head"])
    linear, dnn = transformers_from_spec(spec)
    network = WideDeepNetwork(
        head.logits_dimension,
        linear,
        dnn,
        hidden_units=spec.get("dnn_hidden_units") or (),
        activation=spec.get("dnn_activation_fn", "relu"),
        dropout=spec.get("dnn_dropout"),
        batch_norm=bool(spec.get("batch_norm", False)),
    )
    return Model(spec, network, head, linear, dnn)


def load_weights(
    model: Model, weights: dict[str, torch.Tensor], source: str, error: type[MLEngineError]
) -> None:
    """Copy ``weights`` into the model after :func:`check_weights`."""
    check_weights(model.network.state_dict(), weights, source, error)
    model.network.load_state_dict(weights)
