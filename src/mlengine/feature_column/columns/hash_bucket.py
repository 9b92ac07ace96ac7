"""``categorical_column_with_hash_bucket``: ids by a stable hash of the value."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlengine.feature_column.columns.base import (
    INT64,
    STRING,
    CategoricalColumn,
    InputSpec,
    KeyedColumn,
    Size,
    check_key,
    fail,
    optional_input,
    positive_int,
    serializable,
)
from mlengine.feature_column.encoding import Ids, lookup
from mlengine.feature_column.hashing import bucket
from mlengine.feature_column.rowpath import (
    RowCompiler,
    RowIds,
    RowIdsFunction,
    RowValues,
    with_weights,
)

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf


@serializable
@dataclass(frozen=True)
class HashBucketColumn(KeyedColumn, CategoricalColumn):
    """Ids by stable hash of the (stripped) value modulo ``hash_bucket_size``."""

    key: str
    hash_bucket_size: int
    dtype: str = STRING

    def __post_init__(self) -> None:
        positive_int("HashBucketColumn", "hash_bucket_size", self.hash_bucket_size, minimum=2)

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    def sizes(self) -> Iterator[Size]:
        yield "hash_bucket_size", self.hash_bucket_size, "buckets"

    def input_specs(self) -> Iterable[InputSpec]:
        yield optional_input(self.key, STRING if self.dtype == STRING else INT64)

    def transform_ids(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        # Integer values are read as their decimal strings, as TF hashes them.
        s = batch.strings(self.key, self.name)
        per_entry = np.where(s.empty, -1, bucket(s.hashes, self.hash_bucket_size))
        return lookup(s, per_entry, batch.n)

    def row_ids(self, compiler: RowCompiler) -> RowIdsFunction | None:
        if self.dtype != STRING:
            return None  # integer keys: the vectorised path reads them as strings
        key, size, hash_string = self.key, self.hash_bucket_size, compiler.memory.hash_string

        def hash_bucket(rows: RowValues) -> RowIds:
            return with_weights(
                [None if s is None else hash_string(s) % size for s in rows.strings(key)]
            )

        return hash_bucket


def categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype: str = STRING
) -> HashBucketColumn:
    """Hash strings (or ints, as their decimal string) into ``hash_bucket_size`` buckets."""
    owner = "categorical_column_with_hash_bucket"
    check_key(owner, key)
    positive_int(owner, "hash_bucket_size", hash_bucket_size, minimum=2)
    if dtype not in (STRING, INT64, "int32"):
        raise fail(owner, "dtype", "'string' or an integer dtype", dtype)
    return HashBucketColumn(key, hash_bucket_size, STRING if dtype == STRING else INT64)
