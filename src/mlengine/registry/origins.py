"""Where a version's export may come from, and the cheap checks made before anything changes.

An origin is a local path or any fsspec URL (``file://``, ``s3://``, ``gs://``, ``memory://``).
Before the registry writes a row it checks that the origin is allowed, reachable, a directory
and an mlengine export (its ``saved_model.json`` names the format), so the common mistakes
(a typo, the export *base* instead of one export) leave the registry unchanged.
"""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import fsspec
from fsspec import AbstractFileSystem

from mlengine.errors import ExportFormatError, InvalidParameterError
from mlengine.export.receivers import MEMBER as SERVING_INPUTS
from mlengine.export.receivers import read_serving_inputs
from mlengine.limits import ExportLimits, load_json, show_bytes

MANIFEST = "saved_model.json"
EXPORT_FORMAT = "mlengine-export"
ALLOWED_ORIGINS_ENV = "MLENGINE_ALLOWED_ORIGINS"


def is_url(value: str) -> bool:
    """Whether ``value`` names a protocol (``s3://...``) rather than a local path."""
    return "://" in value


def check_location(value: object, what: str) -> str:
    """``value`` if it can name a file or URL: a non-empty string without NUL or other control
    characters (no file system takes them: ``os`` raises on NUL, and a message or log line
    showing one would be mangled). Every path or URL a request or a job carries is checked
    here before it reaches the file system.

    Raises:
        InvalidParameterError: naming ``what`` and the value.
    """
    if not isinstance(value, str) or not value.strip():
        raise InvalidParameterError(f"Invalid {what} {value!r}: expected a path or a URL.")
    if any(ord(char) < 32 or ord(char) == 127 for char in value):
        raise InvalidParameterError(
            f"Invalid {what} {value!r}: a path or URL cannot contain NUL or other control "
            "characters."
        )
    return value


def normalize_origin(origin: str) -> str:
    """Local paths become absolute (the CLI's relative paths mean the working directory)."""
    check_location(origin, "origin")
    if is_url(origin):
        return origin.rstrip("/") if not origin.endswith("://") else origin
    return os.path.abspath(os.path.expanduser(origin))


def _canonical(value: str) -> str:
    """A form of an origin or prefix in which prefix comparison is meaningful."""
    if is_url(value):
        protocol, _, path = value.partition("://")
        if protocol == "file":
            return os.path.realpath(path)
        return f"{protocol.lower()}://{posixpath.normpath('/' + path).lstrip('/')}"
    return os.path.realpath(os.path.expanduser(value))


def under_prefix(location: str, prefixes: Sequence[str]) -> bool:
    """Whether a path or URL lies under one of ``prefixes``, by whole path segments, after
    resolving symbolic links and ``..`` of local paths (see :func:`check_allowed`)."""
    candidate = _canonical(location)
    for prefix in prefixes:
        base = _canonical(prefix).rstrip("/")
        if candidate == base or candidate.startswith(base + "/"):
            return True
    return False


def check_allowed(origin: str, allowed_origins: Sequence[str] | None) -> None:
    """Refuse an origin outside ``allowed_origins`` (a list of prefixes; ``None``: any).

    Prefixes match whole path segments (``/data/exports`` allows ``/data/exports/1`` but not
    ``/data/exports-secret``); local paths are compared after resolving symbolic links and
    ``..``, so neither escapes a prefix.

    Raises:
        InvalidParameterError: the origin is not under any prefix.
    """
    if allowed_origins is None or under_prefix(origin, allowed_origins):
        return
    listed = ", ".join(allowed_origins) if allowed_origins else "none"
    raise InvalidParameterError(
        f"Origin {origin!r} is not under an allowed prefix (allowed: {listed}); "
        f"{ALLOWED_ORIGINS_ENV} lists the prefixes the server may read from."
    )


def allowed_origins_from_env(environ: Mapping[str, str] | None = None) -> list[str]:
    """The comma-separated prefixes of ``MLENGINE_ALLOWED_ORIGINS`` (unset: none allowed)."""
    raw = (os.environ if environ is None else environ).get(ALLOWED_ORIGINS_ENV, "")
    return [item.strip() for item in raw.split(",") if item.strip()]


def open_origin(origin: str) -> tuple[AbstractFileSystem, str]:
    """The fsspec filesystem and path of an origin.

    Raises:
        InvalidParameterError: unknown protocol, or its fsspec package is not installed.
    """
    try:
        fs, path = fsspec.core.url_to_fs(origin)
    except (ImportError, ValueError) as error:
        detail = " ".join(str(error).split())
        raise InvalidParameterError(f"Cannot read origin {origin!r}: {detail}") from error
    return fs, path


