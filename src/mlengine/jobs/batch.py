"""Batch prediction: ``python -m mlengine.jobs.batch``, the process a prediction job runs.

Every input row gets one output line, in input order: JSON lines of the row's predictions in
shards ``prediction.results-00000-of-0000N`` (one shard per input file, more for very large
files), written to a staging folder and moved into place only when every row succeeded, so an
output folder never holds a partial result. Rows are predicted in large chunks through
:meth:`~mlengine.export.Predictor.predict_instances`; the only per-row Python is JSON parsing
and printing.

No row is skipped: a line that is not JSON, not an object, or whose features the model cannot
use fails the job with an error naming the file and the line (CSV, JSON) or row (Parquet). The
culprit of a failed chunk is found by bisection, on the error path only.

The outcome is left in the job's run folder: ``result.json`` (``predictionCount``,
``errorCount``, ``outputPath``) on success, ``error.txt`` (one line) on failure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import sys
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq
from fsspec.core import url_to_fs

from mlengine.data.readers import FileSource, expand_patterns
from mlengine.errors import DataError, MLEngineError
from mlengine.export import Predictor, load
from mlengine.jobs.specs import DEFAULT_BATCH_SIZE, RESULTS_PREFIX
from mlengine.limits import JSONLimitError, load_json
from mlengine.tuning import CSV_BLOCK_BYTES, RESULT_SHARD_ROWS

_ARROW_TYPES = {"float32": pa.float64(), "float64": pa.float64(), "int64": pa.int64()}


@dataclass
class Chunk:
    """Rows of one file: instances (JSON) or columns (CSV, Parquet), and where they came from.

    ``lines[i]`` is the line (or, for Parquet, the row) of row ``i`` in ``source``.
    """

    source: str
    data: list[dict[str, Any]] | dict[str, pa.Array]
    first: int
    unit: str = "line"
    lines: list[int] | None = None

    def __len__(self) -> int:
        if isinstance(self.data, list):
            return len(self.data)
        return len(next(iter(self.data.values()))) if self.data else 0

    def where(self, index: int) -> str:
        line = self.lines[index] if self.lines is not None else self.first + index
        return f"{self.source}, {self.unit} {line}"

    def head(self, count: int) -> Chunk:
        if isinstance(self.data, list):
            return Chunk(self.source, self.data[:count], self.first, self.unit, self.lines)
        data = {name: column.slice(0, count) for name, column in self.data.items()}
        return Chunk(self.source, data, self.first, self.unit, self.lines)

    def row(self, index: int) -> Chunk:
        if isinstance(self.data, list):
            return Chunk(self.source, [self.data[index]], self.first, self.unit)
        data = {name: column.slice(index, 1) for name, column in self.data.items()}
        return Chunk(self.source, data, self.first, self.unit)


def _bad_line(source: FileSource, line: int, problem: str) -> DataError:
    return DataError(f"{source.name}, line {line}: {problem}")


def json_chunks(source: FileSource, batch_size: int) -> Iterator[Chunk]:
    """Newline-delimited JSON objects (ML Engine's JSON / TEXT format), ``batch_size`` a chunk."""
    instances: list[dict[str, Any]] = []
    lines: list[int] = []
    with source.open() as handle:
        for number, raw in enumerate(handle, start=1):
            text = raw[3:] if number == 1 and raw.startswith(b"\xef\xbb\xbf") else raw
            if not text.strip():
                raise _bad_line(source, number, "empty line; each line must hold one instance.")
            text = text.rstrip(b"\r\n")
            try:
                value = load_json(text)
            except JSONLimitError as error:
                raise _bad_line(source, number, str(error)) from None
            except orjson.JSONDecodeError as error:
                problem = f"not valid JSON ({error.msg} at column {error.colno})."
                raise _bad_line(source, number, problem) from None
            if not isinstance(value, dict):
                raise _bad_line(
                    source,
                    number,
                    f"expected a JSON object of feature values, got {type(value).__name__}.",
                )
            instances.append(value)
            lines.append(number)
            if len(instances) >= batch_size:
                yield Chunk(source.name, instances, lines[0], lines=lines)
                instances, lines = [], []
    if instances:
        yield Chunk(source.name, instances, lines[0], lines=lines)


def csv_chunks(source: FileSource, predictor: Predictor) -> Iterator[Chunk]:
    """A CSV file with a header row naming the features, read block by block by pyarrow.

    Features get the types of the export's signature (numbers as float64, strings as strings,
    so ``02139`` stays a string), and a value that does not convert is an error on its line.
    """
    types = {
        spec["name"]: _ARROW_TYPES.get(str(spec.get("dtype")), pa.string())
        for spec in predictor.inputs
    }
    read = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=True)
    convert = pa_csv.ConvertOptions(column_types=types, null_values=[""], strings_can_be_null=True)
    first = 2  # line 1 is the header
    try:
        with source.open() as handle:
            for batch in pa_csv.open_csv(handle, read, convert_options=convert):
                data = dict(zip(batch.schema.names, batch.columns, strict=True))
                yield Chunk(source.name, data, first)
                first += batch.num_rows
    except pa.ArrowInvalid as error:
        raise DataError(_csv_message(source, error, convert)) from None


