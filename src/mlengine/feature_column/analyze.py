"""Fit-time statistics that fill columns in: vocabularies, mean/std, quantile boundaries.

This is what tf.Transform did beside tf.feature_column, kept as plain functions that read data
once and return ordinary (serialisable) columns, so normalisers never need a callable.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError, InvalidParameterError
from mlengine.feature_column.columns import (
    BucketizedColumn,
    NumericColumn,
    VocabularyColumn,
    ZScore,
    bucketized_column,
    categorical_column_with_vocabulary_list,
    numeric_column,
)


def _column(data: Mapping[str, Any], key: str) -> pa.Array:
    try:
        values = data[key]
    except KeyError:
        raise FeatureError(f"Feature {key!r} is not in the data to analyse.") from None
    arr = values if isinstance(values, pa.Array | pa.ChunkedArray) else pa.array(values)
    return arr


def _floats(data: Mapping[str, Any], key: str) -> np.ndarray:
    arr = _column(data, key)
    try:
        values = np.asarray(pc.cast(arr, pa.float64()).fill_null(np.nan), dtype=np.float64)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        raise FeatureError(
            f"Feature {key!r}: expected numbers to analyse, got {arr.type}."
        ) from None
    values = values[np.isfinite(values)]
    if values.size == 0:
        raise FeatureError(f"Feature {key!r} has no finite values to analyse.")
    return values


def vocabulary_column(
    data: Mapping[str, Any],
    key: str,
    *,
    min_count: int = 1,
    max_size: int | None = None,
    num_oov_buckets: int = 0,
    default_value: int = -1,
) -> VocabularyColumn:
    """A vocabulary list column of the stripped values of `key`, most frequent first."""
    if min_count < 1:
        raise InvalidParameterError(f"The 'min_count' parameter must be >= 1. Got {min_count!r}")
    arr = pc.utf8_trim_whitespace(pc.cast(_column(data, key), pa.string()))
    counts = pc.value_counts(arr.filter(pc.and_(pc.is_valid(arr), pc.not_equal(arr, ""))))
    frequency = dict(
        zip(counts.field("values").to_pylist(), counts.field("counts").to_pylist(), strict=True)
    )
    ranked = sorted(
        (v for v, c in frequency.items() if c >= min_count), key=lambda v: (-frequency[v], v)
    )
    if max_size is not None:
        ranked = ranked[:max_size]
    if not ranked:
        raise FeatureError(f"Feature {key!r} has no value seen at least {min_count} time(s).")
    return categorical_column_with_vocabulary_list(
        key, ranked, default_value=default_value, num_oov_buckets=num_oov_buckets
    )


def standardized_column(data: Mapping[str, Any], key: str) -> NumericColumn:
    """A numeric column normalised by ``key``'s mean and standard deviation in ``data``."""
    values = _floats(data, key)
    std = float(values.std())
    return numeric_column(key, normalizer_fn=ZScore(float(values.mean()), std if std > 0 else 1.0))


def quantile_bucketized_column(
    data: Mapping[str, Any], key: str, num_buckets: int
) -> BucketizedColumn:
    """A bucketized column with boundaries at ``key``'s quantiles (duplicates merged)."""
    if num_buckets < 2:
        raise InvalidParameterError(f"The 'num_buckets' parameter must be >= 2. Got {num_buckets}.")
    values = _floats(data, key)
    quantiles = np.quantile(values, np.linspace(0, 1, num_buckets + 1)[1:-1])
    boundaries = sorted(set(float(q) for q in quantiles))
    if values.min() == values.max():  # (quantiles always give at least one boundary)
        raise FeatureError(f"Feature {key!r} is constant; it cannot be bucketized by quantiles.")
    return bucketized_column(numeric_column(key), boundaries)
