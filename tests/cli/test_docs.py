"""The README's command line section is true: its commands run, its coverage table of gcloud's
flags matches the commands, and every command and flag has help."""

from __future__ import annotations

import re
import shlex
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer

from mlengine.cli.cloud_flags import CLOUD_ONLY
from mlengine.cli.gcloud import (
    CLOUD_PANEL,
    GLOBAL_FLAGS,
    LIST_COMMANDS,
    LIST_FLAGS,
    install,
    leaves,
)
from mlengine.cli.main import app
from mlengine.jobs import JobManager
from mlengine.registry import Registry
from tests.serving import helpers as sh

from .conftest import Cli, job_helpers

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()

TRAINER = """
import sys
print("trainer.task got", sys.argv[1:], flush=True)
"""


def command_tree() -> Any:
    root = typer.main.get_command(app)
    install(root)
    return root


def code_blocks() -> Iterator[tuple[str, list[str]]]:
    """``(language, lines)`` of every fenced block of the README, continuation lines joined."""
    for match in re.finditer(r"^```(\w*)\n(.*?)^```", README, re.M | re.S):
        joined = re.sub(r"\\\n\s*", " ", match.group(2))
        yield match.group(1), joined.splitlines()


def mlengine_lines(lines: list[str]) -> list[str]:
    """The lines that run ``mlengine`` (after ``VAR=value`` prefixes), comments cut."""
    return [line for line in lines if re.match(r"\s*(\w+=\S+\s+)*mlengine\s", line)]


# -- help ---------------------------------------------------------------------------------------


def test_every_command_and_flag_has_help() -> None:
    root = command_tree()
    groups = [
        root,
        *(command for command in root.commands.values() if hasattr(command, "commands")),
    ]
    for group in groups:
        for name, command in group.commands.items():
            assert (command.help or "").strip(), f"{name} has no help"
    for path, command in leaves(root):
        assert (command.help or "").strip(), f"{' '.join(path)} has no help"
        for param in command.params:
            assert (getattr(param, "help", None) or "").strip(), f"{path} {param.name}: no help"


# -- the coverage table -------------------------------------------------------------------------


def _flags(cell: str) -> set[str]:
    return {
        name for quoted in re.findall(r"`([^`]+)`", cell) for name in quoted.split("/")
        if name.startswith("--") and not re.match(r"--\w+=", name)
    }  # fmt: skip


