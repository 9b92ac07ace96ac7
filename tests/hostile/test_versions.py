"""Crafted exports given to the registry: READY only when the version serves, FAILED with a
reason scrubbed of paths otherwise; FIFOs refused at once; only listed files copied; sizes
capped before copying (issue 19.5, 19.6, 19.7, 19.10, Also)."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlengine.cli.main import app
from mlengine.errors import ExportFormatError, NotFoundError
from mlengine.registry import Registry, VersionState

# A version created from any of these must end FAILED, never READY (the review's four).
UNSERVABLE: dict[str, Callable[[dict[str, Any]], Any]] = {
    "activation": lambda m: m["model_spec"].update(dnn_activation_fn="os.system"),
    "float64": lambda m: m["signature"]["inputs"][0].update(dtype="float64"),
    "contradiction": lambda m: m["signature"]["inputs"][0].update(shape=[-1, 3]),
    "missing_input": lambda m: m["signature"]["inputs"].pop(0),
}


def crafted(source: Path, target: Path, change: Callable[[dict[str, Any]], Any]) -> Path:
    shutil.copytree(source, target)
    path = target / "saved_model.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest))
    return target


@pytest.mark.parametrize("kind", sorted(UNSERVABLE))
def test_a_version_that_cannot_serve_is_failed_with_the_reason(
    registry: Registry, wide_deep_export: Path, tmp_path: Path, kind: str
) -> None:
    export = crafted(wide_deep_export, tmp_path / kind, UNSERVABLE[kind])
    registry.create_model("m")
    with pytest.raises(ExportFormatError):
        registry.create_version("m", "v1", str(export))
    version = registry.get_version("m", "v1")
    assert version.state == VersionState.FAILED
    assert version.error_message and "model spec is invalid" in version.error_message
    assert str(tmp_path) not in version.error_message  # scrubbed of local paths (19.10)
    assert registry.get_model("m").default_version is None  # a FAILED version is no default


def test_weights_that_overflow_fail_the_probe(
    registry: Registry, linear_export: Path, tmp_path: Path
) -> None:
    """A version whose prediction on its own signature's instance is not finite is FAILED."""
    from safetensors.numpy import load_file, save_file

    export = tmp_path / "e"
    shutil.copytree(linear_export, export)
    path = export / "variables" / "variables.safetensors"
    weights = load_file(str(path))
    weights["linear.bias"][:] = float("nan")
    save_file(weights, str(path))
    registry.create_model("m")
    with pytest.raises(ExportFormatError, match="cannot serve"):
        registry.create_version("m", "v1", str(export))
    message = registry.get_version("m", "v1").error_message or ""
    assert "is not finite" in message and str(tmp_path) not in message


@pytest.mark.parametrize("kind", ["fifo", "socket"])
def test_a_fifo_or_socket_in_the_export_is_refused_at_once(
    registry: Registry, linear_export: Path, tmp_path: Path, kind: str
) -> None:
    export = tmp_path / "e"
    shutil.copytree(linear_export, export)
    special = export / "assets" / "pipe"
    special.parent.mkdir(exist_ok=True)
    if kind == "fifo":
        os.mkfifo(special)
    else:
        import socket

        listener = socket.socket(socket.AF_UNIX)
        listener.bind(str(special))
        listener.close()
    registry.create_model("m")
    started = time.monotonic()
    with pytest.raises(ExportFormatError, match="'assets/pipe', which is not a regular file"):
        registry.create_version("m", "v1", str(export))
    assert time.monotonic() - started < 10
    assert registry.get_version("m", "v1").state == VersionState.FAILED
    registry.delete_version("m", "v1")  # not stuck: DELETE works


def test_the_cli_refuses_a_fifo_in_one_line(linear_export: Path, tmp_path: Path) -> None:
    export = tmp_path / "e"
    shutil.copytree(linear_export, export)
    os.mkfifo(export / "pipe")
    runner = CliRunner()
    assert runner.invoke(app, ["models", "create", "m"]).exit_code == 0
    done: list[Any] = []
    thread = threading.Thread(
        target=lambda: done.append(
            runner.invoke(
                app, ["versions", "create", "v1", "--model", "m", "--origin", str(export)]
            )
        ),
        daemon=True,
    )
    thread.start()
    thread.join(timeout=60)
    assert done, "versions create hung on a FIFO"
    result = done[0]
    assert result.exit_code == 1 and "'pipe', which is not a regular file" in result.output
    assert "Traceback" not in result.output


def test_files_the_manifest_does_not_list_are_not_copied(
    registry: Registry, vocabulary_file_export: Path, tmp_path: Path
) -> None:
    export = tmp_path / "e"
    shutil.copytree(vocabulary_file_export, export)
    (export / "notes.txt").write_text("stray")
    (export / "assets" / "unused.vocab").write_text("a\nb\n")
    registry.create_model("m")
    registry.create_version("m", "v1", str(export))
    copied = Path(registry.export_dir("m", "v1"))
    files = sorted(str(p.relative_to(copied)) for p in copied.rglob("*") if p.is_file())
    assert files == [
        "assets/education.vocab",
        "evidence.json",
        "saved_model.json",
        "variables/variables.safetensors",
    ]


def test_the_export_size_cap_is_checked_before_copying(
    registry: Registry, linear_export: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLENGINE_MAX_EXPORT_BYTES", "1000")
    registry.create_model("m")
    with pytest.raises(ExportFormatError, match="over the limit of 1000 bytes"):
        registry.create_version("m", "v1", str(linear_export))


def test_a_deep_manifest_is_refused_by_versions_create(
    registry: Registry, linear_export: Path, tmp_path: Path
) -> None:
    export = tmp_path / "e"
    shutil.copytree(linear_export, export)
    (export / "saved_model.json").write_text("[" * 100_000 + "]" * 100_000)
    registry.create_model("m")
    with pytest.raises(ExportFormatError, match="nested deeper"):
        registry.create_version("m", "v1", str(export))


def test_huge_version_numbers_are_not_found(registry: Registry, linear_export: Path) -> None:
    registry.create_model("m")
    registry.create_version("m", "v1", str(linear_export))
    for ref in ("2147483648", "9223372036854775808", "99999999999999999999", "9" * 5000):
        with pytest.raises(NotFoundError, match="not found"):
            registry.get_version("m", ref)
    result = CliRunner().invoke(
        app, ["versions", "describe", "99999999999999999999", "--model", "m"]
    )
    # (the CLI's own registry is empty: the number is refused before any lookup)
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
