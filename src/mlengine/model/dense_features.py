"""Feature columns as torch modules, for networks of your own: DenseFeatures and LinearModel.

``DenseFeatures(columns)`` is TF's ``input_layer`` / ``tf.keras.layers.DenseFeatures``: the
dense columns' values and the embedding columns' vectors concatenated, ``[n, output_dim]``,
the input of a DNN. ``LinearModel(columns, units)`` is TF's ``linear_model``: one learned
weight per sparse id (and per dense value) summed, plus a bias, ``[n, units]``, the "wide"
part. Each owns the embedding tables or weights of its columns, initialised as TensorFlow
initialises them, and is called with the batch's :class:`ModelFeatures`.

The raw-to-encoded transform is not part of the module: it is the one
:class:`~mlengine.feature_column.FeatureTransformer` (numpy), run before the network, so
training, ``predict`` and the exported model's Predictor encode features with the same code.
A :class:`ModelFeatures` carries a batch's raw features and, once computed, their encodings
(training encodes large chunks ahead of the network and hands each batch its slice); an
export traces the modules with the encodings as the graph's inputs.
"""

from __future__ import annotations

import json
import weakref
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from mlengine.errors import FeatureError, InvalidParameterError, NotSupportedError
from mlengine.feature_column import FeatureColumn, FeatureTransformer, to_config
from mlengine.feature_column.columns import check_unique_names
from mlengine.feature_column.transform import EncodedFeatures, count_rows, transform_all
from mlengine.model.feature_tensors import FeatureTensors
from mlengine.model.networks import DNNPart, LinearPart, weighted_sum

_KEYS: weakref.WeakKeyDictionary[FeatureTransformer, str] = weakref.WeakKeyDictionary()


def transformer_key(transformer: FeatureTransformer) -> str:
    """A stable identity of a transformer: its columns' configs and combiner, as JSON.

    Computed once per transformer (a transformer's columns never change): every batch's
    feature modules look their encodings up by it, and serialising census's columns cost a
    millisecond, a third of a training step.
    """
    key = _KEYS.get(transformer)
    if key is None:
        key = _KEYS[transformer] = json.dumps(
            [[to_config(c) for c in transformer.feature_columns], transformer.sparse_combiner],
            sort_keys=True,
        )
    return key


