"""Stable hashing: pinned values, a scalar reference implementation, and process independence.

The algorithm in ``mlengine/feature_column/hashing.py`` (FNV-1a 64 + SplitMix64 finaliser, and
its cross combine) is a COMPATIBILITY PROMISE: exported models store hash bucket and crossed
column weights by bucket id, so changing any pinned value below silently breaks every export
made before. Never update these numbers to make a test pass; add a new, versioned algorithm.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlengine import feature_column as fc
from mlengine.feature_column.hashing import (
    DEFAULT_CROSS_HASH_KEY,
    bucket,
    cross_hash,
    hash_string,
    hash_strings,
    splitmix64,
)
from mlengine.feature_column.memory import ValueMemory

MASK = (1 << 64) - 1

# Computed once with hashing.py as of the first release; see the module docstring.
PINNED_HASHES = {
    "Private": 0x42402B8CB9C68E84,
    "Bachelors": 0xB0968DF31F92DEC5,
    "": 0xC3817C016BA4FF30,
    "北京": 0x11BBA385EC4B09B0,
    "Exec-managerial": 0x4091B831D0A50159,
    "7": 0xB89CCE279E7F3F80,
}
PINNED_BUCKETS_1000 = {"Private": 140, "Bachelors": 461, "": 8, "北京": 96, "7": 416}
PINNED_CROSS = 0xF7B488D66F13C340  # ("Bachelors", "Exec-managerial"), default hash_key
PINNED_CROSS_BUCKET_1000 = 296
PINNED_CROSS_BUCKET_1000_KEY_42 = 495


def reference_fnv1a(text: str) -> int:
    h = 0xCBF29CE484222325
    for byte in text.encode("utf-8"):
        h = ((h ^ byte) * 0x100000001B3) & MASK
    return h


def reference_splitmix64(z: int) -> int:
    z = (z + 0x9E3779B97F4A7C15) & MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def reference_hash(text: str) -> int:
    return reference_splitmix64(reference_fnv1a(text))


def reference_cross(keys: list[int], hash_key: int | None = None) -> int:
    h = reference_splitmix64(DEFAULT_CROSS_HASH_KEY if hash_key is None else hash_key)
    for key in keys:
        h = reference_splitmix64(h ^ reference_splitmix64(key))
    return h


def test_building_blocks_match_published_values() -> None:
    # FNV-1a 64 test vectors, and SplitMix64's first output for seed 0.
    assert reference_fnv1a("") == 0xCBF29CE484222325
    assert reference_fnv1a("a") == 0xAF63DC4C8601EC8C
    assert reference_fnv1a("foobar") == 0x85944171F73967E8
    assert int(splitmix64(np.array([0], dtype=np.uint64))[0]) == 0xE220A8397B1DCDAF
    assert reference_splitmix64(0) == 0xE220A8397B1DCDAF


def test_pinned_string_hashes() -> None:
    got = hash_strings(pa.array(list(PINNED_HASHES)))
    assert got.dtype == np.uint64
    assert [int(h) for h in got] == list(PINNED_HASHES.values())
    assert {k: reference_hash(k) for k in PINNED_HASHES} == PINNED_HASHES
    buckets = bucket(hash_strings(pa.array(list(PINNED_BUCKETS_1000))), 1000)
    assert buckets.dtype == np.int64
    assert dict(zip(PINNED_BUCKETS_1000, buckets.tolist(), strict=True)) == PINNED_BUCKETS_1000


def test_pinned_cross() -> None:
    keys = hash_strings(pa.array(["Bachelors", "Exec-managerial"]))
    crossed = cross_hash([keys[:1], keys[1:]], None)
    assert int(crossed[0]) == PINNED_CROSS
    assert reference_cross([int(k) for k in keys]) == PINNED_CROSS
    assert int(bucket(crossed, 1000)[0]) == PINNED_CROSS_BUCKET_1000
    assert (
        int(bucket(cross_hash([keys[:1], keys[1:]], 42), 1000)[0])
        == PINNED_CROSS_BUCKET_1000_KEY_42
    )


def _census_buckets() -> dict[str, list[int]]:
    """Buckets through the public API (run here and in subprocesses)."""
    occupation = fc.categorical_column_with_hash_bucket("occupation", 1000)
    cross = fc.crossed_column(["education", "occupation"], 1000)
    keyed = fc.crossed_column(["education", "workclass"], 1000, hash_key=42)
    transformer = fc.FeatureTransformer([occupation, cross, keyed])
    out = transformer.transform(
        {
            "occupation": ["Exec-managerial", " Private", "北京", "7"],
            "education": ["Bachelors", "Bachelors ", "HS-grad", "7"],
            "workclass": ["Exec-managerial", "x", "y", "z"],
        }
    )
    ids = out.sparse_ids - np.asarray(transformer.sparse_offsets)
    return {c.name: ids[:, j].tolist() for j, c in enumerate(transformer.sparse_columns)}


def test_pinned_buckets_through_the_transformer() -> None:
    buckets = _census_buckets()
    assert buckets["occupation"] == [25, 140, 96, 416]
    assert buckets["education_X_occupation"][0] == PINNED_CROSS_BUCKET_1000
    assert buckets["education_X_workclass"][0] == PINNED_CROSS_BUCKET_1000_KEY_42


@pytest.mark.parametrize("seed", ["0", "12345", "random"])
def test_buckets_do_not_depend_on_the_process(seed: str) -> None:
    code = (
        "import json, sys\n"
        f"sys.path.insert(0, {os.path.dirname(__file__)!r})\n"
        "import test_hashing\n"
        "print(json.dumps(test_hashing._census_buckets()))\n"
        "print(hash('Private'))\n"
    )
    env = {**os.environ, "PYTHONHASHSEED": seed}
    result = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=True,
    )
    buckets_line, python_hash = result.stdout.strip().splitlines()
    assert json.loads(buckets_line) == _census_buckets()
    if seed != "random":
        # the subprocess really ran with another salt: Python's own hash() differs
        assert int(python_hash) != hash("Private")


@given(st.lists(st.text(max_size=40), max_size=20))
def test_vectorised_hash_equals_the_reference(values: list[str]) -> None:
    got = hash_strings(pa.array(values, pa.string()))
    assert [int(h) for h in got] == [reference_hash(v) for v in values]


@given(st.text(max_size=40).filter(lambda v: not any(0xD800 <= ord(c) < 0xE000 for c in v)))
def test_the_one_string_hash_equals_the_vectorised_one(value: str) -> None:
    assert hash_string(value) == int(hash_strings(pa.array([value], pa.string()))[0])
    assert hash_string(value) == reference_hash(value)
    memory = ValueMemory()
    assert memory.hash_string(value) == memory.hash_string(value) == reference_hash(value)


@given(st.lists(st.one_of(st.none(), st.text(max_size=10)), min_size=1, max_size=20), st.data())
def test_hash_of_slices_large_strings_and_nulls(
    values: list[str | None], data: st.DataObject
) -> None:
    array = pa.array(values, pa.string())
    expected = [reference_hash(v or "") for v in values]  # a null hashes as ""
    assert [int(h) for h in hash_strings(array)] == expected
    assert [int(h) for h in hash_strings(array.cast(pa.large_string()))] == expected
    start = data.draw(st.integers(0, len(values)))
    stop = data.draw(st.integers(start, len(values)))
    assert [int(h) for h in hash_strings(array.slice(start, stop - start))] == expected[start:stop]


@given(
    st.lists(st.integers(0, MASK), min_size=2, max_size=4),
    st.one_of(st.none(), st.integers(0, MASK)),
)
def test_cross_hash_equals_the_reference(keys: list[int], hash_key: int | None) -> None:
    arrays = [np.array([k], dtype=np.uint64) for k in keys]
    assert int(cross_hash(arrays, hash_key)[0]) == reference_cross(keys, hash_key)


def test_bucket_range_and_empty_input() -> None:
    hashes = np.array([0, 1, MASK, 1 << 63], dtype=np.uint64)
    assert bucket(hashes, 7).tolist() == [0, 1, MASK % 7, (1 << 63) % 7]
    assert hash_strings(pa.array([], pa.string())).shape == (0,)