def _csv_message(source: FileSource, error: pa.ArrowInvalid, convert: Any) -> str:
    """pyarrow's message as ``FILE, line N: ...`` (re-read single-threaded to learn the row)."""
    found: BaseException = error
    if not re.search(r"Row #\d+", str(error)):
        slow = pa_csv.ReadOptions(block_size=CSV_BLOCK_BYTES, use_threads=False)
        try:
            with source.open() as handle:
                for _ in pa_csv.open_csv(handle, slow, convert_options=convert):
                    pass
        except pa.ArrowInvalid as located:
            found = located
    text = " ".join(str(found).split())
    match = re.search(r"Row #(\d+): ", text)
    if match is None:
        return f"{source.name}: cannot be read as CSV ({text})."
    rest = (text[: match.start()] + text[match.end() :]).strip()
    column = re.match(r"In CSV column #(\d+): ", rest)
    if column is not None:
        names = _header(source)
        index = int(column.group(1))
        if index < len(names):
            rest = f"column {names[index]!r}: {rest[column.end() :]}"
    return f"{source.name}, line {match.group(1)}: {rest}"


def _header(source: FileSource) -> list[str]:
    """The column names of a CSV file's first line (error path only)."""
    with source.open() as handle:
        line = handle.readline().decode("utf-8", errors="replace")
    return next(csv.reader([line]), [])


def parquet_chunks(source: FileSource, batch_size: int) -> Iterator[Chunk]:
    """A Parquet file, ``batch_size`` rows a chunk (rows numbered from 1 in messages)."""
    first = 1
    try:
        with source.open() as handle:
            for batch in pq.ParquetFile(handle).iter_batches(batch_size=batch_size):
                data = dict(zip(batch.schema.names, batch.columns, strict=True))
                yield Chunk(source.name, data, first, unit="row")
                first += batch.num_rows
    except (pa.ArrowInvalid, OSError) as error:
        raise DataError(f"{source.name}: cannot be read as Parquet ({error}).") from None


_PREDICT_ERRORS = (MLEngineError, ValueError, TypeError, KeyError, pa.ArrowException)


def _try(predictor: Predictor, chunk: Chunk) -> list[dict[str, Any]] | Exception:
    try:
        return predictor.predict_instances(chunk.data)
    except _PREDICT_ERRORS as error:
        return error


def predict_chunk(predictor: Predictor, chunk: Chunk) -> list[dict[str, Any]]:
    """Predictions for every row of ``chunk``.

    Raises:
        DataError: a row the model cannot use, named by file and line (found by bisection).
    """
    found = _try(predictor, chunk)
    if not isinstance(found, Exception):
        return found
    good, bad = 0, len(chunk)  # a prefix of `good` rows predicts, one of `bad` rows does not
    while bad - good > 1:
        middle = (good + bad) // 2
        if isinstance(_try(predictor, chunk.head(middle)), Exception):
            bad = middle
        else:
            good = middle
    single = _try(predictor, chunk.row(bad - 1))
    cause = single if isinstance(single, Exception) else found
    message = " ".join(str(cause).split()) or type(cause).__name__
    message = re.sub(r"^Instance \d+: ", "", message)
    message = re.sub(r" in row \d+", "", message)
    raise DataError(f"{chunk.where(bad - 1)}: {message}")


