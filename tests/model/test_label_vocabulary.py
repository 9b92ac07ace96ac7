"""label_vocabulary is matched like labels, stripped of white space; outputs keep it as given."""

from __future__ import annotations

import numpy as np
import pytest

from mlengine.errors import DataError, InvalidParameterError
from mlengine.model.heads import BinaryClassHead, MultiClassHead


def test_census_labels_with_their_leading_space() -> None:
    head = BinaryClassHead([" <=50K", " >50K"])  # what the census CSV holds
    assert head.encode_labels([" >50K", "<=50K", ">50K "]).tolist() == [1.0, 0.0, 1.0]
    assert head.predictions(np.array([[3.0]]))["classes"].tolist() == [[" >50K"]]  # TF's classes


def test_unknown_labels_and_ambiguous_vocabularies() -> None:
    with pytest.raises(DataError, match="Label 'x' of example 1 is not in label_vocabulary"):
        MultiClassHead(3, ["a", " b", "c "]).encode_labels(["b", " x "])
    with pytest.raises(InvalidParameterError, match="differ once stripped"):
        BinaryClassHead(["yes", " yes"])
