"""CSV records decoded with TF's decode_csv rules; errors name the record and the order."""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest

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
