"""The first complete rows of a batch of raw features as JSON instances of the model's inputs
(what the evidence shows as real examples a request may send)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from torch import Tensor

from mlengine.export.evidence import MAX_INSTANCES, MAX_KEYS, MAX_TEXT


class _Missing(Exception):
    pass


def _head_values(values: Any, n: int) -> list[Any]:
    if hasattr(values, "slice") and hasattr(values, "to_pylist"):  # pyarrow
        return list(values.slice(0, n).to_pylist())
    if hasattr(values, "iloc"):  # pandas
        return list(values.iloc[:n].tolist())
    if isinstance(values, Tensor):
        return list(values[:n].tolist())
    if isinstance(values, np.ndarray):
        return list(values[:n].tolist())
    if isinstance(values, list | tuple):
        return list(values[:n])
    return list(np.asarray(values)[:n].tolist())


def _json_scalar(value: Any) -> Any:
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, bytes):
        value = value.decode("utf-8")
    if isinstance(value, str):
        value = value.strip()
        if len(value) > MAX_TEXT:
            raise _Missing
        return value
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    raise _Missing  # None, NaN, or something not JSON: not a clean example


def _json_value(value: Any) -> Any:
    if isinstance(value, list | tuple):
        values = [_json_scalar(v) for v in value]
        if len(values) > MAX_KEYS:
            raise _Missing
        return values[0] if len(values) == 1 else values
    return _json_scalar(value)


def first_instances(
    features: Mapping[str, Any], input_names: Sequence[str], limit: int = MAX_INSTANCES
) -> list[dict[str, Any]]:
    """Up to ``limit`` complete rows of ``features`` as JSON instances of the model's inputs
    (strings stripped, as serving strips them; rows with a missing value are passed over)."""
    names = [name for name in input_names if name in features][:MAX_KEYS]
    if not names:
        return []
    candidates = limit * 20
    columns = {name: _head_values(features[name], candidates) for name in names}
    rows: list[dict[str, Any]] = []
    for i in range(min(len(values) for values in columns.values())):
        try:
            rows.append({name: _json_value(columns[name][i]) for name in names})
        except _Missing:
            continue
        if len(rows) == limit:
            break
    return rows
