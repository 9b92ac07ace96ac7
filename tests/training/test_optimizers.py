"""The TF-named optimizer specs: names table, defaults, errors, configs, and what they build."""

from __future__ import annotations

import copy
import dataclasses
import json
import math
import os
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest
import torch

import mlengine
from mlengine.errors import InvalidParameterError
from mlengine.training.ftrl import Ftrl
from mlengine.training.optimizers import (
    BASELINE_LEARNING_RATE,
    COMBINED_DNN_LEARNING_RATE,
    COMBINED_LINEAR_LEARNING_RATE,
    DNN_LEARNING_RATE,
    LINEAR_LEARNING_RATE,
    OPTIMIZER_NAMES,
    AdagradOptimizer,
    AdamOptimizer,
    FtrlOptimizer,
    GradientDescentOptimizer,
    OptimizerSpec,
    RMSPropOptimizer,
    combined_linear_learning_rate,
    get_optimizer,
    linear_default_learning_rate,
    optimizer_from_config,
)

TF_NAMES = ("Adagrad", "Adam", "Ftrl", "RMSProp", "SGD")

SPECS: list[OptimizerSpec] = [
    FtrlOptimizer(0.3),
    FtrlOptimizer(
        0.1,
        -0.6,
        0.2,
        0.01,
        0.02,
        l2_shrinkage_regularization_strength=0.03,
        beta=0.5,
    ),
    AdagradOptimizer(0.05),
    AdagradOptimizer(0.1, 0.5, epsilon=1e-6),
    AdamOptimizer(),
    AdamOptimizer(0.01, 0.8, 0.99, 1e-7),
    GradientDescentOptimizer(0.1),
    RMSPropOptimizer(0.01),
    RMSPropOptimizer(0.01, 0.8, 0.5, 1e-8, centered=True),
]


def resolve(spec: object, default_learning_rate: float = 0.05) -> OptimizerSpec:
    return get_optimizer(
        spec,  # type: ignore[arg-type]
        default_learning_rate=default_learning_rate,
        owner="DNNClassifier",
        param="optimizer",
    )


# ------------------------------------------------------------------ constants


def test_learning_rate_constants_are_tensorflows() -> None:
    assert DNN_LEARNING_RATE == 0.05  # dnn.py _LEARNING_RATE
    assert LINEAR_LEARNING_RATE == 0.2  # linear.py _LEARNING_RATE
    assert COMBINED_DNN_LEARNING_RATE == 0.001  # dnn_linear_combined.py _DNN_LEARNING_RATE
    assert COMBINED_LINEAR_LEARNING_RATE == 0.005  # dnn_linear_combined.py _LINEAR_LEARNING_RATE
    assert BASELINE_LEARNING_RATE == 0.3  # baseline.py _LEARNING_RATE


@pytest.mark.parametrize(
    ("n", "linear", "combined"),
    [
        (1, 0.2, 0.005),  # 1/sqrt(1) = 1 is above both caps
        (16, 0.2, 0.005),  # 1/4
        (100, 0.1, 0.005),  # 1/10 is below 0.2
        (10**6, 0.001, 0.001),  # 1/1000 is below both caps
    ],
)
def test_learning_rates_that_depend_on_the_number_of_columns(
    n: int, linear: float, combined: float
) -> None:
    assert linear_default_learning_rate(n) == pytest.approx(linear)
    assert combined_linear_learning_rate(n) == pytest.approx(combined)


@pytest.mark.parametrize("n", [0, -1, 2.0, True])
def test_number_of_columns_must_be_a_positive_int(n: object) -> None:
    with pytest.raises(InvalidParameterError, match="'n_columns' parameter .* must be an int"):
        combined_linear_learning_rate(n)  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="'n_columns'"):
        linear_default_learning_rate(n)  # type: ignore[arg-type]


# ------------------------------------------------------------------ the names table


def test_names_table_is_tensorflows() -> None:
    assert tuple(sorted(OPTIMIZER_NAMES)) == TF_NAMES
    assert OPTIMIZER_NAMES["SGD"] is GradientDescentOptimizer
    assert OPTIMIZER_NAMES["RMSProp"] is RMSPropOptimizer


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("Adagrad", AdagradOptimizer(0.05, 0.1, epsilon=1e-7)),
        ("Adam", AdamOptimizer(0.05, 0.9, 0.999, 1e-8)),
        ("Ftrl", FtrlOptimizer(0.05, -0.5, 0.1, 0.0, 0.0)),
        ("RMSProp", RMSPropOptimizer(0.05, 0.9, 0.0, 1e-10, centered=False)),
        ("SGD", GradientDescentOptimizer(0.05)),
    ],
)
def test_a_name_gets_the_default_learning_rate_and_tf_defaults(
    name: str, expected: OptimizerSpec
) -> None:
    assert resolve(name, default_learning_rate=0.05) == expected


