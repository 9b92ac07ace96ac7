"""Feature columns: frozen, JSON-serialisable descriptions of how raw features become inputs.

The constructors have TensorFlow's names, arguments and defaults (``tf.feature_column.*``). A column
holds data only — vocabularies, boundaries, bucket counts, normaliser statistics — never a
callable, so an export can store it as JSON and serving rebuilds exactly the same transform.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa

from mlengine.errors import FeatureError, InvalidParameterError, NotSupportedError

Combiner = Literal["sum", "mean", "sqrtn"]
COMBINERS: tuple[str, ...] = ("sum", "mean", "sqrtn")
STRING = "string"
INT64 = "int64"
FLOAT32 = "float32"


def _fail(owner: str, param: str, rule: str, value: object) -> InvalidParameterError:
    return InvalidParameterError(
        f"The {param!r} parameter of {owner} must be {rule}. Got {value!r} instead."
    )


def _check_key(owner: str, key: object) -> str:
    if not isinstance(key, str) or not key:
        raise _fail(owner, "key", "a non-empty string", key)
    return key


def _positive_int(owner: str, param: str, value: object, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise _fail(owner, param, f"an int >= {minimum}", value)
    return value


# --------------------------------------------------------------------------------------------
# Normalisers: the serialisable replacement of TensorFlow's ``normalizer_fn`` callables.


@dataclass(frozen=True)
class ZScore:
    """``(x - mean) / std``; build one by hand or with :func:`mlengine.feature_column.analyze`."""

    mean: float
    std: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.std) and self.std > 0):
            raise _fail("ZScore", "std", "a positive finite float", self.std)


@dataclass(frozen=True)
class MinMax:
    """``(x - min) / (max - min)``."""

    min: float
    max: float

    def __post_init__(self) -> None:
        if not self.max > self.min:
            raise _fail("MinMax", "max", f"greater than min={self.min}", self.max)


@dataclass(frozen=True)
class Log1p:
    """``sign(x) * log1p(|x|)``: tames heavy tails such as capital_gain."""


Normalizer = ZScore | MinMax | Log1p


# --------------------------------------------------------------------------------------------
# Base classes.


class FeatureColumn:
    """Base of all columns. ``name`` is unique per column and orders layers, as in TF."""

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def raw_keys(self) -> tuple[str, ...]:
        """The feature keys this column reads from an input batch."""
        raise NotImplementedError


class CategoricalColumn(FeatureColumn):
    """A column whose output is ids in ``[0, num_buckets)`` (sparse, possibly several per row)."""

    @property
    def num_buckets(self) -> int:
        raise NotImplementedError


class DenseColumn(FeatureColumn):
    """A column whose output is a fixed-width float vector per row."""


# --------------------------------------------------------------------------------------------
# Dense columns.


@dataclass(frozen=True)
class NumericColumn(DenseColumn):
    """Real-valued feature(s): ``numeric_column(key, shape=(1,), default_value=None, ...)``."""

    key: str
    shape: tuple[int, ...] = (1,)
    default_value: tuple[float, ...] | None = None
    dtype: str = FLOAT32
    normalizer: Normalizer | None = None

    def __post_init__(self) -> None:
        if not self.shape or any(not isinstance(d, int) or d < 1 for d in self.shape):
            raise _fail("NumericColumn", "shape", "a tuple of positive ints", self.shape)

    @property
    def name(self) -> str:
        return self.key

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return (self.key,)

    @property
    def width(self) -> int:
        return math.prod(self.shape)


def numeric_column(
    key: str,
    shape: int | Sequence[int] = (1,),
    default_value: float | Sequence[float] | None = None,
    dtype: str = FLOAT32,
    normalizer_fn: Normalizer | None = None,
) -> NumericColumn:
    """A numeric column, as ``tf.feature_column.numeric_column``.

    ``default_value`` fills missing values (without it a missing value is an error naming the
    column and row). ``normalizer_fn`` takes a serialisable normaliser (:class:`ZScore`,
    :class:`MinMax`, :class:`Log1p`) instead of TensorFlow's arbitrary callable.
    """
    owner = "numeric_column"
    _check_key(owner, key)
    dims = (shape,) if isinstance(shape, int) else tuple(shape)
    if not dims or any(isinstance(d, bool) or not isinstance(d, int) or d < 1 for d in dims):
        raise _fail(owner, "shape", "a positive int or a tuple of positive ints", shape)
    if dtype not in (FLOAT32, "float64", INT64, "int32"):
        raise _fail(owner, "dtype", "one of float32, float64, int32, int64", dtype)
    width = math.prod(dims)
    default: tuple[float, ...] | None = None
    if default_value is not None:
        if isinstance(default_value, int | float):
            default = (float(default_value),) * width
        else:
            default = tuple(float(v) for v in default_value)
            if len(default) != width:
                raise _fail(owner, "default_value", f"a scalar or {width} values", default_value)
    if normalizer_fn is not None and not isinstance(normalizer_fn, ZScore | MinMax | Log1p):
        raise NotSupportedError(
            f"numeric_column {key!r}: normalizer_fn must be ZScore, MinMax or Log1p; arbitrary "
            "callables cannot be exported. Compute statistics with feature_column.analyze()."
        )
    return NumericColumn(key, dims, default, dtype, normalizer_fn)


@dataclass(frozen=True)
class IndicatorColumn(DenseColumn):
    """Multi-hot of a categorical column: ``indicator_column(categorical_column)``."""

    categorical_column: CategoricalColumn

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_indicator"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.categorical_column.raw_keys

    @property
    def width(self) -> int:
        return self.categorical_column.num_buckets


def indicator_column(categorical_column: CategoricalColumn) -> IndicatorColumn:
    """A multi-hot dense column over a categorical column (repeated ids count)."""
    if not isinstance(categorical_column, CategoricalColumn):
        raise _fail(
            "indicator_column", "categorical_column", "a categorical column", categorical_column
        )
    return IndicatorColumn(categorical_column)


@dataclass(frozen=True)
class EmbeddingColumn(DenseColumn):
    """A learned ``[num_buckets, dimension]`` table looked up by a categorical column's ids.

    ``shared_name`` is set when the table is shared (``shared_embeddings``).
    """

    categorical_column: CategoricalColumn
    dimension: int
    combiner: Combiner = "mean"
    initializer_stddev: float | None = None
    max_norm: float | None = None
    trainable: bool = True
    shared_name: str | None = None

    def __post_init__(self) -> None:
        _positive_int("EmbeddingColumn", "dimension", self.dimension)
        if self.combiner not in COMBINERS:
            raise _fail("EmbeddingColumn", "combiner", f"one of {COMBINERS}", self.combiner)

    @property
    def name(self) -> str:
        suffix = "shared_embedding" if self.shared_name else "embedding"
        return f"{self.categorical_column.name}_{suffix}"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.categorical_column.raw_keys

    @property
    def width(self) -> int:
        return self.dimension

    @property
    def table_name(self) -> str:
        """Name of the weight table (shared columns share it)."""
        return self.shared_name or self.name

    @property
    def stddev(self) -> float:
        """Truncated-normal stddev of the initial table: TF's default is 1/sqrt(dimension)."""
        if self.initializer_stddev is not None:
            return self.initializer_stddev
        return 1.0 / math.sqrt(self.dimension)


