"""Regenerate ``descriptors.binpb`` (a serialized ``FileDescriptorSet``) from the ``.proto``
files beside it.

Run: ``.venv/bin/python -m mlengine.protos.generate`` (needs grpcio-tools, a dev
dependency). The output is checked in, so installing mlengine needs no protoc and serving needs
only the protobuf runtime; ``tests/protos/test_generated.py`` regenerates it into a
temporary file and compares, so the ``.proto`` files stay the source of truth.
"""

from __future__ import annotations

import sys
from importlib import resources
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUTPUT = HERE / "descriptors.binpb"


def protos() -> list[str]:
    """Every ``.proto`` file under this folder, relative to it (the import root)."""
    return sorted(str(path.relative_to(HERE)) for path in HERE.rglob("*.proto"))


def generate(output: Path = OUTPUT) -> Path:
    """Compile the protos (with the well-known types they import) into ``output``."""
    from grpc_tools import protoc  # a dev dependency: only regeneration needs it

    well_known = resources.files("grpc_tools") / "_proto"
    code = protoc.main(
        [
            "protoc",
            f"--proto_path={HERE}",
            f"--proto_path={well_known}",
            f"--descriptor_set_out={output}",
            "--include_imports",
            *protos(),
        ]
    )
    if code != 0:
        raise RuntimeError(f"protoc failed (exit code {code}).")
    return output


if __name__ == "__main__":
    sys.stdout.write(f"wrote {generate()}\n")
