"""BoostedTreesClassifier / Regressor on LightGBM: TF's arguments, metrics, checkpoints, export."""

from __future__ import annotations

import io
import json
import os
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.errors import ExportFormatError, InvalidParameterError, NotSupportedError
from mlengine.export import load
from mlengine.training import progress
from mlengine.training.hooks import SessionRunArgs, SessionRunHook
from tests.estimator.helpers import BINARY_KEYS, REGRESSION_KEYS, census_rows, quiet_config
from tests.helpers import CONTROL_CODES, REPO_ROOT, run_in_terminal


def _columns(x: pd.DataFrame) -> list[fc.FeatureColumn]:
    return [
        fc.numeric_column("age"),
        fc.bucketized_column(fc.numeric_column("hours_per_week"), [30, 40, 50]),
        fc.indicator_column(fc.vocabulary_column(x, "education", num_oov_buckets=1)),
        fc.categorical_column_with_hash_bucket("occupation", 32),
    ]


def _fn(x: pd.DataFrame, y: Any = None) -> Any:
    labels = None if y is None else pd.Series(y)
    return estimator.inputs.pandas_input_fn(x, labels, batch_size=128, shuffle=False)


@pytest.fixture(scope="module")
def data() -> tuple[pd.DataFrame, np.ndarray]:
    return census_rows(800)


def _classifier(tmp_path: Path, x: pd.DataFrame, **kw: Any) -> estimator.BoostedTreesClassifier:
    kw.setdefault("n_trees", 20)
    return estimator.BoostedTreesClassifier(
        _columns(x), n_batches_per_layer=1, model_dir=tmp_path / "m", config=quiet_config(), **kw
    )


def test_predict_keys_filter_and_name_an_unknown_key(tmp_path: Path, data: Any) -> None:
    x, y = data
    model = _classifier(tmp_path, x, n_trees=2)
    model.train(_fn(x, y))
    only = list(model.predict(_fn(x.iloc[:4]), predict_keys="probabilities"))
    assert [sorted(p) for p in only] == [["probabilities"]] * 4
    with pytest.raises(InvalidParameterError, match="nonsense"):
        list(model.predict(_fn(x.iloc[:4]), predict_keys=["nonsense"]))


def test_defaults_and_their_lightgbm_parameters_are_tensorflows(tmp_path: Path) -> None:
    x, _ = census_rows(50)
    model = estimator.BoostedTreesClassifier(_columns(x), n_batches_per_layer=1)
    assert model._n_trees == 100
    params = model._lgb_params
    assert params["max_depth"] == 6 and params["num_leaves"] == 64
    assert params["learning_rate"] == 0.1
    assert (params["lambda_l1"], params["lambda_l2"], params["min_gain_to_split"]) == (0, 0, 0)
    assert params["boost_from_average"] is False  # center_bias=False
    assert params["max_bin"] == 100  # quantile_sketch_epsilon=0.01
    assert params["objective"] == "binary"


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"n_trees": 0}, "'n_trees' parameter of BoostedTreesClassifier must be an int >= 1"),
        ({"max_depth": 20}, "'max_depth' parameter .* at most 16"),
        ({"pruning_mode": "post"}, "tree_complexity must be positive to enable pruning"),
        ({"pruning_mode": "later"}, "'pruning_mode' parameter"),
        ({"learning_rate": 0}, "'learning_rate' parameter .* positive"),
        ({"n_batches_per_layer": 0}, "'n_batches_per_layer'"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs: dict[str, Any], message: str) -> None:
    x, _ = census_rows(50)
    kwargs.setdefault("n_batches_per_layer", 1)
    with pytest.raises(InvalidParameterError, match=message):
        estimator.BoostedTreesClassifier(_columns(x), **kwargs)


def test_embedding_columns_are_refused() -> None:
    emb = fc.embedding_column(fc.categorical_column_with_hash_bucket("o", 8), 2)
    with pytest.raises(NotSupportedError, match="embedding column 'o_embedding' cannot feed"):
        estimator.BoostedTreesClassifier([emb], n_batches_per_layer=1)


