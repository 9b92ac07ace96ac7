"""File sources and streaming readers for CSV and Parquet, local or behind any fsspec URL.

A file pattern expands to a list of :class:`FileSource` (one per file); a reader turns one source
into a stream of :class:`pyarrow.RecordBatch` without ever holding the whole file. Keeping the
two apart is what lets a distributed reader shard the work (:mod:`mlengine.data.sharding`):
whole sources per rank when there are many files, or a part of a source when there are few,
a row range of a Parquet file or a byte range of a CSV file (:meth:`FileSource.part`).
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import io
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fsspec.core import url_to_fs
from fsspec.utils import infer_compression

from mlengine.errors import DataError, InvalidParameterError
from mlengine.tuning import CSV_BLOCK_BYTES

FilePattern = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class FileSource:
    """One input file, or one rank's part of it: the filesystem, the path and which rows.

    At most one of the part fields is set; with none, the source is the whole file.
    """

    fs: fsspec.AbstractFileSystem = field(repr=False)
    path: str
    name: str
    """How error messages spell the file: the path for local files, the full URL otherwise."""
    byte_range: tuple[int, int] | None = None
    """CSV: the lines whose first byte lies in ``[start, stop)`` (so ranges that tile a file
    give every line to exactly one range, wherever the cuts fall)."""
    row_range: tuple[int, int] | None = None
    """Parquet: rows ``[start, stop)`` of the file (only the row groups they touch are read)."""
    stride: tuple[int, int] | None = None
    """``(k, n)``: the rows whose index in the file is ``k`` modulo ``n`` (for compressed CSV,
    which cannot be cut into byte ranges: every part reads the whole file)."""

    @property
    def compressed(self) -> bool:
        """Whether the file is compressed (by its extension), so cannot be read from an offset."""
        return infer_compression(self.path) is not None

    def part(
        self,
        *,
        byte_range: tuple[int, int] | None = None,
        row_range: tuple[int, int] | None = None,
        stride: tuple[int, int] | None = None,
    ) -> FileSource:
        """The same file restricted to a byte range, a row range or a stride of rows."""
        return dataclasses.replace(self, byte_range=byte_range, row_range=row_range, stride=stride)

    def size(self) -> int:
        """The file's size in bytes (compressed size for compressed files)."""
        return int(self.fs.size(self.path))

    def open(self) -> IO[bytes]:
        """Opens the file for binary reading, decompressing by extension (``.gz``, ``.bz2``...)."""
        f: IO[bytes] = self.fs.open(self.path, "rb", compression=infer_compression(self.path))
        return f


def expand_patterns(file_pattern: FilePattern) -> list[FileSource]:
    """Expands one or many paths, globs or fsspec URLs into the files they name, in sorted order.

    Raises:
        DataError: A pattern matches no file (the message names the pattern).
        InvalidParameterError: ``file_pattern`` is empty.
    """
    patterns = [file_pattern] if isinstance(file_pattern, str | os.PathLike) else list(file_pattern)
    if not patterns:
        raise InvalidParameterError("The 'file_pattern' parameter must name at least one file.")
    sources: list[FileSource] = []
    for pattern in patterns:
        text = os.fspath(pattern)
        fs, path = url_to_fs(text)
        if glob.has_magic(path):
            found = fs.glob(path, detail=True)
            paths = sorted(p for p, info in found.items() if info.get("type") == "file")
        else:
            paths = [path] if fs.isfile(path) else []
        if not paths:
            raise DataError(f"No file matches the pattern {text!r}.")
        local = "file" in _protocols(fs)
        sources += [FileSource(fs, p, p if local else fs.unstrip_protocol(p)) for p in paths]
    return sources


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    protocol = fs.protocol
    return (protocol,) if isinstance(protocol, str) else tuple(protocol)


# ---- CSV -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class CsvOptions:
    """How to parse CSV files (see ``csv_input_fn`` for the meaning of each field)."""

    column_names: tuple[str, ...] | None = None
    column_defaults: tuple[Any, ...] | None = None
    header: bool = True
    delimiter: str = ","
    block_size: int = CSV_BLOCK_BYTES


_REQUIRED = object()  # a column_defaults entry of [] (TF: "an empty tensor if required")


