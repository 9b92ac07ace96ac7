"""``train_and_evaluate`` with periodic evaluation and exporters, and ``warm_start_from``.

``EvalSpec(every_n_steps=N)`` says plainly what TF's ``throttle_secs`` only approximated: train N
steps, evaluate, run the exporters, repeat until ``TrainSpec.max_steps``. Exports land in
``model_dir/export/<exporter name>/<timestamp>/``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine import estimator, export
from mlengine import feature_column as fc
from mlengine.errors import CheckpointError, InvalidParameterError
from mlengine.model.dense_features import ModelFeatures
from tests.estimator.helpers import (
    BINARY_KEYS,
    CASES,
    census_rows,
    dnn_columns,
    global_step_of,
    linear_columns,
    quiet_config,
    read_scalars,
)

BINARY = next(case for case in CASES if case.id == "DNNLinearCombinedClassifier")
LINEAR = next(case for case in CASES if case.id == "LinearClassifier")


def versions(folder: Path) -> list[str]:
    return sorted(name for name in os.listdir(folder) if name.isdigit())


def test_train_and_evaluate_evaluates_every_n_steps_and_runs_the_exporters(
    tmp_path: Path,
) -> None:
    model = BINARY.make(tmp_path)
    train_spec = estimator.TrainSpec(input_fn=BINARY.train_fn(), max_steps=12)
    eval_spec = estimator.EvalSpec(
        input_fn=BINARY.eval_fn(),
        steps=None,
        every_n_steps=4,
        exporters=[
            estimator.LatestExporter("latest", exports_to_keep=2),
            estimator.BestExporter(),
            estimator.FinalExporter("final"),
        ],
    )

    eval_result, export_results = estimator.train_and_evaluate(model, train_spec, eval_spec)

    # The last evaluation, at max_steps, with the binary head's keys.
    assert set(eval_result) == BINARY_KEYS
    assert eval_result["global_step"] == 12

    # Evaluations at steps 4, 8 and 12, each written to model_dir/eval.
    assert [step for step, _ in read_scalars(tmp_path / "eval")["auc"]] == [4, 8, 12]
    assert eval_result == model.evaluate(BINARY.eval_fn())

    # One result per exporter per evaluation, in the exporters' order.
    assert len(export_results) == 9
    latest, best, final = export_results[0::3], export_results[1::3], export_results[2::3]
    assert all(isinstance(path, str) for path in latest)
    assert best[0] is not None  # the first evaluation is always the best so far
    assert final[:2] == [None, None] and isinstance(final[2], str)

    # LatestExporter kept only the newest two of its three exports.
    root = tmp_path / "export"
    kept = versions(root / "latest")
    assert [os.path.join(root, "latest", v) for v in kept] == latest[1:]
    assert not os.path.exists(latest[0])
    assert [export.load(p).global_step for p in latest[1:]] == [8, 12]

    # FinalExporter wrote once, after the last evaluation, with its metrics.
    assert versions(root / "final") == [os.path.basename(final[2])]
    final_model = export.load(final[2])
    assert final_model.global_step == 12
    assert final_model.metrics["auc"] == pytest.approx(eval_result["auc"])

    # BestExporter exported whenever the loss improved.
    best_paths = [p for p in best if p is not None]
    assert versions(root / "best_exporter") == sorted(os.path.basename(p) for p in best_paths)
    losses = [export.load(p).metrics["loss"] for p in best_paths]
    assert losses == sorted(losses, reverse=True)


def test_without_every_n_steps_training_runs_to_the_end_then_evaluates_once(
    tmp_path: Path,
) -> None:
    model = LINEAR.make(tmp_path)
    x, y = census_rows(300)
    x_input = estimator.inputs.pandas_input_fn(x, y, batch_size=100, num_epochs=2, shuffle=False)
    result, exports = estimator.train_and_evaluate(
        model,
        estimator.TrainSpec(input_fn=x_input),  # no max_steps: until the input ends (6 steps)
        estimator.EvalSpec(input_fn=LINEAR.eval_fn(), exporters=estimator.FinalExporter("f")),
    )
    assert result["global_step"] == 6
    assert len(exports) == 1 and isinstance(exports[0], str)
    assert [step for step, _ in read_scalars(tmp_path / "eval")["loss"]] == [6]


def test_best_exporter_takes_a_compare_fn(tmp_path: Path) -> None:
    def higher_auc(best: dict[str, Any], current: dict[str, Any]) -> bool:
        return current["auc"] > best["auc"]

    exporter = estimator.BestExporter(name="best_auc", compare_fn=higher_auc)
    _, exports = estimator.train_and_evaluate(
        LINEAR.make(tmp_path),
        estimator.TrainSpec(input_fn=LINEAR.train_fn(), max_steps=8),
        estimator.EvalSpec(input_fn=LINEAR.eval_fn(), every_n_steps=2, exporters=[exporter]),
    )
    written = [p for p in exports if p is not None]
    aucs = [export.load(p).metrics["auc"] for p in written]
    assert aucs == sorted(aucs) and len(set(aucs)) == len(aucs)  # each export beat the last
    assert exporter.best is not None and exporter.best["auc"] == aucs[-1]
    assert versions(tmp_path / "export" / "best_auc") == sorted(map(os.path.basename, written))


def test_exports_in_the_same_second_keep_increasing_versions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import time as real_time
    from types import SimpleNamespace

    from mlengine.export import writer

    frozen = SimpleNamespace(time=lambda: 1_700_000_000.0, time_ns=real_time.time_ns)
    monkeypatch.setattr(writer, "time", frozen)  # every export in the same second
    model = LINEAR.make(tmp_path).train(LINEAR.train_fn(), steps=1)
    exporter = estimator.LatestExporter("latest", exports_to_keep=1)
    paths = [exporter.export(model, str(tmp_path / "latest"), None, {}, False) for _ in range(3)]
    assert versions(tmp_path / "latest") == [os.path.basename(str(paths[-1]))]
    numbers = [int(os.path.basename(str(p))) for p in paths]
    assert numbers == sorted(numbers) and len(set(numbers)) == 3


def test_exporters_hand_export_onnx_to_the_export(tmp_path: Path) -> None:
    """Each exporter passes ``export_onnx=True`` on, as ``export_saved_model`` takes it: a
    canned model's exports then carry the portable graph; without it they do not."""
    model = LINEAR.make(tmp_path).train(LINEAR.train_fn(), steps=1)
    exporters = [
        estimator.LatestExporter("latest", export_onnx=True),
        estimator.BestExporter("best", export_onnx=True),
        estimator.FinalExporter("final", export_onnx=True),
        estimator.LatestExporter("plain"),
    ]
    result = model.evaluate(LINEAR.eval_fn())
    paths = [e.export(model, str(tmp_path / e.name), None, result, True) for e in exporters]
    members = [export.load(str(p)).manifest.get("members", {}) for p in paths]
    assert ["onnx" in m for m in members] == [True, True, True, False]
    with pytest.raises(InvalidParameterError, match="export_onnx"):
        estimator.FinalExporter("final", export_onnx="yes")  # type: ignore[arg-type]


