"""Session run hooks and saving listeners in the training loop, and train_and_evaluate's TF
cadence (evaluate after checkpoints) that early-stopping hooks rely on."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from mlengine import estimator
from mlengine.errors import NotSupportedError
from mlengine.training import progress
from mlengine.training.hooks import (
    CheckpointSaverListener,
    SessionRunArgs,
    SessionRunContext,
    SessionRunHook,
    SessionRunValues,
)

from .helpers import census_rows, linear_columns, quiet_config, read_scalars


def model(path: Path, **config: Any) -> estimator.LinearClassifier:
    return estimator.LinearClassifier(
        linear_columns(), model_dir=str(path), config=quiet_config(**config)
    )


def train_fn(batch_size: int = 20, epochs: int | None = None) -> Any:
    x, y = census_rows(200)
    return estimator.inputs.pandas_input_fn(
        x, y, batch_size=batch_size, num_epochs=epochs, shuffle=False
    )


class Recorder(SessionRunHook):
    def __init__(self, fetches: Any, stop_at: int | None = None) -> None:
        self.fetches, self.stop_at = fetches, stop_at
        self.calls: list[str] = []
        self.results: list[Any] = []

    def begin(self) -> None:
        self.calls.append("begin")

    def after_create_session(self, session: Any, coord: Any) -> None:
        self.calls.append(f"after_create_session:{session.run('global_step')}")

    def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
        return SessionRunArgs(self.fetches)

    def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
        self.results.append(run_values.results)
        step = run_values.results["step"]
        if self.stop_at is not None and step + 1 >= self.stop_at:
            run_context.request_stop()

    def end(self, session: Any) -> None:
        self.calls.append(f"end:{session.run('global_step')}")


def test_hooks_fetch_loss_and_the_step_and_may_stop_training(tmp_path: Path) -> None:
    hook = Recorder({"step": "global_step", "loss": "loss:0", "n": "batch_size"}, stop_at=4)
    trained = model(tmp_path).train(train_fn(), hooks=[hook], steps=50)
    assert trained.latest_checkpoint().endswith("-4")  # stopped after the step it asked in
    assert hook.calls == ["begin", "after_create_session:0", "end:4"]
    assert [r["step"] for r in hook.results] == [0, 1, 2, 3]  # before each update, as TF
    assert all(r["n"] == 20 and math.isfinite(r["loss"]) for r in hook.results)
    assert hook.results[0]["loss"] == pytest.approx(math.log(2), rel=1e-6)  # zero weights


def test_an_unknown_fetch_is_refused_by_name(tmp_path: Path) -> None:
    with pytest.raises(NotSupportedError, match="'logits'.*loss, global_step"):
        model(tmp_path).train(train_fn(), hooks=[Recorder(["logits"])], steps=2)


class Listener(CheckpointSaverListener):
    def __init__(self, stop_after: int | None = None) -> None:
        self.events: list[str] = []
        self.stop_after = stop_after

    def begin(self) -> None:
        self.events.append("begin")

    def before_save(self, session: Any, global_step_value: int) -> None:
        self.events.append(f"before:{global_step_value}")

    def after_save(self, session: Any, global_step_value: int) -> bool:
        self.events.append(f"after:{global_step_value}")
        return global_step_value == self.stop_after

    def end(self, session: Any, global_step_value: int) -> None:
        self.events.append(f"end:{global_step_value}")


def test_saving_listeners_see_every_checkpoint_and_may_stop(tmp_path: Path) -> None:
    listener = Listener()
    model(tmp_path / "a", save_checkpoints_steps=2).train(
        train_fn(), saving_listeners=[listener], steps=5
    )
    assert listener.events == [
        "begin", "before:2", "after:2", "before:4", "after:4", "before:5", "after:5", "end:5",
    ]  # fmt: skip
    stopper = Listener(stop_after=4)
    trained = model(tmp_path / "b", save_checkpoints_steps=2).train(
        train_fn(), saving_listeners=[stopper], steps=50
    )
    assert trained.latest_checkpoint().endswith("-4")


def test_train_and_evaluate_evaluates_after_checkpoints_as_tf(tmp_path: Path) -> None:
    x, y = census_rows(100, offset=300)
    eval_fn = estimator.inputs.pandas_input_fn(x, y, batch_size=100, shuffle=False)
    result, _ = estimator.train_and_evaluate(
        model(tmp_path, save_checkpoints_steps=2),
        estimator.TrainSpec(train_fn(), max_steps=8),
        estimator.EvalSpec(eval_fn, steps=None, throttle_secs=0),
    )
    # The first checkpoint (step 2) is skipped, as TF's listener skips it; step 8 is both a
    # checkpoint and the end, evaluated once.
    assert [step for step, _ in read_scalars(tmp_path / "eval")["auc"]] == [4, 6, 8]
    assert result["global_step"] == 8


def test_progress_lines_are_tensorflows(tmp_path: Path) -> None:
    lines: list[str] = []
    previous = progress.set_sink(lines.append)
    try:
        trained = estimator.LinearClassifier(
            linear_columns(),
            model_dir=str(tmp_path),
            config=estimator.RunConfig(log_step_count_steps=3, tf_random_seed=1),
        )
        trained.train(train_fn(), steps=7)
        metrics = trained.evaluate(train_fn(epochs=1))
    finally:
        progress.set_sink(previous)
    losses = [line for line in lines if line.startswith("loss = ")]
    assert [line.split("step = ")[1].split(" ")[0] for line in losses] == ["0", "3", "6"]
    assert losses[0] == "loss = 0.6931472, step = 0"  # ln 2 as a float32, as TF prints it
    assert any(line.startswith("global_step/sec: ") for line in lines)
    # Sorted keys, each value a float32 as TF printed it, global_step an int.
    shown = {k: str(np.float32(v)) for k, v in metrics.items() if k != "global_step"}
    shown["global_step"] = "7"
    expected = ", ".join(f"{key} = {shown[key]}" for key in sorted(shown))
    assert lines[-1] == f"Saving dict for global step 7: {expected}"
    assert ", auc = " in lines[-1] and lines[-1].index("accuracy = ") < lines[-1].index("auc = ")


def test_custom_estimators_take_hooks_and_listeners(tmp_path: Path) -> None:
    from tests.estimator.test_custom import _model_fn_estimator

    hook = Recorder(
        {"step": "global_step", "loss": "loss", "n": "batch_size", "lr": "learning_rate"},
        stop_at=4,
    )
    listener = Listener()
    trained = _model_fn_estimator(tmp_path, save_checkpoints_steps=2).train(
        train_fn(), hooks=[hook], saving_listeners=[listener], steps=50
    )
    assert trained.latest_checkpoint().endswith("-4")  # stopped after the step it asked in
    assert hook.calls == ["begin", "after_create_session:0", "end:4"]
    assert [r["step"] for r in hook.results] == [0, 1, 2, 3]
    assert all(r["n"] == 20 and math.isfinite(r["loss"]) for r in hook.results)
    assert [r["lr"] for r in hook.results] == [0.1] * 4  # the model_fn's AdagradOptimizer
    assert listener.events == ["begin", "before:2", "after:2", "before:4", "after:4", "end:4"]
    with pytest.raises(NotSupportedError, match="'logits'"):
        _model_fn_estimator(tmp_path / "b").train(train_fn(), hooks=[Recorder(["logits"])])


def test_boosted_trees_take_hooks_around_each_tree(tmp_path: Path) -> None:
    x, y = census_rows(300)
    fn = estimator.inputs.pandas_input_fn(x, y, batch_size=300, shuffle=False)
    columns = linear_columns()

    def trees(path: Path) -> estimator.BoostedTreesClassifier:
        return estimator.BoostedTreesClassifier(
            columns, n_batches_per_layer=1, n_trees=10, model_dir=path, config=quiet_config()
        )

    hook = Recorder({"step": "global_step", "loss": "loss", "n": "batch_size"}, stop_at=3)
    listener = Listener()
    trained = trees(tmp_path / "a").train(fn, hooks=[hook], saving_listeners=[listener])
    assert trained.latest_checkpoint().endswith("trees-3")  # one tree a step
    assert hook.calls == ["begin", "after_create_session:0", "end:3"]
    assert [r["step"] for r in hook.results] == [0, 1, 2]
    losses = [r["loss"] for r in hook.results]
    assert all(r["n"] == 300 for r in hook.results) and losses == sorted(losses, reverse=True)
    assert listener.events == ["begin", "before:3", "after:3", "end:3"]
    assert len(list(trained.predict(fn))) == 300
    resumed = Recorder({"step": "global_step"})
    trained.train(fn, hooks=[resumed], steps=2)  # resumes at tree 3
    assert [r["step"] for r in resumed.results] == [3, 4]
    assert trained.latest_checkpoint().endswith("trees-5")


def test_custom_estimators_take_evaluation_hooks(tmp_path: Path) -> None:
    from tests.estimator.test_custom import _eval_fn, _model_fn_estimator

    class Counter(SessionRunHook):
        def __init__(self, stop_after: int | None = None) -> None:
            self.steps: list[int] = []
            self.stop_after = stop_after

        def before_run(self, run_context: SessionRunContext) -> SessionRunArgs:
            return SessionRunArgs("global_step")

        def after_run(self, run_context: SessionRunContext, run_values: SessionRunValues) -> None:
            self.steps.append(run_values.results)
            if len(self.steps) == self.stop_after:
                run_context.request_stop()

    model = _model_fn_estimator(tmp_path).train(train_fn(), steps=3)
    counter = Counter()
    model.evaluate(_eval_fn(), hooks=[counter])
    assert counter.steps and set(counter.steps) == {3}  # the checkpoint's step, each batch
    stopper = Counter(stop_after=1)
    model.evaluate(_eval_fn(), hooks=[stopper])
    assert len(stopper.steps) == 1
    with pytest.raises(NotSupportedError, match="cannot fetch 'loss'"):
        model.evaluate(_eval_fn(), hooks=[Recorder("loss")])
