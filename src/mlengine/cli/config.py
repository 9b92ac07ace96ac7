"""``--config FILE``: ML Engine's YAML (or JSON) resources, read and checked key by key.

``versions create --config`` takes a Version body and ``versions update --config`` the fields
gcloud lets one change; ``jobs submit training|prediction --config`` takes a Job resource
(checked by :func:`mlengine.jobs.parse_job`, the server's parser). As in gcloud, flags given on
the command line override the file. An unreadable file, YAML that does not parse, or a key the
resource does not have is one error naming the file and the key's path
(``autoScaling.minNode``); keys that only mean something on Google Cloud are reported as
ignored.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import yaml

from mlengine.errors import InvalidParameterError
from mlengine.limits import MAX_JSON_DEPTH, json_depth_ok

# A schema maps each key to the schema of its value, or to None for a value taken as it is.
Schema = Mapping[str, Any]

_AUTO_SCALING: Schema = {"minNodes": None, "maxNodes": None, "metrics": None}
_LOGGING: Schema = {"samplingPercentage": None, "bigqueryTableName": None}

# gcloud's allowed fields of a Version in `versions create --config` (2019-2020), and what
# mlengine does with them: LOCAL ones are used, the rest are reported as ignored.
VERSION_CREATE: Schema = {
    "acceleratorConfig": {"count": None, "type": None},
    "autoScaling": _AUTO_SCALING,
    "deploymentUri": None,
    "description": None,
    "explanationConfig": None,
    "framework": None,
    "labels": None,
    "machineType": None,
    "manualScaling": {"nodes": None},
    "packageUris": None,
    "predictionClass": None,
    "pythonVersion": None,
    "runtimeVersion": None,
    "serviceAccount": None,
}
VERSION_UPDATE: Schema = {
    "autoScaling": _AUTO_SCALING,
    "description": None,
    "manualScaling": {"nodes": None},
    "requestLoggingConfig": _LOGGING,
}
VERSION_LOCAL = frozenset({"deploymentUri", "description", "framework", "labels"})


def read_config(path: str) -> dict[str, Any]:
    """The mapping a YAML or JSON file holds.

    Raises:
        InvalidParameterError: unreadable, not YAML/JSON, or not a mapping at the top.
    """
    try:
        with open(path, encoding="utf-8-sig") as handle:
            text = handle.read()
    except OSError as error:
        raise InvalidParameterError(
            f"Cannot read --config file {path!r}: {error.strerror or error}."
        ) from None
    except UnicodeDecodeError as error:
        raise InvalidParameterError(
            f"--config file {path!r} is not UTF-8 text (byte {error.start})."
        ) from None
    try:
        data = yaml.safe_load(text)
        deep = not json_depth_ok(data)
    except RecursionError:
        deep = True
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(error, "problem", None) or str(error)
        raise InvalidParameterError(
            f"--config file {path!r} is not valid YAML or JSON{where}: {problem}."
        ) from None
    if deep:
        raise InvalidParameterError(
            f"--config file {path!r} nests deeper than {MAX_JSON_DEPTH} levels; no field needs "
            "that many."
        )
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InvalidParameterError(
            f"--config file {path!r} must hold a mapping of fields; it holds a "
            f"{type(data).__name__}."
        )
    return data


def check_keys(data: Mapping[str, Any], schema: Schema, path: str, where: str = "") -> None:
    """Refuse a key ``data`` has and ``schema`` lacks, naming its path in the file.

    Raises:
        InvalidParameterError: the first unknown key, with the keys allowed there.
    """
    for key, value in data.items():
        name = f"{where}.{key}" if where else str(key)
        if key not in schema:
            allowed = ", ".join(sorted(schema))
            raise InvalidParameterError(
                f"Unknown key {name!r} in --config file {path!r}; allowed "
                f"{'in ' + where if where else 'at the top'}: {allowed}."
            )
        inner = schema[key]
        if inner is not None:
            if not isinstance(value, Mapping):
                raise InvalidParameterError(
                    f"Key {name!r} in --config file {path!r} must be a mapping; got "
                    f"{type(value).__name__}."
                )
            check_keys(value, inner, path, name)


def version_config(path: str, schema: Schema) -> tuple[dict[str, Any], list[str]]:
    """A checked Version body from ``path``: its fields with a local meaning, and the paths
    of the others (reported as ignored)."""
    data = read_config(path)
    check_keys(data, schema, path)
    local = {key: value for key, value in data.items() if key in VERSION_LOCAL}
    ignored = sorted(key for key in data if key not in VERSION_LOCAL)
    return local, ignored


__all__ = [
    "VERSION_CREATE",
    "VERSION_LOCAL",
    "VERSION_UPDATE",
    "check_keys",
    "read_config",
    "version_config",
]