@pytest.mark.parametrize("name", ["ftrl", "adagrad", "sgd", "Momentum", ""])
def test_unknown_or_wrongly_cased_name(name: str) -> None:
    with pytest.raises(InvalidParameterError) as info:
        get_optimizer(name, default_learning_rate=0.1, owner="LinearClassifier", param="optimizer")
    message = str(info.value)
    assert (
        f"Unsupported optimizer name: {name}. Supported names are: "
        "('Adagrad', 'Adam', 'Ftrl', 'LazyAdam', 'RMSProp', 'SGD')" in message
    )
    assert "'optimizer' parameter of LinearClassifier" in message


def test_a_spec_is_returned_as_is() -> None:
    spec = FtrlOptimizer(0.1, l1_regularization_strength=0.5)
    assert resolve(spec) is spec


def test_a_zero_argument_callable_is_called() -> None:
    spec = AdamOptimizer(0.01)
    assert resolve(lambda: spec) is spec
    # a spec class with defaults for everything is such a callable too
    assert resolve(AdamOptimizer) == AdamOptimizer()


def test_a_spec_class_that_needs_a_learning_rate() -> None:
    with pytest.raises(InvalidParameterError, match=r"FtrlOptimizer\(learning_rate=...\)"):
        resolve(FtrlOptimizer)


def test_a_callable_must_return_a_spec() -> None:
    with pytest.raises(InvalidParameterError, match="It returned 'Ftrl' instead"):
        resolve(lambda: "Ftrl")


@pytest.mark.parametrize(
    "value",
    [
        torch.optim.Adam,
        torch.optim.Adagrad([torch.nn.Parameter(torch.zeros(1))]),
        lambda: torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1),
    ],
    ids=["class", "instance", "callable"],
)
def test_torch_optimizers_are_refused_with_an_explanation(value: object) -> None:
    with pytest.raises(InvalidParameterError) as info:
        resolve(value)
    message = str(info.value)
    assert "'optimizer' parameter of DNNClassifier got a torch optimizer" in message
    assert "AdagradOptimizer(learning_rate=0.05)" in message


@pytest.mark.parametrize("value", [None, 3, 0.1, ["Ftrl"]])
def test_other_values_are_refused(value: object) -> None:
    with pytest.raises(InvalidParameterError, match="must be an optimizer name in"):
        resolve(value)


# ------------------------------------------------------------------ argument validation


