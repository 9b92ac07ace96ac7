"""The artifact store: each version's own copy of its export, under ``<root>/<model>/<number>/``.

The root is a local directory or any fsspec URL. A version's files are copied from its origin
into a *staging* folder, checked by loading them and answering a prediction on an instance
built from the export's own signature, exactly as the server will
(:func:`mlengine.export.probe.check_serves`), and only then put in place:

* local root: staging is ``<root>/<model>/.staging-<number>-<random>/`` on the same file
  system, and ``os.rename`` moves it into place atomically;
* object store: staging is a local temporary folder, uploaded file by file afterwards.

Only what the export's manifest lists is copied (:func:`mlengine.export.validate.listed_files`:
the manifest, the weights, the assets, format 2's member files and the files of an ensemble's
member exports): the version holds exactly what loading reads, and a
stray file in the origin (an editor's backup, a large log) costs nothing. Before a byte is
copied, every entry of the origin must be a regular file or a directory (a FIFO, a device or a
socket could hang the copy: refused at once, naming it) and the listed files together must fit
:attr:`mlengine.limits.ExportLimits.max_export_bytes`.

Either way the registry row, not the files, is the commit record: a version is READY only
after its files are complete and loaded, and a version that failed, or whose creator died,
has its folder removed. Folders without a row (left by a crash) are never served;
:meth:`ArtifactStore.entries` lists them for the registry's garbage collection.
"""

from __future__ import annotations

import importlib
import os
import posixpath
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path

import fsspec
from fsspec.implementations.local import LocalFileSystem

from mlengine.errors import ExportFormatError, InvalidParameterError, MLEngineError
from mlengine.limits import ExportLimits, show_bytes
from mlengine.registry.origins import (
    MANIFEST,
    ExportInfo,
    export_info,
    open_origin,
    parse_manifest,
    read_manifest,
)

COPY_CHUNK_BYTES = 8 * 1024 * 1024
STAGING_PREFIX = ".staging-"


def load_export(path: str) -> None:
    """Check that the export at local ``path`` loads and answers a prediction on an instance
    built from its own signature, with the same code that serves it
    (:func:`mlengine.export.probe.check_serves`).

    Imported lazily: the other registry commands never need the export code.

    Raises:
        ExportFormatError: the directory is not a valid export, or it cannot serve.
    """
    # importlib keeps this module importable (and type-checked) without the export code.
    export = importlib.import_module("mlengine.export")
    probe = importlib.import_module("mlengine.export.probe")
    probe.check_serves(export.load(path))


def listed_files(
    manifest: dict[str, object], read_nested: Callable[[str], dict[str, object]] | None = None
) -> list[str]:
    """The files an export's manifest lists (:func:`mlengine.export.validate.listed_files`);
    ``read_nested`` reads the manifest of a member export (an ensemble's), relative path."""
    validate = importlib.import_module("mlengine.export.validate")
    files: list[str] = validate.listed_files(manifest, read_nested)
    return files


def relative_path(model: str, number: int) -> str:
    """A version's folder relative to the artifact root (what the registry stores)."""
    return f"{model}/{number}"