def _check_embedding_args(
    owner: str, dimension: object, combiner: object, initializer: object, max_norm: object
) -> float | None:
    _positive_int(owner, "dimension", dimension)
    if combiner not in COMBINERS:
        raise _fail(owner, "combiner", f"one of {COMBINERS}", combiner)
    if initializer is not None and (
        isinstance(initializer, bool)
        or not isinstance(initializer, int | float)
        or initializer <= 0
    ):
        raise NotSupportedError(
            f"{owner}: initializer must be None (TF's truncated normal, stddev 1/sqrt(dimension)) "
            f"or a positive float stddev; got {initializer!r}. Callables cannot be exported."
        )
    if max_norm is not None and not (isinstance(max_norm, int | float) and max_norm > 0):
        raise _fail(owner, "max_norm", "None or a positive float", max_norm)
    return None if initializer is None else float(initializer)


def embedding_column(
    categorical_column: CategoricalColumn,
    dimension: int,
    combiner: Combiner = "mean",
    initializer: float | None = None,
    ckpt_to_load_from: None = None,
    tensor_name_in_ckpt: None = None,
    max_norm: float | None = None,
    trainable: bool = True,
) -> EmbeddingColumn:
    """A dense embedding of a categorical column, as ``tf.feature_column.embedding_column``.

    ``initializer`` is the stddev of the truncated-normal initial table (None: 1/sqrt(dimension)).
    ``max_norm`` clips each looked-up vector to that L2 norm before combining.
    """
    owner = "embedding_column"
    if not isinstance(categorical_column, CategoricalColumn):
        raise _fail(owner, "categorical_column", "a categorical column", categorical_column)
    if ckpt_to_load_from is not None or tensor_name_in_ckpt is not None:
        raise NotSupportedError(
            "embedding_column: ckpt_to_load_from is not supported; use the estimator's "
            "warm_start_from instead."
        )
    stddev = _check_embedding_args(owner, dimension, combiner, initializer, max_norm)
    return EmbeddingColumn(
        categorical_column,
        dimension,
        combiner,
        stddev,
        None if max_norm is None else float(max_norm),
        bool(trainable),
    )