def parse_default(value: Any, owner: str) -> tuple[pa.DataType | None, Any]:
    """Reads one TF-style ``column_defaults`` entry as ``(type or None, fill value)``.

    An entry is a value (``0``, ``0.0``, ``""``, ``False``) that fills missing fields and fixes
    the column's type, the same value wrapped in a one-element list (TF's ``[[0], [""]]``), an
    empty list for a required column, a type (``int``, ``float``, ``str``, ``bool``, a numpy
    dtype) that fixes only the type, or None to infer the type and keep missing values null.
    """
    if isinstance(value, list | tuple):
        if not value:
            return None, _REQUIRED
        if len(value) == 1:
            return parse_default(value[0], owner)
    if value is None:
        return None, None
    if isinstance(value, type) and value in _PY_TYPES:
        return _PY_TYPES[value], None
    if isinstance(value, bool | np.bool_):
        return pa.bool_(), bool(value)
    if isinstance(value, int | np.integer):
        return pa.int64(), int(value)
    if isinstance(value, float | np.floating):
        return pa.float64(), float(value)
    if isinstance(value, str):
        return pa.string(), value
    try:
        return pa.from_numpy_dtype(np.dtype(value)), None
    except TypeError:
        pass
    raise InvalidParameterError(
        f"The 'column_defaults' parameter of {owner} must hold values, types, [value] or [] "
        f"(required). Got {value!r} instead."
    )


_PY_TYPES: dict[type, pa.DataType] = {
    bool: pa.bool_(),
    int: pa.int64(),
    float: pa.float64(),
    str: pa.string(),
}


def read_csv(source: FileSource, options: CsvOptions) -> Iterator[pa.RecordBatch]:
    """Streams one CSV file (or a byte range or stride of it) block by block with pyarrow.

    An empty field is missing: null, or the column's default when ``column_defaults`` gives
    one. Parse errors become DataError naming the file and the line. A byte range that does
    not start the file has no header line: the names come from the file's first line.
    """
    starts_file = source.byte_range is None or source.byte_range[0] == 0
    names = list(options.column_names) if options.column_names else None
    if names is None and (options.column_defaults is not None or not starts_file):
        names = _header_names(source, options.delimiter)
    types, fills = _column_types(names, options.column_defaults, source)
    header_rows = 1 if (options.header and starts_file) else 0
    read_options = pa_csv.ReadOptions(
        column_names=names,
        # pyarrow reads the header itself unless names are given; then the header is skipped.
        skip_rows=header_rows if names is not None else 0,
        block_size=options.block_size,
    )
    parse_options = pa_csv.ParseOptions(delimiter=options.delimiter)
    convert_options = pa_csv.ConvertOptions(
        column_types=types, null_values=[""], strings_can_be_null=True
    )
    rows_before = 0
    try:
        with source.open() as f:
            stream = _csv_region(f, source)
            if stream is None:
                return
            reader = pa_csv.open_csv(stream, read_options, parse_options, convert_options)
            for batch in reader:
                filled = _fill_defaults(batch, fills, source, rows_before)
                if source.stride is not None:
                    filled = _keep_stride(filled, rows_before, *source.stride)
                rows_before += batch.num_rows
                yield filled
    except pa.ArrowInvalid as exc:
        message = _locate(exc, source, read_options, parse_options, convert_options)
        raise DataError(f"Cannot read CSV file {source.name!r} {message}") from exc


class _Region(io.RawIOBase):
    """Bytes ``[start, stop)`` of an open binary file, as a readable stream."""

    def __init__(self, f: IO[bytes], start: int, stop: int) -> None:
        super().__init__()
        f.seek(start)
        self._f = f
        self._left = stop - start

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        n = min(len(buffer), self._left)
        if n <= 0:
            return 0
        data = self._f.read(n)
        buffer[: len(data)] = data
        self._left -= len(data)
        return len(data)


def _line_start(f: IO[bytes], offset: int) -> int:
    """The offset of the first line that starts at or after ``offset`` (the size if none)."""
    if offset == 0:
        return 0
    f.seek(offset - 1)
    position = offset - 1
    while block := f.read(1 << 16):
        newline = block.find(b"\n")
        if newline >= 0:
            return position + newline + 1
        position += len(block)
    return position