@pytest.mark.parametrize(
    ("factory", "name", "value", "rule"),
    [
        (lambda v: FtrlOptimizer(v), "learning_rate", -1, "a positive float"),
        (lambda v: FtrlOptimizer(v), "learning_rate", 0.0, "a positive float"),
        (lambda v: FtrlOptimizer(v), "learning_rate", math.nan, "a positive float"),
        (lambda v: FtrlOptimizer(v), "learning_rate", "0.1", "a positive float"),
        (lambda v: FtrlOptimizer(v), "learning_rate", True, "a positive float"),
        (lambda v: FtrlOptimizer(0.1, v), "learning_rate_power", 0.5, "a float <= 0"),
        (
            lambda v: FtrlOptimizer(0.1, initial_accumulator_value=v),
            "initial_accumulator_value",
            -0.1,
            "a float >= 0",
        ),
        (
            lambda v: FtrlOptimizer(0.1, l1_regularization_strength=v),
            "l1_regularization_strength",
            -1.0,
            "a float >= 0",
        ),
        (
            lambda v: FtrlOptimizer(0.1, l2_regularization_strength=v),
            "l2_regularization_strength",
            -1.0,
            "a float >= 0",
        ),
        (
            lambda v: FtrlOptimizer(0.1, l2_shrinkage_regularization_strength=v),
            "l2_shrinkage_regularization_strength",
            -1.0,
            "a float >= 0",
        ),
        (lambda v: FtrlOptimizer(0.1, beta=v), "beta", -1.0, "a float >= 0"),
        (lambda v: AdagradOptimizer(v), "learning_rate", -0.1, "a positive float"),
        (lambda v: AdagradOptimizer(0.1, v), "initial_accumulator_value", -1, "a float >= 0"),
        (lambda v: AdagradOptimizer(0.1, epsilon=v), "epsilon", -1e-7, "a float >= 0"),
        (lambda v: AdamOptimizer(v), "learning_rate", 0, "a positive float"),
        (lambda v: AdamOptimizer(beta1=v), "beta1", 1.0, "a float in [0, 1)"),
        (lambda v: AdamOptimizer(beta2=v), "beta2", -0.1, "a float in [0, 1)"),
        (lambda v: AdamOptimizer(epsilon=v), "epsilon", -1.0, "a float >= 0"),
        (lambda v: GradientDescentOptimizer(v), "learning_rate", -0.5, "a positive float"),
        (lambda v: RMSPropOptimizer(v), "learning_rate", -0.5, "a positive float"),
        (lambda v: RMSPropOptimizer(0.1, v), "decay", 1.5, "a float in [0, 1]"),
        (lambda v: RMSPropOptimizer(0.1, momentum=v), "momentum", -0.5, "a float >= 0"),
        (lambda v: RMSPropOptimizer(0.1, epsilon=v), "epsilon", -0.5, "a float >= 0"),
        (lambda v: RMSPropOptimizer(0.1, centered=v), "centered", 1, "a bool"),
    ],
)
def test_invalid_arguments_name_parameter_rule_and_value(
    factory: Callable[[object], OptimizerSpec], name: str, value: object, rule: str
) -> None:
    with pytest.raises(InvalidParameterError) as info:
        factory(value)
    owner = str(info.value).split(" must be ")[0].rsplit(" ", 1)[-1]
    assert str(info.value) == (
        f"The {name!r} parameter of {owner} must be {rule}. Got {value!r} instead."
    )


def test_the_brief_example_message() -> None:
    with pytest.raises(InvalidParameterError) as info:
        FtrlOptimizer(learning_rate=-1)
    assert str(info.value) == (
        "The 'learning_rate' parameter of FtrlOptimizer must be a positive float. Got -1 instead."
    )


def test_ints_are_stored_as_floats() -> None:
    spec = FtrlOptimizer(1, 0, 1)
    assert spec.learning_rate == 1.0 and isinstance(spec.learning_rate, float)
    assert isinstance(spec.learning_rate_power, float)


def test_specs_are_immutable_and_hashable() -> None:
    spec = AdagradOptimizer(0.05)
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.learning_rate = 0.1  # type: ignore[misc]
    assert len({spec, AdagradOptimizer(0.05)}) == 1


def test_positional_arguments_follow_tensorflow() -> None:
    # TF1: FtrlOptimizer(learning_rate, learning_rate_power, initial_accumulator_value,
    #      l1_regularization_strength, l2_regularization_strength, use_locking, ...)
    spec = FtrlOptimizer(0.1, -0.6, 0.2, 0.3, 0.4)
    assert (spec.learning_rate_power, spec.initial_accumulator_value) == (-0.6, 0.2)
    assert (spec.l1_regularization_strength, spec.l2_regularization_strength) == (0.3, 0.4)
    # TF's sixth positional is use_locking, so l2_shrinkage is keyword-only here
    with pytest.raises(TypeError):
        FtrlOptimizer(0.1, -0.5, 0.1, 0.0, 0.0, 0.5)  # type: ignore[call-arg]
    assert RMSPropOptimizer(0.1, 0.8, 0.7, 1e-6).momentum == 0.7
    assert AdamOptimizer(0.01, 0.8, 0.9, 1e-6).beta2 == 0.9


# ------------------------------------------------------------------ config round trip


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: type(s).__name__)
def test_config_round_trips_through_json(spec: OptimizerSpec) -> None:
    config = spec.to_config()
    assert config["name"] == type(spec).__name__
    assert optimizer_from_config(json.loads(json.dumps(config))) == spec


def test_config_holds_every_argument() -> None:
    assert FtrlOptimizer(0.1).to_config() == {
        "name": "FtrlOptimizer",
        "args": {
            "learning_rate": 0.1,
            "learning_rate_power": -0.5,
            "initial_accumulator_value": 0.1,
            "l1_regularization_strength": 0.0,
            "l2_regularization_strength": 0.0,
            "l2_shrinkage_regularization_strength": 0.0,
            "beta": 0.0,
        },
    }


