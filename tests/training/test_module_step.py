"""A custom module's numpy training step trains what autograd trains: the same weights after
the same steps (to float32 rounding) and the same losses, for the networks it covers; every
other module, head or batch trains with autograd, as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from unittest import mock

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from mlengine import estimator
from mlengine import feature_column as fc
from mlengine.model.heads import SUM, RegressionHead
from mlengine.training import module_step
from mlengine.training.hooks import SessionRunArgs, SessionRunHook
from tests import tolerance
from tests.estimator.helpers import (
    census_rows,
    dnn_columns,
    hours,
    linear_columns,
    quiet_config,
    read_scalars,
    relationship_3,
)

STEPS = 24


class ReluNet(torch.nn.Module):
    """DenseFeatures -> 8 -> 4 -> logits, relu written three ways."""

    def __init__(self, columns: list[Any] | None = None, logits: int = 1) -> None:
        super().__init__()
        self.inputs = estimator.DenseFeatures(columns or dnn_columns())
        self.hidden1 = torch.nn.Linear(self.inputs.output_dim, 8)
        self.hidden2 = torch.nn.Linear(8, 4)
        self.act = torch.nn.ReLU()
        self.logits = torch.nn.Linear(4, logits)

    def forward(self, features: Any) -> torch.Tensor:
        x = torch.relu(self.hidden1(self.inputs(features)))
        return self.logits(self.act(F.relu(self.hidden2(x))))


class SequentialNet(torch.nn.Module):
    """tanh and sigmoid in an nn.Sequential, an Identity, a method call; three classes."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs = estimator.DenseFeatures(dnn_columns())
        self.stack = torch.nn.Sequential(
            torch.nn.Linear(self.inputs.output_dim, 6),
            torch.nn.Tanh(),
            torch.nn.Identity(),
            torch.nn.Linear(6, 5),
            torch.nn.Sigmoid(),
        )
        self.out = torch.nn.Linear(5, 3)

    def forward(self, features: Any) -> torch.Tensor:
        return self.out(self.stack(self.inputs(features)).relu())


class InputActivationNet(torch.nn.Module):
    """An activation on DenseFeatures' output, a layer without a bias, a frozen layer."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs = estimator.DenseFeatures(dnn_columns())
        self.frozen = torch.nn.Linear(self.inputs.output_dim, 6, bias=False)
        self.frozen.requires_grad_(False)
        self.hidden = torch.nn.Linear(6, 4)
        self.out = torch.nn.Linear(4, 1)

    def forward(self, features: Any) -> torch.Tensor:
        x = torch.tanh(self.inputs(features))
        return self.out(torch.sigmoid(self.hidden(torch.relu(self.frozen(x)))))


class WideAndDeep(torch.nn.Module):
    """A Wide & Deep of one's own: LinearModel + DenseFeatures -> 6 -> logit (the README's)."""

    def __init__(self) -> None:
        super().__init__()
        self.wide = estimator.LinearModel(linear_columns())
        self.deep = estimator.DenseFeatures(dnn_columns())
        self.hidden = torch.nn.Sequential(
            torch.nn.Linear(self.deep.output_dim, 6), torch.nn.ReLU(), torch.nn.Linear(6, 1)
        )

    def forward(self, features: Any) -> torch.Tensor:
        return self.wide(features) + self.hidden(self.deep(features))


def _shared_columns() -> list[Any]:
    shared = fc.shared_embedding_columns(
        [fc.categorical_column_with_hash_bucket(k, 16) for k in ("workclass", "race")], 3
    )
    return [fc.numeric_column("age", normalizer_fn=fc.ZScore(38.6, 13.6)), *shared]


CASES: dict[str, tuple[Any, Any, Any, Any]] = {
    # name: (module, head, optimizer, labels of a census slice)
    "relu, binary, Adagrad": (
        ReluNet, estimator.binary_classification_head, "Adagrad", lambda x, y: y
    ),
    "tanh/sigmoid Sequential, multi-class, Adam": (
        SequentialNet, lambda: estimator.multi_class_head(3), "Adam", relationship_3
    ),
    "regression with center and scale, SUM, SGD": (
        InputActivationNet,
        lambda: RegressionHead(loss_reduction=SUM, label_center=40.0, label_scale=10.0),
        estimator.GradientDescentOptimizer(learning_rate=1e-5),
        hours,
    ),
    "LinearModel + DenseFeatures chain, binary, Ftrl": (
        WideAndDeep, estimator.binary_classification_head, "Ftrl", lambda x, y: y
    ),
    "shared embedding table, Ftrl": (
        lambda: ReluNet(_shared_columns()), estimator.binary_classification_head, "Ftrl",
        lambda x, y: y,
    ),
}  # fmt: skip


def _counted_build(numpy_allowed: bool, calls: list[bool]) -> Any:
    """``module_step.build`` (or, unless ``numpy_allowed``, no numpy step), its steps
    recording in ``calls`` whether each took its batch."""
    real_build = module_step.build

    def build(module: Any, head: Any) -> Any:
        step = real_build(module, head) if numpy_allowed else None
        if step is None:
            return None

        def counted(features: Any, labels: Any) -> Any:
            result = step(features, labels)
            calls.append(result is not None)
            return result

        return counted

    return build


class _LossHook(SessionRunHook):
    """Fetches every step's loss, as LoggingTensorHook does."""

    def __init__(self) -> None:
        self.losses: list[float] = []

    def before_run(self, run_context: Any) -> SessionRunArgs:
        return SessionRunArgs("loss")

    def after_run(self, run_context: Any, run_values: Any) -> None:
        self.losses.append(run_values.results)