def test_train_evaluate_tf_keys_and_tensorboard(tmp_path: Path, data: Any) -> None:
    x, y = data
    model = _classifier(tmp_path, x)
    model.train(_fn(x, y))
    metrics = model.evaluate(_fn(x, y))
    assert set(metrics) == BINARY_KEYS
    assert metrics["global_step"] == 20
    assert metrics["auc"] > 0.8  # training rows: the trees fit them
    events = EventAccumulator(str(tmp_path / "m"))
    events.Reload()
    assert [e.step for e in events.Scalars("loss")] == list(range(1, 21))
    losses = [e.value for e in events.Scalars("loss")]
    assert losses[-1] < losses[0]
    eval_events = EventAccumulator(str(tmp_path / "m" / "eval"))
    eval_events.Reload()
    assert eval_events.Scalars("auc")[0].value == pytest.approx(metrics["auc"], rel=1e-6)


def _stderr_of_training(
    tmp_path: Path, data: Any, monkeypatch: pytest.MonkeyPatch, *, quiet: bool
) -> tuple[list[str], list[float]]:
    """Train 8 trees then 4 more (log_step_count_steps=5) with standard error an io.StringIO;
    the lines written there and the loss summaries by step."""
    from mlengine.training import progress

    # No sink: importing mlengine.tf (another test, same process) routes lines to tf.logging.
    monkeypatch.setattr(progress, "_sink", None)
    stream = io.StringIO()
    monkeypatch.setattr(sys, "stderr", stream)
    x, y = data
    config = estimator.RunConfig(quiet=quiet, log_step_count_steps=5, tf_random_seed=7)
    model = estimator.BoostedTreesClassifier(
        _columns(x), n_batches_per_layer=1, model_dir=tmp_path / "m", config=config, n_trees=12
    )
    model.train(_fn(x, y), steps=8)
    model.train(_fn(x, y))  # resumes at tree 8
    events = EventAccumulator(str(tmp_path / "m"))
    events.Reload()
    return stream.getvalue().splitlines(), [e.value for e in events.Scalars("loss")]


