"""The request schema of a version, derived from its export's signature, checked at the edge.

Every protocol turns its request into :class:`Columns` (one list of values per signature input,
all of one length) through :class:`InputSchema`, which checks each value against the input's
dtype before the model sees it: ``float32`` inputs take numbers finite in float32 (``1e300`` is
refused, not computed into an infinite answer), ``int64`` inputs integers, ``string`` inputs
strings or TF's ``{"b64": "..."}`` of at most ``max_string_length`` characters (the server's
``--max-string-length``: a client cannot hand the model's memory of values arbitrarily long
strings); a one-element list stands for its value (tf.Example features are lists). A required
input that is missing or ``null`` is refused; an optional one becomes ``null``, which the
feature columns treat as TensorFlow does. Errors name the instance and the feature, as the
Predictor's do; inputs the signature does not list are ignored.

The usual request (a JSON object with an ``instances`` list of objects whose values already have
their inputs' types) is decoded straight from its bytes into typed values by msgspec
(:meth:`InputSchema.decode_rows`), which checks each value in C as it parses; anything else goes
through orjson and the checks here, which also name what is wrong.

The decoder names the values of each string input that the model remembers (its
:class:`~mlengine.feature_column.memory.ValueMemory`, up to :data:`~mlengine.tuning.KNOWN_STRINGS`
per input; an input with more takes any string): msgspec then answers a known value with the
string the memory holds, one lookup, without making a string, and the model's string tables look
it up without hashing it again (a string keeps its hash). A request with a value the decoder does
not know goes through the checks instead, which teach the memory the request's values.
"""

from __future__ import annotations

import base64
import binascii
import functools
import operator
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import msgspec
import numpy as np
import pyarrow as pa

from mlengine.feature_column.encoding import FLOAT32_OVERFLOW
from mlengine.feature_column.memory import ValueMemory
from mlengine.limits import json_bytes_depth_ok
from mlengine.serving.errors import ApiError, invalid
from mlengine.serving.http import json_type
from mlengine.serving.settings import DEFAULT_MAX_STRING_LENGTH
from mlengine.tuning import KNOWN_STRINGS, SMALL_BATCH_ROWS

FLOAT, INT, STRING = "float32", "int64", "string"
ARROW_TYPES = {FLOAT: pa.float64(), INT: pa.int64(), STRING: pa.string()}
_EXACT = 2**53  # integers beyond this are sent to the model as floats (float32 inputs)
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1
_NOT_FINITE = (
    f"must be a finite number in float32, the model's dtype (magnitude below "
    f"{FLOAT32_OVERFLOW:.7g})"
)


class _Bad(Exception):
    """A value that does not fit its input; ``reason`` completes "feature 'x' ..."."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def show(value: Any) -> str:
    """A short rendering of a bad value for a message."""
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _to_float(value: Any) -> Any:
    kind = type(value)
    if kind is float:
        if -FLOAT32_OVERFLOW < value < FLOAT32_OVERFLOW:  # False for NaN
            return value
        raise _Bad(f"{_NOT_FINITE}; got {show(value)}")
    if kind is int:
        if -_EXACT <= value <= _EXACT:
            return value
        if -FLOAT32_OVERFLOW < value < FLOAT32_OVERFLOW:
            return float(value)
        raise _Bad(f"{_NOT_FINITE}; got {show(value)}")
    if kind is list and len(value) == 1 and type(value[0]) is not list:
        return _to_float(value[0])
    raise _Bad(f"must be a number; got {json_type(value)} ({show(value)})")


def _to_int(value: Any) -> Any:
    kind = type(value)
    if kind is int:
        if _INT64_MIN <= value <= _INT64_MAX:
            return value
        raise _Bad(f"must be a 64-bit integer; got {show(value)}")
    if kind is float and value.is_integer() and _INT64_MIN <= value <= _INT64_MAX:
        return int(value)
    if kind is list and len(value) == 1 and type(value[0]) is not list:
        return _to_int(value[0])
    raise _Bad(f"must be an integer; got {json_type(value)} ({show(value)})")


def decode_b64(value: Any) -> str:
    """The text of TF's ``{"b64": "..."}`` value (base64 of UTF-8)."""
    encoded = value.get("b64")
    if len(value) != 1 or not isinstance(encoded, str):
        raise _Bad(f'must be a string or {{"b64": "<base64>"}}; got {show(value)}')
    try:
        raw = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError):
        raise _Bad("has a b64 value that is not valid base64") from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise _Bad(
            "has a b64 value that is not UTF-8 text (binary features are not supported)"
        ) from None


