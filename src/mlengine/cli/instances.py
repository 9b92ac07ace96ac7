"""Read prediction instances from files, as gcloud's ``--json-instances``, ``--json-request``
and ``--text-instances`` (``-`` reads standard input; a UTF-8 BOM is tolerated).

- ``--json-instances``: one JSON instance per line (a file holding one JSON array of instances
  is accepted too).
- ``--json-request``: one request body, ``{"instances": [...], "signature_name"?: ...}``.
- ``--text-instances``: CSV lines, one instance each. As gcloud, each line is one instance
  string for an export whose serving input receiver decodes CSV lines (``tf.decode_csv`` on a
  string placeholder: the export records the field order, see
  :mod:`mlengine.export.receivers`), which decodes them in that order. A file whose first line
  is a header naming the columns (``age,workclass,...``: census rows as in adult.data; extra
  columns are ignored) is read by name instead, for any export. A file without a header, for
  an export that declares no CSV order, is an error naming the inputs to put in one.

A file of the wrong kind gets an error naming the flag that reads it. Errors name the file and
line; nothing is predicted unless every line reads (as ML Engine refuses a whole request on
its first bad instance).
"""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from mlengine.errors import DataError, InvalidParameterError
from mlengine.limits import JSONLimitError, load_json

JSON_INSTANCES = "--json-instances"
JSON_REQUEST = "--json-request"
TEXT_INSTANCES = "--text-instances"


@dataclass(frozen=True)
class InstanceFile:
    """The one instances file a prediction names, and the flag that named it."""

    flag: str
    path: str


def instance_file(
    json_instances: str | None, json_request: str | None, text_instances: str | None
) -> InstanceFile:
    """The instances file given, checking that exactly one flag names one.

    Raises:
        InvalidParameterError: none or several of the three flags (gcloud's error, exit 1).
    """
    given = [
        InstanceFile(flag, path)
        for flag, path in (
            (JSON_INSTANCES, json_instances),
            (JSON_REQUEST, json_request),
            (TEXT_INSTANCES, text_instances),
        )
        if path is not None
    ]
    if len(given) != 1:
        raise InvalidParameterError(
            f"Exactly one of {JSON_REQUEST}, {JSON_INSTANCES} and {TEXT_INSTANCES} must be "
            "specified."
        )
    return given[0]


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


def _is_request(value: Any) -> bool:
    return isinstance(value, dict) and isinstance(value.get("instances"), list)


def _use_request(path: str) -> DataError:
    return DataError(
        f'{path} holds a request body {{"instances": [...]}}: give it with {JSON_REQUEST} '
        f"({JSON_INSTANCES} reads one JSON instance per line)."
    )


def _looks_like_csv(line: str) -> bool:
    return "," in line and line.lstrip()[:1] not in ("{", "[", '"')


def read_json_instances(path: str) -> tuple[list[Any], bool]:
    """Instances of a newline-delimited JSON file (or of one JSON array), and whether the file
    holds one per line."""
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path}: no instances (the file is empty).")
    if text.lstrip().startswith("["):
        try:
            instances = load_json(text, python_json=True)
        except JSONLimitError as exc:
            raise DataError(f"{path}: {exc}") from None
        except json.JSONDecodeError as exc:
            raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg}).") from None
        if not instances:
            raise DataError(f"{path}: the JSON array holds no instances.")
        return list(instances), False
    instances = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            raise DataError(f"{path}: line {number} is empty; put one JSON instance per line.")
        try:
            instance = load_json(line, python_json=True)
        except JSONLimitError as exc:
            raise DataError(f"{path}: line {number}: {exc}") from None
        except json.JSONDecodeError as exc:
            try:
                whole = load_json(text, python_json=True)
            except ValueError:
                whole = None
            if _is_request(whole):
                raise _use_request(path) from None
            hint = (
                f"; it looks like CSV: give CSV lines with {TEXT_INSTANCES}"
                if number == 1 and _looks_like_csv(line)
                else f"; {JSON_INSTANCES} reads one JSON instance per line"
            )
            raise DataError(f"{path}: line {number}: invalid JSON ({exc.msg}){hint}.") from None
        if _is_request(instance) and len(instance) <= 2:
            raise _use_request(path)
        instances.append(instance)
    return instances, True


def read_json_request(path: str) -> tuple[list[Any], str | None]:
    """The instances and ``signature_name`` of a file holding one request body."""
    text = _read_text(path)
    if not text.strip():
        raise DataError(f"{path}: no request (the file is empty).")
    try:
        body = load_json(text, python_json=True)
    except JSONLimitError as exc:
        raise DataError(f"{path}: {exc}") from None
    except json.JSONDecodeError as exc:
        lines = [line for line in text.splitlines() if line.strip()]
        if len(lines) > 1 and all(_parses(line) for line in lines):
            raise DataError(
                f"{path} holds one JSON instance per line: give it with {JSON_INSTANCES}."
            ) from None
        hint = (
            f"it looks like CSV: give CSV lines with {TEXT_INSTANCES}"
            if _looks_like_csv(lines[0])
            else f'{JSON_REQUEST} reads one request body {{"instances": [...]}}'
        )
        raise DataError(f"{path}: line {exc.lineno}: invalid JSON ({exc.msg}); {hint}.") from None
    if not isinstance(body, dict) or "instances" not in body:
        hint = f" (one instance per line goes to {JSON_INSTANCES})" if body else ""
        raise DataError(f'{path}: invalid JSON request: missing "instances" attribute{hint}.')
    if not isinstance(body["instances"], list):
        raise DataError(f'{path}: invalid JSON request: "instances" must be a list.')
    if not body["instances"]:
        raise DataError(f'{path}: the request\'s "instances" list is empty.')
    signature = body.get("signature_name")
    return body["instances"], None if signature is None else str(signature)


