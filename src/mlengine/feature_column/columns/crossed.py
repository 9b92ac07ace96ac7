"""``crossed_column``: the hashed cartesian product of features and categorical columns."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from mlengine import tuning
from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.feature_column.columns.base import (
    STRING,
    CategoricalColumn,
    InputSpec,
    Size,
    check_key,
    check_name,
    fail,
    nested_sizes,
    optional_input,
    positive_int,
    serializable,
)
from mlengine.feature_column.encoding import Ids, layout
from mlengine.feature_column.hashing import bucket, cross_hash, cross_hash_one
from mlengine.feature_column.memory import entry_bytes
from mlengine.feature_column.rowpath import RowCompiler, RowIds, RowIdsFunction, RowValues

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf


@serializable
@dataclass(frozen=True)
class CrossedColumn(CategoricalColumn):
    """Hashed cartesian product of raw string features and categorical columns.

    ``custom_name`` (``crossed_column(..., name=...)``) replaces the derived name (the keys'
    names joined by ``_X_``), so several crosses of the same keys can sit in one model.
    """

    keys: tuple[str | CategoricalColumn, ...]
    hash_bucket_size: int
    hash_key: int | None = None
    custom_name: str | None = None

    def __post_init__(self) -> None:
        if len(self.keys) < 2:
            raise fail("CrossedColumn", "keys", "at least two keys", self.keys)
        positive_int("CrossedColumn", "hash_bucket_size", self.hash_bucket_size, minimum=2)
        check_name("CrossedColumn", self.custom_name)

    @property
    def name(self) -> str:
        if self.custom_name:
            return self.custom_name
        return "_X_".join(sorted(k if isinstance(k, str) else k.name for k in self.keys))

    @property
    def raw_keys(self) -> tuple[str, ...]:
        out: list[str] = []
        for k in self.keys:
            out.extend((k,) if isinstance(k, str) else k.raw_keys)
        return tuple(dict.fromkeys(out))

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size

    def sizes(self) -> Iterator[Size]:
        yield "hash_bucket_size", self.hash_bucket_size, "buckets"
        for index, key in enumerate(self.keys):
            if not isinstance(key, str):
                yield from nested_sizes(f"keys[{index}]", key)

    def input_specs(self) -> Iterable[InputSpec]:
        for item in self.keys:
            if isinstance(item, str):
                yield optional_input(item, STRING)
            else:
                yield from item.input_specs()

    def transform_ids(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        # Each part is a per-row code into a small table of uint64 keys: a string feature's
        # dictionary hashes (plus one entry for null), or a categorical column's ids
        # 0..num_buckets-1.
        codes: list[np.ndarray] = []
        tables: list[np.ndarray | None] = []  # None: the key is the code itself
        sizes: list[int] = []
        valid = np.ones(batch.n, dtype=bool)
        remembered = batch.memory is not None  # every string part's codes are a table's
        for item in self.keys:
            if isinstance(item, str):
                s = batch.strings(item, self.name)
                remembered = remembered and s.remembered
                if s.offsets is not None:
                    raise NotSupportedError(
                        f"crossed_column {self.name!r}: feature {item!r} has several values per "
                        "row; crosses of multivalent features are not supported."
                    )
                size = len(s.dictionary)
                code = s.codes
                if code.size and code.min() < 0:
                    code = np.where(code < 0, size, code)  # null: the extra last entry
                codes.append(code)
                tables.append(np.concatenate([s.hashes, np.zeros(1, np.uint64)]))
                sizes.append(size + 1)
                valid &= s.gather(~s.empty, False)
            else:
                ids = ids_of(item)
                if ids.ids.shape[1] != 1:
                    raise NotSupportedError(
                        f"crossed_column {self.name!r}: column {item.name!r} has several ids "
                        "per row; crosses of multivalent columns are not supported."
                    )
                codes.append(ids.ids[:, 0])
                tables.append(None)
                sizes.append(item.num_buckets)
                valid &= ids.weights[:, 0] > 0
        combinations = math.prod(sizes)
        remembered = remembered and combinations <= tuning.REMEMBERED_CROSS_COMBINATIONS
        if remembered or combinations <= min(tuning.CROSS_TABLE_COMBINATIONS, batch.n):
            # Fewer combinations than rows (or a table that outlives the batch): hash every
            # combination once (the same cross_hash), then look each row's combination up by
            # its mixed-radix index.
            def every_combination() -> np.ndarray:
                grid = np.indices(sizes).reshape(len(sizes), -1)
                keys = [
                    g.astype(np.uint64) if t is None else t[g]
                    for g, t in zip(grid, tables, strict=True)
                ]
                return bucket(cross_hash(keys, self.hash_key), self.hash_bucket_size)

            if remembered:
                assert batch.memory is not None
                table = batch.memory.cross_table(self, tuple(sizes), every_combination)
            else:
                table = every_combination()
            index = codes[0]
            for code, size in zip(codes[1:], sizes[1:], strict=True):
                index = index * size + code
            crossed = table[index]
        else:
            keys = [
                c.astype(np.uint64) if t is None else t[c]
                for c, t in zip(codes, tables, strict=True)
            ]
            crossed = bucket(cross_hash(keys, self.hash_key), self.hash_bucket_size)
        return layout(crossed, valid, None, batch.n)

    def row_ids(self, compiler: RowCompiler) -> RowIdsFunction | None:
        parts: list[str | int] = [
            item if isinstance(item, str) else compiler.slot(item) for item in self.keys
        ]
        hash_key, size, memory = self.hash_key, self.hash_bucket_size, compiler.memory
        buckets = memory.memo()  # each combination of keys' bucket, while the budget lasts

        def part_keys(rows: RowValues, part: str | int) -> list[int | None]:
            """Each row's uint64 key for one part (None: no value, so no cross)."""
            if isinstance(part, str):
                return [None if s is None else memory.hash_string(s) for s in rows.strings(part)]
            ids, weights = compiler.ids(rows, part)
            return [i if w > 0 else None for i, w in zip(ids, weights, strict=True)]

        def crossed(rows: RowValues) -> RowIds:
            out_ids: list[int] = []
            out_weights: list[float] = []
            for keys in zip(*(part_keys(rows, part) for part in parts), strict=True):
                if None in keys:
                    out_ids.append(0)
                    out_weights.append(0.0)
                    continue
                found = buckets.get(keys)
                if found is None:
                    found = cross_hash_one(keys, hash_key) % size
                    if memory.charge(entry_bytes(keys)):
                        buckets[keys] = found
                out_ids.append(found)
                out_weights.append(1.0)
            return out_ids, out_weights

        return crossed


