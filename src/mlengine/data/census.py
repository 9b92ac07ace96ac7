"""The UCI Adult ("census income") data set: its schema, a raw-file reader and a packaged copy.

The raw files are the UCI originals: comma *and space* separated, ``?`` for a missing value, a
``|1x3 Cross validator`` first line in ``adult.test`` and a trailing ``.`` on its labels, and a
blank last line. :func:`read_table` turns either file into a clean :class:`pyarrow.Table`, all in
pyarrow (no per-row Python). A gzipped copy of both files ships with mlengine, so :func:`load`
works offline. The data is CC BY 4.0, UCI Machine Learning Repository (Becker & Kohavi, 1996).

Example::

    from mlengine.data import census

    x_train, y_train = census.load("train")     # 32,561 rows, y = (income_bracket == ">50K")
"""

from __future__ import annotations

import gzip
import os
import re
from importlib import resources
from typing import Literal

import fsspec
import numpy as np
import numpy.typing as npt
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pa_csv

from mlengine.errors import DataError, InvalidParameterError

CSV_COLUMNS: tuple[str, ...] = (
    "age",
    "workclass",
    "fnlwgt",
    "education",
    "education_num",
    "marital_status",
    "occupation",
    "relationship",
    "race",
    "gender",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
    "native_country",
    "income_bracket",
)
LABEL_COLUMN = "income_bracket"
NUMERIC_COLUMNS: tuple[str, ...] = (
    "age",
    "fnlwgt",
    "education_num",
    "capital_gain",
    "capital_loss",
    "hours_per_week",
)
CATEGORICAL_COLUMNS: tuple[str, ...] = tuple(
    c for c in CSV_COLUMNS if c not in NUMERIC_COLUMNS and c != LABEL_COLUMN
)
LABEL_VALUES: tuple[str, str] = ("<=50K", ">50K")
"""The two label values after cleaning; the positive class (label 1) is ``">50K"``."""

Split = Literal["train", "test"]
_PACKAGED_FILES: dict[str, str] = {"train": "adult.data.gz", "test": "adult.test.gz"}
_TEST_FILE_MARKER = b"|"  # adult.test opens with "|1x3 Cross validator"
_MISSING = "?"


def read_table(path_or_url: str | os.PathLike[str]) -> pa.Table:
    """Reads one raw Adult file (``adult.data`` or ``adult.test``) into a clean table.

    Args:
        path_or_url: A local path or any fsspec URL (``gs://``, ``memory://``, ...). Gzip and
            other compressions are recognised by the file extension.

    Returns:
        A table with the columns of :data:`CSV_COLUMNS`: numeric columns as int64, string
        columns with their surrounding whitespace removed and ``?`` turned into null, and the
        label without the test file's trailing ``.``.

    Raises:
        DataError: The file does not exist, does not parse (the message names the file, and
            the row when pyarrow reports it) or has the wrong number of columns.
    """
    name = os.fspath(path_or_url)
    try:
        with fsspec.open(name, "rb", compression="infer") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise DataError(f"Census file {name!r} does not exist.") from exc
    return _parse(data, name)


def load_table(split: Split = "train", path: str | None = None) -> pa.Table:
    """Reads the training or test split, label column included.

    Args:
        split: ``"train"`` (``adult.data``) or ``"test"`` (``adult.test``).
        path: A raw file to read instead of the packaged copy (any fsspec URL).

    Returns:
        The clean table of :func:`read_table`.

    Raises:
        InvalidParameterError: ``split`` is neither ``"train"`` nor ``"test"``.
        DataError: The file cannot be read, or a label is not one of :data:`LABEL_VALUES`.
    """
    if split not in _PACKAGED_FILES:
        raise InvalidParameterError(
            "The 'split' parameter of census.load must be 'train' or 'test'. "
            f"Got {split!r} instead."
        )
    if path is not None:
        table, name = read_table(path), path
    else:
        resource = resources.files("mlengine.data").joinpath("census_files", _PACKAGED_FILES[split])
        name = f"mlengine/data/census_files/{_PACKAGED_FILES[split]}"
        table = _parse(gzip.decompress(resource.read_bytes()), name)
    _check_labels(table, name)
    return table


