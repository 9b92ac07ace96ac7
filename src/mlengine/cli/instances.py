"""Read prediction instances from files, as gcloud's ``--json-instances`` / ``--text-instances``.

JSON: one JSON instance per line (a UTF-8 BOM is tolerated); a file holding one JSON array of
instances is accepted too. Text: CSV lines whose values follow the signature's input order.
Errors name the file and line; nothing is predicted unless every line reads (as ML Engine
refuses a whole request on its first bad instance).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from typing import Any

from mlengine.errors import DataError


def _read_text(path: str) -> str:
    try:
        if path == "-":
            raw = sys.stdin.buffer.read()
        else:
            with open(path, "rb") as handle:
                raw = handle.read()
    except OSError as exc:
        raise DataError(f"Cannot read instances file {path!r}: {exc.strerror or exc}.") from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text (byte {exc.start}).") from None


def read_json_instances(path: str) -> list[Any]:
    """Instances of a newline-delimited JSON file (or of one JSON array)."""
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path}: no instances (the file is empty).")
    if text.lstrip().startswith("["):
        try:
            instances = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg}).") from None
        if not instances:
            raise DataError(f"{path}: the JSON array holds no instances.")
        return list(instances)
    instances = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise DataError(f"{path}: line {number} is empty; put one JSON instance per line.")
        try:
            instances.append(json.loads(line))
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {number}: invalid JSON ({exc.msg}).") from None
    return instances


def read_text_instances(path: str, names: list[str]) -> list[dict[str, Any]]:
    """Instances of a CSV file without header whose columns are ``names``, in that order."""
    text = _read_text(path)
    rows = [row for row in csv.reader(io.StringIO(text), skipinitialspace=False)]
    if not rows:
        raise DataError(f"{path}: no instances (the file is empty).")
    instances = []
    for number, row in enumerate(rows, start=1):
        if len(row) != len(names):
            raise DataError(
                f"{path}: line {number} has {len(row)} values; expected {len(names)} in the "
                f"signature's order: {', '.join(names)}."
            )
        instances.append(
            {name: _number_or_text(value) for name, value in zip(names, row, strict=True)}
        )
    return instances


def read_text_lines(path: str) -> list[str]:
    """The lines of a text file as they are: instances for a CSV input the export declares
    (its receiver's field order; the model decodes them)."""
    text = _read_text(path)
    lines = text.splitlines()
    if not lines:
        raise DataError(f"{path}: no instances (the file is empty).")
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            raise DataError(f"{path}: line {number} is empty; put one CSV instance per line.")
    return lines


def _number_or_text(value: str) -> Any:
    stripped = value.strip()
    if stripped == "":
        return None
    try:
        return int(stripped)
    except ValueError:
        pass
    try:
        return float(stripped)
    except ValueError:
        return value
