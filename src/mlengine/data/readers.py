"""File sources and streaming readers for CSV and Parquet, local or behind any fsspec URL.

A file pattern expands to a list of :class:`FileSource` (one per file); a reader turns one source
into a stream of :class:`pyarrow.RecordBatch` without ever holding the whole file. Keeping the
two apart is what lets a distributed reader shard the work later: whole sources per worker when
there are many files, or row groups / byte ranges of one source when there is one.
"""

from __future__ import annotations

import csv
import glob
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

FilePattern = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


@dataclass(frozen=True)
class FileSource:
    """One input file: the filesystem that holds it and its path there."""

    fs: fsspec.AbstractFileSystem = field(repr=False)
    path: str
    name: str
    """How error messages spell the file: the path for local files, the full URL otherwise."""

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
    block_size: int = 1 << 22


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
    """Streams one CSV file block by block with pyarrow's multithreaded reader.

    An empty field is missing: null, or the column's default when ``column_defaults`` gives
    one. Parse errors become DataError naming the file and, where pyarrow can tell, the row.
    """
    names = list(options.column_names) if options.column_names else None
    if options.column_defaults is not None and names is None:
        names = _header_names(source, options.delimiter)
    types, fills = _column_types(names, options.column_defaults, source)
    read_options = pa_csv.ReadOptions(
        column_names=names,
        # pyarrow reads the header itself unless names are given; then the header is skipped.
        skip_rows=1 if (options.header and names is not None) else 0,
        block_size=options.block_size,
    )
    parse_options = pa_csv.ParseOptions(delimiter=options.delimiter)
    convert_options = pa_csv.ConvertOptions(
        column_types=types, null_values=[""], strings_can_be_null=True
    )
    rows_before = 0
    try:
        with source.open() as f:
            reader = pa_csv.open_csv(f, read_options, parse_options, convert_options)
            for batch in reader:
                yield _fill_defaults(batch, fills, source, rows_before)
                rows_before += batch.num_rows
    except pa.ArrowInvalid as exc:
        message = _locate(exc, source, read_options, parse_options, convert_options)
        raise DataError(f"Cannot read CSV file {source.name!r}: {message}") from exc


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
    batch: pa.RecordBatch, fills: dict[str, Any], source: FileSource, rows_before: int
) -> pa.RecordBatch:
    """Replaces nulls by the column defaults; a null in a required column is an error."""
    if not fills:
        return batch
    columns = []
    for name, column in zip(batch.schema.names, batch.columns, strict=True):
        fill = fills.get(name)
        if fill is _REQUIRED and column.null_count:
            row = rows_before + pc.index(pc.is_null(column), True).as_py() + 1
            raise DataError(
                f"CSV file {source.name!r}: required column {name!r} is empty in data row {row}."
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
    """pyarrow's message, with the row number that only a single-threaded read reports.

    Only runs on the error path: the file is read again, single-threaded, up to the bad row.
    """
    if re.search(r"Row #\d+", str(exc)):
        return str(exc)
    slow = pa_csv.ReadOptions(
        column_names=read_options.column_names,
        skip_rows=read_options.skip_rows,
        block_size=read_options.block_size,
        use_threads=False,
    )
    try:
        with source.open() as f:
            for _ in pa_csv.open_csv(f, slow, parse_options, convert_options):
                pass
    except pa.ArrowInvalid as located:
        return str(located)
    return str(exc)


# ---- Parquet -------------------------------------------------------------------------------


def read_parquet(
    source: FileSource, columns: Sequence[str] | None, batch_rows: int
) -> Iterator[pa.RecordBatch]:
    """Streams the given columns (all when None) of one Parquet file, row group by row group.

    Raises:
        DataError: The file is not Parquet, or lacks one of ``columns``.
    """
    try:
        with source.open() as f:
            parquet = pq.ParquetFile(f)
            names = parquet.schema_arrow.names
            missing = [c for c in columns or () if c not in names]
            if missing:
                raise DataError(
                    f"Parquet file {source.name!r} has no column {missing[0]!r}; "
                    f"its columns are {names}."
                )
            yield from parquet.iter_batches(
                batch_size=batch_rows, columns=list(columns) if columns is not None else None
            )
    except (pa.ArrowInvalid, OSError) as exc:
        raise DataError(f"Cannot read Parquet file {source.name!r}: {exc}") from exc
