"""An export's LightGBM member: the booster in LightGBM's own text format, never a pickle.

One file, ``lightgbm.txt``, written by :func:`write_lightgbm_model` and read by
:func:`read_lightgbm_model`; the manifest points at it under the one key ``"lightgbm"``:
``{"file": "lightgbm.txt", "bytes": N, "sha256": "..."}``. Reading checks the size against
:data:`MAX_BYTES` and the digest before LightGBM parses a byte (the text is data: tree
structures and numbers, never code).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlengine.errors import ExportFormatError

if TYPE_CHECKING:
    import lightgbm

MANIFEST_KEY = "lightgbm"
LIGHTGBM_FILE = "lightgbm.txt"
#: The largest model text accepted (100 trees of 64 leaves take about 0.3 MB).
MAX_BYTES = 512 * 1024 * 1024


def write_lightgbm_model(export_dir: str, model_text: str) -> dict[str, Any]:
    """Write ``model_text`` (``Booster.model_to_string()``) into ``export_dir``; returns the
    manifest entry to store under :data:`MANIFEST_KEY`."""
    data = model_text.encode("utf-8")
    with open(os.path.join(export_dir, LIGHTGBM_FILE), "wb") as handle:
        handle.write(data)
    return {"file": LIGHTGBM_FILE, "bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def read_lightgbm_model(export_dir: str, manifest: Mapping[str, Any]) -> lightgbm.Booster:
    """The booster of an export whose manifest has a :data:`MANIFEST_KEY` entry, checked.

    Raises:
        ExportFormatError: the entry is malformed, the file is missing, too large, altered
            (size or sha256), or not a LightGBM model.
    """
    entry = manifest.get(MANIFEST_KEY)
    if not isinstance(entry, Mapping) or entry.get("file") != LIGHTGBM_FILE:
        raise ExportFormatError(
            f"{export_dir}: the manifest's {MANIFEST_KEY!r} entry must name {LIGHTGBM_FILE!r}; "
            f"got {entry!r}."
        )
    size = entry.get("bytes")
    if not isinstance(size, int) or not 0 < size <= MAX_BYTES:
        raise ExportFormatError(f"{export_dir}: {LIGHTGBM_FILE} size {size!r} is not accepted.")
    path = os.path.join(export_dir, LIGHTGBM_FILE)
    try:
        if os.path.getsize(path) != size:
            raise ExportFormatError(
                f"{path}: {os.path.getsize(path)} bytes, the manifest says {size}."
            )
        with open(path, "rb") as handle:
            data = handle.read()
    except FileNotFoundError:
        raise ExportFormatError(f"{export_dir!r} has no {LIGHTGBM_FILE}.") from None
    if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
        raise ExportFormatError(f"{path}: sha256 differs from the manifest's (altered file).")
    import lightgbm

    try:
        return lightgbm.Booster(model_str=data.decode("utf-8"))
    except (lightgbm.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise ExportFormatError(f"{path}: not a LightGBM text model ({exc}).") from None
