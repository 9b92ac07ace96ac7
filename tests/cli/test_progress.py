"""Long commands show a live line in a terminal (a pty) and nothing more in a pipe."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from tests.cli.helpers import Cli
from tests.helpers import CONTROL_CODES, run_in_terminal


def _mlengine(home: Path, *args: str) -> str:
    env = {**os.environ, "MLENGINE_HOME": str(home)}
    code, shown = run_in_terminal([sys.executable, "-m", "mlengine.cli.main", *args], env)
    assert code == 0, shown
    return shown


@pytest.mark.timeout(240)
def test_versions_create_and_a_followed_prediction_job_show_a_live_line(
    home: Path, export_dir: Path, tmp_path: Path
) -> None:
    _mlengine(home, "models", "create", "census")
    shown = _mlengine(
        home, "versions", "create", "v1", "--model", "census", "--origin", str(export_dir)
    )
    plain = CONTROL_CODES.sub("", shown)
    assert "Creating version [v1] of model [census]..." in plain  # the live line
    assert "0:00:0" in plain  # its clock
    assert "Created version [v1] (number 1) of model [census]." in plain
    data = tmp_path / "data.json"
    data.write_text('{"age": 25, "occupation": "Sales"}\n{"age": 52, "occupation": "x"}\n')
    shown = _mlengine(
        home, "jobs", "submit", "prediction", "batch1", "--model", "census", "--input-paths",
        str(data), "--output-path", str(tmp_path / "out"), "--data-format", "json",
        "--stream-logs",
    )  # fmt: skip
    plain = CONTROL_CODES.sub("", shown)
    assert "Job [batch1] running..." in plain
    assert "Wrote 2 predictions in 1 shard(s)" in plain  # the logs, above the live line
    assert "Job [batch1] SUCCEEDED." in plain


def test_in_a_pipe_the_commands_print_what_they_printed_before(cli: Cli, export_dir: Path) -> None:
    cli("models", "create", "census")
    result = cli("versions", "create", "v1", "--model", "census", "--origin", str(export_dir))
    assert "Creating version [" not in result.stderr and "\x1b[" not in result.output
    assert result.stderr.startswith("Creating version (this might take a few minutes)...\n")
