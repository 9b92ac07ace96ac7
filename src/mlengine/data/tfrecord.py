"""TFRecord files: length-framed records, read and written without TensorFlow.

Each record is ``uint64 length (LE) | uint32 masked CRC32C of the length | data | uint32
masked CRC32C of the data``. Writing computes both checksums (so TensorFlow reads the files);
reading checks the framing and, with ``verify=True``, the checksums (pure Python: slow on big
files, which is why it is off by default — a truncated or misframed file is still an error).
Files may be GZIP or ZLIB compressed, as TF's ``compression_type``.
"""

from __future__ import annotations

import gzip
import struct
import zlib
from collections.abc import Iterator
from typing import IO, Any

import fsspec

from mlengine.errors import DataError, InvalidParameterError

_MASK_DELTA = 0xA282EAD8


def _crc32c_table() -> list[int]:
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x82F63B78 if crc & 1 else crc >> 1
        table.append(crc)
    return table


_TABLE = _crc32c_table()


def crc32c(data: bytes) -> int:
    """CRC-32C (Castagnoli) of ``data``."""
    crc = 0xFFFFFFFF
    table = _TABLE
    for byte in data:
        crc = table[(crc ^ byte) & 0xFF] ^ (crc >> 8)
    return crc ^ 0xFFFFFFFF


def masked_crc32c(data: bytes) -> int:
    """TFRecord's masked checksum: rotated right by 15 bits plus a constant."""
    crc = crc32c(data)
    return (((crc >> 15) | (crc << 17)) + _MASK_DELTA) & 0xFFFFFFFF


def _compression(kind: str | None) -> str | None:
    if kind in (None, "", "NONE"):
        return None
    if kind in ("GZIP", "ZLIB"):
        return kind
    raise InvalidParameterError(f"compression_type must be '', 'GZIP' or 'ZLIB'; got {kind!r}.")


def read_bytes(path: str, compression_type: str | None = None) -> bytes:
    """A whole (possibly compressed) file's bytes, through fsspec."""
    kind = _compression(compression_type)
    with fsspec.open(path, "rb") as handle:
        raw = handle.read()
    if kind == "GZIP":
        return gzip.decompress(raw)
    if kind == "ZLIB":
        return zlib.decompress(raw)
    return raw


def read_records(
    path: str, compression_type: str | None = None, verify: bool = False
) -> Iterator[bytes]:
    """The records of a TFRecord file, in order."""
    data = read_bytes(path, compression_type)
    offset, size = 0, len(data)
    index = 0
    while offset < size:
        if offset + 12 > size:
            raise DataError(f"{path}: truncated TFRecord header of record {index}.")
        (length,) = struct.unpack_from("<Q", data, offset)
        start = offset + 12
        end = start + length
        if end + 4 > size:
            raise DataError(f"{path}: record {index} is truncated ({length} bytes announced).")
        record = data[start:end]
        if verify:
            (length_crc,) = struct.unpack_from("<I", data, offset + 8)
            (data_crc,) = struct.unpack_from("<I", data, end)
            if length_crc != masked_crc32c(data[offset : offset + 8]) or data_crc != masked_crc32c(
                record
            ):
                raise DataError(f"{path}: record {index} fails its checksum (corrupt file).")
        yield record
        offset = end + 4
        index += 1


class TFRecordWriter:
    """``tf.io.TFRecordWriter(path, options=None)``: ``write(record)``, ``close()``, and use as a
    context manager. ``options`` may be ``"GZIP"``/``"ZLIB"`` or an object with
    ``compression_type``."""

    def __init__(self, path: str, options: Any = None) -> None:
        kind = getattr(options, "compression_type", options)
        self._kind = _compression(kind)
        self._path = path
        self._buffer: list[bytes] = []
        self._handle: IO[bytes] | None = fsspec.open(path, "wb").open()

    def write(self, record: bytes | str) -> None:
        data = record.encode("utf-8") if isinstance(record, str) else bytes(record)
        header = struct.pack("<Q", len(data))
        self._buffer.append(header + struct.pack("<I", masked_crc32c(header)))
        self._buffer.append(data + struct.pack("<I", masked_crc32c(data)))

    def flush(self) -> None:
        if self._handle is None:
            raise InvalidParameterError(f"TFRecordWriter({self._path!r}) is closed.")

    def close(self) -> None:
        if self._handle is None:
            return
        raw = b"".join(self._buffer)
        if self._kind == "GZIP":
            raw = gzip.compress(raw)
        elif self._kind == "ZLIB":
            raw = zlib.compress(raw)
        self._handle.write(raw)
        self._handle.close()
        self._handle = None

    def __enter__(self) -> TFRecordWriter:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


__all__ = ["TFRecordWriter", "crc32c", "masked_crc32c", "read_bytes", "read_records"]
