"""The contract every canned estimator keeps, as tf.estimator's: one suite, all eight classes.

Each case trains a tiny model on a slice of census (regressors predict ``hours_per_week``) and
checks what a TensorFlow program relies on: ``train`` returns self and writes a checkpoint,
``evaluate`` returns exactly TF's keys for its head, ``predict`` yields per-instance dicts with
TF's prediction keys, ``model_dir`` semantics (resume, ``max_steps``, a new object on the same
directory), seeds, variable introspection and ``export_saved_model`` round-tripping through the
Predictor.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mlengine import estimator, export
from mlengine.errors import InvalidParameterError, NotFittedError
from tests import tolerance
from tests.estimator.helpers import (
    CASE_IDS,
    CASES,
    EVAL_KEYS,
    PREDICT_KEYS,
    Case,
    census_rows,
    global_step_of,
    quiet_config,
)

STEPS = 6


@pytest.fixture(params=CASES, ids=CASE_IDS)
def case(request: pytest.FixtureRequest) -> Case:
    return request.param


@pytest.fixture(scope="module")
def trained_models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One model per case trained for STEPS steps, shared by the read-only tests."""
    models: dict[str, Any] = {}
    for case in CASES:
        model_dir = tmp_path_factory.mktemp(case.id)
        models[case.id] = case.make(model_dir).train(case.train_fn(), steps=STEPS)
    return models


@pytest.fixture
def trained(case: Case, trained_models: dict[str, Any]) -> estimator.Estimator:
    return trained_models[case.id]


