"""Shared by the feature-column tests (``from tests.feature_column import helpers``)."""

from __future__ import annotations

import numpy as np

from mlengine.feature_column.transform import EncodedFeatures


def assert_same_encoding(got: EncodedFeatures | None, want: EncodedFeatures | None) -> None:
    """Every array of two encoded batches equal, value for value."""
    assert got is not None and want is not None
    np.testing.assert_array_equal(got.sparse_ids, want.sparse_ids)
    np.testing.assert_array_equal(got.sparse_weights, want.sparse_weights)
    np.testing.assert_array_equal(got.dense, want.dense)
    assert len(got.embedding_ids) == len(want.embedding_ids)
    for a, b in zip(got.embedding_ids, want.embedding_ids, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got.embedding_weights, want.embedding_weights, strict=True):
        np.testing.assert_array_equal(a, b)
