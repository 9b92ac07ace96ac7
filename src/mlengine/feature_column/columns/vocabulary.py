"""``categorical_column_with_vocabulary_list`` / ``_file``: ids by position in a vocabulary.

One rule, in :meth:`VocabularyColumn.id_of`, says what id a value gets (its position; else an
out-of-vocabulary bucket by hash, or ``default_value``, or none); the vectorised encoding applies
the same rule to a whole dictionary of values at once.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlengine.errors import FeatureError, InvalidParameterError, NotSupportedError
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
from mlengine.feature_column.encoding import Ids, layout, lookup
from mlengine.feature_column.hashing import bucket, hash_string, hash_strings
from mlengine.feature_column.rowpath import (
    RowCompiler,
    RowIds,
    RowIdsFunction,
    RowValues,
    with_weights,
)

if TYPE_CHECKING:
    from mlengine.feature_column.encoding import FeatureBatch, IdsOf
    from mlengine.feature_column.onnx_graph import GraphIds, GraphIdsOf, OnnxGraph


@serializable
@dataclass(frozen=True)
class VocabularyColumn(KeyedColumn, CategoricalColumn):
    """Ids from a vocabulary (a list, or a file read once at construction).

    ``default_value=-1`` drops out-of-vocabulary values; ``num_oov_buckets`` hashes them into
    ``[len(vocabulary), len(vocabulary) + num_oov_buckets)``.
    """

    key: str
    vocabulary: tuple[str, ...] | tuple[int, ...]
    dtype: str = STRING
    default_value: int = -1
    num_oov_buckets: int = 0
    vocabulary_file: str | None = field(default=None, compare=False)

    @property
    def num_buckets(self) -> int:
        return len(self.vocabulary) + self.num_oov_buckets

    def sizes(self) -> Iterator[Size]:
        yield "vocabulary", len(self.vocabulary), "values"
        yield "num_buckets", self.num_buckets, "buckets"

    def input_specs(self) -> Iterable[InputSpec]:
        yield optional_input(self.key, STRING if self.dtype == STRING else INT64)

    @functools.cached_property
    def arrow_vocabulary(self) -> pa.Array:
        """The vocabulary as an arrow array (built once; lookups of large batches use it)."""
        return pa.array(self.vocabulary, pa.string() if self.dtype == STRING else pa.int64())

    @functools.cached_property
    def vocabulary_index(self) -> dict[Any, int]:
        """Value → position (built once; lookups of single values use it)."""
        return {value: i for i, value in enumerate(self.vocabulary)}

    def id_of(self, value: str | int) -> int:
        """The id of one present value (a stripped string, or an int): its position, else an
        out-of-vocabulary bucket by its hash, else ``default_value`` (-1: no id)."""
        found = self.vocabulary_index.get(value)
        if found is not None:
            return found
        if self.num_oov_buckets:
            text = value if isinstance(value, str) else str(value)
            return len(self.vocabulary) + hash_string(text) % self.num_oov_buckets
        return self.default_value

    def _ids_of_strings(self, values: pa.Array) -> np.ndarray:
        """:meth:`id_of` of each (stripped) string of an arrow array at once; "" has no id."""
        ids = np.asarray(
            pc.index_in(values, value_set=self.arrow_vocabulary).fill_null(-1), dtype=np.int64
        )
        missing = ids < 0
        if self.num_oov_buckets:
            oov = len(self.vocabulary) + bucket(hash_strings(values), self.num_oov_buckets)
            ids = np.where(missing, oov, ids)
        elif self.default_value >= 0:
            ids = np.where(missing, self.default_value, ids)
        empty = np.asarray(pc.equal(values, "").fill_null(True), dtype=bool)
        return np.where(empty, -1, ids)

    def _id_of_string(self, value: str) -> int:
        return self.id_of(value) if value else -1

    def transform_ids(self, batch: FeatureBatch, ids_of: IdsOf) -> Ids:
        if self.dtype == STRING:
            s = batch.strings(self.key, self.name)
            return lookup(s, s.per_entry(self, self._id_of_string, self._ids_of_strings), batch.n)
        values, valid, offsets = batch.integers(self.key, self.name)
        vocab = np.asarray(self.vocabulary, dtype=np.int64)
        order = np.argsort(vocab)
        pos = np.clip(np.searchsorted(vocab[order], values), 0, len(vocab) - 1)
        hit = vocab[order][pos] == values
        ids = np.where(hit, order[pos], -1)
        if self.num_oov_buckets:
            text = pc.cast(pa.array(values), pa.string())
            oov = len(vocab) + bucket(hash_strings(text), self.num_oov_buckets)
            ids = np.where(hit, ids, oov)
        elif self.default_value >= 0:
            ids = np.where(hit, ids, self.default_value)
        valid = valid & (values != -1)
        return layout(ids, valid & (ids >= 0), offsets, batch.n)

    def onnx_ids(self, graph: OnnxGraph, ids_of: GraphIdsOf) -> GraphIds | None:
        # A value out of the vocabulary needs its hash when there are several OOV buckets
        # (the graph then takes the ids as an input); one bucket takes every such value.
        if self.num_oov_buckets > 1:
            return None
        missed = len(self.vocabulary) if self.num_oov_buckets else self.default_value
        zero = graph.const(0, "zero", np.int64)
        if self.dtype == STRING:
            if any(" " in entry for entry in self.vocabulary):  # type: ignore[operator]
                return None  # the graph looks up a value's first space-separated token
            value = graph.strings(self.key, self.name)
            found = graph.op(
                "LabelEncoder",
                value.first,
                domain="ai.onnx.ml",
                keys_strings=list(self.vocabulary),
                values_int64s=list(range(len(self.vocabulary))),
                default_int64=-1,
            )
            # One token: the stripped value is that token (no entry has an inner space).
            single = graph.op("Equal", value.tokens, graph.const(1, "one", np.int64))
            hit = graph.op("And", single, graph.op("GreaterOrEqual", found, zero))
            present = graph.op("Greater", value.tokens, zero)  # "" has no id at all
        else:
            values = graph.integers(self.key, self.name)
            found = graph.op(
                "LabelEncoder",
                values,
                domain="ai.onnx.ml",
                keys_int64s=[int(v) for v in self.vocabulary],
                values_int64s=list(range(len(self.vocabulary))),
                default_int64=-1,
            )
            hit = graph.op("GreaterOrEqual", found, zero)
            present = graph.op("Not", graph.op("Equal", values, graph.const(-1, "missing")))
        ids = graph.op("Where", hit, found, graph.const(missed, "missed", np.int64))
        valid = graph.op("And", present, graph.op("GreaterOrEqual", ids, zero))
        return graph.one_id(str(ids), str(valid))

    def row_ids(self, compiler: RowCompiler) -> RowIdsFunction | None:
        key, id_of, is_string = self.key, self.id_of, self.dtype == STRING
        position = self.vocabulary_index.get

        def vocabulary(rows: RowValues) -> RowIds:
            ids: list[int | None] = []
            for value in rows.strings(key) if is_string else rows.integers(key):
                found = None if value is None else position(value)
                if found is None and value is not None:
                    found = id_of(value)  # not in the vocabulary: an OOV bucket or the default
                ids.append(None if found is None or found < 0 else found)
            return with_weights(ids)

        return vocabulary


def _check_vocab(
    owner: str, key: str, vocabulary: Sequence[Any], default_value: int, num_oov_buckets: int
) -> None:
    if not vocabulary:
        raise fail(owner, "vocabulary", "non-empty", list(vocabulary))
    if len(set(vocabulary)) != len(vocabulary):
        dupes = sorted({str(v) for v in vocabulary if list(vocabulary).count(v) > 1})
        raise fail(owner, "vocabulary", f"free of duplicates (column {key!r})", dupes)
    positive_int(owner, "num_oov_buckets", num_oov_buckets, minimum=0)
    if isinstance(default_value, bool) or not isinstance(default_value, int):
        raise fail(owner, "default_value", "an int", default_value)
    if default_value != -1 and num_oov_buckets:
        raise InvalidParameterError(
            f"{owner} {key!r}: set default_value or num_oov_buckets, not both "
            f"(got default_value={default_value}, num_oov_buckets={num_oov_buckets})."
        )
    if default_value < -1 or default_value >= len(vocabulary):
        raise fail(owner, "default_value", f"-1 or in [0, {len(vocabulary)})", default_value)


def categorical_column_with_vocabulary_list(
    key: str,
    vocabulary_list: Sequence[str] | Sequence[int],
    dtype: str | None = None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
) -> VocabularyColumn:
    """Ids by position in ``vocabulary_list`` (strings or ints; dtype inferred as TF does)."""
    owner = "categorical_column_with_vocabulary_list"
    check_key(owner, key)
    vocab: list[Any] = list(vocabulary_list)
    is_int = all(isinstance(v, int) and not isinstance(v, bool) for v in vocab)
    inferred = INT64 if vocab and is_int else STRING
    dtype = dtype or inferred
    if dtype not in (STRING, INT64, "int32"):
        raise fail(owner, "dtype", "'string' or an integer dtype", dtype)
    if dtype == STRING:
        if not all(isinstance(v, str) for v in vocab):
            raise fail(owner, "vocabulary_list", "all strings for dtype 'string'", vocab)
        vocab = [v.strip() for v in vocab]
    elif not is_int:
        raise fail(owner, "vocabulary_list", f"all ints for dtype {dtype!r}", vocab)
    _check_vocab(owner, key, vocab, default_value, num_oov_buckets)
    return VocabularyColumn(
        key, tuple(vocab), STRING if dtype == STRING else INT64, default_value, num_oov_buckets
    )


def read_vocabulary_file(path: str | Path, vocabulary_size: int | None = None) -> tuple[str, ...]:
    """One entry per line (surrounding white space stripped); ``vocabulary_size`` lines at most."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise FeatureError(f"Vocabulary file {str(path)!r} does not exist.") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise FeatureError(f"Vocabulary file {str(path)!r} cannot be read: {exc}") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    if vocabulary_size is not None:
        if vocabulary_size > len(lines):
            raise FeatureError(
                f"Vocabulary file {str(path)!r} has {len(lines)} entries, fewer than "
                f"vocabulary_size={vocabulary_size}."
            )
        lines = lines[:vocabulary_size]
    return tuple(lines)


