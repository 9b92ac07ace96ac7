"""Lookup tables: ``tf.lookup`` (TF 2) and ``tf.contrib.lookup`` (TF 1), over pyarrow.

Programs use them to turn label strings into ids (``index_table_from_tensor(tf.constant(LABELS))
.lookup(labels)``). A table is data (its keys, values and defaults); ``lookup`` is a row-wise op
of the façade's graphs. Out-of-vocabulary keys take ``default_value``, or with
``num_oov_buckets`` a bucket chosen by mlengine's stable hash (TF used FarmHash: the buckets
differ, the rule does not).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.feature_column.hashing import bucket, hash_strings
from mlengine.tf import dtypes
from mlengine.tf._namespace import module_getattr
from mlengine.tf._tensor import Arg, Tensor, convert, kernel, make_op
from mlengine.tf._values import Strings


def _plain(values: Any) -> list[Any]:
    if isinstance(values, Tensor):
        array = values.numpy()
    else:
        array = np.asarray(values, dtype=object)
    out = []
    for v in np.asarray(array, dtype=object).reshape(-1):
        out.append(
            v.decode("utf-8") if isinstance(v, bytes) else v.item() if hasattr(v, "item") else v
        )
    return out


class LookupTable:
    """A static table: ``keys`` to ``values``, ``default_value`` for other keys (or, with
    ``num_oov_buckets``, ``len(keys) + hash(key) % num_oov_buckets``)."""

    def __init__(
        self,
        keys: Sequence[Any],
        values: Sequence[Any],
        default_value: Any,
        num_oov_buckets: int = 0,
        value_dtype: dtypes.DType = dtypes.int64,
    ) -> None:
        if len(keys) != len(values):
            raise InvalidParameterError(
                f"A lookup table needs as many values as keys; got {len(keys)} and {len(values)}."
            )
        self.keys = list(keys)
        self.values = list(values)
        self.default_value = default_value
        self.num_oov_buckets = int(num_oov_buckets)
        self.value_dtype = value_dtype
        self.key_dtype = (
            dtypes.string if all(isinstance(k, str) for k in self.keys) else dtypes.int64
        )

    def lookup(self, keys: Any, name: str | None = None) -> Any:
        """The value of each key (same shape; SparseTensors keep their indices)."""
        from mlengine.tf._tensor import SparseTensor

        if isinstance(keys, SparseTensor):
            return SparseTensor(keys.indices, self.lookup(keys.values), keys.dense_shape)
        return make_op("lookup", [convert(keys)], self.value_dtype, {"table": self})

    def size(self, name: str | None = None) -> Tensor:
        return convert(np.int64(len(self.keys) + self.num_oov_buckets))

    def init(self) -> None:  # TF1's table.init / tables_initializer: nothing to run here
        return None

    initializer = property(lambda self: None)


@kernel("lookup")
def _lookup(args: list[Arg], attrs: dict[str, Any]) -> Arg:
    table: LookupTable = attrs["table"]
    value = args[0].value
    values = np.asarray(table.values)
    if isinstance(value, Strings):
        flat = (
            value.flat.cast(pa.string()) if not pa.types.is_string(value.flat.type) else value.flat
        )
        keys = pa.array([str(k) for k in table.keys], pa.string())
        positions = np.asarray(pc.index_in(flat, value_set=keys).fill_null(-1), dtype=np.int64)
        shape = value.shape
        hashes = None
        if table.num_oov_buckets and (positions < 0).any():
            hashes = bucket(hash_strings(flat), table.num_oov_buckets).astype(np.int64)
    else:
        array = np.asarray(value)
        keys_array = np.asarray(table.keys)
        order = np.argsort(keys_array, kind="stable")
        sorted_keys = keys_array[order]
        flat_keys = array.reshape(-1)
        where = np.searchsorted(sorted_keys, flat_keys)
        where = np.clip(where, 0, max(len(sorted_keys) - 1, 0))
        found = len(sorted_keys) > 0
        hit = (sorted_keys[where] == flat_keys) if found else np.zeros(len(flat_keys), bool)
        positions = np.where(hit, order[where] if found else 0, -1).astype(np.int64)
        shape = array.shape
        hashes = None
        if table.num_oov_buckets and (positions < 0).any():
            hashes = bucket(
                hash_strings(pa.array([str(k) for k in flat_keys])), table.num_oov_buckets
            ).astype(np.int64)
    if hashes is not None:
        out = np.where(
            positions >= 0,
            np.take(values, np.maximum(positions, 0)) if len(values) else 0,
            len(values) + hashes,
        )
    else:
        fallback = np.asarray(table.default_value, dtype=values.dtype if len(values) else None)
        out = np.where(
            positions >= 0,
            np.take(values, np.maximum(positions, 0)) if len(values) else fallback,
            fallback,
        )
    if table.value_dtype.is_string:
        strings = pa.array([str(v) for v in out.reshape(-1)], pa.string())
        return Arg(Strings(strings, shape), args[0].batched)
    return Arg(out.astype(table.value_dtype.as_numpy_dtype).reshape(shape), args[0].batched)


# -- constructors -------------------------------------------------------------------------------


def index_table_from_tensor(
    vocabulary_list: Any,
    num_oov_buckets: int = 0,
    default_value: int = -1,
    hasher_spec: Any = None,
    dtype: Any = dtypes.string,
    name: str | None = None,
) -> LookupTable:
    """``tf.contrib.lookup.index_table_from_tensor`` (also ``tf.compat.v1.lookup``'s): each
    key's position in the list."""
    keys = _plain(vocabulary_list)
    return LookupTable(keys, list(range(len(keys))), int(default_value), num_oov_buckets)


def index_table_from_file(
    vocabulary_file: str,
    num_oov_buckets: int = 0,
    vocab_size: int | None = None,
    default_value: int = -1,
    hasher_spec: Any = None,
    key_dtype: Any = dtypes.string,
    name: str | None = None,
    key_column_index: int = -2,
    value_column_index: int = -1,
    delimiter: str = "\t",
) -> LookupTable:
    """``index_table_from_file``: one key per line (the whole line), its line number."""
    import fsspec

    with fsspec.open(vocabulary_file, "rt", encoding="utf-8") as handle:
        keys = [line.rstrip("\n").rstrip("\r") for line in handle]
    if vocab_size is not None:
        keys = keys[: int(vocab_size)]
    return LookupTable(keys, list(range(len(keys))), int(default_value), num_oov_buckets)


def index_to_string_table_from_tensor(
    vocabulary_list: Any, default_value: str = "UNK", name: str | None = None
) -> LookupTable:
    """``index_to_string_table_from_tensor``: ids back to the vocabulary's strings."""
    words = [str(w) for w in _plain(vocabulary_list)]
    return LookupTable(list(range(len(words))), words, default_value, value_dtype=dtypes.string)


class KeyValueTensorInitializer:
    """``tf.lookup.KeyValueTensorInitializer(keys, values, key_dtype=None, value_dtype=None)``."""

    def __init__(
        self,
        keys: Any,
        values: Any,
        key_dtype: Any = None,
        value_dtype: Any = None,
        name: str | None = None,
    ) -> None:
        self.keys = _plain(keys)
        self.values = _plain(values)
        if value_dtype is not None:
            self.value_dtype = dtypes.as_dtype(value_dtype)
        elif isinstance(values, Tensor):
            self.value_dtype = values.dtype
        else:
            self.value_dtype = dtypes.as_dtype(np.asarray(self.values).dtype)


def StaticHashTable(
    initializer: KeyValueTensorInitializer, default_value: Any, name: str | None = None
) -> LookupTable:  # noqa: N802
    """``tf.lookup.StaticHashTable`` (v1 ``tf.contrib.lookup.HashTable``)."""
    if not isinstance(initializer, KeyValueTensorInitializer):
        raise NotSupportedError("Lookup tables take a tf.lookup.KeyValueTensorInitializer.")
    return LookupTable(
        initializer.keys, initializer.values, default_value, value_dtype=initializer.value_dtype
    )


def StaticVocabularyTable(  # noqa: N802
    initializer: KeyValueTensorInitializer,
    num_oov_buckets: int,
    lookup_key_dtype: Any = None,
    name: str | None = None,
) -> LookupTable:
    """``tf.lookup.StaticVocabularyTable``: OOV keys hashed into ``num_oov_buckets``."""
    return LookupTable(initializer.keys, initializer.values, -1, num_oov_buckets)


def tables_initializer(name: str = "init_all_tables") -> None:
    """``tf.tables_initializer``: tables here need no initialisation."""
    return None


__getattr__ = module_getattr("tf.lookup")

__all__ = [
    "KeyValueTensorInitializer",
    "LookupTable",
    "StaticHashTable",
    "StaticVocabularyTable",
    "index_table_from_file",
    "index_table_from_tensor",
    "index_to_string_table_from_tensor",
    "tables_initializer",
]