@pytest.mark.parametrize(
    ("config", "match"),
    [
        ({"name": "FtrlOptimizer"}, "exactly the keys 'name' and 'args'"),
        ("FtrlOptimizer", "exactly the keys 'name' and 'args'"),
        ({"name": "Ftrl", "args": {}}, "Unknown optimizer config name: 'Ftrl'"),
        ({"name": "OptimizerSpec", "args": {}}, "Unknown optimizer config name"),
        ({"name": "AdamOptimizer", "args": [0.1]}, "must be a mapping"),
        ({"name": "AdamOptimizer", "args": {"lr": 0.1}}, r"Unknown arguments for .*\['lr'\]"),
        ({"name": "FtrlOptimizer", "args": {}}, "Cannot build FtrlOptimizer"),
        ({"name": "FtrlOptimizer", "args": {"learning_rate": -2}}, "'learning_rate' parameter"),
    ],
)
def test_bad_configs(config: object, match: str) -> None:
    with pytest.raises(InvalidParameterError, match=match):
        optimizer_from_config(config)  # type: ignore[arg-type]


# ------------------------------------------------------------------ build


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: type(s).__name__)
def test_each_spec_builds_an_optimizer_that_decreases_a_quadratic(spec: OptimizerSpec) -> None:
    torch.manual_seed(0)
    target = torch.randn(20)
    w = torch.nn.Parameter(torch.zeros(20))
    b = torch.nn.Parameter(torch.zeros(()))
    opt = spec.build([w, b])

    def loss() -> torch.Tensor:
        return ((w + b - target) ** 2).mean()

    start = float(loss().detach())
    for _ in range(50):
        opt.zero_grad()
        loss().backward()
        opt.step()
    assert float(loss().detach()) < 0.9 * start


def test_build_maps_arguments_to_torch() -> None:
    p = [torch.nn.Parameter(torch.zeros(3))]
    ftrl = FtrlOptimizer(0.1, -0.6, 0.2, 0.3, 0.4, l2_shrinkage_regularization_strength=0.5).build(
        p
    )
    assert isinstance(ftrl, Ftrl)
    group = ftrl.param_groups[0]
    assert (group["lr"], group["lr_power"], group["initial_accumulator_value"]) == (0.1, -0.6, 0.2)
    assert (group["l1"], group["l2"], group["l2_shrinkage"]) == (0.3, 0.4, 0.5)

    adagrad = AdagradOptimizer(0.05, 0.2, epsilon=1e-6).build(p)
    assert isinstance(adagrad, torch.optim.Adagrad)
    group = adagrad.param_groups[0]
    assert (group["lr"], group["initial_accumulator_value"], group["eps"]) == (0.05, 0.2, 1e-6)
    assert group["fused"] is True

    adam = AdamOptimizer(0.01, 0.8, 0.9, 1e-6).build(p)
    assert isinstance(adam, torch.optim.Adam)
    assert adam.param_groups[0]["betas"] == (0.8, 0.9)
    assert adam.param_groups[0]["eps"] == 1e-6

    sgd = GradientDescentOptimizer(0.1).build(p)
    assert type(sgd) is torch.optim.SGD and sgd.param_groups[0]["momentum"] == 0

    rms = RMSPropOptimizer(0.01, 0.8, 0.5, 1e-8, centered=True).build(p)
    assert isinstance(rms, torch.optim.RMSprop)
    group = rms.param_groups[0]
    assert (group["alpha"], group["momentum"], group["centered"]) == (0.8, 0.5, True)
    assert torch.equal(rms.state[p[0]]["square_avg"], torch.ones(3))


def test_build_needs_parameters() -> None:
    with pytest.raises(InvalidParameterError, match="at least one parameter"):
        AdamOptimizer().build([])


def one_step(spec: OptimizerSpec, w0: float, g: float) -> float:
    w = torch.nn.Parameter(torch.tensor([w0], dtype=torch.float64))
    opt = spec.build([w])
    w.grad = torch.tensor([g], dtype=torch.float64)
    opt.step()
    return float(w.detach()[0])


def test_adagrad_first_step_is_tensorflows() -> None:
    # accum = 0.1 + 2*2 = 4.1; w = 1 - 0.05 * 2 / (sqrt(4.1) + 1e-7)
    expected = 1 - 0.05 * 2 / (math.sqrt(4.1) + 1e-7)
    assert one_step(AdagradOptimizer(0.05), 1.0, 2.0) == pytest.approx(expected, abs=1e-15)


