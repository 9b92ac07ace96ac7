"""``tf.data.experimental.make_csv_dataset`` and ``CsvDataset``: compositions of the façade's
own datasets (file list, text lines, ``decode_csv``, shuffle, repeat, batch), no reader of their
own.

``make_csv_dataset`` follows TF 2.15's: column names from the first file's header unless given,
column types inferred from the first ``num_rows_for_inference`` records when no defaults are
given (int32, int64, float32, float64, string: the narrowest that holds every value; defaults 0
or ""), the label popped out of the features, files shuffled and read ``num_parallel_reads`` at
a time, then shuffle, repeat and batch. The decode runs before ``batch`` here (TF decodes after
it): the same batches, but the pipeline reaches the estimator in chunks (see
:mod:`mlengine.tf.data`).
"""

from __future__ import annotations

import collections
import csv
import io
from collections.abc import Iterator, Sequence
from typing import Any

from mlengine.data.readers import expand_patterns
from mlengine.data.tfrecord import read_bytes
from mlengine.errors import DataError, InvalidParameterError, NotSupportedError
from mlengine.tf import dtypes
from mlengine.tf._parsing import decode_csv
from mlengine.tf._sources import TextLineDataset, _filenames
from mlengine.tf._tensor import constant
from mlengine.tf.data import Dataset

_INT32 = (-(2**31), 2**31 - 1)
_INT64 = (-(2**63), 2**63 - 1)
_TYPES = (dtypes.int32, dtypes.int64, dtypes.float32, dtypes.float64, dtypes.string)


def _kind(text: str) -> int:
    """The narrowest of :data:`_TYPES` (as an index) that holds ``text``."""
    try:
        number = int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            return 4
        return 2 if abs(value) <= 3.4028234663852886e38 or value != value else 3
    if _INT32[0] <= number <= _INT32[1]:
        return 0
    return 1 if _INT64[0] <= number <= _INT64[1] else 3


def _rows(files: Sequence[str], options: dict[str, Any], header: bool) -> Iterator[list[str]]:
    """The CSV records of ``files`` in order (Python's csv module: TF reads them so too)."""
    for path in files:
        text = read_bytes(path, options["compression_type"]).decode(options["encoding"])
        rows = csv.reader(
            io.StringIO(text),
            delimiter=options["field_delim"],
            quoting=csv.QUOTE_MINIMAL if options["use_quote_delim"] else csv.QUOTE_NONE,
        )
        if header:
            next(rows, None)
        yield from rows


def _infer_defaults(
    files: Sequence[str],
    width: int,
    selected: Sequence[int],
    options: dict[str, Any],
    header: bool,
    rows: int | None,
) -> list[Any]:
    """TF's inferred column defaults: ``[0]`` of the narrowest type holding the first ``rows``
    records' values (missing ones skipped), ``[""]`` for strings."""
    kinds: list[int | None] = [None] * len(selected)
    na_value = options["na_value"]
    for count, record in enumerate(_rows(files, options, header)):
        if rows is not None and count >= rows:
            break
        if len(record) != width:
            raise DataError(
                f"make_csv_dataset: inferring types, a record of {files[0]!r}... has "
                f"{len(record)} field(s) where {width} are expected."
            )
        for j, column in enumerate(selected):
            text = record[column]
            if text == "" or (na_value and text == na_value):
                continue
            kind = _kind(text)
            kinds[j] = kind if kinds[j] is None else max(kinds[j] or 0, kind)
    inferred = [_TYPES[4 if k is None else k] for k in kinds]
    return [constant([""] if t.is_string else [0], t) for t in inferred]


def _indices(select_columns: Sequence[Any] | None, names: Sequence[str]) -> list[int]:
    if select_columns is None:
        return list(range(len(names)))
    out = []
    for column in select_columns:
        if isinstance(column, int):
            if not 0 <= column < len(names):
                raise InvalidParameterError(
                    f"make_csv_dataset: select_columns index {column} is outside the "
                    f"{len(names)} columns."
                )
            out.append(column)
        elif column in names:
            out.append(list(names).index(column))
        else:
            raise InvalidParameterError(
                f"make_csv_dataset: select_columns names {column!r}, which is not a column "
                f"({', '.join(names)})."
            )
    return sorted(set(out))


