"""The talk's two code snippets, ported to mlengine by changing their imports.

In the talk (TensorFlow 1.x, 2017) the imports were::

    import tensorflow as tf
    from tensorflow.contrib import layers, learn

and the optimizers and activation were spelled ``tf.train.FtrlOptimizer``,
``tf.train.AdagradOptimizer`` and ``tf.nn.relu``. Here the same names come from mlengine
(``train`` is :mod:`mlengine.estimator`, which re-exports TF's optimizer classes) and torch
(``nn`` is :mod:`torch.nn.functional`); the snippets' bodies are unchanged apart from the ``tf.``
prefix.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import torch.nn.functional as nn

from mlengine import estimator as learn
from mlengine import estimator as train
from mlengine import feature_column as layers
from tests import tolerance
from tests.estimator.helpers import census_rows, quiet_config

BUCKET_SIZE = 1000


def zip_code_data(n: int, seed: int) -> tuple[pd.DataFrame, np.ndarray]:
    """Five-digit zip codes, far above bucket_size; the label depends on ``zip % 1000`` only."""
    rng = np.random.default_rng(seed)
    zip_code = rng.integers(10_000, 100_000, size=n)
    age = rng.integers(18, 80, size=n).astype(np.float64)
    label = ((zip_code % BUCKET_SIZE) < 300).astype(np.int64)
    return pd.DataFrame({"zip_code": zip_code, "age": age}), label


def test_dnn_classifier_with_an_embedded_zip_code(tmp_path: Path) -> None:
    x, y = zip_code_data(2000, seed=0)
    train_input_fn = learn.inputs.pandas_input_fn(
        x, y, batch_size=128, num_epochs=None, shuffle=True, seed=0
    )
    eval_input_fn = learn.inputs.pandas_input_fn(x, y, batch_size=500, shuffle=False)

    # ---- the talk's snippet --------------------------------------------------------------
    zip_code = layers.sparse_column_with_integerized_feature("zip_code", bucket_size=BUCKET_SIZE)
    zip_embedding = layers.embedding_column(zip_code, dimension=16)
    age = layers.real_valued_column("age", normalizer=layers.ZScore(49.0, 18.0))
    estimator = learn.DNNClassifier(
        feature_columns=[zip_embedding, age],
        hidden_units=[1024, 512, 256, 128],
        model_dir=str(tmp_path),
        config=quiet_config(),
    )
    estimator.fit(input_fn=train_input_fn, steps=1)
    # --------------------------------------------------------------------------------------

    first = estimator.evaluate(input_fn=eval_input_fn)
    estimator.fit(input_fn=train_input_fn, steps=40)
    later = estimator.evaluate(input_fn=eval_input_fn)
    assert later["global_step"] == 41
    assert later["loss"] < first["loss"]

    # zip_code is taken modulo bucket_size (contrib's semantics): 12345 and 99345 share an
    # embedding, so two otherwise equal instances get the same prediction, up to rounding (two
    # rows of one batch may be summed in different orders); 12346 gets another one.
    same_bucket = pd.DataFrame({"zip_code": [12345, 99345, 12346], "age": [40.0, 40.0, 40.0]})
    predictions = list(estimator.predict(learn.inputs.pandas_input_fn(same_bucket, shuffle=False)))
    logits = np.stack([p["logits"] for p in predictions])
    rounding = tolerance.Bound.of_estimator(estimator).logits(same_bucket)
    tolerance.assert_close(logits[1], logits[0], rounding[0], "logits of 99345 and 12345")
    assert abs(logits[2, 0] - logits[0, 0]) > 2 * rounding[0, 0]  # 12346: truly another
    assert predictions[0]["class_ids"][0] in (0, 1)  # the key ported code reads


def census_regression_columns() -> tuple[list[Any], list[Any]]:
    gender = layers.sparse_column_with_keys("gender", keys=["Female", "Male"])
    education = layers.sparse_column_with_hash_bucket("education", hash_bucket_size=1000)
    occupation = layers.sparse_column_with_hash_bucket("occupation", hash_bucket_size=1000)
    age = layers.real_valued_column("age", normalizer=layers.ZScore(38.6, 13.6))
    education_num = layers.real_valued_column("education_num")
    wide_columns = [
        gender,
        education,
        occupation,
        layers.crossed_column(["education", "occupation"], hash_bucket_size=int(1e4)),
    ]
    deep_columns = [
        layers.embedding_column(education, dimension=8),
        layers.embedding_column(occupation, dimension=8),
        layers.one_hot_column(gender),
        age,
        education_num,
    ]
    return wide_columns, deep_columns


def test_wide_and_deep_regressor_with_ftrl_adagrad_relu_dropout_and_clipping(
    tmp_path: Path,
) -> None:
    x, _ = census_rows(1500)
    hours = x.pop("hours_per_week").to_numpy(dtype=np.float32) / 10.0  # tens of hours per week
    train_input_fn = learn.inputs.pandas_input_fn(
        x, hours, batch_size=64, num_epochs=None, shuffle=True, seed=1
    )
    eval_input_fn = learn.inputs.pandas_input_fn(x, hours, batch_size=1500, shuffle=False)
    wide_columns, deep_columns = census_regression_columns()

    # ---- the talk's snippet --------------------------------------------------------------
    estimator = learn.DNNLinearCombinedRegressor(
        linear_feature_columns=wide_columns,
        linear_optimizer=train.FtrlOptimizer(learning_rate=0.01, l2_regularization_strength=0.1),
        dnn_feature_columns=deep_columns,
        dnn_optimizer=train.AdagradOptimizer(learning_rate=0.01, initial_accumulator_value=0.1),
        dnn_hidden_units=[100, 50],
        dnn_activation_fn=nn.relu,
        dnn_dropout=0.5,
        gradient_clip_norm=0.1,
        model_dir=str(tmp_path),
        config=quiet_config(),
    )
    estimator.fit(input_fn=train_input_fn, steps=1)
    # --------------------------------------------------------------------------------------

    first = estimator.evaluate(input_fn=eval_input_fn)
    estimator.fit(input_fn=train_input_fn, steps=60)
    later = estimator.evaluate(input_fn=eval_input_fn)
    assert set(later) == {"average_loss", "loss", "label/mean", "prediction/mean", "global_step"}
    assert later["global_step"] == 61
    assert later["label/mean"] == pytest.approx(hours.mean(), rel=1e-5)
    assert later["loss"] < first["loss"]
    assert len(list(estimator.predict(learn.inputs.pandas_input_fn(x.head(3), shuffle=False)))) == 3


def test_the_activation_may_also_be_given_by_name(tmp_path: Path) -> None:
    wide_columns, deep_columns = census_regression_columns()
    kwargs: dict[str, Any] = dict(
        linear_feature_columns=wide_columns, dnn_feature_columns=deep_columns, dnn_hidden_units=[4]
    )
    by_function = learn.DNNLinearCombinedRegressor(
        dnn_activation_fn=nn.relu, model_dir=str(tmp_path / "a"), **kwargs
    )
    by_name = learn.DNNLinearCombinedRegressor(
        dnn_activation_fn="relu", model_dir=str(tmp_path / "b"), **kwargs
    )
    assert by_function._model_spec()["dnn_activation_fn"] == "relu"
    assert by_name._model_spec() == by_function._model_spec()
