"""Raw feature batches → network inputs, labels and example weights on a device."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from mlengine.errors import FeatureError
from mlengine.feature_column import FeatureTransformer, numeric_column
from mlengine.feature_column.transform import as_feature_dict, count_rows, transform_all
from mlengine.model.build import Model
from mlengine.model.feature_tensors import FeatureTensors
from mlengine.model.networks import NetworkInputs


@dataclass(frozen=True)
class EncodedBatch:
    """One batch (or chunk) encoded for the network: inputs, and labels / weights when known.
    (Before encoding, an input function's batch is a ``mlengine.data.batches.InputBatch``.)"""

    inputs: NetworkInputs
    labels: torch.Tensor | None
    weights: torch.Tensor | None

    @property
    def num_rows(self) -> int:
        return self.inputs.num_rows

    def split(self, size: int) -> list[EncodedBatch]:
        """Consecutive batches of ``size`` rows, as views (one split per tensor)."""
        inputs = self.inputs.split(size)
        labels = [None] * len(inputs) if self.labels is None else torch.split(self.labels, size)
        weights = [None] * len(inputs) if self.weights is None else torch.split(self.weights, size)
        return [EncodedBatch(*parts) for parts in zip(inputs, labels, weights, strict=True)]

    def slice(self, start: int, stop: int) -> EncodedBatch:
        return EncodedBatch(
            self.inputs.slice(start, stop),
            None if self.labels is None else self.labels[start:stop],
            None if self.weights is None else self.weights[start:stop],
        )


class Encoder:
    """Encodes raw ``(features, labels)`` for one model on one device."""

    def __init__(self, model: Model, device: torch.device, weight_column: str | None = None):
        self.model = model
        self.device = device
        self.weight_transformer = (
            None if weight_column is None else FeatureTransformer([numeric_column(weight_column)])
        )
        self.weight_column = weight_column
        self.required_keys = frozenset(model.raw_keys) | (
            {weight_column} if weight_column else set()
        )

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        tensor = torch.from_numpy(np.ascontiguousarray(array))
        if self.device.type == "cpu":
            return tensor
        return tensor.pin_memory().to(self.device, non_blocking=True)

    def inputs(self, features: Mapping[str, Any]) -> NetworkInputs:
        """Network inputs of a raw feature batch."""
        features = as_feature_dict(features)
        linear, dnn = transform_all(
            [self.model.linear_transformer, self.model.dnn_transformer], features
        )
        return NetworkInputs(
            None if linear is None else FeatureTensors.from_encoded(linear, self.device),
            None if dnn is None else FeatureTensors.from_encoded(dnn, self.device),
            count_rows(features),
        )

    def encode(self, features: Mapping[str, Any], labels: Any = None) -> EncodedBatch:
        """An :class:`EncodedBatch`; labels are validated by the head, weights by the weight
        column."""
        features = as_feature_dict(features)
        inputs = self.inputs(features)
        label_tensor = None
        if labels is not None:
            encoded = self.model.head.encode_labels(labels)
            if len(encoded) != inputs.num_rows:
                raise FeatureError(
                    f"The batch has {inputs.num_rows} rows of features but {len(encoded)} labels."
                )
            label_tensor = self._tensor(encoded)
        weights = None
        if self.weight_transformer is not None:
            values = self.weight_transformer.transform(features).dense[:, 0]
            if (values < 0).any():
                row = int(np.flatnonzero(values < 0)[0])
                raise FeatureError(
                    f"Weight column {self.weight_column!r}: negative weight {values[row]} "
                    f"in row {row}."
                )
            weights = self._tensor(values)
        return EncodedBatch(inputs, label_tensor, weights)
