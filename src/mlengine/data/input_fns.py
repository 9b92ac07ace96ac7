"""Input functions, as TensorFlow's: callables that return an iterator of (features, labels).

``pandas_input_fn`` and ``numpy_input_fn`` keep TensorFlow's ``tf.estimator.inputs`` signatures;
``csv_input_fn`` and ``parquet_input_fn`` stream files (local paths, globs or fsspec URLs) in the
manner of ``tf.data.experimental.make_csv_dataset``. Each returns an :class:`InputFn`.

Calling an :class:`InputFn` gives batches of ``batch_size`` rows: ``features`` maps a column
name to a numpy array (numbers without nulls) or a pyarrow Array (strings, anything with nulls),
``labels`` is a numpy array, a pyarrow Array or None. Batches straddle epochs as
``repeat().batch()`` does, so only the very last batch may be short. The same rows, in the same
order, are also available in large chunks through :meth:`InputFn.chunks`, so that a consumer can
transform many batches at once and slice afterwards; ``__call__`` is built on ``chunks()``.

For data-parallel training, ``input_fn.shard(rank, world_size)`` is the input function of one
rank: it reads only that rank's part of the data (see :meth:`InputFn.shard`).

Example::

    from mlengine.data import census, pandas_input_fn

    x, y = census.load("train")
    input_fn = pandas_input_fn(x, y, batch_size=256, num_epochs=2, shuffle=True, seed=0)
    for features, labels in input_fn():
        ...
"""

from __future__ import annotations

import copy
import numbers
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Literal

import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa

from mlengine.data.batches import (
    ORIGIN,
    Column,
    InputBatch,
    coalesce,
    column_length,
    decode_dictionaries,
    num_rows,
    rebatch,
    shuffle_buffer,
    slice_batch,
    table_to_batch,
    take_batch,
    take_rows,
    to_column,
)
from mlengine.data.readers import (
    CsvOptions,
    FilePattern,
    FileSource,
    describe_row,
    expand_patterns,
    parquet_num_rows,
    parse_default,
    read_csv,
    read_parquet,
)
from mlengine.data.sharding import Piece, even_range, plan_shards
from mlengine.errors import DataError, InvalidParameterError, NotSupportedError
from mlengine.tuning import CSV_BLOCK_BYTES, INPUT_CHUNK_ROWS, SHUFFLE_BUFFER_ROWS

Uneven = Literal["pad", "drop", "keep"]
"""What a shard does when the ranks' parts differ in rows (see :meth:`InputFn.shard`)."""
UNEVEN_MODES: tuple[Uneven, ...] = ("pad", "drop", "keep")
_ORIGIN_ROW_BITS = 40  # an ORIGIN code: file index above these bits, row below (10**12 rows)


