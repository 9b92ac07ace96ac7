"""An export's ``lightgbm`` member: the booster in LightGBM's own text format, never a pickle.

One file, ``lightgbm.txt``, written by :func:`write_lightgbm_model` through
:func:`~mlengine.export.members.write_member` and read by :func:`read_lightgbm_model` through
:func:`~mlengine.export.members.read_member`; the manifest lists it as the member
``"lightgbm": {"path": "lightgbm.txt", "bytes": N, "sha256": "...", "format": "text"}``.
Loading checks the path (inside the export), the size (against the kind's limit) and the
digest before LightGBM parses a byte (the text is data: tree structures and numbers, never
code).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from mlengine.errors import ExportFormatError
from mlengine.export.members import read_member, write_member

if TYPE_CHECKING:
    import lightgbm

MEMBER = "lightgbm"
LIGHTGBM_FILE = "lightgbm.txt"


def write_lightgbm_model(export_dir: str, model_text: str) -> dict[str, Any]:
    """Write ``model_text`` (``Booster.model_to_string()``) into the export being assembled
    in ``export_dir``; returns its entry for ``members["lightgbm"]``."""
    return write_member(export_dir, LIGHTGBM_FILE, model_text.encode("utf-8"), format="text")


def read_lightgbm_model(root: str, entry: Mapping[str, Any]) -> lightgbm.Booster:
    """The booster of a checked ``lightgbm`` member entry (see ``check_members``).

    Raises:
        ExportFormatError: the file was altered after export (sha256), or is not a LightGBM
            text model.
    """
    where = f"{root}: member {MEMBER!r}"
    data = read_member(root, entry, where)
    import lightgbm

    try:
        return lightgbm.Booster(model_str=data.decode("utf-8"))
    except (lightgbm.basic.LightGBMError, UnicodeDecodeError, ValueError) as exc:
        raise ExportFormatError(f"{where}: not a LightGBM text model ({exc}).") from None