@dataclass(frozen=True)
class ExportInfo:
    """What the registry keeps from an export's manifest."""

    signature: dict[str, Any] | None
    metrics: dict[str, Any] | None


def parse_manifest(data: bytes, where: str) -> dict[str, Any]:
    """Parse ``saved_model.json`` (depth-bounded: :func:`mlengine.limits.load_json`) and check
    that it names the mlengine export format."""
    try:
        manifest = load_json(data)
    except ValueError as error:
        raise ExportFormatError(f"{where}/{MANIFEST} is not valid JSON: {error}") from None
    if not isinstance(manifest, dict) or manifest.get("format") != EXPORT_FORMAT:
        raise ExportFormatError(
            f"{where}/{MANIFEST} does not describe an mlengine export "
            f'(expected "format": "{EXPORT_FORMAT}").'
        )
    return manifest


def export_info(manifest: Mapping[str, Any]) -> ExportInfo:
    """The signature and eval metrics of a manifest (``None`` where it has none). The
    signature also lists the serialized inputs (tf.Example, CSV) the export declares, under
    ``serving_inputs``, so that clients of a version learn, say, a CSV input's field order."""
    signature = manifest.get("signature")
    metrics = manifest.get("metrics")
    if isinstance(signature, dict):
        members = manifest.get("members")
        declared = read_serving_inputs(members) if isinstance(members, dict) else []
        if declared:
            signature = {**signature, SERVING_INPUTS: [d.to_json() for d in declared]}
    return ExportInfo(
        signature=signature if isinstance(signature, dict) else None,
        metrics=metrics if isinstance(metrics, dict) else None,
    )


def precheck_export(origin: str) -> dict[str, Any]:
    """Check, without copying, that ``origin`` is a readable mlengine export directory.

    Returns the parsed manifest.

    Raises:
        ExportFormatError: missing, not a directory, or not an export (the message says which,
            and points at a contained export when given an export base).
        InvalidParameterError: the origin cannot be read at all.
    """
    fs, path = open_origin(origin)
    try:
        if not fs.isdir(path):
            if fs.exists(path):
                raise ExportFormatError(f"Origin {origin!r} is not a directory.")
            raise ExportFormatError(f"Origin {origin!r} does not exist.")
        manifest_path = posixpath.join(path, MANIFEST)
        if not fs.isfile(manifest_path):
            raise ExportFormatError(_not_an_export(fs, path, origin))
        return read_manifest(fs, manifest_path, origin)
    except OSError as error:
        detail = " ".join(str(error).split())
        raise InvalidParameterError(f"Cannot read origin {origin!r}: {detail}") from error


def read_manifest(fs: AbstractFileSystem, path: str, origin: str) -> dict[str, Any]:
    """The export's ``saved_model.json`` at ``path`` of ``fs``, its size checked against
    the limit before it is read (:class:`mlengine.limits.ExportLimits`)."""
    limit = ExportLimits.from_env().max_manifest_bytes
    size = int(fs.size(path) or 0)
    if size > limit:
        raise ExportFormatError(
            f"{origin}/{MANIFEST} has {show_bytes(size)}, over the limit of {show_bytes(limit)}."
        )
    return parse_manifest(fs.cat_file(path), origin)


def _not_an_export(fs: AbstractFileSystem, path: str, origin: str) -> str:
    """The message for a directory without a manifest, with a hint for an export base."""
    message = f"Origin {origin!r} is not an mlengine export: it has no {MANIFEST}."
    try:
        children = sorted(fs.ls(path, detail=False), reverse=True)
    except OSError:
        return message
    for child in children[:20]:
        if fs.isfile(posixpath.join(child, MANIFEST)):
            name = posixpath.basename(child.rstrip("/"))
            return (
                f"{message} It looks like an export base; pass one of its exports, e.g. "
                f"{origin.rstrip('/')}/{name}"
            )
    return message


__all__ = [
    "ALLOWED_ORIGINS_ENV",
    "EXPORT_FORMAT",
    "MANIFEST",
    "ExportInfo",
    "allowed_origins_from_env",
    "check_allowed",
    "check_location",
    "export_info",
    "is_url",
    "normalize_origin",
    "open_origin",
    "parse_manifest",
    "precheck_export",
    "read_manifest",
    "under_prefix",
]