def _parses(line: str) -> bool:
    try:
        load_json(line, python_json=True)
    except ValueError:
        return False
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_order(declared: Sequence[Any], signature_name: str | None) -> list[str] | None:
    """The field order of the CSV input an export declares for a signature (``declared``: the
    export's serving inputs as JSON, :meth:`~mlengine.export.receivers.ServingInput.to_json`),
    or None when it declares none."""
    signature = signature_name or "serving_default"
    for item in declared:
        if not isinstance(item, dict) or item.get("format") != "csv":
            continue
        if signature in (item.get("signatures") or {}):
            columns = item.get("columns") or []
            return [c if c is not None else f"field {i} (unused)" for i, c in enumerate(columns)]
    return None


def read_text_instances(
    path: str,
    inputs: Sequence[str],
    required: Sequence[str] = (),
    order: Sequence[str] | None = None,
) -> list[Any]:
    """Instances of a CSV file (see the module docstring): dicts by the header's names, or,
    for an export that declares a CSV input, the lines themselves.

    Args:
        inputs: the export's input names (a header must name at least one).
        required: the inputs every instance needs (the header must name them all).
        order: the field order of the export's CSV input (:func:`csv_order`), or None.
    """
    text = _read_text(path)
    rows = list(csv.reader(io.StringIO(text)))
    if not rows:
        raise DataError(f"{path}: no instances (the file is empty).")
    first = text.lstrip()[:1]
    if first in ("{", "["):
        raise DataError(
            f"{path} holds JSON: give one JSON instance per line with {JSON_INSTANCES}, or a "
            f'request body {{"instances": [...]}} with {JSON_REQUEST}.'
        )
    header = [field.strip() for field in rows[0]]
    is_header = any(name in inputs for name in header) and not any(map(_is_number, header))
    if not is_header and order is not None:
        return list(read_text_lines(path))  # the export's CSV input decodes them, in its order
    if not is_header:
        raise DataError(
            f"{path}: line 1 is not a header naming the columns: {TEXT_INSTANCES} needs one, "
            f"as this export declares no CSV column order. Its inputs: {', '.join(inputs)}."
        )
    missing = [name for name in required if name not in header]
    if missing:
        raise DataError(
            f"{path}: the header (line 1) lacks the required input(s) {', '.join(missing)}."
        )
    instances = []
    for number, row in enumerate(rows[1:], start=2):
        if not row:
            raise DataError(f"{path}: line {number} is empty; put one instance per line.")
        if len(row) != len(header):
            raise DataError(
                f"{path}: line {number} has {len(row)} values; the header (line 1) names "
                f"{len(header)} columns: {', '.join(header)}."
            )
        instances.append(
            {name: _number_or_text(value) for name, value in zip(header, row, strict=True)}
        )
    if not instances:
        raise DataError(f"{path}: no instances after the header line.")
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


@dataclass(frozen=True)
class Instances:
    """What a file holds: the instances, the request's signature name, and the line of the
    first instance when the file has one instance per line (else None)."""

    items: list[Any]
    signature_name: str | None = None
    first_line: int | None = None

    def line(self, index: int) -> int | None:
        """The file line holding instance ``index``, if the file has one per line."""
        return None if self.first_line is None else self.first_line + index


def read_instances(
    file: InstanceFile,
    inputs: Sequence[str],
    required: Sequence[str] = (),
    order: Sequence[str] | None = None,
) -> Instances:
    """Read ``file`` as its flag says (``inputs``, ``required``, ``order``: for text
    instances, see :func:`read_text_instances`)."""
    if file.flag == JSON_REQUEST:
        items, signature = read_json_request(file.path)
        return Instances(items, signature)
    if file.flag == TEXT_INSTANCES:
        items = read_text_instances(file.path, inputs, required, order)
        lines = bool(items) and isinstance(items[0], str)
        return Instances(items, first_line=1 if lines else 2)
    items, per_line = read_json_instances(file.path)
    return Instances(items, first_line=1 if per_line else None)


__all__ = [
    "JSON_INSTANCES",
    "JSON_REQUEST",
    "TEXT_INSTANCES",
    "InstanceFile",
    "Instances",
    "csv_order",
    "instance_file",
    "read_instances",
    "read_json_instances",
    "read_json_request",
    "read_text_instances",
    "read_text_lines",
]
