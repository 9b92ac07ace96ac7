"""Serialized serving inputs a receiver declares: tf.Example and CSV records (the export
member ``serving_inputs``).

An export always takes named JSON features (its signature's inputs). A serving input receiver
may declare more, as TensorFlow's did, and the export then records them as one member of
format 2's ``members`` (:mod:`mlengine.export.members`; a member without a file), written by
:func:`serving_inputs_entry`, checked by :func:`check_serving_inputs` and read by
:func:`read_serving_inputs`::

    "members": {"serving_inputs": {"inputs": [
      {"name": "examples",                  # the receiver tensor's key
       "format": "tf_example",
       "specs": {"age": {"kind": "fixed", "dtype": "float32", "shape": [1], "default": null},
                 "occupation": {"kind": "var", "dtype": "string", "shape": [], "default": null}},
       "features": {"age": "age", "occupation": "occupation"},   # model feature <- example key
       "signatures": {"serving_default": "inputs", "classification": "inputs",
                      "regression": "inputs", "predict": "examples"}},
      {"name": "csv_row",
       "format": "csv",
       "fields": [{"dtype": "int32", "default": 0}, {"dtype": "string", "default": ""}, ...],
       "columns": ["age", "workclass", null, ...],   # the model feature of each field, or null
       "field_delim": ",", "use_quote_delim": true, "na_value": "",
       "signatures": {...}}
    ]}}

``signatures`` maps each of the export's signature names to the input name TensorFlow gave the
serialized tensor there (``inputs`` for classify, regress and the default; the receiver's key
for predict). A request of such a signature may then carry serialized records instead of
named features: TF Serving's ``{"instances": [{"b64": "<serialized tf.Example>"}]}`` (or
``{"examples": {"b64": ...}}``), or CSV lines (``{"instances": ["39, State-gov, ..."]}``,
``mlengine predict --text-instances``). :func:`decode_instances` turns them into named-feature
instances, which then take the usual path (checks, transform, model). An export without the
member takes named features only.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlengine.data.csv_lines import CsvField, decode_csv_lines
from mlengine.data.examples import ExampleFeature, parse_examples
from mlengine.errors import ExportFormatError, FeatureError, InvalidParameterError

MEMBER = "serving_inputs"
TF_EXAMPLE, CSV = "tf_example", "csv"
#: TF's canned signature names and the input name a single string receiver tensor gets there.
CANNED_INPUT = "inputs"


def canned_signatures(receiver_key: str, signature_names: Sequence[str]) -> dict[str, str]:
    """TF's input names for a serialized receiver tensor in each of the export's signatures."""
    return {name: (receiver_key if name == "predict" else CANNED_INPUT) for name in signature_names}


@dataclass(frozen=True)
class ServingInput:
    """One declared serialized input (see the module docstring)."""

    name: str
    format: str
    signatures: Mapping[str, str]
    specs: Mapping[str, ExampleFeature] | None = None
    features: Mapping[str, str] | None = None
    fields: tuple[CsvField, ...] = ()
    columns: tuple[str | None, ...] = ()
    field_delim: str = ","
    use_quote_delim: bool = True
    na_value: str = ""

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "format": self.format,
            "signatures": dict(self.signatures),
        }
        if self.format == TF_EXAMPLE:
            assert self.specs is not None and self.features is not None
            data["specs"] = {k: v.to_json() for k, v in self.specs.items()}
            data["features"] = dict(self.features)
        else:
            data["fields"] = [f.to_json() for f in self.fields]
            data["columns"] = list(self.columns)
            data["field_delim"] = self.field_delim
            data["use_quote_delim"] = self.use_quote_delim
            data["na_value"] = self.na_value
        return data

    @classmethod
    def from_json(cls, data: Any) -> ServingInput:
        if not isinstance(data, Mapping) or data.get("format") not in (TF_EXAMPLE, CSV):
            raise ExportFormatError(f"{MEMBER}: unknown serving input {data!r:.200}.")
        try:
            signatures = {str(k): str(v) for k, v in dict(data["signatures"]).items()}
            name = str(data["name"])
            if data["format"] == TF_EXAMPLE:
                specs = {
                    str(k): ExampleFeature.from_json(v) for k, v in dict(data["specs"]).items()
                }
                features = {str(k): str(v) for k, v in dict(data["features"]).items()}
                if not set(features.values()) <= set(specs):
                    raise ExportFormatError(f"{MEMBER}: {name!r} maps features to unknown keys.")
                return cls(name, TF_EXAMPLE, signatures, specs=specs, features=features)
            fields = tuple(CsvField.from_json(f) for f in data["fields"])
            columns = tuple(None if c is None else str(c) for c in data["columns"])
            if len(columns) != len(fields):
                raise ExportFormatError(f"{MEMBER}: {name!r} has a column per field mismatch.")
            return cls(
                name,
                CSV,
                signatures,
                fields=fields,
                columns=columns,
                field_delim=str(data.get("field_delim", ",")),
                use_quote_delim=bool(data.get("use_quote_delim", True)),
                na_value=str(data.get("na_value", "")),
            )
        except (KeyError, TypeError, ValueError, InvalidParameterError) as exc:
            raise ExportFormatError(f"{MEMBER}: invalid serving input: {exc}") from None

    @property
    def order(self) -> list[str]:
        """A CSV record's fields, named (``field N`` for those the model does not read)."""
        return [c if c is not None else f"field {i} (unused)" for i, c in enumerate(self.columns)]

    def decode(self, records: Sequence[Any], label: str = "Instance") -> list[dict[str, Any]]:
        """Named-feature instances of serialized records (bytes for tf.Example, str for CSV)."""
        if self.format == TF_EXAMPLE:
            assert self.specs is not None and self.features is not None
            parsed = parse_examples(records, self.specs, label=label)
            columns = {
                feature: _per_record(parsed[key], len(records))
                for feature, key in self.features.items()
            }
        else:
            lines = [r.decode("utf-8") if isinstance(r, bytes) else r for r in records]
            for index, line in enumerate(lines):
                if not isinstance(line, str):
                    raise FeatureError(f"{label} {index}: a CSV record must be a string.")
            decoded = decode_csv_lines(
                lines,
                self.fields,
                field_delim=self.field_delim,
                use_quote_delim=self.use_quote_delim,
                na_value=self.na_value,
                label=label,
                order=self.order,
            )
            columns = {
                name: _plain(decoded[i]) for i, name in enumerate(self.columns) if name is not None
            }
        return [{name: values[i] for name, values in columns.items()} for i in range(len(records))]


