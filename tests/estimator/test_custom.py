"""Custom estimators: TF's model_fn contract and the module short form, on the whole machinery
(checkpoints, resume, warm start, TensorBoard, evaluate, predict, ONNX export, Predictor).

Floats from onnxruntime and torch differ only by the order of float32 sums: the tolerance is
32 float32 ulps times the sum of the absolute values of every term the network adds up
(:func:`magnitude`), computed from the weights and the rows themselves.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import InvalidParameterError, NotSupportedError
from mlengine.estimator import layers, losses, metrics
from mlengine.estimator.custom import CustomEstimator
from mlengine.export import load
from mlengine.model.dense_features import ModelFeatures
from mlengine.training import module_step
from tests.estimator.helpers import BINARY_KEYS, census_rows, quiet_config, read_scalars
from tests.export import helpers as export_helpers

EPS32 = float(np.finfo(np.float32).eps)


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return export_helpers.custom(tmp_path_factory.mktemp("custom"))


def magnitude(network: Any, rows: Any) -> np.ndarray:
    """Per row, the sum of |terms| of the custom Wide & Deep's logit: the wide part's |weights|
    and |bias|, and each dense layer's |W| @ |input| + |b| carried through the layers."""
    features = ModelFeatures(rows.to_dict("list"))
    with torch.no_grad():
        wide = features.tensors(network.wide.transformer)
        table = network.wide.part.sparse_weights.abs()
        total = (table[wide.sparse_ids, 0] * wide.sparse_weights).sum(
            1
        ) + network.wide.part.bias.abs()
        x = network.deep(features).abs()
        for layer in network.hidden:
            if isinstance(layer, torch.nn.Linear):
                x = x @ layer.weight.abs().T + layer.bias.abs()
        return (total + x[:, 0]).numpy()


def test_the_module_form_evaluates_with_the_heads_metrics(trained: Any) -> None:
    result = trained.estimator.evaluate(
        estimator.inputs.pandas_input_fn(trained.x, trained.y, batch_size=250, shuffle=False)
    )
    assert set(result) == BINARY_KEYS
    assert result["global_step"] == 60
    assert result["auc"] > 0.75  # it learned something in 60 steps of 64 rows


def test_the_onnx_export_predicts_what_the_estimator_predicts(trained: Any) -> None:
    manifest = json.loads((trained.export_dir / "saved_model.json").read_text())
    onnx = manifest["members"]["onnx"]
    assert onnx["path"] == "model.onnx" and onnx["takes"] == "encoded"
    assert (trained.export_dir / "model.onnx").stat().st_size == onnx["bytes"]
    rows = trained.x.head(300)
    expected = list(
        trained.estimator.predict(estimator.inputs.pandas_input_fn(rows, shuffle=False))
    )
    predictor = load(trained.export_dir)
    out = predictor.predict(rows)
    assert predictor.output_keys == ["class_ids", "classes", "logistic", "logits", "probabilities"]
    tolerance = 32 * EPS32 * magnitude(trained.estimator._network, rows)
    logits = np.array([e["logits"][0] for e in expected])
    assert (np.abs(out["logits"][:, 0] - logits) <= tolerance).all()
    # sigmoid's slope is at most 1/4: probabilities move by a quarter of the logits at most
    probabilities = np.array([e["probabilities"] for e in expected])
    assert (np.abs(out["probabilities"] - probabilities) <= tolerance[:, None] / 4).all()
    assert out["class_ids"][:, 0].tolist() == [e["class_ids"][0] for e in expected]


def test_the_talks_instances_through_the_onnx_predictor(trained: Any) -> None:
    instances = export_helpers.census_instances()
    answers = load(trained.export_dir).predict_instances(instances)
    assert [sorted(a) for a in answers] == [sorted(BINARY_PREDICT_KEYS)] * 2
    for answer in answers:
        assert abs(sum(answer["probabilities"]) - 1) < 4 * EPS32