def crossed_column(
    keys: Sequence[str | CategoricalColumn],
    hash_bucket_size: int,
    hash_key: int | None = None,
    name: str | None = None,
) -> CrossedColumn:
    """Cross at least two features: raw string keys, or categorical columns (not hashed ones).

    ``name`` (not in TensorFlow, whose name is always the keys' names joined by ``_X_``) names
    the column, so crosses of the same keys at several resolutions (latitude x longitude grids
    of bucketized columns with their own names) coexist without new serving inputs.
    """
    from mlengine.feature_column.columns.hash_bucket import HashBucketColumn
    from mlengine.feature_column.columns.weighted import WeightedCategoricalColumn

    owner = "crossed_column"
    items = list(keys)
    if len(items) < 2:
        raise fail(owner, "keys", "at least two keys or categorical columns", items)
    for item in items:
        if isinstance(item, HashBucketColumn):
            raise InvalidParameterError(
                f"{owner}: {item.name!r} is a hash bucket column; cross its key "
                f"{item.key!r} directly instead (as TensorFlow requires)."
            )
        if isinstance(item, str):
            check_key(owner, item)
        elif not isinstance(item, CategoricalColumn) or isinstance(item, WeightedCategoricalColumn):
            raise fail(owner, "keys", "feature key strings or categorical columns", item)
    positive_int(owner, "hash_bucket_size", hash_bucket_size, minimum=2)
    return CrossedColumn(tuple(items), hash_bucket_size, hash_key, check_name(owner, name))