def test_train_prints_tfs_lines_one_step_per_tree(
    tmp_path: Path, data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlengine.training.progress import number

    lines, losses = _stderr_of_training(tmp_path, data, monkeypatch, quiet=False)
    # As a network's run (mlengine.training.progress): the loss every 5 steps, one step per
    # tree, the loss LightGBM reports after it (its summary at the next step), and the rate.
    loss_lines = [line for line in lines if line.startswith("loss = ")]
    assert loss_lines[0] == f"loss = {number(losses[0])}, step = 0"
    assert re.fullmatch(rf"loss = {re.escape(number(losses[5]))}, step = 5 \(\d+\.\d{{3}} sec\)",
                        loss_lines[1])  # fmt: skip
    # The resumed run (trees 9 to 12) counts on from the checkpoint's step, and logs its first
    # step at once, as TF's LoggingTensorHook (its counter starts at every train() call).
    assert loss_lines[2] == f"loss = {number(losses[8])}, step = 8"
    assert len(loss_lines) == 3
    rates = [line for line in lines if line.startswith("global_step/sec: ")]
    assert len(rates) == 2  # at steps 5 and 10
    assert all(re.fullmatch(r"global_step/sec: \S+ \([\d,]+ examples/sec\)", r) for r in rates)


def test_quiet_training_of_trees_prints_nothing(
    tmp_path: Path, data: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    lines, losses = _stderr_of_training(tmp_path, data, monkeypatch, quiet=True)
    assert lines == [] and len(losses) == 12


TREES_IN_A_TERMINAL = """
import sys
from mlengine import estimator
from tests.estimator.helpers import census_rows
from tests.estimator.test_boosted_trees import _columns, _fn
x, y = census_rows(800)
model = estimator.BoostedTreesClassifier(
    _columns(x), n_batches_per_layer=1, model_dir=sys.argv[1], n_trees=40,
    config=estimator.RunConfig(tf_random_seed=7),
)
model.train(_fn(x, y))
print("done", flush=True)
"""


@pytest.mark.timeout(180)
def test_a_terminal_shows_a_bar_over_the_trees(tmp_path: Path) -> None:
    script = tmp_path / "trees.py"
    script.write_text(TREES_IN_A_TERMINAL)
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    code, shown = run_in_terminal([sys.executable, str(script), str(tmp_path / "m")], env)
    assert code == 0, shown
    plain = CONTROL_CODES.sub("", shown)
    assert "step 40/40" in plain
    assert re.search(r"[\d,]+ examples/s", plain) and re.search(r"loss 0\.\d", plain)
    assert "\x1b[" in shown  # drawn in place
    assert "loss = " not in plain and plain.rstrip().endswith("done")


def test_resume_adds_trees_up_to_n_trees_and_equals_one_run(tmp_path: Path, data: Any) -> None:
    x, y = data
    split = _classifier(tmp_path / "a", x)
    split.train(_fn(x, y), steps=8)
    assert split.latest_checkpoint() == str(tmp_path / "a" / "m" / "trees-8")
    split.train(_fn(x, y))  # resumes: 12 more, to n_trees
    split.train(_fn(x, y))  # nothing left to grow
    whole = _classifier(tmp_path / "b", x)
    whole.train(_fn(x, y))
    a = [p["logits"][0] for p in split.predict(_fn(x.iloc[:50]))]
    b = [p["logits"][0] for p in whole.predict(_fn(x.iloc[:50]))]
    assert split.evaluate(_fn(x, y))["global_step"] == 20
    # Same bins, same trees: only the text round trip of the first 8 trees' doubles differs.
    np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


def test_importances_and_explanations(tmp_path: Path, data: Any) -> None:
    x, y = data
    model = _classifier(tmp_path, x)
    model.train(_fn(x, y))
    importances = model.experimental_feature_importances(normalize=True)
    assert set(importances) == {"age", "hours_per_week_bucketized", "education", "occupation"}
    values = list(importances.values())
    assert values == sorted(values, reverse=True)
    assert sum(values) == pytest.approx(1.0, abs=1e-12)
    explained = list(model.experimental_predict_with_explanations(_fn(x.iloc[:5])))
    for row in explained:
        contributions = list(row["dfc"].values())
        assert [abs(c) for c in contributions] == sorted(map(abs, contributions), reverse=True)
        # TreeSHAP is exact: bias + contributions = the logit (float64 sums of ~20 leaves).
        assert row["bias"] + sum(contributions) == pytest.approx(row["logits"][0], abs=1e-9)


def test_export_is_lightgbm_text_and_serves_equal_predictions(tmp_path: Path, data: Any) -> None:
    x, y = data
    model = _classifier(tmp_path, x)
    model.train(_fn(x, y))
    path = Path(model.export_saved_model(tmp_path / "e"))
    assert sorted(os.listdir(path)) == ["evidence.json", "lightgbm.txt", "saved_model.json"]
    manifest = json.loads((path / "saved_model.json").read_text())
    # The trees are format 2's one model member, with no top-level key of their own (beside
    # the evidence: mlengine.export.evidence).
    assert set(manifest["members"]) == {"lightgbm", "evidence"} and "lightgbm" not in manifest
    assert manifest["members"]["lightgbm"]["path"] == "lightgbm.txt"
    assert manifest["members"]["lightgbm"]["format"] == "text"
    assert (path / "lightgbm.txt").read_text().startswith("tree\n")
    predictor = load(path)
    assert predictor.input_names == ["age", "education", "hours_per_week", "occupation"]
    rows = x.iloc[:40]
    want = np.array([p["logistic"][0] for p in model.predict(_fn(rows))])
    np.testing.assert_allclose(predictor.predict(rows)["logistic"][:, 0], want, rtol=1e-12)
    # One instance (the row path), an unseen category and a missing one: no error.
    one = {"age": 40, "hours_per_week": 45, "education": "Unheard-of", "occupation": None}
    single = predictor.predict_instances([one])[0]
    batch = predictor.predict(pd.DataFrame([one] * 70))["logistic"][0, 0]
    assert single["logistic"][0] == pytest.approx(batch, rel=1e-12)


def test_altered_model_text_is_refused(tmp_path: Path, data: Any) -> None:
    x, y = data
    model = _classifier(tmp_path, x, n_trees=3)
    model.train(_fn(x, y))
    path = Path(model.export_saved_model(tmp_path / "e"))
    text = (path / "lightgbm.txt").read_text()
    (path / "lightgbm.txt").write_text(text.replace("shrinkage=0.1", "shrinkage=0.2"))
    with pytest.raises(ExportFormatError, match="member 'lightgbm'.*does not match its sha256"):
        load(path)


def test_regressor_and_multiclass_with_vocabulary(tmp_path: Path, data: Any) -> None:
    x, _ = data
    target = x["age"].to_numpy(dtype=float) * 2.0 + 1.0
    reg = estimator.BoostedTreesRegressor(
        _columns(x),
        n_batches_per_layer=1,
        model_dir=tmp_path / "r",
        n_trees=60,
        config=quiet_config(),
    )
    reg.train(_fn(x, target))
    metrics = reg.evaluate(_fn(x, target))
    assert set(metrics) == REGRESSION_KEYS
    # Labels spread with std ~27; 60 trees of a function of one feature fit it closely.
    assert metrics["average_loss"] < 5.0
    labels = np.array(["low", "mid", "high"])[np.digitize(x["age"], [30, 50])]
    clf = estimator.BoostedTreesClassifier(
        _columns(x), n_batches_per_layer=1, model_dir=tmp_path / "c", n_classes=3,
        label_vocabulary=["low", "mid", "high"], n_trees=10, config=quiet_config(),
    )  # fmt: skip
    clf.train(_fn(x, labels))
    assert clf.evaluate(_fn(x, labels))["accuracy"] > 0.95
    first = next(clf.predict(_fn(x.iloc[:1])))
    assert first["classes"][0] == labels[0]
    with pytest.raises(NotSupportedError, match="multi-class"):
        next(clf.experimental_predict_with_explanations(_fn(x.iloc[:1])))


class _EvalRecorder(SessionRunHook):
    """Records the evaluation's calls; asks to stop after ``stop_after`` batches."""

    def __init__(self, stop_after: int | None = None) -> None:
        self.calls: list[Any] = []
        self.stop_after = stop_after

    def begin(self) -> None:
        self.calls.append("begin")

    def before_run(self, run_context: Any) -> Any:
        return SessionRunArgs("global_step")

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self.calls.append(run_values.results)
        if self.stop_after is not None and len(self.calls) - 1 >= self.stop_after:
            run_context.request_stop()

    def end(self, session: Any) -> None:
        self.calls.append(f"end:{session.run('global_step')}")


def test_evaluate_takes_steps_and_hooks_batch_by_batch_as_tf(tmp_path: Path, data: Any) -> None:
    x, y = data
    model = _classifier(tmp_path, x)  # 20 trees; batches of 128 rows
    model.train(_fn(x, y))
    whole = model.evaluate(_fn(x, y))
    two = model.evaluate(_fn(x, y), steps=2)
    assert two == model.evaluate(_fn(x.iloc[:256], y[:256]))  # the first two batches' rows
    assert two["auc"] != whole["auc"]
    # With hooks the metrics add up batch by batch: float64 sums of 800 terms in another order.
    summed = {"rel": 800 * float(np.finfo(np.float64).eps)}
    hook = _EvalRecorder()
    assert model.evaluate(_fn(x, y), hooks=[hook]) == pytest.approx(whole, **summed)
    assert hook.calls == ["begin"] + [20] * 7 + ["end:20"]  # 800 rows: 7 batches
    stopper = _EvalRecorder(stop_after=3)
    three = model.evaluate(_fn(x, y), steps=3)
    assert model.evaluate(_fn(x, y), hooks=[stopper]) == pytest.approx(three, **summed)
    assert stopper.calls == ["begin", 20, 20, 20, "end:20"]
    with pytest.raises(InvalidParameterError, match="'steps' parameter must be an int >= 1"):
        model.evaluate(_fn(x, y), steps=0)


def test_evaluate_logs_tfs_saving_dict_line(tmp_path: Path, data: Any) -> None:
    x, y = data
    model = estimator.BoostedTreesClassifier(
        _columns(x), n_batches_per_layer=1, n_trees=3, model_dir=tmp_path / "m"
    )
    model.train(_fn(x, y))
    lines: list[str] = []
    previous = progress.set_sink(lines.append)
    try:
        metrics = model.evaluate(_fn(x, y))
    finally:
        progress.set_sink(previous)
    assert lines[-1].startswith("Saving dict for global step 3: accuracy = ")
    shown = dict(item.split(" = ") for item in lines[-1].split(": ", 1)[1].split(", "))
    assert shown["global_step"] == "3"
    # Each value as a float32, as TF printed it.
    assert float(shown["auc"]) == pytest.approx(metrics["auc"], rel=float(np.finfo(np.float32).eps))
