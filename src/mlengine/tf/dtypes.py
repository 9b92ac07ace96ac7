"""``tf.string``, ``tf.float32``...: TensorFlow's dtype objects, as names over numpy dtypes.

A :class:`DType` compares equal to its name (``tf.float32 == "float32"``), so it can be passed
wherever mlengine takes a dtype string (``numeric_column(dtype=tf.float32)``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mlengine.errors import NotSupportedError
from mlengine.tf._namespace import module_getattr


class DType:
    """A TensorFlow dtype: ``name``, ``as_numpy_dtype`` and the ``is_*`` predicates."""

    def __init__(self, name: str, numpy_dtype: Any) -> None:
        self.name = name
        self.as_numpy_dtype = numpy_dtype

    @property
    def is_floating(self) -> bool:
        return self.name in ("float16", "float32", "float64", "bfloat16")

    @property
    def is_integer(self) -> bool:
        return self.name.startswith(("int", "uint"))

    @property
    def is_bool(self) -> bool:
        return self.name == "bool"

    @property
    def is_string(self) -> bool:
        return self.name == "string"

    @property
    def base_dtype(self) -> DType:
        return self

    def __eq__(self, other: object) -> bool:
        if isinstance(other, DType):
            return self.name == other.name
        if isinstance(other, str):
            return self.name == other
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.name)

    def __repr__(self) -> str:
        return f"tf.{self.name}"

    def __str__(self) -> str:
        return self.name


string = DType("string", object)
bool_ = DType("bool", np.bool_)
float16 = DType("float16", np.float16)
half = float16
float32 = DType("float32", np.float32)
float64 = DType("float64", np.float64)
double = float64
int8 = DType("int8", np.int8)
int16 = DType("int16", np.int16)
int32 = DType("int32", np.int32)
int64 = DType("int64", np.int64)
uint8 = DType("uint8", np.uint8)
uint16 = DType("uint16", np.uint16)

ALL = {d.name: d for d in (string, bool_, float16, float32, float64, int8, int16, int32, int64)}
ALL.update({d.name: d for d in (uint8, uint16)})


def as_dtype(value: Any) -> DType:
    """``tf.as_dtype``: a DType from a DType, its name, a numpy dtype or a Python type."""
    if isinstance(value, DType):
        return value
    if value is str or value is bytes:
        return string
    if value is float:
        return float32
    if value is int:
        return int32
    if value is bool:
        return bool_
    if isinstance(value, str) and value in ALL:
        return ALL[value]
    try:
        kind = np.dtype(value)
    except TypeError:
        raise NotSupportedError(f"{value!r} is not a TensorFlow dtype mlengine knows.") from None
    if kind.kind in "OUS":
        return string
    if kind.name in ALL:
        return ALL[kind.name]
    raise NotSupportedError(f"dtype {kind.name} is not supported by mlengine.tf.")


def of_array(value: Any) -> DType:
    """The DType of a numpy array's values (strings: ``tf.string``)."""
    return (
        as_dtype(np.asarray(value).dtype) if not hasattr(value, "dtype") else as_dtype(value.dtype)
    )


__getattr__ = module_getattr("tf.dtypes")

__all__ = [
    "ALL",
    "DType",
    "as_dtype",
    "bool_",
    "double",
    "float16",
    "float32",
    "float64",
    "half",
    "int8",
    "int16",
    "int32",
    "int64",
    "of_array",
    "string",
    "uint8",
    "uint16",
]
