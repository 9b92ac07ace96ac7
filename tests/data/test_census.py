"""Tests of mlengine.data.census: the raw-file reader and the packaged copy."""

from __future__ import annotations

import gzip
from pathlib import Path

import fsspec
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pytest

from mlengine.data import census
from mlengine.errors import DataError, InvalidParameterError

GOOD_ROW = (
    "39, State-gov, 77516, Bachelors, 13, Never-married, Adm-clerical, Not-in-family, White, "
    "Male, 2174, 0, 40, United-States, <=50K"
)


def test_columns_partition_the_schema() -> None:
    assert len(census.CSV_COLUMNS) == 15
    assert census.CSV_COLUMNS[-1] == census.LABEL_COLUMN == "income_bracket"
    parts = [*census.NUMERIC_COLUMNS, *census.CATEGORICAL_COLUMNS, census.LABEL_COLUMN]
    assert sorted(parts) == sorted(census.CSV_COLUMNS)
    assert len(census.CATEGORICAL_COLUMNS) == 8


@pytest.mark.parametrize("split, raw", [("train", "adult.data"), ("test", "adult.test")])
def test_packaged_copy_equals_shared_files(shared_census_dir: Path, split: str, raw: str) -> None:
    packaged = census.load_table(split)  # type: ignore[arg-type]
    assert packaged.equals(census.read_table(shared_census_dir / raw))


def test_train_split_counts() -> None:
    table = census.load_table("train")
    assert table.num_rows == 32_561
    labels = table.column("income_bracket").to_pylist()
    assert labels.count("<=50K") == 24_720
    assert labels.count(">50K") == 7_841
    missing = {name: table.column(name).null_count for name in table.column_names}
    assert missing == {
        **{name: 0 for name in census.CSV_COLUMNS},
        "workclass": 1_836,
        "occupation": 1_843,
        "native_country": 583,
    }


def test_test_split_is_cleaned() -> None:
    table = census.load_table("test")
    assert table.num_rows == 16_281
    # the trailing '.' of adult.test's labels is gone; the first line is not a row
    assert set(table.column("income_bracket").to_pylist()) == {"<=50K", ">50K"}
    assert table.column("age")[0].as_py() == 25


def test_types_whitespace_and_missing() -> None:
    table = census.load_table("train")
    for name in census.NUMERIC_COLUMNS:
        assert table.schema.field(name).type == pa.int64()
    for name in census.CATEGORICAL_COLUMNS:
        values = table.column(name)
        assert values.type == pa.string()
        assert pc.all(pc.equal(values, pc.utf8_trim_whitespace(values))).as_py()
        assert not pc.any(pc.equal(values, "?")).as_py()
    first = table.slice(0, 1).to_pylist()[0]
    assert first["workclass"] == "State-gov"
    assert first["fnlwgt"] == 77516
    assert first["native_country"] == "United-States"


@pytest.mark.parametrize(
    "split, rows, positives", [("train", 32_561, 7_841), ("test", 16_281, 3_846)]
)
def test_load_returns_features_and_int_labels(split: str, rows: int, positives: int) -> None:
    x, y = census.load(split)  # type: ignore[arg-type]
    assert list(x.columns) == list(census.CSV_COLUMNS[:-1])
    assert x.shape == (rows, 14)
    assert y.dtype == np.int64
    assert set(np.unique(y)) == {0, 1}
    assert int(y.sum()) == positives
    assert x["workclass"].isna().sum() == (1_836 if split == "train" else 963)


def test_read_table_from_gzip_and_memory_url(tmp_path: Path) -> None:
    text = f"|1x3 Cross validator\n{GOOD_ROW}.\n\n{GOOD_ROW.replace('State-gov', '?')}\n\n"
    path = tmp_path / "adult.test.gz"
    path.write_bytes(gzip.compress(text.encode()))
    with fsspec.open("memory://census/adult.test", "wb") as f:
        f.write(text.encode())
    for source in (path, "memory://census/adult.test"):
        table = census.read_table(source)
        assert table.num_rows == 2  # marker line and blank lines skipped
        assert table.column("workclass").to_pylist() == ["State-gov", None]
        assert table.column("income_bracket").to_pylist() == ["<=50K", "<=50K"]


def test_load_with_path(tmp_path: Path) -> None:
    path = tmp_path / "adult.data"
    path.write_text(f"{GOOD_ROW}\n{GOOD_ROW.replace('<=50K', '>50K')}\n")
    x, y = census.load("train", path=str(path))
    assert y.tolist() == [0, 1]
    assert x["age"].tolist() == [39, 39]


def test_wrong_number_of_columns_names_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "short.data"
    path.write_text(f"{GOOD_ROW}\n{GOOD_ROW}\n39, State-gov, 77516\n")
    with pytest.raises(DataError, match=r"short\.data.*Row #3.*Expected 15 columns"):
        census.read_table(path)


def test_bad_number_names_file_and_row(tmp_path: Path) -> None:
    path = tmp_path / "bad.data"
    path.write_text(f"{GOOD_ROW}\n{GOOD_ROW.replace('39', 'old', 1)}\n")
    with pytest.raises(DataError, match=r"bad\.data.*Row #2.*'old'"):
        census.read_table(path)


def test_missing_file_is_a_data_error(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="nothing.data"):
        census.read_table(tmp_path / "nothing.data")


def test_unknown_label_is_a_data_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.data"
    path.write_text(f"{GOOD_ROW}\n{GOOD_ROW.replace('<=50K', 'rich')}\n")
    with pytest.raises(DataError, match=r"labels\.data.*'rich'.*data row 2"):
        census.load(path=str(path))


def test_unknown_split() -> None:
    with pytest.raises(InvalidParameterError, match="'split'.*'valid'"):
        census.load("valid")  # type: ignore[arg-type]