def shared_embeddings(
    categorical_columns: Sequence[CategoricalColumn],
    dimension: int,
    combiner: Combiner = "mean",
    initializer: float | None = None,
    shared_embedding_collection_name: str | None = None,
    ckpt_to_load_from: None = None,
    tensor_name_in_ckpt: None = None,
    max_norm: float | None = None,
    trainable: bool = True,
) -> list[EmbeddingColumn]:
    """Embedding columns that share one table (columns must have equal ``num_buckets``)."""
    owner = "shared_embeddings"
    columns = list(categorical_columns)
    if len(columns) < 1 or not all(isinstance(c, CategoricalColumn) for c in columns):
        raise _fail(
            owner, "categorical_columns", "a non-empty list of categorical columns", columns
        )
    sizes = {c.num_buckets for c in columns}
    if len(sizes) != 1:
        raise _fail(owner, "categorical_columns", "columns with equal num_buckets", sorted(sizes))
    if ckpt_to_load_from is not None or tensor_name_in_ckpt is not None:
        raise NotSupportedError("shared_embeddings: ckpt_to_load_from is not supported.")
    stddev = _check_embedding_args(owner, dimension, combiner, initializer, max_norm)
    shared = (
        shared_embedding_collection_name
        or "_".join(sorted(c.name for c in columns)) + "_shared_embedding"
    )
    return [
        EmbeddingColumn(
            c,
            dimension,
            combiner,
            stddev,
            None if max_norm is None else float(max_norm),
            bool(trainable),
            shared,
        )
        for c in columns
    ]


# --------------------------------------------------------------------------------------------
# Categorical columns.


@dataclass(frozen=True)
class BucketizedColumn(CategoricalColumn, DenseColumn):
    """Numeric ranges as buckets: ``(-inf, b0), [b0, b1), ..., [bk, inf)`` per element."""

    source_column: NumericColumn
    boundaries: tuple[float, ...]

    def __post_init__(self) -> None:
        bounds = self.boundaries
        if not bounds or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
            raise _fail("BucketizedColumn", "boundaries", "non-empty, strictly increasing", bounds)

    @property
    def name(self) -> str:
        return f"{self.source_column.name}_bucketized"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return self.source_column.raw_keys

    @property
    def num_buckets(self) -> int:
        return (len(self.boundaries) + 1) * self.source_column.width

    @property
    def width(self) -> int:
        return self.num_buckets


def bucketized_column(
    source_column: NumericColumn, boundaries: Sequence[float]
) -> BucketizedColumn:
    """Bucketize a numeric column by sorted ``boundaries`` (left edge inclusive), as TF."""
    owner = "bucketized_column"
    if not isinstance(source_column, NumericColumn):
        raise _fail(owner, "source_column", "a numeric_column", source_column)
    bounds = tuple(float(b) for b in boundaries)
    if not bounds or any(a >= b for a, b in zip(bounds, bounds[1:], strict=False)):
        raise _fail(owner, "boundaries", "a non-empty, strictly increasing list", list(boundaries))
    return BucketizedColumn(source_column, bounds)