class InputFn:
    """A TensorFlow-style input function: call it for a fresh iterator of batches.

    Subclasses produce one epoch at a time (:meth:`_epoch`); this class repeats epochs, merges
    them into chunks and cuts batches. Shuffling is seeded: every call starts a new
    ``numpy.random.Generator`` from ``seed``, so two calls give the same batches, while the
    epochs within one call are each shuffled differently.

    Attributes:
        batch_size: Rows per batch.
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether rows are shuffled.
        seed: The shuffle seed (None: fresh entropy on every call).
        chunk_rows: The least number of rows per chunk (all but the last).
        rank: This input function's rank, after :meth:`shard` (0 otherwise).
        world_size: The number of ranks the data is split between (1 when unsharded).
        uneven: How a shard evens out its epochs with the other ranks' (see :meth:`shard`).
    """

    rank = 0
    world_size = 1
    uneven: Uneven = "keep"
    _rank_rows: list[int] | None = None  # rows per epoch of every rank, once known
    origins = False  # whether chunks carry ORIGIN (see with_origins)
    label_key: str | None = None

    def __init__(
        self,
        *,
        batch_size: int,
        num_epochs: int | None,
        shuffle: bool | None,
        seed: int | None,
        owner: str,
        chunk_rows: int = INPUT_CHUNK_ROWS,
    ) -> None:
        self.batch_size = _check_positive_int(batch_size, "batch_size", owner)
        if num_epochs is not None:
            _check_positive_int(num_epochs, "num_epochs", owner, "an int >= 1 or None")
        self.num_epochs = num_epochs
        if not isinstance(shuffle, bool):
            raise InvalidParameterError(
                f"The 'shuffle' parameter of {owner} must be provided and explicitly set as "
                f"boolean (it is recommended to set it as True for training). Got {shuffle!r} "
                "instead."
            )
        self.shuffle = shuffle
        if seed is not None and not isinstance(seed, numbers.Integral):
            raise InvalidParameterError(
                f"The 'seed' parameter of {owner} must be an int or None. Got {seed!r} instead."
            )
        self.seed: int | None = seed
        self.chunk_rows = _check_positive_int(chunk_rows, "chunk_rows", owner)
        self.owner = owner

    def __call__(self) -> Iterator[InputBatch]:
        """A fresh iterator of ``(features, labels)`` batches of ``batch_size`` rows."""
        return rebatch(self.chunks(), self.batch_size)

    merge_epochs = True
    """Whether a chunk may hold several small epochs (cheap in memory; for files it would
    delay the first batch by reading the data many times over)."""

    def chunks(self) -> Iterator[InputBatch]:
        """The rows of ``__call__()``, in the same order, in chunks of ``chunk_rows`` or more.

        Only the last chunk, and for files the last chunk of each epoch, may be smaller.
        """
        stream = self._epochs(np.random.default_rng(self._seed_for_rank()))
        return coalesce(stream, self.chunk_rows) if self.merge_epochs else stream

    def with_origins(self) -> InputFn:
        """A copy whose chunks also carry, under :data:`~mlengine.data.batches.ORIGIN`, each
        row's origin (an int64 code that :meth:`describe_origin` names: its file and row as
        the user counts them), so that an error about a value found later, after shuffling,
        can say where the value came from. This one is unchanged."""
        part = copy.copy(self)
        part.origins = True
        return part

    def seeded(self, seed: int | None) -> InputFn:
        """This input function, or, when it shuffles without a seed of its own and ``seed``
        (an estimator's ``tf_random_seed``) is given, a copy shuffling with that seed: TF's
        shuffling ops take their seed from the graph's, so a program that sets
        ``tf_random_seed`` repeats its batches run after run."""
        if seed is None or not self.shuffle or self.seed is not None:
            return self
        part = copy.copy(self)
        part.seed = int(seed)
        return part

    def describe_origin(self, code: int) -> str:
        """Where the row of an ORIGIN ``code`` came from, for a message (subclasses)."""
        raise NotImplementedError

    def shard(self, rank: int, world_size: int, *, uneven: Uneven = "pad") -> InputFn:
        """The input function of rank ``rank`` of ``world_size``: it reads only its own part.

        The parts of ranks ``0 .. world_size - 1`` are disjoint and together hold every row
        once. In-memory data (pandas, numpy) is cut into ``world_size`` row ranges. Files are
        dealt out whole when there are at least ``world_size`` of them and they balance (see
        :mod:`mlengine.data.sharding`); otherwise the files laid end to end are cut into row
        ranges (Parquet, using the row counts in the footers: only the row groups a range
        touches are read) or byte ranges (CSV: a line belongs to the range holding its first
        byte, so ranges split at line starts; a quoted field must not hold a newline). A
        compressed CSV file cannot be read from an offset: when one would have to be cut,
        every rank reads all the files and keeps every ``world_size``-th row.

        Shuffling is per rank: the rank's files in a new order each epoch and its rows
        through its own buffer, seeded from ``(seed, rank)``, so runs repeat. Batches,
        epochs and ``num_epochs`` are the rank's own.

        ``uneven`` says what happens when the parts differ in rows, which matters with a
        finite ``num_epochs``: a rank that ran out of batches first would leave the others
        waiting in an all-reduce.

        * ``"pad"`` (the default, for training): every rank yields, per epoch, as many rows
          as the largest part; a smaller part goes on into its next (reshuffled) pass, so it
          repeats a few of its own rows. All ranks yield the same number of batches.
        * ``"drop"``: every rank yields as many rows as the smallest part per epoch; the rest
          of a pass comes first in the next epoch, so only the last epoch leaves rows unread.
          All ranks yield the same number of batches.
        * ``"keep"`` (for evaluation): every rank yields its part exactly once per epoch, so
          each row is seen once over all ranks, but ranks may yield different numbers of
          batches: reduce results once, after the loop, not per batch.

        With ``"pad"`` and ``"drop"``, row counts are needed up front: free for in-memory
        data and Parquet, one extra read of all files for CSV (once per shard, and only for a
        finite ``num_epochs``). A part with no rows is an error with them (there is nothing
        to pad from), also with ``num_epochs=None``, where every rank repeats its own part
        forever and the training loop's ``steps`` or ``max_steps`` stops all ranks together.

        Args:
            rank: This process's rank, ``0 <= rank < world_size``.
            world_size: The number of ranks.
            uneven: ``"pad"``, ``"drop"`` or ``"keep"``, as above.

        Returns:
            A new :class:`InputFn` of the same kind; this one is unchanged.

        Raises:
            InvalidParameterError: ``rank`` or ``world_size`` is out of range, ``uneven`` is
                not a mode, or this input function is already a shard.
            DataError: A Parquet file cannot be read (row counts come from its footer).
        """
        owner = f"{type(self).__name__}.shard"
        world_size = _check_positive_int(world_size, "world_size", owner)
        if isinstance(rank, bool) or not isinstance(rank, numbers.Integral):
            raise InvalidParameterError(f"The 'rank' parameter of {owner} must be an int.")
        if not 0 <= rank < world_size:
            raise InvalidParameterError(
                f"The 'rank' parameter of {owner} must be in [0, {world_size}). Got {rank}."
            )
        if uneven not in UNEVEN_MODES:
            raise InvalidParameterError(
                f"The 'uneven' parameter of {owner} must be one of {list(UNEVEN_MODES)}. "
                f"Got {uneven!r} instead."
            )
        if self.world_size != 1:
            raise InvalidParameterError(
                f"{owner}: this input function is already rank {self.rank} of "
                f"{self.world_size}; shard the original input function instead."
            )
        part = self._shard(int(rank), world_size)
        part.rank, part.world_size, part.uneven = int(rank), world_size, uneven
        return part

    def _shard(self, rank: int, world_size: int) -> InputFn:
        """A copy reading only rank ``rank``'s part (subclasses; see :meth:`shard`)."""
        raise NotSupportedError(f"{type(self).__name__} cannot be sharded.")

    def _count_rank_rows(self) -> list[int]:
        """Rows per epoch of every rank's part, when :meth:`_shard` did not record them."""
        raise NotSupportedError(f"{type(self).__name__} cannot count its rows.")

    def _seed_for_rank(self) -> int | list[int] | None:
        """The shuffle seed: ``seed`` unsharded, ``[seed, rank]`` for a rank of several."""
        if self.world_size == 1 or self.seed is None:
            return self.seed
        return [int(self.seed), self.rank]

    def _epoch_rows(self) -> int | None:
        """Rows every rank yields per epoch with "pad" or "drop"; None when epochs are its own."""
        if self.world_size == 1 or self.uneven == "keep" or self.num_epochs is None:
            return None
        if self._rank_rows is None:
            self._rank_rows = self._count_rank_rows()
        empty = [rank for rank, rows in enumerate(self._rank_rows) if rows == 0]
        if empty:
            raise DataError(self._empty_message(empty[0], sum(self._rank_rows)))
        return max(self._rank_rows) if self.uneven == "pad" else min(self._rank_rows)

    def _empty_message(self, rank: int, total: int | None = None) -> str:
        rows = "" if total is None else f" ({total} rows in all)"
        return (
            f"Rank {rank} of {self.world_size} has no rows to read{rows}, so uneven="
            f"{self.uneven!r} cannot even out the ranks' epochs: use fewer ranks or more "
            "data, or uneven='keep' for evaluation."
        )

    def _epochs(self, rng: np.random.Generator) -> Iterator[InputBatch]:
        per_epoch = self._epoch_rows()
        if per_epoch is not None and self.num_epochs is not None:
            # Passes over this rank's part, cut into epochs of the same length on every rank.
            yield from take_rows(self._passes(rng), per_epoch * self.num_epochs)
            return
        epoch = 0
        while self.num_epochs is None or epoch < self.num_epochs:
            rows = 0
            for chunk in self._epoch(rng):
                rows += num_rows(chunk)
                yield chunk
            if rows == 0:  # no data: stop even when repeating forever, as tf.data's repeat()
                if self.world_size > 1 and self.uneven != "keep":
                    raise DataError(self._empty_message(self.rank))
                return
            epoch += 1

    def _passes(self, rng: np.random.Generator) -> Iterator[InputBatch]:
        """Passes over the data, one after another, forever (shuffled anew each time)."""
        while True:
            rows = 0
            for chunk in self._epoch(rng):
                rows += num_rows(chunk)
                yield chunk
            if rows == 0:
                raise DataError(self._empty_message(self.rank))

    def _epoch(self, rng: np.random.Generator) -> Iterator[InputBatch]:
        """One pass over the data, shuffled with ``rng`` when ``shuffle`` is set."""
        raise NotImplementedError

    def __repr__(self) -> str:
        shard = ""
        if self.world_size > 1:
            shard = f", rank={self.rank}, world_size={self.world_size}, uneven={self.uneven!r}"
        return (
            f"{type(self).__name__}(batch_size={self.batch_size}, num_epochs={self.num_epochs}, "
            f"shuffle={self.shuffle}, seed={self.seed}{shard})"
        )


