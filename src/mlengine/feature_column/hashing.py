"""Stable, vectorised hashing of feature values: the same bucket on every process and machine.

Python's ``hash()`` is salted per process, so it can never decide a bucket that an export must
reproduce. mlengine uses, and pins in its tests, this algorithm:

* **string → uint64**: FNV-1a 64 over the UTF-8 bytes of the value (offset basis
  ``0xCBF29CE484222325``, prime ``0x100000001B3``), then the SplitMix64 finaliser (below) so that
  the low bits used by ``% num_buckets`` are well mixed. Integers are hashed as their decimal
  string (as TensorFlow's hash columns do). String values are stripped of surrounding white space
  before they get here.
* **SplitMix64 finaliser**: ``z += 0x9E3779B97F4A7C15; z = (z ^ z>>30) * 0xBF58476D1CE4E5B9;
  z = (z ^ z>>27) * 0x94D049BB133111EB; z ^= z>>31`` (all modulo 2**64).
* **cross of keys k_1..k_m → uint64**: ``h = splitmix64(hash_key)``, then for each key
  ``h = splitmix64(h ^ splitmix64(k_i))``; the bucket is ``h % hash_bucket_size``.

TensorFlow uses FarmHash Fingerprint64; buckets therefore differ from TensorFlow's, which only
matters when weights are moved between the two systems (they cannot be).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from mlengine import tuning

FNV_OFFSET_BASIS = np.uint64(0xCBF29CE484222325)
FNV_PRIME = np.uint64(0x100000001B3)
DEFAULT_CROSS_HASH_KEY = 0xDECAFCAFFE  # tf.contrib's default crossed_column hash_key

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)


def splitmix64(values: np.ndarray) -> np.ndarray:
    """SplitMix64's finaliser over a uint64 array (wrapping arithmetic, a new array)."""
    z = values.astype(np.uint64, copy=True)
    z += _GOLDEN
    z ^= z >> np.uint64(30)
    z *= _MIX1
    z ^= z >> np.uint64(27)
    z *= _MIX2
    z ^= z >> np.uint64(31)
    return z


def hash_strings(values: pa.Array) -> np.ndarray:
    """Hash every string of an arrow string array to a uint64 (nulls hash as the empty string).

    The loop runs over byte *positions* (as many as the longest string), each step vectorised
    over all strings, so the cost is O(rows x max length) numpy work and no per-row Python.
    """
    if pa.types.is_large_string(values.type):
        values = values.cast(pa.string())
    n = len(values)
    if n == 0:
        return np.zeros(0, dtype=np.uint64)
    values = values.fill_null("") if values.null_count else values
    _, offsets_buf, data_buf = values.buffers()
    offsets = np.frombuffer(offsets_buf, dtype=np.int32)[values.offset : values.offset + n + 1]
    data = (
        np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    )
    starts = offsets[:-1].astype(np.int64)
    lengths = (offsets[1:] - offsets[:-1]).astype(np.int64)
    h = np.full(n, FNV_OFFSET_BASIS, dtype=np.uint64)
    max_len = int(lengths.max())
    if max_len:
        padded = np.concatenate([data, np.zeros(1, np.uint8)])
        for position in range(max_len):
            active = lengths > position
            index = np.where(active, starts + position, len(data))
            mixed = (h ^ padded[index].astype(np.uint64)) * FNV_PRIME
            h = np.where(active, mixed, h)
    return splitmix64(h)


_MASK = (1 << 64) - 1


def _splitmix64_int(z: int) -> int:
    """:func:`splitmix64` of one Python int (the same arithmetic, modulo 2**64)."""
    z = (z + 0x9E3779B97F4A7C15) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def cross_hash_one(keys: Sequence[int], hash_key: int | None) -> int:
    """:func:`cross_hash` of one row's keys, on Python ints (a serving request's few rows)."""
    value = _splitmix64_int(DEFAULT_CROSS_HASH_KEY if hash_key is None else hash_key)
    for key in keys:
        value = _splitmix64_int(value ^ _splitmix64_int(key))
    return value


def cross_hash(keys: list[np.ndarray], hash_key: int | None) -> np.ndarray:
    """Combine per-row uint64 keys of the crossed features into one uint64 per row."""
    seed = DEFAULT_CROSS_HASH_KEY if hash_key is None else hash_key
    rows = len(keys[0])
    if rows <= tuning.SMALL_CROSS_ROWS:
        out = [
            cross_hash_one(tuple(int(key[row]) for key in keys), hash_key) for row in range(rows)
        ]
        return np.array(out, dtype=np.uint64)
    h = splitmix64(np.full(rows, seed, dtype=np.uint64))
    for key in keys:
        h = splitmix64(h ^ splitmix64(key.astype(np.uint64, copy=False)))
    return h


def hash_string(value: str) -> int:
    """:func:`hash_strings` of one (stripped) string, on Python ints (a predicting process
    remembers them: :meth:`mlengine.feature_column.memory.ValueMemory.hash_string`)."""
    h = int(FNV_OFFSET_BASIS)
    for byte in value.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & _MASK
    return _splitmix64_int(h)


def bucket(hashes: np.ndarray, num_buckets: int) -> np.ndarray:
    """Map uint64 hashes to int64 bucket ids in ``[0, num_buckets)``."""
    return (hashes % np.uint64(num_buckets)).astype(np.int64)