def test_specs_refuse_bad_arguments() -> None:
    with pytest.raises(InvalidParameterError, match="every_n_steps"):
        estimator.EvalSpec(input_fn=LINEAR.eval_fn(), every_n_steps=0)
    with pytest.raises(InvalidParameterError, match="unique"):
        estimator.EvalSpec(
            input_fn=LINEAR.eval_fn(),
            exporters=[estimator.LatestExporter("x"), estimator.FinalExporter("x")],
        )
    with pytest.raises(InvalidParameterError, match="exports_to_keep"):
        estimator.LatestExporter("latest", exports_to_keep=0)
    with pytest.raises(InvalidParameterError, match="Estimator"):
        estimator.train_and_evaluate(
            object(),  # type: ignore[arg-type]
            estimator.TrainSpec(input_fn=LINEAR.train_fn()),
            estimator.EvalSpec(input_fn=LINEAR.eval_fn()),
        )


# -- warm_start_from --------------------------------------------------------------------------

# A learning rate so small that one step leaves every weight where warm start put it (to 1e-6).
STILL = estimator.GradientDescentOptimizer(learning_rate=1e-9)


def wide_deep(model_dir: Path, seed: int, **kwargs: Any) -> estimator.Estimator:
    return estimator.DNNLinearCombinedClassifier(
        model_dir=str(model_dir),
        linear_feature_columns=linear_columns(),
        dnn_feature_columns=dnn_columns(),
        dnn_hidden_units=[8, 4],
        config=quiet_config(tf_random_seed=seed),
        **kwargs,
    )


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> estimator.Estimator:
    """A Wide & Deep model trained 20 steps: the weights to warm start from."""
    return wide_deep(tmp_path_factory.mktemp("source"), seed=1).train(BINARY.train_fn(), steps=20)


