"""``tf.io.decode_csv``, ``tf.io.parse_example`` / ``parse_single_example`` and their specs.

The kernels are :mod:`mlengine.data.csv_lines` and :mod:`mlengine.data.examples`, the same code
serving runs on CSV and tf.Example requests; here they are ops of the façade's graphs, row-wise
and batched like every other.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mlengine.data.csv_lines import CsvField, decode_csv_lines
from mlengine.data.examples import ExampleFeature, parse_examples
from mlengine.errors import FeatureError, InvalidParameterError, NotSupportedError
from mlengine.tf import dtypes
from mlengine.tf._tensor import Arg, Tensor, convert, kernel, multi_op
from mlengine.tf._values import SparseValue, Strings

# -- decode_csv -----------------------------------------------------------------------------


def _field(default: Any) -> CsvField:
    """A record default (``[0]``, ``[""]``, ``[]``, ``0.0``, ``tf.constant([0], tf.int64)``...)
    as a CSV field: its dtype and default value (None: required)."""
    if isinstance(default, Tensor):
        values = default.numpy()
        dtype = default.dtype
        flat = list(np.asarray(values, dtype=object).reshape(-1))
        value = flat[0] if flat else None
        if isinstance(value, bytes):
            value = value.decode("utf-8")
        if value is not None and not dtype.is_string:
            value = np.asarray(value).item()
        return CsvField(
            dtype.name if dtype.name in ("float32", "float64", "int32", "int64") else "string",
            value,
        )
    if isinstance(default, dtypes.DType):
        return CsvField(default.name, None)
    if isinstance(default, list | tuple):
        if not default:
            raise InvalidParameterError(
                "A record default [] leaves its field's type unknown; give tf.constant([], "
                "dtype=...) for a required field of a known type."
            )
        if len(default) != 1:
            raise InvalidParameterError(f"A record default has one value or none; got {default!r}.")
        default = default[0]
    if isinstance(default, bytes):
        default = default.decode("utf-8")
    if isinstance(default, str):
        return CsvField("string", default)
    if isinstance(default, bool):
        raise InvalidParameterError("Record defaults may not be booleans (TF's may not either).")
    if isinstance(default, int | np.integer):
        return CsvField("int32", int(default))
    if isinstance(default, float | np.floating):
        return CsvField("float32", float(default))
    raise InvalidParameterError(f"Unsupported record default {default!r}.")


@dataclass(frozen=True)
class CsvSpec:
    """What a decode_csv op declares (a CSV serving receiver stores it)."""

    fields: tuple[CsvField, ...]
    field_delim: str
    use_quote_delim: bool
    na_value: str
    select_cols: tuple[int, ...] | None
    # TF's form: ``fields`` holds the selected columns' defaults only; the record's width is
    # read off the first record (the columns not selected are skipped as strings).
    selected_only: bool = False


def _full_fields(lines: pa.Array, spec: CsvSpec) -> tuple[CsvField, ...]:
    """Every field of a record for a ``selected_only`` spec, the width counted in its first
    record (TF parses up to the last selected column; here every record has that width)."""
    assert spec.select_cols is not None
    first = next((line for line in lines.to_pylist()[:1] if line is not None), "")
    if spec.use_quote_delim:
        row = next(csv.reader([first], delimiter=spec.field_delim), [""])
    else:
        row = next(csv.reader([first], delimiter=spec.field_delim, quoting=csv.QUOTE_NONE), [""])
    width = len(row)
    if width <= spec.select_cols[-1]:
        raise FeatureError(
            f"Record 0: {width} field(s), but decode_csv selects column {spec.select_cols[-1]}."
        )
    by_position = dict(zip(spec.select_cols, spec.fields, strict=True))
    return tuple(by_position.get(i, CsvField("string", "")) for i in range(width))


@kernel("decode_csv")
def _decode_csv(args: list[Arg], attrs: dict[str, Any]) -> list[Arg]:
    records = args[0]
    value = records.value
    if not isinstance(value, Strings):
        raise InvalidParameterError("tf.io.decode_csv takes strings.")
    spec: CsvSpec = attrs["spec"]
    flat = value.flat if pa.types.is_string(value.flat.type) else value.flat.cast(pa.string())
    fields = _full_fields(flat, spec) if spec.selected_only and len(flat) else spec.fields
    columns = decode_csv_lines(
        flat,
        fields,
        field_delim=spec.field_delim,
        use_quote_delim=spec.use_quote_delim,
        na_value=spec.na_value,
        select_cols=spec.select_cols,
    )
    shape = value.shape
    out = []
    for column in columns:
        if isinstance(column, np.ndarray):
            out.append(Arg(column.reshape(shape), records.batched))
        else:
            out.append(Arg(Strings(column, shape), records.batched))
    return out


def decode_csv(
    records: Any,
    record_defaults: Sequence[Any],
    field_delim: str = ",",
    use_quote_delim: bool = True,
    name: str | None = None,
    na_value: str = "",
    select_cols: Sequence[int] | None = None,
) -> list[Tensor]:
    """``tf.io.decode_csv`` (v1 ``tf.decode_csv``): one tensor per field (or selected field),
    each of the records' shape, typed by its record default."""
    fields = tuple(_field(d) for d in record_defaults)
    select = None if select_cols is None else tuple(int(c) for c in select_cols)
    selected_only = select is not None and len(select) == len(fields)
    if select is not None:
        if list(select) != sorted(set(select)) or (select and select[0] < 0):
            raise InvalidParameterError(
                f"decode_csv: select_cols must be ascending column indices; got {list(select)}."
            )
        if not selected_only and select and select[-1] >= len(fields):
            raise InvalidParameterError(
                f"decode_csv: select_cols {list(select)} with {len(fields)} record defaults: give "
                "one default per selected column (or one per column)."
            )
    spec = CsvSpec(fields, field_delim, bool(use_quote_delim), na_value, select, selected_only)
    outputs = [
        dtypes.as_dtype(f.dtype) for f in (fields if selected_only else _selected(fields, select))
    ]
    result: list[Tensor] = multi_op("decode_csv", [convert(records)], {"spec": spec}, outputs)
    return result


