"""The optional members of an export (format version 2): one table of kinds, handled here.

An export of format 2 lists what it carries beyond the manifest and the weights in one
object, ``members``, keyed by kind::

    "members": {
      "onnx": {"path": "model.onnx", "bytes": 48213, "sha256": "9f2c...",
               "opset": 17, "inputs": [...], "outputs": [...], "takes": "encoded"},
      "lightgbm": {"path": "lightgbm.txt", "bytes": 301544, "sha256": "51ab...",
                   "format": "text"},
      "ensemble": {"average": "probabilities",
                   "exports": [{"path": "members/0/saved_model.json", "bytes": 5120,
                                "sha256": "c0de..."}, ...]}
    }

(an export carries at most one of these three: each is the whole model; see
:mod:`mlengine.export.scorers`), ``serving_inputs`` (no file: the serialized inputs, tf.Example
and CSV, that the export's serving input receiver declared; :mod:`mlengine.export.receivers`)
and ``evidence``: ``{"path": "evidence.json", "bytes", "sha256"}``, how the model did at its
last evaluation (:mod:`mlengine.export.evidence`).

Each entry is a JSON object. An entry that holds a file names it with ``path`` (relative,
inside the export) and gives its ``bytes`` and ``sha256``; an entry may also hold no file (a
signature described by the manifest alone). An entry may also list further files of the same
form (an ensemble's member exports, each pinned by its manifest's digest): the kind's ``files``
names them, and each is checked as the entry's own file is. Every other key belongs to the
kind. An empty ``members`` object is an export with none.

To add a kind (an extra signature, evaluation evidence), register one
:class:`MemberKind` below: its name, its size limit, and a function that checks the entry's
own keys. Loading refuses a kind this mlengine does not know (an export that needs it would
predict wrongly without it), refuses a path that leaves the export (``..``, absolute paths,
symbolic links out), anything but a regular file, and a file whose size or digest differs from
the entry, before anything reads the file. Sizes are held to
:class:`mlengine.limits.ExportLimits` too (issue 19): each file within its kind's limit and the
field the kind names (``budget``: ``max_model_bytes`` for a file loaded whole,
``max_manifest_bytes`` for an ensemble's member manifests), all of them together within
``max_export_bytes``; :func:`member_files` lists them for copies of the export
(:func:`mlengine.export.validate.listed_files`). Loading never runs code from a member: a
member is data that mlengine's own code interprets (an ONNX graph runs in onnxruntime, which
executes only its built-in operators).
"""

from __future__ import annotations