def assert_same_weights(a: estimator.Estimator, b: estimator.Estimator, names: Any) -> None:
    for name in names:
        np.testing.assert_allclose(
            a.get_variable_value(name), b.get_variable_value(name), rtol=0, atol=1e-6, err_msg=name
        )


@pytest.mark.parametrize("kind", ["model_dir", "checkpoint", "export"])
def test_warm_start_copies_the_weights_and_starts_at_step_zero(
    kind: str, source: estimator.Estimator, tmp_path: Path
) -> None:
    origin = {
        "model_dir": lambda: source.model_dir,
        "checkpoint": lambda: source.latest_checkpoint(),
        "export": lambda: source.export_saved_model(tmp_path / "exports"),
    }[kind]()
    warm = wide_deep(
        tmp_path / "warm",
        seed=2,  # other initial weights: whatever matches comes from the source
        warm_start_from=origin,
        linear_optimizer=STILL,
        dnn_optimizer=STILL,
    )
    warm.train(BINARY.train_fn(), steps=1)

    assert global_step_of(warm.latest_checkpoint()) == 1  # the source was at step 20
    assert warm.get_variable_names() == source.get_variable_names()
    assert_same_weights(warm, source, source.get_variable_names())
    cold = wide_deep(tmp_path / "cold", seed=2, linear_optimizer=STILL, dnn_optimizer=STILL)
    cold.train(BINARY.train_fn(), steps=1)
    assert not np.allclose(
        cold.get_variable_value("dnn.logits.weight"), source.get_variable_value("dnn.logits.weight")
    )


def test_warm_start_copies_what_matches_and_leaves_the_rest(
    source: estimator.Estimator, tmp_path: Path
) -> None:
    # A linear model with the same linear columns takes the linear part of Wide & Deep.
    linear = estimator.LinearClassifier(
        linear_columns(),
        model_dir=str(tmp_path),
        optimizer=STILL,
        warm_start_from=source.model_dir,
        config=quiet_config(),
    )
    linear.train(BINARY.train_fn(), steps=1)
    assert_same_weights(linear, source, linear.get_variable_names())


def test_warm_start_from_nothing_that_matches_is_an_error(
    source: estimator.Estimator, tmp_path: Path
) -> None:
    unrelated = estimator.DNNClassifier(
        hidden_units=[3],
        n_classes=3,
        feature_columns=[fc.numeric_column("x")],
        model_dir=str(tmp_path / "a"),
        warm_start_from=source.model_dir,
        config=quiet_config(),
    )
    data = lambda: [({"x": np.array([1.0, 2.0])}, np.array([1, 2]))]  # noqa: E731
    with pytest.raises(CheckpointError, match="no weight matches"):
        unrelated.train(data)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(CheckpointError, match="no checkpoint"):
        wide_deep(tmp_path / "b", seed=1, warm_start_from=str(empty)).train(
            BINARY.train_fn(), steps=1
        )