def _selected(fields: Sequence[CsvField], select: Sequence[int] | None) -> list[CsvField]:
    return list(fields) if select is None else [fields[i] for i in select]


# -- parse_example --------------------------------------------------------------------------


@dataclass(frozen=True)
class FixedLenFeature:
    """``tf.io.FixedLenFeature(shape, dtype, default_value=None)``."""

    shape: Any
    dtype: Any
    default_value: Any = None

    def spec(self, name: str) -> ExampleFeature:
        shape = tuple(
            int(d)
            for d in (
                self.shape
                if isinstance(self.shape, list | tuple)
                else [self.shape]
                if self.shape
                else []
            )
        )
        default = None
        if self.default_value is not None:
            flat = np.asarray(self.default_value, dtype=object).reshape(-1).tolist()
            size = int(np.prod(shape)) if shape else 1
            if len(flat) == 1 and size > 1:
                flat = flat * size
            default = tuple(v.decode("utf-8") if isinstance(v, bytes) else v for v in flat)
        return ExampleFeature("fixed", _parse_dtype(self.dtype, name), shape, default)


@dataclass(frozen=True)
class VarLenFeature:
    """``tf.io.VarLenFeature(dtype)``: any number of values per example (a SparseTensor)."""

    dtype: Any

    def spec(self, name: str) -> ExampleFeature:
        return ExampleFeature("var", _parse_dtype(self.dtype, name))


def _parse_dtype(dtype: Any, name: str) -> str:
    kind = dtypes.as_dtype(dtype)
    if kind.name not in ("float32", "int64", "string"):
        raise InvalidParameterError(
            f"Feature {name!r}: tf.Example features parse as float32, int64 or string; got "
            f"{kind.name}."
        )
    return kind.name