def load(
    split: Split = "train", path: str | None = None
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]]:
    """Loads a split as features and binary labels, ready for ``pandas_input_fn``.

    Args:
        split: ``"train"`` or ``"test"``.
        path: A raw file to read instead of the packaged copy (any fsspec URL).

    Returns:
        ``(x, y)``: ``x`` holds every column but ``income_bracket`` (missing values are NaN),
        ``y`` is int64, 1 where ``income_bracket == ">50K"``.

    Raises:
        InvalidParameterError: ``split`` is neither ``"train"`` nor ``"test"``.
        DataError: The file cannot be read or holds an unknown label.
    """
    table = load_table(split, path)
    labels = pc.equal(table.column(LABEL_COLUMN), LABEL_VALUES[1])
    y = labels.to_numpy(zero_copy_only=False).astype(np.int64)
    return table.drop_columns([LABEL_COLUMN]).to_pandas(), y


def _parse(data: bytes, name: str) -> pa.Table:
    """Parses the bytes of a raw Adult file; ``name`` is only used in error messages."""
    skip = 1 if data.lstrip().startswith(_TEST_FILE_MARKER) else 0
    try:
        raw = _read_csv(data, skip, use_threads=True)
    except pa.ArrowInvalid as exc:
        raise DataError(
            f"Cannot read census file {name!r}: {_row_message(data, skip, exc)}"
        ) from exc
    columns = []
    for column in CSV_COLUMNS:
        values = raw.column(column)
        if column not in NUMERIC_COLUMNS:
            values = pc.utf8_trim_whitespace(values)
            values = pc.if_else(pc.equal(values, _MISSING), None, values)
        if column == LABEL_COLUMN:
            values = pc.utf8_rtrim(values, characters=".")
        columns.append(values)
    return pa.table(columns, names=list(CSV_COLUMNS))


def _read_csv(data: bytes, skip_rows: int, *, use_threads: bool) -> pa.Table:
    """Reads raw Adult CSV bytes with numeric columns as int64 and the rest as strings."""
    return pa_csv.read_csv(
        pa.BufferReader(data),
        read_options=pa_csv.ReadOptions(
            column_names=list(CSV_COLUMNS), skip_rows=skip_rows, use_threads=use_threads
        ),
        convert_options=pa_csv.ConvertOptions(
            column_types={
                c: pa.int64() if c in NUMERIC_COLUMNS else pa.string() for c in CSV_COLUMNS
            },
            # '?' is turned into null after stripping; nothing else counts as missing.
            null_values=[],
            strings_can_be_null=False,
        ),
    )


def _row_message(data: bytes, skip_rows: int, exc: pa.ArrowInvalid) -> str:
    """pyarrow's error message, with the row number that only a single-threaded read reports."""
    if re.search(r"Row #\d+", str(exc)):
        return str(exc)
    try:
        _read_csv(data, skip_rows, use_threads=False)
    except pa.ArrowInvalid as single_threaded:
        return str(single_threaded)
    return str(exc)


def _check_labels(table: pa.Table, name: str) -> None:
    """Raises DataError if a label is null or not one of LABEL_VALUES."""
    labels = table.column(LABEL_COLUMN)
    bad = pc.invert(pc.fill_null(pc.is_in(labels, pa.array(LABEL_VALUES)), False))
    n_bad = pc.sum(bad).as_py() or 0
    if n_bad:
        first = pc.index(bad, True).as_py()
        raise DataError(
            f"Census file {name!r}: {n_bad} label(s) are not one of {list(LABEL_VALUES)}; "
            f"the first is {labels[first].as_py()!r} in data row {first + 1}."
        )


__all__ = [
    "CATEGORICAL_COLUMNS",
    "CSV_COLUMNS",
    "LABEL_COLUMN",
    "LABEL_VALUES",
    "NUMERIC_COLUMNS",
    "load",
    "load_table",
    "read_table",
]