@dataclass(frozen=True)
class VocabularyColumn(CategoricalColumn):
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
    def name(self) -> str:
        return self.key

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return (self.key,)

    @property
    def num_buckets(self) -> int:
        return len(self.vocabulary) + self.num_oov_buckets

    @functools.cached_property
    def arrow_vocabulary(self) -> pa.Array:
        """The vocabulary as an arrow array (built once; lookups of large batches use it)."""
        return pa.array(self.vocabulary, pa.string() if self.dtype == STRING else pa.int64())

    @functools.cached_property
    def vocabulary_index(self) -> dict[Any, int]:
        """Value → id (built once; lookups of small batches use it)."""
        return {value: i for i, value in enumerate(self.vocabulary)}


def _check_vocab(
    owner: str, key: str, vocabulary: Sequence[Any], default_value: int, num_oov_buckets: int
) -> None:
    if not vocabulary:
        raise _fail(owner, "vocabulary", "non-empty", list(vocabulary))
    if len(set(vocabulary)) != len(vocabulary):
        dupes = sorted({str(v) for v in vocabulary if list(vocabulary).count(v) > 1})
        raise _fail(owner, "vocabulary", f"free of duplicates (column {key!r})", dupes)
    _positive_int(owner, "num_oov_buckets", num_oov_buckets, minimum=0)
    if isinstance(default_value, bool) or not isinstance(default_value, int):
        raise _fail(owner, "default_value", "an int", default_value)
    if default_value != -1 and num_oov_buckets:
        raise InvalidParameterError(
            f"{owner} {key!r}: set default_value or num_oov_buckets, not both "
            f"(got default_value={default_value}, num_oov_buckets={num_oov_buckets})."
        )
    if default_value < -1 or default_value >= len(vocabulary):
        raise _fail(owner, "default_value", f"-1 or in [0, {len(vocabulary)})", default_value)


def categorical_column_with_vocabulary_list(
    key: str,
    vocabulary_list: Sequence[str] | Sequence[int],
    dtype: str | None = None,
    default_value: int = -1,
    num_oov_buckets: int = 0,
) -> VocabularyColumn:
    """Ids by position in ``vocabulary_list`` (strings or ints; dtype inferred as TF does)."""
    owner = "categorical_column_with_vocabulary_list"
    _check_key(owner, key)
    vocab: list[Any] = list(vocabulary_list)
    is_int = all(isinstance(v, int) and not isinstance(v, bool) for v in vocab)
    inferred = INT64 if vocab and is_int else STRING
    dtype = dtype or inferred
    if dtype not in (STRING, INT64, "int32"):
        raise _fail(owner, "dtype", "'string' or an integer dtype", dtype)
    if dtype == STRING:
        if not all(isinstance(v, str) for v in vocab):
            raise _fail(owner, "vocabulary_list", "all strings for dtype 'string'", vocab)
        vocab = [v.strip() for v in vocab]
    elif not is_int:
        raise _fail(owner, "vocabulary_list", f"all ints for dtype {dtype!r}", vocab)
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
    _check_key(owner, key)
    if file_format is not None:
        raise NotSupportedError(f"{owner}: file_format={file_format!r}; only text files.")
    if vocabulary_size is not None:
        _positive_int(owner, "vocabulary_size", vocabulary_size)
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


@dataclass(frozen=True)
class IdentityColumn(CategoricalColumn):
    """Integer values used as ids. ``wrap=True`` takes ``value % num_buckets`` (contrib)."""

    key: str
    num_buckets_: int
    default_value: int | None = None
    wrap: bool = False

    def __post_init__(self) -> None:
        _positive_int("IdentityColumn", "num_buckets", self.num_buckets_)

    @property
    def name(self) -> str:
        return self.key

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return (self.key,)

    @property
    def num_buckets(self) -> int:
        return self.num_buckets_


def categorical_column_with_identity(
    key: str, num_buckets: int, default_value: int | None = None
) -> IdentityColumn:
    """Ids are the integer values, in ``[0, num_buckets)``; others take ``default_value``.

    Without ``default_value``, a value ``>= num_buckets`` is an error naming it and negative
    values are dropped, as in TensorFlow.
    """
    owner = "categorical_column_with_identity"
    _check_key(owner, key)
    _positive_int(owner, "num_buckets", num_buckets)
    if default_value is not None and not (0 <= default_value < num_buckets):
        raise _fail(owner, "default_value", f"None or in [0, {num_buckets})", default_value)
    return IdentityColumn(key, num_buckets, default_value)


