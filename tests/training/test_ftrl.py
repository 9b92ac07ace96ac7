"""Ftrl against TensorFlow's ApplyFtrlV2: hand-worked steps, a numpy reference, state round trip."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given
from hypothesis import strategies as st

from mlengine.errors import InvalidParameterError
from mlengine.training.ftrl import Ftrl, FtrlHyper, foreach_update, numpy_update
from tests import tolerance

FOREACH = pytest.mark.parametrize("foreach", [True, False], ids=["foreach", "loop"])


def one_weight(w0: float = 1.0) -> torch.nn.Parameter:
    return torch.nn.Parameter(torch.tensor([w0], dtype=torch.float64))


def step(opt: Ftrl, p: torch.nn.Parameter, g: float) -> float:
    p.grad = torch.tensor([g], dtype=torch.float64)
    opt.step()
    return float(p.detach()[0])


def slots(opt: Ftrl, p: torch.nn.Parameter) -> tuple[float, float]:
    state = opt.state[p]
    return float(state["accum"][0]), float(state["linear"][0])


def reference_step(
    w: np.ndarray,
    g: np.ndarray,
    accum: np.ndarray,
    linear: np.ndarray,
    *,
    lr: float,
    lr_power: float,
    l1: float,
    l2: float,
    l2_shrinkage: float,
    beta: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """TF's ApplyFtrlV2 kernel written out literally in numpy (beta folded as TF's wrapper)."""
    l2 = l2 + beta / (2.0 * max(lr, 1e-36))
    g_shrink = g + 2.0 * l2_shrinkage * w
    new_accum = accum + g * g
    linear = linear + g_shrink - (new_accum ** (-lr_power) - accum ** (-lr_power)) / lr * w
    quadratic = new_accum ** (-lr_power) / lr + 2.0 * l2
    with np.errstate(divide="ignore", invalid="ignore"):
        pre_shrink = (np.sign(linear) * l1 - linear) / quadratic
    w = np.where(np.abs(linear) > l1, pre_shrink, 0.0)
    return w, new_accum, linear


# ------------------------------------------------------------------ hand-worked single steps
# Common case: w0 = 1, accum0 = 16, lr = 0.5, g = 3, so new_accum = 16 + 3*3 = 25 and
# sigma = (sqrt(25) - sqrt(16)) / 0.5 = (5 - 4) / 0.5 = 2.


@FOREACH
def test_one_step_without_regularisation(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, foreach=foreach)
    # linear = 0 + 3 - 2 * 1 = 1; quadratic = sqrt(25) / 0.5 = 10; w = (0 - 1) / 10 = -0.1
    assert step(opt, p, 3.0) == pytest.approx(-0.1, abs=1e-15)
    assert slots(opt, p) == pytest.approx((25.0, 1.0), abs=1e-15)


@FOREACH
def test_two_steps(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, foreach=foreach)
    step(opt, p, 3.0)  # w = -0.1, accum = 25, linear = 1 (as above)
    # g = 12: new_accum = 25 + 144 = 169; sigma = (13 - 5) / 0.5 = 16;
    # linear = 1 + 12 - 16 * (-0.1) = 14.6; quadratic = 13 / 0.5 = 26; w = -14.6 / 26
    assert step(opt, p, 12.0) == pytest.approx(-14.6 / 26, abs=1e-15)
    assert slots(opt, p) == pytest.approx((169.0, 14.6), abs=1e-13)


@FOREACH
def test_l1_sets_a_weight_to_exactly_zero(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, l1=1.5, foreach=foreach)
    # linear = 1 as above; |1| <= l1 = 1.5, so w = 0 (and linear is still kept)
    assert step(opt, p, 3.0) == 0.0
    assert slots(opt, p) == pytest.approx((25.0, 1.0))


@FOREACH
def test_l1_below_linear_shrinks_the_weight(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, l1=0.25, foreach=foreach)
    # linear = 1 > 0.25: w = (sign(1) * 0.25 - 1) / 10 = -0.075
    assert step(opt, p, 3.0) == pytest.approx(-0.075, abs=1e-15)


@FOREACH
def test_l1_with_negative_linear(foreach: bool) -> None:
    p = one_weight(0.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, l1=0.25, foreach=foreach)
    # w0 = 0, g = -3: linear = -3; quadratic = 10; w = (-1 * 0.25 + 3) / 10 = 0.275
    assert step(opt, p, -3.0) == pytest.approx(0.275, abs=1e-15)


@FOREACH
def test_l2_adds_to_the_quadratic_term(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, l2=2.5, foreach=foreach)
    # quadratic = 10 + 2 * 2.5 = 15; w = -1 / 15
    assert step(opt, p, 3.0) == pytest.approx(-1 / 15, abs=1e-15)


@FOREACH
def test_l2_shrinkage_changes_linear_but_not_accum(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, l2_shrinkage=0.5, foreach=foreach)
    # g_shrink = 3 + 2 * 0.5 * 1 = 4, but accum takes the raw g: 16 + 9 = 25 (TF's kernel);
    # linear = 4 - 2 * 1 = 2; w = -2 / 10 = -0.2
    assert step(opt, p, 3.0) == pytest.approx(-0.2, abs=1e-15)
    assert slots(opt, p) == pytest.approx((25.0, 2.0), abs=1e-15)


@FOREACH
def test_lr_power_minus_one(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, lr_power=-1.0, initial_accumulator_value=16.0, foreach=foreach)
    # power 1: sigma = (25 - 16) / 0.5 = 18; linear = 3 - 18 * 1 = -15;
    # quadratic = 25 / 0.5 = 50; w = 15 / 50 = 0.3
    assert step(opt, p, 3.0) == pytest.approx(0.3, abs=1e-15)


@FOREACH
def test_lr_power_zero_is_a_fixed_rate(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, lr_power=0.0, initial_accumulator_value=16.0, foreach=foreach)
    # power 0: accum**0 = 1, sigma = 0; linear = 3; quadratic = 1 / 0.5 = 2; w = -1.5
    # (FTRL with a fixed rate and no l1/l2 is w = -lr * sum of gradients)
    assert step(opt, p, 3.0) == pytest.approx(-1.5, abs=1e-15)
    # next g = 1: linear = 3 + 1 = 4; w = -4 / 2 = -2 = -0.5 * (3 + 1)
    assert step(opt, p, 1.0) == pytest.approx(-2.0, abs=1e-15)


@FOREACH
def test_beta_is_folded_into_l2(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, beta=1.0, foreach=foreach)
    # l2 += beta / (2 * lr) = 1; quadratic = 10 + 2 * 1 = 12; w = -1 / 12
    assert step(opt, p, 3.0) == pytest.approx(-1 / 12, abs=1e-15)


@FOREACH
def test_zero_initial_accumulator(foreach: bool) -> None:
    w = torch.nn.Parameter(torch.tensor([0.0, 0.0], dtype=torch.float64))
    opt = Ftrl([w], lr=0.5, initial_accumulator_value=0.0, foreach=foreach)
    # element 0: g = 2: accum 4, linear 2, quadratic 2 / 0.5 = 4, w = -0.5
    # element 1: g = 0: accum 0, linear 0, quadratic 0: TF selects 0 (no 0/0 NaN)
    w.grad = torch.tensor([2.0, 0.0], dtype=torch.float64)
    opt.step()
    assert w.detach().tolist() == [-0.5, 0.0]


@FOREACH
def test_zero_gradient_after_an_update_changes_nothing(foreach: bool) -> None:
    p = one_weight(1.0)
    opt = Ftrl([p], lr=0.5, initial_accumulator_value=16.0, l1=0.25, l2=0.5, foreach=foreach)
    w1 = step(opt, p, 3.0)
    before = slots(opt, p)
    # accum and linear do not move, so w is recomputed to the same value
    assert step(opt, p, 0.0) == pytest.approx(w1, abs=1e-15)
    assert slots(opt, p) == before


def test_parameter_without_grad_is_untouched() -> None:
    a, b = one_weight(1.0), one_weight(7.0)
    opt = Ftrl([a, b], lr=0.5, initial_accumulator_value=16.0)
    a.grad = torch.tensor([3.0], dtype=torch.float64)
    opt.step()
    assert float(a.detach()[0]) == pytest.approx(-0.1)
    assert float(b.detach()[0]) == 7.0
    assert slots(opt, b) == (16.0, 0.0)


def test_defaults_are_tensorflows() -> None:
    p = torch.nn.Parameter(torch.zeros(3, 2))
    opt = Ftrl([p], lr=0.1)
    group = opt.param_groups[0]
    assert (group["lr_power"], group["initial_accumulator_value"]) == (-0.5, 0.1)
    assert (group["l1"], group["l2"], group["l2_shrinkage"], group["beta"]) == (0, 0, 0, 0)
    # the slots exist before the first step, so an early checkpoint has them
    assert torch.equal(opt.state[p]["accum"], torch.full((3, 2), 0.1))
    assert torch.equal(opt.state[p]["linear"], torch.zeros(3, 2))


def test_closure_loss_is_returned() -> None:
    p = torch.nn.Parameter(torch.tensor([2.0]))
    opt = Ftrl([p], lr=0.1)

    def closure() -> float:
        opt.zero_grad()
        loss = (p**2).sum()
        loss.backward()
        return float(loss.detach())

    assert opt.step(closure) == 4.0


def test_param_groups_use_their_own_rates() -> None:
    a, b = one_weight(1.0), one_weight(1.0)
    groups: list[dict[str, Any]] = [{"params": [a]}, {"params": [b], "lr": 0.25}]
    opt = Ftrl(groups, lr=0.5, initial_accumulator_value=16.0)
    a.grad = torch.tensor([3.0], dtype=torch.float64)
    b.grad = torch.tensor([3.0], dtype=torch.float64)
    opt.step()
    # b: sigma = 1 / 0.25 = 4; linear = 3 - 4 = -1; quadratic = 5 / 0.25 = 20; w = 0.05
    assert float(a.detach()[0]) == pytest.approx(-0.1)
    assert float(b.detach()[0]) == pytest.approx(0.05)


# ------------------------------------------------------------------ numpy reference, many steps

CONFIGS = [
    {},
    {"l1": 0.3},
    {"l2": 0.2, "l2_shrinkage": 0.1},
    {"l1": 0.05, "l2": 0.1, "l2_shrinkage": 0.05, "beta": 0.5},
    {"lr_power": -0.7, "l1": 0.05},
    {"lr_power": 0.0, "l2": 0.5},
    {"initial_accumulator_value": 0.0},
    {"initial_accumulator_value": 0.0, "l1": 0.1},
]


def run_against_reference(
    config: dict[str, float],
    *,
    lr: float,
    foreach: bool,
    seed: int,
    steps: int = 20,
    dtype: torch.dtype = torch.float64,
) -> float:
    """Run Ftrl and the numpy kernel side by side; return the largest weight difference."""
    rng = np.random.default_rng(seed)
    hyper = {
        "lr_power": -0.5,
        "initial_accumulator_value": 0.1,
        "l1": 0.0,
        "l2": 0.0,
        "l2_shrinkage": 0.0,
        "beta": 0.0,
    }
    hyper.update(config)
    shapes = [(30, 1), (1,), (10, 4), (3, 5)]
    # TF starts linear weights at zero. With accum starting at 0 a non-zero start is
    # degenerate (the quadratic term is 0 until the first gradient: TF divides by it).
    zero_start = hyper["initial_accumulator_value"] == 0.0 and hyper["l2_shrinkage"] > 0.0
    ws = [np.zeros(s) if zero_start else rng.normal(size=s) for s in shapes]
    params = [torch.nn.Parameter(torch.tensor(w, dtype=dtype)) for w in ws]
    opt = Ftrl(params, lr=lr, foreach=foreach, **hyper)
    accums = [np.full(s, hyper["initial_accumulator_value"]) for s in shapes]
    linears = [np.zeros(s) for s in shapes]
    kernel_args = {k: v for k, v in hyper.items() if k != "initial_accumulator_value"}
    worst = 0.0
    for _ in range(steps):
        for i, (p, w) in enumerate(zip(params, ws, strict=True)):
            g = rng.normal(size=w.shape)
            g[rng.random(size=w.shape) < 0.3] = 0.0  # rows with no example, as sparse features
            p.grad = torch.tensor(g, dtype=dtype)
            ws[i], accums[i], linears[i] = reference_step(
                w, g, accums[i], linears[i], lr=lr, **kernel_args
            )
        opt.step()
        for p, w in zip(params, ws, strict=True):
            worst = max(worst, float(np.abs(p.detach().double().numpy() - w).max()))
    return worst


@FOREACH
@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: ",".join(c) or "defaults")
def test_matches_numpy_reference_for_20_steps(config: dict[str, float], foreach: bool) -> None:
    assert run_against_reference(config, lr=0.1, foreach=foreach, seed=0) < 1e-12


def test_float32_stays_close_to_the_float64_reference() -> None:
    worst = run_against_reference(
        {"l1": 0.01, "l2": 0.01}, lr=0.05, foreach=True, seed=1, dtype=torch.float32
    )
    assert worst < 1e-5


@given(
    lr=st.floats(0.01, 1.0),
    lr_power=st.sampled_from([-0.5, 0.0, -0.25, -1.0, -0.8]),
    initial_accumulator_value=st.sampled_from([0.0, 0.1, 1.0]),
    l1=st.floats(0.0, 0.5, allow_subnormal=False),
    l2=st.floats(0.0, 0.5, allow_subnormal=False),
    l2_shrinkage=st.floats(0.0, 0.5, allow_subnormal=False),
    beta=st.floats(0.0, 1.0, allow_subnormal=False),
    seed=st.integers(0, 2**16),
)
def test_matches_numpy_reference_for_any_hyperparameters(
    lr: float,
    lr_power: float,
    initial_accumulator_value: float,
    l1: float,
    l2: float,
    l2_shrinkage: float,
    beta: float,
    seed: int,
) -> None:
    config = {
        "lr_power": lr_power,
        "initial_accumulator_value": initial_accumulator_value,
        "l1": l1,
        "l2": l2,
        "l2_shrinkage": l2_shrinkage,
        "beta": beta,
    }
    assert run_against_reference(config, lr=lr, foreach=True, seed=seed) < 1e-9


# ------------------------------------------------------------------ sparse gradients


def test_sparse_gradient_updates_only_the_rows_it_names() -> None:
    torch.manual_seed(0)
    dense_table = torch.nn.Embedding(6, 3, sparse=False).double()
    sparse_table = torch.nn.Embedding(6, 3, sparse=True).double()
    sparse_table.load_state_dict(dense_table.state_dict())
    start = sparse_table.weight.detach().clone()
    config: dict[str, Any] = {"lr": 0.2, "l1": 0.01, "l2": 0.1, "l2_shrinkage": 0.05}
    dense_opt = Ftrl(dense_table.parameters(), **config)
    sparse_opt = Ftrl(sparse_table.parameters(), **config)
    ids = torch.tensor([1, 3, 3, 4])  # row 3 twice: its gradients are summed, as TF does
    for table, opt in ((dense_table, dense_opt), (sparse_table, sparse_opt)):
        opt.zero_grad()
        (table(ids) * torch.arange(12.0, dtype=torch.float64).view(4, 3)).sum().backward()
        opt.step()
    touched = [1, 3, 4]
    untouched = [0, 2, 5]
    assert torch.allclose(sparse_table.weight[touched], dense_table.weight[touched], atol=1e-14)
    # rows with no example keep their (non-zero) start values and are not shrunk
    assert torch.equal(sparse_table.weight.detach()[untouched], start[untouched])
    assert torch.equal(
        sparse_opt.state[sparse_table.weight]["linear"][untouched],
        torch.zeros(3, 3, dtype=torch.float64),
    )


# ------------------------------------------------------------------ state round trip


def test_state_dict_round_trip_gives_the_same_next_update() -> None:
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    opt = Ftrl(model.parameters(), lr=0.1, l1=0.01, l2=0.02)
    x, y = torch.randn(16, 4), torch.randn(16, 1)

    def train_step(m: torch.nn.Module, o: torch.optim.Optimizer) -> None:
        o.zero_grad()
        torch.nn.functional.mse_loss(m(x), y).backward()
        o.step()

    for _ in range(3):
        train_step(model, opt)
    saved_model = copy.deepcopy(model.state_dict())
    saved_opt = copy.deepcopy(opt.state_dict())
    assert set(saved_opt["state"][0]) == {"accum", "linear"}

    restored = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 1))
    restored.load_state_dict(saved_model)
    restored_opt = Ftrl(restored.parameters(), lr=0.5)  # hyperparameters come from the state
    restored_opt.load_state_dict(saved_opt)
    assert restored_opt.param_groups[0]["lr"] == 0.1

    train_step(model, opt)
    train_step(restored, restored_opt)
    for a, b in zip(model.parameters(), restored.parameters(), strict=True):
        assert torch.equal(a, b)


# ------------------------------------------------------------------ arguments


@pytest.mark.parametrize(
    ("kwargs", "name", "rule"),
    [
        ({"lr": 0.0}, "lr", "a positive float"),
        ({"lr": -1}, "lr", "a positive float"),
        ({"lr": True}, "lr", "a positive float"),
        ({"lr_power": 0.5}, "lr_power", "a float <= 0"),
        ({"initial_accumulator_value": -0.1}, "initial_accumulator_value", "a float >= 0"),
        ({"l1": -1.0}, "l1", "a float >= 0"),
        ({"l2": -1.0}, "l2", "a float >= 0"),
        ({"l2_shrinkage": -1.0}, "l2_shrinkage", "a float >= 0"),
        ({"beta": -1.0}, "beta", "a float >= 0"),
    ],
)
def test_invalid_arguments_are_named(kwargs: dict[str, Any], name: str, rule: str) -> None:
    args = {"lr": 0.1, **kwargs}
    with pytest.raises(InvalidParameterError) as info:
        Ftrl([torch.nn.Parameter(torch.zeros(1))], **args)
    message = str(info.value)
    assert f"The '{name}' parameter of Ftrl must be {rule}." in message
    assert f"Got {args[name]!r} instead." in message


# ------------------------------------------------------------------ CUDA


@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cuda_matches_cpu() -> None:
    torch.manual_seed(0)
    cpu = [torch.nn.Parameter(torch.randn(50, 3)), torch.nn.Parameter(torch.randn(7))]
    gpu = [torch.nn.Parameter(p.detach().cuda()) for p in cpu]
    config: dict[str, Any] = {"lr": 0.1, "l1": 0.05, "l2": 0.1, "l2_shrinkage": 0.01}
    cpu_opt, gpu_opt = Ftrl(cpu, **config), Ftrl(gpu, **config)
    for _ in range(5):
        for c, g in zip(cpu, gpu, strict=True):
            c.grad = torch.randn_like(c)
            g.grad = c.grad.cuda()
        cpu_opt.step()
        gpu_opt.step()
    for c, g in zip(cpu, gpu, strict=True):  # CUDA's kernels round their own way
        want = c.detach().numpy()
        tolerance.assert_close(g.detach().cpu().numpy(), want, tolerance.trained(want, steps=5))


# ------------------------------------------------------------------ the numpy update


@given(
    lr=st.floats(0.01, 1.0),
    lr_power=st.sampled_from([-0.5, 0.0, -0.25, -1.0]),
    initial_accumulator_value=st.sampled_from([0.0, 0.1, 1.0]),
    l1=st.sampled_from([0.0, 0.01, 0.3]),
    l2=st.sampled_from([0.0, 0.01, 0.3]),
    l2_shrinkage=st.sampled_from([0.0, 0.1]),
    seed=st.integers(0, 2**16),
)
def test_numpy_update_equals_the_foreach_update(
    lr: float,
    lr_power: float,
    initial_accumulator_value: float,
    l1: float,
    l2: float,
    l2_shrinkage: float,
    seed: int,
) -> None:
    """The CPU fast path (numpy views of the tensors) makes the foreach update's operations."""
    rng = np.random.default_rng(seed)
    hyper = FtrlHyper(
        lr=lr,
        lr_power=lr_power,
        l1=l1,
        l2=l2,
        l2_shrinkage=l2_shrinkage,
        zero_accum_possible=initial_accumulator_value == 0.0,
    )
    shapes = [(30, 1), (1,), (0, 1), (3, 5)]
    start = [rng.normal(size=s) if initial_accumulator_value else np.zeros(s) for s in shapes]
    sides = []
    for _ in range(2):
        sides.append(
            (
                [torch.tensor(w) for w in start],
                [torch.full(s, initial_accumulator_value, dtype=torch.float64) for s in shapes],
                [torch.zeros(s, dtype=torch.float64) for s in shapes],
            )
        )
    for _ in range(5):
        grads = [torch.tensor(rng.normal(size=s)) for s in shapes]
        (w, acc, lin), (w2, acc2, lin2) = sides
        foreach_update(w, grads, acc, lin, hyper)
        views = [[t.numpy() for t in ts] for ts in (w2, grads, acc2, lin2)]
        numpy_update(*views, hyper)
    for torch_side, numpy_side in zip(sides[0], sides[1], strict=True):
        for a, b in zip(torch_side, numpy_side, strict=True):
            np.testing.assert_allclose(b.numpy(), a.numpy(), rtol=1e-12, atol=1e-12)