import hashlib
import os
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from mlengine.errors import ExportFormatError
from mlengine.export.receivers import MEMBER as SERVING_INPUTS
from mlengine.export.receivers import check_serving_inputs
from mlengine.limits import MAX_EXPORT_BYTES_ENV, ExportLimits, show_bytes

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
        files: the further file entries an entry lists (``{"path", "bytes", "sha256"}`` each,
            after ``check`` accepted the entry), checked like the entry's own file against
            ``max_bytes``; None for a kind without any.
        budget: the :class:`~mlengine.limits.ExportLimits` field that caps each of its files
            too (the smaller of the two wins): ``max_model_bytes`` for a file loaded whole
            into memory, ``max_manifest_bytes`` for an export's manifest.
        nested_exports: whether ``files`` are the manifests of whole exports (an ensemble's
            members), whose own files sit in the manifest's folder and belong to the export.
    """

    name: str
    description: str
    max_bytes: int
    needs_file: bool
    check: Callable[[Mapping[str, Any], str], None]
    files: Callable[[Mapping[str, Any]], Sequence[Mapping[str, Any]]] | None = None
    budget: str = "max_model_bytes"
    nested_exports: bool = False

    def file_limit(self, limits: ExportLimits) -> int:
        """The largest file of this kind that ``limits`` lets a load read."""
        return min(self.max_bytes, int(getattr(limits, self.budget)))


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


def _one_of(entry: Mapping[str, Any], key: str, allowed: tuple[str, ...], where: str) -> None:
    """Refuse an entry whose ``key`` is not one of ``allowed``."""
    if entry.get(key) not in allowed:
        raise ExportFormatError(
            f"{where}: {key!r} must be one of {allowed}; got {entry.get(key)!r}."
        )


ONNX_TAKES = ("encoded", "raw")


def _check_onnx(entry: Mapping[str, Any], where: str) -> None:
    opset = entry.get("opset")
    if isinstance(opset, bool) or not isinstance(opset, int) or not 7 <= opset <= 30:
        raise ExportFormatError(f"{where}: 'opset' must be an int in [7, 30]; got {opset!r}.")
    _names(entry.get("inputs"), where, "inputs")
    _names(entry.get("outputs"), where, "outputs")
    _one_of(entry, "takes", ONNX_TAKES, where)


register_member(
    MemberKind(
        name="onnx",
        description="the network as an ONNX graph (model.onnx), run by onnxruntime",
        max_bytes=1 << 30,
        needs_file=True,
        check=_check_onnx,
    )
)


LIGHTGBM_FORMATS = ("text",)


def _check_lightgbm(entry: Mapping[str, Any], where: str) -> None:
    # LightGBM's text model only: tree structures and numbers. Its binary and pickled forms
    # are never accepted.
    _one_of(entry, "format", LIGHTGBM_FORMATS, where)


register_member(
    MemberKind(
        name="lightgbm",
        description="boosted trees as LightGBM's text model (lightgbm.txt)",
        # 100 trees of 64 leaves take about 0.3 MB; thousands of deep trees stay far below.
        max_bytes=512 * 1024 * 1024,
        needs_file=True,
        check=_check_lightgbm,
    )
)

ENSEMBLE_AVERAGES = ("probabilities", "predictions")
#: Where an ensemble keeps its member exports: ``members/<i>/``.
ENSEMBLE_DIR = "members"
_SUB_MANIFEST = "saved_model.json"


def _ensemble_exports(entry: Mapping[str, Any]) -> Sequence[Mapping[str, Any]]:
    exports: Sequence[Mapping[str, Any]] = entry["exports"]
    return exports


def _check_ensemble(entry: Mapping[str, Any], where: str) -> None:
    _one_of(entry, "average", ENSEMBLE_AVERAGES, where)
    exports = entry.get("exports")
    if not isinstance(exports, list) or len(exports) < 2:
        raise ExportFormatError(f"{where}: 'exports' must list two or more member exports.")
    for i, item in enumerate(exports):
        # Each member export sits in its own members/<i>/ and is pinned by the digest of its
        # manifest, which in turn pins its own members (a LightGBM model, an ONNX graph).
        expected = f"{ENSEMBLE_DIR}/{i}/{_SUB_MANIFEST}"
        if not isinstance(item, dict) or item.get("path") != expected:
            raise ExportFormatError(
                f"{where}: 'exports'[{i}] must be an object with 'path' {expected!r}."
            )


register_member(
    MemberKind(
        name="ensemble",
        description="an average of member exports kept in members/<i>/",
        # The limit of each member's manifest (its spec holds in-line vocabulary lists).
        max_bytes=128 * 1024 * 1024,
        needs_file=False,
        check=_check_ensemble,
        files=_ensemble_exports,
        budget="max_manifest_bytes",
        nested_exports=True,
    )
)


register_member(
    MemberKind(
        name=SERVING_INPUTS,
        description=(
            "serialized inputs a serving input receiver declared (tf.Example, CSV lines): "
            "see mlengine.export.receivers"
        ),
        max_bytes=0,
        needs_file=False,
        check=check_serving_inputs,
    )
)


#: The evidence of an export (:mod:`mlengine.export.evidence`): its one file and size bound.
EVIDENCE_FILE = "evidence.json"
EVIDENCE_MAX_BYTES = 256 * 1024


def _check_evidence(entry: Mapping[str, Any], where: str) -> None:
    # The file's own layout is checked when it is read (mlengine.export.evidence), never
    # when a Predictor loads the export: serving does not need it.
    if entry.get("path") != EVIDENCE_FILE:
        raise ExportFormatError(f"{where}: 'path' must be {EVIDENCE_FILE!r}.")


register_member(
    MemberKind(
        name="evidence",
        description="how the model did at its last evaluation (curves, history, instances)",
        max_bytes=EVIDENCE_MAX_BYTES,
        needs_file=True,
        check=_check_evidence,
        # JSON the console reads, never loaded by a Predictor: held to the manifest's limit,
        # not counted in the memory a version needs.
        budget="max_manifest_bytes",
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


def check_members(
    manifest: Mapping[str, Any], root: str, where: str, limits: ExportLimits | None = None
) -> dict[str, dict[str, Any]]:
    """The members of a manifest, each checked: a known kind, its own keys, and its files
    (inside the export, regular files of the recorded size, within the kind's limit and
    ``limits``; all of them together within ``limits.max_export_bytes``), before any is read.
    Format 1 has none."""
    if manifest.get("format_version") == 1:
        return {}
    limits = limits or ExportLimits.from_env()
    total = 0
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
            total += _check_file(entry, root, what, kind, limits)
        kind.check(entry, what)
        for i, part in enumerate(kind.files(entry) if kind.files is not None else ()):
            total += _check_file(part, root, f"{what} file {i}", kind, limits)
        checked[name] = dict(entry)
    if total > limits.max_export_bytes:
        raise ExportFormatError(
            f"{where}: the members' files hold {show_bytes(total)}, over the export limit of "
            f"{show_bytes(limits.max_export_bytes)} ({MAX_EXPORT_BYTES_ENV})."
        )
    return checked


def _check_file(
    entry: Mapping[str, Any], root: str, what: str, kind: MemberKind, limits: ExportLimits
) -> int:
    path = inside(root, entry.get("path"), what)
    size, digest = entry.get("bytes"), entry.get("sha256")
    limit = kind.file_limit(limits)
    if isinstance(size, bool) or not isinstance(size, int) or not 0 <= size <= limit:
        raise ExportFormatError(
            f"{what}: 'bytes' must be an int in [0, {limit}] ({show_bytes(limit)}: "
            f"{kind.name}'s limit or {kind.budget}); got {size!r}."
        )
    if not isinstance(digest, str) or len(digest) != 64:
        raise ExportFormatError(f"{what}: 'sha256' must be 64 hex digits; got {digest!r}.")
    try:
        info = os.stat(path)
    except OSError:
        raise ExportFormatError(f"{what}: file {entry['path']!r} is missing.") from None
    if not stat.S_ISREG(info.st_mode):
        # A FIFO or a device could block the read forever: refused before it is opened.
        raise ExportFormatError(
            f"{what}: {entry['path']!r} is not a regular file; only files are read."
        )
    actual = info.st_size
    if actual != size:
        raise ExportFormatError(
            f"{what}: file {entry['path']!r} has {actual} bytes; the manifest says {size}."
        )
    return size


def member_files(members: Any) -> list[tuple[str, bool]]:
    """The files a manifest's ``members`` object names, as ``(path, nested_export)``
    (``path`` relative to the export, as written), whether or not they were checked: what a
    copy of the export must hold. Entries that are not objects name none."""
    found: list[tuple[str, bool]] = []
    if not isinstance(members, dict):
        return found
    for name, entry in members.items():
        kind = MEMBER_KINDS.get(name)
        if kind is None or not isinstance(entry, dict):
            continue
        if isinstance(entry.get("path"), str):
            found.append((entry["path"], False))
        try:
            parts = kind.files(entry) if kind.files is not None else ()
        except (KeyError, TypeError):
            parts = ()
        for part in parts if isinstance(parts, list) else ():
            if isinstance(part, dict) and isinstance(part.get("path"), str):
                found.append((part["path"], kind.nested_exports))
    return found


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
    "ENSEMBLE_AVERAGES",
    "ENSEMBLE_DIR",
    "EVIDENCE_FILE",
    "EVIDENCE_MAX_BYTES",
    "LIGHTGBM_FORMATS",
    "MEMBERS_KEY",
    "MEMBER_KINDS",
    "MemberKind",
    "check_members",
    "inside",
    "member_files",
    "read_member",
    "register_member",
    "write_member",
]