def test_warm_start_is_ignored_once_the_model_dir_has_a_checkpoint(
    source: estimator.Estimator, tmp_path: Path
) -> None:
    still = {"linear_optimizer": STILL, "dnn_optimizer": STILL}
    own = wide_deep(tmp_path, seed=3, **still).train(BINARY.train_fn(), steps=2)
    before = own.get_variable_value("dnn.logits.weight")
    again = wide_deep(tmp_path, seed=3, warm_start_from=source.model_dir, **still)
    again.train(BINARY.train_fn(), steps=1)  # resumes its own step-2 checkpoint
    assert global_step_of(again.latest_checkpoint()) == 3
    np.testing.assert_allclose(again.get_variable_value("dnn.logits.weight"), before, atol=1e-6)


def test_a_custom_estimator_through_train_and_evaluate_and_its_exporters(tmp_path: Path) -> None:
    """ModuleEstimator under train_and_evaluate: evaluations every N steps, a LatestExporter
    keeping two ONNX exports and a FinalExporter, each loadable and predicting as the
    estimator predicts."""
    import torch

    x, y = census_rows(400)
    columns = dnn_columns()

    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.inputs = estimator.DenseFeatures(columns)
            self.hidden = torch.nn.Linear(self.inputs.output_dim, 8)
            self.out = torch.nn.Linear(8, 1)

        def forward(self, features: Any) -> torch.Tensor:
            return self.out(torch.relu(self.hidden(self.inputs(features))))

    torch.manual_seed(0)
    model = estimator.ModuleEstimator(
        Net(),
        estimator.binary_classification_head(),
        "Adagrad",
        model_dir=str(tmp_path / "model"),
        config=quiet_config(),
    )
    train_spec = estimator.TrainSpec(
        estimator.inputs.pandas_input_fn(x, y, batch_size=50, num_epochs=None, shuffle=True),
        max_steps=12,
    )
    eval_spec = estimator.EvalSpec(
        estimator.inputs.pandas_input_fn(x, y, batch_size=200, shuffle=False),
        steps=None,
        every_n_steps=4,
        exporters=[
            estimator.LatestExporter("latest", exports_to_keep=2),
            estimator.FinalExporter("final"),
        ],
    )
    result, exports = estimator.train_and_evaluate(model, train_spec, eval_spec)
    assert set(result) == BINARY_KEYS and result["global_step"] == 12
    latest = tmp_path / "model" / "export" / "latest"
    assert len(versions(latest)) == 2  # three evaluations, the oldest export pruned
    assert len(versions(tmp_path / "model" / "export" / "final")) == 1
    final = export.load(exports[-1])
    assert final.manifest["members"]["onnx"]["takes"] == "encoded"
    rows = x.head(20)
    want = np.array(
        [
            p["probabilities"]
            for p in model.predict(estimator.inputs.pandas_input_fn(rows, shuffle=False))
        ]
    )
    # onnxruntime and torch run the same float32 network in other orders of summation: each
    # layer of k terms is within gamma_k (|W||x| + |b|) of the exact value (Higham), its
    # difference carried by |W| to the logit; a probability moves by at most a quarter of it.
    with torch.no_grad():
        x0 = model._network.inputs(ModelFeatures(rows.to_dict("list"))).double().abs()
        w1, b1 = model._network.hidden.weight.double().abs(), model._network.hidden.bias.double()
        w2, b2 = model._network.out.weight.double().abs(), model._network.out.bias.double()
        eps = float(np.finfo(np.float32).eps) / 2
        first = x0 @ w1.T + b1.abs()
        gamma1, gamma2 = (w1.shape[1] + 2) * eps, (w2.shape[1] + 2) * eps
        bound = 2 * (gamma1 * first @ w2.T + gamma2 * (first @ w2.T + b2.abs()))
    got = final.predict(rows)["probabilities"]
    assert (np.abs(got - want) <= bound.numpy() / 4 + 1e-12).all()
