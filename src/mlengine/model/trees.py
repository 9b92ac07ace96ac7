"""Boosted trees' inputs: feature columns to the matrix LightGBM reads (torch-free).

Training (:mod:`mlengine.estimator.boosted_trees`) and the Predictor both build the matrix
here, through the one :class:`~mlengine.feature_column.FeatureTransformer`, so they can never
encode differently. TensorFlow's BoostedTrees took numeric, bucketized and indicator columns;
mlengine also takes categorical columns directly. Each column becomes features:

* a numeric (or other dense) column: its values, ``width`` features (``key``, or ``key_0``...);
* a bucketized column: its bucket id, an ordered feature (TF quantized numerics the same way);
* a categorical column (vocabulary, identity, hash bucket, cross), or an indicator of one: its
  id as a LightGBM categorical feature (native categorical splits); a missing value is NaN, and
  an unseen value its out-of-vocabulary id (or NaN where the column drops it), never an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.feature_column import (
    BucketizedColumn,
    CategoricalColumn,
    DenseColumn,
    EmbeddingColumn,
    FeatureColumn,
    FeatureTransformer,
    IndicatorColumn,
    from_config,
)
from mlengine.feature_column.encoding import RawBatch
from mlengine.feature_column.memory import ValueMemory
from mlengine.feature_column.transform import transform_all

#: The model spec's key for the trees' feature columns.
COLUMNS_KEY = "tree_feature_columns"


def tree_input_column(column: FeatureColumn, owner: str) -> FeatureColumn:
    """The column as trees read it: an indicator is its categorical column; embeddings are
    refused (a tree splits on ids, not on learned vectors)."""
    if isinstance(column, IndicatorColumn):
        return column.categorical_column
    if isinstance(column, EmbeddingColumn):
        raise NotSupportedError(
            f"{owner}: embedding column {column.name!r} cannot feed boosted trees; give its "
            "categorical column (or an indicator_column of it) instead."
        )
    if not isinstance(column, CategoricalColumn | DenseColumn):
        raise InvalidParameterError(f"{owner}: {column!r} is not a feature column.")
    return column


class TreeInputs:
    """The features a boosted-trees model reads, in a fixed order, and how to compute them.

    Example:
        >>> from mlengine import feature_column as fc
        >>> inputs = TreeInputs([fc.numeric_column("age"),
        ...     fc.categorical_column_with_vocabulary_list("g", ["f", "m"])])
        >>> inputs.feature_names, inputs.categorical_features
        (['age', 'g'], ['g'])
        >>> inputs.matrix({"age": [30.0, 40.0], "g": ["m", None]}).tolist()
        [[30.0, 1.0], [40.0, nan]]
    """

    def __init__(self, columns: Sequence[FeatureColumn], owner: str = "BoostedTrees"):
        self.columns = [tree_input_column(c, owner) for c in columns]
        self.transformer = FeatureTransformer(self.columns)
        names: list[str] = []
        sources: list[tuple[str, ...]] = []
        for dense in self.transformer.dense_columns:
            width = dense.width
            names.extend(
                [dense.name] if width == 1 else [f"{dense.name}_{i}" for i in range(width)]
            )
            sources.extend([tuple(dense.raw_keys)] * width)
        sparse = self.transformer.sparse_columns
        names.extend(c.name for c in sparse)
        sources.extend(tuple(c.raw_keys) for c in sparse)
        self.feature_names = names
        #: The raw features each of ``feature_names`` is computed from (a cross: several).
        self.feature_sources = sources
        self.categorical_features = [c.name for c in sparse if not isinstance(c, BucketizedColumn)]
        self._offsets = np.asarray(self.transformer.sparse_offsets, dtype=np.int64)

    @classmethod
    def from_spec(cls, spec: Mapping[str, Any]) -> TreeInputs:
        """The inputs of a model spec (its ``tree_feature_columns``)."""
        configs = spec.get(COLUMNS_KEY)
        if not isinstance(configs, list) or not configs:
            raise InvalidParameterError(f"The model spec has no {COLUMNS_KEY!r}.")
        return cls([from_config(c, COLUMNS_KEY) for c in configs], str(spec.get("estimator")))

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.transformer.raw_keys

    def raw_share(self, raw_names: Sequence[str]) -> np.ndarray:
        """``[len(feature_names), len(raw_names)]``: how a quantity per LightGBM feature (a
        TreeSHAP contribution) goes to the raw features. A feature computed from one raw
        feature gives it all; a cross of k raw features gives each 1/k, so the total is kept.

        Example:
            >>> from mlengine import feature_column as fc
            >>> TreeInputs([fc.numeric_column("a"), fc.crossed_column(["a", "b"], 4)]
            ...     ).raw_share(["a", "b"]).tolist()
            [[1.0, 0.0], [0.5, 0.5]]
        """
        where = {name: j for j, name in enumerate(raw_names)}
        share = np.zeros((len(self.feature_names), len(raw_names)))
        for i, keys in enumerate(self.feature_sources):
            missing = [key for key in keys if key not in where]
            if missing:
                raise InvalidParameterError(f"The trees read features {missing} not given.")
            for key in keys:
                share[i, where[key]] += 1.0 / len(keys)
        return share

    def matrix(self, features: RawBatch, memory: ValueMemory | None = None) -> np.ndarray:
        """The ``[n, len(feature_names)]`` float64 matrix of a raw batch (NaN: missing)."""
        encoded = transform_all([self.transformer], features, memory)[0]
        assert encoded is not None
        return self.matrix_of(encoded.sparse_ids, encoded.sparse_weights, encoded.dense)

    def matrix_of(self, ids: np.ndarray, weights: np.ndarray, dense: np.ndarray) -> np.ndarray:
        """The matrix from the transformer's outputs (of the vectorised or the row path)."""
        if ids.shape[1] != self._offsets.size:
            raise NotSupportedError(
                "Boosted trees read one value per categorical column and row; a feature has "
                "several values in a row."
            )
        local = (ids - self._offsets).astype(np.float64)
        local[weights == 0] = np.nan
        return np.hstack([dense.astype(np.float64), local])