def make_csv_dataset(
    file_pattern: Any,
    batch_size: int,
    column_names: Sequence[str] | None = None,
    column_defaults: Sequence[Any] | None = None,
    label_name: str | None = None,
    select_columns: Sequence[Any] | None = None,
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    header: bool = True,
    num_epochs: int | None = None,
    shuffle: bool = True,
    shuffle_buffer_size: int = 10000,
    shuffle_seed: int | None = None,
    prefetch_buffer_size: Any = None,
    num_parallel_reads: Any = None,
    sloppy: bool = False,
    num_rows_for_inference: int | None = 100,
    compression_type: str | None = None,
    ignore_errors: bool = False,
    encoding: str = "utf-8",
) -> Dataset:
    """Batches of ``(features, label)`` (or features alone without ``label_name``) from CSV
    files, as TF 2.15's ``tf.data.experimental.make_csv_dataset`` (see the module)."""
    if ignore_errors:
        raise NotSupportedError("make_csv_dataset(ignore_errors=True) is not supported.")
    files = sorted(source.path for source in expand_patterns(_filenames(file_pattern)))
    if not files:
        raise DataError(f"make_csv_dataset: no file matches {file_pattern!r}.")
    options = {
        "compression_type": compression_type,
        "encoding": encoding,
        "field_delim": field_delim,
        "use_quote_delim": use_quote_delim,
        "na_value": na_value,
    }
    if column_names is None:
        if not header:
            raise InvalidParameterError(
                "make_csv_dataset: give column_names when the files have no header."
            )
        column_names = next(_rows(files[:1], options, False), None)
        if not column_names:
            raise DataError(f"make_csv_dataset: {files[0]!r} has no header line.")
    names = [str(n) for n in column_names]
    if len(set(names)) != len(names):
        raise InvalidParameterError(f"make_csv_dataset: column names repeat: {names}.")
    selected = _indices(select_columns, names)
    if label_name is not None and label_name not in [names[i] for i in selected]:
        raise InvalidParameterError(
            f"make_csv_dataset: label_name {label_name!r} is not among the columns "
            f"({', '.join(names[i] for i in selected)})."
        )
    if column_defaults is None:
        column_defaults = _infer_defaults(
            files, len(names), selected, options, header, num_rows_for_inference
        )
    elif len(column_defaults) != len(selected):
        raise InvalidParameterError(
            f"make_csv_dataset: {len(column_defaults)} column_defaults for {len(selected)} "
            "columns (one per selected column)."
        )
    by_position = dict(zip(selected, column_defaults, strict=True))
    defaults = [by_position.get(i, [""]) for i in range(len(names))]
    keys = [names[i] for i in selected]

    def decode(line: Any) -> Any:
        values = decode_csv(
            line, defaults, field_delim, use_quote_delim, na_value=na_value, select_cols=selected
        )
        features = collections.OrderedDict(zip(keys, values, strict=True))
        if label_name is None:
            return features
        label = features.pop(label_name)
        return features, label

    dataset = Dataset.from_tensor_slices(files)
    if shuffle:
        dataset = dataset.shuffle(len(files), shuffle_seed)
    dataset = dataset.interleave(
        lambda name: TextLineDataset(name, compression_type).skip(1 if header else 0),
        cycle_length=num_parallel_reads or 1,
    ).map(decode)
    if shuffle:
        dataset = dataset.shuffle(shuffle_buffer_size, shuffle_seed)
    if num_epochs != 1:
        dataset = dataset.repeat(num_epochs)
    # TF drops the remainder when repeating for ever, where there is none to drop.
    return dataset.batch(batch_size)


def CsvDataset(  # noqa: N802  (TF's class name; a function returning a Dataset here)
    filenames: Any,
    record_defaults: Sequence[Any],
    compression_type: str | None = None,
    buffer_size: Any = None,
    header: bool = False,
    field_delim: str = ",",
    use_quote_delim: bool = True,
    na_value: str = "",
    select_cols: Sequence[int] | None = None,
    exclude_cols: Sequence[int] | None = None,
) -> Dataset:
    """``tf.data.experimental.CsvDataset``: one tuple of fields per record of ``filenames``
    (defaults one per column, or one per selected column with ``select_cols``)."""
    if exclude_cols is not None:
        raise NotSupportedError(
            "tf.data.experimental.CsvDataset(exclude_cols=...) is not supported."
        )

    def decode(line: Any) -> tuple[Any, ...]:
        return tuple(
            decode_csv(
                line,
                record_defaults,
                field_delim,
                use_quote_delim,
                na_value=na_value,
                select_cols=select_cols,
            )
        )

    files = Dataset.from_tensor_slices(_filenames(filenames))
    lines = files.flat_map(
        lambda name: TextLineDataset(name, compression_type).skip(1 if header else 0)
    )
    return lines.map(decode)


__all__ = ["CsvDataset", "make_csv_dataset"]