def _train(case: str, model_dir: Path, numpy_allowed: bool, x: Any, y: Any) -> Any:
    """Train ``STEPS`` steps in two ``train`` calls of two estimators (the second resumes
    from the first's checkpoint), with the numpy step where it applies or with autograd
    only; return the second estimator, whether each numpy step took its batch and the losses
    a hook fetched."""
    make_module, make_head, optimizer, labels = CASES[case]
    calls: list[bool] = []
    data = estimator.inputs.pandas_input_fn(
        x, labels(x, y), batch_size=40, num_epochs=None, shuffle=True, seed=3
    )
    model, hook = None, _LossHook()
    with mock.patch.object(module_step, "build", _counted_build(numpy_allowed, calls)):
        for steps in (STEPS // 2, STEPS - STEPS // 2):
            torch.manual_seed(0)
            model = estimator.ModuleEstimator(
                make_module(),
                make_head(),
                optimizer,
                model_dir=str(model_dir),
                config=quiet_config(save_summary_steps=1),
            )
            model.train(data, steps=steps, hooks=[hook])
    return model, calls, hook.losses


@pytest.mark.parametrize("case", list(CASES))
def test_the_numpy_step_trains_the_weights_autograd_trains(case: str, tmp_path: Path) -> None:
    x, y = census_rows(400)
    ours, calls, hook_losses = _train(case, tmp_path / "numpy", True, x, y)
    reference, none, _ = _train(case, tmp_path / "autograd", False, x, y)
    # The first step of each estimator builds the optimizers (autograd); the rest are numpy's.
    assert calls == [True] * (STEPS - 2) and not none
    tolerance.assert_trained_alike(ours, reference, STEPS)
    frozen = "frozen.weight"
    if frozen in ours.get_variable_names():
        torch.manual_seed(0)
        start = CASES[case][0]().state_dict()[frozen].numpy()
        np.testing.assert_array_equal(ours.get_variable_value(frozen), start)
    # The loss it reports reaches TensorBoard (float32) and hooks alike, every step (its value
    # against autograd's: test_the_numpy_step_reports_the_loss_autograd_computes).
    summaries = [value for _, value in read_scalars(tmp_path / "numpy")["loss"]]
    assert len(hook_losses) == STEPS and all(np.isfinite(hook_losses))
    assert summaries == [float(np.float32(value)) for value in hook_losses]


def _bound(module: ReluNet) -> tolerance.Bound:
    """The tolerance of a ReluNet's logits: it is the canned DNN's network, by other names."""
    names = {"hidden1": "dnn.hidden.0", "hidden2": "dnn.hidden.1", "logits": "dnn.logits"}
    weights = {}
    for name, value in module.state_dict().items():
        prefix, _, rest = name.partition(".")
        if prefix == "inputs":
            weights["dnn." + rest] = value.numpy()
        else:
            weights[f"{names[prefix]}.{rest}"] = value.numpy()
    return tolerance.Bound(weights, module.inputs.transformer.embedding_specs, False, "relu")


@pytest.mark.parametrize("head_name", ["binary", "multi-class", "regression"])
def test_the_numpy_step_reports_the_loss_autograd_computes(head_name: str) -> None:
    """One batch, the same weights: the numpy step's loss is the head's loss of the module's
    logits, to the logits' rounding (``tolerance.Bound``) carried through the loss (its
    derivative: at most 1 for cross-entropy per logit, 2 over a softmax's logits, 2|error| for a
    squared error) plus the rounding of torch's float32 loss and mean."""
    x, y = census_rows(200)
    head, labels, logits = {
        "binary": (estimator.binary_classification_head(), y, 1),
        "multi-class": (estimator.multi_class_head(3), relationship_3(x, y), 3),
        "regression": (estimator.regression_head(), hours(x, y) / 40, 1),
    }[head_name]
    torch.manual_seed(0)
    module = ReluNet(logits=logits)
    features = estimator.ModelFeatures({k: x[k].to_numpy() for k in x.columns})
    encoded = torch.from_numpy(head.encode_labels(labels))
    step = module_step.build(module, head)
    assert step is not None
    ours = float(step(features, encoded).detach())
    with torch.no_grad():
        z = module(features)
        want = float(head.loss(z, encoded, None))
    z = z.numpy().astype(np.float64)
    bound = _bound(module).encoded(None, module.inputs.transformer.transform(x), len(x))
    if head_name == "regression":
        slope = 2 * np.abs(z - encoded.numpy())
        per_example = (z - encoded.numpy()) ** 2
    else:
        slope = np.full_like(z, 2.0 if logits > 1 else 1.0)
        per_example = np.asarray(head.unreduced_loss(torch.from_numpy(z), encoded))[:, None]
    # torch's per-example loss rounds a few times (exp, log1p, products): 4 ulps of its
    # magnitudes; its mean is a float32 sum of n terms.
    rounding = 4 * tolerance.EPS * (np.abs(z).max(axis=1) + np.abs(per_example).max(axis=1) + 1)
    allowed = (slope * bound).max(axis=1).mean() + rounding.mean()
    allowed += tolerance.sum_tolerance(np.abs(per_example).sum(), len(x)) / len(x)
    tolerance.assert_close(ours, want, allowed, f"{head_name} loss")


def test_a_batch_with_several_ids_in_an_embedding_row_trains_with_autograd(
    tmp_path: Path,
) -> None:
    """Batches of one id a row go through numpy, the batch of two ids a row through autograd
    (into the gradients numpy kept, zeroed first): the weights are autograd's alone."""
    tags = fc.categorical_column_with_vocabulary_list("tags", ["a", "b", "c"])
    rows = np.empty(120, dtype=object)
    rows[:] = [["a"]] * 40 + [["b", "c"]] * 40 + [["c"]] * 40
    ages = np.arange(120.0) / 100
    y = (np.arange(120) % 2).astype(np.int64)
    columns = [fc.numeric_column("age"), fc.embedding_column(tags, 2)]

    def batches() -> Any:  # three chunks: the ids of each are padded to its own widest row
        for start in range(0, 120, 40):
            part = slice(start, start + 40)
            yield {"age": ages[part], "tags": rows[part]}, y[part]

    def trained(name: str, numpy_allowed: bool) -> tuple[Any, list[bool]]:
        calls: list[bool] = []
        torch.manual_seed(0)
        model = estimator.ModuleEstimator(
            ReluNet(columns), estimator.binary_classification_head(), "Adagrad",
            model_dir=str(tmp_path / name), config=quiet_config(),
        )  # fmt: skip
        with mock.patch.object(module_step, "build", _counted_build(numpy_allowed, calls)):
            for _ in range(2):
                model.train(batches)
        return model, calls

    ours, calls = trained("numpy", True)
    # (step 1 builds the optimizers) two ids a row: autograd; one id: numpy; and again
    assert calls == [False, True, True, False, True]
    tolerance.assert_trained_alike(ours, trained("autograd", False)[0], steps=6)


class _Doubled(ReluNet):
    def forward(self, features: Any) -> torch.Tensor:
        return super().forward(features) * 2


class _Dropout(ReluNet):
    def forward(self, features: Any) -> torch.Tensor:
        x = torch.relu(self.hidden1(self.inputs(features)))
        return self.logits(F.relu(self.hidden2(F.dropout(x, 0.2, self.training))))


class _Unused(ReluNet):
    def __init__(self) -> None:
        super().__init__()
        self.spare = torch.nn.Linear(2, 2)


class _Reused(ReluNet):
    def forward(self, features: Any) -> torch.Tensor:
        x = torch.relu(self.hidden1(self.inputs(features)))
        return self.logits(torch.relu(self.hidden2(x))) + x[:, :1]


class _WideTimesDeep(WideAndDeep):
    def forward(self, features: Any) -> torch.Tensor:
        return self.wide(features) * self.hidden(self.deep(features))


class _WideOfTwo(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.wide = estimator.LinearModel(linear_columns(), units=2)
        self.deep = ReluNet(logits=2)

    def forward(self, features: Any) -> torch.Tensor:
        return self.wide(features) + self.deep(features)


def _hooked() -> ReluNet:
    module = ReluNet()
    module.hidden2.register_forward_hook(lambda *args: None)
    return module


def _clipped() -> ReluNet:
    column = fc.categorical_column_with_hash_bucket("occupation", 64)
    return ReluNet([fc.numeric_column("age"), fc.embedding_column(column, 4, max_norm=1.0)])


OUT_OF_SCOPE = {
    "a custom op": (_Doubled, estimator.binary_classification_head, "mul"),
    "dropout": (_Dropout, estimator.binary_classification_head, "dropout"),
    "an unused parameter": (_Unused, estimator.binary_classification_head, "outside"),
    "an output used twice": (_Reused, estimator.binary_classification_head, "more than once"),
    "a LinearModel times the chain": (
        _WideTimesDeep, estimator.binary_classification_head, "mul"
    ),
    "a LinearModel of two units": (
        _WideOfTwo, lambda: estimator.multi_class_head(2), "more than one unit"
    ),
    "a forward hook": (_hooked, estimator.binary_classification_head, "hook"),
    "max_norm": (_clipped, estimator.binary_classification_head, "max_norm"),
    "a weight column": (
        ReluNet, lambda: estimator.binary_classification_head(weight_column="w"), "weight column"
    ),
    "a multi-label head": (
        lambda: ReluNet(logits=2), lambda: estimator.multi_label_head(2), "multi_label"
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", list(OUT_OF_SCOPE))
def test_what_it_does_not_cover_trains_with_autograd(case: str, tmp_path: Path) -> None:
    make_module, make_head, reason = OUT_OF_SCOPE[case]
    module, head = make_module(), make_head()
    assert reason in str(module_step.unsupported(module, head))
    if case == "a multi-label head":
        return  # (labels of another shape; the reason is what matters)
    x, y = census_rows(120)
    x["w"] = np.linspace(0.5, 2.0, 120)
    model = estimator.ModuleEstimator(
        module, head, "Adagrad", model_dir=str(tmp_path), config=quiet_config()
    )
    model.train(estimator.inputs.pandas_input_fn(x, y, batch_size=40, shuffle=False))
    assert model._module_step is None and model.get_variable_names()
