"""Raw feature batches → network inputs, labels and example weights on a device."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import torch

from mlengine.errors import FeatureError
from mlengine.feature_column import EncodedFeatures, FeatureTransformer, numeric_column
from mlengine.feature_column.transform import as_feature_dict, count_rows, transform_all
from mlengine.model.build import Model
from mlengine.model.feature_tensors import FeatureTensors
from mlengine.model.networks import NetworkInputs


def numpy_features(tensors: FeatureTensors) -> EncodedFeatures:
    """A part's CPU tensors as the numpy arrays they wrap (what the numpy steps read)."""
    return EncodedFeatures(
        tensors.sparse_ids.numpy(),
        tensors.sparse_weights.numpy(),
        tensors.dense.numpy(),
        tuple(t.numpy() for t in tensors.embedding_ids),
        tuple(t.numpy() for t in tensors.embedding_weights),
    )


class NumpyBatch(NamedTuple):
    """A CPU batch's arrays as numpy, for the numpy training step."""

    linear: EncodedFeatures | None
    dnn: EncodedFeatures | None
    labels: np.ndarray | None
    weights: np.ndarray | None
    num_rows: int

    def slice(self, start: int, stop: int) -> NumpyBatch:
        return NumpyBatch(
            None if self.linear is None else self.linear.slice(start, stop),
            None if self.dnn is None else self.dnn.slice(start, stop),
            None if self.labels is None else self.labels[start:stop],
            None if self.weights is None else self.weights[start:stop],
            min(stop, self.num_rows) - start,
        )


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

    def arrays(self) -> NumpyBatch:
        """The batch's tensors as numpy arrays (CPU tensors only; the same memory)."""
        inputs = self.inputs
        return NumpyBatch(
            None if inputs.linear is None else numpy_features(inputs.linear),
            None if inputs.dnn is None else numpy_features(inputs.dnn),
            None if self.labels is None else self.labels.numpy(),
            None if self.weights is None else self.weights.numpy(),
            inputs.num_rows,
        )

    def views(self, size: int) -> list[BatchView]:
        """Consecutive batches of ``size`` rows of this CPU chunk as :class:`BatchView`: the
        chunk's numpy arrays once, then for each batch a few numpy slices. Slicing every
        tensor of every batch (:meth:`split`), then turning the slices into numpy arrays for
        the numpy step, was 8% of a batch-40 census step."""
        arrays = self.arrays()
        rows = self.num_rows
        return [
            BatchView(self, arrays, start, min(start + size, rows))
            for start in range(0, rows, size)
        ]


class BatchView:
    """Rows ``[start, stop)`` of an encoded CPU chunk (:meth:`EncodedBatch.views`): :meth:`arrays`
    slices the chunk's numpy arrays; ``inputs``, ``labels`` and ``weights`` are the chunk's
    tensors sliced on first use (by the torch step, which needs them)."""

    __slots__ = ("_arrays", "_batch", "_chunk", "_start", "_stop")

    def __init__(self, chunk: EncodedBatch, arrays: NumpyBatch, start: int, stop: int):
        self._chunk = chunk
        self._arrays = arrays
        self._start = start
        self._stop = stop
        self._batch: EncodedBatch | None = None

    @property
    def num_rows(self) -> int:
        return self._stop - self._start

    def arrays(self) -> NumpyBatch:
        return self._arrays.slice(self._start, self._stop)

    def _torch(self) -> EncodedBatch:
        if self._batch is None:
            self._batch = self._chunk.slice(self._start, self._stop)
        return self._batch

    @property
    def inputs(self) -> NetworkInputs:
        return self._torch().inputs

    @property
    def labels(self) -> torch.Tensor | None:
        return self._torch().labels

    @property
    def weights(self) -> torch.Tensor | None:
        return self._torch().weights


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
