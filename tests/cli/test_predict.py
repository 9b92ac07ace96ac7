"""``mlengine predict --export-dir PATH --json-instances FILE | --text-instances FILE``."""

from __future__ import annotations

import ast
import csv
import io
import json
import logging
import re
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from mlengine.cli.main import app
from mlengine.export import Predictor, load
from tests import tolerance
from tests.export import helpers

HEADER = ["CLASS_IDS", "CLASSES", "LOGISTIC", "LOGITS", "PROBABILITIES"]
COMMAND = "ERROR: (mlengine.predict) "


@pytest.fixture(scope="session")
def wide_deep(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The export of the tutorial's Wide & Deep (shared with tests/export when both run)."""
    return Path(helpers.wide_deep(tmp_path_factory.mktemp("wide_deep")).export_dir)


@pytest.fixture(scope="session")
def predictor(wide_deep: Path) -> Predictor:
    return load(wide_deep)


@pytest.fixture(scope="session")
def instances() -> list[dict[str, Any]]:
    return helpers.census_instances()


def run(*args: str, stdin: str | None = None) -> Result:
    return CliRunner().invoke(app, ["predict", *args], input=stdin, catch_exceptions=False)


def fails(*args: str, stdin: str | None = None) -> str:
    """Run a predict that must fail: exit 1, one ERROR line, no traceback, nothing on stdout."""
    result = run(*args, stdin=stdin)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Traceback" not in result.output
    errors = [line for line in result.stderr.splitlines() if line.startswith("ERROR:")]
    assert len(errors) == 1, result.stderr
    assert result.stderr.strip().splitlines()[-1] == errors[0]
    assert errors[0].startswith(COMMAND)
    return errors[0].removeprefix(COMMAND)


def parse_table(text: str) -> tuple[list[str], list[dict[str, Any]]]:
    """The header and the rows of a gcloud table, cells cut at the header's column starts."""
    lines = text.rstrip("\n").splitlines()
    header = lines[0]
    names = re.split(r" {2,}", header.strip())
    starts = [header.index(name) for name in names]
    rows = []
    for line in lines[1:]:
        cells = [
            line[start : (starts[i + 1] if i + 1 < len(starts) else None)].strip()
            for i, start in enumerate(starts)
        ]
        rows.append({name: ast.literal_eval(cell) for name, cell in zip(names, cells, strict=True)})
    return names, rows


def _write(path: Path, text: str) -> str:
    path.write_text(text)
    return str(path)


def _csv_lines(instances: list[dict[str, Any]], names: list[str]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    for instance in instances:
        writer.writerow([instance[name] for name in names])
    return out.getvalue()


# -- output ------------------------------------------------------------------------------------


def test_default_output_is_the_gcloud_table(
    wide_deep: Path, predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    census_json = str(helpers.CENSUS_JSON)
    result = run("--export-dir", str(wide_deep), "--json-instances", census_json)
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.rstrip("\n").splitlines()
    assert len(lines) == 3  # header and one row per instance
    assert re.split(r" {2,}", lines[0]) == HEADER
    assert " ".join(lines[0].split()) == "CLASS_IDS CLASSES LOGISTIC LOGITS PROBABILITIES"
    names, rows = parse_table(result.stdout)
    expected = predictor.predict_instances(instances)
    for row, want in zip(rows, expected, strict=True):
        assert row["CLASS_IDS"] == want["class_ids"]
        assert row["CLASSES"] == want["classes"]  # lists printed as lists: ['0']
        for key in ("LOGISTIC", "LOGITS", "PROBABILITIES"):
            assert isinstance(row[key], list)
            assert row[key] == pytest.approx(want[key.lower()], abs=1e-12)
    assert lines[1].startswith("[")


def test_format_json_prints_predictions(
    wide_deep: Path, predictor: Predictor, instances: list[dict[str, Any]]
) -> None:
    result = run(
        "--export-dir", str(wide_deep), "--json-instances", str(helpers.CENSUS_JSON),
        "--format", "json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    body = json.loads(result.stdout)
    assert list(body) == ["predictions"]
    assert body["predictions"] == predictor.predict_instances(instances)


def test_a_json_array_file_works_too(
    wide_deep: Path, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    array = _write(tmp_path / "array.json", json.dumps(instances, indent=2))
    lines = str(helpers.CENSUS_JSON)
    by_array = run("--export-dir", str(wide_deep), "--json-instances", array, "--format", "json")
    by_lines = run("--export-dir", str(wide_deep), "--json-instances", lines, "--format", "json")
    assert by_array.exit_code == 0, by_array.stderr
    assert json.loads(by_array.stdout) == json.loads(by_lines.stdout)


def test_dash_reads_stdin(wide_deep: Path, predictor: Predictor) -> None:
    text = helpers.CENSUS_JSON.read_text()
    result = run("--export-dir", str(wide_deep), "--json-instances", "-", "--format", "json",
                 stdin=text)  # fmt: skip
    assert result.exit_code == 0, result.stderr
    expected = predictor.predict_instances(helpers.census_instances())
    assert json.loads(result.stdout)["predictions"] == expected


ADULT_ROWS = [  # the first rows of adult.data, label column included
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, "
    "Male, 2174, 0, 40, United-States, <=50K",
    "50, Self-emp-not-inc, 83311, Bachelors, 13, Married-civ-spouse, Exec-managerial, Husband, "
    "White, Male, 0, 0, 13, United-States, <=50K",
]


def test_text_instances_census_rows_with_a_header(
    wide_deep: Path, predictor: Predictor, tmp_path: Path
) -> None:
    from mlengine.data.census import CSV_COLUMNS

    text = _write(tmp_path / "adult.csv", ",".join(CSV_COLUMNS) + "\n" + "\n".join(ADULT_ROWS))
    result = run("--export-dir", str(wide_deep), "--text-instances", text, "--format", "json")
    assert result.exit_code == 0, result.stderr
    got = json.loads(result.stdout)["predictions"]
    rows = [dict(zip(CSV_COLUMNS, row.split(","), strict=True)) for row in ADULT_ROWS]
    instances = [
        {k: int(v) if v.strip().lstrip("-").isdigit() else v for k, v in row.items()}
        for row in rows
    ]
    expected = predictor.predict_instances(instances)
    assert len(got) == 2
    # Numbers read from text are floats: those rows may take another path than JSON's ints.
    rounding = tolerance.Bound.of_export(wide_deep).logits(instances)
    tolerance.assert_instances_close(got, expected, rounding)
    table = run("--export-dir", str(wide_deep), "--text-instances", text)
    assert table.exit_code == 0, table.stderr
    assert re.split(r" {2,}", table.stdout.splitlines()[0]) == HEADER


def test_text_instances_without_a_header_name_the_inputs(
    wide_deep: Path, predictor: Predictor, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    names = predictor.input_names
    text = _write(tmp_path / "instances.csv", _csv_lines(instances, names))
    message = fails("--export-dir", str(wide_deep), "--text-instances", text)
    assert "line 1 is not a header" in message
    assert ", ".join(names) in message


def test_unknown_keys_only_warn(wide_deep: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="mlengine"):
        result = run("--export-dir", str(wide_deep), "--json-instances", str(helpers.CENSUS_JSON))
    assert result.exit_code == 0
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert all(name in warnings[0] for name in ("gender", "native_country", "race"))


# -- errors ------------------------------------------------------------------------------------


def test_non_json_line_names_the_line(
    wide_deep: Path, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    bad = _write(tmp_path / "bad.json", f"{json.dumps(instances[0])}\n{{age: 25}}\n")
    message = fails("--export-dir", str(wide_deep), "--json-instances", bad)
    assert "line 2" in message and "invalid JSON" in message


def test_empty_file(wide_deep: Path, tmp_path: Path) -> None:
    empty = _write(tmp_path / "empty.json", "")
    assert "empty" in fails("--export-dir", str(wide_deep), "--json-instances", empty)
    blank = _write(tmp_path / "blank.json", "\n  \n")
    assert "empty" in fails("--export-dir", str(wide_deep), "--json-instances", blank)
    assert "empty" in fails("--export-dir", str(wide_deep), "--text-instances", empty)
    assert "no instances" in fails("--export-dir", str(wide_deep), "--json-instances", "-",
                                   stdin="")  # fmt: skip


def test_empty_json_array(wide_deep: Path, tmp_path: Path) -> None:
    array = _write(tmp_path / "array.json", "[]")
    assert "no instances" in fails("--export-dir", str(wide_deep), "--json-instances", array)


def test_empty_line_names_the_line(
    wide_deep: Path, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    lines = [json.dumps(instances[0]), "", json.dumps(instances[1])]
    bad = _write(tmp_path / "gap.json", "\n".join(lines) + "\n")
    message = fails("--export-dir", str(wide_deep), "--json-instances", bad)
    assert "line 2 is empty" in message


def test_missing_required_feature_names_instance_and_feature(
    wide_deep: Path, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    second = {k: v for k, v in instances[1].items() if k != "hours_per_week"}
    bad = _write(tmp_path / "missing.json", f"{json.dumps(instances[0])}\n{json.dumps(second)}\n")
    message = fails("--export-dir", str(wide_deep), "--json-instances", bad)
    assert "Instance 1" in message and "'hours_per_week'" in message and "missing" in message


def test_wrong_type_names_the_feature(
    wide_deep: Path, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    bad = _write(tmp_path / "type.json", json.dumps(dict(instances[0], age="abc")) + "\n")
    message = fails("--export-dir", str(wide_deep), "--json-instances", bad)
    assert "'age'" in message and "abc" in message


def test_an_instance_that_is_not_an_object(wide_deep: Path, tmp_path: Path) -> None:
    bad = _write(tmp_path / "list.json", "[1, 2, 3]\n")
    message = fails("--export-dir", str(wide_deep), "--json-instances", bad)
    assert "Instance 0" in message and "object" in message


def test_wrong_number_of_csv_values_names_the_header(
    wide_deep: Path, predictor: Predictor, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    names = predictor.input_names
    good = ",".join(names) + "\n" + _csv_lines(instances[:1], names)
    bad = _write(tmp_path / "short.csv", good + "25, Private, 11th\n")
    message = fails("--export-dir", str(wide_deep), "--text-instances", bad)
    assert "line 3 has 3 values" in message
    assert "names 10 columns" in message
    assert ", ".join(names) in message


def test_a_header_missing_a_required_input(wide_deep: Path, tmp_path: Path) -> None:
    bad = _write(tmp_path / "partial.csv", "age,workclass\n25, Private\n")
    message = fails("--export-dir", str(wide_deep), "--text-instances", bad)
    assert "lacks the required input(s)" in message and "hours_per_week" in message


def test_json_request_and_files_of_the_wrong_kind(
    wide_deep: Path, predictor: Predictor, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    request = _write(tmp_path / "request.json", json.dumps({"instances": instances}, indent=2))
    ndjson = str(helpers.CENSUS_JSON)
    csv_file = _write(tmp_path / "rows.csv", "\n".join(ADULT_ROWS) + "\n")
    by_request = run("--export-dir", str(wide_deep), "--json-request", request, "--format", "json")
    assert by_request.exit_code == 0, by_request.stderr
    assert json.loads(by_request.stdout)["predictions"] == predictor.predict_instances(instances)
    for flag, path, fit in (
        ("--json-instances", request, "--json-request"),
        ("--json-request", ndjson, "--json-instances"),
        ("--json-instances", csv_file, "--text-instances"),
        ("--text-instances", ndjson, "--json-instances"),
        ("--json-request", csv_file, "--text-instances"),
    ):
        message = fails("--export-dir", str(wide_deep), flag, path)
        assert f"with {fit}" in message, (flag, message)
    one_line = _write(tmp_path / "one.json", json.dumps({"instances": instances}) + "\n")
    assert "--json-request" in fails("--export-dir", str(wide_deep), "--json-instances", one_line)
    instance = _write(tmp_path / "instance.json", json.dumps(instances[0]))
    message = fails("--export-dir", str(wide_deep), "--json-request", instance)
    assert 'missing "instances"' in message and "--json-instances" in message


def test_signature_name_picks_the_outputs(
    wide_deep: Path, predictor: Predictor, instances: list[dict[str, Any]], tmp_path: Path
) -> None:
    census_json = str(helpers.CENSUS_JSON)
    result = run("--export-dir", str(wide_deep), "--json-instances", census_json,
                 "--signature-name", "regression", "--format", "json")  # fmt: skip
    assert result.exit_code == 0, result.stderr
    logistic = [p["logistic"] for p in predictor.predict_instances(instances)]
    assert json.loads(result.stdout)["predictions"] == logistic  # one output: bare values
    bare = run("--export-dir", str(wide_deep), "--json-instances", census_json,
               "--signature-name", "regression")  # fmt: skip
    assert [ast.literal_eval(line) for line in bare.stdout.splitlines()] == logistic
    body = {"instances": instances, "signature_name": "regression"}
    request = _write(tmp_path / "request.json", json.dumps(body))
    by_body = run("--export-dir", str(wide_deep), "--json-request", request, "--format", "json")
    assert json.loads(by_body.stdout)["predictions"] == logistic
    message = fails("--export-dir", str(wide_deep), "--json-instances", census_json,
                    "--signature-name", "nope")  # fmt: skip
    assert '"nope" not found' in message and "serving_default" in message


def test_format_yaml_and_value_print_the_response(wide_deep: Path) -> None:
    census_json = str(helpers.CENSUS_JSON)
    yaml_out = run("--export-dir", str(wide_deep), "--json-instances", census_json,
                   "--format", "yaml")  # fmt: skip
    assert yaml_out.exit_code == 0, yaml_out.stderr
    assert yaml_out.stdout.startswith("predictions:\n- class_ids:")
    value = run("--export-dir", str(wide_deep), "--json-instances", census_json,
                "--format", "value(predictions[0].classes, predictions[1].class_ids)")  # fmt: skip
    assert value.exit_code == 0, value.stderr
    assert value.stdout.count("\t") == 1 and value.stdout.endswith("\n")


def test_missing_file(wide_deep: Path, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    message = fails("--export-dir", str(wide_deep), "--json-instances", missing)
    assert "nope.json" in message and "No such file" in message
    message = fails("--export-dir", str(wide_deep), "--text-instances", missing)
    assert "nope.json" in message


def test_missing_export_dir(tmp_path: Path) -> None:
    message = fails("--export-dir", str(tmp_path), "--json-instances", str(helpers.CENSUS_JSON))
    assert "not an mlengine export" in message


def test_both_or_neither_instance_flag(wide_deep: Path) -> None:
    census_json = str(helpers.CENSUS_JSON)
    both = fails("--export-dir", str(wide_deep), "--json-instances", census_json,
                 "--text-instances", census_json)  # fmt: skip
    neither = fails("--export-dir", str(wide_deep))
    for message in (both, neither):
        assert "--json-instances" in message and "--text-instances" in message


def test_both_or_neither_model_source() -> None:
    census_json = str(helpers.CENSUS_JSON)
    assert "--model" in fails("--json-instances", census_json)
    assert "--export-dir" in fails("--model", "m", "--export-dir", ".", "--json-instances",
                                   census_json)  # fmt: skip


def test_endpoint_needs_a_registered_model(wide_deep: Path) -> None:
    message = fails(
        "--export-dir", str(wide_deep), "--json-instances", str(helpers.CENSUS_JSON),
        "--endpoint", "http://127.0.0.1:8080",
    )  # fmt: skip
    assert "--endpoint takes --model" in message


def test_verbosity_error_silences_the_unknown_features_warning(wide_deep: Path) -> None:
    census_json = str(helpers.CENSUS_JSON)
    quiet = run("--export-dir", str(wide_deep), "--json-instances", census_json,
                "--verbosity", "error")  # fmt: skip
    assert quiet.exit_code == 0 and "Ignoring unknown features" not in quiet.stderr
    told = run("--export-dir", str(wide_deep), "--json-instances", census_json,
               "--verbosity", "info")  # fmt: skip
    assert "Ignoring unknown features" in told.stderr
    assert logging.getLogger("mlengine").level == logging.NOTSET  # restored after the command