def test_predict_keys_filter_and_name_an_unknown_key(trained: Any) -> None:
    """The one predict loop of every estimator (Estimator._predictions), here a custom one."""
    rows = estimator.inputs.pandas_input_fn(trained.x.head(5), shuffle=False)
    only = list(trained.estimator.predict(rows, predict_keys="logistic"))
    assert [sorted(p) for p in only] == [["logistic"]] * 5
    batches = list(trained.estimator.predict(rows, yield_single_examples=False))
    assert len(batches) == 1 and batches[0]["logits"].shape == (5, 1)
    with pytest.raises(InvalidParameterError, match="nonsense"):
        list(trained.estimator.predict(rows, predict_keys=["nonsense"]))


BINARY_PREDICT_KEYS = ["class_ids", "classes", "logistic", "logits", "probabilities"]


def _model_fn(features: Any, labels: Any, mode: str, params: dict[str, Any]) -> Any:
    """TF's iris custom_estimator.py, on census: input_layer, two dense layers, logits."""
    net = layers.input_layer(features, params["feature_columns"])
    for units in params["hidden_units"]:
        net = layers.dense(net, units, activation=torch.relu)
    logits = layers.dense(net, 2, name="logits")
    classes = torch.argmax(logits, 1)
    if mode == estimator.ModeKeys.PREDICT:
        predictions = {"class_ids": classes, "probabilities": torch.softmax(logits, 1)}
        return estimator.EstimatorSpec(mode, predictions=predictions)
    loss = losses.sparse_softmax_cross_entropy(labels=labels, logits=logits)
    accuracy = metrics.accuracy(labels=labels, predictions=classes, name="acc_op")
    layers.scalar("accuracy", accuracy.value.result())
    if mode == estimator.ModeKeys.EVAL:
        return estimator.EstimatorSpec(mode, loss=loss, eval_metric_ops={"accuracy": accuracy})
    optimizer = estimator.AdagradOptimizer(learning_rate=0.1)
    train_op = optimizer.minimize(loss, global_step=layers.get_global_step())
    return estimator.EstimatorSpec(mode, loss=loss, train_op=train_op)


def _model_fn_estimator(model_dir: Path, **kwargs: Any) -> estimator.Estimator:
    _, deep = export_helpers.custom_columns()
    params = {"feature_columns": deep, "hidden_units": [10, 10]}
    return estimator.Estimator(
        model_fn=_model_fn, model_dir=str(model_dir), params=params, config=quiet_config(**kwargs)
    )


def _train_fn(n: int = 400) -> Any:
    x, y = census_rows(n)
    return estimator.inputs.pandas_input_fn(x, y, batch_size=50, num_epochs=None, shuffle=True)


def _eval_fn(n: int = 200) -> Any:
    x, y = census_rows(n, offset=1000)
    return estimator.inputs.pandas_input_fn(x, y, batch_size=64, shuffle=False)


def test_a_model_fn_trains_resumes_evaluates_predicts_and_exports(tmp_path: Path) -> None:
    model = _model_fn_estimator(tmp_path / "m", save_summary_steps=5, log_step_count_steps=5)
    assert isinstance(model, estimator.Estimator)
    model.train(_train_fn(), steps=10)
    assert model.latest_checkpoint().endswith("ckpt-10")
    assert "logits/kernel" in model.get_variable_names()
    # restores by name
    again = _model_fn_estimator(tmp_path / "m", save_summary_steps=5, log_step_count_steps=5)
    first = again.evaluate(_eval_fn())
    assert set(first) == {"accuracy", "loss", "global_step"} and first["global_step"] == 10
    assert first == model.evaluate(_eval_fn())
    again.train(_train_fn(), steps=5)
    assert again.evaluate(_eval_fn())["global_step"] == 15
    scalars = read_scalars(tmp_path / "m")
    assert {"loss", "accuracy"} <= set(scalars)  # the model_fn's own summary too
    assert sorted(step for step, _ in scalars["accuracy"]) == [5, 10, 15]  # two runs, two files
    # The step rate every log_step_count_steps, though nothing is shown (quiet).
    assert sorted(step for step, _ in scalars["global_step/sec"]) == [5, 10, 15]
    assert all(value > 0 for _, value in scalars["global_step/sec"])
    x, _ = census_rows(20, offset=2000)
    expected = list(again.predict(estimator.inputs.pandas_input_fn(x, shuffle=False)))
    assert set(expected[0]) == {"class_ids", "probabilities"}
    predictor = load(again.export_saved_model(str(tmp_path / "exports")))
    out = predictor.predict(x)
    want = np.array([e["probabilities"] for e in expected])
    # softmax of logits whose terms are below ~10 in magnitude: 32 ulps of 10 is ample
    np.testing.assert_allclose(out["probabilities"], want, rtol=0, atol=32 * EPS32 * 10)
    assert out["class_ids"].tolist() == [e["class_ids"] for e in expected]