def test_rmsprop_first_step_is_tensorflows() -> None:
    # TF1 starts rms at 1: rms = 0.9 * 1 + 0.1 * 2*2 = 1.3; w = 1 - 0.1 * 2 / sqrt(1.3 + eps)
    # (torch puts eps outside the root: a difference of about 1e-10 here)
    expected = 1 - 0.1 * 2 / math.sqrt(1.3 + 1e-10)
    assert one_step(RMSPropOptimizer(0.1), 1.0, 2.0) == pytest.approx(expected, abs=1e-9)


def test_adam_first_step_is_tensorflows() -> None:
    # m = 0.1 * 2 = 0.2, v = 0.001 * 4 = 0.004, lr_t = 0.001 * sqrt(1 - 0.999) / (1 - 0.9);
    # w = 1 - lr_t * m / (sqrt(v) + 1e-8)
    lr_t = 0.001 * math.sqrt(1 - 0.999) / (1 - 0.9)
    expected = 1 - lr_t * 0.2 / (math.sqrt(0.004) + 1e-8)
    assert one_step(AdamOptimizer(), 1.0, 2.0) == pytest.approx(expected, abs=1e-9)


def test_sgd_first_step() -> None:
    assert one_step(GradientDescentOptimizer(0.1), 1.0, 2.0) == pytest.approx(0.8, abs=1e-15)


def test_ftrl_spec_builds_tensorflows_update() -> None:
    # accum 16 -> 25, linear = 3 - (5 - 4) / 0.5 * 1 = 1, w = -1 / (5 / 0.5) = -0.1
    spec = FtrlOptimizer(0.5, initial_accumulator_value=16.0)
    assert one_step(spec, 1.0, 3.0) == pytest.approx(-0.1, abs=1e-15)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: type(s).__name__)
def test_built_optimizer_state_round_trips(spec: OptimizerSpec) -> None:
    torch.manual_seed(0)
    x, y = torch.randn(8, 3), torch.randn(8, 1)
    model = torch.nn.Linear(3, 1)
    opt = spec.build(model.parameters())

    def train_step(m: torch.nn.Module, o: torch.optim.Optimizer) -> None:
        o.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        o.step()

    train_step(model, opt)
    restored = torch.nn.Linear(3, 1)
    restored.load_state_dict(model.state_dict())
    restored_opt = spec.build(restored.parameters())
    # deepcopy: load_state_dict keeps tensors that already have the right dtype and device
    restored_opt.load_state_dict(copy.deepcopy(opt.state_dict()))
    train_step(model, opt)
    train_step(restored, restored_opt)
    for a, b in zip(model.parameters(), restored.parameters(), strict=True):
        assert torch.equal(a, b)


# Trains (Ftrl + Adagrad: the fast path never calls step()), resumes from the checkpoint and
# evaluates; then checks that an optimizer call outside the block imports dynamo as torch does.
NO_DYNAMO_SCRIPT = textwrap.dedent(
    """
    import sys
    import numpy as np
    import torch
    from mlengine import estimator, feature_column as fc
    from mlengine.training.optimizers import FtrlOptimizer

    x = {"a": np.arange(8.0), "c": np.array(list("xyzxyzxy"), dtype=object)}
    y = np.arange(8) % 2
    colour = fc.categorical_column_with_vocabulary_list("c", ["x", "y", "z"])
    model = estimator.DNNLinearCombinedClassifier(
        model_dir=sys.argv[1], linear_feature_columns=[colour],
        dnn_feature_columns=[fc.numeric_column("a"), fc.embedding_column(colour, 2)],
        dnn_hidden_units=[4],
    )
    data = estimator.inputs.numpy_input_fn(x, y, batch_size=4, num_epochs=1, shuffle=False)
    model.train(data)
    model.train(data)
    model.evaluate(data)
    assert "torch._dynamo" not in sys.modules, "training imported torch._dynamo"
    optimizer = FtrlOptimizer(0.1).build([torch.zeros(2, requires_grad=True)])
    optimizer.state_dict()
    assert "torch._dynamo" in sys.modules, "torch's own behaviour was not restored"
    """
)


def test_training_does_not_import_dynamo(tmp_path: Path) -> None:
    """torch.optim's bookkeeping would import torch._dynamo (about a second of start-up)."""
    src = str(Path(mlengine.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": src + os.pathsep + os.environ.get("PYTHONPATH", "")}
    result = subprocess.run(
        [sys.executable, "-c", NO_DYNAMO_SCRIPT, str(tmp_path / "model")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
