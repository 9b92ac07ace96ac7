"""The run's last evaluation record, kept in ``model_dir/last_evaluation.json`` for a later
export (written atomically; a missing or unreadable record is None, never an error)."""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from typing import Any

from mlengine.export.evidence import MAX_BYTES

logger = logging.getLogger("mlengine")

#: The last evaluation of a run, kept in its model_dir for a later export.
LAST_EVALUATION_FILE = "last_evaluation.json"


def _write_json_atomically(path: str, data: Any) -> None:
    temp = f"{path}.tmp-{os.getpid()}-{time.time_ns()}"
    with open(temp, "w", encoding="utf-8") as handle:
        json.dump(data, handle, allow_nan=False, separators=(",", ":"))
    os.replace(temp, path)


def save_last_evaluation(model_dir: str, record: Mapping[str, Any]) -> None:
    """Keep ``record`` as the run's last evaluation (``model_dir/last_evaluation.json``)."""
    try:
        _write_json_atomically(os.path.join(model_dir, LAST_EVALUATION_FILE), record)
    except (OSError, ValueError) as exc:  # the evaluation itself succeeded
        logger.warning("Could not keep the last evaluation for the evidence: %s", exc)


def load_last_evaluation(model_dir: str) -> dict[str, Any] | None:
    """The run's last evaluation record, or None (none, or unreadable)."""
    path = os.path.join(model_dir, LAST_EVALUATION_FILE)
    try:
        if os.path.getsize(path) > MAX_BYTES:
            return None
        with open(path, encoding="utf-8") as handle:
            record = json.load(handle)
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None