class ModelFeatures(Mapping[str, Any]):
    """One batch's features as a custom network sees them.

    ``features[key]`` is a float32 tensor ``[n]`` for a numeric feature and the raw values
    (numpy or pyarrow array) otherwise, as TF hands a model_fn its feature tensors. The
    feature-column modules read :meth:`tensors`: the batch's encoding for their transformer,
    computed once (here, or ahead of time by training) and moved to ``device``.
    """

    def __init__(
        self,
        raw: Mapping[str, Any],
        device: torch.device | str = "cpu",
        encoded: Mapping[str, EncodedFeatures | FeatureTensors] | None = None,
        num_rows: int | None = None,
    ):
        self._source = raw
        self._rows: tuple[int, int] | None = None  # a slice of _source, taken on first use
        self.device = torch.device(device)
        self._encoded: dict[str, EncodedFeatures | FeatureTensors] = dict(encoded or {})
        self._tensors: dict[str, torch.Tensor] = {}
        self.num_rows = count_rows(raw) if num_rows is None else num_rows
        self._sliced: dict[str, Any] | None = None
        self.read_directly: set[str] = set()  # numeric keys the network read itself
        self.read_raw: set[str] = set()  # non-numeric keys the network read itself
        self.traced_inputs: dict[str, torch.Tensor] | None = None  # set while exporting

    @property
    def _raw(self) -> Mapping[str, Any]:
        """The raw features (a batch's slice of its chunk is taken when first needed: a
        network that reads only feature columns never pays for it)."""
        if self._rows is None:
            return self._source
        if self._sliced is None:
            start, stop = self._rows
            self._sliced = {k: _slice(v, start, stop) for k, v in self._source.items()}
        return self._sliced

    def __getitem__(self, key: str) -> Any:
        if self.traced_inputs is not None:
            if key not in self.traced_inputs:
                raise NotSupportedError(
                    f"The network reads feature {key!r} directly, and it is not a number: "
                    "only numeric features can be read directly by an exported network; "
                    "read strings through feature columns (DenseFeatures, LinearModel)."
                )
            return self.traced_inputs[key]
        if key not in self._raw:
            raise FeatureError(f"Feature {key!r} is not in the input (it has {sorted(self._raw)}).")
        cached = self._tensors.get(key)
        if cached is not None:
            return cached
        value = self._raw[key]
        array = value if isinstance(value, np.ndarray) else None
        if array is None and hasattr(value, "to_numpy") and not hasattr(value, "type"):
            array = value.to_numpy()  # a pandas Series
        if array is not None and array.dtype.kind in "fiub":
            array = np.ascontiguousarray(array, dtype=np.float32)
            if not array.flags.writeable:  # torch warns on read-only memory (pandas' arrays)
                array = array.copy()
            self._tensors[key] = torch.from_numpy(array).to(self.device)
            self.read_directly.add(key)
            return self._tensors[key]
        self.read_raw.add(key)
        return value

    def __iter__(self) -> Iterator[str]:
        return iter(self._source)

    def __len__(self) -> int:
        return len(self._source)

    def raw(self) -> Mapping[str, Any]:
        """The raw feature values."""
        return self._raw

    def encode(self, transformers: Sequence[FeatureTransformer]) -> None:
        """Encode the batch for every transformer not encoded yet (one pass over the raw
        features, shared columns computed once)."""
        missing = [t for t in transformers if transformer_key(t) not in self._encoded]
        if missing:
            for transformer, out in zip(missing, transform_all(missing, self._raw), strict=True):
                assert out is not None
                self._encoded[transformer_key(transformer)] = out

    def tensors(self, transformer: FeatureTransformer) -> FeatureTensors:
        """The batch's encoding for ``transformer``, as tensors on the device."""
        key = transformer_key(transformer)
        if key not in self._encoded:
            self.encode([transformer])
        encoded = self._encoded[key]
        if not isinstance(encoded, FeatureTensors):  # numpy arrays: moved to the device once
            encoded = FeatureTensors.from_encoded(encoded, self.device)
            self._encoded[key] = encoded
        return encoded

    def slice(self, start: int, stop: int) -> ModelFeatures:
        """Rows ``[start, stop)`` of a chunk, their encodings sliced along (views, no copy)."""
        assert self._rows is None, "slice a chunk, not a slice"
        encoded = {k: v.slice(start, stop) for k, v in self._encoded.items()}
        out = ModelFeatures(self._source, self.device, encoded, min(stop, self.num_rows) - start)
        out._rows = (start, stop)
        return out

    def split(self, size: int) -> list[ModelFeatures]:
        """Consecutive batches of ``size`` rows of a chunk (the last may be shorter), as
        :meth:`slice` gives them; each encoded tensor is split once for all of them (one
        ``torch.split`` per tensor, where slicing every tensor for every batch is a Python
        call per tensor and batch)."""
        assert self._rows is None, "split a chunk, not a slice"
        count = -(-self.num_rows // size)
        parts: list[dict[str, EncodedFeatures | FeatureTensors]] = [{} for _ in range(count)]
        for key, encoded in self._encoded.items():
            pieces: list[EncodedFeatures | FeatureTensors] = (
                list(encoded.split(size))
                if isinstance(encoded, FeatureTensors)
                else [encoded.slice(i * size, (i + 1) * size) for i in range(count)]
            )
            for part, piece in zip(parts, pieces, strict=True):
                part[key] = piece
        out = []
        for i, encoded_part in enumerate(parts):
            start, stop = i * size, min((i + 1) * size, self.num_rows)
            batch = ModelFeatures(self._source, self.device, encoded_part, stop - start)
            batch._rows = (start, stop)
            out.append(batch)
        return out


def _slice(values: Any, start: int, stop: int) -> Any:
    if hasattr(values, "iloc"):
        return values.iloc[start:stop]
    return values[start:stop]


def _columns(owner: str, columns: Any) -> list[FeatureColumn]:
    items = [columns] if isinstance(columns, FeatureColumn) else list(columns or [])
    if not items or not all(isinstance(c, FeatureColumn) for c in items):
        raise InvalidParameterError(
            f"The 'feature_columns' parameter of {owner} must be a non-empty list of feature "
            f"columns. Got {columns!r} instead."
        )
    check_unique_names(items, owner)
    return items


class DenseFeatures(nn.Module):
    """TF's ``input_layer`` as a module: ``[n, output_dim]`` dense inputs of a DNN.

    Bucketized columns become one-hot, as TF's; other categorical columns must be wrapped in
    ``indicator_column`` or ``embedding_column`` (the error says which column).

    Example:
        >>> from mlengine import feature_column as fc
        >>> layer = DenseFeatures([fc.numeric_column("age")])
        >>> layer(ModelFeatures({"age": np.array([30.0, 40.0])})).tolist()
        [[30.0], [40.0]]
    """

    def __init__(self, feature_columns: Sequence[FeatureColumn]):
        super().__init__()
        columns = [
            c.as_dnn_input("DenseFeatures") for c in _columns("DenseFeatures", feature_columns)
        ]
        self.transformer = FeatureTransformer(columns)
        # The embedding tables (and their TF initialisation) are the canned DNN's.
        self._embeddings = DNNPart(
            self.transformer.dense_width, self.transformer.embedding_specs, (), 1
        )
        self.tables = self._embeddings.tables
        del self._embeddings  # only its tables are ours
        self.output_dim = self.transformer.dense_width + sum(
            spec.dimension for spec in self.transformer.embedding_specs
        )

    def forward(self, features: ModelFeatures) -> torch.Tensor:
        inputs = features.tensors(self.transformer)
        parts = [inputs.dense] if inputs.dense.shape[1] else []
        for spec, ids, weights in zip(
            self.transformer.embedding_specs,
            inputs.embedding_ids,
            inputs.embedding_weights,
            strict=True,
        ):
            parts.append(weighted_sum(self.tables[spec.table], ids, weights, spec.max_norm))
        if not parts:
            return torch.zeros(features.num_rows, 0, device=features.device)
        return parts[0] if len(parts) == 1 else torch.cat(parts, dim=1)


class LinearModel(nn.Module):
    """TF's ``linear_model`` as a module: ``sum_i w[id_i] + dense @ W + b``, ``[n, units]``.

    Weights and bias start at zero (TF's); ``sparse_combiner`` reduces several ids of one
    column in a row (``'sum'``, ``'mean'``, ``'sqrtn'``).
    """

    def __init__(
        self, feature_columns: Sequence[FeatureColumn], units: int = 1, sparse_combiner: str = "sum"
    ):
        super().__init__()
        columns = [
            c.as_linear_input("LinearModel") for c in _columns("LinearModel", feature_columns)
        ]
        if isinstance(units, bool) or not isinstance(units, int) or units < 1:
            raise InvalidParameterError(
                f"The 'units' parameter of LinearModel must be an int >= 1. Got {units!r} instead."
            )
        self.transformer = FeatureTransformer(columns, sparse_combiner=sparse_combiner)
        self.part = LinearPart(self.transformer.num_sparse_ids, self.transformer.dense_width, units)

    def forward(self, features: ModelFeatures) -> torch.Tensor:
        result: torch.Tensor = self.part(features.tensors(self.transformer))
        return result


def feature_modules(network: nn.Module) -> list[tuple[str, DenseFeatures | LinearModel]]:
    """Every DenseFeatures and LinearModel inside ``network``, by module name."""
    return [
        (name, module)
        for name, module in network.named_modules()
        if isinstance(module, DenseFeatures | LinearModel)
    ]


__all__ = ["DenseFeatures", "LinearModel", "ModelFeatures", "feature_modules", "transformer_key"]