def test_linear_model_and_a_named_head_in_a_model_fn(tmp_path: Path) -> None:
    wide, _ = export_helpers.custom_columns()
    head = estimator.binary_classification_head(name="income", thresholds=[0.3])

    def model_fn(features: Any, labels: Any, mode: str) -> Any:
        logits = layers.linear_model(features, wide)
        return head.create_estimator_spec(features, mode, logits, labels, optimizer="Ftrl")

    model = estimator.Estimator(model_fn, str(tmp_path), config=quiet_config())
    result = model.train(_train_fn(), steps=4).evaluate(_eval_fn())
    assert "auc/income" in result and "accuracy/positive_threshold_0.3/income" in result
    assert "global_step" in result


def test_warm_start_copies_the_weights_by_name(trained: Any, tmp_path: Path) -> None:
    warm = estimator.ModuleEstimator(
        export_helpers.custom_network(),
        estimator.binary_classification_head(),
        model_dir=str(tmp_path),
        config=quiet_config(),
        warm_start_from=trained.estimator.model_dir,
    )
    warm.train(_train_fn(), steps=1)
    before = trained.estimator.get_variable_value("hidden.0.weight")
    after = warm.get_variable_value("hidden.0.weight")
    assert before.shape == after.shape and not np.array_equal(before, after)
    # one Adagrad step of learning rate 0.05 moves each weight by at most 0.05 / sqrt(0.1)
    assert np.abs(after - before).max() <= 0.05 / np.sqrt(0.1) + 1e-6


# -- bad input --------------------------------------------------------------------------------


def _spec_fn(make: Any) -> Any:
    def model_fn(features: Any, labels: Any, mode: str) -> Any:
        net = layers.dense(features["age"].reshape(-1, 1), 1)
        return make(mode, net)

    return model_fn


def test_no_loss_in_train_mode_is_named(tmp_path: Path) -> None:
    model_fn = _spec_fn(lambda mode, net: estimator.EstimatorSpec(mode, predictions={"p": net}))
    with pytest.raises(InvalidParameterError, match="no loss in TRAIN mode"):
        estimator.Estimator(model_fn, str(tmp_path), config=quiet_config()).train(_train_fn())


def test_predictions_that_are_not_tensors_are_named(tmp_path: Path) -> None:
    def make(mode: str, net: Any) -> Any:
        if mode == estimator.ModeKeys.PREDICT:
            return estimator.EstimatorSpec(mode, predictions={"p": net.tolist()})
        loss = net.mean()
        return estimator.EstimatorSpec(
            mode, loss=loss, train_op=estimator.GradientDescentOptimizer(0.1).minimize(loss)
        )

    model = estimator.Estimator(_spec_fn(make), str(tmp_path), config=quiet_config())
    model.train(_train_fn(), steps=1)
    x, _ = census_rows(4)
    with pytest.raises(InvalidParameterError, match="Prediction 'p' is a list, not a tensor"):
        list(model.predict(estimator.inputs.pandas_input_fn(x, shuffle=False)))


def test_export_outputs_named_predict_replace_the_default_signature(tmp_path: Path) -> None:
    """TF writes a model_fn's export_outputs as its signatures, and one output is also
    serving_default; a PredictOutput named 'predict' is then the predict signature, while a
    classification output cannot take that name."""

    def make(output: Any) -> Any:
        def spec(mode: str, net: Any) -> Any:
            loss = net.mean()
            return estimator.EstimatorSpec(
                mode,
                predictions={"p": net, "q": net * 2},
                loss=loss,
                train_op=estimator.GradientDescentOptimizer(0.1).minimize(loss),
                export_outputs={"predict": output(net)},
            )

        return spec

    model = estimator.Estimator(
        _spec_fn(make(lambda net: estimator.PredictOutput({"p": net}))),
        str(tmp_path),
        config=quiet_config(),
    )
    model.train(_train_fn(), steps=1)
    path = model.export_saved_model(str(tmp_path / "exports"))
    signatures = load(path).manifest["signature_defs"]
    assert signatures["predict"]["outputs"] == signatures["serving_default"]["outputs"]
    assert list(signatures["predict"]["outputs"]) == ["p"]
    model = estimator.Estimator(
        _spec_fn(make(lambda net: estimator.ClassificationOutput(scores=net))),
        str(tmp_path / "b"),
        config=quiet_config(),
    )
    model.train(_train_fn(), steps=1)
    with pytest.raises(InvalidParameterError, match="export_outputs key 'predict' clashes"):
        model.export_saved_model(str(tmp_path / "exports_b"))


