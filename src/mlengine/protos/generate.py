"""Regenerate the ``*_pb2.py`` modules and their ``.pyi`` stubs from the ``.proto`` files.

Run: ``.venv/bin/python -m mlengine.protos.generate`` (needs grpcio-tools, a dev dependency).
The generated modules are checked in; ``tests/protos/test_generated.py`` runs :func:`generate`
into a temporary folder and compares.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SOURCE_ROOT = HERE.parent.parent  # src/: protos import each other as mlengine/protos/...
PROTOS = (
    "mlengine/protos/tensorflow/core/example/feature.proto",
    "mlengine/protos/tensorflow/core/example/example.proto",
)


def generate(out_dir: Path = SOURCE_ROOT) -> list[Path]:
    """Compile every proto of :data:`PROTOS` into ``out_dir`` (a source root: the modules land
    in ``out_dir/mlengine/protos/...``); returns the files written."""
    from grpc_tools import protoc  # a dev dependency: only regeneration needs it

    for proto in PROTOS:
        code = protoc.main(
            [
                "protoc",
                f"--proto_path={SOURCE_ROOT}",
                f"--python_out={out_dir}",
                f"--pyi_out={out_dir}",
                proto,
            ]
        )
        if code != 0:
            raise RuntimeError(f"protoc failed on {proto} (exit code {code}).")
    stems = [proto.removesuffix(".proto") for proto in PROTOS]
    return [out_dir / f"{stem}_pb2{ext}" for stem in stems for ext in (".py", ".pyi")]


if __name__ == "__main__":
    for path in generate():
        sys.stdout.write(f"wrote {path}\n")
