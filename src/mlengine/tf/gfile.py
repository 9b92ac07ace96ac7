"""``tf.io.gfile`` and TF 1's ``tf.gfile``, on fsspec (local paths and any fsspec URL).

TF 2's snake_case names (``exists``, ``makedirs``, ``GFile``...) and TF 1's CamelCase ones
(``Exists``, ``MakeDirs``, ``Open``...) call the same functions.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import IO, Any

import fsspec

from mlengine.tf._namespace import module_getattr


def _fs(path: str) -> tuple[Any, str]:
    fs, root = fsspec.core.url_to_fs(str(path))
    return fs, root


def GFile(name: str, mode: str = "r") -> IO[Any]:  # noqa: N802
    """A file object (text or binary, as ``mode`` says)."""
    return fsspec.open(str(name), mode).open()


FastGFile = Open = GFile


def exists(path: str) -> bool:
    fs, root = _fs(path)
    return bool(fs.exists(root))


def isdir(path: str) -> bool:
    fs, root = _fs(path)
    return bool(fs.isdir(root))


def makedirs(path: str) -> None:
    fs, root = _fs(path)
    fs.makedirs(root, exist_ok=True)


def mkdir(path: str) -> None:
    fs, root = _fs(path)
    fs.mkdir(root)


def listdir(path: str) -> list[str]:
    fs, root = _fs(path)
    return sorted(p.rstrip("/").rsplit("/", 1)[-1] for p in fs.ls(root, detail=False))


def glob(pattern: str) -> list[str]:
    fs, root = _fs(pattern)
    protocol = fs.protocol if isinstance(fs.protocol, str) else fs.protocol[0]
    found = sorted(fs.glob(root))
    return [p if protocol in ("file", "local") else f"{protocol}://{p}" for p in found]


def remove(path: str) -> None:
    fs, root = _fs(path)
    fs.rm(root)


def rmtree(path: str) -> None:
    fs, root = _fs(path)
    fs.rm(root, recursive=True)


def copy(src: str, dst: str, overwrite: bool = False) -> None:
    if exists(dst) and not overwrite:
        raise FileExistsError(f"{dst} exists (copy(..., overwrite=True) to replace it).")
    with GFile(src, "rb") as source, GFile(dst, "wb") as target:
        target.write(source.read())


def rename(src: str, dst: str, overwrite: bool = False) -> None:
    if exists(dst) and not overwrite:
        raise FileExistsError(f"{dst} exists (rename(..., overwrite=True) to replace it).")
    fs, root = _fs(src)
    fs.mv(root, _fs(dst)[1])


class _Stat:
    def __init__(self, info: dict[str, Any]) -> None:
        self.length = int(info.get("size") or 0)
        self.is_directory = info.get("type") == "directory"
        self.mtime_nsec = int(float(info.get("mtime", 0) or 0) * 1e9)


def stat(path: str) -> _Stat:
    fs, root = _fs(path)
    return _Stat(fs.info(root))


def walk(
    top: str, topdown: bool = True, onerror: Any = None
) -> Iterator[tuple[str, list[str], list[str]]]:
    fs, root = _fs(top)
    yield from fs.walk(root, topdown=topdown)


Exists = exists
IsDirectory = isdir
MakeDirs = makedirs
MkDir = mkdir
ListDirectory = listdir
Glob = glob
Remove = remove
DeleteRecursively = rmtree
Copy = copy
Rename = rename
Stat = stat
Walk = walk

__getattr__ = module_getattr("tf.io.gfile")

__all__ = [
    "Copy",
    "DeleteRecursively",
    "Exists",
    "FastGFile",
    "GFile",
    "Glob",
    "IsDirectory",
    "ListDirectory",
    "MakeDirs",
    "MkDir",
    "Open",
    "Remove",
    "Rename",
    "Stat",
    "Walk",
    "copy",
    "exists",
    "glob",
    "isdir",
    "listdir",
    "makedirs",
    "mkdir",
    "remove",
    "rename",
    "rmtree",
    "stat",
    "walk",
]