def _csv_region(f: IO[bytes], source: FileSource) -> IO[bytes] | None:
    """The bytes of ``f`` that ``source`` reads: all of it, or whole lines of its byte range.

    None when the range holds no line start (a long line can span a whole range).
    """
    if source.byte_range is None:
        return f
    start, stop = (_line_start(f, offset) for offset in source.byte_range)
    if start >= stop:
        return None
    return io.BufferedReader(_Region(f, start, stop), buffer_size=1 << 20)


def describe_row(source: FileSource, row: int, header_lines: int | None) -> str:
    """Where row ``row`` (from 0) of what is read of ``source`` is, as the user counts it:
    ``census.csv, line 250001`` for CSV (``header_lines`` before the first row; a byte range
    counts the lines before it), ``data.parquet, row 7`` (from 1) for Parquet (None)."""
    if source.stride is not None:  # every n-th row from the k-th: the row's place in the file
        k, n = source.stride
        row = k + row * n
    if source.row_range is not None:
        row += source.row_range[0]
    if header_lines is None:
        return f"{source.name}, row {row + 1}"
    if source.byte_range is not None and source.byte_range[0] > 0:
        return f"{source.name}, line {_lines_before(source) + row + 1}"
    return f"{source.name}, line {header_lines + row + 1}"


def _lines_before(source: FileSource) -> int:
    """How many lines of the file precede ``source``'s byte range (for error messages only)."""
    if source.byte_range is None or source.byte_range[0] == 0:
        return 0
    with source.open() as f:
        stop = _line_start(f, source.byte_range[0])
        f.seek(0)
        count, position = 0, 0
        while position < stop and (block := f.read(min(1 << 20, stop - position))):
            count += block.count(b"\n")
            position += len(block)
    return count


def _keep_stride(batch: pa.RecordBatch, rows_before: int, k: int, n: int) -> pa.RecordBatch:
    """The rows of ``batch`` whose index in the file is ``k`` modulo ``n``."""
    first = (k - rows_before) % n
    return batch.take(pa.array(np.arange(first, batch.num_rows, n)))


def _header_names(source: FileSource, delimiter: str) -> list[str]:
    """The column names in a CSV file's first line (read only to align column_defaults)."""
    with source.open() as f:
        line = f.readline().decode("utf-8")
    return next(csv.reader([line], delimiter=delimiter), [])


def _column_types(
    names: list[str] | None, defaults: tuple[Any, ...] | None, source: FileSource
) -> tuple[dict[str, pa.DataType], dict[str, Any]]:
    if defaults is None or names is None:
        return {}, {}
    if len(defaults) != len(names):
        raise DataError(
            f"CSV file {source.name!r} has {len(names)} columns {names} but column_defaults "
            f"has {len(defaults)} entries."
        )
    types: dict[str, pa.DataType] = {}
    fills: dict[str, Any] = {}
    for name, value in zip(names, defaults, strict=True):
        kind, fill = parse_default(value, "csv_input_fn")
        if kind is not None:
            types[name] = kind
        if fill is not None:
            fills[name] = fill
    return types, fills


def _fill_defaults(
    batch: pa.RecordBatch,
    fills: dict[str, Any],
    source: FileSource,
    rows_before: int,
) -> pa.RecordBatch:
    """Replaces nulls by the column defaults; a null in a required column is an error.

    The error names the data row, or for a byte range past the header, the file's line.
    """
    if not fills:
        return batch
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        fill = fills.get(name)
        if fill is _REQUIRED and column.null_count:
            row = rows_before + pc.index(pc.is_null(column), True).as_py() + 1
            where = f"data row {row}"
            if source.byte_range is not None and source.byte_range[0] > 0:
                where = f"line {_lines_before(source) + row}"
            raise DataError(
                f"CSV file {source.name!r}: required column {name!r} is empty in {where}."
            )
        if fill is not None and fill is not _REQUIRED and column.null_count:
            column = pc.fill_null(column, pa.scalar(fill, column.type))
        columns.append(column)
    return pa.RecordBatch.from_arrays(columns, names=batch.schema.names)


