"""The numpy training step trains what torch trains: the same weights after the same steps
(to float32 rounding), for the models it covers; every other model trains with torch."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pandas as pd
import pyarrow as pa
import pytest

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.training import fast_step, loop, numpy_step
from tests import tolerance
from tests.estimator.helpers import (
    EDUCATION,
    census_rows,
    dnn_columns,
    linear_columns,
    quiet_config,
)

STEPS = 25


def _train(make: Any, model_dir: Path, numpy_allowed: bool, x: Any, y: Any) -> Any:
    """Train ``STEPS`` steps, with the numpy step where it applies or with torch only; return
    the estimator and how many batches the numpy step trained."""
    model = make(str(model_dir))
    calls = []
    real_build = numpy_step.build

    def build(network: Any, head: Any, *rows: Any) -> numpy_step.NumpyStep | None:
        step = real_build(network, head, *rows) if numpy_allowed else None
        if step is None:
            return None

        def counted(batch: Any) -> Any:
            result = step(batch)
            calls.append(result is not None)
            return result

        return counted  # type: ignore[return-value]

    data = estimator.inputs.pandas_input_fn(
        x, y, batch_size=40, num_epochs=None, shuffle=True, seed=3
    )
    with mock.patch.object(loop.numpy_steps, "build", build):
        model.train(data, steps=STEPS)
    return model, calls


WIDE_DEEP_DNN = [
    *dnn_columns(),
    fc.embedding_column(
        fc.categorical_column_with_vocabulary_list("education", EDUCATION), 3, trainable=False
    ),
]

MODELS = {
    "wide_deep": lambda d: estimator.DNNLinearCombinedClassifier(
        model_dir=d, linear_feature_columns=linear_columns(), dnn_feature_columns=WIDE_DEEP_DNN,
        dnn_hidden_units=[8, 4], config=quiet_config(),
    ),
    "linear": lambda d: estimator.LinearClassifier(
        model_dir=d, feature_columns=linear_columns(), config=quiet_config()
    ),
    "wide_deep, TF 1's loss_reduction=SUM": lambda d: estimator.DNNLinearCombinedClassifier(
        model_dir=d, linear_feature_columns=linear_columns(), dnn_feature_columns=WIDE_DEEP_DNN,
        dnn_hidden_units=[8, 4], loss_reduction=estimator.LossReduction.SUM,
        config=quiet_config(),
    ),
    "dnn, Adam": lambda d: estimator.DNNClassifier(
        model_dir=d, feature_columns=dnn_columns(), hidden_units=[6], optimizer="Adam",
        config=quiet_config(),
    ),
    "shared embedding, clipped": lambda d: estimator.DNNLinearCombinedClassifier(
        model_dir=d, linear_feature_columns=linear_columns(),
        dnn_feature_columns=[
            fc.numeric_column("age"),
            *fc.shared_embedding_columns(
                [fc.categorical_column_with_hash_bucket(k, 32) for k in ("workclass", "race")], 3
            ),
        ],
        dnn_hidden_units=[5], gradient_clip_norm=0.5, config=quiet_config(),
    ),
}  # fmt: skip


@pytest.mark.parametrize("name", list(MODELS))
def test_numpy_step_trains_the_weights_torch_trains(name: str, tmp_path: Path) -> None:
    x, y = census_rows(400)
    ours, calls = _train(MODELS[name], tmp_path / "numpy", True, x, y)
    reference, none = _train(MODELS[name], tmp_path / "torch", False, x, y)
    assert calls == [True] * STEPS and not none  # every step went through numpy here
    tolerance.assert_trained_alike(ours, reference, STEPS)


@pytest.mark.parametrize("name", ["wide_deep", "linear", "shared embedding, clipped"])
def test_the_rows_of_big_tables_train_the_weights_torch_trains(name: str, tmp_path: Path) -> None:
    # Every table counts as big: the numpy step hands its rows to the updates (and, with
    # gradient clipping, to .grad), torch's backward gives sparse gradients.
    x, y = census_rows(400)
    with mock.patch.object(fast_step, "DENSE_TABLE_ELEMENTS", 0):
        ours, calls = _train(MODELS[name], tmp_path / "numpy", True, x, y)
        reference, _ = _train(MODELS[name], tmp_path / "torch", False, x, y)
    assert calls == [True] * STEPS
    tolerance.assert_trained_alike(ours, reference, STEPS)


def test_a_batch_with_several_ids_in_an_embedding_row_trains_with_torch(tmp_path: Path) -> None:
    tags = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c"])
    x = pd.DataFrame({"age": np.arange(80.0), "tags": [["a"]] * 40 + [["b", "c"]] * 40})
    x["tags"] = pd.Series(pa.array(x["tags"].tolist()).to_pylist(), dtype=object)
    y = (np.arange(80) % 2).astype(np.int64)

    def make(d: str) -> estimator.Estimator:
        return estimator.DNNClassifier(
            model_dir=d, feature_columns=[fc.numeric_column("age"), fc.embedding_column(tags, 2)],
            hidden_units=[3], config=quiet_config(),
        )  # fmt: skip

    model_a = make(str(tmp_path / "a"))
    model_b = make(str(tmp_path / "b"))
    data = estimator.inputs.pandas_input_fn(x, y, batch_size=40, num_epochs=1, shuffle=False)
    model_a.train(data)  # batch 1: one id per row (numpy); batch 2: two ids per row (torch)
    with mock.patch.object(loop.numpy_steps, "build", lambda *args: None):
        model_b.train(data)
    tolerance.assert_trained_alike(model_a, model_b, steps=2)


def test_weighted_examples_train_with_torch(tmp_path: Path) -> None:
    x, y = census_rows(80)
    x["weight"] = np.linspace(0.5, 2.0, 80)

    def make(d: str) -> estimator.Estimator:
        return estimator.LinearClassifier(
            model_dir=d, feature_columns=linear_columns(), weight_column="weight",
            config=quiet_config(),
        )  # fmt: skip

    model, calls = _train(make, tmp_path / "numpy", True, x, y)
    reference, _ = _train(make, tmp_path / "torch", False, x, y)
    assert calls == [False] * STEPS  # every batch weighted: torch trained them all
    tolerance.assert_trained_alike(model, reference, STEPS)


@pytest.mark.parametrize(
    ("kwargs", "reason"),
    [
        ({"dropout": 0.2}, "dropout"),
        ({"batch_norm": True}, "batch norm"),
        ({"activation_fn": "tanh"}, "relu"),
        ({"n_classes": 3}, "binary head"),
    ],
)
def test_what_it_does_not_cover_trains_with_torch(
    kwargs: dict[str, Any], reason: str, tmp_path: Path
) -> None:
    model = estimator.DNNClassifier(
        model_dir=str(tmp_path), feature_columns=dnn_columns(), hidden_units=[4],
        config=quiet_config(), **kwargs,
    )  # fmt: skip
    x, _ = census_rows(80)
    labels = np.arange(80) % kwargs.get("n_classes", 2)
    data = estimator.inputs.pandas_input_fn(x, labels, batch_size=40, num_epochs=1, shuffle=False)
    model.train(data)
    network = model._session.model  # type: ignore[union-attr]
    why = numpy_step.unsupported(network.network, network.head)
    assert why is not None and reason in why
    assert numpy_step.build(network.network, network.head) is None


def test_a_regressor_and_max_norm_train_with_torch(tmp_path: Path) -> None:
    regressor = estimator.DNNRegressor(
        model_dir=str(tmp_path / "r"), feature_columns=dnn_columns(), hidden_units=[4],
        config=quiet_config(),
    )  # fmt: skip
    x, _ = census_rows(80)
    regressor.train(
        estimator.inputs.pandas_input_fn(
            x, np.ones(80, np.float32), batch_size=40, num_epochs=1, shuffle=False
        )
    )
    session = regressor._session
    assert session is not None
    assert numpy_step.unsupported(session.model.network, session.model.head) is not None


def test_an_embedding_in_the_linear_part_trains_with_torch(tmp_path: Path) -> None:
    occupation = fc.categorical_column_with_hash_bucket("occupation", 16)
    model = estimator.LinearClassifier(
        [fc.numeric_column("age"), fc.embedding_column(occupation, 2)],
        model_dir=str(tmp_path),
        config=quiet_config(),
    )
    x, y = census_rows(80)
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=40, shuffle=False))
    session = model._session
    assert session is not None
    why = numpy_step.unsupported(session.model.network, session.model.head)
    assert why == "an embedding column in the linear part"