class ArtifactStore:
    """Copies exports into the artifact root, removes them, and finds leftovers."""

    def __init__(self, root: str) -> None:
        self.root = root
        try:
            self.fs, root_path = fsspec.core.url_to_fs(root)
        except (ImportError, ValueError) as error:
            detail = " ".join(str(error).split())
            raise InvalidParameterError(f"Cannot use artifact root {root!r}: {detail}") from error
        self.is_local = isinstance(self.fs, LocalFileSystem)
        self.root_path = os.path.abspath(root_path) if self.is_local else root_path.rstrip("/")

    def location(self, rel: str) -> str:
        """The full path (local root) or URL (object store) of a relative artifact path."""
        if self.is_local:
            return os.path.join(self.root_path, *rel.split("/"))
        return self.fs.unstrip_protocol(posixpath.join(self.root_path, rel))

    def _path(self, *parts: str) -> str:
        if self.is_local:
            return os.path.join(self.root_path, *parts)
        return posixpath.join(self.root_path, *parts)

    def install(
        self, origin: str, model: str, number: int, heartbeat: Callable[[], None]
    ) -> ExportInfo:
        """Copy ``origin`` into place as version ``number`` of ``model`` and check it loads.

        ``heartbeat`` is called regularly while copying, so the registry can tell a slow copy
        from a dead process. On any failure every file written is removed before raising.
        """
        if self.is_local:
            model_dir = self._path(model)
            os.makedirs(model_dir, exist_ok=True)
            staging = tempfile.mkdtemp(prefix=f"{STAGING_PREFIX}{number}-", dir=model_dir)
        else:
            staging = tempfile.mkdtemp(prefix=f"mlengine-{STAGING_PREFIX}{number}-")
        final = self._path(model, str(number))
        try:
            fs, root = open_origin(origin)

            def read_nested(relative: str) -> dict[str, object]:
                # Its size checked before it is read, like the export's own manifest; where
                # it may lie (inside members/) the load checks.
                if posixpath.isabs(relative) or ".." in relative.split("/"):
                    raise ExportFormatError(
                        f"Origin {origin!r}: member export {relative!r} is not inside it."
                    )
                try:
                    return read_manifest(fs, posixpath.join(root, relative), origin)
                except OSError as error:
                    raise ExportFormatError(
                        f"Origin {origin!r}: member export {relative!r} cannot be read "
                        f"({error.strerror or type(error).__name__})."
                    ) from None

            manifest_path = posixpath.join(root, MANIFEST)
            listed = listed_files(read_manifest(fs, manifest_path, origin), read_nested)
            _copy_tree(origin, staging, heartbeat, listed)
            manifest = parse_manifest(Path(staging, MANIFEST).read_bytes(), origin)
            try:
                load_export(staging)
            except MLEngineError as error:  # name the origin, not the staging folder
                raise type(error)(str(error).replace(staging, origin)) from error
            heartbeat()
            self._remove_path(final)  # only a leftover of a crash can be there
            if self.is_local:
                os.rename(staging, final)
            else:
                self._upload(staging, final, heartbeat)
            return export_info(manifest)
        except BaseException:
            self._remove_path(final)
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def _upload(self, local_dir: str, remote: str, heartbeat: Callable[[], None]) -> None:
        for dirpath, _dirnames, filenames in os.walk(local_dir):
            rel = os.path.relpath(dirpath, local_dir)
            target = remote if rel == "." else posixpath.join(remote, *rel.split(os.sep))
            self.fs.makedirs(target, exist_ok=True)
            for filename in filenames:
                self.fs.put_file(os.path.join(dirpath, filename), posixpath.join(target, filename))
                heartbeat()

    def remove(self, model: str, number: int) -> None:
        """Remove a version's folder and any staging folder of that number."""
        self._remove_path(self._path(model, str(number)))
        if self.is_local:
            model_dir = self._path(model)
            if os.path.isdir(model_dir):
                for entry in os.listdir(model_dir):
                    if entry.startswith(f"{STAGING_PREFIX}{number}-"):
                        self._remove_path(os.path.join(model_dir, entry))

    def remove_model(self, model: str) -> None:
        """Remove a model's folder (its versions are gone already; this clears leftovers)."""
        self._remove_path(self._path(model))

    def _remove_path(self, path: str) -> None:
        if self.is_local:
            if os.path.islink(path) or os.path.isfile(path):
                os.unlink(path)
            elif os.path.isdir(path):
                shutil.rmtree(path)
        elif self.fs.exists(path):
            self.fs.rm(path, recursive=True)

    def entries(self) -> list[tuple[str, str]]:
        """Every model folder as ``(model, "")`` and every entry in it as ``(model, entry)``."""
        if not self.fs.isdir(self.root_path):
            return []
        found: list[tuple[str, str]] = []
        for model_dir in sorted(self.fs.ls(self.root_path, detail=False)):
            if not self.fs.isdir(model_dir):
                continue
            model = posixpath.basename(str(model_dir).rstrip("/"))
            found.append((model, ""))
            for entry_path in sorted(self.fs.ls(model_dir, detail=False)):
                found.append((model, posixpath.basename(str(entry_path).rstrip("/"))))
        return found

    def remove_entry(self, model: str, entry: str) -> None:
        """Remove one entry listed by :meth:`entries` (``entry == ""``: the model folder)."""
        self._remove_path(self._path(model, entry) if entry else self._path(model))

    def local_dir(self, rel: str, cache_root: str) -> str:
        """A local directory holding the version's files, downloading them once if remote.

        Versions are immutable, so a complete cached copy never goes stale; it is downloaded
        into a temporary name and renamed, so a crash never leaves a half copy in the cache.
        """
        if self.is_local:
            return self.location(rel)
        target = os.path.join(cache_root, *rel.split("/"))
        if os.path.isdir(target):
            return target
        os.makedirs(os.path.dirname(target), exist_ok=True)
        staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=os.path.dirname(target))
        try:
            _copy_tree(self.location(rel), staging, lambda: None)
            try:
                os.rename(staging, target)
            except OSError:
                if not os.path.isdir(target):  # another process won the race: use its copy
                    raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)
        return target


