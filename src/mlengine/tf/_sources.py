"""``tf.data``'s sources: arrays (``from_tensor_slices``), text lines, TFRecords, file lists.

Each yields chunks of up to 65,536 elements (see :mod:`mlengine.tf.data`): a file is read whole
(through fsspec, decompressed as asked) and cut into chunks of lines or records, built without a
Python loop per line.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pyarrow as pa

from mlengine.data.readers import expand_patterns
from mlengine.data.tfrecord import read_bytes, read_records
from mlengine.errors import DataError, InvalidParameterError
from mlengine.tf import dtypes
from mlengine.tf._tensor import Tensor
from mlengine.tf._traced import _spec_of, from_output
from mlengine.tf._values import (
    Strings,
    flatten,
    map_structure,
    pack,
    shape_of,
    slice_structure,
    structure_rows,
)
from mlengine.tf.data import Dataset, _structure
from mlengine.tuning import INPUT_CHUNK_ROWS as CHUNK_ROWS


class _Slices(Dataset):
    def __init__(self, tensors: Any) -> None:
        structure = _structure(tensors)
        leaves = [from_output(leaf) for leaf in flatten(structure)]
        rows = {shape_of(v)[0] if shape_of(v) else None for v in leaves}
        if None in rows or len(rows) != 1:
            raise InvalidParameterError(
                "from_tensor_slices needs components with the same first dimension; got "
                f"{sorted(map(str, rows))}."
            )
        self.data = pack(structure, leaves)

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        rows = structure_rows(self.data)
        for start in range(0, rows, CHUNK_ROWS):
            yield slice_structure(self.data, start, min(rows, start + CHUNK_ROWS))

    def _spec(self) -> Any:
        return map_structure(_spec_of, self.data)


def _filenames(filenames: Any) -> list[str]:
    if isinstance(filenames, Tensor):
        filenames = filenames.numpy()
    if isinstance(filenames, str | bytes):
        filenames = [filenames]
    names = [
        f.decode("utf-8") if isinstance(f, bytes) else str(f)
        for f in np.asarray(filenames, dtype=object).reshape(-1)
    ]
    if not names:
        raise InvalidParameterError("A dataset of files needs at least one file name.")
    return names


def split_lines(data: bytes) -> pa.Array:
    """A file's lines as a pyarrow string array (TF's TextLineDataset: a final newline ends the
    last line; ``\\r\\n`` ends a line too), built from the bytes without a Python loop."""
    if not data:
        return pa.array([], pa.string())
    raw = np.frombuffer(data, dtype=np.uint8)
    ends = np.flatnonzero(raw == 10)
    starts = np.concatenate([[0], ends + 1])
    stops = np.concatenate([ends, [len(raw)]])
    if stops[-1] == starts[-1]:  # the file ends with a newline: no empty last line
        starts, stops = starts[:-1], stops[:-1]
    carriage = (stops > starts) & (raw[np.maximum(stops - 1, 0)] == 13)
    stops = stops - carriage
    lengths = stops - starts
    if not carriage.any() and len(starts) and (starts[1:] == stops[:-1] + 1).all():
        # Lines are the bytes between newlines: keep the buffer, drop the newlines.
        keep = np.ones(len(raw), dtype=bool)
        keep[ends] = False
        body = raw[keep]
    else:
        index = np.repeat(
            starts - np.concatenate([[0], np.cumsum(lengths)[:-1]]), lengths
        ) + np.arange(int(lengths.sum()))
        body = raw[index]
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(
        np.int32 if len(body) < 2**31 else np.int64
    )
    kind = pa.string() if offsets.dtype == np.int32 else pa.large_string()
    array = pa.Array.from_buffers(
        kind, len(lengths), [None, pa.py_buffer(offsets), pa.py_buffer(body.tobytes())]
    )
    try:
        array.validate(full=True)
    except pa.ArrowInvalid:
        return array.view(pa.binary() if kind == pa.string() else pa.large_binary())
    return array


class TextLineDataset(Dataset):
    """``tf.data.TextLineDataset(filenames, compression_type=None, ...)``: one element per line."""

    def __init__(
        self,
        filenames: Any,
        compression_type: str | None = None,
        buffer_size: Any = None,
        num_parallel_reads: Any = None,
        name: str | None = None,
    ) -> None:
        self.filenames = _filenames(filenames)
        self.compression_type = compression_type

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        for path in self.filenames:
            paths = (
                [source.path for source in expand_patterns(path)]
                if any(c in path for c in "*?[")
                else [path]
            )
            for one in paths:
                try:
                    lines = split_lines(read_bytes(one, self.compression_type))
                except FileNotFoundError:
                    raise DataError(f"TextLineDataset: {one!r} does not exist.") from None
                for start in range(0, len(lines), CHUNK_ROWS):
                    part = lines.slice(start, CHUNK_ROWS)
                    yield Strings(part, (len(part),))

    def _spec(self) -> Any:
        return dtypes.string


class TFRecordDataset(Dataset):
    """``tf.data.TFRecordDataset(filenames, compression_type=None, ...)``: one element per
    record (serialized bytes)."""

    def __init__(
        self,
        filenames: Any,
        compression_type: str | None = None,
        buffer_size: Any = None,
        num_parallel_reads: Any = None,
        name: str | None = None,
    ) -> None:
        self.filenames = _filenames(filenames)
        self.compression_type = compression_type

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        for path in self.filenames:
            records = list(read_records(path, self.compression_type))
            for start in range(0, len(records), CHUNK_ROWS):
                part = pa.array(records[start : start + CHUNK_ROWS], pa.binary())
                yield Strings(part, (len(part),))

    def _spec(self) -> Any:
        return dtypes.string


class _Files(Dataset):
    def __init__(self, pattern: Any, shuffle: bool, seed: int | None) -> None:
        patterns = _filenames(pattern)
        self.files = sorted(source.path for source in expand_patterns(patterns))
        self.shuffling = shuffle
        self.seed = seed

    def _chunks(self, rng: np.random.Generator) -> Iterator[Any]:
        count = len(self.files)
        order = rng.permutation(count) if self.shuffling else np.arange(count)
        yield Strings(pa.array([self.files[i] for i in order], pa.string()), (len(self.files),))

    def _spec(self) -> Any:
        return dtypes.string


__all__ = ["TFRecordDataset", "TextLineDataset", "split_lines"]