def example_specs(features: Mapping[str, Any]) -> dict[str, ExampleFeature]:
    """Parse configs (FixedLenFeature / VarLenFeature) as :class:`ExampleFeature` specs."""
    specs = {}
    for name, config in features.items():
        if not isinstance(config, FixedLenFeature | VarLenFeature):
            raise NotSupportedError(
                f"Feature {name!r}: {type(config).__name__} is not supported; parse specs take "
                "tf.io.FixedLenFeature and tf.io.VarLenFeature."
            )
        specs[str(name)] = config.spec(str(name))
    return specs


@kernel("parse_example")
def _parse_example(args: list[Arg], attrs: dict[str, Any]) -> dict[str, Arg]:
    serialized = args[0]
    value = serialized.value
    if not isinstance(value, Strings):
        raise InvalidParameterError("tf.io.parse_example takes serialized tf.Examples (strings).")
    specs: dict[str, ExampleFeature] = attrs["specs"]
    records = value.flat.cast(pa.binary()).to_pylist()
    parsed = parse_examples(records, specs, label="Record")
    lead = value.shape  # () for one example, [b] for a batch, [n, b] batched...
    out: dict[str, Arg] = {}
    for name, spec in specs.items():
        feature = parsed[name]
        if spec.kind == "fixed":
            shape = (*lead, *spec.shape)
            if spec.dtype == "string":
                flat = feature.values
                assert isinstance(flat, list)
                out[name] = Arg(Strings(pa.array(flat, pa.string()), shape), serialized.batched)
            else:
                out[name] = Arg(np.asarray(feature.values).reshape(shape), serialized.batched)
            continue
        assert feature.lengths is not None
        out[name] = Arg(
            _sparse(feature.values, feature.lengths, lead, spec.dtype), serialized.batched
        )
    return out


def _sparse(values: Any, lengths: np.ndarray, lead: tuple[int, ...], dtype: str) -> SparseValue:
    """A VarLen feature as TF's SparseTensor: indices [record index..., position]."""
    records = len(lengths)
    positions = np.arange(int(lengths.sum())) - np.repeat(np.cumsum(lengths) - lengths, lengths)
    rows = np.repeat(np.arange(records), lengths)
    leading = (
        np.stack(np.unravel_index(rows, lead), axis=1)
        if lead
        else np.zeros((len(rows), 0), np.int64)
    )
    indices = np.concatenate([leading, positions[:, None]], axis=1).astype(np.int64)
    width = int(lengths.max(initial=0))
    flat = (
        Strings(pa.array(values, pa.string()), (len(values),))
        if dtype == "string"
        else np.asarray(values)
    )
    return SparseValue(indices, flat, (*lead, width))


def parse_example(
    serialized: Any,
    features: Mapping[str, Any] | None = None,
    name: str | None = None,
    example_names: Any = None,
) -> dict[str, Any]:
    """``tf.io.parse_example``: a batch of serialized Examples to a dict of tensors (dense for
    FixedLenFeature, SparseTensor for VarLenFeature)."""
    if features is None:
        raise InvalidParameterError("tf.io.parse_example needs features (a parse spec).")
    specs = example_specs(features)
    outputs = {
        key: (
            ("sparse", dtypes.as_dtype(spec.dtype))
            if spec.kind == "var"
            else dtypes.as_dtype(spec.dtype)
        )
        for key, spec in specs.items()
    }
    result: dict[str, Any] = multi_op(
        "parse_example", [convert(serialized)], {"specs": specs}, outputs
    )
    return result


def parse_single_example(
    serialized: Any,
    features: Mapping[str, Any] | None = None,
    name: str | None = None,
    example_names: Any = None,
) -> dict[str, Any]:
    """``tf.io.parse_single_example``: one serialized Example (a scalar string)."""
    return parse_example(serialized, features, name)


__all__ = [
    "CsvSpec",
    "FixedLenFeature",
    "VarLenFeature",
    "decode_csv",
    "example_specs",
    "parse_example",
    "parse_single_example",
]