def _copy_tree(
    origin: str, dest: str, heartbeat: Callable[[], None], listed: list[str] | None = None
) -> None:
    """Copy the files of ``origin`` (only those in ``listed``, ``/``-separated paths relative
    to it, when given) into the local folder ``dest``.

    Before anything is copied: every entry must be a regular file or a directory (anything
    else could block a read forever: refused, naming it), symbolic links in a local origin are
    refused (an export has none, and following one could copy files from outside it), as is
    any entry whose name would leave ``dest``; and the files to copy must fit
    :attr:`~mlengine.limits.ExportLimits.max_export_bytes`.
    """
    fs, root = open_origin(origin)
    local_origin = isinstance(fs, LocalFileSystem)
    entries = fs.find(root, withdirs=True, detail=True)
    root = root.rstrip("/")
    files: list[tuple[str, str, int]] = []  # (path, relative path, size)
    for path, info in sorted(entries.items()):
        rel = posixpath.relpath(path, root)
        if rel == ".":
            continue
        if rel.startswith("../") or rel == ".." or posixpath.isabs(rel):
            raise InvalidParameterError(f"Origin {origin!r} lists an entry outside it: {path!r}.")
        if local_origin and os.path.islink(path):
            raise ExportFormatError(
                f"Origin {origin!r} contains a symbolic link ({rel}); copy the export without "
                "links."
            )
        kind = info.get("type")
        if kind == "directory":
            continue
        if kind != "file":
            raise ExportFormatError(
                f"Origin {origin!r} contains {rel!r}, which is not a regular file or a "
                "directory (a FIFO, a device or a socket?); only files and directories are "
                "copied."
            )
        if listed is None or rel in listed:
            files.append((path, rel, int(info.get("size") or 0)))
    limit = ExportLimits.from_env().max_export_bytes
    total = sum(size for _, _, size in files)
    if total > limit:
        raise ExportFormatError(
            f"Origin {origin!r} holds {show_bytes(total)} of files, over the limit of "
            f"{show_bytes(limit)} (MLENGINE_MAX_EXPORT_BYTES)."
        )
    for path, rel, _ in files:
        target = os.path.join(dest, *rel.split("/"))
        os.makedirs(os.path.dirname(target), exist_ok=True)
        with fs.open(path, "rb") as source, open(target, "wb") as sink:
            while chunk := source.read(COPY_CHUNK_BYTES):
                sink.write(chunk)
                heartbeat()
        heartbeat()


__all__ = ["ArtifactStore", "load_export", "relative_path"]