@dataclass(frozen=True)
class HashBucketColumn(CategoricalColumn):
    """Ids by stable hash of the (stripped) value modulo ``hash_bucket_size``."""

    key: str
    hash_bucket_size: int
    dtype: str = STRING

    def __post_init__(self) -> None:
        _positive_int("HashBucketColumn", "hash_bucket_size", self.hash_bucket_size, minimum=2)

    @property
    def name(self) -> str:
        return self.key

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return (self.key,)

    @property
    def num_buckets(self) -> int:
        return self.hash_bucket_size


def categorical_column_with_hash_bucket(
    key: str, hash_bucket_size: int, dtype: str = STRING
) -> HashBucketColumn:
    """Hash strings (or ints, as their decimal string) into ``hash_bucket_size`` buckets."""
    owner = "categorical_column_with_hash_bucket"
    _check_key(owner, key)
    _positive_int(owner, "hash_bucket_size", hash_bucket_size, minimum=2)
    if dtype not in (STRING, INT64, "int32"):
        raise _fail(owner, "dtype", "'string' or an integer dtype", dtype)
    return HashBucketColumn(key, hash_bucket_size, STRING if dtype == STRING else INT64)


@dataclass(frozen=True)
class CrossedColumn(CategoricalColumn):
    """Hashed cartesian product of raw string features and categorical columns."""

    keys: tuple[str | CategoricalColumn, ...]
    hash_bucket_size: int
    hash_key: int | None = None

    def __post_init__(self) -> None:
        if len(self.keys) < 2:
            raise _fail("CrossedColumn", "keys", "at least two keys", self.keys)
        _positive_int("CrossedColumn", "hash_bucket_size", self.hash_bucket_size, minimum=2)

    @property
    def name(self) -> str:
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


def crossed_column(
    keys: Sequence[str | CategoricalColumn], hash_bucket_size: int, hash_key: int | None = None
) -> CrossedColumn:
    """Cross at least two features: raw string keys, or categorical columns (not hashed ones)."""
    owner = "crossed_column"
    items = list(keys)
    if len(items) < 2:
        raise _fail(owner, "keys", "at least two keys or categorical columns", items)
    for item in items:
        if isinstance(item, HashBucketColumn):
            raise InvalidParameterError(
                f"{owner}: {item.name!r} is a hash bucket column; cross its key "
                f"{item.key!r} directly instead (as TensorFlow requires)."
            )
        if isinstance(item, str):
            _check_key(owner, item)
        elif not isinstance(item, CategoricalColumn) or isinstance(item, WeightedCategoricalColumn):
            raise _fail(owner, "keys", "feature key strings or categorical columns", item)
    _positive_int(owner, "hash_bucket_size", hash_bucket_size, minimum=2)
    return CrossedColumn(tuple(items), hash_bucket_size, hash_key)


@dataclass(frozen=True)
class WeightedCategoricalColumn(CategoricalColumn):
    """Pairs each id of a categorical column with a weight from ``weight_feature_key``."""

    categorical_column: CategoricalColumn
    weight_feature_key: str
    dtype: str = FLOAT32

    @property
    def name(self) -> str:
        return f"{self.categorical_column.name}_weighted_by_{self.weight_feature_key}"

    @property
    def raw_keys(self) -> tuple[str, ...]:
        return (*self.categorical_column.raw_keys, self.weight_feature_key)

    @property
    def num_buckets(self) -> int:
        return self.categorical_column.num_buckets


def weighted_categorical_column(
    categorical_column: CategoricalColumn, weight_feature_key: str, dtype: str = FLOAT32
) -> WeightedCategoricalColumn:
    """Weights per id from a second feature with the same shape (e.g. term frequencies)."""
    owner = "weighted_categorical_column"
    if not isinstance(categorical_column, CategoricalColumn):
        raise _fail(owner, "categorical_column", "a categorical column", categorical_column)
    _check_key(owner, weight_feature_key)
    return WeightedCategoricalColumn(categorical_column, weight_feature_key, dtype)


def check_unique_names(columns: Iterable[FeatureColumn], owner: str) -> None:
    """Refuse two columns of the same name (their weights would collide)."""
    seen: set[str] = set()
    for column in columns:
        if not isinstance(column, FeatureColumn):
            raise _fail(owner, "feature_columns", "feature columns", column)
        if column.name in seen:
            raise InvalidParameterError(f"{owner}: duplicate feature column name {column.name!r}.")
        seen.add(column.name)
