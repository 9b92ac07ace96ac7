"""Serialized ``tf.train.Example`` records to feature columns, and feature values to records.

The parser takes a parse spec as TensorFlow's ``tf.io.parse_example`` does: per feature, a
fixed-length feature (``FixedLenFeature(shape, dtype, default_value)``: every example has
exactly ``prod(shape)`` values, or none and then the default; no default makes it required) or a
variable-length one (``VarLenFeature(dtype)``: any number of values per example). Only the dtypes
TensorFlow can parse are accepted: ``float32``, ``int64`` and ``string``.

Errors name the record (``Instance 3``, as the server's other errors do) and the feature, with
TensorFlow's rules: a missing required feature, a list of the wrong kind (``bytes_list`` where
``float_list`` is expected), the wrong number of values, bytes that are not a tf.Example at all.
The messages themselves come from :mod:`mlengine.protos` (protobuf's C parser), one record at a
time: about a microsecond per feature.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from google.protobuf.message import DecodeError

from mlengine import protos
from mlengine.errors import FeatureError, InvalidParameterError

FLOAT32, INT64, STRING = "float32", "int64", "string"
PARSEABLE = (FLOAT32, INT64, STRING)
_LIST_OF = {FLOAT32: "float_list", INT64: "int64_list", STRING: "bytes_list"}
Example = protos.message("tensorflow.Example")  # the tf.train.Example message class


@dataclass(frozen=True)
class ExampleFeature:
    """How one feature is parsed: ``kind`` ``"fixed"`` (``shape`` values per example,
    ``default`` when absent; None: required) or ``"var"`` (any number of values)."""

    kind: Literal["fixed", "var"]
    dtype: str
    shape: tuple[int, ...] = ()
    default: tuple[Any, ...] | None = None

    def __post_init__(self) -> None:
        if self.dtype not in PARSEABLE:
            raise InvalidParameterError(
                f"tf.Example features must be float32, int64 or string; got {self.dtype!r}."
            )
        if self.default is not None and len(self.default) != self.size:
            raise InvalidParameterError(
                f"A default of {len(self.default)} value(s) does not fit shape {list(self.shape)}."
            )

    @property
    def size(self) -> int:
        """Values per example of a fixed-length feature."""
        return math.prod(self.shape)

    def to_json(self) -> dict[str, Any]:
        """The spec as JSON data (exports store it)."""
        return {
            "kind": self.kind,
            "dtype": self.dtype,
            "shape": list(self.shape),
            "default": None if self.default is None else list(self.default),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ExampleFeature:
        """Rebuild from :meth:`to_json`; anything else is an :class:`InvalidParameterError`."""
        try:
            default = data.get("default")
            return cls(
                data["kind"],
                str(data["dtype"]),
                tuple(int(d) for d in data.get("shape", ())),
                None if default is None else tuple(default),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise InvalidParameterError(
                f"Invalid tf.Example feature spec {data!r}: {exc}"
            ) from None


@dataclass
class ParsedFeature:
    """One feature of a batch of examples: ``values`` flat (numpy for numbers, a list of str for
    strings) and, for a var-length feature, each example's number of values (``lengths``)."""

    values: np.ndarray | list[str]
    lengths: np.ndarray | None
    shape: tuple[int, ...]


def _values(feature: Any, spec: ExampleFeature, name: str, where: str) -> list[Any]:
    kind = feature.WhichOneof("kind")
    if kind is None:  # a Feature with no list set: TF treats it as absent
        return []
    if kind != _LIST_OF[spec.dtype]:
        raise FeatureError(
            f"{where}: feature {name!r} is a {kind}; expected a {_LIST_OF[spec.dtype]} "
            f"({spec.dtype})."
        )
    if spec.dtype == STRING:
        try:
            return [v.decode("utf-8") for v in feature.bytes_list.value]
        except UnicodeDecodeError:
            raise FeatureError(f"{where}: feature {name!r} is not UTF-8 text.") from None
    if spec.dtype == FLOAT32:
        return list(feature.float_list.value)
    return list(feature.int64_list.value)