def test_a_module_that_cannot_be_exported_is_named(tmp_path: Path) -> None:
    class Branchy(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inputs = estimator.DenseFeatures([fc.numeric_column("age")])
            self.scale = torch.nn.Parameter(torch.ones(1))

        def forward(self, features: Any) -> Any:
            x = self.inputs(features) * self.scale
            return x if int(x.shape[0]) < 4 else -x  # a Python branch on a batch's size

    model = estimator.ModuleEstimator(
        Branchy(), estimator.regression_head(), "SGD", str(tmp_path), quiet_config()
    )
    x, _ = census_rows(40)
    model.train(estimator.inputs.pandas_input_fn(x, x["hours_per_week"], shuffle=False), steps=1)
    with pytest.raises(NotSupportedError, match="network of Branchy cannot be exported"):
        model.export_saved_model(str(tmp_path / "exports"))
    assert not (tmp_path / "exports").exists() or not any((tmp_path / "exports").iterdir())


def test_a_string_feature_read_directly_cannot_be_exported(tmp_path: Path) -> None:
    def make(mode: str, net: Any) -> Any:
        loss = net.mean()
        return estimator.EstimatorSpec(
            mode,
            predictions={"p": net},
            loss=loss,
            train_op=estimator.GradientDescentOptimizer(0.1).minimize(loss),
        )

    def model_fn(features: Any, labels: Any, mode: str) -> Any:
        assert features["workclass"] is not None  # read directly: raw strings
        return _spec_fn(make)(features, labels, mode)

    model = estimator.Estimator(model_fn, str(tmp_path), config=quiet_config())
    model.train(_train_fn(), steps=1)
    with pytest.raises(NotSupportedError, match=r"reads feature\(s\) \['workclass'\] directly"):
        model.export_saved_model(str(tmp_path / "exports"))
    with pytest.raises(NotSupportedError, match="tf.foo is not supported"):
        raise layers.not_supported("tf.foo")


def test_layer_functions_outside_a_model_fn_say_so() -> None:
    with pytest.raises(NotSupportedError, match="dense can only be called inside a model_fn"):
        layers.dense(torch.zeros(2, 3), 4)


def test_the_module_forms_own_step_trains_as_the_model_fn_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """ModuleEstimator's step (after the first) skips the EstimatorSpec round trip: the same
    ops in the same order, so the weights after training are bitwise those of the model_fn
    path, and each batch is the chunk's rows (batches split from the chunk at once). (The
    numpy step, which this network would take, is off: tests/training/test_module_step.py
    pins it to autograd.)"""
    x, y = census_rows(600)
    monkeypatch.setattr(module_step, "build", lambda *args: None)

    def trained_weights(name: str) -> dict[str, np.ndarray]:
        torch.manual_seed(0)
        model = estimator.ModuleEstimator(
            export_helpers.custom_network(),
            estimator.binary_classification_head(),
            "Adagrad",
            model_dir=str(tmp_path / name),
            config=quiet_config(),
        )
        model.train(
            estimator.inputs.pandas_input_fn(
                x, y, batch_size=64, num_epochs=None, shuffle=True, seed=3
            ),
            steps=30,
        )
        return {k: v.detach().numpy().copy() for k, v in model._network.state_dict().items()}

    calls: list[int] = []
    model_fn_step = CustomEstimator._train_step

    def counted(self: Any, batch: Any) -> Any:
        calls.append(1)
        return model_fn_step(self, batch)

    monkeypatch.setattr(CustomEstimator, "_train_step", counted)
    own_step = trained_weights("own")
    assert len(calls) == 1  # the first step builds the optimizer; the other 29 are its own
    monkeypatch.setattr(estimator.ModuleEstimator, "_train_step", counted)
    calls.clear()
    reference = trained_weights("model_fn")
    assert len(calls) == 30  # every step took the model_fn path
    assert own_step.keys() == reference.keys()
    for name, values in reference.items():
        np.testing.assert_array_equal(own_step[name], values, err_msg=name)


def test_a_chunk_split_into_batches_is_its_slices() -> None:
    columns = [
        fc.numeric_column("a"),
        fc.embedding_column(fc.categorical_column_with_identity("i", 5), 2),
    ]
    layer = estimator.DenseFeatures(columns)
    raw = {"a": np.arange(10, dtype=np.float32), "i": np.arange(10) % 5}
    chunk = ModelFeatures(raw)
    chunk.tensors(layer.transformer)
    for size in (3, 4, 10, 12):
        parts = chunk.split(size)
        assert [p.num_rows for p in parts] == [min(size, 10 - s) for s in range(0, 10, size)]
        for index, part in enumerate(parts):
            expected = chunk.slice(index * size, index * size + size)
            with torch.no_grad():
                torch.testing.assert_close(layer(part), layer(expected), rtol=0, atol=0)
            assert part.raw()["a"].tolist() == expected.raw()["a"].tolist()


def test_the_module_forms_step_takes_flat_logits_as_the_model_fn_does(tmp_path: Path) -> None:
    """Logits ``[n]`` instead of ``[n, 1]``: the head's spec reshapes them (no second
    forward), so training gives bitwise the weights of the same module returning ``[n, 1]``."""
    x, y = census_rows(300)

    class Net(torch.nn.Module):
        def __init__(self, flat: bool) -> None:
            super().__init__()
            self.flat = flat
            self.inputs = estimator.DenseFeatures([fc.numeric_column("age")])
            self.out = torch.nn.Linear(1, 1)

        def forward(self, features: Any) -> torch.Tensor:
            logits = self.out(self.inputs(features) / 50.0)
            return logits.view(-1) if self.flat else logits

    def trained_weights(flat: bool) -> dict[str, np.ndarray]:
        torch.manual_seed(0)
        model = estimator.ModuleEstimator(
            Net(flat),
            estimator.binary_classification_head(),
            "Adagrad",
            model_dir=str(tmp_path / str(flat)),
            config=quiet_config(),
        )
        model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=50, shuffle=False))
        return {k: v.detach().numpy().copy() for k, v in model._network.state_dict().items()}

    flat, column = trained_weights(True), trained_weights(False)
    for name, values in column.items():
        np.testing.assert_array_equal(flat[name], values, err_msg=name)


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_both_forms_train_on_cuda_and_export_for_the_cpu(tmp_path: Path) -> None:
    """``device="cuda"``: a model_fn's variables and a module's weights live on the GPU, the
    batches' encodings are moved there, and the export (ONNX) predicts on the CPU what the
    estimator predicted on the GPU."""
    model_fn_form = _model_fn_estimator(tmp_path / "model_fn", device="cuda")
    model_fn_form.train(_train_fn(), steps=3)
    assert model_fn_form.get_variable_value("logits/kernel").shape[-1] == 2
    assert "accuracy" in model_fn_form.evaluate(_eval_fn())

    x, y = census_rows(300)
    module_form = estimator.ModuleEstimator(
        export_helpers.custom_network(),
        estimator.binary_classification_head(),
        "Adagrad",
        model_dir=str(tmp_path / "module"),
        config=quiet_config(device="cuda"),
    )
    module_form.train(estimator.inputs.pandas_input_fn(x, y, batch_size=50, shuffle=True), steps=4)
    assert next(module_form._network.parameters()).device.type == "cuda"
    rows = x.head(40)
    expected = list(module_form.predict(estimator.inputs.pandas_input_fn(rows, shuffle=False)))
    served = load(module_form.export_saved_model(str(tmp_path / "exports"))).predict(rows)
    logits = np.array([e["logits"][0] for e in expected])
    tolerance = 32 * EPS32 * magnitude(module_form._network.cpu(), rows)
    assert (np.abs(served["logits"][:, 0] - logits) <= tolerance).all()