def coverage_rows() -> dict[str, list[set[str]]]:
    """``command → [same, local meaning, ignored, own]`` flag sets of the coverage table."""
    table = README[README.index("| command | gcloud's flags, same meaning") :]
    rows: dict[str, list[set[str]]] = {}
    for line in table.splitlines()[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        for command in re.findall(r"`([^`]+)`", cells[0]) or [cells[0]]:
            rows[command] = [_flags(cell) for cell in cells[1:]]
    return rows


def test_the_coverage_table_matches_the_commands() -> None:
    rows = coverage_rows()
    every = rows.pop("every command")
    listing = rows.pop("list commands")
    assert every[0] | every[2] == {spec.name for spec in GLOBAL_FLAGS}
    assert every[2] == {spec.name for spec in GLOBAL_FLAGS if spec.act is None}
    assert listing[0] | listing[1] | listing[2] == {spec.name for spec in LIST_FLAGS}
    assert listing[2] == {spec.name for spec in LIST_FLAGS if spec.act is None}
    # "operations list, describe, wait, cancel" names the group's commands after the first.
    for name in ("describe", "wait", "cancel"):
        rows[f"operations {name}"] = rows.pop(name)
    commands = {
        " ".join(path): command
        for path, command in leaves(command_tree())
        if not command.hidden and path[0] != "locations"  # Google Cloud only: refused
    }
    commands.pop("serve")  # mlengine's own commands
    commands.pop("tensorboard")
    assert set(rows) == set(commands)
    for name, (same, local, ignored, own) in rows.items():
        path = tuple(name.split())
        assert ignored == {flag.name for flag in CLOUD_ONLY.get(path, ())}, name
        command = commands[name]
        native = {
            param.opts[0] for param in command.params
            if getattr(param, "opts", None) and param.opts[0].startswith("--")
            and getattr(param, "rich_help_panel", None) in (None, CLOUD_PANEL)
        }  # fmt: skip
        assert same | local | ignored | own == native - {"--help"}, name
        assert not (same & local) and not ((same | local) & ignored), name
        extra = {spec.name for spec in LIST_FLAGS} if path in LIST_COMMANDS else set()
        assert extra <= {o for param in command.params for o in getattr(param, "opts", [])}


# -- the commands -------------------------------------------------------------------------------


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A folder with the files the README's commands name: a trainer package and census.json."""
    (tmp_path / "trainer").mkdir()
    (tmp_path / "trainer" / "__init__.py").write_text("")
    (tmp_path / "trainer" / "task.py").write_text(TRAINER.lstrip())
    (tmp_path / "examples" / "census").mkdir(parents=True)
    shutil.copy(REPO / "examples" / "census" / "census.json", tmp_path / "examples" / "census")
    monkeypatch.chdir(tmp_path)
    yield tmp_path
    with JobManager() as jobs:
        job_helpers.cleanup(jobs)


def _substitute(line: str, variables: dict[str, str]) -> list[str]:
    text = re.sub(r"\$\{?(\w+)\}?", lambda m: variables[m.group(1)], line)
    return shlex.split(text, comments=True)


@pytest.mark.timeout(180)
def test_the_readme_script_runs(cli: Cli, export_dir: Path, workdir: Path) -> None:
    [script] = [lines for language, lines in code_blocks() if language == "sh"]
    variables: dict[str, str] = {}
    outputs: dict[str, Any] = {}
    for line in script:
        assignment = re.fullmatch(r"(\w+)=(\S+)", line.strip())
        if assignment:
            variables[assignment.group(1)] = assignment.group(2)
            variables["MODEL_BINARIES"] = str(export_dir)  # the README's is `make demo`'s
            continue
        words = _substitute(line, variables)
        if not words:
            continue
        assert words[0] == "mlengine", line
        result = cli(*words[1:])
        assert "ERROR" not in result.stderr, (line, result.stderr)
        outputs[" ".join(words[1:3])] = result
    assert len(outputs) == len(mlengine_lines(script)) >= 12
    assert "--regions=us-central1" in outputs["models --regions"].stderr
    assert outputs["versions list"].stdout == "v1\n"
    assert "trainer.task got ['--job-dir', " in outputs["local train"].stdout
    assert outputs["jobs describe"].stdout == "SUCCEEDED\n"
    assert outputs["jobs list"].stdout.splitlines()[1].split()[:2] == ["census_1", "SUCCEEDED"]


@pytest.mark.timeout(120)
def test_the_readmes_other_commands_run(cli: Cli, export_dir: Path, home: Path) -> None:
    """Outside the script: `mlengine serve` lines (parsed: they run until stopped) and
    `predict --endpoint` lines (run against a live server)."""
    lines = [
        line
        for language, block in code_blocks()
        if language not in ("sh", "text")
        for line in mlengine_lines(block)
    ]
    assert lines, "the README shows the server's commands"
    tree = command_tree().commands
    endpoint_lines = []
    for line in lines:
        words = shlex.split(line, comments=True)
        words = words[words.index("mlengine") + 1 :]
        if words[0] in ("serve", "tensorboard"):  # they run until stopped
            tree[words[0]].make_context(words[0], words[1:])  # raises on a flag it lacks
        else:
            assert "--endpoint" in words, line
            endpoint_lines.append(words)
    with Registry() as registry:
        registry.create_model("census")
        registry.create_version("census", "v1", str(export_dir))
    with sh.serve(home) as (url, _server):
        for words in endpoint_lines:
            words = [url if word.startswith("http://127.0.0.1:8080") else word for word in words]
            words = [str(REPO / word) if word.startswith("examples/") else word for word in words]
            result = cli(*words)
            assert result.stdout.splitlines()[0].split()[0] == "CLASS_IDS"


def test_the_synopsis_names_real_commands_and_flags() -> None:
    """The ``text`` block is a grammar, not commands: its commands and flags must exist."""
    [synopsis] = [lines for language, lines in code_blocks() if language == "text"]
    root = command_tree()
    lines = [line for line in synopsis if line.startswith("mlengine ")]
    lines[2] += synopsis[synopsis.index(lines[2]) + 1]  # predict's second line
    for line in lines:
        words = line.split()
        group = root.commands[words[1]]
        if words[2] == "submit":
            group, words = group.commands["submit"], words[1:]
        if hasattr(group, "commands"):
            names = {name for word in words[2:] for name in word.split("|")}
            commands = [command for name, command in group.commands.items() if name in names]
            assert commands, line
        else:
            commands = [group]
        options = {o for command in commands for p in command.params for o in p.opts}
        flags = set(re.findall(r"--[a-z][a-z-]*", line))
        assert flags <= options, (line, flags - options)
