"""Parsing serialized tf.Examples with TF's rules, and the errors naming record and feature."""

from __future__ import annotations

import numpy as np
import pytest

from mlengine.data.examples import ExampleFeature, make_example, parse_examples
from mlengine.errors import FeatureError

SPECS = {
    "age": ExampleFeature("fixed", "float32", (1,)),
    "hours": ExampleFeature("fixed", "int64", (1,), (40,)),
    "education": ExampleFeature("fixed", "string", (1,)),
    "tags": ExampleFeature("var", "string"),
}


def serialized(**features: object) -> bytes:
    return make_example(features).SerializeToString()


def test_fixed_and_var_length_features() -> None:
    records = [
        serialized(age=25.5, hours=38, education=" 11th", tags=["a", "b"]),
        serialized(age=40.0, education="Masters"),  # hours: its default; no tags
    ]
    parsed = parse_examples(records, SPECS)
    np.testing.assert_array_equal(parsed["age"].values, np.array([25.5, 40.0], np.float32))
    assert parsed["age"].values.dtype == np.float32
    np.testing.assert_array_equal(parsed["hours"].values, [38, 40])
    assert parsed["education"].values == [" 11th", "Masters"]  # white space kept, as TF
    assert parsed["tags"].values == ["a", "b"]
    np.testing.assert_array_equal(parsed["tags"].lengths, [2, 0])


def test_a_missing_required_feature_names_record_and_feature() -> None:
    records = [serialized(age=1.0, education="x"), serialized(education="y")]
    with pytest.raises(FeatureError, match=r"Instance 1: feature 'age' \(float32\) is required"):
        parse_examples(records, SPECS)


def test_a_list_of_the_wrong_kind_is_refused() -> None:
    with pytest.raises(FeatureError, match="Record 0: feature 'age' is a bytes_list; expected a"):
        parse_examples([serialized(age="25", education="x")], SPECS, label="Record")


def test_the_wrong_number_of_values_is_refused() -> None:
    with pytest.raises(FeatureError, match=r"'age' has 2 value\(s\); expected 1"):
        parse_examples([serialized(age=[1.0, 2.0], education="x")], SPECS)


def test_bytes_that_are_not_an_example() -> None:
    with pytest.raises(FeatureError, match="Instance 0: the bytes are not a serialized"):
        parse_examples([b"\xff\xff\xff"], SPECS)