def as_columns(predictions: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    return {key: np.stack([p[key] for p in predictions]) for key in predictions[0]}


def test_train_returns_self_and_writes_a_checkpoint(case: Case, tmp_path: Path) -> None:
    model = case.make(tmp_path)
    assert model.latest_checkpoint() is None

    assert model.train(case.train_fn(), steps=3) is model

    checkpoint = model.latest_checkpoint()
    assert checkpoint == os.path.join(str(tmp_path), "ckpt-3")
    assert os.path.isfile(checkpoint + ".safetensors")
    assert os.path.isfile(checkpoint + ".json")
    assert model.model_dir == str(tmp_path)


def test_fit_is_an_alias_of_train(case: Case, tmp_path: Path) -> None:
    model = case.make(tmp_path)
    assert model.fit(input_fn=case.train_fn(), steps=2) is model
    assert global_step_of(model.latest_checkpoint()) == 2


def test_evaluate_returns_exactly_tensorflows_keys(case: Case, trained: Any) -> None:
    metrics = trained.evaluate(case.eval_fn())

    assert set(metrics) == EVAL_KEYS[case.head]
    assert metrics["global_step"] == STEPS
    for key, value in metrics.items():
        assert math.isfinite(value), key
    assert metrics["loss"] == pytest.approx(metrics["average_loss"])
    if case.head != "regression":
        assert 0.0 <= metrics["accuracy"] <= 1.0
    if case.head == "binary":
        x, y = census_rows(300, 1000)
        assert metrics["label/mean"] == pytest.approx(y.mean())
        assert metrics["accuracy_baseline"] == pytest.approx(max(y.mean(), 1 - y.mean()))
        assert 0.0 <= metrics["auc"] <= 1.0
    if case.head == "regression":
        x, _ = census_rows(300, 1000)
        assert metrics["label/mean"] == pytest.approx(x["hours_per_week"].mean(), rel=1e-5)


def test_evaluate_steps_limits_the_batches(case: Case, trained: Any) -> None:
    one_batch = trained.evaluate(case.eval_fn(), steps=1)
    assert set(one_batch) == EVAL_KEYS[case.head]
    if case.head == "binary":
        _, y = census_rows(128, 1000)  # eval_fn's batch size is 128
        assert one_batch["label/mean"] == pytest.approx(y.mean())


def test_predict_yields_one_dict_per_instance_with_tensorflows_keys(
    case: Case, trained: Any
) -> None:
    predictions = list(trained.predict(case.predict_fn(n=40)))

    assert len(predictions) == 40
    for p in predictions:
        assert set(p) == PREDICT_KEYS[case.head]
    first = predictions[0]
    if case.head == "regression":
        assert first["predictions"].shape == (1,)
        return
    n_classes = 2 if case.head == "binary" else first["probabilities"].shape[0]
    assert first["class_ids"].shape == (1,)
    assert first["classes"].shape == (1,)
    assert isinstance(first["classes"][0], str)
    assert first["probabilities"].shape == (n_classes,)
    for p in predictions:
        assert p["probabilities"].sum() == pytest.approx(1.0)
        assert p["class_ids"][0] == int(np.argmax(p["probabilities"]))
    if case.head == "binary":
        assert first["logistic"].shape == (1,)
        assert first["logits"].shape == (1,)
        assert first["logistic"][0] == pytest.approx(1 / (1 + math.exp(-first["logits"][0])))
        assert first["probabilities"][1] == pytest.approx(first["logistic"][0])
    else:
        assert first["logits"].shape == (n_classes,)
    vocabulary = trained._head.label_vocabulary
    names = vocabulary or [str(i) for i in range(n_classes)]
    for p in predictions:
        assert p["classes"][0] == names[p["class_ids"][0]]


def test_predict_keys_filters_the_outputs(case: Case, trained: Any) -> None:
    key = "predictions" if case.head == "regression" else "probabilities"
    only = list(trained.predict(case.predict_fn(n=5), predict_keys=[key]))
    assert [set(p) for p in only] == [{key}] * 5
    as_string = list(trained.predict(case.predict_fn(n=5), predict_keys=key))
    np.testing.assert_array_equal(as_string[0][key], only[0][key])
    with pytest.raises(InvalidParameterError, match="nonsense"):
        list(trained.predict(case.predict_fn(n=5), predict_keys=["nonsense"]))


def test_train_resumes_and_max_steps_already_reached_is_a_no_op(case: Case, tmp_path: Path) -> None:
    model = case.make(tmp_path)
    model.train(case.train_fn(), steps=3)
    model.train(case.train_fn(), steps=2)  # steps are incremental: 3 + 2
    assert global_step_of(model.latest_checkpoint()) == 5

    checkpoint = model.latest_checkpoint()
    assert checkpoint is not None
    before = os.stat(checkpoint + ".json").st_mtime_ns
    model.train(case.train_fn(), max_steps=4)  # max_steps is absolute, and already passed
    model.train(case.train_fn(), max_steps=5)
    assert model.latest_checkpoint() == checkpoint
    assert os.stat(checkpoint + ".json").st_mtime_ns == before

    model.train(case.train_fn(), max_steps=7)
    assert global_step_of(model.latest_checkpoint()) == 7

    # A new object on the same model_dir resumes too.
    case.make(tmp_path).train(case.train_fn(), steps=1)
    assert model.evaluate(case.eval_fn())["global_step"] == 8


def test_a_new_estimator_on_the_model_dir_evaluates_and_predicts_without_training(
    case: Case, trained: Any
) -> None:
    fresh = case.make(trained.model_dir)

    assert fresh.evaluate(case.eval_fn()) == trained.evaluate(case.eval_fn())
    ours = as_columns(list(trained.predict(case.predict_fn())))
    theirs = as_columns(list(fresh.predict(case.predict_fn())))
    for key in ours:
        np.testing.assert_array_equal(theirs[key], ours[key])


def test_evaluate_and_predict_before_training_raise_not_fitted(case: Case, tmp_path: Path) -> None:
    model = case.make(tmp_path)
    with pytest.raises(NotFittedError, match="train"):
        model.evaluate(case.eval_fn())
    with pytest.raises(NotFittedError, match=str(tmp_path)):
        list(model.predict(case.predict_fn()))
    with pytest.raises(NotFittedError):
        model.export_saved_model(tmp_path / "export")
    with pytest.raises(NotFittedError):
        model.get_variable_names()


def test_the_same_seed_gives_identical_metrics(case: Case, tmp_path: Path) -> None:
    results = []
    for run in ("a", "b"):
        model = case.make(tmp_path / run, seed=123)
        results.append(model.train(case.train_fn(), steps=4).evaluate(case.eval_fn()))
    assert results[0] == results[1]
    if "DNN" in case.id:  # and the seed does matter: initial weights (and dropout) differ
        other = case.make(tmp_path / "c", seed=124).train(case.train_fn(), steps=4)
        assert other.evaluate(case.eval_fn()) != results[0]


def test_training_in_several_calls_keeps_the_models_own_random_stream(tmp_path: Path) -> None:
    """Dropout draws from the model's random stream, not the caller's: training in two calls
    with an evaluation between (as the census program does) gives the same weights whatever
    the process's RNG holds, and the same as a new estimator resuming from the checkpoint."""
    case = next(c for c in CASES if c.id == "DNNClassifier")  # dropout 0.2

    def weights(model: estimator.Estimator) -> dict[str, np.ndarray]:
        return {name: model.get_variable_value(name) for name in model.get_variable_names()}

    results = []
    for run, caller_seed in (("a", 1), ("b", 2)):
        torch.manual_seed(caller_seed)  # what the process's global RNG happens to hold
        model = case.make(tmp_path / run, seed=123)
        model.train(case.train_fn(), steps=3)
        model.evaluate(case.eval_fn())
        model.train(case.train_fn(seed=1), steps=3)
        results.append(weights(model))
    resumed = case.make(tmp_path / "c", seed=123).train(case.train_fn(), steps=3)
    resumed = case.make(tmp_path / "c", seed=123).train(case.train_fn(seed=1), steps=3)
    results.append(weights(resumed))
    for other in results[1:]:
        assert other.keys() == results[0].keys()
        for name in results[0]:
            np.testing.assert_array_equal(other[name], results[0][name], err_msg=name)


def test_variable_names_values_and_latest_checkpoint(case: Case, trained: Any) -> None:
    names = trained.get_variable_names()
    assert names == sorted(names) and names
    assert trained.latest_checkpoint() == os.path.join(trained.model_dir, f"ckpt-{STEPS}")
    for name in names:
        value = trained.get_variable_value(name)
        assert isinstance(value, np.ndarray)
        assert np.isfinite(value).all()
    if case.id.startswith("Baseline"):
        assert names == ["bias"]
        assert np.abs(trained.get_variable_value("bias")).sum() > 0  # it learned something
    if "Linear" in case.id:
        assert {"linear.bias", "linear.sparse_weights"} <= set(names)
    if "DNN" in case.id:
        assert "dnn.logits.weight" in names
    with pytest.raises(InvalidParameterError, match="no_such_weight"):
        trained.get_variable_value("no_such_weight")


def test_exported_model_predicts_what_the_estimator_predicts(
    case: Case, trained: Any, tmp_path: Path
) -> None:
    path = trained.export_saved_model(tmp_path / "exports")
    assert isinstance(path, str)
    assert os.path.dirname(path) == str(tmp_path / "exports")
    assert os.path.basename(path).isdigit()

    x, _ = census_rows(40, 2000)
    served = export.load(path).predict(x)
    expected = as_columns(list(trained.predict(case.predict_fn(n=40))))

    assert set(served) == set(expected)
    rounding = tolerance.Bound.of_export(path).logits(x)  # numpy's sums and torch's
    tolerance.assert_predictions_close(served, expected, rounding)


def test_batch_norm_trains_on_a_last_batch_of_one_row(tmp_path: Path) -> None:
    # 101 rows in batches of 50: the last batch has one row, which torch's BatchNorm refuses
    # in training; TensorFlow normalises it with its own statistics.
    case = next(c for c in CASES if c.id == "DNNRegressor-batch-norm")
    x, y = census_rows(101)
    rows = estimator.inputs.pandas_input_fn(x, case.labels(x, y), batch_size=50, shuffle=False)
    model = case.make(tmp_path).train(rows)
    assert model.evaluate(rows)["global_step"] == 3
    running_var = model.get_variable_value("dnn.hidden.1.running_var")
    assert np.isfinite(running_var).all() and (running_var > 0).all()


def test_checkpoint_path_evaluates_and_predicts_an_older_checkpoint(tmp_path: Path) -> None:
    case = CASES[0]
    config = quiet_config(save_checkpoints_steps=2, keep_checkpoint_max=2)
    model = case.make(tmp_path, config=config).train(case.train_fn(), steps=6)

    # keep_checkpoint_max=2: only the newest two of ckpt-2, -4 and -6 remain.
    assert sorted(p.name for p in tmp_path.glob("ckpt-*.json")) == ["ckpt-4.json", "ckpt-6.json"]
    older = str(tmp_path / "ckpt-4")
    assert model.evaluate(case.eval_fn(), checkpoint_path=older)["global_step"] == 4
    assert model.evaluate(case.eval_fn())["global_step"] == 6
    at_4 = as_columns(list(model.predict(case.predict_fn(), checkpoint_path=older)))
    at_6 = as_columns(list(model.predict(case.predict_fn())))
    assert not np.array_equal(at_4["logits"], at_6["logits"])

    # Training after looking at an old checkpoint resumes from the newest one.
    model.train(case.train_fn(), steps=1)
    assert global_step_of(model.latest_checkpoint()) == 7


def test_random_seed_is_an_alias_of_tf_random_seed(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "DNNClassifier")
    config = estimator.RunConfig(random_seed=5, quiet=True)
    assert config.tf_random_seed == 5
    a = case.make(tmp_path / "a", config=config).train(case.train_fn(), steps=2)
    b = case.make(tmp_path / "b", seed=5).train(case.train_fn(), steps=2)
    assert a.evaluate(case.eval_fn()) == b.evaluate(case.eval_fn())


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_trained_on_cuda_it_exports_and_resumes_on_the_cpu(tmp_path: Path) -> None:
    case = next(c for c in CASES if c.id == "DNNLinearCombinedClassifier")
    on_gpu = case.make(tmp_path, config=quiet_config(device="cuda"))
    on_gpu.train(case.train_fn(), steps=4)
    assert set(on_gpu.evaluate(case.eval_fn())) == EVAL_KEYS["binary"]

    expected = as_columns(list(on_gpu.predict(case.predict_fn(n=40))))
    x, _ = census_rows(40, 2000)
    path = on_gpu.export_saved_model(tmp_path / "exports")
    served = export.load(path).predict(x)  # on the CPU
    tolerance.assert_predictions_close(served, expected, tolerance.Bound.of_export(path).logits(x))

    on_cpu = case.make(tmp_path).train(case.train_fn(), steps=1)
    assert global_step_of(on_cpu.latest_checkpoint()) == 5
