"""Whether a loaded export can serve: one prediction on an instance built from its own signature.

A version becomes READY only once :func:`check_serves` has passed on its files (the registry
runs it: :func:`mlengine.registry.artifacts.load_export`), and the server runs the same probe
on every version it loads before that version answers a request. The instance is built from the
signature alone, as the server's request schema reads it: each input's ``default`` where the
signature gives one, else a placeholder of its dtype (``0.0``, ``0``, ``""``), passed as the
server passes a request's columns (a dict of lists). So a version whose signature its model
contradicts, whose network cannot run, or whose answer is not finite fails here, with the
reason, instead of answering every request with an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from mlengine.errors import ExportFormatError, MLEngineError

if TYPE_CHECKING:
    from mlengine.export.predictor import Predictor

PLACEHOLDERS: dict[str, Any] = {"float32": 0.0, "int64": 0, "string": ""}
"""The value of an input without a default, by signature dtype."""


def probe_columns(inputs: Sequence[Mapping[str, Any]], rows: int = 1) -> dict[str, list[Any]]:
    """``rows`` instances built from a signature's inputs, as columns (see the module
    docstring).

    Raises:
        ExportFormatError: an input's dtype is not one a request can carry.
    """
    columns: dict[str, list[Any]] = {}
    for spec in inputs:
        name, dtype = spec.get("name"), spec.get("dtype")
        if not isinstance(name, str) or not isinstance(dtype, str) or dtype not in PLACEHOLDERS:
            raise ExportFormatError(
                f"signature input {name!r} has dtype {dtype!r}; a request can only carry "
                f"{sorted(PLACEHOLDERS)}."
            )
        value = spec.get("default")
        if value is None:
            value = PLACEHOLDERS[dtype]
            shape = spec.get("shape")
            if isinstance(shape, list) and len(shape) > 1:  # [-1, *dims]: a nested list
                value = np.full(shape[1:], value).tolist()
        columns[name] = [value] * rows
    return columns


def check_serves(predictor: Predictor, rows: int = 1) -> dict[str, np.ndarray]:
    """Predict ``rows`` instances built from the predictor's signature; return the outputs.

    Raises:
        ExportFormatError: the prediction failed, lacks an output the head makes, or has the
            wrong number of rows; the message gives the reason.
    """
    where = f"{predictor.path}: the version cannot serve"
    columns = probe_columns(predictor.inputs, rows)
    try:
        outputs = predictor.predict(columns)
    except MLEngineError as error:
        raise ExportFormatError(
            f"{where}: predicting an instance built from its signature failed: {error}"
        ) from None
    except Exception as error:  # a model that cannot run, whatever the reason, is not READY
        raise ExportFormatError(
            f"{where}: predicting an instance built from its signature failed: "
            f"{type(error).__name__}: {error}"
        ) from None
    for key in predictor.output_keys:
        found = outputs.get(key)
        if found is None or len(found) != rows:
            raise ExportFormatError(
                f"{where}: its prediction has no output {key!r} with one row per instance."
            )
    return outputs


__all__ = ["PLACEHOLDERS", "check_serves", "probe_columns"]
