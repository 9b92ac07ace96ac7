"""The optional members of an export (format version 2): one table of kinds, handled here.

An export of format 2 lists what it carries beyond the manifest and the weights in one
object, ``members``, keyed by kind::

    "members": {
      "onnx": {"path": "model.onnx", "bytes": 48213, "sha256": "9f2c...",
               "opset": 17, "inputs": [...], "outputs": [...], "takes": "encoded"}
    }

Each entry is a JSON object. An entry that holds a file names it with ``path`` (relative,
inside the export) and gives its ``bytes`` and ``sha256``; an entry may also hold no file (a
signature described by the manifest alone). Every other key belongs to the kind. An empty
``members`` object is an export with none.

To add a kind (an extra signature, a LightGBM text model, evaluation evidence), register one
:class:`MemberKind` below: its name, its size limit, and a function that checks the entry's
own keys. Loading refuses a kind this mlengine does not know (an export that needs it would
predict wrongly without it), refuses a path that leaves the export (``..``, absolute paths,
symbolic links out) and a file whose size or digest differs from the entry, before anything
reads the file. Loading never runs code from a member: a member is data that mlengine's own
code interprets (an ONNX graph runs in onnxruntime, which executes only its built-in
operators).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mlengine.errors import ExportFormatError

MEMBERS_KEY = "members"
_FILE_KEYS = ("path", "bytes", "sha256")


@dataclass(frozen=True)
class MemberKind:
    """One kind of export member.

    Attributes:
        name: the key in ``members``.
        description: what it is, for error messages and documentation.
        max_bytes: the largest file the loader reads for it (checked before reading).
        needs_file: whether an entry must name a file.
        check: validates the entry's kind-specific keys; raises ExportFormatError naming the
            key (``where`` is the text to start the message with).
    """

    name: str
    description: str
    max_bytes: int
    needs_file: bool
    check: Callable[[Mapping[str, Any], str], None]


MEMBER_KINDS: dict[str, MemberKind] = {}


def register_member(kind: MemberKind) -> MemberKind:
    """Add a kind to the table (each name once)."""
    if kind.name in MEMBER_KINDS:
        raise ValueError(f"Export member kind {kind.name!r} is already registered.")
    MEMBER_KINDS[kind.name] = kind
    return kind


def _names(value: Any, where: str, key: str) -> list[dict[str, Any]]:
    """A list of ``{"name": str, ...}`` objects with distinct names."""
    if not isinstance(value, list) or not all(
        isinstance(item, dict) and isinstance(item.get("name"), str) and item["name"]
        for item in value
    ):
        raise ExportFormatError(f"{where}: {key!r} must be a list of objects with a 'name'.")
    names = [item["name"] for item in value]
    if len(set(names)) != len(names):
        raise ExportFormatError(f"{where}: {key!r} names an entry twice: {names}.")
    return value


ONNX_TAKES = ("encoded", "raw")


def _check_onnx(entry: Mapping[str, Any], where: str) -> None:
    opset = entry.get("opset")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 7 <= opset <= 30:
        raise ExportFormatError(f"{where}: 'opset' must be an int in [7, 30]; got {opset!r}.")
    _names(entry.get("inputs"), where, "inputs")
    _names(entry.get("outputs"), where, "outputs")
    if entry.get("takes") not in ONNX_TAKES:
        raise ExportFormatError(
            f"{where}: 'takes' must be one of {ONNX_TAKES}; got {entry.get('takes')!r}."
        )


register_member(
    MemberKind(
        name="onnx",
        description="the network as an ONNX graph (model.onnx), run by onnxruntime",
        max_bytes=1 << 30,
        needs_file=True,
        check=_check_onnx,
    )
)


def inside(root: str, relative: Any, what: str) -> str:
    """The real path of ``relative`` under ``root``; anything escaping ``root`` (``..``, an
    absolute path, a symbolic link out) is refused, naming ``what``."""
    if not isinstance(relative, str) or not relative or os.path.isabs(relative):
        raise ExportFormatError(f"{what}: {relative!r} is not a relative path inside the export.")
    real_root = os.path.realpath(root)
    path = os.path.realpath(os.path.join(root, relative))
    if os.path.commonpath([path, real_root]) != real_root:
        raise ExportFormatError(f"{what}: {relative!r} points outside the export directory.")
    return path


def check_members(manifest: Mapping[str, Any], root: str, where: str) -> dict[str, dict[str, Any]]:
    """The members of a manifest, each checked: a known kind, its own keys, and its file (inside
    the export, of the recorded size, within the kind's limit). Format 1 has none."""
    if manifest.get("format_version") == 1:
        return {}
    members = manifest.get(MEMBERS_KEY, {})
    if not isinstance(members, dict):
        raise ExportFormatError(f"{where}: {MEMBERS_KEY!r} must be an object.")
    checked: dict[str, dict[str, Any]] = {}
    for name, entry in members.items():
        kind = MEMBER_KINDS.get(name)
        if kind is None:
            raise ExportFormatError(
                f"{where}: export member {name!r} is unknown to this mlengine (it knows "
                f"{sorted(MEMBER_KINDS)}); upgrade mlengine to load this export."
            )
        what = f"{where}: member {name!r}"
        if not isinstance(entry, dict):
            raise ExportFormatError(f"{what} must be an object.")
        has_file = any(key in entry for key in _FILE_KEYS)
        if kind.needs_file or has_file:
            _check_file(entry, root, what, kind)
        kind.check(entry, what)
        checked[name] = dict(entry)
    return checked


def _check_file(entry: Mapping[str, Any], root: str, what: str, kind: MemberKind) -> None:
    path = inside(root, entry.get("path"), what)
    size, digest = entry.get("bytes"), entry.get("sha256")
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= kind.max_bytes:
        raise ExportFormatError(
            f"{what}: 'bytes' must be an int in [0, {kind.max_bytes}]; got {size!r}."
        )
    if not isinstance(digest, str) or len(digest) != 64:
        raise ExportFormatError(f"{what}: 'sha256' must be 64 hex digits; got {digest!r}.")
    if not os.path.isfile(path):
        raise ExportFormatError(f"{what}: file {entry['path']!r} is missing.")
    actual = os.path.getsize(path)
    if actual != size:
        raise ExportFormatError(
            f"{what}: file {entry['path']!r} has {actual} bytes; the manifest says {size}."
        )


def read_member(root: str, entry: Mapping[str, Any], what: str) -> bytes:
    """The bytes of a checked member's file, verified against its sha256."""
    path = inside(root, entry["path"], what)
    with open(path, "rb") as handle:
        data = handle.read(int(entry["bytes"]) + 1)
    if len(data) != entry["bytes"] or hashlib.sha256(data).hexdigest() != entry["sha256"]:
        raise ExportFormatError(
            f"{what}: file {entry['path']!r} does not match its sha256 in the manifest (changed "
            "or damaged after export)."
        )
    return data


def write_member(export_dir: str, relative: str, data: bytes, **fields: Any) -> dict[str, Any]:
    """Write a member's file into an export being assembled; return its manifest entry."""
    path = os.path.join(export_dir, relative)
    os.makedirs(os.path.dirname(path) or export_dir, exist_ok=True)
    with open(path, "wb") as handle:
        handle.write(data)
    return {
        "path": relative,
        "bytes": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        **fields,
    }


__all__ = [
    "MEMBERS_KEY",
    "MEMBER_KINDS",
    "MemberKind",
    "check_members",
    "inside",
    "read_member",
    "register_member",
    "write_member",
]