class MemoryInputFn(InputFn):
    """An input function over columns held in memory (from pandas or numpy).

    Each epoch draws one permutation and gathers rows chunk by chunk with numpy fancy indexing
    or pyarrow ``take``, so at most one chunk is copied at a time.
    """

    def __init__(self, data: InputBatch, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.data = data

    def _epoch(self, rng: np.random.Generator) -> Iterator[InputBatch]:
        n = num_rows(self.data)
        data = self.data
        if self.origins:  # each row's position in the data given
            data = ({**data[0], ORIGIN: np.arange(n, dtype=np.int64)}, data[1])
        order = rng.permutation(n) if self.shuffle else None
        for start in range(0, n, self.chunk_rows):
            stop = min(n, start + self.chunk_rows)
            if order is None:
                yield slice_batch(data, start, stop)
            else:
                yield take_batch(data, order[start:stop])

    def describe_origin(self, code: int) -> str:
        """``pandas_input_fn row 12`` (the row's position in the data, from 0)."""
        return f"{self.owner} row {code}"

    def _shard(self, rank: int, world_size: int) -> InputFn:
        """Rank ``rank``'s row range (views of the columns, no copy)."""
        n = num_rows(self.data)
        bounds = [even_range(n, r, world_size) for r in range(world_size)]
        part = copy.copy(self)
        part.data = slice_batch(self.data, *bounds[rank])
        part._rank_rows = [stop - start for start, stop in bounds]
        return part


class FileInputFn(InputFn):
    """An input function that streams files; subclasses read one source (:meth:`_read`).

    With ``shuffle``, each epoch visits the files in a new random order and passes the rows
    through a shuffle buffer of ``shuffle_buffer_size`` rows, so memory does not grow with
    the data: it holds at most the buffer, one chunk on its way out and one file batch on its
    way in. Work is described by ``sources`` (one per file) and read by :meth:`_read`, so
    :meth:`shard` picks whole sources per rank, or parts of them (:meth:`_piece`), without
    touching the batching.
    """

    _rank_sources: list[list[FileSource]] | None = None  # every rank's sources, once sharded

    merge_epochs = False

    def __init__(
        self,
        sources: Sequence[FileSource],
        *,
        label_key: str | None,
        shuffle_buffer_size: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.sources = list(sources)
        self.label_key = label_key
        self.shuffle_buffer_size = _check_positive_int(
            shuffle_buffer_size, "shuffle_buffer_size", kwargs["owner"]
        )

    def _epoch(self, rng: np.random.Generator) -> Iterator[InputBatch]:
        order = rng.permutation(len(self.sources)) if self.shuffle else range(len(self.sources))
        chunks = coalesce(self._read_sources([self.sources[i] for i in order]), self.chunk_rows)
        if not self.shuffle:
            yield from chunks
            return
        for chunk in shuffle_buffer(chunks, self.shuffle_buffer_size, self.chunk_rows, rng):
            yield decode_dictionaries(chunk)

    def _read_sources(self, sources: list[FileSource]) -> Iterator[InputBatch]:
        for source in sources:
            rows = 0
            for record_batch in self._read(source):
                if self.label_key is not None and self.label_key not in record_batch.schema.names:
                    raise DataError(
                        f"The label_key {self.label_key!r} is not a column of {source.name!r}; "
                        f"its columns are {record_batch.schema.names}."
                    )
                # Dictionary columns (Parquet strings, when shuffling) stay encoded through
                # the shuffle buffer, which decodes them on the way out.
                batch = table_to_batch(record_batch, self.label_key, keep_dictionaries=self.shuffle)
                if self.origins:  # (file, row in what is read of it), see describe_origin
                    base = (self.sources.index(source) << _ORIGIN_ROW_BITS) + rows
                    count = record_batch.num_rows
                    batch[0][ORIGIN] = np.arange(base, base + count, dtype=np.int64)
                rows += record_batch.num_rows
                yield batch

    def describe_origin(self, code: int) -> str:
        """The file and row of an ORIGIN code: ``census.csv, line 250001``."""
        source = self.sources[code >> _ORIGIN_ROW_BITS]
        return describe_row(source, code & ((1 << _ORIGIN_ROW_BITS) - 1), self._header_lines())

    def _header_lines(self) -> int | None:
        """Lines before a CSV file's first row (its header); None: not a text file."""
        return None

    def _read(self, source: FileSource) -> Iterator[pa.RecordBatch]:
        """One source as record batches; with ``shuffle``, strings may be dictionary-encoded."""
        raise NotImplementedError

    def _shard_size(self, source: FileSource) -> int:
        """A file's size in the unit its ranges are cut in (subclasses: rows or bytes)."""
        raise NotImplementedError

    def _piece(self, source: FileSource, part: tuple[int, int]) -> FileSource:
        """Units ``[start, stop)`` of a file, as a source (subclasses: rows or bytes)."""
        raise NotImplementedError

    def _count(self, source: FileSource) -> int:
        """Rows of one source; by default by reading it (CSV), overridden where it is cheap."""
        return sum(batch.num_rows for batch in self._read(source))

    def _shard(self, rank: int, world_size: int) -> InputFn:
        sizes = [self._shard_size(source) for source in self.sources]
        splittable = [not source.compressed for source in self.sources]
        plan = plan_shards(sizes, world_size, splittable)
        if plan is None:  # too few files, and one to cut cannot be read from an offset
            ranks = [
                [source.part(stride=(r, world_size)) for source in self.sources]
                for r in range(world_size)
            ]
        else:
            ranks = [[self._source_piece(piece) for piece in pieces] for pieces in plan]
        part = copy.copy(self)
        part.sources = ranks[rank]
        part._rank_sources = ranks
        return part

    def _source_piece(self, piece: Piece) -> FileSource:
        index, units = piece
        source = self.sources[index]
        return source if units is None else self._piece(source, units)

    def _count_rank_rows(self) -> list[int]:
        assert self._rank_sources is not None, "only a shard counts its ranks' rows"
        return [sum(self._count(s) for s in sources) for sources in self._rank_sources]


class CsvInputFn(FileInputFn):
    """Streams CSV files with pyarrow's reader (see :func:`csv_input_fn`)."""

    def __init__(self, sources: Sequence[FileSource], *, options: CsvOptions, **kwargs: Any):
        super().__init__(sources, **kwargs)
        self.options = options

    def _read(self, source: FileSource) -> Iterator[pa.RecordBatch]:
        return read_csv(source, self.options)

    def _header_lines(self) -> int | None:
        return 1 if self.options.header else 0

    def _shard_size(self, source: FileSource) -> int:
        return source.size()

    def _piece(self, source: FileSource, part: tuple[int, int]) -> FileSource:
        return source.part(byte_range=part)


class ParquetInputFn(FileInputFn):
    """Streams Parquet files batch by batch (see :func:`parquet_input_fn`)."""

    def __init__(
        self, sources: Sequence[FileSource], *, columns: list[str] | None, **kwargs: Any
    ) -> None:
        super().__init__(sources, **kwargs)
        self.columns = columns

    def _read(self, source: FileSource) -> Iterator[pa.RecordBatch]:
        return read_parquet(source, self.columns, self.chunk_rows, dictionaries=self.shuffle)

    def _shard_size(self, source: FileSource) -> int:
        return parquet_num_rows(source)

    def _piece(self, source: FileSource, part: tuple[int, int]) -> FileSource:
        return source.part(row_range=part)

    def _count(self, source: FileSource) -> int:
        return parquet_num_rows(source)


# ---- public constructors --------------------------------------------------------------------


def pandas_input_fn(
    x: pd.DataFrame,
    y: pd.Series | pd.DataFrame | npt.ArrayLike | None = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int = 1000,
    num_threads: int = 1,
    target_column: str = "target",
    seed: int | None = None,
) -> InputFn:
    """Returns an input function over a pandas DataFrame (TensorFlow's ``pandas_input_fn``).

    String columns become pyarrow arrays once, up front (pandas' Arrow-backed strings without a
    per-value conversion); numeric columns stay numpy arrays.

    Args:
        x: The features, one column per feature.
        y: The labels: a Series (or a one-column DataFrame) with the same index as ``x``, or
            an array with one label per row of ``x``.
        batch_size: Rows per batch.
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether to shuffle; must be given explicitly, as in TensorFlow.
        queue_capacity: Accepted for TensorFlow compatibility; unused (there is no queue).
        num_threads: Accepted for TensorFlow compatibility; unused.
        target_column: TensorFlow's name for the label inside its queue; it must not be a
            column of ``x`` when ``y`` is given.
        seed: Seed of the shuffle.

    Returns:
        An :class:`InputFn`.

    Raises:
        InvalidParameterError: A parameter is out of range, or ``shuffle`` is not a bool.
        DataError: ``x`` and ``y`` differ in length or index.
    """
    del queue_capacity, num_threads
    owner = "pandas_input_fn"
    if not isinstance(x, pd.DataFrame):
        raise InvalidParameterError(
            f"The 'x' parameter of {owner} must be a pandas DataFrame. Got {type(x).__name__}."
        )
    if not x.columns.is_unique:
        raise InvalidParameterError(f"The columns of x in {owner} must be unique.")
    labels = None
    if y is not None:
        if target_column in x.columns:
            raise InvalidParameterError(
                f"Cannot use name {target_column!r} as target column because it is already a "
                "column name of x."
            )
        if isinstance(y, pd.Series | pd.DataFrame):
            series = _single_label(y, owner)
            if len(series) == len(x) and not x.index.equals(series.index):
                raise DataError(f"Index for x and y are mismatched in {owner}.")
            labels = _series_to_column(series)
        else:  # a numpy array, as census.load returns: rows match by position
            labels = _array_to_column(y, "y", owner)
        if column_length(labels) != len(x):
            raise DataError(
                f"x and y in {owner} must have the same length. "
                f"Got {len(x)} and {column_length(labels)}."
            )
    features = {str(name): _series_to_column(x[name]) for name in x.columns}
    made = MemoryInputFn(
        (features, labels),
        batch_size=batch_size,
        num_epochs=num_epochs,
        shuffle=shuffle,  # InputFn rejects None with TensorFlow's message
        seed=seed,
        owner=owner,
    )
    if isinstance(y, pd.Series) and y.name is not None:
        made.label_key = str(y.name)  # how errors name the label column
    return made


def numpy_input_fn(
    x: Mapping[str, Any],
    y: Any = None,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool | None = None,
    queue_capacity: int = 1000,
    num_threads: int = 1,
    seed: int | None = None,
) -> InputFn:
    """Returns an input function over a dict of numpy arrays (TensorFlow's ``numpy_input_fn``).

    Arrays may have more than one dimension (rows are the first); 1-D string or object arrays
    become pyarrow arrays, which also carry None as a missing value.

    Args:
        x: The features, a dict of arrays of equal length.
        y: The labels, an array of the same length, or None.
        batch_size: Rows per batch.
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether to shuffle; must be given explicitly, as in TensorFlow.
        queue_capacity: Accepted for TensorFlow compatibility; unused.
        num_threads: Accepted for TensorFlow compatibility; unused.
        seed: Seed of the shuffle.

    Returns:
        An :class:`InputFn`.

    Raises:
        InvalidParameterError: ``x`` is not a non-empty dict, a parameter is out of range, or
            ``shuffle`` is not a bool.
        NotSupportedError: ``y`` is a dict (several heads).
        DataError: The arrays in ``x`` and ``y`` differ in length.
    """
    del queue_capacity, num_threads
    owner = "numpy_input_fn"
    if not isinstance(x, Mapping) or not x:
        raise InvalidParameterError(
            f"The 'x' parameter of {owner} must be a non-empty dict of arrays. Got {x!r:.80}."
        )
    if isinstance(y, Mapping):
        raise NotSupportedError(
            f"{owner} takes one label array; a dict of labels is not supported."
        )
    features = {str(key): _array_to_column(value, f"x[{key!r}]", owner) for key, value in x.items()}
    labels = None if y is None else _array_to_column(y, "y", owner)
    lengths = {key: column_length(column) for key, column in features.items()}
    if labels is not None:
        lengths["<y>"] = column_length(labels)
    if len(set(lengths.values())) > 1:
        raise DataError(
            f"Length of arrays in x and y is mismatched in {owner}. All elements in x and y "
            f"must have the same length. Got {lengths}."
        )
    return MemoryInputFn(
        (features, labels),
        batch_size=batch_size,
        num_epochs=num_epochs,
        shuffle=shuffle,  # InputFn rejects None with TensorFlow's message
        seed=seed,
        owner=owner,
    )


def csv_input_fn(
    file_pattern: FilePattern,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool = False,
    seed: int | None = None,
    column_names: Sequence[str] | None = None,
    column_defaults: Sequence[Any] | None = None,
    label_key: str | None = None,
    header: bool = True,
    delimiter: str = ",",
    shuffle_buffer_size: int = SHUFFLE_BUFFER_ROWS,
    block_size: int = CSV_BLOCK_BYTES,
) -> InputFn:
    """Returns an input function streaming CSV files, after TF's ``make_csv_dataset``.

    Files are read block by block with pyarrow; an empty field is missing (null, or the
    column's default). Column types are inferred unless ``column_defaults`` fixes them.

    Args:
        file_pattern: A path, glob or fsspec URL (``memory://``, ``gs://``...), or a list of
            them. Compressed files (``.gz``...) are recognised by extension.
        batch_size: Rows per batch.
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether to shuffle file order and rows (through a buffer).
        seed: Seed of the shuffle.
        column_names: The column names; read from the first line when None.
        column_defaults: One entry per column, as TF's: a default value (``0``, ``0.0``,
            ``""``, or ``[0]``) that fills empty fields and fixes the type, ``[]`` for a
            required column, a type (``int``, ``float``, ``str``), or None to infer.
        label_key: The column holding the labels; None for no labels.
        header: Whether the first line is a header (skipped when ``column_names`` is given).
        delimiter: The field separator, one character.
        shuffle_buffer_size: Rows in the shuffle buffer.
        block_size: Bytes parsed at a time.

    Returns:
        An :class:`InputFn`.

    Raises:
        DataError: A pattern matches no file; later, while iterating, a file does not parse,
            lacks ``label_key``, or leaves a required column empty.
        InvalidParameterError: A parameter is out of range or inconsistent.
    """
    owner = "csv_input_fn"
    if not header and column_names is None:
        raise InvalidParameterError(f"{owner} needs column_names when header=False.")
    if column_names is not None:
        column_names = [str(c) for c in column_names]
        if label_key is not None and label_key not in column_names:
            raise InvalidParameterError(
                f"The label_key {label_key!r} of {owner} is not one of column_names {column_names}."
            )
        if column_defaults is not None and len(column_defaults) != len(column_names):
            raise InvalidParameterError(
                f"The 'column_defaults' parameter of {owner} must have one entry per column "
                f"({len(column_names)}). Got {len(column_defaults)} instead."
            )
    if column_defaults is not None:
        for value in column_defaults:
            parse_default(value, owner)  # fail now rather than at the first read
    if not isinstance(delimiter, str) or len(delimiter) != 1:
        raise InvalidParameterError(
            f"The 'delimiter' parameter of {owner} must be one character. Got {delimiter!r}."
        )
    options = CsvOptions(
        column_names=tuple(column_names) if column_names is not None else None,
        column_defaults=tuple(column_defaults) if column_defaults is not None else None,
        header=header,
        delimiter=delimiter,
        block_size=_check_positive_int(block_size, "block_size", owner),
    )
    return CsvInputFn(
        expand_patterns(file_pattern),
        options=options,
        label_key=label_key,
        shuffle_buffer_size=shuffle_buffer_size,
        batch_size=batch_size,
        num_epochs=num_epochs,
        shuffle=shuffle,
        seed=seed,
        owner=owner,
    )


def parquet_input_fn(
    file_pattern: FilePattern,
    batch_size: int = 128,
    num_epochs: int | None = 1,
    shuffle: bool = False,
    seed: int | None = None,
    columns: Sequence[str] | None = None,
    label_key: str | None = None,
    shuffle_buffer_size: int = SHUFFLE_BUFFER_ROWS,
) -> InputFn:
    """Returns an input function streaming Parquet files, batch by batch.

    Args:
        file_pattern: A path, glob or fsspec URL, or a list of them.
        batch_size: Rows per batch.
        num_epochs: Passes over the data; None repeats forever.
        shuffle: Whether to shuffle file order and rows (through a buffer).
        seed: Seed of the shuffle.
        columns: The feature columns to read; all when None. The label column is read too.
        label_key: The column holding the labels; None for no labels.
        shuffle_buffer_size: Rows in the shuffle buffer.

    Returns:
        An :class:`InputFn`.

    Raises:
        DataError: A pattern matches no file; later, while iterating, a file is not Parquet
            or lacks one of the columns or the label.
        InvalidParameterError: A parameter is out of range.
    """
    owner = "parquet_input_fn"
    read = None
    if columns is not None:
        read = [str(c) for c in columns]
        if label_key is not None and label_key not in read:
            read.append(label_key)
    return ParquetInputFn(
        expand_patterns(file_pattern),
        columns=read,
        label_key=label_key,
        shuffle_buffer_size=shuffle_buffer_size,
        batch_size=batch_size,
        num_epochs=num_epochs,
        shuffle=shuffle,
        seed=seed,
        owner=owner,
    )


# ---- helpers --------------------------------------------------------------------------------


def _check_positive_int(value: Any, name: str, owner: str, rule: str = "an int >= 1") -> int:
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise InvalidParameterError(
            f"The {name!r} parameter of {owner} must be {rule}. Got {value!r} instead."
        )
    return int(value)


def _single_label(y: pd.Series | pd.DataFrame, owner: str) -> pd.Series:
    if isinstance(y, pd.Series):
        return y
    if y.shape[1] != 1:
        raise NotSupportedError(
            f"{owner} takes one label column; y has {y.shape[1]} ({list(y.columns)})."
        )
    return y.iloc[:, 0]


def _series_to_column(series: pd.Series) -> Column:
    """A pandas column as a batch column: numpy for numpy numbers, pyarrow otherwise."""
    dtype = series.dtype
    if isinstance(dtype, np.dtype) and dtype.kind in "biuf":
        return series.to_numpy()
    try:
        # Arrow-backed columns (pandas' str, ArrowDtype) hand over their buffers here.
        return to_column(pa.array(series, from_pandas=True))
    except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
        raise DataError(f"Column {series.name!r} cannot be converted: {exc}") from exc


def _array_to_column(value: Any, name: str, owner: str) -> Column:
    """An array-like as a batch column; 1-D strings and objects become pyarrow arrays."""
    if isinstance(value, pa.Array | pa.ChunkedArray):
        return to_column(value)
    array = np.asarray(value)
    if array.ndim == 0:
        raise InvalidParameterError(f"{name} of {owner} must be an array, not a scalar.")
    if array.dtype.kind in "USO" and array.ndim == 1:
        try:
            return to_column(pa.array(array, from_pandas=True))
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise DataError(f"{name} of {owner} cannot be converted: {exc}") from exc
    return array


__all__ = [
    "UNEVEN_MODES",
    "CsvInputFn",
    "FileInputFn",
    "InputFn",
    "MemoryInputFn",
    "ParquetInputFn",
    "Uneven",
    "csv_input_fn",
    "numpy_input_fn",
    "pandas_input_fn",
    "parquet_input_fn",
]
