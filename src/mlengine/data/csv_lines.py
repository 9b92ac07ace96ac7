"""CSV records (one line each) to columns, with TensorFlow's ``decode_csv`` rules, vectorised.

Each field's type and default come from its record default, as in ``tf.io.decode_csv``: an
empty field (or one equal to ``na_value``) takes the default; a field without a default is
required; every record must have exactly one field per record default. String fields keep their
white space (TensorFlow's do); numbers may be surrounded by spaces.

A batch of records is joined into one text and parsed by pyarrow's CSV reader, so the cost is a
few microseconds per record however many fields it has, where a Python loop pays per field.
A few records (up to :data:`~mlengine.tuning.CSV_FEW_RECORDS`: a serving request) go through
Python's csv module instead, which costs microseconds where pyarrow's reader costs about a
millisecond to start. Errors are found again record by record, only once something is wrong,
so that they name the record, its field count and the expected order.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mlengine import tuning
from mlengine.errors import FeatureError, InvalidParameterError

CSV_DTYPES = ("float32", "float64", "int32", "int64", "string")
_PARSE_AS = {
    "float32": pa.float64(),
    "float64": pa.float64(),
    "int32": pa.int64(),
    "int64": pa.int64(),
    "string": pa.string(),
}


@dataclass(frozen=True)
class CsvField:
    """One field of a record: its ``dtype`` and the ``default`` of an empty field (None: the
    field is required)."""

    dtype: str
    default: Any = None

    def __post_init__(self) -> None:
        if self.dtype not in CSV_DTYPES:
            raise InvalidParameterError(
                f"A CSV field must be one of {CSV_DTYPES}; got {self.dtype!r}."
            )

    def to_json(self) -> dict[str, Any]:
        return {"dtype": self.dtype, "default": self.default}

    @classmethod
    def from_json(cls, data: Any) -> CsvField:
        if not isinstance(data, dict) or "dtype" not in data:
            raise InvalidParameterError(f"Invalid CSV field spec {data!r}.")
        return cls(str(data["dtype"]), data.get("default"))


Column: TypeAlias = "np.ndarray | pa.Array"


def _names(count: int) -> list[str]:
    return [f"f{i}" for i in range(count)]


def _field_counts(lines: Sequence[str], delim: str, quoted: bool) -> list[int]:
    reader = csv.reader(
        lines, delimiter=delim, quoting=csv.QUOTE_MINIMAL if quoted else csv.QUOTE_NONE
    )
    return [len(row) for row in reader]


def _explain(
    lines: Sequence[str],
    fields: Sequence[CsvField],
    delim: str,
    quoted: bool,
    label: str,
    order: Sequence[str] | None,
) -> FeatureError:
    """The first record that does not parse, named (called once pyarrow has refused a batch)."""
    expected = len(fields)
    in_order = ""
    if order is not None:
        in_order = f" in the order: {', '.join(order)}"
    for index, line in enumerate(lines):
        if "\n" in line or "\r" in line:
            return FeatureError(f"{label} {index}: a CSV record must be one line.")
        count = _field_counts([line], delim, quoted)[0] if line else 1
        if count != expected:
            return FeatureError(
                f"{label} {index}: {count} field(s) where {expected} are expected{in_order}."
            )
        values = next(csv.reader([line], delimiter=delim)) if quoted else line.split(delim)
        for position, (value, field) in enumerate(zip(values, fields, strict=True)):
            text = value.strip()
            if field.dtype == "string" or text == "":
                continue
            try:
                float(text) if field.dtype.startswith("float") else int(text)
            except ValueError:
                name = order[position] if order is not None else f"field {position}"
                return FeatureError(
                    f"{label} {index}: {name} = {value!r} is not a number ({field.dtype})."
                )
    return FeatureError(f"{label}s do not parse as CSV with {expected} fields{in_order}.")


def decode_csv_lines(
    records: pa.Array | Sequence[str],
    fields: Sequence[CsvField],
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    select_cols: Sequence[int] | None = None,
    label: str = "Record",
    order: Sequence[str] | None = None,
) -> list[Column]:
    """Decode CSV records into one column per field (per selected field, with ``select_cols``).

    Args:
        records: One CSV line per record (a pyarrow string array or a list of str).
        fields: The type and default of every field of a record, in order.
        field_delim: The field separator (one character).
        use_quote_delim: Whether double quotes delimit fields (TF's default).
        na_value: A field equal to this also takes its default.
        select_cols: Indices of the fields to return (ascending); None: all.
        label: How errors name a record.
        order: The fields' names, for error messages (None: by position).

    Returns:
        numpy arrays for numbers (float32/int32 where the field says so), pyarrow string
        arrays for strings, each with one value per record.

    Raises:
        FeatureError: a record with the wrong number of fields, a field that is not a number,
            or an empty required field, naming the record.
    """
    if len(field_delim) != 1:
        raise InvalidParameterError(f"field_delim must be one character; got {field_delim!r}.")
    if len(records) <= tuning.CSV_FEW_RECORDS:
        lines = records.to_pylist() if isinstance(records, pa.Array) else list(records)
        if all(isinstance(line, str) for line in lines):
            options = (field_delim, use_quote_delim, na_value, select_cols, label, order)
            return _decode_few(lines, fields, *options)
    array = records if isinstance(records, pa.Array) else pa.array(list(records), pa.string())
    if len(array) == 0:
        return [
            np.zeros(0, dtype=np.dtype(f.dtype))
            if f.dtype != "string"
            else pa.array([], pa.string())
            for f in _selected(fields, select_cols)
        ]
    if array.null_count:
        array = array.fill_null("")
    if len(fields) > 1 and pc.any(pc.equal(pc.utf8_length(array), 0)).as_py():
        # pyarrow reads an empty line as a row of empty fields; TF sees one field.
        lines = array.to_pylist()
        raise _explain(lines, fields, field_delim, use_quote_delim, label, order)
    # One text of all records, a line each (joined in C++: a list of every record, joined).
    whole = pa.ListArray.from_arrays(pa.array([0, len(array)], pa.int32()), array)
    text = pc.binary_join(whole, "\n")[0].as_buffer()
    names = _names(len(fields))
    wanted = list(range(len(fields))) if select_cols is None else list(select_cols)
    try:
        table = pa_csv.read_csv(
            io.BytesIO(text.to_pybytes() + b"\n"),
            read_options=pa_csv.ReadOptions(
                column_names=names, block_size=max(1 << 20, text.size + 2), use_threads=False
            ),
            parse_options=pa_csv.ParseOptions(
                delimiter=field_delim,
                quote_char='"' if use_quote_delim else False,
                ignore_empty_lines=False,
                newlines_in_values=False,
            ),
            convert_options=pa_csv.ConvertOptions(
                column_types={names[i]: _PARSE_AS[fields[i].dtype] for i in wanted},
                include_columns=[names[i] for i in wanted],
                null_values=[""] + ([na_value] if na_value else []),
                strings_can_be_null=True,
                quoted_strings_can_be_null=True,
            ),
        )
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        lines = array.to_pylist()
        raise _explain(lines, fields, field_delim, use_quote_delim, label, order) from None
    if table.num_rows != len(array):
        lines = array.to_pylist()
        raise _explain(lines, fields, field_delim, use_quote_delim, label, order)
    out: list[Column] = []
    for i in wanted:
        out.append(_finish(table.column(names[i]).combine_chunks(), fields[i], i, label, order))
    return out


def _decode_few(
    lines: list[str],
    fields: Sequence[CsvField],
    field_delim: str,
    use_quote_delim: bool,
    na_value: str,
    select_cols: Sequence[int] | None,
    label: str,
    order: Sequence[str] | None,
) -> list[Column]:
    """:func:`decode_csv_lines` for a few records, split by Python's csv module (the same
    rules; see :data:`~mlengine.tuning.CSV_FEW_RECORDS` for the measurement, made with
    ``timeit`` of both paths on 1-256 copies of a census line)."""
    wanted = list(range(len(fields))) if select_cols is None else list(select_cols)
    columns: list[list[Any]] = [[] for _ in wanted]
    for index, line in enumerate(lines):
        if "\n" in line or "\r" in line:
            raise FeatureError(f"{label} {index}: a CSV record must be one line.")
        if use_quote_delim:
            row = next(csv.reader([line], delimiter=field_delim), [])
        else:
            row = next(csv.reader([line], delimiter=field_delim, quoting=csv.QUOTE_NONE), [])
        if len(row) != len(fields):
            count = len(row) if line else 1  # an empty line is one (empty) field, as TF's
            in_order = "" if order is None else f" in the order: {', '.join(order)}"
            raise FeatureError(
                f"{label} {index}: {count} field(s) where {len(fields)} are expected{in_order}."
            )
        for out, position in zip(columns, wanted, strict=True):
            out.append(
                _convert(row[position], fields[position], position, index, na_value, label, order)
            )
    result: list[Column] = []
    for values, position in zip(columns, wanted, strict=True):
        dtype = fields[position].dtype
        if dtype == "string":
            result.append(pa.array(values, pa.string()))
        else:
            result.append(np.asarray(values, dtype=np.dtype(dtype)))
    return result


def _convert(
    text: str,
    field: CsvField,
    position: int,
    index: int,
    na_value: str,
    label: str,
    order: Sequence[str] | None,
) -> Any:
    name = order[position] if order is not None else f"field {position}"
    if text == "" or (na_value and text == na_value):
        if field.default is None:
            raise FeatureError(f"{label} {index}: {name} is required but missing.")
        return field.default
    if field.dtype == "string":
        return text
    try:
        return float(text) if field.dtype.startswith("float") else int(text.strip())
    except ValueError:
        raise FeatureError(
            f"{label} {index}: {name} = {text!r} is not a number ({field.dtype})."
        ) from None


def _selected(fields: Sequence[CsvField], select_cols: Sequence[int] | None) -> list[CsvField]:
    return list(fields) if select_cols is None else [fields[i] for i in select_cols]


def _finish(
    column: pa.Array, field: CsvField, position: int, label: str, order: Sequence[str] | None
) -> Column:
    """Fill empty fields with the default (or refuse them) and give the field's dtype."""
    if column.null_count:
        if field.default is None:
            row = int(np.flatnonzero(np.asarray(column.is_null()))[0])
            name = order[position] if order is not None else f"Field {position}"
            raise FeatureError(f"{label} {row}: {name} is required but missing.")
        column = column.fill_null(pa.scalar(field.default, column.type))
    if field.dtype == "string":
        return column
    return column.to_numpy(zero_copy_only=False).astype(np.dtype(field.dtype), copy=False)


__all__ = ["CSV_DTYPES", "Column", "CsvField", "decode_csv_lines"]
