"""FastUpdater and backward: the optimizers' own updates, gradients cleared, zeroed or kept;
backward is loss.backward() (same gradients, accumulated, graph freed)."""

from __future__ import annotations

from unittest import mock

import pytest
import torch

from mlengine.training.fast_step import FastUpdater, _grads, backward
from mlengine.training.ftrl import Ftrl
from tests import tolerance


def _loss(model: torch.nn.Module, seed: int) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(6, 3, generator=generator)
    return torch.nn.functional.softplus(model(x)).mean()


def test_backward_accumulates_the_same_gradients_as_loss_backward() -> None:
    torch.manual_seed(0)
    ours = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    reference = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    reference.load_state_dict(ours.state_dict())
    for seed in (1, 2):  # the second pass adds to the first's gradients
        backward(_loss(ours, seed))
        _loss(reference, seed).backward()
    for a, b in zip(ours.parameters(), reference.parameters(), strict=True):
        assert a.grad is not None and b.grad is not None
        assert torch.equal(a.grad, b.grad)


def test_backward_frees_the_graph_and_refuses_what_loss_backward_refuses() -> None:
    model = torch.nn.Linear(3, 1)
    loss = _loss(model, 0)
    backward(loss)
    with pytest.raises(RuntimeError, match="second time"):
        backward(loss)
    with pytest.raises(RuntimeError, match="scalar outputs"):
        backward(model(torch.ones(2, 3)))
    with pytest.raises(RuntimeError, match="does not require grad"):
        backward(torch.ones(()))


def _train(updater_kind: str, steps: int = 4) -> list[torch.Tensor]:
    """Weights after ``steps`` FTRL + Adagrad steps, one parameter never reached by the loss
    (updated with a zero gradient, as before gradients were cleared)."""
    torch.manual_seed(0)
    wide = torch.nn.Linear(3, 1)
    deep = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 1))
    unused = torch.nn.Parameter(torch.ones(2))  # as a part of the network a model leaves out
    optimizers: list[torch.optim.Optimizer] = [
        Ftrl([*wide.parameters(), unused], lr=0.1, l1=0.01),
        torch.optim.Adagrad(deep.parameters(), lr=0.1, fused=True),
    ]
    if updater_kind == "torch":  # the reference: optimizers' own steps on zeroed gradients
        for optimizer in optimizers:
            for param in optimizer.param_groups[0]["params"]:
                param.grad = torch.zeros_like(param)
    else:
        updater = FastUpdater(optimizers, grads=updater_kind)
    for seed in range(steps):
        generator = torch.Generator().manual_seed(seed)
        x = torch.randn(6, 3, generator=generator)
        backward(torch.nn.functional.softplus(wide(x) + deep(x)).mean())
        if updater_kind == "torch":
            for optimizer in optimizers:
                optimizer.step()
                optimizer.zero_grad(set_to_none=False)
        else:
            updater.step()
    return [p.detach().clone() for p in [*wide.parameters(), unused, *deep.parameters()]]


def test_fast_updates_give_the_optimizers_own_steps_with_cleared_or_zeroed_gradients() -> None:
    expected = _train("torch", steps=4)
    for kind in ("clear", "zero"):
        got = _train(kind, steps=4)
        for a, b in zip(got, expected, strict=True):  # fused and foreach kernels: rounding
            tolerance.assert_close(a.numpy(), b.numpy(), tolerance.trained(b.numpy(), steps=4))


def test_gradients_are_cleared_after_a_fast_update_and_kept_when_asked() -> None:
    model = torch.nn.Linear(3, 1)
    for keep in (False, True):
        optimizer = torch.optim.Adagrad(model.parameters(), lr=0.1, fused=True)
        updater = FastUpdater([optimizer], grads="zero" if keep else "clear")
        kept = [p.grad for p in model.parameters()]
        backward(_loss(model, 0))
        updater.step()
        for param, before in zip(model.parameters(), kept, strict=True):
            if keep:  # the same tensors, zeroed (distributed training's flat buffer views)
                assert param.grad is before and not param.grad.any()
            else:
                assert param.grad is None
    # An optimizer of torch's own keeps zeroed gradients: its step treats None differently.
    sgd = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    updater = FastUpdater([sgd])
    backward(_loss(model, 1))
    updater.step()
    assert all(p.grad is not None and not p.grad.any() for p in model.parameters())


def test_gradients_are_looked_up_without_comparing_tensors() -> None:
    # `None in grads` calls Tensor.__eq__ on every gradient (160 us for 13 of them): the
    # updates look gradients up by identity only.
    params = [torch.nn.Parameter(torch.ones(2)) for _ in range(3)]
    for param in params:
        param.grad = torch.zeros(2)
    with mock.patch.object(torch.Tensor, "__eq__", side_effect=AssertionError("compared")):
        found = _grads(params)
    assert all(a is p.grad for a, p in zip(found, params, strict=True))
    params[1].grad = None
    with mock.patch.object(torch.Tensor, "__eq__", side_effect=AssertionError("compared")):
        found = _grads(params)
    assert found[1] is params[1].grad and not found[1].any()  # a zero one, kept