class ShardWriter:
    """JSON-lines shards written under a staging folder, moved into place by :meth:`commit`."""

    def __init__(self, output_path: str) -> None:
        self.fs, self.root = url_to_fs(output_path)
        self.staging = f"{self.root.rstrip('/')}/.staging-{uuid.uuid4().hex[:12]}"
        self.fs.makedirs(self.staging, exist_ok=True)
        self.parts: list[str] = []
        self._handle: Any = None
        self._rows = 0

    def new_shard(self) -> None:
        """Start the next shard (the next input file starts one)."""
        self.close_shard()
        self.parts.append(f"{self.staging}/part-{len(self.parts):05d}")
        self._handle = self.fs.open(self.parts[-1], "wb")
        self._rows = 0

    def write(self, predictions: Sequence[dict[str, Any]]) -> None:
        if self._handle is None or self._rows >= RESULT_SHARD_ROWS:
            self.new_shard()
        self._handle.write(b"".join(orjson.dumps(p) + b"\n" for p in predictions))
        self._rows += len(predictions)

    def close_shard(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None

    def commit(self) -> int:
        """Move the shards to ``prediction.results-0000i-of-0000N``; returns N."""
        if not self.parts:
            self.new_shard()  # no rows at all: still one (empty) shard, so the output exists
        self.close_shard()
        total = len(self.parts)
        for index, part in enumerate(self.parts):
            name = f"{RESULTS_PREFIX}{index:05d}-of-{total:05d}"
            self.fs.mv(part, f"{self.root.rstrip('/')}/{name}")
        self.fs.rm(self.staging, recursive=True)
        return total

    def abort(self) -> None:
        self.close_shard()
        if self.fs.exists(self.staging):
            self.fs.rm(self.staging, recursive=True)


def run(
    export_dir: str, data_format: str, input_paths: Sequence[str], output_path: str, batch_size: int
) -> dict[str, Any]:
    """Predict every row of the inputs into ``output_path``; returns the predictionOutput."""
    predictor = load(export_dir)
    sources = [source for pattern in input_paths for source in expand_patterns(pattern)]
    writer = ShardWriter(output_path)
    count = 0
    try:
        for source in sources:
            writer.new_shard()
            if data_format == "JSON":
                chunks = json_chunks(source, batch_size)
            elif data_format == "CSV":
                chunks = csv_chunks(source, predictor)
            else:
                chunks = parquet_chunks(source, batch_size)
            rows = 0
            for chunk in chunks:
                writer.write(predict_chunk(predictor, chunk))
                rows += len(chunk)
            count += rows
            print(f"Predicted {rows} rows of {source.name}", flush=True)
        shards = writer.commit()
    except BaseException:
        writer.abort()
        raise
    print(f"Wrote {count} predictions in {shards} shard(s) to {output_path}", flush=True)
    return {"outputPath": output_path, "predictionCount": count, "errorCount": 0}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point: run the job, leave ``result.json`` or ``error.txt`` in ``--run-dir``."""
    parser = argparse.ArgumentParser(prog="python -m mlengine.jobs.batch")
    parser.add_argument("--export-dir", required=True)
    parser.add_argument("--data-format", required=True, choices=["JSON", "CSV", "PARQUET"])
    parser.add_argument("--output-path", required=True)
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    parser.add_argument("--run-dir", required=True)
    parser.add_argument("input_paths", nargs="+")
    args = parser.parse_args(argv)
    try:
        result = run(
            args.export_dir, args.data_format, args.input_paths, args.output_path, args.batch_size
        )
    except (MLEngineError, OSError) as error:
        message = " ".join(str(error).split()) or type(error).__name__
        with open(os.path.join(args.run_dir, "error.txt"), "w", encoding="utf-8") as handle:
            handle.write(message)
        print(f"ERROR: {message}", file=sys.stderr, flush=True)
        return 1
    with open(os.path.join(args.run_dir, "result.json"), "w", encoding="utf-8") as handle:
        json.dump(result, handle)
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