def categorical_column_with_vocabulary_file(
    key: str,
    vocabulary_file: str,
    vocabulary_size: int | None = None,
    dtype: str = STRING,
    default_value: int | None = None,
    num_oov_buckets: int = 0,
    file_format: None = None,
) -> VocabularyColumn:
    """Ids by line number in ``vocabulary_file`` (read now; exports copy it into ``assets/``)."""
    owner = "categorical_column_with_vocabulary_file"
    check_key(owner, key)
    if file_format is not None:
        raise NotSupportedError(f"{owner}: file_format={file_format!r}; only text files.")
    if vocabulary_size is not None:
        positive_int(owner, "vocabulary_size", vocabulary_size)
    lines = read_vocabulary_file(vocabulary_file, vocabulary_size)
    vocab: tuple[str, ...] | tuple[int, ...] = lines
    if dtype != STRING:
        try:
            vocab = tuple(int(v) for v in lines)
        except ValueError:
            raise FeatureError(
                f"Vocabulary file {vocabulary_file!r} holds non-integers for dtype {dtype!r}."
            ) from None
    default = -1 if default_value is None else default_value
    _check_vocab(owner, key, vocab, default, num_oov_buckets)
    return VocabularyColumn(
        key,
        vocab,
        STRING if dtype == STRING else INT64,
        default,
        num_oov_buckets,
        str(vocabulary_file),
    )