def parse_examples(
    serialized: Sequence[Any],
    specs: Mapping[str, ExampleFeature],
    label: str = "Instance",
) -> dict[str, ParsedFeature]:
    """Parse serialized tf.Examples into one :class:`ParsedFeature` per spec.

    Args:
        serialized: One serialized ``tf.train.Example`` per record (str is taken as latin-1
            bytes, which is how a JSON string can carry them), or the parsed message itself
            (gRPC's ``Input`` carries Examples as messages).
        specs: The features to read, by name; other features of the records are ignored.
        label: How errors name a record (``"Instance"`` for a request, ``"Record"`` for data).

    Raises:
        FeatureError: naming the record and the feature, as the module docstring says.
    """
    columns: dict[str, list[Any]] = {name: [] for name in specs}
    lengths: dict[str, list[int]] = {name: [] for name, s in specs.items() if s.kind == "var"}
    for index, record in enumerate(serialized):
        where = f"{label} {index}"
        example = record if isinstance(record, Example) else _decoded(record, where)
        features = example.features.feature
        for name, spec in specs.items():
            values = _values(features[name], spec, name, where) if name in features else []
            if spec.kind == "var":
                columns[name].extend(values)
                lengths[name].append(len(values))
                continue
            if not values:
                if spec.default is None:
                    raise FeatureError(
                        f"{where}: feature {name!r} ({spec.dtype}) is required but missing from "
                        "the tf.Example."
                    )
                values = list(spec.default)
            elif len(values) != spec.size:
                raise FeatureError(
                    f"{where}: feature {name!r} has {len(values)} value(s); expected {spec.size} "
                    f"(shape {list(spec.shape)})."
                )
            columns[name].extend(values)
    out: dict[str, ParsedFeature] = {}
    for name, spec in specs.items():
        found = columns[name]
        flat: np.ndarray | list[str] = (
            found if spec.dtype == STRING else np.asarray(found, dtype=np.dtype(spec.dtype))
        )
        if spec.kind == "var":
            out[name] = ParsedFeature(flat, np.asarray(lengths[name], dtype=np.int64), ())
        else:
            out[name] = ParsedFeature(flat, None, spec.shape)
    return out


def _decoded(record: Any, where: str) -> Any:
    raw = record.encode("latin-1") if isinstance(record, str) else record
    if not isinstance(raw, bytes | bytearray | memoryview):
        raise FeatureError(
            f"{where}: expected a serialized tf.Example; got {type(record).__name__}."
        )
    try:
        return Example.FromString(bytes(raw))
    except DecodeError:
        raise FeatureError(f"{where}: the bytes are not a serialized tf.Example.") from None


def example_features(example: Any, label: str = "Instance 0") -> dict[str, Any]:
    """An Example's features as plain values by name, with no parse spec: one value as a
    scalar, several as a list, an empty feature left out; bytes are UTF-8 text (``label``
    names the record in errors). What a JSON instance would hold, for a model that declares no
    tf.Example parser of its own."""
    out: dict[str, Any] = {}
    for name, feature in example.features.feature.items():
        kind = feature.WhichOneof("kind")
        if kind is None:
            continue
        values: list[Any] = list(getattr(feature, kind).value)
        if kind == "bytes_list":
            try:
                values = [v.decode("utf-8") for v in values]
            except UnicodeDecodeError:
                raise FeatureError(f"{label}: feature {name!r} is not UTF-8 text.") from None
        if values:
            out[name] = values[0] if len(values) == 1 else values
    return out


def make_example(features: Mapping[str, Any]) -> Any:
    """A ``tf.train.Example`` of plain values: str/bytes become a bytes_list, bools and ints an
    int64_list, floats a float_list; a list or array gives several values (its items' kind)."""
    example = Example()
    for name, value in features.items():
        items = list(np.asarray(value).reshape(-1)) if isinstance(value, np.ndarray) else value
        if not isinstance(items, list | tuple):
            items = [items]
        feature = example.features.feature[str(name)]
        if not items:
            continue
        first = items[0]
        if isinstance(first, str | bytes):
            feature.bytes_list.value.extend(
                v.encode("utf-8") if isinstance(v, str) else v for v in items
            )
        elif isinstance(first, bool | int | np.integer):
            feature.int64_list.value.extend(int(v) for v in items)
        elif isinstance(first, float | np.floating):
            feature.float_list.value.extend(float(v) for v in items)
        else:
            raise InvalidParameterError(
                f"Feature {name!r}: cannot put a {type(first).__name__} into a tf.Example."
            )
    return example


__all__ = [
    "FLOAT32",
    "INT64",
    "PARSEABLE",
    "STRING",
    "Example",
    "ExampleFeature",
    "ParsedFeature",
    "example_features",
    "make_example",
    "parse_examples",
]
