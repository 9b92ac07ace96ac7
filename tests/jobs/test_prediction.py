"""Batch prediction jobs over a real tiny census export: JSON, CSV and Parquet inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from mlengine.data import census
from mlengine.errors import DataError, InvalidParameterError, NotFoundError
from mlengine.export import load
from mlengine.jobs import JobManager, JobState
from tests import tolerance

ROWS = 1234


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    """ROWS census rows: every feature column (the model uses age and occupation)."""
    x, _ = census.load("train")
    return x.head(ROWS).reset_index(drop=True)


@pytest.fixture
def registered(jobs: JobManager, export_dir: Path) -> JobManager:
    jobs.registry.create_model("census")
    jobs.registry.create_version("census", "v1", str(export_dir))
    return jobs


def _records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """Rows as JSON-ready dicts: a missing value (NaN) becomes null, as JSON has no NaN."""
    return frame.astype(object).where(frame.notna(), None).to_dict("records")


def _json_lines(rows: list[dict[str, Any]]) -> str:
    return "".join(json.dumps(row, allow_nan=False) + "\n" for row in rows)


def _results(output: Path) -> tuple[list[str], list[dict[str, Any]]]:
    names = sorted(p.name for p in output.iterdir())
    lines = [
        json.loads(line) for name in names for line in (output / name).read_text().splitlines()
    ]
    return names, lines


def _same(found: list[dict[str, Any]], export_dir: Path, frame: pd.DataFrame) -> None:
    """The job's predictions are the Predictor's (up to float32 rounding: the job predicts
    the rows in other batches, whose sums may run in another order)."""
    rows = frame[["age", "occupation"]]
    expected = load(export_dir).predict_instances(rows)
    rounding = tolerance.Bound.of_export(export_dir).logits(rows)
    tolerance.assert_instances_close(found, expected, rounding)


def _write_inputs(fmt: str, frame: pd.DataFrame, folder: Path) -> str:
    """Two input files of ``fmt`` (1000 + 234 rows); returns the glob naming them."""
    folder.mkdir()
    parts = [frame.iloc[:1000], frame.iloc[1000:]]
    for index, part in enumerate(parts):
        path = folder / f"part-{index}.{fmt}"
        if fmt == "json":
            path.write_text(_json_lines(_records(part)))
        elif fmt == "csv":
            part.to_csv(path, index=False)
        else:
            pq.write_table(pa.Table.from_pandas(part, preserve_index=False), path)
    return str(folder / f"*.{fmt}")


@pytest.mark.timeout(180)
@pytest.mark.parametrize("fmt", ["json", "csv", "parquet"])
def test_prediction_job_predicts_every_row(
    registered: JobManager, export_dir: Path, frame: pd.DataFrame, tmp_path: Path, fmt: str
) -> None:
    jobs = registered
    pattern = _write_inputs(fmt, frame, tmp_path / "inputs")
    output = tmp_path / "predictions"
    jobs.submit_prediction(
        f"batch_{fmt}",
        model="census",
        input_paths=[pattern],
        output_path=str(output),
        data_format=fmt,
        batch_size=300,
    )
    job = jobs.wait(f"batch_{fmt}", timeout=120)
    assert job.state is JobState.SUCCEEDED, (job.error_message, jobs.read_logs(job.job_id))
    assert job.output == {"outputPath": str(output), "predictionCount": ROWS, "errorCount": 0}
    body = job.to_json("proj")
    assert body["predictionOutput"]["predictionCount"] == str(ROWS)
    assert body["predictionInput"]["modelName"] == "projects/proj/models/census"
    assert body["predictionInput"]["versionName"] == "projects/proj/models/census/versions/v1"
    assert body["predictionInput"]["dataFormat"] == fmt.upper()
    names, found = _results(output)
    assert names == ["prediction.results-00000-of-00002", "prediction.results-00001-of-00002"]
    _same(found, export_dir, frame)
    assert f"Predicted 1000 rows of {tmp_path / 'inputs' / f'part-0.{fmt}'}" in jobs.read_logs(
        job.job_id
    )


@pytest.mark.timeout(120)
def test_prediction_from_a_model_dir(
    sqlite_jobs: JobManager, export_dir: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    path = tmp_path / "one.json"
    path.write_text(_json_lines(_records(frame.head(7))))
    sqlite_jobs.submit_prediction(
        "from_dir",
        model_dir=str(export_dir),
        input_paths=[str(path)],
        output_path=str(tmp_path / "out"),
    )
    job = sqlite_jobs.wait("from_dir", timeout=120)
    assert job.state is JobState.SUCCEEDED, job.error_message
    names, found = _results(tmp_path / "out")
    assert names == ["prediction.results-00000-of-00001"]
    _same(found, export_dir, frame.head(7))


def _bad_inputs(frame: pd.DataFrame) -> dict[str, tuple[str, str]]:
    good = _json_lines(_records(frame.head(5)[["age", "occupation"]]))
    lines = good.splitlines(keepends=True)
    return {
        "not_json": ("json", "".join(lines[:2]) + '{"age": 30, "occupation": \n' + good),
        "not_object": ("json", good + "[1, 2]\n"),
        "empty_line": ("json", good + "\n" + good),
        "null_age": ("json", "".join(lines[:3]) + '{"age": null, "occupation": "x"}\n' + good),
        "bad_csv": ("csv", "age,occupation\n25,Sales\n31,Sales\nabc,Sales\n40,Sales\n"),
        "ragged_csv": ("csv", "age,occupation\n25,Sales\n31,Sales,extra\n"),
        "not_parquet": ("parquet", "plain text"),
    }


@pytest.mark.timeout(180)
def test_rows_that_do_not_parse_fail_the_job_naming_file_and_line(
    sqlite_jobs: JobManager, export_dir: Path, frame: pd.DataFrame, tmp_path: Path
) -> None:
    jobs = sqlite_jobs
    jobs.registry.create_model("census")
    jobs.registry.create_version("census", "v1", str(export_dir))
    cases = _bad_inputs(frame)
    for name, (fmt, text) in cases.items():  # all at once: each job is a process of its own
        folder = tmp_path / f"in_{name}"
        folder.mkdir()
        (folder / f"data.{fmt}").write_text(text)
        jobs.submit_prediction(
            name,
            model="census",
            input_paths=[str(folder / f"data.{fmt}")],
            output_path=str(tmp_path / f"out_{name}"),
            data_format=fmt,
        )
    messages = {}
    for name, (fmt, _) in cases.items():
        job = jobs.wait(name, timeout=120)
        assert job.state is JobState.FAILED, name
        output = tmp_path / f"out_{name}"
        assert not output.exists() or not any(output.iterdir())  # no partial result left
        path = str(tmp_path / f"in_{name}" / f"data.{fmt}")
        messages[name] = (job.error_message or "").replace(path, "FILE")
    prefix = "Batch prediction failed: FILE"
    assert messages["not_json"].startswith(f"{prefix}, line 3: not valid JSON")
    assert messages["not_object"] == (
        f"{prefix}, line 6: expected a JSON object of feature values, got list."
    )
    assert messages["empty_line"].startswith(f"{prefix}, line 6: empty line")
    assert messages["null_age"].startswith(f"{prefix}, line 4: ")
    assert "'age'" in messages["null_age"]
    assert messages["bad_csv"].startswith(f"{prefix}, line 4: ")
    assert "'abc'" in messages["bad_csv"]
    assert messages["ragged_csv"].startswith(f"{prefix}, line 3: ")
    assert messages["not_parquet"].startswith(f"{prefix}: cannot be read as Parquet")


@pytest.mark.timeout(60)
def test_bad_prediction_submissions_fail_at_submit(
    registered: JobManager, export_dir: Path, tmp_path: Path
) -> None:
    jobs = registered
    missing = str(tmp_path / "nothing" / "*.json")
    with pytest.raises(DataError, match=r"No file matches the pattern '.*nothing/\*\.json'"):
        jobs.submit_prediction("p1", model="census", input_paths=[missing], output_path="o")
    data = tmp_path / "a.json"
    data.write_text('{"age": 3}\n')
    with pytest.raises(InvalidParameterError, match=r"Invalid data format 'tfrecord'"):
        jobs.submit_prediction(
            "p1", model="census", input_paths=[str(data)], output_path="o", data_format="tfrecord"
        )
    with pytest.raises(NotFoundError, match=r"Model \(name=nosuch\) not found"):
        jobs.submit_prediction("p1", model="nosuch", input_paths=[str(data)], output_path="o")
    with pytest.raises(NotFoundError, match=r"version=v9\) not found"):
        jobs.submit_prediction(
            "p1", model="census", version="v9", input_paths=[str(data)], output_path="o"
        )
    with pytest.raises(InvalidParameterError, match=r"exactly one of a model"):
        jobs.submit_prediction("p1", input_paths=[str(data)], output_path="o")
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "prediction.results-00000-of-00001").write_text("")
    with pytest.raises(InvalidParameterError, match=r"already holds prediction results"):
        jobs.submit_prediction(
            "p1", model="census", input_paths=[str(data)], output_path=str(taken)
        )
    assert jobs.list_jobs() == []