def _to_str(value: Any, limit: int = DEFAULT_MAX_STRING_LENGTH) -> Any:
    kind = type(value)
    if kind is list and len(value) == 1:
        value, kind = value[0], type(value[0])
    if kind is dict:
        value, kind = decode_b64(value), str
    if kind is not str:
        raise _Bad(f"must be a string; got {json_type(value)} ({show(value)})")
    if len(value) > limit:
        raise _Bad(
            f"is a string of {len(value)} characters, over the server's limit of {limit} "
            "(--max-string-length)"
        )
    return value


CONVERTERS: dict[str, Callable[[Any], Any]] = {FLOAT: _to_float, INT: _to_int, STRING: _to_str}
_PLAIN: dict[str, tuple[type, ...]] = {FLOAT: (int, float), INT: (int,), STRING: (str,)}
# The ints each input takes as they are (a float32 input converts bigger ones to floats).
_INT_RANGE = {FLOAT: (-_EXACT, _EXACT), INT: (_INT64_MIN, _INT64_MAX), STRING: (0, 0)}


@dataclass(frozen=True)
class Columns:
    """Checked feature values: one list per signature input, ``count`` values each."""

    values: dict[str, list[Any]]
    count: int

    def features(self, dtypes: Mapping[str, str]) -> dict[str, Any]:
        """The columns as the Predictor reads them: typed arrow arrays, or for a few rows the
        lists themselves (the transform's small-batch path reads Python values directly)."""
        if self.count <= SMALL_BATCH_ROWS:
            return self.values
        return {
            name: pa.array(v, type=ARROW_TYPES[dtypes[name]]) for name, v in self.values.items()
        }

    def slice(self, start: int, stop: int) -> Columns:
        stop = min(stop, self.count)
        return Columns({k: v[start:stop] for k, v in self.values.items()}, stop - start)


def _array_column(
    name: str, dtype: str, values: Any, max_string_length: int = DEFAULT_MAX_STRING_LENGTH
) -> list[Any]:
    """One input's values from a raw tensor, checked as a whole, by the rules JSON values
    meet: text of at most ``max_string_length`` (bytes, as a tensor carries it) for a string
    input, numbers finite in float32 for a float32 one (integers beyond 2**53 become floats, as
    in JSON), 64-bit integers for an int64 one. Errors name the instance and the feature."""
    if dtype == STRING:
        if isinstance(values, np.ndarray):
            raise invalid(f"Input {name!r} takes text (BYTES); got numbers ({values.dtype}).")
        texts = list(values)
        for index, text in enumerate(texts):
            if len(text) > max_string_length:
                raise invalid(
                    f"Instance {index}: feature {name!r} is a string of {len(text)} characters, "
                    f"over the server's limit of {max_string_length} (--max-string-length)."
                )
        return texts
    if not isinstance(values, np.ndarray) or values.dtype.kind not in "iuf":
        raise invalid(f"Input {name!r} takes numbers; got {type(values).__name__} values.")
    if values.dtype.kind == "f":
        if dtype == INT:
            raise invalid(f"Input {name!r} takes integers; got {values.dtype} values.")
        with np.errstate(invalid="ignore"):
            fits = np.abs(values.astype(np.float64)) < FLOAT32_OVERFLOW  # False for NaN
        if not fits.all():
            index = int(np.argmin(fits))
            value = show(values[index].item())
            raise invalid(f"Instance {index}: feature {name!r} {_NOT_FINITE}; got {value}.")
        return values.astype(np.float64).tolist()
    if values.size and dtype == INT and values.dtype.kind == "u" and values.max() > _INT64_MAX:
        index = int(np.argmax(values > _INT64_MAX))
        raise invalid(f"Instance {index}: feature {name!r} must be a 64-bit integer.")
    if values.size and dtype == FLOAT and (values.max() > _EXACT or values.min() < -_EXACT):
        return [float(value) for value in values.tolist()]  # (a 64-bit int fits float32)
    return values.tolist()


def concat(parts: Sequence[Columns]) -> Columns:
    """Several requests' columns as one batch (same inputs, since one version's schema)."""
    if len(parts) == 1:
        return parts[0]
    merged: dict[str, list[Any]] = {name: [] for name in parts[0].values}
    for part in parts:
        for name, values in part.values.items():
            merged[name].extend(values)
    return Columns(merged, sum(part.count for part in parts))