def _plain(column: Any) -> list[Any]:
    return column.to_pylist() if hasattr(column, "to_pylist") else column.tolist()


def _per_record(feature: Any, count: int) -> list[Any]:
    """One value per record: a scalar for one value, a list for several, None for none."""
    values = feature.values if isinstance(feature.values, list) else feature.values.tolist()
    if feature.lengths is None:
        size = max(1, len(values) // max(count, 1))
        rows = [values[i * size : (i + 1) * size] for i in range(count)]
    else:
        rows, start = [], 0
        for length in feature.lengths.tolist():
            rows.append(values[start : start + length])
            start += length
    return [None if not r else r[0] if len(r) == 1 else r for r in rows]


def serving_inputs_entry(inputs: Sequence[ServingInput]) -> dict[str, Any]:
    """The ``serving_inputs`` member's entry for ``inputs``."""
    return {"inputs": [i.to_json() for i in inputs]}


def _inputs_of(entry: Mapping[str, Any]) -> list[ServingInput]:
    found = entry.get("inputs")
    if not isinstance(found, list) or not found:
        raise ExportFormatError(f"{MEMBER}: 'inputs' must be a non-empty list.")
    return [ServingInput.from_json(item) for item in found]


def check_serving_inputs(entry: Mapping[str, Any], where: str) -> None:
    """The member's check (:class:`~mlengine.export.members.MemberKind`): every input parses."""
    try:
        _inputs_of(entry)
    except ExportFormatError as exc:
        raise ExportFormatError(f"{where}: {exc}") from None


def read_serving_inputs(members: Mapping[str, Any]) -> list[ServingInput]:
    """The serialized inputs among an export's checked members (empty without the member)."""
    entry = members.get(MEMBER)
    return [] if entry is None else _inputs_of(entry)


def _b64(value: Any) -> bytes | None:
    if isinstance(value, Mapping) and len(value) == 1 and isinstance(value.get("b64"), str):
        try:
            return base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise FeatureError("A b64 value is not valid base64.") from None
    return None


def decode_instances(
    instances: Any, inputs: Sequence[ServingInput], signature_name: str | None = None
) -> list[dict[str, Any]] | None:
    """Named-feature instances when ``instances`` carry serialized records a declared input of
    the signature takes (None: they are named features, left as they are).

    Serialized tf.Examples come as ``{"b64": ...}`` or ``{<input name>: {"b64": ...}}`` (TF
    Serving's encoding of a string tensor); CSV records as strings or ``{<input name>: "..."}``.
    """
    if not inputs or not isinstance(instances, list) or not instances:
        return None
    signature = signature_name or "serving_default"
    for declared in inputs:
        input_name = declared.signatures.get(signature)
        if input_name is None:
            continue
        records = _records(instances, declared, input_name)
        if records is not None:
            return declared.decode(records)
    return None


def _records(instances: list[Any], declared: ServingInput, input_name: str) -> list[Any] | None:
    names = {input_name, declared.name}
    out: list[Any] = []
    for index, instance in enumerate(instances):
        value = instance
        if isinstance(instance, Mapping) and len(instance) == 1:
            key = next(iter(instance))
            if key in names:
                value = instance[key]
        if declared.format == TF_EXAMPLE:
            try:
                raw = _b64(value)
            except FeatureError as exc:
                raise FeatureError(f"Instance {index}: {exc}") from None
            if raw is None:
                if index == 0:
                    return None  # named features: not this input's form
                raise FeatureError(
                    f'Instance {index}: expected a serialized tf.Example ({{"b64": "..."}}), as '
                    "the instances before it."
                )
            out.append(raw)
        else:
            if not isinstance(value, str):
                if index == 0:
                    return None
                raise FeatureError(
                    f"Instance {index}: expected a CSV line, as the instances before it."
                )
            out.append(value)
    return out


__all__ = [
    "CANNED_INPUT",
    "CSV",
    "MEMBER",
    "TF_EXAMPLE",
    "ServingInput",
    "canned_signatures",
    "check_serving_inputs",
    "decode_instances",
    "read_serving_inputs",
    "serving_inputs_entry",
]
