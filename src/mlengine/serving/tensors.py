"""Tensors as the Open Inference Protocol v2 carries them in raw bytes: the binary tensor data
extension of HTTP (``Inference-Header-Content-Length``, ``binary_data_size``) and the
``raw_input_contents`` / ``raw_output_contents`` of gRPC.

One encoding serves both (Triton's ``extension_binary_data.md``; tritonclient's HTTP and gRPC
clients share one serializer): a tensor's elements row-major, little-endian, without padding;
``BOOL`` one byte; ``BYTES`` each element as a 4-byte little-endian unsigned length followed by
its bytes. Every size is checked against the tensor's shape before anything is allocated, and
errors name the tensor, so a body whose sizes disagree with its header is a 400 (gRPC:
INVALID_ARGUMENT), never a crash.
"""

from __future__ import annotations

import math
import struct
from collections.abc import Sequence
from typing import Any

import numpy as np

from mlengine.serving.errors import invalid

BYTES = "BYTES"
NUMPY_DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype("<u1"),
    "UINT16": np.dtype("<u2"),
    "UINT32": np.dtype("<u4"),
    "UINT64": np.dtype("<u8"),
    "INT8": np.dtype("<i1"),
    "INT16": np.dtype("<i2"),
    "INT32": np.dtype("<i4"),
    "INT64": np.dtype("<i8"),
    "FP16": np.dtype("<f2"),
    "FP32": np.dtype("<f4"),
    "FP64": np.dtype("<f8"),
}
"""The fixed-size v2 datatypes and their little-endian numpy dtypes (BF16 has none in numpy)."""

_LENGTH = struct.Struct("<I")


def check_shape(shape: Any, name: str) -> list[int]:
    """A v2 shape: a list of non-negative ints (an element count that fits in memory)."""
    if not isinstance(shape, list | tuple) or not all(
        type(size) is int and size >= 0 for size in shape
    ):
        raise invalid(f"Tensor {name!r} has shape {shape!r}; expected a list of sizes >= 0.")
    return list(shape)


def decode_raw(datatype: str, raw: bytes | memoryview, shape: Sequence[int], name: str) -> Any:
    """A tensor's raw bytes as a flat array of ``prod(shape)`` elements: a numpy array for a
    fixed-size datatype, a list of ``bytes`` for BYTES.

    Raises:
        ApiError: INVALID_ARGUMENT when the byte count does not fit the shape and datatype,
            naming the tensor, both sizes and the datatype.
    """
    count = math.prod(shape)
    if datatype == BYTES:
        return decode_bytes(raw, count, name)
    dtype = NUMPY_DTYPES.get(datatype)
    if dtype is None:
        raise invalid(
            f"Tensor {name!r} has datatype {datatype!r}, which this server cannot read from "
            f"raw bytes; use one of {[*NUMPY_DTYPES, BYTES]}."
        )
    expected = count * dtype.itemsize
    if len(raw) != expected:
        raise invalid(
            f"Tensor {name!r} has {len(raw)} bytes of data; shape {list(shape)} of {datatype} "
            f"needs {expected}."
        )
    return np.frombuffer(raw, dtype=dtype)


def decode_bytes(raw: bytes | memoryview, count: int, name: str) -> list[bytes]:
    """``count`` BYTES elements (4-byte little-endian length, then the bytes), which must fill
    ``raw`` exactly."""
    data = bytes(raw)  # slices of bytes are the elements themselves (no second copy)
    unpack = _LENGTH.unpack_from
    values: list[bytes] = []
    append = values.append
    offset, end = 0, len(data)
    for index in range(count):
        if end - offset < 4:
            raise invalid(
                f"Tensor {name!r}: its BYTES data ends in element {index} of {count} (no room "
                "for the 4-byte length)."
            )
        (length,) = unpack(data, offset)
        start = offset + 4
        offset = start + length
        if offset > end:
            raise invalid(
                f"Tensor {name!r}: BYTES element {index} declares {length} bytes but only "
                f"{end - start} remain."
            )
        append(data[start:offset])
    if offset != end:
        raise invalid(
            f"Tensor {name!r} has {end - offset} bytes left over after its {count} BYTES "
            "elements: its size disagrees with its shape."
        )
    return values


def encode_raw(datatype: str, values: Any) -> bytes:
    """A tensor's raw bytes: ``values`` (any array-like) row-major as ``datatype``."""
    if datatype == BYTES:
        return encode_bytes(np.asarray(values, dtype=object).reshape(-1))
    return np.ascontiguousarray(values, dtype=NUMPY_DTYPES[datatype]).tobytes()


def encode_bytes(values: Any) -> bytes:
    """BYTES elements: each a 4-byte little-endian length and its UTF-8 (or raw) bytes."""
    parts: list[bytes] = []
    for value in values:
        data = value if isinstance(value, bytes) else str(value).encode()
        parts.append(_LENGTH.pack(len(data)))
        parts.append(data)
    return b"".join(parts)


def utf8(values: Sequence[bytes], name: str) -> list[str]:
    """BYTES elements as text (string features take UTF-8)."""
    try:
        return [value.decode("utf-8") for value in values]
    except UnicodeDecodeError:
        for index, value in enumerate(values):
            try:
                value.decode("utf-8")
            except UnicodeDecodeError:
                raise invalid(
                    f"Tensor {name!r}: BYTES element {index} is not UTF-8 text (string "
                    "features take text)."
                ) from None
        raise


__all__ = [
    "BYTES",
    "NUMPY_DTYPES",
    "check_shape",
    "decode_bytes",
    "decode_raw",
    "encode_bytes",
    "encode_raw",
    "utf8",
]