def _values_getter(names: list[str]) -> Callable[[dict[str, Any]], tuple[Any, ...]]:
    """``instance -> (instance[n] for n in names)``, one C call (itemgetter of one key gives the
    value itself, not a tuple)."""
    if len(names) > 1:
        return operator.itemgetter(*names)
    if names:
        single = operator.itemgetter(names[0])
        return lambda instance: (single(instance),)
    return lambda instance: ()


_DECODED_TYPES: dict[str, Any] = {
    # JSON integers too (as floats); finite in float32 (JSON has no NaN, the bound the rest)
    FLOAT: Annotated[float, msgspec.Meta(gt=-FLOAT32_OVERFLOW, lt=FLOAT32_OVERFLOW)],
    INT: Annotated[int, msgspec.Meta(ge=_INT64_MIN, le=_INT64_MAX)],
}


def _rows_decoder(
    specs: list[tuple[str, str, bool]],
    known: Mapping[str, Sequence[str] | None],
    max_string_length: int = DEFAULT_MAX_STRING_LENGTH,
) -> msgspec.json.Decoder[Any] | None:
    """A decoder of ``{"instances": [{input: value}, ...], "signature_name"?: "..."}`` that
    accepts only values of their inputs' types (``null`` for an optional input), and no other
    key in the body; keys of an instance that the signature does not list are skipped (the
    caller checks the body's depth, which a skipped value could otherwise exceed).

    A string input takes only its ``known`` values (any string where they are None); None when
    a required string input has no known value yet (every request goes through the checks).
    """
    fields: list[Any] = []
    types = {**_DECODED_TYPES, STRING: Annotated[str, msgspec.Meta(max_length=max_string_length)]}
    for index, (name, dtype, required) in enumerate(specs):
        kind = types[dtype]
        values = known.get(name)
        if dtype == STRING and values is not None:
            if not values and required:
                return None
            # No value known yet: only null, until the checks have seen one.
            kind = Literal[tuple(values)] if values else type(None)
        # Fields are f0, f1...: input names need not be Python identifiers.
        fields.append((f"f{index}", kind) if required else (f"f{index}", kind | None, None))
    instance: Any = msgspec.defstruct(
        "Instance",
        fields,
        kw_only=True,
        rename={f"f{index}": name for index, (name, _, _) in enumerate(specs)},
        gc=False,
    )
    body = msgspec.defstruct(
        "RowsBody",
        [("instances", list[instance]), ("signature_name", str | None, None)],
        forbid_unknown_fields=True,
        gc=False,
    )
    return msgspec.json.Decoder(body)


