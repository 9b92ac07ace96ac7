"""``--text-instances`` for an export whose serving input receiver decodes CSV lines: each line
is one instance in the receiver's recorded field order (as gcloud sent text instances to such
models), through ``predict --export-dir``, ``local predict``, the registry and ``predict
--endpoint`` against a ``mlengine serve`` process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from mlengine.cli.main import app
from mlengine.export import load
from mlengine.registry import Registry
from tests.serving import helpers as sh
from tests.tf import helpers as th


@pytest.fixture(scope="module")
def exports(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return th.train_and_export(tmp_path_factory.mktemp("csv_receiver"))


def run(*args: str) -> Any:
    return CliRunner().invoke(app, list(args), catch_exceptions=False)


def probabilities(output: str) -> list[list[float]]:
    return [p["probabilities"] for p in json.loads(output)["predictions"]]


def expected(export: Path) -> list[list[float]]:
    """The export's answers for the JSON features: the CSV lines decode to the same values,
    which then take the same code path on this machine, so the answers are equal, not close."""
    rows = load(str(export)).predict_instances(th.INSTANCES)
    return [row["probabilities"] for row in rows]


def lines_file(tmp_path: Path, lines: list[str]) -> str:
    path = tmp_path / "instances.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return str(path)


def test_headerless_lines_follow_the_receivers_field_order(
    home: Path, exports: dict[str, Path], tmp_path: Path
) -> None:
    text = lines_file(tmp_path, [th.csv_line(i) for i in th.INSTANCES])
    want = expected(exports["csv"])
    for command in (
        ("predict", "--export-dir", str(exports["csv"])),
        ("local", "predict", "--model-dir", str(exports["csv"])),
    ):
        result = run(*command, "--text-instances", text, "--format", "json")
        assert result.exit_code == 0, result.output
        assert probabilities(result.stdout) == want
    # A header naming the columns still reads them by name, in any order.
    rows = [f"{i['hours']},{i['work']},{i['age']}" for i in th.INSTANCES]
    named = lines_file(tmp_path, ["hours,work,age", *rows])
    result = run("predict", "--export-dir", str(exports["csv"]), "--text-instances", named,
                 "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert probabilities(result.stdout) == want


def test_a_bad_line_names_the_file_line_and_the_order(
    home: Path, exports: dict[str, Path], tmp_path: Path
) -> None:
    text = lines_file(tmp_path, [th.csv_line(th.INSTANCES[0]), "a,25,7"])
    result = run("predict", "--export-dir", str(exports["csv"]), "--text-instances", text)
    assert result.exit_code == 1
    assert "line 2: Instance 1:" in result.stderr
    assert "work, age, field 2 (unused), hours" in result.stderr


def test_an_export_without_a_csv_input_still_needs_a_header(
    home: Path, exports: dict[str, Path], tmp_path: Path
) -> None:
    text = lines_file(tmp_path, [th.csv_line(i) for i in th.INSTANCES])
    result = run("predict", "--export-dir", str(exports["example"]), "--text-instances", text)
    assert result.exit_code == 1
    assert "line 1 is not a header" in result.stderr
    assert "Its inputs: age, hours, work." in result.stderr


def test_registry_and_endpoint_send_the_lines_the_same_way(
    home: Path, exports: dict[str, Path], tmp_path: Path
) -> None:
    with Registry() as registry:
        registry.create_model("m")
        registry.create_version("m", "v1", str(exports["csv"]))
    text = lines_file(tmp_path, [th.csv_line(i) for i in th.INSTANCES])
    want = expected(exports["csv"])
    local = run("predict", "--model", "m", "--text-instances", text, "--format", "json")
    assert local.exit_code == 0, local.output
    assert probabilities(local.stdout) == want
    with sh.serve(home) as (url, _):
        remote = run("predict", "--endpoint", url, "--model", "m", "--text-instances", text,
                     "--format", "json")  # fmt: skip
        assert remote.exit_code == 0, remote.output
        assert remote.stdout == local.stdout
        bad = lines_file(tmp_path, [th.csv_line(th.INSTANCES[0]), "a,25,7"])
        refused = run("predict", "--endpoint", url, "--model", "m", "--text-instances", bad)
        assert refused.exit_code == 1
        assert "line 2: Instance 1:" in refused.stderr
        assert "work, age, field 2 (unused), hours" in refused.stderr
