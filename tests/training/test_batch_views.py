"""Batches as views of their chunk: the same rows as EncodedBatch.split, in numpy and in torch."""

from __future__ import annotations

import dataclasses

import numpy as np
import torch

from mlengine import estimator
from mlengine.training.pipeline import encoded_chunks
from tests.estimator.helpers import census_rows, dnn_columns, linear_columns, quiet_config


def test_views_hold_the_rows_split_holds() -> None:
    x, y = census_rows(100)
    model = estimator.DNNLinearCombinedClassifier(
        linear_feature_columns=linear_columns(), dnn_feature_columns=dnn_columns(),
        dnn_hidden_units=[3], config=quiet_config(),
    )  # fmt: skip
    session = model._new_session()
    data = estimator.inputs.pandas_input_fn(x, y, batch_size=30, shuffle=False)
    chunk, size = next(encoded_chunks(data, model._encoder(session.model), need_labels=True))
    assert size == 30
    views, splits = chunk.views(30), chunk.split(30)
    assert [v.num_rows for v in views] == [b.num_rows for b in splits] == [30, 30, 30, 10]
    for view, batch in zip(views, splits, strict=True):
        arrays, expected = view.arrays(), batch.arrays()
        for part, want in ((arrays.linear, expected.linear), (arrays.dnn, expected.dnn)):
            assert part is not None and want is not None
            for field in dataclasses.fields(part):
                got_field, want_field = getattr(part, field.name), getattr(want, field.name)
                if not isinstance(got_field, tuple):
                    got_field, want_field = (got_field,), (want_field,)
                for got, ref in zip(got_field, want_field, strict=True):
                    assert np.array_equal(got, ref)
        assert arrays.labels is not None and expected.labels is not None
        assert np.array_equal(arrays.labels, expected.labels)
        # the torch side, made on first use
        assert view.labels is not None and batch.labels is not None
        assert torch.equal(view.labels, batch.labels)
        assert view.inputs.linear is not None and batch.inputs.linear is not None
        assert torch.equal(view.inputs.linear.sparse_ids, batch.inputs.linear.sparse_ids)
