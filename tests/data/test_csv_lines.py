"""CSV records decoded with TF's decode_csv rules; errors name the record and the order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

from mlengine import tuning
from mlengine.data.csv_lines import CsvField, decode_csv_lines
from mlengine.errors import FeatureError

FIELDS = [CsvField("int32", 0), CsvField("string", ""), CsvField("float32", 0.5)]
ORDER = ["age", "workclass", "hours"]


def test_types_defaults_white_space_and_quotes() -> None:
    age, workclass, hours = decode_csv_lines(
        ["39, State-gov,40", ' 50,"a, b",', "7,,"], FIELDS, order=ORDER
    )
    assert age.dtype == np.int32 and age.tolist() == [39, 50, 7]
    assert workclass.to_pylist() == [" State-gov", "a, b", ""]
    assert hours.dtype == np.float32 and hours.tolist() == [40.0, 0.5, 0.5]


def test_a_record_with_the_wrong_number_of_fields_names_the_order() -> None:
    with pytest.raises(
        FeatureError, match=r"Record 1: 2 field\(s\) where 3 are expected in the order: age, wo"
    ):
        decode_csv_lines(pa.array(["1,a,2", "1,a"]), FIELDS, order=ORDER)


def test_an_empty_line_is_a_record_with_one_field() -> None:
    with pytest.raises(FeatureError, match=r"Record 0: 1 field\(s\) where 3 are expected"):
        decode_csv_lines([""], FIELDS)


def test_a_field_that_is_not_a_number() -> None:
    with pytest.raises(FeatureError, match=r"Instance 0: age = 'x' is not a number \(int32\)"):
        decode_csv_lines(["x,a,1"], FIELDS, label="Instance", order=ORDER)


def test_required_fields_na_value_and_selected_columns() -> None:
    fields = [CsvField("string"), CsvField("int64", -1)]
    with pytest.raises(FeatureError, match="Record 1: field 0 is required"):
        decode_csv_lines(["a,1", ",2"], fields, order=["field 0", "n"])
    (n,) = decode_csv_lines(["a,NA", "b,3"], fields, na_value="NA", select_cols=[1])
    assert n.tolist() == [-1, 3]


def test_few_records_and_many_give_the_same_columns() -> None:
    """A few records go through Python's csv module, many through pyarrow's reader (speed
    only: mlengine.tuning.CSV_FEW_RECORDS); the answers are the same."""
    lines = ["39, State-gov,40", ' 50,"a, b",', "7,,", "-3,x,2.5"]
    many = lines * (tuning.CSV_FEW_RECORDS // len(lines) + 1)
    few_columns = decode_csv_lines(lines, FIELDS)
    many_columns = decode_csv_lines(many, FIELDS)
    for few, lots in zip(few_columns, many_columns, strict=True):
        if isinstance(few, np.ndarray):
            assert few.dtype == lots.dtype
            np.testing.assert_array_equal(lots[: len(lines)], few)
        else:
            assert lots.slice(0, len(lines)).to_pylist() == few.to_pylist()
    for bad, message in (("1,a", "2 field"), ("x,a,1", "'x' is not a number")):
        for records in ([bad], [*many, bad]):
            with pytest.raises(FeatureError, match=message):
                decode_csv_lines(records, FIELDS)