def _locate(
    exc: pa.ArrowInvalid,
    source: FileSource,
    read_options: pa_csv.ReadOptions,
    parse_options: pa_csv.ParseOptions,
    convert_options: pa_csv.ConvertOptions,
) -> str:
    """``at line N: `` and pyarrow's message, with the line counted from the file's start.

    Only runs on the error path: pyarrow reports the row only when reading single-threaded,
    so the part is read again that way up to the bad row; pyarrow counts rows from the start
    of what it was given, so a byte range adds the lines before it.
    """
    message = str(exc)
    if not _ROW.search(message):
        slow = pa_csv.ReadOptions(
            column_names=read_options.column_names,
            skip_rows=read_options.skip_rows,
            block_size=read_options.block_size,
            use_threads=False,
        )
        try:
            with source.open() as f:
                stream = _csv_region(f, source)
                if stream is not None:
                    for _ in pa_csv.open_csv(stream, slow, parse_options, convert_options):
                        pass
        except pa.ArrowInvalid as located:
            message = str(located)
    match = _ROW.search(message)
    if match is None:
        return f"(line unknown): {message}"
    line = int(match.group(1)) + _lines_before(source)
    return f"at line {line}: {message[: match.start()]}Row #{line}{message[match.end() :]}"


_ROW = re.compile(r"Row #(\d+)")


# ---- Parquet -------------------------------------------------------------------------------


def read_parquet(
    source: FileSource,
    columns: Sequence[str] | None,
    batch_rows: int,
    dictionaries: bool = False,
) -> Iterator[pa.RecordBatch]:
    """Streams the given columns (all when None) of one Parquet file, row group by row group.

    With a ``row_range``, only the row groups it overlaps are read, and cut to the range.
    With ``dictionaries``, string columns stored dictionary-encoded (as Parquet writers do
    unless a column has too many distinct values) come as dictionary arrays, undecoded.

    Raises:
        DataError: The file is not Parquet, or lacks one of ``columns``.
    """
    try:
        with source.open() as f:
            parquet = pq.ParquetFile(f)
            if dictionaries and (encoded := _dictionary_strings(parquet)):
                parquet = pq.ParquetFile(f, read_dictionary=encoded)
            names = parquet.schema_arrow.names
            missing = [c for c in columns or () if c not in names]
            if missing:
                raise DataError(
                    f"Parquet file {source.name!r} has no column {missing[0]!r}; "
                    f"its columns are {names}."
                )
            read = list(columns) if columns is not None else None
            if source.row_range is None:
                yield from parquet.iter_batches(batch_size=batch_rows, columns=read)
                return
            start, stop = source.row_range
            groups, position = _row_groups(parquet.metadata, start, stop)
            if not groups:
                return
            batches = parquet.iter_batches(batch_size=batch_rows, row_groups=groups, columns=read)
            for batch in batches:
                low, high = max(start - position, 0), min(stop - position, batch.num_rows)
                if high > low:
                    yield batch.slice(low, high - low)
                position += batch.num_rows
                if position >= stop:
                    return
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Cannot read Parquet file {source.name!r}: {exc}") from exc


def _dictionary_strings(parquet: pq.ParquetFile) -> list[str]:
    """The string columns whose first row group stores a dictionary page."""
    metadata = parquet.metadata
    if metadata.num_row_groups == 0:
        return []
    group = metadata.row_group(0)
    columns = [group.column(i) for i in range(group.num_columns)]
    stored = {c.path_in_schema for c in columns if c.has_dictionary_page}
    return [f.name for f in parquet.schema_arrow if pa.types.is_string(f.type) and f.name in stored]


def _row_groups(metadata: pq.FileMetaData, start: int, stop: int) -> tuple[list[int], int]:
    """The row groups that overlap rows ``[start, stop)``, and the first one's first row."""
    groups: list[int] = []
    first = offset = 0
    for index in range(metadata.num_row_groups):
        rows = metadata.row_group(index).num_rows
        if offset < stop and offset + rows > start:
            if not groups:
                first = offset
            groups.append(index)
        offset += rows
    return groups, first


def parquet_num_rows(source: FileSource) -> int:
    """The number of rows of a Parquet file (of its ``row_range`` if set), from its footer.

    Raises:
        DataError: The file is not Parquet.
    """
    if source.row_range is not None:
        return source.row_range[1] - source.row_range[0]
    try:
        with source.open() as f:
            return int(pq.ParquetFile(f).metadata.num_rows)
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Cannot read Parquet file {source.name!r}: {exc}") from exc