class InputSchema:
    """Checks and converts request values for one signature (see the module docstring).

    Args:
        inputs: the signature's inputs (``name``, ``dtype``, ``required``).
        memory: the model's memory of string values, which the decoder names (a new one when
            None: the schema then only learns what its own requests bring).
        known_strings: at most this many values of a string input are named.
        max_string_length: the longest string value taken, in characters (after b64
            decoding); a longer one is refused naming its feature and instance.
    """

    def __init__(
        self,
        inputs: Iterable[Mapping[str, Any]],
        memory: ValueMemory | None = None,
        known_strings: int = KNOWN_STRINGS,
        max_string_length: int = DEFAULT_MAX_STRING_LENGTH,
    ):
        specs = []
        for spec in inputs:
            dtype = str(spec.get("dtype"))
            if dtype not in CONVERTERS:
                raise ApiError("INTERNAL", f"Input {spec.get('name')!r} has unknown dtype {dtype}.")
            specs.append((str(spec["name"]), dtype, bool(spec.get("required"))))
        self.specs: list[tuple[str, str, bool]] = specs
        self.max_string_length = max_string_length
        self._converters: dict[str, Callable[[Any], Any]] = {
            **CONVERTERS,
            STRING: functools.partial(_to_str, limit=max_string_length),
        }
        # For one instance: the plain Python types each input takes as they are.
        self._plain_types = [
            (name, _PLAIN[dtype], required, _INT_RANGE[dtype]) for name, dtype, required in specs
        ]
        self.names = [name for name, _, _ in specs]
        # An instance's values, in the order of ``names`` (KeyError when one is absent).
        self._gather = _values_getter(self.names)
        self.dtypes = {name: dtype for name, dtype, _ in specs}
        self.required = [name for name, _, required in specs if required]
        self.single = self.names[0] if len(self.names) == 1 else None
        memory = ValueMemory() if memory is None else memory
        self._tables = {name: memory.table(name) for name, dtype, _ in specs if dtype == STRING}
        self._known_limit = known_strings
        self._named: dict[str, int | None] = {}  # values the decoder names, per string input
        self._rows_decoder = self._build_decoder()

    def _build_decoder(self) -> msgspec.json.Decoder[Any] | None:
        """A decoder naming each string input's remembered values (see :func:`_rows_decoder`);
        an input with more than ``known_strings`` takes any string."""
        known: dict[str, Sequence[str] | None] = {}
        for name, table in self._tables.items():
            values = table.raw_values
            known[name] = None if len(values) > self._known_limit else list(values)
            self._named[name] = None if known[name] is None else len(values)
        return _rows_decoder(self.specs, known, self.max_string_length)

    def _outdated(self) -> bool:
        """Whether a string input the decoder names has been taught new values since."""
        return any(
            count is not None and len(self._tables[name].raw_values) != count
            for name, count in self._named.items()
        )

    def decode_rows(self, raw: bytes) -> tuple[Columns, str | None] | None:
        """The columns and ``signature_name`` of a row-format body whose values all have their
        inputs' types, decoded and checked in one pass; None for any other body (then
        :func:`~mlengine.serving.http.parse_json` and :meth:`from_rows` run, and name what is
        wrong)."""
        decoder = self._rows_decoder
        if decoder is None:
            return None
        try:
            body = decoder.decode(raw)
        except (msgspec.ValidationError, msgspec.DecodeError, UnicodeDecodeError, RecursionError):
            return None  # (a skipped unknown key nested too deep: the checks' parser says so)
        instances = body.instances
        if not instances or not json_bytes_depth_ok(raw):
            return None  # (deeper than the bound in a skipped key: the checks' parser says so)
        # One tuple per instance in the order of ``names``, transposed: no call per value.
        columns = map(list, zip(*map(msgspec.structs.astuple, instances), strict=True))
        return Columns(dict(zip(self.names, columns, strict=True)), len(instances)), (
            body.signature_name
        )

    def from_rows(self, instances: Any, label: str = "Instance") -> Columns:
        """Row format: a list of instances, each an object of feature values (or, for a
        one-input signature, the value itself). The memory learns their strings, so that
        :meth:`decode_rows` decodes them next time."""
        columns = self._checked_rows(instances, label)
        if self._tables:
            for name, table in self._tables.items():
                table.learn(columns.values[name])
            if self._outdated():
                self._rows_decoder = self._build_decoder()
        return columns

    def _checked_rows(self, instances: Any, label: str) -> Columns:
        if not isinstance(instances, list):
            raise invalid(f"'instances' must be a list; got {json_type(instances)}.")
        if not instances:
            raise invalid("No instances to predict: the list is empty.")
        if self.single is None and all(type(instance) is dict for instance in instances):
            if len(instances) == 1:
                plain = self._plain_row(instances[0])
            else:
                plain = self._plain_columns(instances)
            if plain is not None:
                return Columns(plain, len(instances))
        columns: dict[str, list[Any]] = {name: [] for name in self.names}
        plan = [
            (name, self._converters[dtype], required, columns[name])
            for name, dtype, required in self.specs
        ]
        single = self.single
        for index, instance in enumerate(instances):
            if type(instance) is not dict:
                if single is None:
                    raise invalid(
                        f"{label} {index} must be a JSON object of feature values; got "
                        f"{json_type(instance)}."
                    )
                instance = {single: instance}
            for name, convert, required, column in plan:
                value = instance.get(name)
                if value is None:
                    if required:
                        state = "null" if name in instance else "missing"
                        raise invalid(f"{label} {index}: required feature {name!r} is {state}.")
                    column.append(None)
                    continue
                try:
                    column.append(convert(value))
                except _Bad as bad:
                    raise invalid(f"{label} {index}: feature {name!r} {bad.reason}.") from None
        return Columns(columns, len(instances))

    def _plain_row(self, instance: dict[str, Any]) -> dict[str, list[Any]] | None:
        """The columns of one instance whose values are all what their inputs take (strings,
        finite numbers, 64-bit integers, nulls for optional inputs): the usual request, checked
        with a type test per value. None sends it through the value-by-value path."""
        columns: dict[str, list[Any]] = {}
        for name, kinds, required, (low, high) in self._plain_types:
            value: Any = instance.get(name)
            kind = type(value)
            if kind not in kinds:
                if value is not None or required:
                    return None
            elif kind is float and not -FLOAT32_OVERFLOW < value < FLOAT32_OVERFLOW:
                return None
            elif kind is int and not low <= value <= high:
                return None
            elif kind is str and len(value) > self.max_string_length:
                return None
            columns[name] = [value]
        return columns

    def _plain_columns(self, instances: list[dict[str, Any]]) -> dict[str, list[Any]] | None:
        """The columns when every value is already what its input takes (strings, finite
        numbers, 64-bit integers, nulls for optional inputs): checked a column at a time by
        type, with no call per value. None sends the request through the value-by-value
        path, which converts what it can and names the first bad value."""
        try:  # every instance has every input: one C-level pass gathers and transposes
            gathered: Iterable[Sequence[Any]] = zip(*map(self._gather, instances), strict=True)
        except KeyError:  # an optional input is left out somewhere: None where absent
            gathered = ([instance.get(name) for instance in instances] for name in self.names)
        columns: dict[str, list[Any]] = {}
        for (name, dtype, required), found in zip(self.specs, gathered, strict=True):
            values = list(found)
            kinds = set(map(type, values))
            if type(None) in kinds:
                if required:
                    return None
                kinds.discard(type(None))
                numbers = [v for v in values if v is not None]
            else:
                numbers = values
            if not kinds:
                pass
            elif dtype == STRING:
                if kinds != {str} or max(map(len, numbers)) > self.max_string_length:
                    return None
            elif dtype == FLOAT:
                if not kinds <= {int, float}:
                    return None
                if int in kinds and not (-_EXACT <= min(numbers) and max(numbers) <= _EXACT):
                    return None
                if min(numbers) <= -FLOAT32_OVERFLOW or max(numbers) >= FLOAT32_OVERFLOW:
                    return None  # beyond float32 (JSON has no NaN)
            elif kinds != {int} or min(numbers) < _INT64_MIN or max(numbers) > _INT64_MAX:
                return None
            columns[name] = values
        return columns

    def from_lists(
        self,
        lists: Mapping[str, list[Any]],
        count: int,
        what: str = "input",
        arrays: Mapping[str, Any] | None = None,
    ) -> Columns:
        """Columnar values: ``lists`` maps input names to ``count`` values each (checked by the
        caller); a missing optional input is all ``null``. ``arrays`` holds inputs decoded from
        raw tensors (numpy arrays of numbers, lists of text), checked a column at a time."""
        if count == 0:
            raise invalid("No instances to predict: the inputs are empty.")
        columns: dict[str, list[Any]] = {}
        for name, dtype, required in self.specs:
            if arrays is not None and name in arrays:
                columns[name] = _array_column(name, dtype, arrays[name], self.max_string_length)
                continue
            values = lists.get(name)
            if values is None:
                if required:
                    raise invalid(f"Required {what} {name!r} is missing.")
                columns[name] = [None] * count
                continue
            convert = self._converters[dtype]
            column: list[Any] = []
            for index, value in enumerate(values):
                if value is None:
                    if required:
                        raise invalid(f"Instance {index}: required feature {name!r} is null.")
                    column.append(None)
                    continue
                try:
                    column.append(convert(value))
                except _Bad as bad:
                    raise invalid(f"Instance {index}: feature {name!r} {bad.reason}.") from None
            columns[name] = column
        return Columns(columns, count)

    def from_columns(self, inputs: Any) -> Columns:
        """TF Serving's columnar ``inputs``: an object of per-input lists (or, for a one-input
        signature, the list itself)."""
        if not isinstance(inputs, dict):
            if self.single is not None and isinstance(inputs, list):
                inputs = {self.single: inputs}
            else:
                raise invalid(
                    "'inputs' must be an object mapping input names to lists of values; got "
                    f"{json_type(inputs)}."
                )
        lists: dict[str, list[Any]] = {}
        count: int | None = None
        first = ""
        for name in self.names:
            values = inputs.get(name)
            if values is None:
                continue
            if not isinstance(values, list):
                raise invalid(
                    f"Input {name!r} must be a list with one value per instance; got "
                    f"{json_type(values)}."
                )
            if count is None:
                count, first = len(values), name
            elif len(values) != count:
                raise invalid(
                    f"Inputs {first!r} and {name!r} have different batch sizes "
                    f"({count} and {len(values)})."
                )
            lists[name] = values
        if count is None:
            missing = self.required or self.names
            raise invalid(f"'inputs' holds none of the model's inputs {missing[:20]}.")
        return self.from_lists(lists, count)


__all__ = [
    "ARROW_TYPES",
    "CONVERTERS",
    "FLOAT",
    "INT",
    "STRING",
    "Columns",
    "InputSchema",
    "concat",
    "decode_b64",
    "show",
]
