"""The ``tf.contrib.layers`` names that 2017-era programs (and the talk) use, as thin aliases.

They keep contrib's argument names and semantics; notably
``sparse_column_with_integerized_feature`` takes ``value % bucket_size`` and never errors.
Per-column ``combiner`` arguments other than ``'sum'`` are refused: set the estimator's
``sparse_combiner`` / ``linear_sparse_combiner`` instead.
"""

from __future__ import annotations

from collections.abc import Sequence

from mlengine.errors import NotSupportedError
from mlengine.feature_column.columns import (
    FLOAT32,
    INT64,
    STRING,
    CategoricalColumn,
    HashBucketColumn,
    IdentityColumn,
    IndicatorColumn,
    Normalizer,
    NumericColumn,
    VocabularyColumn,
    categorical_column_with_hash_bucket,
    categorical_column_with_identity,
    categorical_column_with_vocabulary_list,
    indicator_column,
    numeric_column,
)


def _sum_only(function: str, combiner: str) -> None:
    if combiner != "sum":
        raise NotSupportedError(
            f"{function}(combiner={combiner!r}): per-column combiners are not supported; set the "
            "estimator's sparse_combiner (linear_sparse_combiner for Wide & Deep) instead."
        )


def real_valued_column(
    column_name: str,
    dimension: int = 1,
    default_value: float | Sequence[float] | None = None,
    dtype: str = FLOAT32,
    normalizer: Normalizer | None = None,
) -> NumericColumn:
    """``tf.contrib.layers.real_valued_column``: a :func:`numeric_column` of ``dimension``."""
    return numeric_column(column_name, (dimension,), default_value, dtype, normalizer)


def sparse_column_with_integerized_feature(
    column_name: str, bucket_size: int, combiner: str = "sum", dtype: str = INT64
) -> IdentityColumn:
    """Integer ids taken modulo ``bucket_size`` (contrib's semantics: never an error)."""
    _sum_only("sparse_column_with_integerized_feature", combiner)
    column = categorical_column_with_identity(column_name, bucket_size)
    return IdentityColumn(column.key, column.num_buckets, None, wrap=True)


def sparse_column_with_hash_bucket(
    column_name: str, hash_bucket_size: int, combiner: str = "sum", dtype: str = STRING
) -> HashBucketColumn:
    """``tf.contrib.layers.sparse_column_with_hash_bucket``."""
    _sum_only("sparse_column_with_hash_bucket", combiner)
    return categorical_column_with_hash_bucket(column_name, hash_bucket_size, dtype)


def sparse_column_with_keys(
    column_name: str, keys: Sequence[str], default_value: int = -1, combiner: str = "sum"
) -> VocabularyColumn:
    """``tf.contrib.layers.sparse_column_with_keys``: a vocabulary list column."""
    _sum_only("sparse_column_with_keys", combiner)
    return categorical_column_with_vocabulary_list(column_name, keys, None, default_value)


def one_hot_column(sparse_id_column: CategoricalColumn) -> IndicatorColumn:
    """``tf.contrib.layers.one_hot_column``: an :func:`indicator_column`."""
    return indicator_column(sparse_id_column)
