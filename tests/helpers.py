"""Helpers shared by the tests of several folders (each folder's own are in its helpers.py).

Every folder under ``tests/`` is a package and the repository root is on pytest's path, so a
test imports a helper module by its full name: ``from tests.serving import helpers`` or
``from tests.registry.helpers import build_export``. Each helper module is then one module
object however many folders use it, with its caches (the export tests' Wide & Deep is trained
once a session). ``conftest.py`` files hold fixtures only, and are never imported.
"""

from __future__ import annotations

import importlib.util
import os
import pty
import re
import select
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

REPO_ROOT = Path(__file__).resolve().parent.parent
WIDE_DEEP_PY = REPO_ROOT / "examples" / "census" / "wide_deep.py"


def load_module(name: str, path: Path) -> ModuleType:
    """The module at ``path`` (a program, not part of a package), executed the first time and
    kept in ``sys.modules[name]``."""
    module = sys.modules.get(name)
    if module is None:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return module


def census_example() -> ModuleType:
    """``examples/census/wide_deep.py`` (the tutorial's and the demo's feature columns)."""
    return load_module("mlengine_example_wide_deep", WIDE_DEEP_PY)


# The terminal's control codes (colours, cursor moves, erasing a line).
CONTROL_CODES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


def run_in_terminal(
    argv: list[str], env: dict[str, str], timeout: float = 150.0, cwd: Path = REPO_ROOT
) -> tuple[int, str]:
    """Run ``argv`` with standard output and standard error on one pseudo-terminal (as a user
    at a shell runs it); its exit status and everything it drew there."""
    controller, terminal = pty.openpty()
    env = {**env, "TERM": "xterm-256color", "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    process = subprocess.Popen(
        argv, stdin=subprocess.DEVNULL, stdout=terminal, stderr=terminal, env=env, cwd=cwd
    )
    os.close(terminal)
    chunks = []
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([controller], [], [], 1.0)
            if ready:
                try:
                    data = os.read(controller, 65536)
                except OSError:  # the terminal closed: the program exited
                    break
                if not data:
                    break
                chunks.append(data)
            elif process.poll() is not None:
                break
    finally:
        os.close(controller)
        if process.poll() is None:
            process.kill()
    return process.wait(timeout=30), b"".join(chunks).decode("utf-8", "replace")
