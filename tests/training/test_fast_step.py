"""fast_step.backward is loss.backward(): same gradients, accumulated, graph freed."""

from __future__ import annotations

import pytest
import torch

from mlengine.training.fast_step import backward


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
